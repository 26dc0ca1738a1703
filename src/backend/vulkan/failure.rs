//! The sticky failure of the ops: the backend trait's ops return tensors, not results, so
//! the first failure inside one (naming the op) is kept here, the work pending is
//! dropped, later ops skip theirs and return stand-ins, and the next read-back reports
//! the failure as an error. A stand-in is refused by every kernel and read-back, so an
//! op's failure can never turn into numbers.

use std::sync::{Arc, Mutex, MutexGuard};

use vulkano::buffer::Subbuffer;

use super::device::Gpu;
use super::queue::{context, device_buffer};
use super::{VkIds, VkTensor, VulkanBackend};
use crate::error::{Error, Result};

pub struct Failure {
    /// The first failure since the last read-back.
    first: Mutex<Option<Error>>,
    /// One word of device memory that every stand-in points at.
    stand_in: Subbuffer<[u32]>,
}

/// The error for a stand-in where real data is wanted: the op that made it failed and
/// its error was reported already.
pub fn stale_input() -> Error {
    Error::failed("an input is the result of an op that failed earlier")
}

impl Failure {
    pub fn new(gpu: &Gpu) -> Result<Failure> {
        Ok(Failure { first: Mutex::new(None), stand_in: device_buffer(gpu, 1)? })
    }

    fn lock(&self) -> MutexGuard<'_, Option<Error>> {
        self.first.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_set(&self) -> bool {
        self.lock().is_some()
    }

    /// Keeps `e` unless a failure is kept already.
    fn record(&self, e: Error) {
        self.lock().get_or_insert(e);
    }

    pub fn take(&self) -> Option<Error> {
        self.lock().take()
    }

    /// Whether `b` is a stand-in's buffer.
    pub fn is_stand_in<T: ?Sized>(&self, b: &Subbuffer<T>) -> bool {
        Arc::ptr_eq(b.buffer(), self.stand_in.buffer())
    }

    /// A stand-in for an `(n_rows, n_cols)` result.
    pub fn tensor(&self, n_rows: usize, n_cols: usize) -> VkTensor {
        VkTensor { buf: self.stand_in.clone().reinterpret(), n_rows, n_cols }
    }

    /// A stand-in for `n` expert ids.
    pub fn ids(&self, n: usize) -> VkIds {
        VkIds { buf: self.stand_in.clone(), n }
    }
}

impl VulkanBackend {
    /// Runs op `name` unless an earlier op failed since the last read-back. A failure is
    /// kept (named after the op) and the work pending dropped; either way `stand_in`
    /// gives the result.
    pub(super) fn guard<T>(
        &self,
        name: &str,
        op: impl FnOnce() -> Result<T>,
        stand_in: impl FnOnce(&Failure) -> T,
    ) -> T {
        if !self.failure.is_set() {
            match op() {
                Ok(t) => return t,
                Err(e) => {
                    self.queue.discard();
                    self.failure.record(context(e, name));
                }
            }
        }
        stand_in(&self.failure)
    }

    /// [`Self::guard`] for an op whose result is an `(n_rows, n_cols)` tensor.
    pub(super) fn op(
        &self,
        name: &str,
        (n_rows, n_cols): (usize, usize),
        op: impl FnOnce() -> Result<VkTensor>,
    ) -> VkTensor {
        self.guard(name, op, |f| f.tensor(n_rows, n_cols))
    }

    /// Where the host reads results back or submits work: reports the failure kept since
    /// the last read-back, else runs `read`, dropping the work pending if it fails.
    pub(super) fn read_back<T>(&self, what: &str, read: impl FnOnce() -> Result<T>) -> Result<T> {
        if let Some(e) = self.failure.take() {
            return Err(e);
        }
        read().map_err(|e| {
            self.queue.discard();
            context(e, what)
        })
    }
}

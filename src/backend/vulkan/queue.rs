//! Recording and submitting: ops append dispatches and copies to a pending list, and a
//! read-back (logits, router scores, a KV export) records them all into one command
//! buffer, submits it and waits. Buffer helpers for allocating, uploading and reading.

use std::sync::{Arc, Mutex};

use vulkano::buffer::{Buffer, BufferContents, BufferCreateInfo, BufferUsage, Subbuffer};
use vulkano::command_buffer::{
    AutoCommandBufferBuilder, CommandBufferUsage, CopyBufferInfo, PrimaryCommandBufferAbstract,
};
use vulkano::descriptor_set::{DescriptorSet, WriteDescriptorSet};
use vulkano::memory::allocator::{AllocationCreateInfo, MemoryTypeFilter};
use vulkano::pipeline::{ComputePipeline, Pipeline, PipelineBindPoint};
use vulkano::sync::GpuFuture;

use super::device::Gpu;
use super::pipelines::PushBlock;
use crate::error::{Error, Result};

/// One recorded command.
enum Cmd {
    Dispatch {
        pipeline: Arc<ComputePipeline>,
        set: Arc<DescriptorSet>,
        push: PushBlock,
        groups: [u32; 3],
    },
    Copy {
        src: Subbuffer<[u8]>,
        dst: Subbuffer<[u8]>,
    },
    Zero(Subbuffer<[u32]>),
}

/// Commands waiting for the next submission, and how many dispatches have run.
#[derive(Default)]
pub struct Queue {
    pending: Mutex<Vec<Cmd>>,
    dispatched: std::sync::atomic::AtomicU64,
}

/// A vulkano error's `Debug` text (its `Display` is terse) on one line.
pub fn detail(e: &dyn std::fmt::Debug) -> String {
    format!("{e:?}").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `e` with its message put as `vulkan: WHAT: message` (one `vulkan: ` prefix).
pub fn context(e: Error, what: impl std::fmt::Display) -> Error {
    e.map_message(|m| format!("vulkan: {what}: {}", m.strip_prefix("vulkan: ").unwrap_or(m)))
}

/// A byte count for messages: `384 B`, `12.0 MiB`, `2.5 GiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let (mut v, mut unit) = (bytes as f64 / 1024.0, UNITS[0]);
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        (v, unit) = (v / 1024.0, u);
    }
    format!("{v:.1} {unit}")
}

impl Queue {
    fn push(&self, cmd: Cmd) {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).push(cmd);
    }

    /// Dispatches processed so far (for `-v` reports).
    pub fn dispatched(&self) -> u64 {
        self.dispatched.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn dispatch(
        &self,
        gpu: &Gpu,
        pipeline: &Arc<ComputePipeline>,
        buffers: &[Subbuffer<[u8]>],
        push: PushBlock,
        groups: [u32; 3],
    ) -> Result<()> {
        let layout = Arc::clone(&pipeline.layout().set_layouts()[0]);
        let writes = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| WriteDescriptorSet::buffer(i as u32, b.clone()));
        let set = DescriptorSet::new(Arc::clone(&gpu.descriptors) as _, layout, writes, [])
            .map_err(|e| Error::failed(format!("creating a descriptor set: {}", detail(&e))))?;
        self.push(Cmd::Dispatch { pipeline: Arc::clone(pipeline), set, push, groups });
        Ok(())
    }

    pub fn copy(&self, src: Subbuffer<[u8]>, dst: Subbuffer<[u8]>) {
        self.push(Cmd::Copy { src, dst });
    }

    /// Drops what is pending: the work of a pass that failed part-way.
    pub fn discard(&self) {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Sets every word of `dst` to zero.
    pub fn zero(&self, dst: Subbuffer<[u32]>) {
        self.push(Cmd::Zero(dst));
    }

    /// Records everything pending into one command buffer, submits it, and waits. The
    /// list stays locked until the device is done, so a concurrent flush that finds it
    /// empty returns only after this one's results are there.
    pub fn flush(&self, gpu: &Gpu) -> Result<()> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let cmds = std::mem::take(&mut *pending);
        if cmds.is_empty() {
            return Ok(());
        }
        let err = |what: &str, e: &dyn std::fmt::Debug| {
            Error::failed(format!("vulkan: {what}: {}", detail(e)))
        };
        let mut b = AutoCommandBufferBuilder::primary(
            Arc::clone(&gpu.commands) as _,
            gpu.queue.queue_family_index(),
            CommandBufferUsage::OneTimeSubmit,
        )
        .map_err(|e| err("command buffer", &e))?;
        let mut n = 0;
        for cmd in cmds {
            match cmd {
                Cmd::Dispatch { pipeline, set, push, groups } => {
                    let layout = Arc::clone(pipeline.layout());
                    b.bind_pipeline_compute(pipeline)
                        .and_then(|b| {
                            b.bind_descriptor_sets(
                                PipelineBindPoint::Compute,
                                Arc::clone(&layout),
                                0,
                                set,
                            )
                        })
                        .and_then(|b| b.push_constants(layout, 0, push))
                        .map_err(|e| err("recording", &e))?;
                    // SAFETY: every kernel bounds-checks its indices against the push
                    // constants, which the ops derive from the bound buffers' sizes.
                    unsafe { b.dispatch(groups) }.map_err(|e| err("dispatch", &e))?;
                    n += 1;
                }
                Cmd::Copy { src, dst } => {
                    b.copy_buffer(CopyBufferInfo::buffers(src, dst))
                        .map_err(|e| err("copy", &e))?;
                }
                Cmd::Zero(dst) => {
                    b.fill_buffer(dst, 0).map_err(|e| err("fill", &e))?;
                }
            }
        }
        let cb = b.build().map_err(|e| err("command buffer", &e))?;
        cb.execute(Arc::clone(&gpu.queue))
            .map_err(|e| err("submit", &e))?
            .then_signal_fence_and_flush()
            .map_err(|e| err("submit", &e))?
            .wait(None)
            .map_err(|e| err("waiting for the device", &e))?;
        self.dispatched.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

const USAGE: BufferUsage =
    BufferUsage::STORAGE_BUFFER.union(BufferUsage::TRANSFER_SRC).union(BufferUsage::TRANSFER_DST);

/// An uninitialized device-local buffer of `len` elements (at least one); an error says
/// how many bytes were wanted.
pub fn device_buffer<T: BufferContents>(gpu: &Gpu, len: usize) -> Result<Subbuffer<[T]>> {
    let bytes = (len.max(1) as u64).saturating_mul(size_of::<T>() as u64);
    Buffer::new_slice::<T>(
        Arc::clone(&gpu.memory) as _,
        BufferCreateInfo { usage: USAGE, ..Default::default() },
        AllocationCreateInfo {
            memory_type_filter: MemoryTypeFilter::PREFER_DEVICE,
            ..Default::default()
        },
        len.max(1) as u64,
    )
    .map_err(|e| {
        Error::failed(format!(
            "vulkan: allocating {} of device memory: {}",
            size(bytes),
            detail(&e)
        ))
    })
}

/// A host-visible buffer holding `data` (at least one element), usable as a storage
/// buffer or a copy source.
pub fn host_buffer<T: BufferContents + Copy + Default>(
    gpu: &Gpu,
    data: &[T],
) -> Result<Subbuffer<[T]>> {
    let one = [T::default()];
    let data = if data.is_empty() { &one[..] } else { data };
    Buffer::from_iter(
        Arc::clone(&gpu.memory) as _,
        BufferCreateInfo { usage: USAGE, ..Default::default() },
        AllocationCreateInfo {
            memory_type_filter: MemoryTypeFilter::PREFER_DEVICE
                | MemoryTypeFilter::HOST_SEQUENTIAL_WRITE,
            ..Default::default()
        },
        data.iter().copied(),
    )
    .map_err(|e| Error::failed(format!("vulkan: allocating an upload buffer: {}", detail(&e))))
}

/// A host-readable buffer of `len` elements to copy results into.
pub fn readback_buffer<T: BufferContents>(gpu: &Gpu, len: usize) -> Result<Subbuffer<[T]>> {
    Buffer::new_slice::<T>(
        Arc::clone(&gpu.memory) as _,
        BufferCreateInfo { usage: USAGE, ..Default::default() },
        AllocationCreateInfo {
            memory_type_filter: MemoryTypeFilter::PREFER_HOST
                | MemoryTypeFilter::HOST_RANDOM_ACCESS,
            ..Default::default()
        },
        len.max(1) as u64,
    )
    .map_err(|e| Error::failed(format!("vulkan: allocating a read-back buffer: {}", detail(&e))))
}

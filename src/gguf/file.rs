//! An open GGUF file: the parsed header over a read-only memory map of the whole file,
//! with tensor data handed out as zero-copy byte slices.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::header::{self, Header};
use super::{Metadata, TensorInfo};
use crate::error::{Error, Result};

enum Bytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// A validated GGUF file. Every tensor's data lies inside the file, aligned, without
/// overlap, so `tensor_data` never fails.
pub struct GgufFile {
    path: PathBuf,
    header: Header,
    bytes: Bytes,
    tensor_index: std::collections::HashMap<String, usize>,
}

impl GgufFile {
    /// Opens and validates `path`, mapping it read-only.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        if meta.is_dir() {
            return Err(Error::bad_input(crate::error::IS_A_DIRECTORY).with_file(path));
        }
        let len = meta.len();
        if len < 8 {
            return Err(Error::bad_input(format!("not a GGUF file ({len} bytes)")).with_file(path));
        }
        // SAFETY: the map is read-only; hearth never writes model files it has open. A
        // file truncated by another process while mapped is outside what we can guard.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        GgufFile::with_bytes(path, Bytes::Mapped(map))
    }

    /// Validates a whole GGUF file held in memory; `name` is used in error messages.
    pub fn from_bytes(name: impl AsRef<Path>, bytes: Vec<u8>) -> Result<GgufFile> {
        GgufFile::with_bytes(name.as_ref(), Bytes::Owned(bytes))
    }

    fn with_bytes(path: &Path, bytes: Bytes) -> Result<GgufFile> {
        let header = header::parse(&bytes).map_err(|e| e.with_file(path))?;
        let tensor_index =
            header.tensors.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        Ok(GgufFile { path: path.to_path_buf(), header, bytes, tensor_index })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn version(&self) -> u32 {
        self.header.version
    }

    pub fn metadata(&self) -> &Metadata {
        &self.header.metadata
    }

    pub fn alignment(&self) -> u64 {
        self.header.alignment
    }

    /// Byte offset of the data section in the file.
    pub fn data_offset(&self) -> u64 {
        self.header.data_offset
    }

    /// The whole file's bytes (for hashing it).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// SHA-256 of the whole file (what KV snapshots are bound to).
    pub fn sha256(&self) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(&self.bytes[..]).into()
    }

    /// Size of the whole file in bytes.
    pub fn file_size(&self) -> u64 {
        self.bytes.len() as u64
    }

    pub fn tensors(&self) -> &[TensorInfo] {
        &self.header.tensors
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.header.tensors[i])
    }

    /// The tensor named `name`, or an error naming it and the file.
    pub fn require_tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.tensor(name).ok_or_else(|| {
            Error::bad_input("tensor not found").with_tensor(name).with_file(&self.path)
        })
    }

    /// The raw bytes of a tensor of this file (a view into the map, no copy).
    pub fn tensor_data(&self, info: &TensorInfo) -> &[u8] {
        let start = (self.header.data_offset + info.offset) as usize;
        &self.bytes[start..start + info.n_bytes as usize]
    }

    /// Total number of elements over all tensors (the parameter count).
    pub fn n_params(&self) -> u64 {
        self.tensors().iter().map(|t| t.n_elems).sum()
    }

    /// `general.architecture`, if present and a string.
    pub fn architecture(&self) -> Result<&str> {
        self.metadata().get_str("general.architecture").map_err(|e| e.with_file(&self.path))
    }
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.header.version)
            .field("metadata", &self.header.metadata.len())
            .field("tensors", &self.header.tensors.len())
            .finish()
    }
}

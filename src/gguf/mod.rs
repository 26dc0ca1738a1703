//! The GGUF file format: a validating reader over a memory map, typed metadata, tensor
//! infos with zero-copy data views, and a writer for fixtures and quantized files.

mod cursor;
mod file;
mod ftype;
pub mod header;
mod tensor;
mod value;
mod writer;

pub use file::GgufFile;
pub use ftype::file_type_name;
pub use tensor::TensorInfo;
pub use value::{Array, Metadata, Value, ValueType};
pub use writer::GgufWriter;

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: &[u8; 4] = b"GGUF";
/// Data alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml tensors have at most four dimensions.
pub const MAX_DIMS: usize = 4;
/// The metadata key that overrides the data alignment.
pub const KEY_ALIGNMENT: &str = "general.alignment";

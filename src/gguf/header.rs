//! Parsing a GGUF header (magic, version, metadata, tensor infos) and validating every
//! count, dimension, type and offset against the bytes actually present.

use super::cursor::Cursor;
use super::value::{Array, Metadata, Value, ValueType};
use super::{TensorInfo, DEFAULT_ALIGNMENT, GGUF_MAGIC, KEY_ALIGNMENT, MAX_DIMS};
use crate::error::{Error, Result};
use crate::quant::GgmlType;

/// Arrays nested deeper than this are refused (real files use depth 1).
const MAX_ARRAY_DEPTH: u32 = 8;

/// The parsed header of a GGUF file.
#[derive(Debug, Clone)]
pub struct Header {
    pub version: u32,
    pub metadata: Metadata,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Byte offset of the data section from the start of the file.
    pub data_offset: u64,
}

/// Parses and validates the header of a whole GGUF file held in `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Header> {
    let mut c = Cursor::new(bytes);
    let version = read_preamble(&mut c)?;
    let tensor_count = c.u64("tensor count")?;
    let kv_count = c.u64("metadata count")?;
    let metadata = read_metadata(&mut c, kv_count)?;
    let alignment = alignment_of(&metadata)?;
    // Each tensor info takes at least 24 bytes: name length, n_dims, type, offset.
    let n = c.check_count(tensor_count, 24, "tensor")?;
    let mut tensors = Vec::with_capacity(n);
    for i in 0..n {
        tensors.push(read_tensor_info(&mut c, i)?);
    }
    let data_offset = align_up(c.pos() as u64, alignment)
        .ok_or_else(|| Error::bad_input("data section offset overflows"))?;
    check_tensor_data(&tensors, alignment, data_offset, bytes.len() as u64)?;
    Ok(Header { version, metadata, tensors, alignment, data_offset })
}

fn read_preamble(c: &mut Cursor) -> Result<u32> {
    let magic = c.take(4, "magic")?;
    if magic != GGUF_MAGIC {
        return Err(Error::bad_input(format!(
            "not a GGUF file (magic {:02x?}, expected \"GGUF\")",
            magic
        )));
    }
    let version = c.u32("version")?;
    match version {
        2 | 3 => Ok(version),
        1 => Err(Error::unsupported("GGUF version 1 is not supported (only versions 2 and 3)")),
        v if (2..=3).contains(&v.swap_bytes()) || v.swap_bytes() == 1 => {
            Err(Error::unsupported("big-endian GGUF file: hearth reads little-endian files only"))
        }
        v => {
            Err(Error::unsupported(format!("unsupported GGUF version {v} (only versions 2 and 3)")))
        }
    }
}

fn read_metadata(c: &mut Cursor, kv_count: u64) -> Result<Metadata> {
    // Each entry takes at least 13 bytes: key length, value type, one byte of value.
    let n = c.check_count(kv_count, 13, "metadata")?;
    let mut metadata = Metadata::new();
    for _ in 0..n {
        let key = c.string("metadata key")?;
        if metadata.contains(&key) {
            return Err(Error::bad_input("duplicate metadata key").with_key(key));
        }
        let value = read_typed_value(c).map_err(|e| e.with_key(&key))?;
        metadata.insert(key, value);
    }
    Ok(metadata)
}

fn read_value_type(c: &mut Cursor) -> Result<ValueType> {
    let at = c.pos();
    let id = c.u32("value type")?;
    ValueType::from_id(id)
        .ok_or_else(|| Error::bad_input(format!("unknown metadata value type {id} at byte {at}")))
}

fn read_typed_value(c: &mut Cursor) -> Result<Value> {
    let ty = read_value_type(c)?;
    read_value(c, ty)
}

fn read_value(c: &mut Cursor, ty: ValueType) -> Result<Value> {
    Ok(match ty {
        ValueType::U8 => Value::U8(c.u8("u8 value")?),
        ValueType::I8 => Value::I8(c.i8("i8 value")?),
        ValueType::U16 => Value::U16(c.u16("u16 value")?),
        ValueType::I16 => Value::I16(c.i16("i16 value")?),
        ValueType::U32 => Value::U32(c.u32("u32 value")?),
        ValueType::I32 => Value::I32(c.i32("i32 value")?),
        ValueType::F32 => Value::F32(c.f32("f32 value")?),
        ValueType::Bool => Value::Bool(c.bool("bool value")?),
        ValueType::String => Value::String(c.string("string value")?),
        ValueType::U64 => Value::U64(c.u64("u64 value")?),
        ValueType::I64 => Value::I64(c.i64("i64 value")?),
        ValueType::F64 => Value::F64(c.f64("f64 value")?),
        ValueType::Array => Value::Array(read_array(c, 1)?),
    })
}

/// Reads `n` items with `read`, after checking they can fit.
fn read_vec<T>(
    c: &mut Cursor,
    len: u64,
    min_size: u64,
    mut read: impl FnMut(&mut Cursor) -> Result<T>,
) -> Result<Vec<T>> {
    let n = c.check_count(len, min_size, "array element")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(read(c)?);
    }
    Ok(out)
}

fn read_array(c: &mut Cursor, depth: u32) -> Result<Array> {
    if depth > MAX_ARRAY_DEPTH {
        return Err(Error::bad_input(format!("arrays nested deeper than {MAX_ARRAY_DEPTH}")));
    }
    let elem = read_value_type(c)?;
    let len = c.u64("array length")?;
    Ok(match elem {
        ValueType::U8 => Array::U8(read_vec(c, len, 1, |c| c.u8("array element"))?),
        ValueType::I8 => Array::I8(read_vec(c, len, 1, |c| c.i8("array element"))?),
        ValueType::U16 => Array::U16(read_vec(c, len, 2, |c| c.u16("array element"))?),
        ValueType::I16 => Array::I16(read_vec(c, len, 2, |c| c.i16("array element"))?),
        ValueType::U32 => Array::U32(read_vec(c, len, 4, |c| c.u32("array element"))?),
        ValueType::I32 => Array::I32(read_vec(c, len, 4, |c| c.i32("array element"))?),
        ValueType::F32 => Array::F32(read_vec(c, len, 4, |c| c.f32("array element"))?),
        ValueType::Bool => Array::Bool(read_vec(c, len, 1, |c| c.bool("array element"))?),
        ValueType::String => Array::String(read_vec(c, len, 8, |c| c.string("array string"))?),
        ValueType::U64 => Array::U64(read_vec(c, len, 8, |c| c.u64("array element"))?),
        ValueType::I64 => Array::I64(read_vec(c, len, 8, |c| c.i64("array element"))?),
        ValueType::F64 => Array::F64(read_vec(c, len, 8, |c| c.f64("array element"))?),
        ValueType::Array => Array::Array(read_vec(c, len, 12, |c| read_array(c, depth + 1))?),
    })
}

fn alignment_of(metadata: &Metadata) -> Result<u64> {
    let Some(alignment) = metadata.get_u64_opt(KEY_ALIGNMENT)? else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    if alignment == 0 || !alignment.is_power_of_two() || alignment > 1 << 20 {
        return Err(Error::bad_input(format!(
            "alignment {alignment} is not a power of two up to 1 MiB"
        ))
        .with_key(KEY_ALIGNMENT));
    }
    Ok(alignment)
}

fn read_tensor_info(c: &mut Cursor, index: usize) -> Result<TensorInfo> {
    let name = c.string(&format!("name of tensor {index}"))?;
    let with_name = |e: Error| e.with_tensor(&name);
    let n_dims = c.u32("tensor dimension count").map_err(with_name)?;
    if n_dims == 0 || n_dims as usize > MAX_DIMS {
        return Err(with_name(Error::bad_input(format!(
            "{n_dims} dimensions (must be 1 to {MAX_DIMS})"
        ))));
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        dims.push(c.u64("tensor dimension").map_err(with_name)?);
    }
    let type_id = c.u32("tensor type").map_err(with_name)?;
    let ty = GgmlType::from_id(type_id)
        .ok_or_else(|| with_name(Error::unsupported(format!("unknown ggml type id {type_id}"))))?;
    let offset = c.u64("tensor offset").map_err(with_name)?;
    TensorInfo::new(name.clone(), dims, ty, offset).map_err(with_name)
}

fn align_up(x: u64, alignment: u64) -> Option<u64> {
    Some(x.checked_add(alignment - 1)? / alignment * alignment)
}

/// Every tensor must be aligned, lie inside the file, and not overlap another; names
/// must be unique.
fn check_tensor_data(
    tensors: &[TensorInfo],
    alignment: u64,
    data_offset: u64,
    file_len: u64,
) -> Result<()> {
    let data_len = file_len.saturating_sub(data_offset);
    let mut by_offset: Vec<&TensorInfo> = tensors.iter().collect();
    by_offset.sort_by_key(|t| t.offset);
    let mut names = std::collections::HashSet::with_capacity(tensors.len());
    for t in tensors {
        if !names.insert(t.name.as_str()) {
            return Err(Error::bad_input("duplicate tensor name").with_tensor(&t.name));
        }
    }
    for (i, t) in by_offset.iter().enumerate() {
        if t.offset % alignment != 0 {
            return Err(Error::bad_input(format!(
                "data offset {} is not a multiple of the alignment {alignment}",
                t.offset
            ))
            .with_tensor(&t.name));
        }
        let end = t.offset.checked_add(t.n_bytes).filter(|&end| end <= data_len);
        let Some(end) = end else {
            return Err(Error::bad_input(format!(
                "data ({} bytes at offset {}) runs past the end of the file ({data_len} data bytes)",
                t.n_bytes, t.offset
            ))
            .with_tensor(&t.name));
        };
        if let Some(next) = by_offset.get(i + 1) {
            if next.offset < end {
                return Err(Error::bad_input(format!(
                    "data overlaps tensor '{}' (offsets {} and {})",
                    next.name, t.offset, next.offset
                ))
                .with_tensor(&t.name));
            }
        }
    }
    Ok(())
}

//! Writing GGUF files: any metadata, tensors as raw bytes of any type, correct alignment.
//! Tests build their fixture models with it; `hearth quantize` will write with it.

use std::io::Write;
use std::path::Path;

use super::value::{Array, Metadata, Value};
use super::{TensorInfo, DEFAULT_ALIGNMENT, GGUF_MAGIC, KEY_ALIGNMENT};
use crate::error::{Error, Result};
use crate::quant::GgmlType;

/// Collects metadata and tensors, then writes a GGUF file in one go.
#[derive(Debug, Clone)]
pub struct GgufWriter {
    version: u32,
    metadata: Metadata,
    tensors: Vec<(TensorInfo, Vec<u8>)>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        GgufWriter::new()
    }
}

impl GgufWriter {
    /// A writer for a version 3 file.
    pub fn new() -> GgufWriter {
        GgufWriter { version: 3, metadata: Metadata::new(), tensors: Vec::new() }
    }

    /// Writes version 2 or 3 (the two share a layout).
    pub fn version(mut self, version: u32) -> GgufWriter {
        self.version = version;
        self
    }

    /// Sets a metadata value (a later value for the same key replaces it).
    pub fn set(&mut self, key: impl Into<String>, value: Value) -> &mut GgufWriter {
        self.metadata.insert(key, value);
        self
    }

    pub fn set_str(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut GgufWriter {
        self.set(key, Value::String(value.into()))
    }

    pub fn set_u32(&mut self, key: impl Into<String>, value: u32) -> &mut GgufWriter {
        self.set(key, Value::U32(value))
    }

    pub fn set_f32(&mut self, key: impl Into<String>, value: f32) -> &mut GgufWriter {
        self.set(key, Value::F32(value))
    }

    pub fn set_bool(&mut self, key: impl Into<String>, value: bool) -> &mut GgufWriter {
        self.set(key, Value::Bool(value))
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Adds a tensor; `data` must hold exactly the bytes the shape and type call for.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        ty: GgmlType,
        data: Vec<u8>,
    ) -> Result<&mut GgufWriter> {
        let name = name.into();
        let info = TensorInfo::new(name.clone(), dims.to_vec(), ty, 0)
            .map_err(|e| e.with_tensor(&name))?;
        if info.n_bytes != data.len() as u64 {
            return Err(Error::bad_input(format!(
                "{} bytes given, shape {dims:?} of {ty} needs {}",
                data.len(),
                info.n_bytes
            ))
            .with_tensor(name));
        }
        if self.tensors.iter().any(|(t, _)| t.name == name) {
            return Err(Error::bad_input("duplicate tensor name").with_tensor(name));
        }
        self.tensors.push((info, data));
        Ok(self)
    }

    /// A tensor added before: its description and its bytes, to change in place.
    pub fn tensor_mut(&mut self, name: &str) -> Option<(&TensorInfo, &mut Vec<u8>)> {
        self.tensors.iter_mut().find(|(t, _)| t.name == name).map(|(t, d)| (&*t, d))
    }

    /// Adds an F32 tensor from values.
    pub fn add_f32(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        values: &[f32],
    ) -> Result<&mut GgufWriter> {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.add_tensor(name, dims, GgmlType::F32, data)
    }

    fn alignment(&self) -> Result<u64> {
        match self.metadata.get_u64_opt(KEY_ALIGNMENT)? {
            None => Ok(DEFAULT_ALIGNMENT),
            Some(a) if a.is_power_of_two() => Ok(a),
            Some(a) => Err(Error::bad_input(format!("alignment {a} is not a power of two"))
                .with_key(KEY_ALIGNMENT)),
        }
    }

    /// The whole file as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let alignment = self.alignment()?;
        let mut out = Vec::new();
        out.extend_from_slice(GGUF_MAGIC);
        put_u32(&mut out, self.version);
        put_u64(&mut out, self.tensors.len() as u64);
        put_u64(&mut out, self.metadata.len() as u64);
        for (key, value) in self.metadata.iter() {
            put_str(&mut out, key);
            put_u32(&mut out, value.value_type() as u32);
            put_value(&mut out, value);
        }
        let mut offset = 0u64;
        let mut offsets = Vec::with_capacity(self.tensors.len());
        for (info, _) in &self.tensors {
            put_str(&mut out, &info.name);
            put_u32(&mut out, info.dims.len() as u32);
            info.dims.iter().for_each(|&d| put_u64(&mut out, d));
            put_u32(&mut out, info.ty.id());
            put_u64(&mut out, offset);
            offsets.push(offset);
            offset = pad_to(offset + info.n_bytes, alignment);
        }
        pad(&mut out, alignment);
        let data_start = out.len() as u64;
        for ((_, data), off) in self.tensors.iter().zip(offsets) {
            out.resize((data_start + off) as usize, 0);
            out.extend_from_slice(data);
        }
        pad(&mut out, alignment);
        Ok(out)
    }

    /// Writes the file to `path` through a temporary file renamed into place, so a
    /// failed write never leaves a partial file under the final name.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.to_bytes().map_err(|e| e.with_file(path))?;
        let tmp = path.with_extension("gguf.partial");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(path, e)
        })
    }
}

fn pad_to(x: u64, alignment: u64) -> u64 {
    x.div_ceil(alignment) * alignment
}

fn pad(out: &mut Vec<u8>, alignment: u64) {
    out.resize(pad_to(out.len() as u64, alignment) as usize, 0);
}

fn put_u32(out: &mut Vec<u8>, x: u32) {
    out.extend_from_slice(&x.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, x: u64) {
    out.extend_from_slice(&x.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => put_str(out, s),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Array(a) => put_array(out, a),
    }
}

fn put_array(out: &mut Vec<u8>, a: &Array) {
    put_u32(out, a.elem_type() as u32);
    put_u64(out, a.len() as u64);
    match a {
        Array::U8(v) => out.extend_from_slice(v),
        Array::I8(v) => v.iter().for_each(|x| out.push(*x as u8)),
        Array::U16(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::I16(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::U32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::I32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::Bool(v) => v.iter().for_each(|x| out.push(*x as u8)),
        Array::String(v) => v.iter().for_each(|s| put_str(out, s)),
        Array::U64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::I64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::F64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Array::Array(v) => v.iter().for_each(|inner| put_array(out, inner)),
    }
}

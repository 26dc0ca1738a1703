//! The CPU KV cache: per layer, one f16 K row and one V row per position (f16 as the
//! reference engine's default cache type).

use half::f16;

use crate::backend::KvShape;
use crate::error::{Error, Result};

pub struct CpuKv {
    pub shape: KvShape,
    /// Per layer: (n_ctx, n_embd_k)
    pub k: Vec<Vec<f16>>,
    /// Per layer: (n_ctx, n_embd_v)
    pub v: Vec<Vec<f16>>,
}

fn store_f16(dst: &mut [f16], src: &[f32]) {
    use half::slice::HalfFloatSliceExt;
    dst.convert_from_f32_slice(src);
}

/// `src` rounded to f16 (to nearest, ties to even).
pub fn to_f16(src: &[f32]) -> Vec<f16> {
    let mut out = vec![f16::ZERO; src.len()];
    store_f16(&mut out, src);
    out
}

impl CpuKv {
    pub fn new(shape: KvShape) -> CpuKv {
        let zeros = |w: usize| vec![f16::ZERO; shape.n_ctx * w];
        CpuKv {
            shape,
            k: (0..shape.n_layer).map(|_| zeros(shape.n_embd_k)).collect(),
            v: (0..shape.n_layer).map(|_| zeros(shape.n_embd_v)).collect(),
        }
    }

    pub fn store(&mut self, il: usize, start: usize, k: &[f32], v: &[f32]) {
        let (ek, ev) = (self.shape.n_embd_k, self.shape.n_embd_v);
        store_f16(&mut self.k[il][start * ek..start * ek + k.len()], k);
        store_f16(&mut self.v[il][start * ev..start * ev + v.len()], v);
    }

    /// Bytes of `n_tokens` positions over all layers (K then V per layer, f16 LE).
    pub fn export_len(&self, n_tokens: usize) -> usize {
        self.shape.n_layer * n_tokens * (self.shape.n_embd_k + self.shape.n_embd_v) * 2
    }

    fn parts(&self, il: usize, n_tokens: usize) -> [&[f16]; 2] {
        let (ek, ev) = (self.shape.n_embd_k, self.shape.n_embd_v);
        [&self.k[il][..n_tokens * ek], &self.v[il][..n_tokens * ev]]
    }

    pub fn export(&self, n_tokens: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.export_len(n_tokens));
        for il in 0..self.shape.n_layer {
            for part in self.parts(il, n_tokens) {
                out.extend(part.iter().flat_map(|x| x.to_le_bytes()));
            }
        }
        out
    }

    pub fn import(&mut self, n_tokens: usize, bytes: &[u8]) -> Result<()> {
        if n_tokens > self.shape.n_ctx || bytes.len() != self.export_len(n_tokens) {
            return Err(Error::bad_input(format!(
                "KV data of {} bytes does not hold {n_tokens} positions of this cache",
                bytes.len()
            )));
        }
        let mut halves = bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]));
        let (ek, ev) = (self.shape.n_embd_k, self.shape.n_embd_v);
        for il in 0..self.shape.n_layer {
            let (k, v) = (&mut self.k[il][..n_tokens * ek], &mut self.v[il][..n_tokens * ev]);
            for slot in k.iter_mut().chain(v.iter_mut()) {
                *slot = halves.next().unwrap_or(f16::ZERO);
            }
        }
        Ok(())
    }
}

//! The CPU KV cache: per layer, one K row and one V row per position, each stored as
//! f32, f16 (the default, as in the reference engine) or q8_0 blocks. Rows are allocated
//! as positions are first written, not for the whole context up front: a large `-c`
//! costs memory only as the conversation grows into it.

use std::ops::Range;

use half::f16;

use crate::backend::{KvShape, KvType};
use crate::error::{Error, Result};
use crate::quant::dot::quantize_activations;
use crate::quant::GgmlType;

/// One layer's cached rows of K or of V, `width` values per position.
pub enum KvRows {
    F32(Vec<f32>),
    F16(Vec<f16>),
    /// Q8_0 blocks, `width / 32` per position.
    Q8_0(Vec<u8>),
}

/// Rows allocated at least, once a cache is first written.
const MIN_ROWS: usize = 256;

/// Makes `d` hold `len` elements (zeros past what it held), growing its capacity by
/// doubling up to `max` elements so that appending a token at a time stays cheap.
fn grow<T: Clone>(d: &mut Vec<T>, len: usize, max: usize, zero: T, row: usize) {
    if d.len() >= len {
        return;
    }
    if len > d.capacity() {
        let want = len.max(d.capacity() * 2).max(MIN_ROWS * row).min(max.max(len));
        d.reserve_exact(want - d.len());
    }
    d.resize(len, zero);
}

impl KvRows {
    /// An empty cache of rows of type `ty`.
    fn new(ty: KvType) -> KvRows {
        match ty {
            KvType::F32 => KvRows::F32(Vec::new()),
            KvType::F16 => KvRows::F16(Vec::new()),
            KvType::Q8_0 => KvRows::Q8_0(Vec::new()),
        }
    }

    /// Makes room for `rows` rows of `width` values (at most `n_ctx`).
    fn ensure(&mut self, width: usize, rows: usize, n_ctx: usize) {
        match self {
            KvRows::F32(d) => grow(d, rows * width, n_ctx * width, 0.0, width),
            KvRows::F16(d) => grow(d, rows * width, n_ctx * width, f16::ZERO, width),
            KvRows::Q8_0(d) => {
                let rb = KvType::Q8_0.row_bytes(width);
                grow(d, rows * rb, n_ctx * rb, 0, rb)
            }
        }
    }

    /// Rows `start..` from `src` (whole rows of `width` values).
    fn store(&mut self, width: usize, n_ctx: usize, start: usize, src: &[f32]) {
        self.ensure(width, start + src.len() / width, n_ctx);
        match self {
            KvRows::F32(d) => d[start * width..][..src.len()].copy_from_slice(src),
            KvRows::F16(d) => store_f16(&mut d[start * width..][..src.len()], src),
            KvRows::Q8_0(d) => {
                let rb = KvType::Q8_0.row_bytes(width);
                let mut q = Vec::with_capacity(src.len() / width * rb);
                quantize_activations(GgmlType::Q8_0, src, &mut q);
                d[start * rb..][..q.len()].copy_from_slice(&q);
            }
        }
    }

    /// The little-endian bytes of rows `rows`; rows never written read as zeros.
    fn export(&self, width: usize, rows: Range<usize>, out: &mut Vec<u8>) {
        let (elem, row) = match self {
            KvRows::F32(_) => (4, width * 4),
            KvRows::F16(_) => (2, width * 2),
            KvRows::Q8_0(_) => (1, KvType::Q8_0.row_bytes(width)),
        };
        let held = self.len_bytes() / row;
        let have = rows.start.min(held)..rows.end.min(held);
        let vals = have.start * row / elem..have.end * row / elem;
        match self {
            KvRows::F32(d) => out.extend(d[vals].iter().flat_map(|x| x.to_le_bytes())),
            KvRows::F16(d) => out.extend(d[vals].iter().flat_map(|x| x.to_le_bytes())),
            KvRows::Q8_0(d) => out.extend_from_slice(&d[vals]),
        }
        out.resize(out.len() + (rows.len() - have.len()) * row, 0);
    }

    /// Bytes held.
    fn len_bytes(&self) -> usize {
        match self {
            KvRows::F32(d) => d.len() * 4,
            KvRows::F16(d) => d.len() * 2,
            KvRows::Q8_0(d) => d.len(),
        }
    }

    /// Reads back what `export` wrote for rows `rows` (exactly its length).
    fn import(&mut self, width: usize, n_ctx: usize, rows: Range<usize>, bytes: &[u8]) {
        self.ensure(width, rows.end, n_ctx);
        let vals = rows.start * width..rows.end * width;
        match self {
            KvRows::F32(d) => {
                let src =
                    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                d[vals].iter_mut().zip(src).for_each(|(s, v)| *s = v);
            }
            KvRows::F16(d) => {
                let src = bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]));
                d[vals].iter_mut().zip(src).for_each(|(s, v)| *s = v);
            }
            KvRows::Q8_0(d) => {
                let rb = KvType::Q8_0.row_bytes(width);
                d[rows.start * rb..rows.end * rb].copy_from_slice(bytes)
            }
        }
    }
}

pub struct CpuKv {
    pub shape: KvShape,
    /// Per layer: rows of `n_embd_k` values, as many as positions were written (at most
    /// `n_ctx`).
    pub k: Vec<KvRows>,
    /// Per layer: rows of `n_embd_v` values, as for `k`.
    pub v: Vec<KvRows>,
    /// Per layer: the conv state of a recurrent layer (`shape.state.conv` values, the
    /// oldest input first, channel-minor); empty for attention layers.
    pub conv: Vec<Vec<f32>>,
    /// Per layer: the delta-rule state of a recurrent layer, one `d × d` matrix per value
    /// head stored transposed (row j holds column j of S); empty for attention layers.
    pub ssm: Vec<Vec<f32>>,
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
        let st = shape.state;
        let state = |n: usize| -> Vec<Vec<f32>> {
            (0..shape.n_layer)
                .map(|il| if st.is_recurrent(il) { vec![0.0; n] } else { Vec::new() })
                .collect()
        };
        CpuKv {
            shape,
            k: (0..shape.n_layer).map(|_| KvRows::new(shape.type_k)).collect(),
            v: (0..shape.n_layer).map(|_| KvRows::new(shape.type_v)).collect(),
            conv: state(st.conv),
            ssm: state(st.ssm),
        }
    }

    /// Layers with KV rows (every layer but the recurrent ones).
    fn attn_layers(&self) -> usize {
        self.shape.n_layer - self.shape.state.count()
    }

    /// The layers that cache K and V rows.
    fn layers_with_rows(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.shape.n_layer).filter(|&il| !self.shape.state.is_recurrent(il))
    }

    /// Zeroes the recurrent state.
    pub fn state_clear(&mut self) {
        self.conv.iter_mut().chain(&mut self.ssm).for_each(|s| s.fill(0.0));
    }

    /// The recurrent state of every recurrent layer, its conv state then its delta-rule
    /// state, as f32 little-endian bytes.
    pub fn state_export(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.shape.state.bytes());
        for (c, s) in self.conv.iter().zip(&self.ssm) {
            out.extend_from_slice(super::bytemuck_f32(c));
            out.extend_from_slice(super::bytemuck_f32(s));
        }
        out
    }

    /// Restores what `state_export` wrote.
    pub fn state_import(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.len() != self.shape.state.bytes() {
            return Err(Error::bad_input(format!(
                "recurrent state of {} bytes does not fit this model's {} bytes",
                bytes.len(),
                self.shape.state.bytes()
            )));
        }
        let mut vals = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        for (c, s) in self.conv.iter_mut().zip(&mut self.ssm) {
            c.iter_mut().chain(s.iter_mut()).for_each(|x| *x = vals.next().unwrap_or(0.0));
        }
        Ok(())
    }

    pub fn store(&mut self, il: usize, start: usize, k: &[f32], v: &[f32]) {
        let n_ctx = self.shape.n_ctx;
        self.k[il].store(self.shape.n_embd_k, n_ctx, start, k);
        self.v[il].store(self.shape.n_embd_v, n_ctx, start, v);
    }

    /// Bytes of `n_tokens` positions over all layers (K then V per layer, as stored).
    pub fn export_len(&self, n_tokens: usize) -> usize {
        let s = &self.shape;
        self.attn_layers()
            * n_tokens
            * (s.type_k.row_bytes(s.n_embd_k) + s.type_v.row_bytes(s.n_embd_v))
    }

    /// Positions `rows` of every attention layer (per layer their K rows, then their V
    /// rows).
    pub fn export(&self, rows: Range<usize>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.export_len(rows.len()));
        for il in self.layers_with_rows() {
            let (k, v) = (&self.k[il], &self.v[il]);
            k.export(self.shape.n_embd_k, rows.clone(), &mut out);
            v.export(self.shape.n_embd_v, rows.clone(), &mut out);
        }
        out
    }

    /// Restores positions `rows` from what `export` wrote for them.
    pub fn import(&mut self, rows: Range<usize>, bytes: &[u8]) -> Result<()> {
        let n_tokens = rows.len();
        if rows.end > self.shape.n_ctx || bytes.len() != self.export_len(n_tokens) {
            return Err(Error::bad_input(format!(
                "KV data of {} bytes does not hold positions {}..{} of this cache",
                bytes.len(),
                rows.start,
                rows.end
            )));
        }
        if n_tokens == 0 {
            return Ok(());
        }
        let s = self.shape;
        let (kb, vb) =
            (n_tokens * s.type_k.row_bytes(s.n_embd_k), n_tokens * s.type_v.row_bytes(s.n_embd_v));
        let layers: Vec<usize> = self.layers_with_rows().collect();
        for (&il, layer) in layers.iter().zip(bytes.chunks_exact(kb + vb)) {
            self.k[il].import(s.n_embd_k, s.n_ctx, rows.clone(), &layer[..kb]);
            self.v[il].import(s.n_embd_v, s.n_ctx, rows.clone(), &layer[kb..]);
        }
        Ok(())
    }
}

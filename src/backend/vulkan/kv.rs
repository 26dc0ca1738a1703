//! The KV cache on the device: per attention layer one buffer of K rows and one of V
//! rows, laid out byte for byte as the CPU cache exports them (f32, f16, or q8_0 blocks
//! of 34 bytes); per recurrent layer (hybrid models) its conv and delta-rule state, f32.

use vulkano::buffer::Subbuffer;

use super::device::Gpu;
use super::queue::{context, device_buffer, size, Queue};
use crate::backend::{KvShape, KvType};
use crate::error::{Error, Result};

pub struct VkKv {
    pub shape: KvShape,
    /// Per layer: `n_ctx` rows of `n_embd_k` values.
    pub k: Vec<Subbuffer<[u32]>>,
    /// Per layer: `n_ctx` rows of `n_embd_v` values.
    pub v: Vec<Subbuffer<[u32]>>,
    /// Per layer: the conv state and the delta-rule state of a recurrent layer (one
    /// word each for the others, whose K and V buffers are likewise one word).
    pub conv: Vec<Subbuffer<[u32]>>,
    pub ssm: Vec<Subbuffer<[u32]>>,
}

/// Words of a layer's cache of `n_ctx` rows of `width` values. q8_0 rounds up to whole
/// pairs of blocks: the store kernel writes a pair (68 bytes, 17 words) at a time.
fn layer_words(ty: KvType, n_ctx: usize, width: usize) -> usize {
    match ty {
        KvType::Q8_0 => (n_ctx * width / 32).div_ceil(2) * 17,
        _ => ty.row_bytes(width * n_ctx).div_ceil(4),
    }
}

impl VkKv {
    /// A cache of zeros, as the CPU's starts, zeroed before it returns. An error names
    /// the sizes wanted: a layer's K or V rows must fit one binding (the attention kernel
    /// reads them whole), and all of them the device's memory.
    pub fn new(gpu: &Gpu, queue: &Queue, shape: KvShape) -> Result<VkKv> {
        let (n, ek, ev) = (shape.n_ctx, shape.n_embd_k, shape.n_embd_v);
        let (k_words, v_words) =
            (layer_words(shape.type_k, n, ek), layer_words(shape.type_v, n, ev));
        let st = shape.state;
        let n_attn = (shape.n_layer - st.count()) as u64;
        let state_bytes = st.bytes() as u64;
        let total = (4 * (k_words + v_words) as u64).saturating_mul(n_attn) + state_bytes;
        let wanted =
            format!("a KV cache of {n} positions ({} over {} layers)", size(total), shape.n_layer);
        let widest = 4 * k_words.max(v_words).max(st.ssm) as u64;
        if widest > gpu.max_binding {
            return Err(Error::failed(format!(
                "vulkan: {wanted} needs {widest} bytes of rows per layer, more than the {} \
                 ({}) one binding of this device covers (lower -c/--ctx-size)",
                gpu.max_binding,
                size(gpu.max_binding)
            )));
        }
        let in_context = |e| context(e, &wanted);
        let per_layer = |words: usize, recurrent: bool| {
            (0..shape.n_layer)
                .map(|il| {
                    let words = if st.is_recurrent(il) == recurrent { words } else { 1 };
                    device_buffer::<u32>(gpu, words.max(1)).map_err(in_context)
                })
                .collect::<Result<Vec<_>>>()
        };
        let k = per_layer(k_words, false)?;
        let v = per_layer(v_words, false)?;
        let conv = per_layer(st.conv, true)?;
        let ssm = per_layer(st.ssm, true)?;
        // Zeroed now, so that a pass failing later (its work dropped) never drops this.
        for b in k.iter().chain(&v).chain(&conv).chain(&ssm) {
            queue.zero(b.clone());
        }
        queue.flush(gpu).map_err(in_context)?;
        Ok(VkKv { shape, k, v, conv, ssm })
    }

    /// The layers that cache K and V rows (every layer but the recurrent ones).
    pub fn layers_with_rows(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.shape.n_layer).filter(|&il| !self.shape.state.is_recurrent(il))
    }

    /// The recurrent layers' state buffers, conv then delta rule per layer: the order of
    /// `state_export`.
    pub fn state_buffers(&self) -> Vec<&Subbuffer<[u32]>> {
        (0..self.shape.n_layer)
            .filter(|&il| self.shape.state.is_recurrent(il))
            .flat_map(|il| [&self.conv[il], &self.ssm[il]])
            .collect()
    }

    /// Bytes of `n_tokens` positions over all layers (K then V per layer).
    pub fn export_len(&self, n_tokens: usize) -> usize {
        let s = &self.shape;
        let n_attn = s.n_layer - s.state.count();
        n_attn * n_tokens * (s.type_k.row_bytes(s.n_embd_k) + s.type_v.row_bytes(s.n_embd_v))
    }

    /// Device bytes of the whole cache.
    pub fn bytes(&self) -> u64 {
        let rows: u64 = self.k.iter().chain(&self.v).map(|b| b.size()).sum();
        rows + self.conv.iter().chain(&self.ssm).map(|b| b.size()).sum::<u64>()
    }
}

//! The KV cache on the device: per layer one buffer of K rows and one of V rows, laid out
//! byte for byte as the CPU cache exports them (f32, f16, or q8_0 blocks of 34 bytes).

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
        if shape.state.count() > 0 {
            return Err(Error::unsupported(format!(
                "vulkan: the gated DeltaNet of this hybrid model ({} recurrent layers: conv1d, \
                 delta rule, interleaved multi-section rope) has no Vulkan kernels yet; run it \
                 on the CPU backend",
                shape.state.count()
            )));
        }
        let (n, ek, ev) = (shape.n_ctx, shape.n_embd_k, shape.n_embd_v);
        let (k_words, v_words) =
            (layer_words(shape.type_k, n, ek), layer_words(shape.type_v, n, ev));
        let total = (4 * (k_words + v_words) as u64).saturating_mul(shape.n_layer as u64);
        let wanted =
            format!("a KV cache of {n} positions ({} over {} layers)", size(total), shape.n_layer);
        let widest = 4 * k_words.max(v_words) as u64;
        if widest > gpu.max_binding {
            return Err(Error::failed(format!(
                "vulkan: {wanted} needs {widest} bytes of rows per layer, more than the {} \
                 ({}) one binding of this device covers (lower -c/--ctx-size)",
                gpu.max_binding,
                size(gpu.max_binding)
            )));
        }
        let in_context = |e| context(e, &wanted);
        let alloc = |words| device_buffer::<u32>(gpu, words).map_err(in_context);
        let k: Vec<_> = (0..shape.n_layer).map(|_| alloc(k_words)).collect::<Result<_>>()?;
        let v: Vec<_> = (0..shape.n_layer).map(|_| alloc(v_words)).collect::<Result<_>>()?;
        // Zeroed now, so that a pass failing later (its work dropped) never drops this.
        for b in k.iter().chain(&v) {
            queue.zero(b.clone());
        }
        queue.flush(gpu).map_err(in_context)?;
        Ok(VkKv { shape, k, v })
    }

    /// Bytes of `n_tokens` positions over all layers (K then V per layer).
    pub fn export_len(&self, n_tokens: usize) -> usize {
        let s = &self.shape;
        s.n_layer * n_tokens * (s.type_k.row_bytes(s.n_embd_k) + s.type_v.row_bytes(s.n_embd_v))
    }

    /// Device bytes of the whole cache.
    pub fn bytes(&self) -> u64 {
        self.k.iter().chain(&self.v).map(|b| b.size()).sum()
    }
}

//! The KV cache on the device: per layer one buffer of K rows and one of V rows, laid out
//! byte for byte as the CPU cache exports them (f32, f16, or q8_0 blocks of 34 bytes).

use vulkano::buffer::Subbuffer;

use super::device::Gpu;
use super::queue::{device_buffer, Queue};
use crate::backend::{KvShape, KvType};
use crate::error::Result;

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
    /// A cache of zeros, as the CPU's starts.
    pub fn new(gpu: &Gpu, queue: &Queue, shape: KvShape) -> Result<VkKv> {
        let (n, ek, ev) = (shape.n_ctx, shape.n_embd_k, shape.n_embd_v);
        let layer = |ty, w| {
            let b = device_buffer::<u32>(gpu, layer_words(ty, n, w))?;
            queue.zero(b.clone());
            Ok(b)
        };
        Ok(VkKv {
            shape,
            k: (0..shape.n_layer).map(|_| layer(shape.type_k, ek)).collect::<Result<_>>()?,
            v: (0..shape.n_layer).map(|_| layer(shape.type_v, ev)).collect::<Result<_>>()?,
        })
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

//! The embedded SPIR-V kernels, their compute pipelines (built on first use) and the
//! push-constant block every kernel takes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use vulkano::buffer::BufferContents;
use vulkano::device::Device;
use vulkano::pipeline::compute::ComputePipelineCreateInfo;
use vulkano::pipeline::layout::{PipelineDescriptorSetLayoutCreateInfo, PushConstantRange};
use vulkano::pipeline::{ComputePipeline, PipelineLayout, PipelineShaderStageCreateInfo};
use vulkano::shader::{ShaderModule, ShaderModuleCreateInfo, ShaderStages, SpecializationConstant};

use crate::error::{Error, Result};

include!(concat!(env!("OUT_DIR"), "/kernels.rs"));

/// Invocations per workgroup of the element-wise kernels.
pub const WG_ELEMS: usize = 256;
/// Invocations per workgroup of the other kernels.
pub const WG: usize = 64;

/// The workgroup size a kernel is specialized with (its specialization constant 0).
fn workgroup_size(name: &str) -> u32 {
    let elementwise = ["binary", "sum_groups", "slice_cols"].contains(&name);
    (if elementwise { WG_ELEMS } else { WG }) as u32
}

/// Bytes of push constants every pipeline layout declares (the Vulkan minimum limit);
/// each kernel reads a prefix of it.
pub const PUSH_BYTES: usize = 128;

/// The push constants of one dispatch: a kernel's `#[repr(C)]` struct, zero-padded.
#[derive(BufferContents, Clone, Copy)]
#[repr(C)]
pub struct PushBlock([u32; PUSH_BYTES / 4]);

/// Marks a `#[repr(C)]` struct of only `u32`/`f32` fields, mirrored by a kernel's
/// `push_constant` block.
///
/// # Safety
/// The type must have no padding and no fields other than 4-byte plain numbers.
pub unsafe trait Push: Copy {
    fn block(&self) -> PushBlock {
        let n = size_of::<Self>();
        assert!(n <= PUSH_BYTES, "push constants of {n} bytes");
        let mut words = [0u32; PUSH_BYTES / 4];
        // SAFETY: `Self` is plain 4-byte fields (the trait's contract) and fits in `words`.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (self as *const Self).cast::<u8>(),
                words.as_mut_ptr().cast::<u8>(),
                n,
            )
        };
        PushBlock(words)
    }
}

/// Compute pipelines by kernel variant name, created when first asked for.
pub struct Pipelines {
    device: Arc<Device>,
    built: Mutex<HashMap<&'static str, Arc<ComputePipeline>>>,
}

impl Pipelines {
    pub fn new(device: Arc<Device>) -> Pipelines {
        Pipelines { device, built: Mutex::new(HashMap::new()) }
    }

    /// Whether the binary carries kernel `name`.
    pub fn has(name: &str) -> bool {
        KERNELS.iter().any(|(n, _)| *n == name)
    }

    pub fn get(&self, name: &str) -> Result<Arc<ComputePipeline>> {
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = built.get(name) {
            return Ok(Arc::clone(p));
        }
        let (key, words) = KERNELS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| Error::unsupported(format!("vulkan: no kernel {name}")))?;
        let pipeline = self.build(name, words)?;
        built.insert(key, Arc::clone(&pipeline));
        Ok(pipeline)
    }

    fn build(&self, name: &str, words: &[u32]) -> Result<Arc<ComputePipeline>> {
        let err = |what: &str, e: &dyn std::fmt::Debug| {
            Error::unsupported(format!("vulkan: kernel {name}: {what}: {e:?}"))
        };
        let device = &self.device;
        // SAFETY: the words are SPIR-V that glslang produced at build time.
        let module =
            unsafe { ShaderModule::new(Arc::clone(device), ShaderModuleCreateInfo::new(words)) }
                .map_err(|e| err("shader module", &e))?;
        let wg = [(0, SpecializationConstant::U32(workgroup_size(name)))].into_iter().collect();
        let entry = module
            .specialize(wg)
            .map_err(|e| err("specialization", &e))?
            .entry_point("main")
            .ok_or_else(|| err("entry point", &"main"))?;
        let stage = PipelineShaderStageCreateInfo::new(entry);
        let mut layout_info = PipelineDescriptorSetLayoutCreateInfo::from_stages([&stage]);
        layout_info.push_constant_ranges = vec![PushConstantRange {
            stages: ShaderStages::COMPUTE,
            offset: 0,
            size: PUSH_BYTES as u32,
        }];
        let layout_info = layout_info
            .into_pipeline_layout_create_info(Arc::clone(device))
            .map_err(|e| err("layout", &e))?;
        let layout =
            PipelineLayout::new(Arc::clone(device), layout_info).map_err(|e| err("layout", &e))?;
        ComputePipeline::new(
            Arc::clone(device),
            None,
            ComputePipelineCreateInfo::stage_layout(stage, layout),
        )
        .map_err(|e| err("pipeline", &e))
    }
}

//! The Vulkan instance, the chosen physical device with its compute queue and
//! allocators, and the list of devices `hearth devices` prints.

use std::sync::Arc;

use vulkano::command_buffer::allocator::StandardCommandBufferAllocator;
use vulkano::descriptor_set::allocator::StandardDescriptorSetAllocator;
use vulkano::device::physical::{PhysicalDevice, PhysicalDeviceType};
use vulkano::device::{Device, DeviceCreateInfo, Queue, QueueCreateInfo, QueueFlags};
use vulkano::instance::{Instance, InstanceCreateFlags, InstanceCreateInfo, InstanceExtensions};
use vulkano::memory::allocator::StandardMemoryAllocator;
use vulkano::memory::MemoryHeapFlags;
use vulkano::VulkanLibrary;

use crate::error::{Error, Result};

/// What `hearth devices` shows of one device.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceInfo {
    pub index: usize,
    pub name: String,
    /// "discrete", "integrated", "virtual", "cpu" or "other".
    pub kind: &'static str,
    pub api_version: String,
    /// Device-local memory, bytes (the largest device-local heap).
    pub memory: u64,
    pub max_storage_buffer_range: u32,
    pub subgroup_size: Option<u32>,
    pub shader_float16: bool,
    pub shader_int8: bool,
}

/// An opened device: everything the backend records and submits with.
pub struct Gpu {
    pub info: DeviceInfo,
    pub device: Arc<Device>,
    pub queue: Arc<Queue>,
    pub memory: Arc<StandardMemoryAllocator>,
    pub commands: Arc<StandardCommandBufferAllocator>,
    pub descriptors: Arc<StandardDescriptorSetAllocator>,
    /// Largest byte range one storage-buffer binding may cover.
    pub max_binding: u64,
    /// Alignment of a binding's start offset.
    pub offset_align: u64,
    /// Workgroups per dispatch dimension.
    pub max_groups: [u32; 3],
}

fn vk_err(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::failed(format!("vulkan: {what}: {e:?}"))
}

fn instance() -> Result<Arc<Instance>> {
    let library = VulkanLibrary::new()
        .map_err(|_| Error::failed("vulkan: no Vulkan loader (libvulkan.so.1) is installed"))?;
    let portability = library.supported_extensions().khr_portability_enumeration;
    let info = InstanceCreateInfo {
        flags: if portability {
            InstanceCreateFlags::ENUMERATE_PORTABILITY
        } else {
            InstanceCreateFlags::empty()
        },
        enabled_extensions: InstanceExtensions {
            khr_portability_enumeration: portability,
            ..InstanceExtensions::empty()
        },
        ..Default::default()
    };
    Instance::new(library, info).map_err(|e| match e {
        vulkano::Validated::Error(vulkano::VulkanError::IncompatibleDriver) => {
            Error::failed("vulkan: no Vulkan driver is installed (or none is compatible)")
        }
        e => vk_err("creating the instance", e),
    })
}

/// Physical devices that have a compute queue, in the driver's order.
fn compute_devices(instance: &Arc<Instance>) -> Result<Vec<Arc<PhysicalDevice>>> {
    let all = instance.enumerate_physical_devices().map_err(|e| vk_err("listing devices", e))?;
    Ok(all.filter(|p| compute_family(p).is_some()).collect())
}

fn compute_family(p: &PhysicalDevice) -> Option<u32> {
    let families = p.queue_family_properties();
    let idx = families.iter().position(|f| f.queue_flags.intersects(QueueFlags::COMPUTE))?;
    Some(idx as u32)
}

fn describe(index: usize, p: &PhysicalDevice) -> DeviceInfo {
    let props = p.properties();
    let kind = match props.device_type {
        PhysicalDeviceType::DiscreteGpu => "discrete",
        PhysicalDeviceType::IntegratedGpu => "integrated",
        PhysicalDeviceType::VirtualGpu => "virtual",
        PhysicalDeviceType::Cpu => "cpu",
        _ => "other",
    };
    let heaps = &p.memory_properties().memory_heaps;
    let memory = heaps
        .iter()
        .filter(|h| h.flags.intersects(MemoryHeapFlags::DEVICE_LOCAL))
        .map(|h| h.size)
        .max()
        .unwrap_or(0);
    let features = p.supported_features();
    DeviceInfo {
        index,
        name: props.device_name.clone(),
        kind,
        api_version: p.api_version().to_string(),
        memory,
        max_storage_buffer_range: props.max_storage_buffer_range,
        subgroup_size: props.subgroup_size,
        shader_float16: features.shader_float16,
        shader_int8: features.shader_int8,
    }
}

/// Every device with a compute queue.
pub fn list() -> Result<Vec<DeviceInfo>> {
    let instance = instance()?;
    let devices = compute_devices(&instance)?;
    Ok(devices.iter().enumerate().map(|(i, p)| describe(i, p)).collect())
}

/// The preference when no device is named: discrete, integrated, virtual, then CPU.
fn rank(p: &PhysicalDevice) -> u8 {
    match p.properties().device_type {
        PhysicalDeviceType::DiscreteGpu => 0,
        PhysicalDeviceType::IntegratedGpu => 1,
        PhysicalDeviceType::VirtualGpu => 2,
        PhysicalDeviceType::Cpu => 3,
        _ => 4,
    }
}

impl Gpu {
    /// Opens device `index` of [`list`], or the best one.
    pub fn open(index: Option<usize>) -> Result<Gpu> {
        let instance = instance()?;
        let devices = compute_devices(&instance)?;
        let (index, physical) = match index {
            Some(i) => {
                let p = devices.get(i).ok_or_else(|| {
                    Error::usage(format!(
                        "--device {i}: there are {} Vulkan devices (see `hearth devices`)",
                        devices.len()
                    ))
                })?;
                (i, Arc::clone(p))
            }
            None => {
                let best = devices.iter().enumerate().min_by_key(|(_, p)| rank(p));
                let (i, p) =
                    best.ok_or_else(|| Error::failed("vulkan: no device with a compute queue"))?;
                (i, Arc::clone(p))
            }
        };
        let info = describe(index, &physical);
        let family = compute_family(&physical).expect("listed devices have a compute queue");
        let (device, mut queues) = Device::new(
            Arc::clone(&physical),
            DeviceCreateInfo {
                queue_create_infos: vec![QueueCreateInfo {
                    queue_family_index: family,
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .map_err(|e| vk_err("creating the device", e))?;
        let queue = queues.next().expect("one queue was asked for");
        let props = physical.properties();
        Ok(Gpu {
            info,
            memory: Arc::new(StandardMemoryAllocator::new_default(Arc::clone(&device))),
            commands: Arc::new(StandardCommandBufferAllocator::new(
                Arc::clone(&device),
                Default::default(),
            )),
            descriptors: Arc::new(StandardDescriptorSetAllocator::new(
                Arc::clone(&device),
                Default::default(),
            )),
            max_binding: u64::from(props.max_storage_buffer_range),
            offset_align: props.min_storage_buffer_offset_alignment.as_devicesize(),
            max_groups: props.max_compute_work_group_count,
            device,
            queue,
        })
    }
}

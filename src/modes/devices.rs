//! `hearth devices`: the Vulkan devices there are, with their memory and features.

use crate::cli::DevicesArgs;
use crate::error::{Error, Result};

pub fn run(args: &DevicesArgs) -> Result<()> {
    #[cfg(feature = "vulkan")]
    {
        let devices = crate::backend::vulkan::list_devices()?;
        if args.json {
            let json = serde_json::to_string_pretty(&devices)
                .map_err(|e| Error::failed(format!("json: {e}")))?;
            println!("{json}");
            return Ok(());
        }
        if devices.is_empty() {
            println!("no Vulkan device with a compute queue");
        }
        for d in &devices {
            println!(
                "{}: {} ({}, Vulkan {}), {} device memory, bindings up to {}{}{}",
                d.index,
                d.name,
                d.kind,
                d.api_version,
                super::output::human_bytes(d.memory),
                super::output::human_bytes(u64::from(d.max_storage_buffer_range)),
                d.subgroup_size.map(|s| format!(", subgroup {s}")).unwrap_or_default(),
                if d.shader_int8 && d.shader_float16 { ", int8+f16" } else { "" },
            );
        }
        Ok(())
    }
    #[cfg(not(feature = "vulkan"))]
    {
        let _ = args;
        Err(Error::unsupported("this hearth was built without the vulkan feature"))
    }
}

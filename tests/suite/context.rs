//! Adapter facts read off wgpu's adapter info: old lavapipes, choosing an adapter, the
//! limits a device is asked for.

use mlp_gpu::gpu::context::{
    missing_limits, old_lavapipe, position, required_limits, MAX_BINDING_BYTES,
};

#[test]
fn old_lavapipe_is_mesa_before_24_and_only_lavapipe() {
    let debian12 = "Mesa 22.3.6 (LLVM 15.0.6)";
    assert_eq!(old_lavapipe("llvmpipe", debian12), Some("22.3.6"));
    assert_eq!(
        old_lavapipe("llvmpipe", "Mesa 23.3.1 (LLVM 16.0.6)"),
        Some("23.3.1")
    );
    let backports = "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)";
    assert_eq!(old_lavapipe("llvmpipe", backports), None);
    assert_eq!(old_lavapipe("llvmpipe", "Mesa 24.0.0"), None);
    // the GL adapter has no driver name; other drivers are never lavapipe
    assert_eq!(old_lavapipe("", "4.5 (Core Profile) Mesa 22.3.6"), None);
    assert_eq!(old_lavapipe("NVIDIA", "580.159.04"), None);
    assert_eq!(old_lavapipe("llvmpipe", "unknown"), None);
}

fn info(name: &str, backend: wgpu::Backend) -> wgpu::AdapterInfo {
    wgpu::AdapterInfo {
        name: name.into(),
        vendor: 0,
        device: 0,
        device_type: wgpu::DeviceType::Cpu,
        device_pci_bus_id: String::new(),
        driver: String::new(),
        driver_info: String::new(),
        backend,
        subgroup_min_size: 0,
        subgroup_max_size: 0,
        transient_saves_memory: None,
        limit_bucket: None,
    }
}

/// llvmpipe appears twice here, once per backend, with one name: `--adapter gl` and
/// `--adapter vulkan` tell them apart; an index or part of a name still work.
#[test]
fn adapters_are_chosen_by_index_backend_or_part_of_the_name() {
    let name = "llvmpipe (LLVM 15.0.6, 256 bits)";
    let list = [
        info(name, wgpu::Backend::Vulkan),
        info(name, wgpu::Backend::Gl),
    ];
    assert_eq!(position(&list, "gl"), Some(1));
    assert_eq!(position(&list, "GL"), Some(1));
    assert_eq!(position(&list, "vulkan"), Some(0));
    assert_eq!(position(&list, "1"), Some(1));
    assert_eq!(position(&list, "2"), None);
    assert_eq!(position(&list, "LLVM 15"), Some(0));
    assert_eq!(position(&list, "metal"), None);
    assert_eq!(position(&list, "nvidia"), None);
}

/// The device request starts from WebGPU's downlevel limits, not `Limits::default()`'s
/// graphics limits, and an adapter short of what the kernels need is told which limit.
#[test]
fn required_limits_are_downlevel_plus_what_the_kernels_need_each_named() {
    let downlevel = wgpu::Limits::downlevel_defaults();
    let need = required_limits(&downlevel);
    assert_eq!(need.max_color_attachments, downlevel.max_color_attachments);
    assert_eq!(
        need.max_inter_stage_shader_variables,
        downlevel.max_inter_stage_shader_variables
    );
    assert_eq!(
        need.max_storage_textures_per_shader_stage,
        downlevel.max_storage_textures_per_shader_stage
    );
    let lacks = missing_limits(&downlevel);
    assert!(
        lacks.contains(&"max_storage_buffers_per_shader_stage 8 (it has 4)".to_string()),
        "{lacks:?}"
    );
    assert!(
        lacks
            .iter()
            .any(|l| l.starts_with("max_immediate_size 128")),
        "{lacks:?}"
    );
    let mut enough = downlevel.clone();
    enough.max_storage_buffers_per_shader_stage = 8;
    enough.max_immediate_size = 128;
    assert_eq!(missing_limits(&enough), Vec::<String>::new());
    // A binding the adapter allows beyond 4 GiB (Metal reports its buffer limit) is capped.
    enough.max_storage_buffer_binding_size = 64 << 30;
    assert_eq!(
        required_limits(&enough).max_storage_buffer_binding_size,
        MAX_BINDING_BYTES
    );
}

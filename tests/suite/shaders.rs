//! Every WGSL module parses and validates with naga, and translates to SPIR-V (Vulkan),
//! MSL (Metal) and HLSL (DX12), for every matmul variant. Needs no GPU.

use mlp_gpu::gpu::shaders::Op;
use mlp_gpu::gpu::MatmulVariant;
use naga::valid::{Capabilities, ValidationFlags, Validator};

fn validate(op: Op, variant: MatmulVariant) -> (naga::Module, naga::valid::ModuleInfo) {
    let src = op.source(variant);
    let module = naga::front::wgsl::parse_str(&src)
        .unwrap_or_else(|e| panic!("{}: {}", op.file(), e.emit_to_string(&src)));
    let info = Validator::new(
        ValidationFlags::all(),
        Capabilities::IMMEDIATES | Capabilities::SUBGROUP,
    )
    .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
    .subgroup_operations(naga::valid::SubgroupOperationSet::all())
    .validate(&module)
    .unwrap_or_else(|e| {
        panic!(
            "{} ({}): {}",
            op.file(),
            variant.name(),
            e.emit_to_string(&src)
        )
    });
    (module, info)
}

#[test]
fn every_shader_validates_and_translates_to_spirv_msl_hlsl() {
    for variant in MatmulVariant::ALL {
        for op in Op::ALL {
            let (module, info) = validate(op, variant);
            let what = format!("{} ({})", op.file(), variant.name());
            naga::back::spv::write_vec(&module, &info, &Default::default(), None)
                .unwrap_or_else(|e| panic!("{what} SPIR-V: {e}"));
            naga::back::msl::write_string(&module, &info, &Default::default(), &Default::default())
                .unwrap_or_else(|e| panic!("{what} MSL: {e}"));
            let mut hlsl = String::new();
            // wgpu's DX12 backend binds immediates as a root constant in its own space
            let options = naga::back::hlsl::Options {
                immediates_target: Some(naga::back::hlsl::BindTarget {
                    space: 0,
                    register: 0,
                    ..Default::default()
                }),
                fake_missing_bindings: true,
                ..Default::default()
            };
            let pipeline_options = Default::default();
            let mut writer = naga::back::hlsl::Writer::new(&mut hlsl, &options, &pipeline_options);
            writer
                .write(&module, &info, None)
                .unwrap_or_else(|e| panic!("{what} HLSL: {e}"));
        }
    }
}

#[test]
fn every_shader_file_is_used_and_has_a_header() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(&format!("// {name}:")),
            "{name} starts with a header comment naming it"
        );
        let used = Op::ALL.iter().any(|op| {
            MatmulVariant::ALL
                .iter()
                .any(|&v| op.source(v).contains(&text))
        });
        assert!(used, "{name} is compiled by some Op");
    }
}

//! Every WGSL module parses and validates with naga, and translates to SPIR-V (Vulkan),
//! MSL (Metal), HLSL (DX12) and GLSL (GL), for every matmul variant; the SPIR-V passes
//! `spirv-val` and the GLSL `glslangValidator`. Needs no GPU.

use mlp_gpu::gpu::shaders::Op;
use mlp_gpu::gpu::MatmulVariant;

fn validate(op: Op, variant: MatmulVariant) -> (naga::Module, naga::valid::ModuleInfo) {
    let src = op.source(variant);
    let module = naga::front::wgsl::parse_str(&src)
        .unwrap_or_else(|e| panic!("{}: {}", op.file(), e.emit_to_string(&src)));
    let info = mlp_gpu::gpu::shaders::validate(&module).unwrap_or_else(|e| {
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

/// (name, byte offset, byte size) of each member of WGSL struct `ty`, and its size.
fn wgsl_struct(
    module: &naga::Module,
    layouter: &naga::proc::Layouter,
    ty: naga::Handle<naga::Type>,
) -> (String, usize, Vec<(String, usize, usize)>) {
    let t = &module.types[ty];
    let naga::TypeInner::Struct { members, span } = &t.inner else {
        panic!("immediates are a struct, not {:?}", t.inner);
    };
    let fields = members
        .iter()
        .map(|m| {
            let name = m.name.clone().expect("named members");
            (name, m.offset as usize, layouter[m.ty].size as usize)
        })
        .collect();
    (
        t.name.clone().expect("a named struct"),
        *span as usize,
        fields,
    )
}

/// Every `var<immediate>` struct, and every struct nested in one, has a Rust twin in
/// gpu::immediates with the same name, size and fields at the same offsets; so has every
/// other WGSL struct of that name (the pack member's settings, read from ints); and every
/// Rust twin is used by some shader.
#[test]
fn every_immediates_struct_matches_its_rust_twin() {
    let rust = mlp_gpu::gpu::immediates::layouts();
    let mut seen = std::collections::BTreeSet::new();
    for variant in MatmulVariant::ALL {
        for op in Op::ALL {
            let (module, _) = validate(op, variant);
            let mut layouter = naga::proc::Layouter::default();
            layouter.update(module.to_ctx()).unwrap();
            let immediates: Vec<_> = module
                .global_variables
                .iter()
                .filter(|(_, v)| v.space == naga::AddressSpace::Immediate)
                .map(|(_, v)| v.ty)
                .collect();
            assert_eq!(immediates.len(), 1, "{}: one var<immediate>", op.file());
            let mut pending = immediates.clone();
            let named = module.types.iter().filter(|(_, t)| {
                let is_struct = matches!(t.inner, naga::TypeInner::Struct { .. });
                is_struct && rust.iter().any(|l| Some(l.wgsl) == t.name.as_deref())
            });
            pending.extend(named.map(|(h, _)| h));
            while let Some(ty) = pending.pop() {
                let (name, size, fields) = wgsl_struct(&module, &layouter, ty);
                let twin = rust
                    .iter()
                    .find(|l| l.wgsl == name)
                    .unwrap_or_else(|| panic!("{}: struct {name} has no Rust twin", op.file()));
                let want: Vec<_> = twin
                    .fields
                    .iter()
                    .map(|&(n, at, size)| (n.to_string(), at, size))
                    .collect();
                assert_eq!(fields, want, "{}: struct {name}'s fields", op.file());
                assert_eq!(size, twin.size, "{}: struct {name}'s size", op.file());
                let naga::TypeInner::Struct { members, .. } = &module.types[ty].inner else {
                    unreachable!()
                };
                pending.extend(
                    members.iter().map(|m| m.ty).filter(|&t| {
                        matches!(module.types[t].inner, naga::TypeInner::Struct { .. })
                    }),
                );
                seen.insert(name);
            }
        }
    }
    for l in &rust {
        assert!(seen.contains(l.wgsl), "{} is used by a shader", l.wgsl);
    }
    let limit = mlp_gpu::gpu::context::IMMEDIATE_BYTES as usize;
    assert!(
        rust.iter().all(|l| l.size <= limit),
        "every struct fits the immediates"
    );
}

/// The generated matmul forms are exactly what scripts/gen_linear_cpu.py writes (scripts/
/// deps.sh installs the python3 it needs).
#[test]
fn generated_matmul_forms_are_what_the_generator_writes() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new("python3")
        .arg(format!("{root}/scripts/gen_linear_cpu.py"))
        .arg("--check")
        .output()
        .expect("python3 runs (scripts/deps.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `tool args... file` on `text` written to a file named `name`; panics with the
/// tool's output unless it accepts it.
fn compiler_accepts(tool: &str, args: &[&str], name: &str, text: &[u8], what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, text).unwrap();
    let o = std::process::Command::new(tool)
        .args(args)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} runs (make test installs it: scripts/deps.sh test): {e}")
        });
    assert!(
        o.status.success(),
        "{what}: {tool} rejects naga's output:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// naga's SPIR-V (what wgpu's Vulkan backend hands the driver; SPIR-V 1.3, where subgroup
/// operations start) through the Khronos validator `spirv-val` for Vulkan 1.1, and naga's
/// GLSL (what wgpu's GL backend compiles; GLSL 4.50, what it asks of llvmpipe's GL 4.5) for
/// every compute entry point through the reference compiler `glslangValidator`: real
/// compilers of other backends, beyond naga's own validation. MSL and HLSL are checked as
/// naga translates them only (no Metal or DXC compiler on Linux).
#[test]
fn naga_spirv_passes_spirv_val_and_its_glsl_passes_glslang_for_every_entry_point() {
    for variant in MatmulVariant::ALL {
        for op in Op::ALL {
            let (module, info) = validate(op, variant);
            let what = format!("{} ({})", op.file(), variant.name());
            let options = naga::back::spv::Options {
                lang_version: (1, 3),
                ..Default::default()
            };
            let words = naga::back::spv::write_vec(&module, &info, &options, None)
                .unwrap_or_else(|e| panic!("{what} SPIR-V: {e}"));
            let spv: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            compiler_accepts(
                "spirv-val",
                &["--target-env", "vulkan1.1"],
                "op.spv",
                &spv,
                &what,
            );
            for entry in &module.entry_points {
                let options = naga::back::glsl::Options {
                    version: naga::back::glsl::Version::Desktop(450),
                    ..Default::default()
                };
                let pipeline = naga::back::glsl::PipelineOptions {
                    shader_stage: naga::ShaderStage::Compute,
                    entry_point: entry.name.clone(),
                    multiview: None,
                };
                let mut glsl = String::new();
                let what = format!("{what} {}", entry.name);
                naga::back::glsl::Writer::new(
                    &mut glsl,
                    &module,
                    &info,
                    &options,
                    &pipeline,
                    Default::default(),
                )
                .and_then(|mut w| w.write())
                .unwrap_or_else(|e| panic!("{what} GLSL: {e}"));
                compiler_accepts("glslangValidator", &[], "op.comp", glsl.as_bytes(), &what);
            }
        }
    }
}

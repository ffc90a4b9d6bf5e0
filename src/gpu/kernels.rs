//! Pipelines for every entry point, made once per context, and the dispatch helper.

use super::context::IMMEDIATE_BYTES;
use super::immediates::Pack;
use super::shaders::{CpuForm, Op};
use super::{Context, GpuError, MatmulVariant};
use std::sync::atomic::{AtomicU64, Ordering};
use wgpu::{BindGroupLayout, ComputePass, ComputePipeline};

pub struct Kernel {
    pipeline: ComputePipeline,
    pub(crate) workgroup: u32,
    name: &'static str,
}

/// A fast form of a matmul product, compiled, with the tile of C it computes (rows,
/// columns), read off the shader's `<ENTRY>_TILE_M` and `_TILE_N`.
pub(crate) struct FastForm {
    pub kernel: Kernel,
    pub tile: (usize, usize),
    pub workgroup_per_tile: bool,
}

/// Every compiled entry point. The wrappers for each family live in that family's module
/// (`gpu::linear`, `gpu::batch_norm`, ...) as methods on this type.
pub struct Kernels {
    pub model_layout: BindGroupLayout,
    pub data_layout: BindGroupLayout,
    pub variant: MatmulVariant,
    pub(crate) gather: Kernel,
    pub(crate) linear_forward: Kernel,
    pub(crate) linear_backward_data: Kernel,
    pub(crate) linear_backward_weight: Kernel,
    /// The register-block variants' fast forms of forward, backward_data, backward_weight
    /// (vec4 or subgroup, `MatmulVariant::cpu_forms`).
    pub(crate) linear_cpu_forms: Option<[FastForm; 3]>,
    pub(crate) batch_norm_stats: Kernel,
    pub(crate) batch_norm_apply: Kernel,
    pub(crate) batch_norm_backward_reduce: Kernel,
    pub(crate) batch_norm_backward_apply: Kernel,
    pub(crate) dropout: Kernel,
    pub(crate) cross_entropy: Kernel,
    /// The step of a pack, each member's rule from its settings.
    pub(crate) optimizer_step: Kernel,
    /// The step of a run alone, by its rule (`OptimizerKind` order).
    pub(crate) optimizer_rules: [Kernel; 3],
    dispatches: AtomicU64,
    max_groups: u32,
    /// Timestamps around every dispatch, for `bench --profile` only.
    pub profiler: Option<super::profile::Profiler>,
}

fn storage_layout(ctx: &Context, label: &str, count: u32, read_only: bool) -> BindGroupLayout {
    let entries: Vec<_> = (0..count)
        .map(|binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    ctx.device
        .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(label),
            entries: &entries,
        })
}

/// What the host reads off a shader with naga, so that it never restates it: each entry
/// point's invocations per workgroup, the module's u32 constants, and the module itself.
struct Reflection {
    workgroups: Vec<(String, u32)>,
    constants: Vec<(String, u32)>,
    module: naga::Module,
}

fn reflect(op: Op, source: &str) -> Result<Reflection, GpuError> {
    let module = naga::front::wgsl::parse_str(source)
        .map_err(|e| GpuError::Device(format!("{}: {}", op.file(), e.emit_to_string(source))))?;
    let workgroups = module
        .entry_points
        .iter()
        .map(|e| (e.name.clone(), e.workgroup_size.iter().product()))
        .collect();
    let constants = module
        .constants
        .iter()
        .filter_map(|(_, c)| match module.global_expressions[c.init] {
            naga::Expression::Literal(naga::Literal::U32(v)) => Some((c.name.clone()?, v)),
            _ => None,
        })
        .collect();
    Ok(Reflection {
        workgroups,
        constants,
        module,
    })
}

/// The module `reflected` holds as naga's SPIR-V with every index and buffer access clamped
/// into range (as wgpu compiles for Metal), handed to the Vulkan driver as it is.
fn clamped_module(
    ctx: &Context,
    op: Op,
    reflected: &Reflection,
) -> Result<wgpu::ShaderModule, GpuError> {
    let fail = |e: String| GpuError::Device(format!("{} for clamp-bounds: {e}", op.file()));
    let module = &reflected.module;
    let info = super::shaders::validate(module).map_err(|e| fail(e.to_string()))?;
    let restrict = naga::proc::BoundsCheckPolicy::Restrict;
    let options = naga::back::spv::Options {
        lang_version: (1, 3),
        bounds_check_policies: naga::proc::BoundsCheckPolicies {
            index: restrict,
            buffer: restrict,
            image_load: restrict,
            binding_array: restrict,
        },
        ..Default::default()
    };
    let spirv = naga::back::spv::write_vec(module, &info, &options, None)
        .map_err(|e| fail(e.to_string()))?;
    let entry_points: Vec<_> = module
        .entry_points
        .iter()
        .map(|e| {
            let [x, y, z] = e.workgroup_size;
            wgpu::PassthroughShaderEntryPoint {
                name: e.name.clone().into(),
                workgroup_size: (x, y, z),
            }
        })
        .collect();
    let desc = wgpu::ShaderModuleDescriptorPassthrough {
        label: Some(op.file()),
        entry_points: entry_points.into(),
        spirv: Some(spirv.into()),
        ..Default::default()
    };
    // SAFETY: naga wrote this SPIR-V from the same validated WGSL wgpu would compile.
    Ok(unsafe { ctx.device.create_shader_module_passthrough(desc) })
}

impl Reflection {
    /// The tile constants of fast form `entry`.
    fn tile(&self, op: Op, entry: &str) -> (usize, usize) {
        let get = |axis: &str| {
            let name = format!("{}_TILE_{axis}", entry.to_uppercase());
            let found = self.constants.iter().find(|(n, _)| *n == name);
            found
                .unwrap_or_else(|| panic!("{} declares {name}", op.file()))
                .1 as usize
        };
        (get("M"), get("N"))
    }
}

impl Kernels {
    pub fn new(ctx: &Context) -> Result<Self, GpuError> {
        Self::with_variant(ctx, ctx.variant)
    }

    /// Compiles every kernel, with the matmul blocked as `variant`.
    pub fn with_variant(ctx: &Context, variant: MatmulVariant) -> Result<Self, GpuError> {
        if let Some(what) = variant.lacks(&ctx.info, ctx.device.features()) {
            return Err(GpuError::Unsupported {
                adapter: ctx.adapter_name(),
                what: format!("{what}, for the matmul variant {}", variant.name()),
            });
        }
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let model_layout = storage_layout(ctx, "model", 5, false);
        let data_layout = storage_layout(ctx, "data", 3, true);
        let layout = ctx
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("mlp-gpu"),
                bind_group_layouts: &[Some(&model_layout), Some(&data_layout)],
                immediate_size: IMMEDIATE_BYTES,
            });
        let modules = Op::ALL
            .iter()
            .map(|&op| {
                let source = op.source(variant);
                let reflected = reflect(op, &source)?;
                let desc = wgpu::ShaderModuleDescriptor {
                    label: Some(op.file()),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                };
                // Without wgpu's guard against infinite loops: the guard's 64-bit counter
                // in every loop kept NVIDIA's compiler from unrolling the matmul loops, so
                // the register blocks went to local memory (forward product at batch 512
                // on an H100: 0.25 ms a dispatch, 24x slower; docs/benchmarks-history.md). Bounds
                // checks stay on.
                // SAFETY: every loop in shaders/ is a counting loop whose bound the host
                // keeps far below u32::MAX (sizes are checked against the binding limits).
                let checks = wgpu::ShaderRuntimeChecks {
                    force_loop_bounding: false,
                    ..wgpu::ShaderRuntimeChecks::checked()
                };
                let module = if ctx.clamped_bounds {
                    clamped_module(ctx, op, &reflected)?
                } else {
                    unsafe { ctx.device.create_shader_module_trusted(desc, checks) }
                };
                Ok((op, module, reflected))
            })
            .collect::<Result<Vec<_>, GpuError>>()?;
        let kernel = |op: Op, entry: &'static str| {
            let (_, module, reflected) = modules
                .iter()
                .find(|(o, ..)| *o == op)
                .expect("every op has a module");
            let workgroup = reflected
                .workgroups
                .iter()
                .find(|(name, _)| name == entry)
                .unwrap_or_else(|| panic!("{} has an entry point {entry}", op.file()))
                .1;
            let pipeline = ctx
                .device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: Some(&layout),
                    module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                });
            Kernel {
                pipeline,
                workgroup,
                name: entry,
            }
        };
        let tiled = variant.tiled();
        // The register-block variants compile the scalar and their fast forms, the tiled
        // ones their own (the fast forms are CPU designs).
        let product = |scalar: &'static str, tiled_form: &'static str| {
            kernel(Op::Linear, if tiled { tiled_form } else { scalar })
        };
        let linear = &modules
            .iter()
            .find(|(o, ..)| *o == Op::Linear)
            .expect("linear")
            .2;
        let cpu_forms = variant.cpu_forms().map(|forms| {
            forms.map(|f: CpuForm| FastForm {
                kernel: kernel(Op::Linear, f.entry),
                tile: linear.tile(Op::Linear, f.entry),
                workgroup_per_tile: f.workgroup_per_tile,
            })
        });
        let kernels = Kernels {
            gather: kernel(Op::Gather, "gather"),
            linear_forward: product("linear_forward", "linear_forward_tiled"),
            linear_backward_data: product("linear_backward_data", "linear_backward_data_tiled"),
            linear_backward_weight: product(
                "linear_backward_weight",
                "linear_backward_weight_tiled",
            ),
            linear_cpu_forms: cpu_forms,
            batch_norm_stats: kernel(Op::BatchNorm, "batch_norm_stats"),
            batch_norm_apply: kernel(Op::BatchNorm, "batch_norm_apply"),
            batch_norm_backward_reduce: kernel(Op::BatchNorm, "batch_norm_backward_reduce"),
            batch_norm_backward_apply: kernel(Op::BatchNorm, "batch_norm_backward_apply"),
            dropout: kernel(Op::Dropout, "dropout"),
            cross_entropy: kernel(Op::CrossEntropy, "cross_entropy"),
            optimizer_step: kernel(Op::Optimizer, "optimizer_step"),
            optimizer_rules: ["optimizer_sgd", "optimizer_adam", "optimizer_rmsprop"]
                .map(|entry| kernel(Op::Optimizer, entry)),
            model_layout,
            data_layout,
            variant,
            dispatches: AtomicU64::new(0),
            max_groups: ctx.limits.max_compute_workgroups_per_dimension,
            profiler: None,
        };
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Device(format!("compiling the kernels: {e}")));
        }
        Ok(kernels)
    }

    /// Dispatches `kernel` over at least `invocations` invocations for each of `pack`'s
    /// members (a 2D grid past the per-dimension limit, kernels index with `flat_id` and
    /// skip the excess; the members along z).
    pub(crate) fn dispatch<T: bytemuck::Pod>(
        &self,
        pass: &mut ComputePass<'_>,
        kernel: &Kernel,
        imm: &T,
        invocations: u32,
        pack: &Pack,
    ) {
        let groups = invocations.div_ceil(kernel.workgroup).max(1);
        let x = groups.min(self.max_groups);
        let timing = self.profiler.as_ref().map(|p| p.begin(pass, kernel.name));
        pass.set_pipeline(&kernel.pipeline);
        pass.set_immediates(0, bytemuck::bytes_of(imm));
        pass.dispatch_workgroups(x, groups.div_ceil(x), pack.members);
        if let (Some(p), Some(at)) = (&self.profiler, timing) {
            p.end(pass, at);
        }
        self.dispatches.fetch_add(1, Ordering::Relaxed);
    }

    /// Dispatches issued so far (for the benchmark's per-step count).
    pub fn dispatch_count(&self) -> u64 {
        self.dispatches.load(Ordering::Relaxed)
    }
}

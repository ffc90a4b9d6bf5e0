//! WGSL sources: each op file is compiled with `common.wgsl` (bindings, hash) in front, and
//! the matmul file with its variant's tile constants in front of that (and, for subgroup8,
//! `linear_subgroup.wgsl` behind it).

use wgpu::{AdapterInfo, DeviceType, Features};

/// naga's validation of a module with what the kernels use (immediates, subgroups in
/// compute): what the shader tests and the clamped-bounds compile both run.
pub fn validate(
    module: &naga::Module,
) -> Result<naga::valid::ModuleInfo, Box<naga::WithSpan<naga::valid::ValidationError>>> {
    use naga::valid::{Capabilities, ShaderStages, SubgroupOperationSet, ValidationFlags};
    naga::valid::Validator::new(
        ValidationFlags::all(),
        Capabilities::IMMEDIATES | Capabilities::SUBGROUP,
    )
    .subgroup_stages(ShaderStages::COMPUTE)
    .subgroup_operations(SubgroupOperationSet::all())
    .validate(module)
    .map_err(Box::new)
}

/// The subgroup forms' workgroup size (LANES in gen_linear_cpu.py), which must be one
/// subgroup: the adapter's subgroups must have at least this many lanes.
const SUBGROUP_LANES: u32 = 8;

/// A fast form of one matmul product: its entry point, and whether a whole workgroup
/// computes a tile of C (the subgroup forms) or each invocation one (the vec4 forms). The
/// tile's size is the shader's (`<ENTRY>_TILE_M`, `_TILE_N`), read by gpu/kernels.rs.
#[derive(Clone, Copy, Debug)]
pub struct CpuForm {
    pub entry: &'static str,
    pub workgroup_per_tile: bool,
}

/// Features per workgroup of batch_norm.wgsl's per-feature kernels (its COLS).
pub const BATCH_NORM_COLS: usize = 32;

pub const COMMON: &str = include_str!("../../shaders/common.wgsl");
/// The subgroup forms of the matmul, appended to linear.wgsl for `MatmulVariant::Subgroup8`.
pub const LINEAR_SUBGROUP: &str = include_str!("../../shaders/linear_subgroup.wgsl");

/// The op families, one WGSL file each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Gather,
    Linear,
    BatchNorm,
    Dropout,
    CrossEntropy,
    Optimizer,
}

impl Op {
    pub const ALL: [Op; 6] = [
        Op::Gather,
        Op::Linear,
        Op::BatchNorm,
        Op::Dropout,
        Op::CrossEntropy,
        Op::Optimizer,
    ];

    pub fn file(self) -> &'static str {
        match self {
            Op::Gather => "gather.wgsl",
            Op::Linear => "linear.wgsl",
            Op::BatchNorm => "batch_norm.wgsl",
            Op::Dropout => "dropout.wgsl",
            Op::CrossEntropy => "cross_entropy.wgsl",
            Op::Optimizer => "optimizer.wgsl",
        }
    }

    fn text(self) -> &'static str {
        match self {
            Op::Gather => include_str!("../../shaders/gather.wgsl"),
            Op::Linear => include_str!("../../shaders/linear.wgsl"),
            Op::BatchNorm => include_str!("../../shaders/batch_norm.wgsl"),
            Op::Dropout => include_str!("../../shaders/dropout.wgsl"),
            Op::CrossEntropy => include_str!("../../shaders/cross_entropy.wgsl"),
            Op::Optimizer => include_str!("../../shaders/optimizer.wgsl"),
        }
    }

    /// The constants the host prepends, so that Rust and WGSL read each from one place.
    fn constants(self, variant: MatmulVariant) -> String {
        match self {
            Op::BatchNorm => format!("const COLS: u32 = {BATCH_NORM_COLS}u;\n"),
            Op::Linear => variant.constants(),
            Op::Gather | Op::Dropout | Op::CrossEntropy | Op::Optimizer => String::new(),
        }
    }

    /// The complete module source for this op, compiled for `variant`.
    pub fn source(self, variant: MatmulVariant) -> String {
        let common = format!(
            "const MEMBER_WORDS: u32 = {}u;\n{COMMON}",
            super::immediates::MEMBER_WORDS
        );
        if self != Op::Linear {
            return format!("{}{common}\n{}", self.constants(variant), self.text());
        }
        let subgroup = if variant == MatmulVariant::Subgroup8 {
            LINEAR_SUBGROUP
        } else {
            ""
        };
        format!(
            "{}{common}\n{}\n{subgroup}",
            self.constants(variant),
            self.text()
        )
    }
}

/// How the matmul kernels block their work; which wins depends on the adapter and the
/// shapes (`mlp-gpu bench --matmul` times every variant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MatmulVariant {
    /// 8x8 outputs per invocation, workgroups of 8, no workgroup memory, and the vec4 forms
    /// wherever the shape allows: for CPU adapters without subgroups (llvmpipe through GL),
    /// where each invocation is a SIMD lane (8 per AVX2 vector), large blocks amortise the
    /// per-lane loads, barriers are coroutine switches, and a whole workgroup runs on one
    /// thread, so small workgroups spread a small batch over all cores.
    Block8x8,
    /// block8x8 with the subgroup forms (linear_subgroup.wgsl) in place of the vec4 forms:
    /// each of a workgroup's 8 lanes loads part of an operand and subgroup broadcasts share
    /// it, 8x fewer per-lane loads: for CPU adapters with subgroups of at least 8 lanes
    /// (lavapipe: 1.5-3x the vec4 forms' GFLOP/s on Mesa 22 and 25, docs/benchmarks-history.md).
    Subgroup8,
    /// Workgroups of 16x16 invocations share 64x64 tiles of C through workgroup memory
    /// (K in slices of 16), each invocation a 4x4 register block: for GPUs and layers
    /// large enough to fill them.
    Tile64,
    /// 32x32 tiles, 16x8 invocations of 2x4: four times the workgroups of tile64.
    Tile32,
    /// 16x16 tiles, 16x4 invocations of 1x4: the most workgroups and the shortest chains,
    /// for GPUs at this network's sizes, where a step is a chain of small dispatches whose
    /// latency, not arithmetic, sets the time (fastest on an H100, docs/benchmarks-history.md).
    Tile16,
}

/// The K slice the tiled forms stage in workgroup memory. Slices of 64, with or without
/// overlapping the next slice's loads, measured no faster on an H100 (docs/benchmarks-history.md).
const TILE_K: u32 = 16;

impl MatmulVariant {
    pub const ALL: [MatmulVariant; 5] = [
        MatmulVariant::Block8x8,
        MatmulVariant::Subgroup8,
        MatmulVariant::Tile64,
        MatmulVariant::Tile32,
        MatmulVariant::Tile16,
    ];

    /// The variant for an adapter with `features`: on CPU adapters subgroup8 where it runs,
    /// else block8x8; on GPUs tile16.
    pub fn for_adapter(info: &AdapterInfo, features: Features) -> Self {
        if info.device_type != DeviceType::Cpu {
            MatmulVariant::Tile16
        } else if MatmulVariant::Subgroup8.runs_on(info, features) {
            MatmulVariant::Subgroup8
        } else {
            MatmulVariant::Block8x8
        }
    }

    /// Whether an adapter with `features` can run this variant.
    pub fn runs_on(self, info: &AdapterInfo, features: Features) -> bool {
        self.lacks(info, features).is_none()
    }

    /// What an adapter with `features` lacks to run this variant, if anything: subgroup8
    /// needs subgroups, of at least 8 lanes so that a workgroup of 8 is one subgroup.
    pub fn lacks(self, info: &AdapterInfo, features: Features) -> Option<String> {
        if self != MatmulVariant::Subgroup8 {
            None
        } else if !features.contains(Features::SUBGROUP) {
            Some("subgroup operations".into())
        } else if info.subgroup_min_size < SUBGROUP_LANES {
            Some(format!(
                "subgroups of at least {SUBGROUP_LANES} lanes (its smallest: {})",
                info.subgroup_min_size
            ))
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MatmulVariant::Block8x8 => "block8x8",
            MatmulVariant::Subgroup8 => "subgroup8",
            MatmulVariant::Tile64 => "tile64",
            MatmulVariant::Tile32 => "tile32",
            MatmulVariant::Tile16 => "tile16",
        }
    }

    /// (TM, TN, WG, WG_N): outputs per invocation, invocations per workgroup, and how many
    /// of them lie along a tile's columns.
    fn blocking(self) -> (u32, u32, u32, u32) {
        match self {
            MatmulVariant::Block8x8 | MatmulVariant::Subgroup8 => (8, 8, 8, 1),
            MatmulVariant::Tile64 => (4, 4, 256, 16),
            MatmulVariant::Tile32 => (2, 4, 128, 8),
            MatmulVariant::Tile16 => (1, 4, 64, 4),
        }
    }

    /// (TM, TN): the rows and columns of C one invocation computes.
    pub fn block(self) -> (usize, usize) {
        let (tm, tn, ..) = self.blocking();
        (tm as usize, tn as usize)
    }

    /// Whether the products run the `_tiled` entry points (else the register-block ones,
    /// with the vec4 forms where the shape allows).
    pub fn tiled(self) -> bool {
        !matches!(self, MatmulVariant::Block8x8 | MatmulVariant::Subgroup8)
    }

    /// The register-block variants' fast forms of (forward, backward_data, backward_weight),
    /// generated by scripts/gen_linear_cpu.py.
    pub fn cpu_forms(self) -> Option<[CpuForm; 3]> {
        let forms = |entries: [&'static str; 3], workgroup_per_tile| {
            Some(entries.map(|entry| CpuForm {
                entry,
                workgroup_per_tile,
            }))
        };
        match self {
            MatmulVariant::Block8x8 => forms(
                [
                    "linear_forward_vec4",
                    "linear_backward_data_vec4",
                    "linear_backward_weight_vec4",
                ],
                false,
            ),
            MatmulVariant::Subgroup8 => forms(
                [
                    "linear_forward_subgroup",
                    "linear_backward_data_subgroup",
                    "linear_backward_weight_subgroup",
                ],
                true,
            ),
            _ => None,
        }
    }

    /// Rows and columns of C one workgroup of the tiled form computes.
    pub fn tile(self) -> (usize, usize) {
        let (tm, tn, wg, wg_n) = self.blocking();
        ((wg / wg_n * tm) as usize, (wg_n * tn) as usize)
    }

    fn constants(self) -> String {
        let (tm, tn, wg, wg_n) = self.blocking();
        format!(
            "const TM: u32 = {tm}u;\nconst TN: u32 = {tn}u;\nconst WG: u32 = {wg}u;\nconst WG_N: u32 = {wg_n}u;\nconst TILE_K: u32 = {TILE_K}u;\n"
        )
    }
}

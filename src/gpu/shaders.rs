//! WGSL sources: each op file is compiled with `common.wgsl` (bindings, hash) in front, and
//! the matmul file with its variant's tile constants in front of that.

use wgpu::{AdapterInfo, DeviceType};

pub const COMMON: &str = include_str!("../../shaders/common.wgsl");

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

    /// The complete module source for this op, compiled for `variant`.
    pub fn source(self, variant: MatmulVariant) -> String {
        let prelude = if self == Op::Linear {
            variant.constants()
        } else {
            String::new()
        };
        format!("{prelude}{COMMON}\n{}", self.text())
    }
}

/// How the matmul kernels block their work; which wins depends on the adapter and the
/// shapes (`mlp-gpu bench --matmul` times every variant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MatmulVariant {
    /// 8x8 outputs per invocation, workgroups of 8, no workgroup memory, and the vec4 forms
    /// wherever the shape allows: for CPU adapters (lavapipe), where each invocation is a
    /// SIMD lane (8 per AVX2 vector), large blocks amortise the per-lane loads, barriers
    /// are coroutine switches, and a whole workgroup runs on one thread, so small
    /// workgroups spread a small batch over all cores.
    Block8x8,
    /// Workgroups of 16x16 invocations share 64x64 tiles of C through workgroup memory
    /// (K in slices of 16), each invocation a 4x4 register block: for GPUs and layers
    /// large enough to fill them.
    Tile64,
    /// 32x32 tiles, 16x8 invocations of 2x4: four times the workgroups of tile64.
    Tile32,
    /// 16x16 tiles, 16x4 invocations of 1x4: the most workgroups and the shortest chains,
    /// for GPUs at this network's sizes, where a step is a chain of small dispatches whose
    /// latency, not arithmetic, sets the time (fastest on an H100, BENCHMARKS.md).
    Tile16,
}

/// The K slice the tiled forms stage in workgroup memory. Slices of 64, with or without
/// overlapping the next slice's loads, measured no faster on an H100 (BENCHMARKS.md).
const TILE_K: u32 = 16;

impl MatmulVariant {
    pub const ALL: [MatmulVariant; 4] = [
        MatmulVariant::Block8x8,
        MatmulVariant::Tile64,
        MatmulVariant::Tile32,
        MatmulVariant::Tile16,
    ];

    pub fn for_adapter(info: &AdapterInfo) -> Self {
        if info.device_type == DeviceType::Cpu {
            MatmulVariant::Block8x8
        } else {
            MatmulVariant::Tile16
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MatmulVariant::Block8x8 => "block8x8",
            MatmulVariant::Tile64 => "tile64",
            MatmulVariant::Tile32 => "tile32",
            MatmulVariant::Tile16 => "tile16",
        }
    }

    /// (TM, TN, WG, WG_N): outputs per invocation, invocations per workgroup, and how many
    /// of them lie along a tile's columns.
    fn blocking(self) -> (u32, u32, u32, u32) {
        match self {
            MatmulVariant::Block8x8 => (8, 8, 8, 1),
            MatmulVariant::Tile64 => (4, 4, 256, 16),
            MatmulVariant::Tile32 => (2, 4, 128, 8),
            MatmulVariant::Tile16 => (1, 4, 64, 4),
        }
    }

    /// (TM, TN, WG): outputs per invocation and invocations per workgroup.
    pub fn shape(self) -> (u32, u32, u32) {
        let (tm, tn, wg, _) = self.blocking();
        (tm, tn, wg)
    }

    /// Whether the products run the `_tiled` entry points (else the register-block ones,
    /// with the vec4 forms where the shape allows).
    pub fn tiled(self) -> bool {
        self != MatmulVariant::Block8x8
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

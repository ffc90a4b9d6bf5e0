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

/// How the matmul kernels block their work: outputs per invocation and workgroup size.
/// Each is the same WGSL with different constants; which wins depends on the adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulVariant {
    /// 8x8 outputs per invocation, workgroups of 8: for CPU adapters (lavapipe), where each
    /// invocation is a SIMD lane (8 per AVX2 vector), large blocks amortise the per-lane
    /// loads, and a whole workgroup runs on one thread, so small workgroups spread a small
    /// batch over all cores.
    Block8x8,
    /// 4x4 outputs per invocation, workgroup 64: for GPUs, more invocations in flight and
    /// fewer registers each.
    Block4x4,
}

impl MatmulVariant {
    pub const ALL: [MatmulVariant; 2] = [MatmulVariant::Block8x8, MatmulVariant::Block4x4];

    pub fn for_adapter(info: &AdapterInfo) -> Self {
        if info.device_type == DeviceType::Cpu {
            MatmulVariant::Block8x8
        } else {
            MatmulVariant::Block4x4
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MatmulVariant::Block8x8 => "block8x8",
            MatmulVariant::Block4x4 => "block4x4",
        }
    }

    /// (TM, TN, WG)
    pub fn shape(self) -> (u32, u32, u32) {
        match self {
            MatmulVariant::Block8x8 => (8, 8, 8),
            MatmulVariant::Block4x4 => (4, 4, 64),
        }
    }

    fn constants(self) -> String {
        let (tm, tn, wg) = self.shape();
        format!("const TM: u32 = {tm}u;\nconst TN: u32 = {tn}u;\nconst WG: u32 = {wg}u;\n")
    }
}

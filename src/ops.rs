//! Argument types shared by the GPU wrappers (`gpu::*`) and their CPU twins (`reference`).

use crate::model::Epilogue;
use crate::rng;

/// PyTorch BatchNorm1d defaults.
pub const BN_EPS: f32 = 1e-5;
pub const BN_MOMENTUM: f32 = 0.1;

/// Which dropout mask: drop probability and the hash counter (seed, step, layer).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutMask {
    pub p: f32,
    pub seed: u32,
    pub step: u32,
    pub layer: u32,
}

impl DropoutMask {
    pub fn threshold(&self) -> u32 {
        rng::dropout_threshold(self.p)
    }

    /// 1 / (1 - p): inverted dropout keeps the expected activation.
    pub fn scale(&self) -> f32 {
        1.0 / (1.0 - self.p)
    }

    pub fn keep(&self, e: usize) -> bool {
        rng::dropout_keep(self.seed, self.step, self.layer, e as u32, self.threshold())
    }
}

/// What follows a linear layer or a batch norm in the fused epilogue.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Activation {
    pub relu: bool,
    pub dropout: Option<DropoutMask>,
}

impl Activation {
    /// A plan's epilogue at run time: dropout with probability `p` and the hash counter
    /// (seed, step).
    pub fn of(e: Epilogue, p: f32, seed: u32, step: u32) -> Self {
        Activation {
            relu: e.relu,
            dropout: e.dropout.map(|layer| DropoutMask {
                p,
                seed,
                step,
                layer: layer as u32,
            }),
        }
    }
}

/// Shape of a linear layer applied to a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearShape {
    pub rows: usize,
    pub inputs: usize,
    pub outputs: usize,
}

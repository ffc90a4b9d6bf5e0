//! Wrappers for `shaders/optimizer.wgsl`: one dispatch updates every parameter.

use super::immediates::Optim;
use super::Kernels;
use crate::optim::{Hyper, OptimizerKind, ADAM_BETAS, EPS, RMSPROP_ALPHA};

impl Kernels {
    /// Step `t` (1-based) of `hyper` over params[0..n] with moments at state[moments..];
    /// n and moments are multiples of 4.
    pub fn optimizer_step(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        hyper: &Hyper,
        t: u32,
        n: usize,
        moments: usize,
    ) {
        assert!(
            n.is_multiple_of(4) && moments.is_multiple_of(4),
            "optimizer buffers are 4-aligned (model::align4)"
        );
        let (bc1, bc2) = Hyper::bias_corrections(t);
        let (beta1, beta2) = match hyper.kind {
            OptimizerKind::Rmsprop => (0.0, RMSPROP_ALPHA),
            _ => ADAM_BETAS,
        };
        let imm = Optim {
            n: n as u32,
            param_off: 0,
            state_off: moments as u32,
            lr: hyper.lr,
            weight_decay: hyper.weight_decay,
            momentum: hyper.momentum,
            beta1,
            beta2,
            eps: EPS,
            bias_correction1: bc1,
            bias_correction2_sqrt: bc2,
        };
        let kernel = match hyper.kind {
            OptimizerKind::Sgd => &self.sgd,
            OptimizerKind::Adam => &self.adam,
            OptimizerKind::Rmsprop => &self.rmsprop,
        };
        self.dispatch(pass, kernel, &imm, n.div_ceil(4) as u32);
    }
}

//! Wrappers for `shaders/optimizer.wgsl`: one dispatch updates every parameter.

use super::immediates::{word, Optim, Pack};
use super::Kernels;
use crate::optim::{Hyper, ADAM_BETAS, EPS, RMSPROP_ALPHA};

impl Kernels {
    /// Step `t` (1-based) of `hyper` over params[0..n] with moments at state[moments..],
    /// for every member of `pack` (each with its own rule and settings when the pack has
    /// them); n and moments are multiples of 4.
    pub fn optimizer_step(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        hyper: &Hyper,
        t: u32,
        n: usize,
        moments: usize,
        pack: &Pack,
    ) {
        assert!(
            n.is_multiple_of(4) && moments.is_multiple_of(4),
            "optimizer buffers are 4-aligned (model::align4)"
        );
        let (bc1, bc2) = Hyper::bias_corrections(t);
        let imm = Optim {
            n: word(n),
            param_off: 0,
            state_off: word(moments),
            kind: hyper.kind as u32,
            lr: hyper.lr,
            weight_decay: hyper.weight_decay,
            momentum: hyper.momentum,
            adam_beta1: ADAM_BETAS.0,
            adam_beta2: ADAM_BETAS.1,
            rmsprop_alpha: RMSPROP_ALPHA,
            eps: EPS,
            bias_correction1: bc1,
            bias_correction2_sqrt: bc2,
            params_ms: pack.params,
            state_ms: pack.state,
            ints_ms: pack.ints,
            per_member: u32::from(pack.per_member),
        };
        // a run alone takes its rule's entry point: no branch on the rule per invocation
        let kernel = match pack.per_member {
            true => &self.optimizer_step,
            false => &self.optimizer_rules[hyper.kind as usize],
        };
        self.dispatch(pass, kernel, &imm, word(n.div_ceil(4)), pack);
    }
}

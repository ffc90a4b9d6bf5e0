//! Wrappers for `shaders/batch_norm.wgsl`.

use super::immediates::{word, BatchNorm, Epilogue, Pack};
use super::kernels::Kernel;
use super::shaders::BATCH_NORM_COLS;
use super::Kernels;
use crate::ops::{Activation, BN_EPS, BN_MOMENTUM};

/// Where one batch-norm layer's tensors live (f32 word offsets).
#[derive(Clone, Copy, Debug)]
pub struct BatchNormAt {
    pub rows: usize,
    pub features: usize,
    /// acts: the input z (the linear layer's output), [rows, features]
    pub z: usize,
    /// acts: forward, the output; backward, the gradient of the output, replaced in place
    /// by the gradient of z
    pub out: usize,
    /// params and grads: gamma, then beta at gamma + features
    pub gamma: usize,
    /// state: running_mean, running_var, batch mean, batch inv_std, [features] each
    pub stats: usize,
    pub pack: Pack,
}

impl BatchNormAt {
    fn immediates(&self, use_running: bool, act: Activation) -> BatchNorm {
        BatchNorm {
            rows: word(self.rows),
            features: word(self.features),
            z_off: word(self.z),
            y_off: word(self.out),
            gamma_off: word(self.gamma),
            stats_off: word(self.stats),
            use_running: u32::from(use_running),
            momentum: BN_MOMENTUM,
            eps: BN_EPS,
            acts_ms: self.pack.acts,
            params_ms: self.pack.params,
            state_ms: self.pack.state,
            act: Epilogue::new(act, &self.pack),
        }
    }
}

/// The per-feature kernels: one workgroup per BATCH_NORM_COLS features.
fn reduce_invocations(kernel: &Kernel, at: &BatchNormAt) -> u32 {
    word(at.features.div_ceil(BATCH_NORM_COLS)) * kernel.workgroup
}

impl Kernels {
    /// Batch mean and inv_std of z, and the running statistics updated.
    pub fn batch_norm_stats(&self, pass: &mut wgpu::ComputePass<'_>, at: &BatchNormAt) {
        let imm = at.immediates(false, Activation::default());
        let k = &self.batch_norm_stats;
        self.dispatch(pass, k, &imm, reduce_invocations(k, at), &at.pack);
    }

    /// out = act(gamma (z - mean) inv_std + beta), with batch statistics in training and
    /// running statistics (`use_running`) in evaluation.
    pub fn batch_norm_apply(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        at: &BatchNormAt,
        use_running: bool,
        act: Activation,
    ) {
        let imm = at.immediates(use_running, act);
        self.dispatch(
            pass,
            &self.batch_norm_apply,
            &imm,
            word(at.rows * at.features),
            &at.pack,
        );
    }

    /// dgamma and dbeta into grads from the output gradient at `out`.
    pub fn batch_norm_backward_reduce(&self, pass: &mut wgpu::ComputePass<'_>, at: &BatchNormAt) {
        let imm = at.immediates(false, Activation::default());
        self.dispatch(
            pass,
            &self.batch_norm_backward_reduce,
            &imm,
            reduce_invocations(&self.batch_norm_backward_reduce, at),
            &at.pack,
        );
    }

    /// The gradient of z, in place over the output gradient (needs the reduce first).
    pub fn batch_norm_backward_apply(&self, pass: &mut wgpu::ComputePass<'_>, at: &BatchNormAt) {
        let imm = at.immediates(false, Activation::default());
        self.dispatch(
            pass,
            &self.batch_norm_backward_apply,
            &imm,
            word(at.rows * at.features),
            &at.pack,
        );
    }
}

//! Wrapper for `shaders/dropout.wgsl` (the unfused form; training fuses the mask).

use super::immediates::{word, Dropout, Epilogue, Pack};
use super::Kernels;
use crate::ops::{Activation, DropoutMask};

impl Kernels {
    /// acts[dst + e] = acts[src + e] * keep(e) / (1 - p) for e < n: the forward pass on
    /// activations, the backward pass on their gradients.
    pub fn dropout(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        dst: usize,
        src: usize,
        n: usize,
        mask: DropoutMask,
        pack: &Pack,
    ) {
        let imm = Dropout {
            n: word(n),
            src_off: word(src),
            dst_off: word(dst),
            acts_ms: pack.acts,
            mask: Epilogue::new(
                Activation {
                    relu: false,
                    dropout: Some(mask),
                },
                pack,
            ),
        };
        self.dispatch(pass, &self.dropout, &imm, word(n), pack);
    }
}

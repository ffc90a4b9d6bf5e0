//! Wrapper for `shaders/dropout.wgsl` (the unfused form; training fuses the mask).

use super::Kernels;
use crate::ops::DropoutMask;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Dropout {
    n: u32,
    src_off: u32,
    dst_off: u32,
    threshold: u32,
    scale: f32,
    seed: u32,
    step: u32,
    layer: u32,
}

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
    ) {
        let imm = Dropout {
            n: n as u32,
            src_off: src as u32,
            dst_off: dst as u32,
            threshold: mask.threshold(),
            scale: mask.scale(),
            seed: mask.seed,
            step: mask.step,
            layer: mask.layer,
        };
        self.dispatch(pass, &self.dropout, &imm, n as u32);
    }
}

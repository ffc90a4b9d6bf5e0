//! Wrapper for `shaders/cross_entropy.wgsl`.

use super::immediates::{CrossEntropy, Pack};
use super::Kernels;

/// Where the loss of one batch reads and writes (f32/u32 word offsets).
#[derive(Clone, Copy, Debug)]
pub struct CrossEntropyAt {
    pub rows: usize,
    pub classes: usize,
    /// acts: [rows, classes]
    pub logits: usize,
    /// acts: gradient of the mean loss by the logits, if wanted
    pub grad: Option<usize>,
    /// ints: labels [rows] and argmax predictions [rows]
    pub labels: usize,
    pub preds: usize,
    /// state: loss sum and correct count, two floats
    pub slot: usize,
    pub pack: Pack,
}

impl Kernels {
    pub fn cross_entropy(&self, pass: &mut wgpu::ComputePass<'_>, at: &CrossEntropyAt) {
        let imm = CrossEntropy {
            rows: at.rows as u32,
            classes: at.classes as u32,
            logits_off: at.logits as u32,
            grad_off: at.grad.unwrap_or(0) as u32,
            label_off: at.labels as u32,
            pred_off: at.preds as u32,
            slot_off: at.slot as u32,
            write_grad: u32::from(at.grad.is_some()),
            acts_ms: at.pack.acts,
            ints_ms: at.pack.ints,
            state_ms: at.pack.state,
        };
        let one_workgroup = self.cross_entropy.workgroup;
        self.dispatch(pass, &self.cross_entropy, &imm, one_workgroup, &at.pack);
    }
}

//! Wrapper for `shaders/cross_entropy.wgsl`.

use super::immediates::{word, CrossEntropy, Pack};
use super::Kernels;

/// What the loss writes besides the loss sums and predictions, at an offset of acts
/// [rows, classes].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    None,
    /// The gradient of the mean loss by the logits (training).
    Grad(usize),
    /// The softmax of the logits: each class's probability (`predict`).
    Probs(usize),
}

/// Where the loss of one batch reads and writes (f32/u32 word offsets).
#[derive(Clone, Copy, Debug)]
pub struct CrossEntropyAt {
    pub rows: usize,
    pub classes: usize,
    /// acts: [rows, classes]
    pub logits: usize,
    pub output: Output,
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
            rows: word(at.rows),
            classes: word(at.classes),
            logits_off: word(at.logits),
            out_off: word(match at.output {
                Output::None => 0,
                Output::Grad(o) | Output::Probs(o) => o,
            }),
            label_off: word(at.labels),
            pred_off: word(at.preds),
            slot_off: word(at.slot),
            output: match at.output {
                Output::None => 0,
                Output::Grad(_) => 1,
                Output::Probs(_) => 2,
            },
            acts_ms: at.pack.acts,
            ints_ms: at.pack.ints,
            state_ms: at.pack.state,
        };
        let one_workgroup = self.cross_entropy.workgroup;
        self.dispatch(pass, &self.cross_entropy, &imm, one_workgroup, &at.pack);
    }
}

//! The whole network on the GPU: buffers laid out by `model`, and the encoding of a
//! training step and of an evaluation batch as dispatches into one compute pass.

use super::batch_norm::BatchNormAt;
use super::buffers::{read_words, ModelBuffers};
use super::cross_entropy::CrossEntropyAt;
use super::{Context, GpuError, Kernels};
use crate::model::{ActLayout, ParamLayout, Spec, StateLayout};
use crate::ops::{Activation, DropoutMask, LinearShape};
use crate::optim::Hyper;
use wgpu::ComputePass;

pub struct GpuNetwork {
    pub spec: Spec,
    pub params: ParamLayout,
    pub state: StateLayout,
    pub acts: ActLayout,
    pub buffers: ModelBuffers,
    /// ints: labels of the batch at 0, predictions from `preds` on.
    pub preds: usize,
}

/// What changes from one training step to the next.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// Where the batch's image indices start in the bound index list.
    pub index_off: usize,
    pub rows: usize,
    /// Global 0-based step: the dropout counter; the optimizer's t is step + 1.
    pub step: u32,
    /// Loss slot in the state buffer.
    pub slot: usize,
}

impl GpuNetwork {
    /// `rows` is the largest batch, `slots` the loss slots, `preds` the predictions kept.
    pub fn new(
        ctx: &Context,
        kernels: &Kernels,
        spec: &Spec,
        params: &[f32],
        rows: usize,
        slots: usize,
        preds: usize,
    ) -> Result<Self, GpuError> {
        let layout = ParamLayout::new(spec);
        assert_eq!(params.len(), layout.len, "parameters match the spec");
        Self::fits(ctx, &layout, rows, slots)?;
        let state = StateLayout::new(&layout, slots);
        let acts = ActLayout::new(&layout, rows);
        let buffers = ModelBuffers::new(
            ctx,
            &kernels.model_layout,
            params,
            acts.len,
            &state.init(&layout),
            rows + preds,
        )?;
        Ok(GpuNetwork {
            spec: spec.clone(),
            params: layout,
            state,
            acts,
            buffers,
            preds: rows,
        })
    }

    /// Checks that the buffers of a network fit the device's limits, before anything (on
    /// the host or the device) is allocated for them.
    pub fn fits(
        ctx: &Context,
        layout: &ParamLayout,
        rows: usize,
        slots: usize,
    ) -> Result<(), GpuError> {
        let fix = "use a smaller --batch-size or --hidden";
        let bytes = |words: usize| 4 * words as u64;
        ctx.check_binding("the parameters", bytes(layout.len), fix)?;
        let acts = ActLayout::new(layout, rows);
        ctx.check_binding("the activations of one batch", bytes(acts.len), fix)?;
        let state = StateLayout::new(layout, slots);
        ctx.check_binding("the optimizer and batch-norm state", bytes(state.len), fix)
    }

    fn batch_norm_at(&self, l: usize, rows: usize) -> Option<BatchNormAt> {
        let lp = &self.params.layers[l];
        Some(BatchNormAt {
            rows,
            features: lp.outputs,
            z: self.acts.pre_norm[l]?,
            out: self.acts.output[l],
            gamma: lp.gamma?,
            stats: self.state.batch_norm[l]?,
        })
    }

    fn activation(&self, l: usize, training: bool, seed: u32, step: u32) -> Activation {
        let hidden = self.params.layers[l].hidden;
        let p = self.spec.dropout;
        let dropout = (training && hidden && p > 0.0).then_some(DropoutMask {
            p,
            seed,
            step,
            layer: l as u32,
        });
        Activation {
            relu: hidden,
            dropout,
        }
    }

    /// Forward pass of `rows` rows from acts.input to the logits.
    pub fn encode_forward(
        &self,
        k: &Kernels,
        pass: &mut ComputePass<'_>,
        rows: usize,
        training: bool,
        seed: u32,
        step: u32,
    ) {
        for (l, lp) in self.params.layers.iter().enumerate() {
            let x = if l == 0 {
                self.acts.input
            } else {
                self.acts.output[l - 1]
            };
            let s = LinearShape {
                rows,
                inputs: lp.inputs,
                outputs: lp.outputs,
            };
            let act = self.activation(l, training, seed, step);
            match self.batch_norm_at(l, rows) {
                Some(at) => {
                    k.linear_forward(pass, at.z, x, lp.weight, lp.bias, s, Activation::default());
                    if training {
                        k.batch_norm_stats(pass, &at);
                    }
                    k.batch_norm_apply(pass, &at, !training, act);
                }
                None => k.linear_forward(pass, self.acts.output[l], x, lp.weight, lp.bias, s, act),
            }
        }
    }

    fn loss_at(&self, rows: usize, slot: usize, grad: bool, preds: usize) -> CrossEntropyAt {
        let last = self.params.layers.len() - 1;
        CrossEntropyAt {
            rows,
            classes: self.spec.classes,
            logits: self.acts.output[last],
            grad: grad.then_some(self.acts.grad[last]),
            labels: 0,
            preds,
            slot: self.state.slots + 2 * slot,
        }
    }

    /// Gather, forward, loss, backward and update for one batch.
    pub fn encode_train_step(
        &self,
        k: &Kernels,
        pass: &mut ComputePass<'_>,
        hyper: &Hyper,
        seed: u32,
        s: Step,
    ) {
        k.gather(pass, self.acts.input, 0, s.index_off, s.rows);
        self.encode_forward(k, pass, s.rows, true, seed, s.step);
        k.cross_entropy(pass, &self.loss_at(s.rows, s.slot, true, self.preds));
        for (l, lp) in self.params.layers.iter().enumerate().rev() {
            let shape = LinearShape {
                rows: s.rows,
                inputs: lp.inputs,
                outputs: lp.outputs,
            };
            if let Some(at) = self.batch_norm_at(l, s.rows) {
                let at = BatchNormAt {
                    out: self.acts.grad[l],
                    ..at
                };
                k.batch_norm_backward_reduce(pass, &at);
                k.batch_norm_backward_apply(pass, &at);
            }
            let x = if l == 0 {
                self.acts.input
            } else {
                self.acts.output[l - 1]
            };
            k.linear_backward_weight(pass, lp.weight, lp.bias, self.acts.grad[l], x, shape);
            if l > 0 {
                let input_act = self.activation(l - 1, true, seed, s.step);
                k.linear_backward_data(
                    pass,
                    self.acts.grad[l - 1],
                    self.acts.grad[l],
                    lp.weight,
                    x,
                    shape,
                    Some(input_act),
                );
            }
        }
        k.optimizer_step(pass, hyper, s.step + 1, self.params.len, 0);
    }

    /// Evaluation of one batch: loss into `slot`, predictions to ints[preds + pred_off..].
    pub fn encode_eval_batch(
        &self,
        k: &Kernels,
        pass: &mut ComputePass<'_>,
        index_off: usize,
        rows: usize,
        slot: usize,
        pred_off: usize,
    ) {
        k.gather(pass, self.acts.input, 0, index_off, rows);
        self.encode_forward(k, pass, rows, false, 0, 0);
        k.cross_entropy(
            pass,
            &self.loss_at(rows, slot, false, self.preds + pred_off),
        );
    }

    pub fn read_params(&self, ctx: &Context) -> Result<Vec<f32>, GpuError> {
        read_words(ctx, &self.buffers.params, 0, self.params.len)
    }

    pub fn read_state(&self, ctx: &Context) -> Result<Vec<f32>, GpuError> {
        read_words(ctx, &self.buffers.state, 0, self.state.len)
    }

    /// (loss sum, correct) of slots 0..n.
    pub fn read_slots(&self, ctx: &Context, n: usize) -> Result<Vec<(f32, f32)>, GpuError> {
        let v: Vec<f32> = read_words(ctx, &self.buffers.state, self.state.slots, 2 * n)?;
        Ok(v.chunks(2).map(|c| (c[0], c[1])).collect())
    }

    pub fn read_preds(&self, ctx: &Context, n: usize) -> Result<Vec<u32>, GpuError> {
        read_words(ctx, &self.buffers.ints, self.preds, n)
    }

    /// Replaces parameters and state (for resuming and loading a model).
    pub fn write(&self, ctx: &Context, params: &[f32], state: &[f32]) {
        ctx.queue
            .write_buffer(&self.buffers.params, 0, bytemuck::cast_slice(params));
        ctx.queue
            .write_buffer(&self.buffers.state, 0, bytemuck::cast_slice(state));
    }
}

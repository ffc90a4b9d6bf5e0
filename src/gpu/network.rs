//! The whole network on the GPU: buffers laid out by `model`, and the encoding of a
//! training step and of an evaluation batch as dispatches into one compute pass.

use super::batch_norm::BatchNormAt;
use super::buffers::{read_words, ModelBuffers};
use super::cross_entropy::CrossEntropyAt;
use super::{Context, GpuError, Kernels};
use crate::model::{Act, ActLayout, ParamLayout, Plan, Spec, Stage, StateLayout};
use crate::ops::{Activation, LinearShape};
use crate::optim::Hyper;
use wgpu::ComputePass;

pub struct GpuNetwork {
    pub spec: Spec,
    pub params: ParamLayout,
    pub state: StateLayout,
    pub acts: ActLayout,
    pub plan: Plan,
    pub buffers: ModelBuffers,
    /// ints: labels of the batch at 0, predictions from `preds_at` on.
    pub preds_at: usize,
}

/// What one walk of the plan needs beyond the network: the batch and its counters.
struct Batch<'h> {
    index_off: usize,
    rows: usize,
    seed: u32,
    step: u32,
    slot: usize,
    /// ints: where this batch's predictions go
    preds_at: usize,
    /// Training only.
    hyper: Option<&'h Hyper>,
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
    /// `rows` is the largest batch, `slots` the loss slots, `preds_kept` how many
    /// predictions the ints buffer holds.
    pub fn new(
        ctx: &Context,
        kernels: &Kernels,
        spec: &Spec,
        params: &[f32],
        rows: usize,
        slots: usize,
        preds_kept: usize,
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
            rows + preds_kept,
        )?;
        Ok(GpuNetwork {
            spec: spec.clone(),
            params: layout,
            state,
            acts,
            plan: Plan::new(spec),
            buffers,
            preds_at: rows,
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

    /// Where batch norm `l` reads and writes; `out` is Output(l) forward, Grad(l) backward.
    fn batch_norm_at(&self, l: usize, rows: usize, out: Act) -> BatchNormAt {
        let lp = &self.params.layers[l];
        BatchNormAt {
            rows,
            features: lp.outputs,
            z: self.acts.at(Act::PreNorm(l)),
            out: self.acts.at(out),
            gamma: lp.gamma.expect("a batch-norm layer"),
            stats: self.state.batch_norm[l].expect("a batch-norm layer"),
        }
    }

    /// Dispatches every stage of `stages` for batch `b`.
    fn encode(&self, k: &Kernels, pass: &mut ComputePass<'_>, stages: &[Stage], b: &Batch) {
        for &stage in stages {
            self.encode_stage(k, pass, stage, b);
        }
    }

    fn encode_stage(&self, k: &Kernels, pass: &mut ComputePass<'_>, stage: Stage, b: &Batch) {
        let layer = |l: usize| &self.params.layers[l];
        let shape = |l: usize| LinearShape {
            rows: b.rows,
            inputs: layer(l).inputs,
            outputs: layer(l).outputs,
        };
        let act = |e| Activation::of(e, self.spec.dropout, b.seed, b.step);
        let at = |a| self.acts.at(a);
        match stage {
            Stage::Gather => k.gather(pass, at(Act::Input), 0, b.index_off, b.rows),
            Stage::LinearForward {
                layer: l,
                x,
                y,
                epilogue,
            } => {
                let lp = layer(l);
                k.linear_forward(
                    pass,
                    at(y),
                    at(x),
                    lp.weight,
                    lp.bias,
                    shape(l),
                    act(epilogue),
                );
            }
            Stage::BatchNormStats { layer: l } => {
                k.batch_norm_stats(pass, &self.batch_norm_at(l, b.rows, Act::Output(l)))
            }
            Stage::BatchNormApply {
                layer: l,
                running,
                epilogue,
            } => {
                let bn = self.batch_norm_at(l, b.rows, Act::Output(l));
                k.batch_norm_apply(pass, &bn, running, act(epilogue));
            }
            Stage::CrossEntropy { grad } => {
                let last = self.params.layers.len() - 1;
                let loss = CrossEntropyAt {
                    rows: b.rows,
                    classes: self.spec.classes,
                    logits: at(Act::Output(last)),
                    grad: grad.then(|| at(Act::Grad(last))),
                    labels: 0,
                    preds: b.preds_at,
                    slot: self.state.slot(b.slot),
                };
                k.cross_entropy(pass, &loss);
            }
            Stage::BatchNormBackwardReduce { layer: l } => {
                k.batch_norm_backward_reduce(pass, &self.batch_norm_at(l, b.rows, Act::Grad(l)))
            }
            Stage::BatchNormBackwardApply { layer: l } => {
                k.batch_norm_backward_apply(pass, &self.batch_norm_at(l, b.rows, Act::Grad(l)))
            }
            Stage::LinearBackwardWeight { layer: l, x } => {
                let (lp, dy) = (layer(l), at(Act::Grad(l)));
                k.linear_backward_weight(pass, lp.weight, lp.bias, dy, at(x), shape(l));
            }
            Stage::LinearBackwardData {
                layer: l,
                x,
                epilogue,
            } => {
                let (dx, dy) = (at(Act::Grad(l - 1)), at(Act::Grad(l)));
                let input_act = Some(act(epilogue));
                k.linear_backward_data(pass, dx, dy, layer(l).weight, at(x), shape(l), input_act);
            }
            Stage::OptimizerStep => {
                let hyper = b
                    .hyper
                    .expect("a training batch has the optimizer's settings");
                k.optimizer_step(pass, hyper, b.step + 1, self.params.len, 0);
            }
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
        let b = Batch {
            index_off: s.index_off,
            rows: s.rows,
            seed,
            step: s.step,
            slot: s.slot,
            preds_at: self.preds_at,
            hyper: Some(hyper),
        };
        self.encode(k, pass, &self.plan.train, &b);
    }

    /// Evaluation of one batch: loss into `slot`, predictions to ints[preds_at + pred_off..].
    pub fn encode_eval_batch(
        &self,
        k: &Kernels,
        pass: &mut ComputePass<'_>,
        index_off: usize,
        rows: usize,
        slot: usize,
        pred_off: usize,
    ) {
        let b = Batch {
            index_off,
            rows,
            seed: 0,
            step: 0,
            slot,
            preds_at: self.preds_at + pred_off,
            hyper: None,
        };
        self.encode(k, pass, &self.plan.eval, &b);
    }

    pub fn read_params(&self, ctx: &Context) -> Result<Vec<f32>, GpuError> {
        read_words(ctx, &self.buffers.params, 0, self.params.len)
    }

    pub fn read_state(&self, ctx: &Context) -> Result<Vec<f32>, GpuError> {
        read_words(ctx, &self.buffers.state, 0, self.state.len)
    }

    /// (loss sum, correct) of slots 0..n.
    pub fn read_slots(&self, ctx: &Context, n: usize) -> Result<Vec<(f32, f32)>, GpuError> {
        let v: Vec<f32> = read_words(ctx, &self.buffers.state, self.state.slot(0), 2 * n)?;
        Ok(v.chunks(2).map(|c| (c[0], c[1])).collect())
    }

    pub fn read_preds(&self, ctx: &Context, n: usize) -> Result<Vec<u32>, GpuError> {
        read_words(ctx, &self.buffers.ints, self.preds_at, n)
    }

    /// Replaces parameters and state (for resuming and loading a model).
    pub fn write(&self, ctx: &Context, params: &[f32], state: &[f32]) {
        ctx.queue
            .write_buffer(&self.buffers.params, 0, bytemuck::cast_slice(params));
        ctx.queue
            .write_buffer(&self.buffers.state, 0, bytemuck::cast_slice(state));
    }
}

//! The whole network on the GPU: buffers laid out by `model`, and the encoding of a
//! training step and of an evaluation batch as dispatches into one compute pass.

use super::batch_norm::BatchNormAt;
use super::buffers::{read_regions, read_words, ModelBuffers};
use super::cross_entropy::{CrossEntropyAt, Output};
use super::gather::Input;
use super::immediates::{word, Member, Pack, MEMBER_WORDS};
use super::{Context, GpuError, Kernels};
use crate::model::{align4, Act, ActLayout, ParamLayout, Plan, Spec, Stage, StateLayout};
use crate::ops::{Activation, DropoutMask, LinearShape};
use crate::optim::Hyper;
use wgpu::ComputePass;

/// The networks of a pack's members (one for a solo run), side by side in one set of
/// buffers: each buffer holds one region per member, `pack`'s stride apart, and every
/// dispatch covers all members. Members share the shape and the batch; each has its own
/// parameters, optimizer and settings, dropout, seed and data order.
pub struct GpuNetwork {
    /// The shared shape; its dropout is the largest member's (whether the plan has any).
    pub spec: Spec,
    pub params: ParamLayout,
    pub state: StateLayout,
    pub acts: ActLayout,
    pub plan: Plan,
    pub buffers: ModelBuffers,
    pub pack: Pack,
    /// Each member's optimizer settings and dropout seed; a network alone passes its own
    /// as immediates (`Pack::per_member`).
    pub settings: Vec<(Hyper, u32)>,
    /// ints, per member: labels of the batch at 0, predictions from `preds_at` on (at
    /// least a batch of them), and its settings (`Member`) in the last MEMBER_WORDS words.
    pub preds_at: usize,
    /// How the gather reads and normalises the bound data set.
    pub input: Input,
}

/// One member of a pack: its initial parameters and its own settings.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberInit {
    pub params: Vec<f32>,
    pub hyper: Hyper,
    pub dropout: f32,
    /// Its dropout masks' seed.
    pub seed: u32,
}

impl MemberInit {
    fn settings(&self) -> Member {
        let mask = DropoutMask {
            p: self.dropout,
            seed: self.seed,
            step: 0,
            layer: 0,
        };
        Member {
            drop_threshold: mask.threshold(),
            drop_scale: mask.scale(),
            seed: self.seed,
            kind: self.hyper.kind as u32,
            lr: self.hyper.lr,
            momentum: self.hyper.momentum,
            weight_decay: self.hyper.weight_decay,
            pad: 0,
        }
    }
}

/// What one walk of the plan needs beyond the network: the batch and its counters.
struct Batch {
    index_off: usize,
    rows: usize,
    step: u32,
    slot: usize,
    /// ints: where this batch's predictions go
    preds_at: usize,
    /// Whether every member reads the one index list bound (the test set), not its own.
    shared_indices: bool,
    /// Whether the loss writes the probabilities where the logits' gradient goes.
    probs: bool,
}

/// One evaluation batch: where its rows' indices start in each member's index list, its
/// loss slot, where its predictions go (after `preds_at`), whether every member reads the
/// one index list bound (the test set's) instead of its own, and whether the loss also
/// writes the probabilities (`probs_region`).
#[derive(Clone, Copy, Debug)]
pub struct EvalBatch {
    pub index_off: usize,
    pub rows: usize,
    pub slot: usize,
    pub pred_off: usize,
    pub shared_indices: bool,
    pub probs: bool,
}

/// What changes from one training step to the next.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// Where the batch's image indices start in each member's index list.
    pub index_off: usize,
    pub rows: usize,
    /// Global 0-based step: the dropout counter; the optimizer's t is step + 1.
    pub step: u32,
    /// Loss slot in the state buffer.
    pub slot: usize,
}

/// A member's evaluation as read back: its (loss sum, correct) per batch, its predictions.
pub type Scored = (Vec<(f32, f32)>, Vec<u32>);

/// A member's parameters and state as read back.
pub type Weights = (Vec<f32>, Vec<f32>);

/// Loss slots' words as (loss sum, correct) pairs.
fn pairs(words: &[u32]) -> Vec<(f32, f32)> {
    let v: &[f32] = bytemuck::cast_slice(words);
    v.chunks(2).map(|c| (c[0], c[1])).collect()
}

/// Words of each member's region of each buffer: the layouts' lengths, 4-aligned so that
/// every member's tensors stay 16-byte aligned; `indices` is each member's index list.
fn strides(
    layouts: (&ParamLayout, &StateLayout, &ActLayout),
    ints: usize,
    indices: usize,
    members: usize,
) -> Pack {
    let (p, s, a) = layouts;
    Pack {
        members: word(members),
        params: word(p.len),
        acts: word(align4(a.len)),
        state: word(align4(s.len)),
        ints: word(ints),
        indices: word(indices),
        per_member: members > 1,
    }
}

/// What a network's buffers hold room for: its largest batch, its loss slots, the
/// predictions each member keeps, and each member's index list (the stride between the
/// members' lists in the index buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Room {
    pub rows: usize,
    pub slots: usize,
    pub preds_kept: usize,
    pub index_list: usize,
}

impl GpuNetwork {
    /// A pack of `members` (one for a solo run) of shape `spec`, with room for `room`,
    /// gathering its batches as `input` says.
    pub fn new(
        ctx: &Context,
        kernels: &Kernels,
        spec: &Spec,
        members: &[MemberInit],
        room: Room,
        input: Input,
    ) -> Result<Self, GpuError> {
        assert_eq!(input.inputs, spec.inputs, "the data fits the network");
        let Room {
            rows,
            slots,
            preds_kept,
            index_list,
        } = room;
        let layout = ParamLayout::new(spec);
        for m in members {
            assert_eq!(m.params.len(), layout.len, "parameters match the spec");
        }
        Self::fits(ctx, &layout, rows, slots, members.len())?;
        let state = StateLayout::new(&layout, slots);
        let acts = ActLayout::new(&layout, rows);
        // labels, predictions (a training step writes its batch's too), then the settings
        let ints = rows + preds_kept.max(rows) + MEMBER_WORDS;
        let pack = strides((&layout, &state, &acts), ints, index_list, members.len());
        let mut params = Vec::with_capacity(members.len() * layout.len);
        let mut st = vec![0.0; members.len() * pack.state as usize];
        let mut int_words = vec![0u32; members.len() * ints];
        let init = state.init(&layout);
        for (i, m) in members.iter().enumerate() {
            params.extend_from_slice(&m.params);
            let at = i * pack.state as usize;
            st[at..at + init.len()].copy_from_slice(&init);
            let record = (i + 1) * ints - MEMBER_WORDS;
            int_words[record..record + MEMBER_WORDS]
                .copy_from_slice(bytemuck::cast_slice(&[m.settings()]));
        }
        let acts_len = members.len() * pack.acts as usize;
        let buffers = ModelBuffers::new(
            ctx,
            &kernels.model_layout,
            &params,
            acts_len,
            &st,
            int_words.len(),
        )?;
        ctx.queue
            .write_buffer(&buffers.ints, 0, bytemuck::cast_slice(&int_words));
        Ok(GpuNetwork {
            spec: spec.clone(),
            params: layout,
            state,
            acts,
            plan: Plan::new(spec),
            buffers,
            pack,
            settings: members.iter().map(|m| (m.hyper, m.seed)).collect(),
            preds_at: rows,
            input,
        })
    }

    /// Checks that the buffers of `members` networks fit the device's limits, before
    /// anything (on the host or the device) is allocated for them.
    pub fn fits(
        ctx: &Context,
        layout: &ParamLayout,
        rows: usize,
        slots: usize,
        members: usize,
    ) -> Result<(), GpuError> {
        let fix = "use a smaller --batch-size or --hidden";
        let bytes = |words: usize| 4 * (members * align4(words)) as u64;
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
            pack: self.pack,
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
        // a pack's members take their p and seed from their settings instead
        let (hyper, seed) = self.settings[0];
        let act = |e| Activation::of(e, self.spec.dropout, seed, b.step);
        let at = |a| self.acts.at(a);
        let pack = &self.pack;
        match stage {
            Stage::Gather => {
                let lists = if b.shared_indices {
                    Pack {
                        indices: 0,
                        ..*pack
                    }
                } else {
                    *pack
                };
                let input = &self.input;
                k.gather(pass, at(Act::Input), 0, b.index_off, b.rows, input, &lists)
            }
            Stage::LinearForward {
                layer: l,
                x,
                y,
                epilogue,
            } => {
                let lp = layer(l);
                let act = act(epilogue);
                k.linear_forward(pass, at(y), at(x), lp.weight, lp.bias, shape(l), act, pack);
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
                    output: match (grad, b.probs) {
                        (true, _) => Output::Grad(at(Act::Grad(last))),
                        (false, true) => Output::Probs(at(Act::Grad(last))),
                        (false, false) => Output::None,
                    },
                    labels: 0,
                    preds: b.preds_at,
                    slot: self.state.slot(b.slot),
                    pack: *pack,
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
                k.linear_backward_weight(pass, lp.weight, lp.bias, dy, at(x), shape(l), pack);
            }
            Stage::LinearBackwardData {
                layer: l,
                x,
                epilogue,
            } => {
                let (dx, dy) = (at(Act::Grad(l - 1)), at(Act::Grad(l)));
                let (w, input_act) = (layer(l).weight, Some(act(epilogue)));
                k.linear_backward_data(pass, dx, dy, w, at(x), shape(l), input_act, pack);
            }
            Stage::OptimizerStep => {
                // a pack's members take their rules from their settings instead
                let moments = self.state.moments().0.start;
                k.optimizer_step(pass, &hyper, b.step + 1, self.params.len, moments, pack);
            }
        }
    }

    /// Gather, forward, loss, backward and update for one batch of every member.
    pub fn encode_train_step(&self, k: &Kernels, pass: &mut ComputePass<'_>, s: Step) {
        let b = Batch {
            index_off: s.index_off,
            rows: s.rows,
            step: s.step,
            slot: s.slot,
            preds_at: self.preds_at,
            shared_indices: false,
            probs: false,
        };
        self.encode(k, pass, &self.plan.train, &b);
    }

    /// Evaluation of one batch of every member (`EvalBatch`).
    pub fn encode_eval_batch(&self, k: &Kernels, pass: &mut ComputePass<'_>, e: EvalBatch) {
        let b = Batch {
            index_off: e.index_off,
            rows: e.rows,
            step: 0,
            slot: e.slot,
            preds_at: self.preds_at + e.pred_off,
            shared_indices: e.shared_indices,
            probs: e.probs,
        };
        self.encode(k, pass, &self.plan.eval, &b);
    }

    /// Where member 0's probabilities of an evaluation batch of `rows` rows are (acts words),
    /// until the next batch overwrites them.
    pub fn probs_region(&self, rows: usize) -> std::ops::Range<usize> {
        let last = self.params.layers.len() - 1;
        self.acts.range(Act::Grad(last), rows)
    }

    /// Member `m`'s parameters.
    pub fn read_params(&self, ctx: &Context, m: usize) -> Result<Vec<f32>, GpuError> {
        let at = m * self.pack.params as usize;
        read_words(ctx, &self.buffers.params, at, self.params.len)
    }

    /// Member `m`'s state.
    pub fn read_state(&self, ctx: &Context, m: usize) -> Result<Vec<f32>, GpuError> {
        let at = m * self.pack.state as usize;
        read_words(ctx, &self.buffers.state, at, self.state.len)
    }

    fn members(&self) -> std::ops::Range<usize> {
        0..self.pack.members as usize
    }

    /// Member m's slots 0..n: where they are in the state buffer.
    fn slots_region(&self, m: usize, n: usize) -> (&wgpu::Buffer, usize, usize) {
        let at = m * self.pack.state as usize + self.state.slot(0);
        (&self.buffers.state, at, 2 * n)
    }

    /// (loss sum, correct) of slots 0..n, of every member (one host wait).
    pub fn read_slots(&self, ctx: &Context, n: usize) -> Result<Vec<Vec<(f32, f32)>>, GpuError> {
        let regions: Vec<_> = self.members().map(|m| self.slots_region(m, n)).collect();
        Ok(read_regions(ctx, &regions)?
            .iter()
            .map(|w| pairs(w))
            .collect())
    }

    /// Every member's (loss sum, correct) of slots 0..batches and first n predictions, in
    /// one host wait: an evaluation's results.
    pub fn read_evaluation(
        &self,
        ctx: &Context,
        batches: usize,
        n: usize,
    ) -> Result<Vec<Scored>, GpuError> {
        let ints = self.pack.ints as usize;
        let regions: Vec<_> = self
            .members()
            .flat_map(|m| {
                let preds = (&self.buffers.ints, m * ints + self.preds_at, n);
                [self.slots_region(m, batches), preds]
            })
            .collect();
        let words = read_regions(ctx, &regions)?;
        Ok(words
            .chunks(2)
            .map(|w| (pairs(&w[0]), w[1].clone()))
            .collect())
    }

    /// Every member's parameters and state, in one host wait (for checkpoints).
    pub fn read_members(&self, ctx: &Context) -> Result<Vec<Weights>, GpuError> {
        let (p, s) = (self.pack.params as usize, self.pack.state as usize);
        let regions: Vec<_> = self
            .members()
            .flat_map(|m| {
                [
                    (&self.buffers.params, m * p, self.params.len),
                    (&self.buffers.state, m * s, self.state.len),
                ]
            })
            .collect();
        let words = read_regions(ctx, &regions)?;
        let floats = |w: &[u32]| bytemuck::cast_slice::<u32, f32>(w).to_vec();
        Ok(words
            .chunks(2)
            .map(|w| (floats(&w[0]), floats(&w[1])))
            .collect())
    }

    /// Member `m` set to `params` and the saved part of its state (`StateLayout::saved`:
    /// moments and batch-norm statistics, as a checkpoint or model file keeps them), the
    /// rest of its state fresh: for resuming a run and loading a model.
    pub fn restore(&self, ctx: &Context, m: usize, params: &[f32], saved: &[f32]) {
        let mut state = self.state.init(&self.params);
        state[self.state.saved()].copy_from_slice(saved);
        let (p, s) = (m * self.pack.params as usize, m * self.pack.state as usize);
        let q = &ctx.queue;
        q.write_buffer(
            &self.buffers.params,
            4 * p as u64,
            bytemuck::cast_slice(params),
        );
        q.write_buffer(
            &self.buffers.state,
            4 * s as u64,
            bytemuck::cast_slice(&state),
        );
    }

    /// A copy of member 0's loss slots of `steps`, encoded into `encoder`: for a progress
    /// report read as the GPU finishes them.
    pub fn copy_slots(
        &self,
        ctx: &Context,
        encoder: &mut wgpu::CommandEncoder,
        steps: std::ops::Range<usize>,
    ) -> wgpu::Buffer {
        let (buffer, first, _) = self.slots_region(0, steps.start);
        let from = first + 2 * steps.start;
        let words = 2 * steps.len();
        let copy = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("progress"),
            size: 4 * words as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.copy_buffer_to_buffer(buffer, 4 * from as u64, &copy, 0, 4 * words as u64);
        copy
    }
}

//! The training loop: data resident on the GPU, chunks of steps per submit, one host wait
//! per epoch; and evaluation.

use crate::config::{PackShape, TrainConfig};
use crate::data::{Dataset, Dtype, Normalization, Part, Split};
use crate::fault::EpochFaults;
use crate::gpu::gather::{stats_words, Input};
use crate::gpu::network::{EvalBatch, GpuNetwork, MemberInit, Room, Step, Weights};
use crate::gpu::{Context, DataBuffers, GpuError, Kernels};
use crate::model::{ParamLayout, Spec};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub per_class: Vec<f64>,
}

/// Steps encoded into one command buffer: large enough that submits are rare, small
/// enough that the GPU starts while the host encodes the rest.
pub const CHUNK_STEPS: usize = 64;

/// A part of a data set resident on the GPU: its values and labels, and an index buffer of
/// one row that each user replaces with its own (`select`).
pub struct Resident {
    pub buffers: DataBuffers,
    pub labels: Vec<u32>,
    pub dtype: Dtype,
}

impl Resident {
    pub fn upload(ctx: &Context, k: &Kernels, part: &Part) -> Result<Self, GpuError> {
        Ok(Resident {
            buffers: DataBuffers::new(ctx, &k.data_layout, &part.values, &part.labels, &[0])?,
            labels: part.labels.clone(),
            dtype: part.values.dtype(),
        })
    }

    /// The same values with an index buffer of `input`'s per-input statistics (if its
    /// normalisation has them) then `indices`, and where `indices` start in it.
    fn select(
        &self,
        ctx: &Context,
        k: &Kernels,
        input: &Input,
        indices: &[u32],
    ) -> Result<(DataBuffers, usize), GpuError> {
        let stats = stats_words(&input.norm, input.inputs);
        let words = [&stats[..], indices].concat();
        let buffers = self.buffers.with_indices(ctx, &k.data_layout, &words)?;
        Ok((buffers, stats.len()))
    }

    fn labels_of(&self, indices: &[u32]) -> Vec<u32> {
        indices.iter().map(|&i| self.labels[i as usize]).collect()
    }
}

/// A data set on the GPU, uploaded once and shared by every run of a process (each binds
/// it with index buffers of its own), with the shape its networks take.
pub struct GpuData {
    pub train: Resident,
    pub test: Resident,
    pub inputs: usize,
    pub classes: usize,
}

impl GpuData {
    pub fn upload(ctx: &Context, k: &Kernels, data: &Dataset) -> Result<Self, GpuError> {
        Ok(GpuData {
            train: Resident::upload(ctx, k, &data.train)?,
            test: Resident::upload(ctx, k, &data.test)?,
            inputs: data.info.inputs,
            classes: data.info.classes.len(),
        })
    }

    /// The network of `hidden` layers (batch norm, largest dropout) on this data.
    pub fn spec(&self, hidden: &[usize], batch_norm: bool, dropout: f32) -> Spec {
        Spec::new(
            self.inputs,
            hidden.to_vec(),
            self.classes,
            batch_norm,
            dropout,
        )
    }

    /// How the gather reads these values, normalised by `norm` (its per-input statistics,
    /// if any, at the start of the index buffer).
    fn input(&self, norm: &Normalization) -> Input {
        Input {
            inputs: self.inputs,
            // both parts are of one dtype (data::load widens one to the other's)
            dtype: self.train.dtype,
            norm: norm.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// A checkpoint or metrics file could not be written.
    #[error(transparent)]
    Folder(#[from] crate::rundir::FolderError),
    #[error("interrupted")]
    Interrupted,
}

/// What one epoch of training did, counted for the benchmark.
#[derive(Clone, Copy, Debug, Default)]
pub struct EpochCounts {
    pub steps: usize,
    pub submits: usize,
    pub host_waits: usize,
    pub dispatches: u64,
    pub encode_seconds: f64,
}

/// A pack's sizes on the GPU, from its shape and split: what `Trainer::new_pack` allocates
/// and `Trainer::fits` checks, worked out in this one place.
struct Sizes {
    spec: Spec,
    room: Room,
}

impl Sizes {
    fn new(data: &GpuData, shape: &PackShape, max_dropout: f32, split: &Split) -> Self {
        let eval_max = split.val_idx.len().max(split.test_idx.len());
        // no batch is larger than the largest set (a batch larger than the training set is
        // the whole set)
        let rows = shape.batch_size.min(split.train_idx.len().max(eval_max));
        let steps = split.train_idx.len().div_ceil(rows);
        Sizes {
            spec: data.spec(&shape.hidden, shape.batch_norm, max_dropout),
            room: Room {
                rows,
                slots: steps.max(eval_max.div_ceil(rows)).max(1),
                preds_kept: eval_max,
                // each member's list: its epoch's order of the training rows, then the
                // validation rows (`member_list`)
                index_list: split.train_idx.len() + split.val_idx.len(),
            },
        }
    }
}

/// A member's index list as first bound: the training images in split order, then the
/// validation images (`submit_epoch` rewrites the first part each epoch).
fn member_list(split: &Split) -> Vec<u32> {
    [&split.train_idx[..], &split.val_idx].concat()
}

/// Trains a pack of runs in the same dispatches (a pack of one: a run alone). The members
/// share a `PackShape`; each has its own optimizer and settings, dropout, init and seed,
/// hence its own data order and masks.
pub struct Trainer<'a> {
    ctx: &'a Context,
    kernels: &'a Kernels,
    /// The members' settings; the first's shape, batch size and epochs are everyone's.
    configs: Vec<TrainConfig>,
    net: GpuNetwork,
    data: &'a GpuData,
    /// The shared data set with this trainer's own index buffers: the normalisation's
    /// statistics, then from `lists_at` for training per member (`net.pack.indices` words
    /// apart) its epoch's permutation of train_idx then val_idx, for testing test_idx (one
    /// for all).
    train_data: DataBuffers,
    test_data: DataBuffers,
    lists_at: usize,
    split: Split,
    steps_done: u32,
    /// Steps per submit (CHUNK_STEPS; tests set 1 to compare with step-by-step submits).
    chunk_steps: usize,
    /// When set, `train_epoch` stops before its next chunk of steps.
    stop: Option<&'a AtomicBool>,
    /// Faults to inject (tests only; `Session::trainer` reads them from MLP_GPU_FAULT).
    faults: EpochFaults,
}

/// An epoch's work, submitted: per chunk with progress, its loss slots' copy, its
/// submission, the steps done after it and its rows; and what it cost so far.
struct Submitted {
    chunks: Vec<(wgpu::Buffer, wgpu::SubmissionIndex, usize, usize)>,
    counts: EpochCounts,
}

fn epoch_order(train_idx: &[u32], seed: u64, epoch: usize) -> Vec<u32> {
    let mut order = train_idx.to_vec();
    crate::rng::Rng::new(seed ^ (epoch as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F))
        .shuffle(&mut order);
    order
}

impl<'a> Trainer<'a> {
    /// A run alone.
    pub fn new(
        ctx: &'a Context,
        kernels: &'a Kernels,
        data: &'a GpuData,
        config: TrainConfig,
        split: &Split,
        norm: &Normalization,
    ) -> Result<Self, GpuError> {
        Self::new_pack(ctx, kernels, data, vec![config], split, norm)
    }

    /// Whether a pack of `members` runs of `shape` on `split` of `data` fits the device's
    /// limits, checked before anything is allocated.
    pub fn fits(
        ctx: &Context,
        data: &GpuData,
        shape: &PackShape,
        split: &Split,
        members: usize,
    ) -> Result<(), GpuError> {
        let z = Sizes::new(data, shape, 0.0, split);
        let layout = ParamLayout::new(&z.spec);
        GpuNetwork::fits(ctx, &layout, z.room.rows, z.room.slots, members)
    }

    /// The runs `configs`, which must share their `PackShape`, trained as one pack on
    /// `split` of `data` normalised by `norm`; refused if it does not fit the device.
    pub fn new_pack(
        ctx: &'a Context,
        kernels: &'a Kernels,
        data: &'a GpuData,
        configs: Vec<TrainConfig>,
        split: &Split,
        norm: &Normalization,
    ) -> Result<Self, GpuError> {
        let shape = configs[0].pack_shape();
        assert!(
            configs.iter().all(|c| c.pack_shape() == shape),
            "a pack's members share their PackShape"
        );
        let max_p = configs.iter().map(|c| c.dropout).fold(0.0, f32::max);
        let z = Sizes::new(data, &shape, max_p, split);
        let layout = ParamLayout::new(&z.spec);
        let members: Vec<MemberInit> = configs
            .iter()
            .map(|c| MemberInit {
                params: layout.init(c.init, c.seed),
                hyper: c.hyper(),
                dropout: c.dropout,
                seed: c.seed as u32,
            })
            .collect();
        let input = data.input(norm);
        let lists = member_list(split).repeat(configs.len());
        let (train_data, lists_at) = data.train.select(ctx, kernels, &input, &lists)?;
        let (test_data, _) = data.test.select(ctx, kernels, &input, &split.test_idx)?;
        let net = GpuNetwork::new(ctx, kernels, &z.spec, &members, z.room, input)?;
        Ok(Trainer {
            ctx,
            kernels,
            configs,
            train_data,
            test_data,
            lists_at,
            net,
            data,
            split: split.clone(),
            steps_done: 0,
            chunk_steps: CHUNK_STEPS,
            stop: None,
            faults: EpochFaults::default(),
        })
    }

    /// The normalisation its batches are gathered with.
    pub fn normalization(&self) -> &Normalization {
        &self.net.input.norm
    }

    fn batch_size(&self) -> usize {
        self.configs[0].batch_size
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.train_len().div_ceil(self.batch_size())
    }

    /// Rows trained on per epoch, per member.
    pub fn train_len(&self) -> usize {
        self.split.train_idx.len()
    }

    /// Rows validated on.
    pub fn val_len(&self) -> usize {
        self.split.val_idx.len()
    }

    /// The members' settings, in pack order.
    pub fn configs(&self) -> &[TrainConfig] {
        &self.configs
    }

    /// Runs in the pack.
    pub fn members(&self) -> usize {
        self.configs.len()
    }

    /// Steps trained so far (the dropout counter; the optimizer's t is one more).
    pub fn steps_done(&self) -> u32 {
        self.steps_done
    }

    /// The pack's network on the GPU (its layouts, plan and buffers), to read.
    pub fn network(&self) -> &GpuNetwork {
        &self.net
    }

    /// Steps per submit (tests compare with 1; `bench --profile` fits its query sets).
    pub fn set_chunk_steps(&mut self, steps: usize) {
        self.chunk_steps = steps.max(1);
    }

    /// Stops `train_epoch` before its next chunk once `stop` is set (Ctrl-C).
    pub fn set_stop(&mut self, stop: Option<&'a AtomicBool>) {
        self.stop = stop;
    }

    /// Faults to inject into the epochs (tests only).
    pub fn set_faults(&mut self, faults: EpochFaults) {
        self.faults = faults;
    }

    /// Every member's parameters and saved state (optimizer moments and batch-norm
    /// statistics: what a checkpoint or model keeps), in one host wait.
    pub fn saved_weights(&self) -> Result<Vec<Weights>, GpuError> {
        let saved = self.net.state.saved();
        Ok(self
            .net
            .read_members(self.ctx)?
            .into_iter()
            .map(|(p, s)| (p, s[saved.clone()].to_vec()))
            .collect())
    }

    /// Words of a member's parameters and of its saved state, as `saved_weights` gives them.
    pub fn weight_sizes(&self) -> (usize, usize) {
        (self.net.params.len, self.net.state.saved().len())
    }

    /// Member `m` back to saved weights after `steps_done` steps: a run resuming.
    pub fn restore(&mut self, m: usize, weights: &Weights, steps_done: u32) {
        self.net.restore(self.ctx, m, &weights.0, &weights.1);
        self.steps_done = steps_done;
    }

    /// Member `m`'s saved weights as model.safetensors, with `metadata`.
    pub fn model_file(
        &self,
        m: usize,
        weights: &Weights,
        metadata: std::collections::HashMap<String, String>,
    ) -> Vec<u8> {
        crate::rundir::model_file::model_bytes(
            &self.net.params,
            &self.net.state,
            self.configs[m].dropout > 0.0,
            weights,
            i64::from(self.steps_done),
            metadata,
        )
    }

    /// Bytes on the GPU: the pack's network, the shared data set, its index buffers.
    pub fn gpu_bytes(&self) -> u64 {
        self.net.buffers.bytes()
            + self.data.train.buffers.bytes()
            + self.data.test.buffers.bytes()
            + self.train_data.indices.size()
            + self.test_data.indices.size()
    }

    /// Trains one epoch (0-based `epoch`) of every member; returns each member's mean
    /// training loss per sample and what it cost. With `progress`, each chunk's loss sums
    /// (the first member's) are also copied out and `progress(steps done, mean loss so far)`
    /// runs as the GPU finishes each chunk (the host polls for them once everything is
    /// submitted; the benchmark passes None).
    pub fn train_epoch(
        &mut self,
        epoch: usize,
        progress: Option<&dyn Fn(usize, f64)>,
    ) -> Result<(Vec<f64>, EpochCounts), TrainError> {
        let ctx = self.ctx;
        if self.faults.stall == Some(epoch + 1) {
            crate::fault::stall();
        }
        if self.faults.device_lost == Some(epoch + 1) {
            ctx.device.destroy();
        }
        let out_of_memory = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let dispatches_before = self.kernels.dispatch_count();
        let submitted = self.submit_epoch(epoch, progress.is_some())?;
        let (loss, mut counts) = self.read_epoch(submitted, progress)?;
        counts.dispatches = self.kernels.dispatch_count() - dispatches_before;
        if let Some(e) = pollster::block_on(out_of_memory.pop()) {
            return Err(GpuError::OutOfMemory(e.to_string()).into());
        }
        if self.faults.oom == Some(epoch + 1) {
            return Err(GpuError::OutOfMemory("injected by MLP_GPU_FAULT".into()).into());
        }
        ctx.check()?;
        Ok((loss, counts))
    }

    /// Writes each member's order for the epoch and submits its steps in chunks, each
    /// chunk's loss slots copied out when `with_progress`; never waits.
    fn submit_epoch(&mut self, epoch: usize, with_progress: bool) -> Result<Submitted, TrainError> {
        let (ctx, k) = (self.ctx, self.kernels);
        let stride = self.net.pack.indices as usize;
        for (m, c) in self.configs.iter().enumerate() {
            let order = epoch_order(&self.split.train_idx, c.seed, epoch);
            let at = 4 * (self.lists_at + m * stride) as u64;
            let indices = &self.train_data.indices;
            ctx.queue
                .write_buffer(indices, at, bytemuck::cast_slice(&order));
        }
        let steps = self.steps_per_epoch();
        let mut s = Submitted {
            chunks: Vec::new(),
            counts: EpochCounts {
                steps,
                ..Default::default()
            },
        };
        for start in (0..steps).step_by(self.chunk_steps) {
            if self.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return Err(TrainError::Interrupted);
            }
            let t0 = Instant::now();
            let end = (start + self.chunk_steps).min(steps);
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            self.encode_steps(&mut encoder, start..end);
            let copy = with_progress.then(|| self.net.copy_slots(ctx, &mut encoder, start..end));
            if let Some(p) = &k.profiler {
                p.resolve(&mut encoder);
            }
            let commands = encoder.finish();
            s.counts.encode_seconds += t0.elapsed().as_secs_f64();
            let submitted = ctx.queue.submit([commands]);
            s.counts.submits += 1;
            if let Some(copy) = copy {
                let rows = (start..end).map(|i| self.rows(i)).sum();
                s.chunks.push((copy, submitted, end, rows));
            }
            if let Some(p) = &k.profiler {
                p.collect(ctx)?;
            }
        }
        Ok(s)
    }

    /// Rows of step `s` of an epoch (the last batch may be short).
    fn rows(&self, s: usize) -> usize {
        let b = self.batch_size();
        b.min(self.train_len() - s * b)
    }

    /// Steps `steps` of the epoch into one compute pass.
    fn encode_steps(&mut self, encoder: &mut wgpu::CommandEncoder, steps: std::ops::Range<usize>) {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_bind_group(0, &self.net.buffers.bind_group, &[]);
        pass.set_bind_group(1, &self.train_data.bind_group, &[]);
        for s in steps {
            let step = Step {
                index_off: self.lists_at + s * self.batch_size(),
                rows: self.rows(s),
                step: self.steps_done,
                slot: s,
            };
            self.net.encode_train_step(self.kernels, &mut pass, step);
            self.steps_done += 1;
        }
    }

    /// Reports each chunk's progress as the GPU finishes it, then reads the epoch's loss
    /// sums of every member: the one host wait of the epoch. Returns the mean losses.
    fn read_epoch(
        &self,
        s: Submitted,
        progress: Option<&dyn Fn(usize, f64)>,
    ) -> Result<(Vec<f64>, EpochCounts), TrainError> {
        if let Some(report) = progress {
            let (mut loss, mut rows) = (0.0, 0);
            for (copy, submitted, done, chunk_rows) in s.chunks {
                let sums: Vec<f32> = crate::gpu::buffers::read_mapped(self.ctx, &copy, submitted)?;
                loss += sums.chunks(2).map(|c| f64::from(c[0])).sum::<f64>();
                rows += chunk_rows;
                report(done, loss / rows as f64);
            }
        }
        let slots = self.net.read_slots(self.ctx, s.counts.steps)?;
        let counts = EpochCounts {
            host_waits: 1,
            ..s.counts
        };
        let n = self.train_len() as f64;
        let losses = slots.iter().map(|member| sum_losses(member) / n).collect();
        Ok((losses, counts))
    }

    /// Loss, accuracy and per-class accuracy of every member on the validation or the
    /// test set, all members in the same dispatches.
    pub fn evaluate(&self, test: bool) -> Result<Vec<Evaluation>, GpuError> {
        let s = &self.split;
        let scoring = if test {
            let labels = self.data.test.labels_of(&s.test_idx);
            Scoring::new(&self.test_data, self.lists_at, labels, true)
        } else {
            let labels = self.data.train.labels_of(&s.val_idx);
            let base = self.lists_at + self.train_len();
            Scoring::new(&self.train_data, base, labels, false)
        };
        let batch = self.batch_size();
        score(
            self.ctx,
            self.kernels,
            &self.net,
            batch,
            &scoring,
            self.data.classes,
        )
    }
}

/// What an evaluation reads: the data bound, where its rows start in the index buffer,
/// their labels, and whether every member reads the one list bound (not its own).
struct Scoring<'d> {
    data: &'d DataBuffers,
    base: usize,
    labels: Cow<'d, [u32]>,
    shared_indices: bool,
}

impl<'d> Scoring<'d> {
    fn new(
        data: &'d DataBuffers,
        base: usize,
        labels: impl Into<Cow<'d, [u32]>>,
        shared_indices: bool,
    ) -> Self {
        Scoring {
            data,
            base,
            labels: labels.into(),
            shared_indices,
        }
    }

    /// Batch c of `batch` rows, its probabilities written if `probs`.
    fn batch(&self, c: usize, batch: usize, probs: bool) -> EvalBatch {
        let start = c * batch;
        EvalBatch {
            index_off: self.base + start,
            rows: batch.min(self.labels.len() - start),
            slot: c,
            pred_off: start,
            shared_indices: self.shared_indices,
            probs,
        }
    }
}

/// Every member of `net` scored on `s` in batches of `batch`, in one submit and one wait.
fn score(
    ctx: &Context,
    k: &Kernels,
    net: &GpuNetwork,
    batch: usize,
    s: &Scoring,
    classes: usize,
) -> Result<Vec<Evaluation>, GpuError> {
    let n = s.labels.len();
    let batches = n.div_ceil(batch);
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_bind_group(0, &net.buffers.bind_group, &[]);
        pass.set_bind_group(1, &s.data.bind_group, &[]);
        for c in 0..batches {
            net.encode_eval_batch(k, &mut pass, s.batch(c, batch, false));
        }
    }
    ctx.queue.submit([encoder.finish()]);
    let results = net.read_evaluation(ctx, batches, n)?;
    ctx.check()?;
    Ok(results
        .iter()
        .map(|(slots, preds)| evaluation(slots, preds, &s.labels, classes))
        .collect())
}

/// A saved network on a data set alone, with no training rows, index lists or optimizer
/// state on the GPU: what `eval` scores and `predict` predicts with.
pub struct Scorer<'a> {
    ctx: &'a Context,
    kernels: &'a Kernels,
    net: GpuNetwork,
    data: DataBuffers,
    labels: Vec<u32>,
    batch: usize,
    lists_at: usize,
}

impl<'a> Scorer<'a> {
    /// The network `spec` with `weights` (parameters and saved state) on `part`'s rows, all
    /// or its first `subset`, normalised by `norm`, in batches of at most `batch`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: &'a Context,
        kernels: &'a Kernels,
        part: &Resident,
        spec: &Spec,
        norm: &Normalization,
        weights: &Weights,
        batch: usize,
        subset: Option<usize>,
    ) -> Result<Self, GpuError> {
        let n = part.labels.len().min(subset.unwrap_or(usize::MAX));
        let indices: Vec<u32> = (0..n as u32).collect();
        let batch = batch.min(n).max(1);
        let member = MemberInit {
            params: weights.0.clone(),
            hyper: crate::optim::Hyper {
                kind: crate::optim::OptimizerKind::Sgd,
                lr: 0.0,
                momentum: 0.0,
                weight_decay: 0.0,
            },
            dropout: spec.dropout,
            seed: 0,
        };
        let room = Room {
            rows: batch,
            slots: n.div_ceil(batch).max(1),
            preds_kept: n,
            index_list: n,
        };
        let input = Input {
            inputs: spec.inputs,
            dtype: part.dtype,
            norm: norm.clone(),
        };
        let (data, lists_at) = part.select(ctx, kernels, &input, &indices)?;
        let net = GpuNetwork::new(ctx, kernels, spec, &[member], room, input)?;
        net.restore(ctx, 0, &weights.0, &weights.1);
        Ok(Scorer {
            ctx,
            kernels,
            data,
            labels: part.labels_of(&indices),
            lists_at,
            net,
            batch,
        })
    }

    fn scoring(&self) -> Scoring<'_> {
        Scoring::new(&self.data, self.lists_at, &self.labels[..], true)
    }

    /// Loss, accuracy and per-class accuracy.
    pub fn evaluate(&self) -> Result<Evaluation, GpuError> {
        let classes = self.net.spec.classes;
        let s = self.scoring();
        let mut e = score(self.ctx, self.kernels, &self.net, self.batch, &s, classes)?;
        Ok(e.swap_remove(0))
    }

    /// Every row's class probabilities ([rows, classes]) and predicted class, in one submit
    /// and one wait: each batch's probabilities are copied out before the next overwrites
    /// them.
    pub fn predict(&self) -> Result<(Vec<f32>, Vec<u32>), GpuError> {
        let (ctx, net) = (self.ctx, &self.net);
        let (n, classes) = (self.labels.len(), net.spec.classes);
        let s = self.scoring();
        let bytes = 4 * (n * classes + n) as u64;
        let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("probabilities and predictions"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        for c in 0..n.div_ceil(self.batch) {
            let b = s.batch(c, self.batch, true);
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                pass.set_bind_group(0, &net.buffers.bind_group, &[]);
                pass.set_bind_group(1, &self.data.bind_group, &[]);
                net.encode_eval_batch(self.kernels, &mut pass, b);
            }
            let region = net.probs_region(b.rows);
            let to = 4 * (c * self.batch * classes) as u64;
            let from = 4 * region.start as u64;
            let len = 4 * region.len() as u64;
            encoder.copy_buffer_to_buffer(&net.buffers.acts, from, &staging, to, len);
        }
        let (probs_bytes, preds_at) = (4 * (n * classes) as u64, 4 * net.preds_at as u64);
        encoder.copy_buffer_to_buffer(
            &net.buffers.ints,
            preds_at,
            &staging,
            probs_bytes,
            4 * n as u64,
        );
        let submitted = ctx.queue.submit([encoder.finish()]);
        let words: Vec<u32> = crate::gpu::buffers::read_mapped(ctx, &staging, submitted)?;
        ctx.check()?;
        let (probs, preds) = words.split_at(n * classes);
        let probs = probs.iter().map(|&w| f32::from_bits(w)).collect();
        Ok((probs, preds.to_vec()))
    }
}

/// The sum of the loss sums of `slots`.
fn sum_losses(slots: &[(f32, f32)]) -> f64 {
    slots.iter().map(|(l, _)| f64::from(*l)).sum()
}

/// One member's evaluation from its loss slots and predictions, over `classes` classes.
fn evaluation(slots: &[(f32, f32)], preds: &[u32], labels: &[u32], classes: usize) -> Evaluation {
    let mut correct = vec![0usize; classes];
    let mut total = vec![0usize; classes];
    for (p, &y) in preds.iter().zip(labels) {
        total[y as usize] += 1;
        correct[y as usize] += usize::from(*p == y);
    }
    let n = labels.len().max(1) as f64;
    Evaluation {
        loss: sum_losses(slots) / n,
        accuracy: correct.iter().sum::<usize>() as f64 / n,
        per_class: (0..classes)
            .map(|c| {
                if total[c] == 0 {
                    0.0
                } else {
                    correct[c] as f64 / total[c] as f64
                }
            })
            .collect(),
    }
}

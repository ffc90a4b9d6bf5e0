//! The training loop: data resident on the GPU, chunks of steps per submit, one host wait
//! per epoch; evaluation; and the run's files.

use crate::data::{Fashion, Images, Split};
use crate::fault::EpochFaults;
use crate::gpu::network::{GpuNetwork, MemberInit, Step};
use crate::gpu::{Context, DataBuffers, GpuError, Kernels};
use crate::model::{Init, ParamLayout, Spec};
use crate::optim::{Hyper, OptimizerKind};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Every setting of a run; saved as config.json and accepted back by `--config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub hidden: Vec<usize>,
    pub optimizer: OptimizerKind,
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    pub epochs: usize,
    pub batch_size: usize,
    pub dropout: f32,
    pub init: Init,
    pub batch_norm: bool,
    pub seed: u64,
    pub split_seed: u64,
    pub val_size: usize,
    pub subset: Option<usize>,
    pub eval_subset: Option<usize>,
}

/// The defaults of every command: the study's baseline (SGD, lr 0.05) on the 784-200-200-200-10
/// network, 10 epochs of batches of 512, 10,000 training images held out for validation.
impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            hidden: vec![200, 200, 200],
            optimizer: OptimizerKind::Sgd,
            lr: 0.05,
            momentum: 0.0,
            weight_decay: 0.0,
            epochs: 10,
            batch_size: 512,
            dropout: 0.0,
            init: Init::Pytorch,
            batch_norm: false,
            seed: 0,
            split_seed: 1234,
            val_size: 10_000,
            subset: None,
            eval_subset: None,
        }
    }
}

impl TrainConfig {
    pub fn spec(&self) -> Spec {
        Spec::new(self.hidden.clone(), self.batch_norm, self.dropout)
    }

    pub fn hyper(&self) -> Hyper {
        Hyper {
            kind: self.optimizer,
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
        }
    }
}

/// serde_json writes a non-finite float as null; read null back as NaN.
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// NaN or infinite when the run diverged: JSON holds it as null.
    #[serde(deserialize_with = "null_as_nan")]
    pub train_loss: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub epoch_seconds: f64,
    pub eval_seconds: f64,
    pub samples_per_second: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub per_class: Vec<f64>,
}

/// Steps encoded into one command buffer: large enough that submits are rare, small
/// enough that the GPU starts while the host encodes the rest.
pub const CHUNK_STEPS: usize = 64;

/// Images resident on the GPU with an index buffer that addresses them.
pub struct Resident {
    pub buffers: DataBuffers,
    pub labels: Vec<u8>,
}

impl Resident {
    /// The images, with an index list of one image (each trainer binds its own).
    fn new(ctx: &Context, k: &Kernels, images: &Images) -> Result<Self, GpuError> {
        let indices = [0u32];
        Ok(Resident {
            buffers: DataBuffers::new(
                ctx,
                &k.data_layout,
                &images.pixels,
                &images.labels,
                &indices,
            )?,
            labels: images.labels.clone(),
        })
    }
}

/// Fashion-MNIST on the GPU, uploaded once and shared by every run of a process; each run
/// binds the images with index lists of its own (`Trainer::train_data`).
pub struct Dataset {
    pub train: Resident,
    pub test: Resident,
}

impl Dataset {
    pub fn upload(ctx: &Context, k: &Kernels, data: &Fashion) -> Result<Self, GpuError> {
        Ok(Dataset {
            train: Resident::new(ctx, k, &data.train)?,
            test: Resident::new(ctx, k, &data.test)?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// A checkpoint or metrics file could not be written.
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
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

/// Trains a pack of runs in the same dispatches (a pack of one: a run alone). The members
/// share the network's shape, batch norm, batch size and split; each has its own optimizer
/// and settings, dropout, init and seed, hence its own data order and masks.
pub struct Trainer<'a> {
    pub ctx: &'a Context,
    pub kernels: &'a Kernels,
    /// The members' settings; the first's shape, batch size and epochs are everyone's.
    pub configs: Vec<TrainConfig>,
    pub net: GpuNetwork,
    pub data: &'a Dataset,
    /// The shared images with this trainer's own index lists: for training, per member, its
    /// epoch's permutation of train_idx then val_idx; for testing, test_idx (one for all).
    pub train_data: DataBuffers,
    pub test_data: DataBuffers,
    pub train_idx: Vec<u32>,
    pub val_idx: Vec<u32>,
    pub test_idx: Vec<u32>,
    pub steps_done: u32,
    /// Steps per submit (CHUNK_STEPS; tests set 1 to compare with step-by-step submits).
    pub chunk_steps: usize,
    /// When set, `train_epoch` stops before its next chunk of steps.
    pub stop: Option<&'a AtomicBool>,
    /// Faults to inject (tests only; `Session::trainer` reads them from MLP_GPU_FAULT).
    pub faults: EpochFaults,
}

/// An epoch's work, submitted: per chunk with progress, its loss slots' copy, its
/// submission, the steps done after it and its rows; and what it cost so far.
struct Submitted {
    chunks: Vec<(wgpu::Buffer, wgpu::SubmissionIndex, usize, usize)>,
    counts: EpochCounts,
}

/// Loss slots a run needs: one per step of an epoch, or per batch of an evaluation.
pub fn loss_slots(split: &Split, rows: usize) -> usize {
    let eval_max = split.val_idx.len().max(split.test_idx.len());
    let steps = split.train_idx.len().div_ceil(rows);
    steps.max(eval_max.div_ceil(rows)).max(1)
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
        data: &'a Dataset,
        config: TrainConfig,
        split: &Split,
    ) -> Result<Self, GpuError> {
        Self::new_pack(ctx, kernels, data, vec![config], split)
    }

    /// The runs `configs`, which must share hidden sizes, batch norm and batch size, trained
    /// as one pack on `split`.
    pub fn new_pack(
        ctx: &'a Context,
        kernels: &'a Kernels,
        data: &'a Dataset,
        configs: Vec<TrainConfig>,
        split: &Split,
    ) -> Result<Self, GpuError> {
        let first = &configs[0];
        let shared = |c: &TrainConfig| {
            (&c.hidden, c.batch_norm, c.batch_size)
                == (&first.hidden, first.batch_norm, first.batch_size)
        };
        assert!(
            configs.iter().all(shared),
            "a pack's members share their shape and batch"
        );
        let max_p = configs.iter().map(|c| c.dropout).fold(0.0, f32::max);
        let spec = Spec::new(first.hidden.clone(), first.batch_norm, max_p);
        let layout = ParamLayout::new(&spec);
        let rows = first.batch_size;
        let eval_max = split.val_idx.len().max(split.test_idx.len());
        let slots = loss_slots(split, rows);
        GpuNetwork::fits(ctx, &layout, rows, slots, configs.len())?;
        let members: Vec<MemberInit> = configs
            .iter()
            .map(|c| MemberInit {
                params: layout.init(c.init, c.seed),
                hyper: c.hyper(),
                dropout: c.dropout,
                seed: c.seed as u32,
            })
            .collect();
        let list = [&split.train_idx[..], &split.val_idx].concat();
        let (n, k) = (list.len(), configs.len());
        let net = GpuNetwork::new(ctx, kernels, &spec, &members, rows, slots, eval_max, n)?;
        let layout = &kernels.data_layout;
        Ok(Trainer {
            ctx,
            kernels,
            configs,
            net,
            data,
            train_data: data
                .train
                .buffers
                .with_indices(ctx, layout, &list.repeat(k))?,
            test_data: data
                .test
                .buffers
                .with_indices(ctx, layout, &split.test_idx)?,
            train_idx: split.train_idx.clone(),
            val_idx: split.val_idx.clone(),
            test_idx: split.test_idx.clone(),
            steps_done: 0,
            chunk_steps: CHUNK_STEPS,
            stop: None,
            faults: EpochFaults::default(),
        })
    }

    fn batch_size(&self) -> usize {
        self.configs[0].batch_size
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.train_idx.len().div_ceil(self.batch_size())
    }

    /// Rows of step `s` of an epoch (the last batch may be short).
    fn rows(&self, s: usize) -> usize {
        let b = self.batch_size();
        b.min(self.train_idx.len() - s * b)
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
        let list = (self.train_idx.len() + self.val_idx.len()) as u64;
        for (m, c) in self.configs.iter().enumerate() {
            let order = epoch_order(&self.train_idx, c.seed, epoch);
            let at = 4 * m as u64 * list;
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
            let copy = with_progress.then(|| self.copy_slots(&mut encoder, start..end));
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

    /// Steps `steps` of the epoch into one compute pass.
    fn encode_steps(&mut self, encoder: &mut wgpu::CommandEncoder, steps: std::ops::Range<usize>) {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_bind_group(0, &self.net.buffers.bind_group, &[]);
        pass.set_bind_group(1, &self.train_data.bind_group, &[]);
        for s in steps {
            let step = Step {
                index_off: s * self.batch_size(),
                rows: self.rows(s),
                step: self.steps_done,
                slot: s,
            };
            self.net.encode_train_step(self.kernels, &mut pass, step);
            self.steps_done += 1;
        }
    }

    /// A copy of the loss slots of `steps`, for the progress report.
    fn copy_slots(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        steps: std::ops::Range<usize>,
    ) -> wgpu::Buffer {
        let bytes = 8 * steps.len() as u64;
        let copy = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("progress"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let from = 4 * self.net.state.slot(steps.start) as u64;
        encoder.copy_buffer_to_buffer(&self.net.buffers.state, from, &copy, 0, bytes);
        copy
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
        let n = self.train_idx.len() as f64;
        let losses = slots.iter().map(|member| sum_losses(member) / n).collect();
        Ok((losses, counts))
    }

    /// Loss, accuracy and per-class accuracy of every member on the validation or the
    /// test set, all members in the same dispatches.
    pub fn evaluate(&self, test: bool) -> Result<Vec<Evaluation>, GpuError> {
        let (ctx, k) = (self.ctx, self.kernels);
        let (data, base, idx) = if test {
            (&self.test_data, 0, &self.test_idx)
        } else {
            (&self.train_data, self.train_idx.len(), &self.val_idx)
        };
        let n = idx.len();
        let b = self.batch_size();
        let batches = n.div_ceil(b);
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_bind_group(0, &self.net.buffers.bind_group, &[]);
            pass.set_bind_group(1, &data.bind_group, &[]);
            for c in 0..batches {
                let start = c * b;
                let rows = b.min(n - start);
                let net = &self.net;
                net.encode_eval_batch(k, &mut pass, base + start, rows, c, start, test);
            }
        }
        ctx.queue.submit([encoder.finish()]);
        let results = self.net.read_evaluation(ctx, batches, n)?;
        ctx.check()?;
        let resident = if test {
            &self.data.test
        } else {
            &self.data.train
        };
        let labels: Vec<u8> = idx.iter().map(|&i| resident.labels[i as usize]).collect();
        Ok(results
            .iter()
            .map(|(s, p)| evaluation(s, p, &labels))
            .collect())
    }
}

/// The sum of the loss sums of `slots`.
fn sum_losses(slots: &[(f32, f32)]) -> f64 {
    slots.iter().map(|(l, _)| f64::from(*l)).sum()
}

/// One member's evaluation from its loss slots and predictions.
fn evaluation(slots: &[(f32, f32)], preds: &[u32], labels: &[u8]) -> Evaluation {
    let mut correct = [0usize; 10];
    let mut total = [0usize; 10];
    for (p, &y) in preds.iter().zip(labels) {
        total[y as usize] += 1;
        correct[y as usize] += usize::from(*p == u32::from(y));
    }
    let n = labels.len().max(1) as f64;
    Evaluation {
        loss: sum_losses(slots) / n,
        accuracy: correct.iter().sum::<usize>() as f64 / n,
        per_class: (0..10)
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

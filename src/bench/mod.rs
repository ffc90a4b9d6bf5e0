//! `mlp-gpu bench`: epoch times of the default network, measured as training runs them;
//! the matmul products alone (`--matmul`); reading a data set (`--load`, in `load`).

mod load;
pub use load::{load, LoadBench};

use crate::config::{ConfigError, TrainConfig};
use crate::error::Error;
use crate::gpu::{Context, Kernels, MatmulVariant};
use crate::ops::LinearShape;
use crate::optim::OptimizerKind;
use crate::session::Session;
use crate::train::Trainer;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// Training and test rows of `--inputs`' random data: Fashion-MNIST's counts.
const SYNTHETIC_ROWS: (usize, usize) = (60_000, 10_000);

#[derive(Clone, Debug, Serialize)]
pub struct BenchCase {
    pub adapter: String,
    /// The network: inputs, hidden layers.
    pub inputs: usize,
    pub hidden: Vec<usize>,
    pub batch_size: usize,
    pub batch_norm: bool,
    pub dropout: f32,
    /// Runs trained together as one pack (seeds 0, 1, ...).
    pub pack_size: usize,
    /// The pack's epoch.
    pub epoch_seconds_median: f64,
    /// The pack's epoch over its members: the cost of one run's epoch.
    pub member_epoch_seconds_median: f64,
    /// Of all members together.
    pub samples_per_second: f64,
    pub gflops: f64,
    pub dispatches_per_step: f64,
    pub submits_per_epoch: usize,
    pub host_waits_per_epoch: usize,
    pub encode_seconds_per_epoch: f64,
    pub peak_gpu_bytes: u64,
    pub matmul_variant: String,
    /// With --profile: GPU time per kernel over one epoch, most first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Vec<KernelTime>>,
    /// With --profile: the kernels' summed GPU time over the epoch's median wall time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_coverage: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct KernelTime {
    pub kernel: String,
    pub seconds: f64,
    pub share: f64,
    pub gflops: f64,
    pub dispatches: u64,
}

pub struct BenchOptions<'a> {
    pub batch_sizes: &'a [usize],
    /// The networks' hidden layers, one case each (`--hidden 200,200,200:1024,1024`).
    pub shapes: &'a [Vec<usize>],
    pub epochs: usize,
    pub subset: Option<usize>,
    pub load: &'a crate::data::LoadOptions,
    /// Instead of `load`'s data: random 8-bit samples of this many inputs (`--inputs`).
    pub inputs: Option<usize>,
    pub adapter: Option<&'a str>,
    /// The matmul variant, if not the adapter's default.
    pub variant: Option<MatmulVariant>,
    /// Runs per pack, one case each.
    pub pack_sizes: &'a [usize],
    pub profile: bool,
    /// No line per case on stderr.
    pub quiet: bool,
}

pub fn bench(o: &BenchOptions<'_>) -> Result<Vec<BenchCase>, Error> {
    if o.pack_sizes.contains(&0) {
        return Err(ConfigError::new(
            "--pack-size",
            "--pack-size: give one or more positive pack sizes, e.g. 1,4,16",
        )
        .into());
    }
    let session = match o.inputs {
        Some(n) => {
            let (train, test) = SYNTHETIC_ROWS;
            let data = crate::data::synthetic(n, train, test, 10);
            Session::with_data(PathBuf::from("synthetic"), data, o.adapter, o.variant)?
        }
        None => Session::open(o.load, o.adapter, o.variant)?,
    };
    let ctx = &session.ctx;
    let profiled = if o.profile {
        let mut k = Kernels::new(ctx)?;
        k.profiler = Some(crate::gpu::profile::Profiler::new(ctx)?);
        Some(k)
    } else {
        None
    };
    let mut cases = Vec::new();
    for (hidden, &batch_size) in o
        .shapes
        .iter()
        .flat_map(|h| o.batch_sizes.iter().map(move |b| (h, b)))
    {
        for (batch_norm, dropout) in [(false, 0.0), (true, 0.2)] {
            let c = TrainConfig {
                hidden: hidden.clone(),
                val_size: crate::data::ValSize::DEFAULT.rows(session.train_rows()),
                optimizer: OptimizerKind::Adam,
                lr: 0.005,
                epochs: o.epochs,
                batch_size,
                dropout,
                batch_norm,
                subset: o.subset,
                eval_subset: Some(1),
                ..TrainConfig::default()
            };
            c.validate()?;
            for &pack in o.pack_sizes {
                // timestamps are for one run's kernels
                let profiled = profiled.as_ref().filter(|_| pack == 1);
                let case = bench_case(&session, profiled, &c, pack, o.epochs)?;
                if o.quiet {
                    cases.push(case);
                    continue;
                }
                let shape = hidden.iter().map(usize::to_string).collect::<Vec<_>>();
                eprintln!(
                    "hidden {} batch {batch_size:>4} {:<22} pack {pack:>2} {:.3} s/epoch ({:.3} per member)  {:.0} samples/s  {:.1} GFLOP/s  {:.0} dispatches/step",
                    shape.join(","),
                    if batch_norm { "batch norm, dropout 0.2" } else { "plain" },
                    case.epoch_seconds_median,
                    case.member_epoch_seconds_median,
                    case.samples_per_second,
                    case.gflops,
                    case.dispatches_per_step
                );
                cases.push(case);
            }
        }
    }
    Ok(cases)
}

/// One case: `pack` runs of `c` (seeds 0, 1, ...) trained as one pack, one warm-up epoch
/// and `epochs` timed ones.
fn bench_case(
    session: &Session,
    profiled: Option<&Kernels>,
    c: &TrainConfig,
    pack: usize,
    epochs: usize,
) -> Result<BenchCase, Error> {
    let (ctx, kernels) = (&session.ctx, &session.kernels);
    let members = (0..pack as u64)
        .map(|seed| TrainConfig { seed, ..c.clone() })
        .collect();
    let mut t = session.trainer(members, None)?;
    let mut times = Vec::new();
    let mut counts = Default::default();
    for epoch in 0..=epochs {
        let t0 = Instant::now();
        let (_, n) = t.train_epoch(epoch, None).map_err(train_error)?;
        if epoch > 0 {
            times.push(t0.elapsed().as_secs_f64());
            counts = n;
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let samples = (t.train_len() * pack) as f64;
    let flops = 6.0 * t.network().spec.macs_per_sample() as f64 * samples;
    let (profile, profile_coverage) = match profiled {
        Some(pk) => {
            let rows = profile_epoch(session, pk, c)?;
            let total: f64 = rows.iter().map(|r| r.seconds).sum();
            let coverage = total / median;
            if (coverage - 1.0).abs() > 0.1 {
                eprintln!(
                    "warning: batch {}: the profiled kernels sum to {:.0}% of the epoch's wall time, outside the 10% check: the timestamps around every dispatch add time of their own on this adapter, so read the shares, not the absolute times",
                    c.batch_size,
                    100.0 * coverage
                );
            }
            (Some(rows), Some(coverage))
        }
        None => (None, None),
    };
    Ok(BenchCase {
        adapter: ctx.adapter_name(),
        inputs: session.info().inputs,
        hidden: c.hidden.clone(),
        batch_size: c.batch_size,
        batch_norm: c.batch_norm,
        dropout: c.dropout,
        pack_size: pack,
        epoch_seconds_median: median,
        member_epoch_seconds_median: median / pack as f64,
        samples_per_second: samples / median,
        gflops: flops / median / 1e9,
        dispatches_per_step: counts.dispatches as f64 / counts.steps as f64,
        submits_per_epoch: counts.submits,
        host_waits_per_epoch: counts.host_waits,
        encode_seconds_per_epoch: counts.encode_seconds,
        peak_gpu_bytes: t.gpu_bytes(),
        matmul_variant: kernels.variant.name().into(),
        profile,
        profile_coverage,
    })
}

/// A training error as the benchmark reports it: there is no run to keep.
fn train_error(e: crate::train::TrainError) -> Error {
    match e {
        crate::train::TrainError::Gpu(e) => e.into(),
        crate::train::TrainError::Folder(e) => e.into(),
        crate::train::TrainError::Interrupted => unreachable!("the benchmark sets no stop"),
    }
}

/// One epoch with timestamps around every dispatch: GPU seconds per kernel.
fn profile_epoch(s: &Session, k: &Kernels, c: &TrainConfig) -> Result<Vec<KernelTime>, Error> {
    let p = k.profiler.as_ref().expect("a profiling kernel set");
    let shape = s.prepare(&c.pack_shape(), None)?;
    let mut t = Trainer::new(&s.ctx, k, &s.data, c.clone(), &shape.split, &shape.norm)?;
    // A chunk's timestamps must fit one query set: two per dispatch, one dispatch per stage.
    let per_step = t.network().plan.train.len();
    t.set_chunk_steps(
        (crate::gpu::profile::CAPACITY as usize / (2 * per_step))
            .clamp(1, crate::train::CHUNK_STEPS),
    );
    p.take(); // the totals start with this epoch
    t.train_epoch(0, None).map_err(train_error)?;
    let rows = p.take();
    let total: f64 = rows.iter().map(|r| r.1).sum();
    Ok(rows
        .into_iter()
        .map(|(name, seconds, flops, dispatches)| KernelTime {
            kernel: name.into(),
            seconds,
            share: seconds / total,
            gflops: flops / seconds / 1e9,
            dispatches,
        })
        .collect())
}

/// The GFLOP/s of a layer's three products with one variant.
#[derive(Clone, Debug)]
pub struct MatmulRow {
    pub shape: LinearShape,
    pub variant: &'static str,
    /// forward, backward data, backward weight
    pub gflops: [f64; 3],
}

/// `bench --matmul`: each product of each layer (inputs, outputs) at each batch size, for
/// `variant`, else for every variant the adapter runs.
pub fn matmul_table(
    adapter: Option<&str>,
    variant: Option<MatmulVariant>,
    batch_sizes: &[usize],
    layers: &[(usize, usize)],
) -> Result<Vec<MatmulRow>, Error> {
    let ctx = Context::new(adapter)?;
    let variants = match variant {
        Some(v) => vec![v],
        None => ctx.variants(),
    };
    let mut rows = Vec::new();
    for (&(inputs, outputs), &batch) in layers
        .iter()
        .flat_map(|l| batch_sizes.iter().map(move |b| (l, b)))
    {
        let shape = LinearShape {
            rows: batch,
            inputs,
            outputs,
        };
        for &v in &variants {
            let gflops = matmul_products(&ctx, v, shape)?;
            rows.push(MatmulRow {
                shape,
                variant: v.name(),
                gflops,
            });
        }
    }
    Ok(rows)
}

/// GFLOP/s of each matmul product (forward, backward data, backward weight) of a layer of
/// `shape`, for `variant`: the best of 3 passes of back-to-back dispatches, each timed from
/// its submit to the end of its GPU work; 20 dispatches a pass, ten times more until a pass
/// takes 50 ms, so that submit and wait costs stay small beside the work on fast GPUs.
pub fn matmul_products(
    ctx: &Context,
    variant: MatmulVariant,
    s: LinearShape,
) -> Result<[f64; 3], Error> {
    use crate::gpu::immediates::Pack;
    use crate::gpu::ModelBuffers;
    use crate::ops::Activation;
    let k = Kernels::with_variant(ctx, variant)?;
    let (x, y) = (0, s.rows * s.inputs);
    let acts = y + s.rows * s.outputs;
    let params = vec![0.01f32; s.inputs * s.outputs + s.outputs];
    let m = ModelBuffers::new(ctx, &k.model_layout, &params, acts, &[0.0], 1)?;
    let d = crate::check::no_data(ctx, &k)?;
    let flops = 2.0 * (s.rows * s.inputs * s.outputs) as f64;
    let mut out = [0.0; 3];
    for (p, o) in out.iter_mut().enumerate() {
        let mut reps = 20;
        loop {
            let best = best_of_3(ctx, |pass| {
                pass.set_bind_group(0, &m.bind_group, &[]);
                pass.set_bind_group(1, &d.bind_group, &[]);
                for _ in 0..reps {
                    match p {
                        0 => k.linear_forward(
                            pass,
                            y,
                            x,
                            0,
                            params.len() - s.outputs,
                            s,
                            Activation::default(),
                            &Pack::SOLO,
                        ),
                        1 => k.linear_backward_data(pass, x, y, 0, x, s, None, &Pack::SOLO),
                        _ => {
                            let db = params.len() - s.outputs;
                            k.linear_backward_weight(pass, 0, db, y, x, s, &Pack::SOLO)
                        }
                    }
                }
            })?;
            if best >= 0.05 || reps >= 20_000 {
                *o = flops * reps as f64 / best / 1e9;
                break;
            }
            reps *= 10;
        }
    }
    Ok(out)
}

/// The shortest of 3 runs of the pass `encode` records, from submit to the end of its work.
fn best_of_3(ctx: &Context, encode: impl Fn(&mut wgpu::ComputePass<'_>)) -> Result<f64, Error> {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        encode(&mut encoder.begin_compute_pass(&Default::default()));
        let t0 = Instant::now();
        ctx.queue.submit([encoder.finish()]);
        ctx.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| crate::gpu::GpuError::Device(e.to_string()))?;
        best = best.min(t0.elapsed().as_secs_f64());
    }
    Ok(best)
}

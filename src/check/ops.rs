//! The kernels that do not depend on the matmul variant (gather, dropout, batch norm, the
//! fused softmax cross-entropy, the optimizer step) against their CPU twins, on seeded
//! inputs and sizes that leave partial workgroups.
//!
//! Tolerances: element-wise kernels (gather, dropout, batch-norm apply) do a handful of f32
//! operations: 1e-5. Reductions over a batch of 513 rows (batch-norm statistics, loss sums):
//! 1e-4 relative. Counts, labels and predictions must be exact (tolerance 0).

use super::linear::mask;
use super::{compare, model, no_data, read_f32, run, Row};
use crate::data::{Dtype, Normalization, NormalizeMode, Part, Values};
use crate::gpu::batch_norm::BatchNormAt;
use crate::gpu::buffers::read_words;
use crate::gpu::cross_entropy::{CrossEntropyAt, Output};
use crate::gpu::gather::{stats_words, Input};
use crate::gpu::immediates::{word, Member, Pack, MEMBER_WORDS};
use crate::gpu::{Context, DataBuffers, GpuError, Kernels};
use crate::ops::Activation;
use crate::optim::{Hyper, OptimizerKind};
use crate::reference;
use crate::rng::Rng;

const SOLO: &Pack = &Pack::SOLO;

fn random(rng: &mut Rng, n: usize, bound: f32) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(bound)).collect()
}

fn floats(v: &[u32]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Every check here, in order.
pub fn all(ctx: &Context, k: &Kernels, variant: &str) -> Result<Vec<Row>, GpuError> {
    let mut rows = gather(ctx, k, variant)?;
    rows.extend(dropout(ctx, k, variant)?);
    rows.extend(batch_norm_training(ctx, k, variant)?);
    rows.extend(batch_norm_evaluation(ctx, k, variant)?);
    rows.extend(batch_norm_backward(ctx, k, variant)?);
    rows.extend(cross_entropy(ctx, k, variant)?);
    for (kind, momentum, decay) in OPTIMIZER_CASES {
        rows.extend(optimizer_step(ctx, k, variant, kind, momentum, decay)?);
    }
    Ok(rows)
}

/// Samples of `inputs` values of `dtype` with labels of 10 classes.
fn samples(rng: &mut Rng, n: usize, inputs: usize, dtype: Dtype) -> Part {
    let values = match dtype {
        Dtype::U8 => Values::U8(
            (0..n * inputs)
                .map(|_| (rng.next_u64() & 0xff) as u8)
                .collect(),
        ),
        Dtype::F32 => Values::F32(random(rng, n * inputs, 50.0)),
    };
    let labels = (0..n).map(|_| rng.below(10) as u32).collect();
    Part { values, labels }
}

/// Every form of the gather: 8-bit and f32 values, four at a time (784 inputs) and one at
/// a time (13), one mean and std for all inputs and one per input (from the index buffer,
/// before the index list): samples normalised and labels copied through a shuffled index
/// list, from inside it.
pub fn gather(ctx: &Context, k: &Kernels, variant: &str) -> Result<Vec<Row>, GpuError> {
    let samples_n = 700;
    let mut rng = Rng::new(9);
    let mut out = Vec::new();
    for dtype in [Dtype::U8, Dtype::F32] {
        for inputs in [784, 13] {
            let part = samples(&mut rng, samples_n, inputs, dtype);
            let all: Vec<u32> = (0..samples_n as u32).collect();
            for mode in [NormalizeMode::Scalar, NormalizeMode::Column] {
                let norm = Normalization::fit(mode, &part.values, inputs, &all);
                let input = Input {
                    inputs,
                    dtype,
                    norm,
                };
                for rows in [1, 64, 513] {
                    let what = format!("{dtype:?} {mode:?}").to_lowercase();
                    out.extend(gather_case(ctx, k, variant, &part, &input, rows, &what)?);
                }
            }
        }
    }
    Ok(out)
}

/// One gather of `rows` rows by `input` from `part`, against its twin.
fn gather_case(
    ctx: &Context,
    k: &Kernels,
    variant: &str,
    part: &Part,
    input: &Input,
    rows: usize,
    what: &str,
) -> Result<Vec<Row>, GpuError> {
    let (inputs, n) = (input.inputs, part.len());
    let mut indices: Vec<u32> = (0..n as u32).collect();
    Rng::new(rows as u64).shuffle(&mut indices);
    let stats = stats_words(&input.norm, inputs);
    let off = stats.len() + 5; // start inside the index list, after the statistics
    let words = [&stats[..], &indices].concat();
    let d = DataBuffers::new(ctx, &k.data_layout, &part.values, &part.labels, &words)?;
    let acts = vec![0.0; 4 + rows * inputs];
    let m = model(ctx, k, &[0.0], &acts, &[], &[0.0], &vec![0; 2 + rows])?;
    run(ctx, &m, &d, |p| k.gather(p, 4, 2, off, rows, input, SOLO));
    let batch = &indices[off - stats.len()..off - stats.len() + rows];
    let (x, y) = super::cpu_batch(part, batch, inputs, &input.norm);
    let shape = format!("{rows} rows of {inputs} {what}");
    let got = read_f32(ctx, &m.acts, 4, x.len())?;
    let images = compare(
        "gather values",
        variant,
        shape.clone(),
        &got,
        &x,
        1e-5,
        1e-5,
    );
    let got: Vec<u32> = read_words(ctx, &m.ints, 2, rows)?;
    let labels = compare(
        "gather labels",
        variant,
        shape,
        &floats(&got),
        &floats(&y),
        0.0,
        0.0,
    );
    Ok(vec![images, labels])
}

/// The dropout mask and scale, exactly the CPU's: a kept element differs from a dropped one
/// by far more than the tolerance.
pub fn dropout(ctx: &Context, k: &Kernels, variant: &str) -> Result<Vec<Row>, GpuError> {
    let n = 513 * 200;
    let x: Vec<f32> = (0..n).map(|i| 1.0 + i as f32 * 1e-3).collect();
    let mut out = Vec::new();
    for p in [0.1, 0.5, 0.9] {
        let mask = mask(p, 2);
        let m = model(
            ctx,
            k,
            &[0.0],
            &[&x[..], &vec![0.0; n]].concat(),
            &[],
            &[0.0],
            &[0],
        )?;
        run(ctx, &m, &no_data(ctx, k)?, |pass| {
            k.dropout(pass, n, 0, n, mask, SOLO)
        });
        let mut want = vec![0.0; n];
        reference::dropout(&mut want, &x, mask);
        let got = read_f32(ctx, &m.acts, n, n)?;
        out.push(compare(
            "dropout",
            variant,
            format!("{n} elements, p {p}"),
            &got,
            &want,
            0.0,
            1e-6,
        ));
    }
    Ok(out)
}

/// Batch-norm inputs: z with features of different means and scales (like real
/// pre-activations), gamma, beta and running statistics.
fn bn_inputs(
    rows: usize,
    features: usize,
    seed: u64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, reference::BnStats) {
    let mut rng = Rng::new(seed);
    let z: Vec<f32> = (0..rows * features)
        .map(|e| rng.uniform(1.0) * (1.0 + (e % features) as f32 * 0.1) + (e % 7) as f32)
        .collect();
    let gamma = random(&mut rng, features, 2.0);
    let beta = random(&mut rng, features, 1.0);
    let mut stats = reference::BnStats::new(features);
    stats.running_mean = random(&mut rng, features, 1.0);
    stats.running_var = (0..features).map(|_| 0.5 + rng.uniform(0.4)).collect();
    (z, gamma, beta, stats)
}

/// (rows, features): one row, partial workgroups of columns, 513 rows.
const BN_SHAPES: [(usize, usize); 5] = [(1, 7), (64, 63), (513, 65), (64, 200), (2, 1)];

fn bn_at(rows: usize, features: usize) -> BatchNormAt {
    BatchNormAt {
        pack: Pack::SOLO,
        rows,
        features,
        z: 0,
        out: rows * features,
        gamma: 0,
        stats: 0,
    }
}

/// Model buffers for a batch-norm forward: gamma and beta as parameters, z and room for y
/// as activations, the statistics as state.
fn bn_forward_model(
    ctx: &Context,
    k: &Kernels,
    z: &[f32],
    gamma: &[f32],
    beta: &[f32],
    stats: &reference::BnStats,
) -> Result<crate::gpu::ModelBuffers, GpuError> {
    let acts = [z, &vec![0.0; z.len()]].concat();
    model(
        ctx,
        k,
        &[gamma, beta].concat(),
        &acts,
        &[],
        &stats.flat(),
        &[0],
    )
}

/// The training forward: batch statistics (and running ones updated), then the fused
/// apply with ReLU and dropout.
pub fn batch_norm_training(
    ctx: &Context,
    k: &Kernels,
    variant: &str,
) -> Result<Vec<Row>, GpuError> {
    let mut out = Vec::new();
    for (i, (rows, f)) in BN_SHAPES.into_iter().enumerate() {
        let (z, gamma, beta, stats) = bn_inputs(rows, f, i as u64);
        let act = Activation {
            relu: true,
            dropout: Some(mask(0.2, 1)),
        };
        let at = bn_at(rows, f);
        let m = bn_forward_model(ctx, k, &z, &gamma, &beta, &stats)?;
        run(ctx, &m, &no_data(ctx, k)?, |p| {
            k.batch_norm_stats(p, &at);
            k.batch_norm_apply(p, &at, false, act);
        });
        let mut want_stats = stats.clone();
        reference::batch_norm_stats(&mut want_stats, &z, rows);
        let mut want = vec![0.0; z.len()];
        reference::batch_norm_apply(&mut want, &z, &gamma, &beta, &want_stats, false, act);
        let shape = format!("{rows} rows x {f} features");
        let got = read_f32(ctx, &m.state, 0, 4 * f)?;
        out.push(compare(
            "batch_norm_stats",
            variant,
            shape.clone(),
            &got,
            &want_stats.flat(),
            1e-4,
            1e-4,
        ));
        // y is gamma * xhat with xhat up to sqrt(rows): relative 1e-4 of inv_std carries
        let got = read_f32(ctx, &m.acts, z.len(), z.len())?;
        out.push(compare(
            "batch_norm_apply+relu+dropout",
            variant,
            shape,
            &got,
            &want,
            1e-4,
            1e-4,
        ));
    }
    Ok(out)
}

/// The evaluation forward: the running statistics, left unchanged.
pub fn batch_norm_evaluation(
    ctx: &Context,
    k: &Kernels,
    variant: &str,
) -> Result<Vec<Row>, GpuError> {
    let mut out = Vec::new();
    for (i, (rows, f)) in BN_SHAPES.into_iter().enumerate() {
        let (z, gamma, beta, stats) = bn_inputs(rows, f, 10 + i as u64);
        let act = Activation {
            relu: true,
            dropout: None,
        };
        let at = bn_at(rows, f);
        let m = bn_forward_model(ctx, k, &z, &gamma, &beta, &stats)?;
        run(ctx, &m, &no_data(ctx, k)?, |p| {
            k.batch_norm_apply(p, &at, true, act)
        });
        let mut want = vec![0.0; z.len()];
        reference::batch_norm_apply(&mut want, &z, &gamma, &beta, &stats, true, act);
        let shape = format!("{rows} rows x {f} features");
        let got = read_f32(ctx, &m.acts, z.len(), z.len())?;
        out.push(compare(
            "batch_norm_apply evaluation+relu",
            variant,
            shape.clone(),
            &got,
            &want,
            1e-5,
            1e-5,
        ));
        let got = read_f32(ctx, &m.state, 0, 4 * f)?;
        out.push(compare(
            "batch_norm_apply evaluation statistics kept",
            variant,
            shape,
            &got,
            &stats.flat(),
            0.0,
            0.0,
        ));
    }
    Ok(out)
}

/// The backward: dgamma and dbeta reduced over the batch, then dz.
pub fn batch_norm_backward(
    ctx: &Context,
    k: &Kernels,
    variant: &str,
) -> Result<Vec<Row>, GpuError> {
    let mut out = Vec::new();
    for (i, (rows, f)) in BN_SHAPES.into_iter().enumerate() {
        let (z, gamma, beta, mut stats) = bn_inputs(rows, f, 20 + i as u64);
        reference::batch_norm_stats(&mut stats, &z, rows);
        let g = random(&mut Rng::new(99), z.len(), 1.0);
        let at = bn_at(rows, f);
        let params = [&gamma[..], &beta].concat();
        let m = model(
            ctx,
            k,
            &params,
            &[&z[..], &g].concat(),
            &vec![0.0; 2 * f],
            &stats.flat(),
            &[0],
        )?;
        run(ctx, &m, &no_data(ctx, k)?, |p| {
            k.batch_norm_backward_reduce(p, &at);
            k.batch_norm_backward_apply(p, &at);
        });
        let (mut dgamma, mut dbeta, mut dz) = (vec![0.0; f], vec![0.0; f], g.clone());
        reference::batch_norm_backward_reduce(&mut dgamma, &mut dbeta, &g, &z, &stats);
        reference::batch_norm_backward_apply(&mut dz, &z, &gamma, &dgamma, &dbeta, &stats);
        let shape = format!("{rows} rows x {f} features");
        let got = read_f32(ctx, &m.grads, 0, 2 * f)?;
        let want = [dgamma, dbeta].concat();
        out.push(compare(
            "batch_norm_backward_reduce",
            variant,
            shape.clone(),
            &got,
            &want,
            1e-4,
            1e-4,
        ));
        // dz is a difference of sums of `rows` terms scaled by inv_std: 1e-4 absolute
        let got = read_f32(ctx, &m.acts, z.len(), z.len())?;
        out.push(compare(
            "batch_norm_backward_apply",
            variant,
            shape,
            &got,
            &dz,
            1e-4,
            1e-3,
        ));
    }
    Ok(out)
}

/// (rows, classes, logit scale): partial workgroups, one class, a thousand classes, and
/// logits of 1e4 that overflow a naive exp.
pub const CROSS_ENTROPY_CASES: [(usize, usize, f32); 8] = [
    (1, 10, 5.0),
    (64, 1000, 5.0),
    (64, 10, 5.0),
    (513, 10, 5.0),
    (63, 7, 5.0),
    (65, 1, 5.0),
    (64, 10, 1e4),
    (513, 10, 1e4),
];

/// The fused softmax cross-entropy: summed loss and correct count, predictions, gradient;
/// and in a second run the probabilities `predict` reads instead of the gradient.
pub fn cross_entropy(ctx: &Context, k: &Kernels, variant: &str) -> Result<Vec<Row>, GpuError> {
    let mut out = Vec::new();
    for (seed, (rows, classes, scale)) in CROSS_ENTROPY_CASES.into_iter().enumerate() {
        let mut rng = Rng::new(seed as u64);
        let logits = random(&mut rng, rows * classes, scale);
        let labels: Vec<u32> = (0..rows).map(|_| rng.below(classes) as u32).collect();
        let n = logits.len();
        let at = CrossEntropyAt {
            pack: Pack::SOLO,
            rows,
            classes,
            logits: 0,
            output: Output::Grad(n),
            labels: 0,
            preds: rows,
            slot: 1,
        };
        let acts = [&logits[..], &vec![0.0; n]].concat();
        let ints = [&labels[..], &vec![0; rows]].concat();
        let m = model(ctx, k, &[0.0], &acts, &[], &[0.0; 3], &ints)?;
        run(ctx, &m, &no_data(ctx, k)?, |p| k.cross_entropy(p, &at));
        let (mut grad, mut preds) = (vec![0.0; n], vec![0; rows]);
        let (loss, correct) = reference::cross_entropy(
            reference::Output::Grad(&mut grad),
            &mut preds,
            &logits,
            &labels,
            classes,
        );
        let shape = format!("{rows} rows x {classes} classes, logits up to {scale}");
        let slot = read_f32(ctx, &m.state, 1, 2)?;
        // loss: one log/exp per row, summed over rows in f32: relative 1e-5 per row
        let rtol = 1e-5 * (rows as f32).sqrt().max(1.0);
        out.push(compare(
            "cross_entropy loss",
            variant,
            shape.clone(),
            &slot[..1],
            &[loss],
            1e-4,
            rtol,
        ));
        out.push(compare(
            "cross_entropy correct",
            variant,
            shape.clone(),
            &slot[1..],
            &[correct],
            0.0,
            0.0,
        ));
        let got: Vec<u32> = read_words(ctx, &m.ints, rows, rows)?;
        out.push(compare(
            "cross_entropy predictions",
            variant,
            shape.clone(),
            &floats(&got),
            &floats(&preds),
            0.0,
            0.0,
        ));
        let got = read_f32(ctx, &m.acts, n, n)?;
        out.push(compare(
            "cross_entropy gradient",
            variant,
            shape.clone(),
            &got,
            &grad,
            1e-6,
            1e-4,
        ));
        let probs_at = CrossEntropyAt {
            output: Output::Probs(n),
            ..at
        };
        run(ctx, &m, &no_data(ctx, k)?, |p| {
            k.cross_entropy(p, &probs_at)
        });
        let mut probs = vec![0.0; n];
        let out_probs = reference::Output::Probs(&mut probs);
        reference::cross_entropy(out_probs, &mut preds, &logits, &labels, classes);
        let got = read_f32(ctx, &m.acts, n, n)?;
        out.push(compare(
            "cross_entropy probabilities",
            variant,
            shape,
            &got,
            &probs,
            1e-6,
            1e-4,
        ));
    }
    Ok(out)
}

/// (optimizer, momentum, weight decay): each plain and with the settings it takes.
pub const OPTIMIZER_CASES: [(OptimizerKind, f32, f32); 6] = [
    (OptimizerKind::Sgd, 0.0, 0.0),
    (OptimizerKind::Sgd, 0.9, 1e-2),
    (OptimizerKind::Adam, 0.0, 0.0),
    (OptimizerKind::Adam, 0.0, 1e-2),
    (OptimizerKind::Rmsprop, 0.0, 0.0),
    (OptimizerKind::Rmsprop, 0.9, 1e-2),
];

/// Five steps of the optimizer on 1,000 parameters, a run alone (its rule's entry point) and
/// a pack's member (`optimizer_step`, the rule and settings from its member record):
/// parameters and both moments.
pub fn optimizer_step(
    ctx: &Context,
    k: &Kernels,
    variant: &str,
    kind: OptimizerKind,
    momentum: f32,
    weight_decay: f32,
) -> Result<Vec<Row>, GpuError> {
    let mut out = Vec::new();
    for in_pack in [false, true] {
        let form = optimizer_steps(ctx, k, variant, kind, momentum, weight_decay, in_pack)?;
        out.extend(form);
    }
    Ok(out)
}

/// `optimizer_step`'s checks of one form: alone, or as a pack's member (`in_pack`).
fn optimizer_steps(
    ctx: &Context,
    k: &Kernels,
    variant: &str,
    kind: OptimizerKind,
    momentum: f32,
    weight_decay: f32,
    in_pack: bool,
) -> Result<Vec<Row>, GpuError> {
    let n = 1000;
    let hyper = Hyper {
        kind,
        lr: 0.01,
        momentum,
        weight_decay,
    };
    let record = Member {
        kind: kind as u32,
        lr: hyper.lr,
        momentum,
        weight_decay,
        ..Member::default()
    };
    let (pack, ints) = match in_pack {
        // one member whose settings come from its record, as a pack's do
        true => (
            Pack {
                members: 1,
                params: word(n),
                acts: 0,
                state: word(2 * n),
                ints: word(MEMBER_WORDS),
                indices: 0,
                per_member: true,
            },
            bytemuck::cast_slice::<Member, u32>(&[record]).to_vec(),
        ),
        false => (Pack::SOLO, vec![0]),
    };
    let form = if in_pack { "a pack's member" } else { "alone" };
    let mut rng = Rng::new(5);
    let mut params = random(&mut rng, n, 1.0);
    let m = model(ctx, k, &params, &[0.0], &[], &vec![0.0; 2 * n], &ints)?;
    let (mut m1, mut m2) = (vec![0.0; n], vec![0.0; n]);
    let mut out = Vec::new();
    for t in 1..=5 {
        let grads = random(&mut rng, n, 1.0);
        ctx.queue
            .write_buffer(&m.grads, 0, bytemuck::cast_slice(&grads));
        // a pack's member takes its settings from its record, never from the immediates:
        // a decoy there shows it
        let given = match in_pack {
            true => Hyper {
                kind: OptimizerKind::Sgd,
                lr: 100.0,
                momentum: 0.0,
                weight_decay: 0.0,
            },
            false => hyper,
        };
        run(ctx, &m, &no_data(ctx, k)?, |p| {
            k.optimizer_step(p, &given, t, n, 0, &pack)
        });
        match kind {
            OptimizerKind::Sgd => reference::sgd(&mut params, &mut m1, &grads, &hyper),
            OptimizerKind::Adam => {
                reference::adam(&mut params, &mut m1, &mut m2, &grads, &hyper, t)
            }
            OptimizerKind::Rmsprop => {
                reference::rmsprop(&mut params, &mut m1, &mut m2, &grads, &hyper)
            }
        }
        let op = |what: &str| format!("optimizer_step {} {what}", kind.name());
        let shape = format!(
            "{n} parameters, momentum {momentum}, weight decay {weight_decay}, step {t}, {form}"
        );
        // the same f32 operations in the same order, up to fused multiply-adds and sqrt; a
        // momentum buffer near 0 is a difference of terms up to ~10 (d / sqrt(v) with alpha
        // 0.99), whose rounding sets its absolute error (NVIDIA's fused multiply-adds moved
        // two such elements 1.3e-6), so its absolute tolerance scales with its largest value
        let largest = m1.iter().fold(1.0f32, |a, w| a.max(w.abs()));
        let got = read_f32(ctx, &m.params, 0, n)?;
        out.push(compare(
            &op("parameters"),
            variant,
            shape.clone(),
            &got,
            &params,
            1e-6,
            1e-5,
        ));
        let got = read_f32(ctx, &m.state, 0, n)?;
        out.push(compare(
            &op("first moment"),
            variant,
            shape.clone(),
            &got,
            &m1,
            1e-6 * largest,
            1e-5,
        ));
        let got = read_f32(ctx, &m.state, n, n)?;
        out.push(compare(
            &op("second moment"),
            variant,
            shape,
            &got,
            &m2,
            1e-6,
            1e-5,
        ));
    }
    Ok(out)
}

//! Every kernel against its CPU twin in `reference.rs`, on seeded random inputs and shapes
//! that do not divide the tiles. The linear products run the checks `mlp-gpu check` runs
//! (src/check/linear.rs: its shapes and tolerance); the others are here.
//!
//! Tolerances. Element-wise kernels (gather, dropout, batch-norm apply) do a handful of f32
//! operations: 1e-5. Reductions over a batch of 513 rows (batch-norm statistics, loss
//! sums): 1e-4 relative.

use crate::common::*;
use mlp_gpu::check::linear::{self, mask, Product};
use mlp_gpu::gpu::batch_norm::BatchNormAt;
use mlp_gpu::gpu::cross_entropy::CrossEntropyAt;
use mlp_gpu::gpu::immediates::Pack;
use mlp_gpu::gpu::MatmulVariant;
use mlp_gpu::ops::{Activation, DropoutMask};
use mlp_gpu::optim::{Hyper, OptimizerKind};
use mlp_gpu::reference;
use mlp_gpu::rng::Rng;

/// Kernels run alone here, their settings from the immediates.
const SOLO: Pack = Pack::SOLO;

/// `product` through `check::linear` (its shapes, offsets and tolerance) on every variant
/// the adapter runs: every row within tolerance, and both forms of every register-block
/// variant run.
fn linear_case(product: Product) {
    let all: Vec<_> = variants().into_iter().map(|v| (v, kernels(v))).collect();
    let rows = linear::check(ctx(), &all, product).unwrap();
    for r in &rows {
        assert!(r.pass, "{r:?}");
    }
    for v in variants().into_iter().filter(|v| v.cpu_forms().is_some()) {
        for fast in [true, false] {
            let ran = format!("{} {}", v.name(), linear::form(v, fast));
            assert!(rows.iter().any(|r| r.variant == ran), "{ran} ran");
        }
    }
}

const RELU: Activation = Activation {
    relu: true,
    dropout: None,
};

#[test]
fn linear_forward_matches_reference() {
    linear_case(Product::Forward(Activation::default()));
}

#[test]
fn linear_forward_fused_relu_matches_reference() {
    linear_case(Product::Forward(RELU));
}

#[test]
fn linear_forward_fused_relu_dropout_matches_unfused_reference() {
    linear_case(Product::Forward(Activation {
        relu: true,
        dropout: Some(mask(0.3, 1)),
    }));
}

#[test]
fn linear_backward_data_matches_reference() {
    linear_case(Product::BackwardData(None));
}

#[test]
fn linear_backward_data_fused_relu_backward_matches_reference() {
    linear_case(Product::BackwardData(Some(RELU)));
}

#[test]
fn linear_backward_data_fused_relu_dropout_backward_matches_unfused_reference() {
    linear_case(Product::BackwardData(Some(Activation {
        relu: true,
        dropout: Some(mask(0.25, 0)),
    })));
}

#[test]
fn linear_backward_weight_and_bias_match_reference() {
    linear_case(Product::BackwardWeight);
}

#[test]
fn relu_forward_and_backward_reference_semantics() {
    // The CPU twins the fused kernels are composed from: ReLU(0) = 0 and no gradient at 0.
    let mut y = vec![-1.0, 0.0, 2.0];
    reference::relu_forward(&mut y);
    assert_eq!(y, [0.0, 0.0, 2.0]);
    let mut dy = vec![5.0, 5.0, 5.0];
    reference::relu_backward(&mut dy, &y);
    assert_eq!(dy, [0.0, 0.0, 5.0]);
}

#[test]
fn gather_normalises_images_and_labels_through_indices() {
    let k = kernels(MatmulVariant::Block8x8);
    let images = 700;
    let mut rng = Rng::new(9);
    let pixels: Vec<u8> = (0..images * 784)
        .map(|_| (rng.next_u64() & 0xff) as u8)
        .collect();
    let labels: Vec<u8> = (0..images).map(|_| rng.below(10) as u8).collect();
    for rows in [1, 64, 513] {
        let mut indices: Vec<u32> = (0..images as u32).collect();
        rng.shuffle(&mut indices);
        let off = 5; // start inside the index list
        let d = data(k, &pixels, &labels, &indices);
        let m = model(
            k,
            &[0.0],
            &vec![0.0; 4 + rows * 784],
            &[],
            &[0.0],
            &vec![0; 2 + rows],
        );
        run(&m, &d, |p| k.gather(p, 4, 2, off, rows, &SOLO));
        let (mut x, mut y) = (vec![0.0; rows * 784], vec![0; rows]);
        reference::gather(&mut x, &mut y, &pixels, &labels, &indices[off..off + rows]);
        assert_close(
            &format!("gather x rows {rows}"),
            &read_f32(&m.acts, 4, x.len()),
            &x,
            1e-5,
            1e-5,
        );
        assert_eq!(read_u32(&m.ints, 2, rows), y, "gather labels rows {rows}");
    }
}

#[test]
fn dropout_mask_equals_cpu_mask_exactly() {
    let k = kernels(MatmulVariant::Block8x8);
    let n = 513 * 200;
    let x: Vec<f32> = (0..n).map(|i| 1.0 + i as f32 * 1e-3).collect();
    for p in [0.1, 0.5, 0.9] {
        let mask = mask(p, 2);
        let m = model(
            k,
            &[0.0],
            &[&x[..], &vec![0.0; n]].concat(),
            &[],
            &[0.0],
            &[0],
        );
        run(&m, &no_data(k), |pass| {
            k.dropout(pass, n, 0, n, mask, &SOLO)
        });
        let got = read_f32(&m.acts, n, n);
        let mut want = vec![0.0; n];
        reference::dropout(&mut want, &x, mask);
        let kept_gpu: Vec<bool> = got.iter().map(|&v| v != 0.0).collect();
        let kept_cpu: Vec<bool> = want.iter().map(|&v| v != 0.0).collect();
        assert!(kept_gpu == kept_cpu, "dropout p {p}: masks differ");
        assert_close(&format!("dropout p {p}"), &got, &want, 0.0, 1e-6);
    }
}

#[test]
fn dropout_kept_share_within_three_sigma() {
    let n = 1_000_000;
    for p in [0.1, 0.2, 0.4] {
        let m = mask(p, 1);
        let kept = (0..n).filter(|&e| m.keep(e)).count() as f64;
        let (mean, sd) = (
            n as f64 * (1.0 - p as f64),
            (n as f64 * p as f64 * (1.0 - p as f64)).sqrt(),
        );
        assert!(
            (kept - mean).abs() < 3.0 * sd,
            "dropout p {p}: kept {kept}, expected {mean} +- {sd}"
        );
        // and a different step or layer gives a different mask
        let other = DropoutMask { step: 4, ..m };
        assert!((0..1000).any(|e| m.keep(e) != other.keep(e)));
    }
}

#[test]
fn dropout_p_zero_keeps_everything_and_skips_the_hash() {
    let act = Activation {
        relu: false,
        dropout: Some(mask(0.0, 0)),
    };
    assert_eq!(act.dropout.unwrap().threshold(), 0);
    let mut y = vec![1.0, -2.0, 3.0];
    reference::dropout(&mut y.clone(), &y.clone(), mask(0.0, 0));
    let src = y.clone();
    reference::dropout(&mut y, &src, mask(0.0, 0));
    assert_eq!(y, src);
}

fn bn_case(
    rows: usize,
    features: usize,
    seed: u64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, reference::BnStats) {
    let mut rng = Rng::new(seed);
    // features with different means and scales, like real pre-activations
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

fn bn_shapes() -> Vec<(usize, usize)> {
    vec![(1, 7), (64, 63), (513, 65), (64, 200), (2, 1)]
}

#[test]
fn batch_norm_training_forward_matches_reference() {
    let k = kernels(MatmulVariant::Block8x8);
    for (i, (rows, f)) in bn_shapes().into_iter().enumerate() {
        let (z, gamma, beta, stats) = bn_case(rows, f, i as u64);
        let act = Activation {
            relu: true,
            dropout: Some(mask(0.2, 1)),
        };
        let at = BatchNormAt {
            pack: SOLO,
            rows,
            features: f,
            z: 0,
            out: z.len(),
            gamma: 0,
            stats: 0,
        };
        let m = model(
            k,
            &[&gamma[..], &beta].concat(),
            &[&z[..], &vec![0.0; z.len()]].concat(),
            &[],
            &stats.flat(),
            &[0],
        );
        run(&m, &no_data(k), |p| {
            k.batch_norm_stats(p, &at);
            k.batch_norm_apply(p, &at, false, act);
        });
        let mut want_stats = stats.clone();
        reference::batch_norm_stats(&mut want_stats, &z, rows);
        let mut want = vec![0.0; z.len()];
        reference::batch_norm_apply(&mut want, &z, &gamma, &beta, &want_stats, false, act);
        let what = format!("batch_norm rows {rows} features {f}");
        assert_close(
            &format!("{what} statistics"),
            &read_f32(&m.state, 0, 4 * f),
            &want_stats.flat(),
            1e-4,
            1e-4,
        );
        // y is gamma * xhat with xhat up to sqrt(rows): relative 1e-4 of inv_std carries
        assert_close(
            &format!("{what} output"),
            &read_f32(&m.acts, z.len(), z.len()),
            &want,
            1e-4,
            1e-4,
        );
    }
}

#[test]
fn batch_norm_evaluation_forward_uses_running_statistics() {
    let k = kernels(MatmulVariant::Block8x8);
    for (i, (rows, f)) in bn_shapes().into_iter().enumerate() {
        let (z, gamma, beta, stats) = bn_case(rows, f, 10 + i as u64);
        let act = Activation {
            relu: true,
            dropout: None,
        };
        let at = BatchNormAt {
            pack: SOLO,
            rows,
            features: f,
            z: 0,
            out: z.len(),
            gamma: 0,
            stats: 0,
        };
        let m = model(
            k,
            &[&gamma[..], &beta].concat(),
            &[&z[..], &vec![0.0; z.len()]].concat(),
            &[],
            &stats.flat(),
            &[0],
        );
        run(&m, &no_data(k), |p| k.batch_norm_apply(p, &at, true, act));
        let mut want = vec![0.0; z.len()];
        reference::batch_norm_apply(&mut want, &z, &gamma, &beta, &stats, true, act);
        assert_close(
            &format!("batch_norm eval rows {rows} features {f}"),
            &read_f32(&m.acts, z.len(), z.len()),
            &want,
            1e-5,
            1e-5,
        );
        assert_eq!(
            read_f32(&m.state, 0, 4 * f),
            stats.flat(),
            "evaluation leaves the statistics alone"
        );
    }
}

#[test]
fn batch_norm_backward_matches_reference() {
    let k = kernels(MatmulVariant::Block8x8);
    for (i, (rows, f)) in bn_shapes().into_iter().enumerate() {
        let (z, gamma, beta, mut stats) = bn_case(rows, f, 20 + i as u64);
        reference::batch_norm_stats(&mut stats, &z, rows);
        let g = random(&mut Rng::new(99), z.len(), 1.0);
        let at = BatchNormAt {
            pack: SOLO,
            rows,
            features: f,
            z: 0,
            out: z.len(),
            gamma: 0,
            stats: 0,
        };
        let m = model(
            k,
            &[&gamma[..], &beta].concat(),
            &[&z[..], &g].concat(),
            &vec![0.0; 2 * f],
            &stats.flat(),
            &[0],
        );
        run(&m, &no_data(k), |p| {
            k.batch_norm_backward_reduce(p, &at);
            k.batch_norm_backward_apply(p, &at);
        });
        let (mut dgamma, mut dbeta, mut dz) = (vec![0.0; f], vec![0.0; f], g.clone());
        reference::batch_norm_backward_reduce(&mut dgamma, &mut dbeta, &g, &z, &stats);
        reference::batch_norm_backward_apply(&mut dz, &z, &gamma, &dgamma, &dbeta, &stats);
        let what = format!("batch_norm backward rows {rows} features {f}");
        assert_close(
            &format!("{what} dgamma dbeta"),
            &read_f32(&m.grads, 0, 2 * f),
            &[dgamma, dbeta].concat(),
            1e-4,
            1e-4,
        );
        // dz is a difference of sums of `rows` terms scaled by inv_std: 1e-4 absolute
        assert_close(
            &format!("{what} dz"),
            &read_f32(&m.acts, z.len(), z.len()),
            &dz,
            1e-4,
            1e-3,
        );
    }
}

fn cross_entropy_case(rows: usize, classes: usize, logit_scale: f32, seed: u64) {
    let k = kernels(MatmulVariant::Block8x8);
    let mut rng = Rng::new(seed);
    let logits = random(&mut rng, rows * classes, logit_scale);
    let labels: Vec<u32> = (0..rows).map(|_| rng.below(classes) as u32).collect();
    let n = logits.len();
    let at = CrossEntropyAt {
        pack: SOLO,
        rows,
        classes,
        logits: 0,
        grad: Some(n),
        labels: 0,
        preds: rows,
        slot: 1,
    };
    let m = model(
        k,
        &[0.0],
        &[&logits[..], &vec![0.0; n]].concat(),
        &[],
        &[0.0; 3],
        &[&labels[..], &vec![0; rows]].concat(),
    );
    run(&m, &no_data(k), |p| k.cross_entropy(p, &at));
    let (mut grad, mut preds) = (vec![0.0; n], vec![0; rows]);
    let (loss, correct) =
        reference::cross_entropy(Some(&mut grad), &mut preds, &logits, &labels, classes);
    let what = format!("cross_entropy rows {rows} classes {classes} scale {logit_scale}");
    let slot = read_f32(&m.state, 1, 2);
    assert!(slot[0].is_finite(), "{what}: loss {}", slot[0]);
    // loss: one log/exp per row, summed over rows in f32: relative 1e-5 per row
    assert_close(
        &format!("{what} loss"),
        &slot[..1],
        &[loss],
        1e-4,
        1e-5 * (rows as f32).sqrt().max(1.0),
    );
    assert_eq!(slot[1], correct, "{what} correct");
    assert_eq!(read_u32(&m.ints, rows, rows), preds, "{what} argmax");
    assert_close(
        &format!("{what} grad"),
        &read_f32(&m.acts, n, n),
        &grad,
        1e-6,
        1e-4,
    );
}

#[test]
fn cross_entropy_matches_reference() {
    for (i, (rows, classes)) in [(1, 10), (64, 10), (513, 10), (63, 7), (65, 1)]
        .into_iter()
        .enumerate()
    {
        cross_entropy_case(rows, classes, 5.0, i as u64);
    }
}

#[test]
fn cross_entropy_huge_logits_stay_finite() {
    cross_entropy_case(64, 10, 1e4, 7);
    cross_entropy_case(513, 10, 1e4, 8);
}

fn optimizer_case(kind: OptimizerKind, momentum: f32, weight_decay: f32) {
    let k = kernels(MatmulVariant::Block8x8);
    let n = 1000;
    let hyper = Hyper {
        kind,
        lr: 0.01,
        momentum,
        weight_decay,
    };
    let mut rng = Rng::new(5);
    let mut params = random(&mut rng, n, 1.0);
    let m = model(k, &params, &[0.0], &[], &vec![0.0; 2 * n], &[0]);
    let (mut m1, mut m2) = (vec![0.0; n], vec![0.0; n]);
    for t in 1..=5 {
        let grads = random(&mut rng, n, 1.0);
        ctx()
            .queue
            .write_buffer(&m.grads, 0, bytemuck::cast_slice(&grads));
        run(&m, &no_data(k), |p| {
            k.optimizer_step(p, &hyper, t, n, 0, &SOLO)
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
        let what = format!(
            "{} momentum {momentum} wd {weight_decay} step {t}",
            kind.name()
        );
        // the same f32 operations in the same order, up to fused multiply-adds and sqrt;
        // a momentum buffer near 0 is a difference of terms up to ~10 (d / sqrt(v) with
        // alpha 0.99), whose rounding sets its absolute error (NVIDIA's fused multiply-adds
        // moved two such elements 1.3e-6), so its absolute tolerance scales with its
        // largest value
        let largest = m1.iter().fold(1.0f32, |a, w| a.max(w.abs()));
        assert_close(
            &format!("{what} params"),
            &read_f32(&m.params, 0, n),
            &params,
            1e-6,
            1e-5,
        );
        assert_close(
            &format!("{what} first moment"),
            &read_f32(&m.state, 0, n),
            &m1,
            1e-6 * largest,
            1e-5,
        );
        assert_close(
            &format!("{what} second moment"),
            &read_f32(&m.state, n, n),
            &m2,
            1e-6,
            1e-5,
        );
    }
}

#[test]
fn sgd_steps_match_reference() {
    optimizer_case(OptimizerKind::Sgd, 0.0, 0.0);
    optimizer_case(OptimizerKind::Sgd, 0.9, 1e-2);
}

#[test]
fn adam_steps_match_reference() {
    optimizer_case(OptimizerKind::Adam, 0.0, 0.0);
    optimizer_case(OptimizerKind::Adam, 0.0, 1e-2);
}

#[test]
fn rmsprop_steps_match_reference() {
    optimizer_case(OptimizerKind::Rmsprop, 0.0, 0.0);
    optimizer_case(OptimizerKind::Rmsprop, 0.9, 1e-2);
}

/// Values worked by hand from PyTorch's documented update rules (torch.optim docs).
#[test]
fn sgd_adam_rmsprop_hand_computed_values() {
    let hyper = |kind, momentum| Hyper {
        kind,
        lr: 0.1,
        momentum,
        weight_decay: 0.0,
    };
    // SGD with momentum 0.9, g = 1 twice: buf 1 then 1.9; p = 1 - 0.1 - 0.19 = 0.71
    let (mut p, mut b) = (vec![1.0], vec![0.0]);
    reference::sgd(&mut p, &mut b, &[1.0], &hyper(OptimizerKind::Sgd, 0.9));
    reference::sgd(&mut p, &mut b, &[1.0], &hyper(OptimizerKind::Sgd, 0.9));
    assert!((p[0] - 0.71).abs() < 1e-6, "sgd {}", p[0]);
    // Adam step 1 with g = 0.5: mhat = 0.5, vhat = 0.25, p -= 0.1 * 0.5 / (0.5 + 1e-8)
    let (mut p, mut m, mut v) = (vec![1.0], vec![0.0], vec![0.0]);
    reference::adam(
        &mut p,
        &mut m,
        &mut v,
        &[0.5],
        &hyper(OptimizerKind::Adam, 0.0),
        1,
    );
    assert!((p[0] - 0.9).abs() < 1e-6, "adam {}", p[0]);
    assert!(
        (m[0] - 0.05).abs() < 1e-7 && (v[0] - 0.00025).abs() < 1e-10 * 1e3,
        "adam moments {m:?} {v:?}"
    );
    // RMSprop step 1 with g = 2: v = 0.01 * 4 = 0.04, p -= 0.1 * 2 / (0.2 + 1e-8) = 1
    let (mut p, mut b, mut v) = (vec![1.0], vec![0.0], vec![0.0]);
    reference::rmsprop(
        &mut p,
        &mut b,
        &mut v,
        &[2.0],
        &hyper(OptimizerKind::Rmsprop, 0.0),
    );
    assert!((p[0] - 0.0).abs() < 1e-5, "rmsprop {}", p[0]);
}

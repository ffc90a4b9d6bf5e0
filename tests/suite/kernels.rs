//! Every kernel against its CPU twin in `reference.rs`, on seeded random inputs and shapes
//! that do not divide the tiles, through the checks `mlp-gpu check` runs (src/check: their
//! shapes and tolerances); here too what holds the twins themselves to outside truth (hand
//! computed optimizer steps, ReLU at 0, the dropout hash's statistics).

use crate::common::*;
use mlp_gpu::check::linear::{self, mask, Product};
use mlp_gpu::check::{ops, Row};
use mlp_gpu::gpu::MatmulVariant;
use mlp_gpu::ops::{Activation, DropoutMask};
use mlp_gpu::optim::{Hyper, OptimizerKind};
use mlp_gpu::reference;

/// The variant-independent kernels run on the block8x8 variant's compile.
fn block8x8() -> &'static mlp_gpu::gpu::Kernels {
    kernels(MatmulVariant::Block8x8)
}

/// Fails naming the first row of `rows` out of tolerance.
fn all_pass(rows: Result<Vec<Row>, mlp_gpu::gpu::GpuError>) {
    let rows = rows.expect("the check ran");
    assert!(!rows.is_empty());
    for r in &rows {
        assert!(r.pass, "{r:?}");
    }
}

/// `product` through `check::linear` (its shapes, offsets and tolerance) on every variant
/// the adapter runs: every row within tolerance, and both forms of every register-block
/// variant run.
fn linear_case(product: Product) {
    let all: Vec<_> = variants().into_iter().map(|v| (v, kernels(v))).collect();
    let rows = linear::check(ctx(), &all, product).unwrap();
    all_pass(Ok(rows.clone()));
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
    all_pass(ops::gather(ctx(), block8x8(), "block8x8"));
}

#[test]
fn dropout_mask_equals_cpu_mask_exactly() {
    all_pass(ops::dropout(ctx(), block8x8(), "block8x8"));
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

#[test]
fn batch_norm_training_forward_matches_reference() {
    all_pass(ops::batch_norm_training(ctx(), block8x8(), "block8x8"));
}

#[test]
fn batch_norm_evaluation_forward_uses_running_statistics() {
    all_pass(ops::batch_norm_evaluation(ctx(), block8x8(), "block8x8"));
}

#[test]
fn batch_norm_backward_matches_reference() {
    all_pass(ops::batch_norm_backward(ctx(), block8x8(), "block8x8"));
}

/// Every case of `ops::CROSS_ENTROPY_CASES`, logits of 1e4 among them: a loss that became
/// infinite or NaN fails its row.
#[test]
fn cross_entropy_matches_reference_and_huge_logits_stay_finite() {
    all_pass(ops::cross_entropy(ctx(), block8x8(), "block8x8"));
}

fn optimizer_cases(kind: OptimizerKind) {
    for (k, momentum, decay) in ops::OPTIMIZER_CASES.into_iter().filter(|c| c.0 == kind) {
        all_pass(ops::optimizer_step(
            ctx(),
            block8x8(),
            "block8x8",
            k,
            momentum,
            decay,
        ));
    }
}

#[test]
fn sgd_steps_match_reference() {
    optimizer_cases(OptimizerKind::Sgd);
}

#[test]
fn adam_steps_match_reference() {
    optimizer_cases(OptimizerKind::Adam);
}

#[test]
fn rmsprop_steps_match_reference() {
    optimizer_cases(OptimizerKind::Rmsprop);
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

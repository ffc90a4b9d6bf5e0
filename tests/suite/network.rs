//! Whole-network checks: the CPU reference's gradients against finite differences, and
//! full training steps on the GPU against the same steps on the CPU reference.

use crate::common::*;
use mlp_gpu::check::step;
use mlp_gpu::gpu::MatmulVariant;
use mlp_gpu::model::{Init, ParamLayout, Spec};
use mlp_gpu::optim::{Hyper, OptimizerKind};
use mlp_gpu::reference::{self, Network};
use mlp_gpu::rng::Rng;

fn mean_loss(net: &Network, x: &[f32], labels: &[u32]) -> f64 {
    let f = net.forward(x, labels.len(), true, 1, 0);
    let mut preds = vec![0; labels.len()];
    let none = reference::Output::None;
    let (sum, _) = reference::cross_entropy(none, &mut preds, f.logits(), labels, net.spec.classes);
    f64::from(sum) / labels.len() as f64
}

/// Central differences of the mean loss by every parameter of a tiny network with batch
/// norm and dropout (the mask is fixed by seed and step), against `Network::backward`.
/// The reference sums in f64 and rounds to f32 once per layer, so the loss carries about
/// 1e-7 relative error; with h = 3e-3 that is ~1e-4 in a difference quotient, under the
/// 1e-3 + 2 % tolerance, while a wrong formula is off by O(1).
#[test]
fn reference_gradients_match_finite_differences_with_batch_norm_and_dropout() {
    let spec = Spec {
        inputs: 5,
        hidden: vec![6, 4],
        classes: 3,
        batch_norm: true,
        dropout: 0.3,
    };
    let layout = ParamLayout::new(&spec);
    let mut rng = Rng::new(3);
    let params = layout.init(Init::Pytorch, 11);
    let mut net = Network::new(spec.clone(), params);
    // gamma and beta away from 1 and 0 so their gradients matter
    for l in &layout.layers {
        if let Some(g) = l.gamma {
            for p in &mut net.params[g..g + 2 * l.outputs] {
                *p += rng.uniform(0.5);
            }
        }
    }
    let rows = 8;
    let x = random(&mut rng, rows * spec.inputs, 2.0);
    let labels: Vec<u32> = (0..rows).map(|_| rng.below(3) as u32).collect();
    let f = net.forward(&x, rows, true, 1, 0);
    let mut dlogits = vec![0.0; rows * 3];
    let mut preds = vec![0; rows];
    let out = reference::Output::Grad(&mut dlogits);
    reference::cross_entropy(out, &mut preds, f.logits(), &labels, 3);
    let analytic = net.backward(&f, &dlogits);
    let h = 3e-3f32;
    let numeric: Vec<f32> = (0..layout.len)
        .map(|i| {
            let mut plus = net.clone();
            plus.params[i] += h;
            let mut minus = net.clone();
            minus.params[i] -= h;
            ((mean_loss(&plus, &x, &labels) - mean_loss(&minus, &x, &labels))
                / (2.0 * f64::from(h))) as f32
        })
        .collect();
    assert!(
        analytic.iter().any(|g| g.abs() > 1e-2),
        "gradients are not all trivial"
    );
    assert_close(
        "reference gradients vs finite differences",
        &analytic,
        &numeric,
        1e-3,
        2e-2,
    );
}

/// Three full training steps of `kind` on `variant` against the CPU network, through
/// `check::step` (what `mlp-gpu check` runs): the loss, every gradient and the parameters.
fn gpu_step_matches_cpu_step(kind: OptimizerKind, variant: MatmulVariant) {
    for row in step::check(ctx(), kernels(variant), variant, kind).unwrap() {
        assert!(row.pass, "{row:?}");
    }
}

/// The CPU variants and the adapter's own, then one of each tiling for SGD.
fn step_variants(all_tiled: bool) -> Vec<MatmulVariant> {
    use MatmulVariant::*;
    let mut v: Vec<_> = [Block8x8, Subgroup8, Tile64]
        .into_iter()
        .chain(all_tiled.then_some(Tile16))
        .filter(|v| variants().contains(v))
        .collect();
    if !v.contains(&ctx().variant) {
        v.push(ctx().variant);
    }
    v
}

#[test]
fn full_training_step_gpu_matches_cpu_sgd() {
    for v in step_variants(true) {
        gpu_step_matches_cpu_step(OptimizerKind::Sgd, v);
    }
}

#[test]
fn full_training_step_gpu_matches_cpu_adam() {
    for v in step_variants(false) {
        gpu_step_matches_cpu_step(OptimizerKind::Adam, v);
    }
}

#[test]
fn full_training_step_gpu_matches_cpu_rmsprop() {
    for v in step_variants(false) {
        gpu_step_matches_cpu_step(OptimizerKind::Rmsprop, v);
    }
}

/// 20 training steps on a 512-image subset, run independently on the GPU and on the CPU
/// reference from the same initial parameters. SGD: every batch loss within 1e-3 relative.
/// Adam and RMSProp turn every rounding-level gradient difference into a step of size lr
/// (they divide by the gradient's own magnitude), so the two trajectories drift apart
/// step by step: the first 3 losses within 1e-3, all 20 within 5e-2 + 5e-2 relative; the
/// strict per-step comparison is
/// `full_training_step_gpu_matches_cpu_*`.
fn twenty_steps_agree(kind: OptimizerKind) {
    let k = kernels(ctx().variant);
    let spec = Spec::new(784, vec![200, 200, 200], 10, true, 0.2);
    let rows = 128;
    let lr = if kind == OptimizerKind::Sgd {
        0.05
    } else {
        0.005
    };
    let hyper = Hyper {
        kind,
        lr,
        momentum: 0.0,
        weight_decay: 0.0,
    };
    let part = step::dataset(512, 2);
    let indices: Vec<u32> = (0..512).collect();
    let d = part_data(k, &part, &indices);
    let params = ParamLayout::new(&spec).init(Init::Pytorch, 0);
    let gpu = solo_network(k, &spec, params.clone(), hyper, 5, rows, 20, 0, 512);
    let mut cpu = Network::new(spec.clone(), params);
    let mut cpu_losses = Vec::new();
    for step in 0..20u32 {
        let off = (step as usize * rows) % 512;
        let batch = (&part, &indices[..]);
        let (x, y) = step::gpu_step_and_cpu_batch(ctx(), &gpu, k, &d, step, off, rows, batch);
        cpu_losses.push(cpu.train_step(&x, &y, &hyper, 5, step).loss / rows as f32);
    }
    let gpu_losses: Vec<f32> = gpu.read_slots(ctx(), 20).unwrap()[0]
        .iter()
        .map(|(l, _)| l / rows as f32)
        .collect();
    assert!(
        cpu_losses[19] < cpu_losses[0],
        "{}: the loss falls: {cpu_losses:?}",
        kind.name()
    );
    let what = format!("{} 20-step losses", kind.name());
    if kind == OptimizerKind::Sgd {
        assert_close(&what, &gpu_losses, &cpu_losses, 1e-4, 1e-3);
    } else {
        assert_close(&what, &gpu_losses[..3], &cpu_losses[..3], 1e-4, 1e-3);
        assert_close(&what, &gpu_losses, &cpu_losses, 5e-2, 5e-2);
    }
}

#[test]
fn twenty_steps_gpu_and_cpu_losses_agree_sgd_adam_rmsprop() {
    for kind in [
        OptimizerKind::Sgd,
        OptimizerKind::Adam,
        OptimizerKind::Rmsprop,
    ] {
        twenty_steps_agree(kind);
    }
}

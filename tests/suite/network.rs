//! Whole-network checks: the CPU reference's gradients against finite differences, and
//! full training steps on the GPU against the same steps on the CPU reference.

use crate::common::*;
use mlp_gpu::gpu::network::{GpuNetwork, Step};
use mlp_gpu::gpu::MatmulVariant;
use mlp_gpu::model::{Init, ParamLayout, Spec};
use mlp_gpu::optim::{Hyper, OptimizerKind};
use mlp_gpu::reference::{self, Network};
use mlp_gpu::rng::Rng;

fn mean_loss(net: &Network, x: &[f32], labels: &[u32]) -> f64 {
    let f = net.forward(x, labels.len(), true, 1, 0);
    let mut preds = vec![0; labels.len()];
    let (sum, _) = reference::cross_entropy(None, &mut preds, f.logits(), labels, net.spec.classes);
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
    reference::cross_entropy(Some(&mut dlogits), &mut preds, f.logits(), &labels, 3);
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

/// A random dataset of `n` images.
fn dataset(n: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let pixels = (0..n * 784).map(|_| (rng.next_u64() % 256) as u8).collect();
    let labels = (0..n).map(|_| rng.below(10) as u8).collect();
    (pixels, labels)
}

/// Runs training step `step` on the GPU over rows off..off+rows of the index list, and
/// returns the same batch gathered on the CPU (inputs, labels).
#[allow(clippy::too_many_arguments)]
fn gpu_step_and_cpu_batch(
    gpu: &GpuNetwork,
    k: &mlp_gpu::gpu::Kernels,
    d: &mlp_gpu::gpu::DataBuffers,
    step: u32,
    off: usize,
    rows: usize,
    (pixels, labels, indices): (&[u8], &[u8], &[u32]),
) -> (Vec<f32>, Vec<u32>) {
    let s = Step {
        index_off: off,
        rows,
        step,
        slot: step as usize,
    };
    run(&gpu.buffers, d, |p| gpu.encode_train_step(k, p, s));
    let mut x = vec![0.0; rows * 784];
    let mut y = vec![0; rows];
    reference::gather(&mut x, &mut y, pixels, labels, &indices[off..off + rows]);
    (x, y)
}

/// Copies the GPU's parameters, optimizer moments and batch-norm statistics into `cpu`
/// (its state buffer is the GPU's without the loss slots).
fn sync_from_gpu(cpu: &mut Network, gpu: &GpuNetwork) {
    let c = ctx();
    cpu.params = gpu.read_params(c, 0).unwrap();
    cpu.state = gpu.read_state(c, 0).unwrap()[gpu.state.saved()].to_vec();
}

/// One training step on the GPU and the same step on the CPU from the same state, three
/// times, for `kind`, with batch norm and dropout on. Compared: the batch loss, every
/// gradient, and the updated parameters. Adam and RMSProp divide by the gradient's own
/// size, so a gradient that is rounding noise (a linear bias in front of batch norm has a
/// true gradient of 0) may move its parameter by up to lr in either direction. So the
/// parameter tolerance is the gradient tolerance carried through each update rule.
fn gpu_step_matches_cpu_step(kind: OptimizerKind, variant: MatmulVariant) {
    let k = kernels(variant);
    let spec = Spec::new(vec![65, 7], true, 0.2);
    let rows = 64;
    let hyper = Hyper {
        kind,
        lr: 0.01,
        momentum: if kind == OptimizerKind::Adam {
            0.0
        } else {
            0.9
        },
        weight_decay: 1e-3,
    };
    let (pixels, labels) = dataset(200, 1);
    let indices: Vec<u32> = (0..200).rev().collect();
    let d = data(k, &pixels, &labels, &indices);
    let params = ParamLayout::new(&spec).init(Init::KaimingUniform, 4);
    let seed = 77;
    let gpu = solo_network(k, &spec, params.clone(), hyper, seed, rows, 4, 0, 200);
    let mut cpu = Network::new(spec.clone(), params);
    for step in 0..3u32 {
        sync_from_gpu(&mut cpu, &gpu);
        let off = step as usize * rows;
        let (x, y) =
            gpu_step_and_cpu_batch(&gpu, k, &d, step, off, rows, (&pixels, &labels, &indices));
        let f = cpu.forward(&x, rows, true, seed, step);
        let mut dlogits = vec![0.0; rows * 10];
        let mut preds = vec![0; rows];
        let (loss, _) =
            reference::cross_entropy(Some(&mut dlogits), &mut preds, f.logits(), &y, 10);
        let grads = cpu.backward(&f, &dlogits);
        let before = cpu.params.clone();
        let cpu_loss = cpu.train_step(&x, &y, &hyper, seed, step).0;
        assert_eq!(loss, cpu_loss);
        let what = format!("{} {} step {step}", kind.name(), variant.name());
        let (gpu_loss, _) = gpu.read_slots(ctx(), 4).unwrap()[0][step as usize];
        assert_close(&format!("{what} loss"), &[gpu_loss], &[loss], 1e-4, 1e-4);
        let gpu_grads = read_f32(&gpu.buffers.grads, 0, grads.len());
        assert_close(&format!("{what} gradients"), &gpu_grads, &grads, 1e-5, 1e-3);
        let got = gpu.read_params(ctx(), 0).unwrap();
        for (i, g) in grads.iter().enumerate() {
            // the gradient tolerance above, carried through the update rule
            let d = g + hyper.weight_decay * before[i];
            let grad_err = 1e-5 + 1e-3 * g.abs();
            let update = (cpu.params[i] - before[i]).abs();
            let carried = match kind {
                OptimizerKind::Sgd => 2.0 * hyper.lr * grad_err,
                // the update scales with d / |d|: its relative error is twice d's
                _ => (4.0 * update * grad_err / d.abs().max(1e-12))
                    .min(2.0 * update + 2.0 * hyper.lr),
            };
            let tol = 1e-6 + 1e-5 * cpu.params[i].abs() + carried;
            assert!(
                (got[i] - cpu.params[i]).abs() <= tol,
                "{what} param {i}: gpu {} cpu {} (grad {g}, tolerance {tol})",
                got[i],
                cpu.params[i]
            );
        }
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
    let spec = Spec::new(vec![200, 200, 200], true, 0.2);
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
    let (pixels, labels) = dataset(512, 2);
    let indices: Vec<u32> = (0..512).collect();
    let d = data(k, &pixels, &labels, &indices);
    let params = ParamLayout::new(&spec).init(Init::Pytorch, 0);
    let gpu = solo_network(k, &spec, params.clone(), hyper, 5, rows, 20, 0, 512);
    let mut cpu = Network::new(spec.clone(), params);
    let mut cpu_losses = Vec::new();
    for step in 0..20u32 {
        let off = (step as usize * rows) % 512;
        let (x, y) =
            gpu_step_and_cpu_batch(&gpu, k, &d, step, off, rows, (&pixels, &labels, &indices));
        cpu_losses.push(cpu.train_step(&x, &y, &hyper, 5, step).0 / rows as f32);
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

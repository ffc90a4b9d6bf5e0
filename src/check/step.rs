//! One full training step (gather, forward, loss, backward, optimizer) of a 784-65-7-10
//! network with batch norm and dropout on the GPU against the same step of the CPU network
//! (`reference::Network`), three steps from the same state each time. Compared: the batch
//! loss, every gradient, and the updated parameters.
//!
//! Adam and RMSProp divide by the gradient's own size, so a gradient that is rounding noise
//! (a linear bias in front of batch norm has a true gradient of 0) may move its parameter by
//! up to lr in either direction: the parameter tolerance is the gradient tolerance carried
//! through each update rule.

use super::{compare, read_f32, run, within, Row};
use crate::data::{Dtype, Normalization, Part, Values};
use crate::gpu::gather::Input;
use crate::gpu::network::{GpuNetwork, MemberInit, Room, Step};
use crate::gpu::{Context, DataBuffers, GpuError, Kernels, MatmulVariant};
use crate::model::{Init, ParamLayout, Spec};
use crate::optim::{Hyper, OptimizerKind};
use crate::reference::{self, Network};
use crate::rng::Rng;

const ROWS: usize = 64;
const IMAGES: usize = 200;
const SEED: u32 = 77;

fn hyper(kind: OptimizerKind) -> Hyper {
    Hyper {
        kind,
        lr: 0.01,
        momentum: if kind == OptimizerKind::Adam {
            0.0
        } else {
            0.9
        },
        weight_decay: 1e-3,
    }
}

/// Seeded 784-value 8-bit samples with labels of 10 classes.
pub fn dataset(n: usize, seed: u64) -> Part {
    let mut rng = Rng::new(seed);
    let values = (0..n * 784).map(|_| (rng.next_u64() % 256) as u8).collect();
    let labels = (0..n).map(|_| rng.below(10) as u32).collect();
    Part {
        values: Values::U8(values),
        labels,
    }
}

/// How these checks' networks gather `dataset`'s samples: 784 8-bit values, normalised as
/// runs before fitted normalisations were (one mean and std).
pub fn input() -> Input {
    Input {
        inputs: 784,
        dtype: Dtype::U8,
        norm: Normalization::fashion_legacy(),
    }
}

/// Runs training step `step` on the GPU over rows off..off+rows of the index list (its
/// loss into slot `step`), and returns the same batch gathered on the CPU (inputs, labels).
#[allow(clippy::too_many_arguments)]
pub fn gpu_step_and_cpu_batch(
    ctx: &Context,
    gpu: &GpuNetwork,
    k: &Kernels,
    d: &DataBuffers,
    step: u32,
    off: usize,
    rows: usize,
    (part, indices): (&Part, &[u32]),
) -> (Vec<f32>, Vec<u32>) {
    let s = Step {
        index_off: off,
        rows,
        step,
        slot: step as usize,
    };
    run(ctx, &gpu.buffers, d, |p| gpu.encode_train_step(k, p, s));
    let batch = &indices[off..off + rows];
    super::cpu_batch(part, batch, gpu.input.inputs, &gpu.input.norm)
}

/// Rows (loss, gradients, parameters) of three training steps of `kind` on `variant`.
pub fn check(
    ctx: &Context,
    k: &Kernels,
    variant: MatmulVariant,
    kind: OptimizerKind,
) -> Result<Vec<Row>, GpuError> {
    let spec = Spec::new(784, vec![65, 7], 10, true, 0.2);
    let hyper = hyper(kind);
    let part = dataset(IMAGES, 1);
    let indices: Vec<u32> = (0..IMAGES as u32).rev().collect();
    let d = DataBuffers::new(ctx, &k.data_layout, &part.values, &part.labels, &indices)?;
    let params = ParamLayout::new(&spec).init(Init::KaimingUniform, 4);
    let member = MemberInit {
        params: params.clone(),
        hyper,
        dropout: spec.dropout,
        seed: SEED,
    };
    let room = Room {
        rows: ROWS,
        slots: 4,
        preds_kept: 0,
        index_list: IMAGES,
    };
    let gpu = GpuNetwork::new(ctx, k, &spec, &[member], room, input())?;
    let mut cpu = Network::new(spec.clone(), params);
    let mut rows = Vec::new();
    let (v, shape) = (
        variant.name(),
        "784-65-7-10 bn dropout 0.2, batch 64".to_string(),
    );
    for step in 0..3u32 {
        cpu.params = gpu.read_params(ctx, 0)?;
        cpu.state = gpu.read_state(ctx, 0)?[gpu.state.saved()].to_vec();
        let batch = (&part, &indices[..]);
        let (x, y) =
            gpu_step_and_cpu_batch(ctx, &gpu, k, &d, step, step as usize * ROWS, ROWS, batch);
        let before = cpu.params.clone();
        let reference::Stepped { loss, grads, .. } = cpu.train_step(&x, &y, &hyper, SEED, step);
        let op = |what: &str| format!("train step {} {what} (step {step})", kind.name());
        let gpu_loss = gpu.read_slots(ctx, 4)?[0][step as usize].0;
        rows.push(compare(
            &op("loss"),
            v,
            shape.clone(),
            &[gpu_loss],
            &[loss],
            1e-4,
            1e-4,
        ));
        let gpu_grads = read_f32(ctx, &gpu.buffers.grads, 0, grads.len())?;
        rows.push(compare(
            &op("gradients"),
            v,
            shape.clone(),
            &gpu_grads,
            &grads,
            1e-5,
            1e-3,
        ));
        let got = gpu.read_params(ctx, 0)?;
        let carried = |i: usize, want: f32| {
            let g = grads[i];
            let d = g + hyper.weight_decay * before[i];
            let grad_err = 1e-5 + 1e-3 * g.abs();
            let update = (want - before[i]).abs();
            let carried = match kind {
                OptimizerKind::Sgd => 2.0 * hyper.lr * grad_err,
                // the update scales with d / |d|: its relative error is twice d's
                _ => (4.0 * update * grad_err / d.abs().max(1e-12))
                    .min(2.0 * update + 2.0 * hyper.lr),
            };
            1e-6 + 1e-5 * want.abs() + carried
        };
        let tol = "1e-6 abs + 1e-5 rel + the gradient's through the update".to_string();
        rows.push(within(
            &op("parameters"),
            v,
            shape.clone(),
            &got,
            &cpu.params,
            carried,
            tol,
        ));
    }
    Ok(rows)
}

//! Shared test toolkit: one device per test binary, buffers from slices, a pass runner,
//! seeded random data, and the one `assert_close` every numeric test uses.
#![allow(dead_code)]

pub mod cli;

use mlp_gpu::check;
use mlp_gpu::data::{Part, Values};
use mlp_gpu::gpu::network::{GpuNetwork, MemberInit, Room};
use mlp_gpu::gpu::{Context, DataBuffers, Kernels, MatmulVariant, ModelBuffers};
use mlp_gpu::model::Spec;
use mlp_gpu::optim::Hyper;
use mlp_gpu::rng::Rng;
use std::sync::OnceLock;

/// The test adapter: `MLP_GPU_TEST_ADAPTER` or the default choice (lavapipe in CI). A
/// missing adapter fails the test: CI has one, and a skipped kernel test checks nothing.
pub fn ctx() -> &'static Context {
    static CTX: OnceLock<Context> = OnceLock::new();
    CTX.get_or_init(|| {
        let choice = std::env::var("MLP_GPU_TEST_ADAPTER").ok();
        Context::new(choice.as_deref()).unwrap_or_else(|e| panic!("tests need a GPU adapter: {e}"))
    })
}

/// The kernels of `variant`, compiled once per test binary (JIT compiling the unrolled
/// matmul forms takes seconds on lavapipe). The variant must run on the test adapter
/// (`variants`).
pub fn kernels(variant: MatmulVariant) -> &'static Kernels {
    static CACHE: OnceLock<Vec<(MatmulVariant, Kernels)>> = OnceLock::new();
    let all = CACHE.get_or_init(|| {
        variants()
            .into_iter()
            .map(|v| (v, Kernels::with_variant(ctx(), v).expect("kernels compile")))
            .collect()
    });
    let at = all.iter().position(|(v, _)| *v == variant);
    &all[at.unwrap_or_else(|| panic!("{} does not run on this adapter", variant.name()))].1
}

/// The matmul variants the test adapter runs, found once per test binary, saying on stderr
/// which it cannot (subgroup8 needs subgroups of at least 8 lanes: lavapipe has them, wgpu's
/// GL backend none), so a test over variants never drops one unseen.
pub fn variants() -> Vec<MatmulVariant> {
    static RUN: OnceLock<Vec<MatmulVariant>> = OnceLock::new();
    RUN.get_or_init(|| {
        let info = &ctx().info;
        for v in MatmulVariant::ALL {
            if let Some(what) = v.lacks(info, ctx().device.features()) {
                eprintln!(
                    "notice: {} not tested: {} lacks {what}",
                    v.name(),
                    ctx().adapter_name()
                );
            }
        }
        let run = ctx().variants();
        if info.driver == "llvmpipe" && info.backend == wgpu::Backend::Vulkan {
            // CI's adapter: a missing variant there would be a test that checks nothing
            assert_eq!(run, MatmulVariant::ALL, "lavapipe runs every variant");
        }
        run
    })
    .clone()
}

/// One network alone on the GPU, as a run makes it (its optimizer, dropout p and seed in its
/// member record), gathering 784 8-bit values normalised as `check::step::input` says:
/// `rows` the largest batch, `slots` loss slots, `preds_kept` predictions and an index list
/// of `index_list` samples.
#[allow(clippy::too_many_arguments)]
pub fn solo_network(
    k: &Kernels,
    spec: &Spec,
    params: Vec<f32>,
    hyper: Hyper,
    seed: u32,
    rows: usize,
    slots: usize,
    preds_kept: usize,
    index_list: usize,
) -> GpuNetwork {
    let member = MemberInit {
        params,
        hyper,
        dropout: spec.dropout,
        seed,
    };
    let room = Room {
        rows,
        slots,
        preds_kept,
        index_list,
    };
    GpuNetwork::new(ctx(), k, spec, &[member], room, check::step::input())
        .expect("the network fits")
}

pub fn random(rng: &mut Rng, n: usize, bound: f32) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(bound)).collect()
}

/// Model buffers holding exactly these contents.
pub fn model(
    k: &Kernels,
    params: &[f32],
    acts: &[f32],
    grads: &[f32],
    state: &[f32],
    ints: &[u32],
) -> ModelBuffers {
    check::model(ctx(), k, params, acts, grads, state, ints).expect("buffers fit")
}

/// 8-bit samples and their labels on the GPU, with `indices` as the index buffer.
pub fn data(k: &Kernels, pixels: &[u8], labels: &[u32], indices: &[u32]) -> DataBuffers {
    let values = Values::U8(pixels.to_vec());
    DataBuffers::new(ctx(), &k.data_layout, &values, labels, indices).expect("data fits")
}

/// A data set's part on the GPU, with `indices` as the index buffer.
pub fn part_data(k: &Kernels, part: &Part, indices: &[u32]) -> DataBuffers {
    let (values, labels) = (&part.values, &part.labels);
    DataBuffers::new(ctx(), &k.data_layout, values, labels, indices).expect("data fits")
}

pub fn no_data(k: &Kernels) -> DataBuffers {
    check::no_data(ctx(), k).expect("data fits")
}

/// Encodes `f` into one compute pass over `m` and `d` and submits it.
pub fn run(m: &ModelBuffers, d: &DataBuffers, f: impl FnOnce(&mut wgpu::ComputePass<'_>)) {
    check::run(ctx(), m, d, f);
}

pub fn read_f32(buffer: &wgpu::Buffer, offset: usize, len: usize) -> Vec<f32> {
    check::read_f32(ctx(), buffer, offset, len).expect("readback")
}

/// Passes when every |got - want| <= atol + rtol |want|; otherwise fails naming the worst
/// element and the first mismatches with both values (`check::Comparison`, what `mlp-gpu
/// check` reports too).
pub fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) {
    let c = check::Comparison::new(got, want, |_, w| atol + rtol * w.abs());
    assert!(
        c.pass(),
        "{what} (atol {atol:e}, rtol {rtol:e}): {}",
        c.describe()
    );
}

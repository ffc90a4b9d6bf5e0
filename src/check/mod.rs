//! `mlp-gpu check`: the kernels against their CPU twins in `reference.rs` on the user's own
//! adapter, as rows a bug report can carry. The test suite runs these same checks (its
//! kernel and network tests call them), so the command and the tests cannot drift apart.
//!
//! Each check runs seeded random inputs through one entry point (every matmul variant the
//! adapter runs, over shapes that do not divide the tiles) or through a whole training step,
//! and compares with the CPU. `MLP_GPU_FAULT=skew@<op>` (tests only) makes op's GPU output
//! slightly wrong, so a test can see a failing check named.

pub mod linear;
pub mod ops;
pub mod step;

use crate::gpu::buffers::read_words;
use crate::gpu::{Context, DataBuffers, GpuError, Kernels, MatmulVariant, ModelBuffers};
use serde::Serialize;
use std::borrow::Cow;

/// One comparison: what ran, the worst errors, the tolerance, and whether every element
/// was within it.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub op: String,
    pub variant: String,
    pub shape: String,
    pub max_abs_error: f64,
    pub max_rel_error: f64,
    pub tolerance: String,
    pub pass: bool,
}

/// Compares `got` with `want` element by element against atol + rtol |want|. NaN fails.
pub fn compare(
    op: &str,
    variant: &str,
    shape: String,
    got: &[f32],
    want: &[f32],
    atol: f32,
    rtol: f32,
) -> Row {
    let tolerance = |_: usize, w: f32| atol + rtol * w.abs();
    within(
        op,
        variant,
        shape,
        got,
        want,
        tolerance,
        format!("{atol:e} abs + {rtol:e} rel"),
    )
}

/// `compare` with a tolerance of its own per element (`tol(i, want)`), described by
/// `tolerance`.
pub fn within(
    op: &str,
    variant: &str,
    shape: String,
    got: &[f32],
    want: &[f32],
    tol: impl Fn(usize, f32) -> f32,
    tolerance: String,
) -> Row {
    let got = skewed(op, got);
    let (mut max_abs, mut max_rel, mut pass) = (0.0f64, 0.0f64, got.len() == want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        pass &= err <= tol(i, w); // false for NaN too
        let err = if err.is_nan() {
            f64::INFINITY
        } else {
            f64::from(err)
        };
        max_abs = max_abs.max(err);
        max_rel = max_rel.max(err / f64::from(w.abs()).max(f64::from(f32::MIN_POSITIVE)));
    }
    Row {
        op: op.into(),
        variant: variant.into(),
        shape,
        max_abs_error: max_abs,
        max_rel_error: max_rel,
        tolerance,
        pass,
    }
}

/// `got`, made slightly wrong if MLP_GPU_FAULT=skew@<name> names `op` (or the start of it).
fn skewed<'a>(op: &str, got: &'a [f32]) -> Cow<'a, [f32]> {
    match crate::fault::skewed_op() {
        Some(name) if op.starts_with(&name) => {
            Cow::Owned(got.iter().map(|g| g * (1.0 + 1e-3) + 1e-3).collect())
        }
        _ => Cow::Borrowed(got),
    }
}

/// Model buffers holding exactly these contents (grads: the first params.len() words).
pub fn model(
    ctx: &Context,
    k: &Kernels,
    params: &[f32],
    acts: &[f32],
    grads: &[f32],
    state: &[f32],
    ints: &[u32],
) -> Result<ModelBuffers, GpuError> {
    let m = ModelBuffers::new(ctx, &k.model_layout, params, acts.len(), state, ints.len())?;
    ctx.queue
        .write_buffer(&m.acts, 0, bytemuck::cast_slice(acts));
    let grads = &grads[..grads.len().min(params.len())];
    ctx.queue
        .write_buffer(&m.grads, 0, bytemuck::cast_slice(grads));
    ctx.queue
        .write_buffer(&m.ints, 0, bytemuck::cast_slice(ints));
    Ok(m)
}

/// A dataset of one blank image, for kernels that read none.
pub fn no_data(ctx: &Context, k: &Kernels) -> Result<DataBuffers, GpuError> {
    DataBuffers::new(ctx, &k.data_layout, &[0; 784], &[0], &[0])
}

/// Encodes `f` into one compute pass over `m` and `d` and submits it.
pub fn run(
    ctx: &Context,
    m: &ModelBuffers,
    d: &DataBuffers,
    f: impl FnOnce(&mut wgpu::ComputePass<'_>),
) {
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_bind_group(0, &m.bind_group, &[]);
        pass.set_bind_group(1, &d.bind_group, &[]);
        f(&mut pass);
    }
    ctx.queue.submit([encoder.finish()]);
}

pub fn read_f32(
    ctx: &Context,
    buffer: &wgpu::Buffer,
    offset: usize,
    len: usize,
) -> Result<Vec<f32>, GpuError> {
    read_words(ctx, buffer, offset, len)
}

/// The kernels of every matmul variant `ctx` runs, compiled.
pub fn compile(ctx: &Context) -> Result<Vec<(MatmulVariant, Kernels)>, GpuError> {
    ctx.variants()
        .into_iter()
        .map(|v| Kernels::with_variant(ctx, v).map(|k| (v, k)))
        .collect()
}

/// Every check `mlp-gpu check` runs, in order: the kernels that do not depend on the matmul
/// variant (on the adapter's own), each linear product (plain and with its fused epilogues)
/// for every variant the adapter runs and every shape, then a full training step per
/// optimizer with batch norm and dropout for every variant.
pub fn all(ctx: &Context) -> Result<Vec<Row>, GpuError> {
    let compiled = compile(ctx)?;
    let kernels: Vec<(MatmulVariant, &Kernels)> = compiled.iter().map(|(v, k)| (*v, k)).collect();
    let mut rows = Vec::new();
    let (v, k) = kernels
        .iter()
        .find(|(v, _)| *v == ctx.variant)
        .unwrap_or(&kernels[0]);
    rows.extend(ops::all(ctx, k, v.name())?);
    for product in linear::PRODUCTS {
        rows.extend(linear::check(ctx, &kernels, product)?);
    }
    for kind in crate::optim::OptimizerKind::ALL {
        for &(v, k) in &kernels {
            rows.extend(step::check(ctx, k, v, kind)?);
        }
    }
    ctx.check()?;
    Ok(rows)
}

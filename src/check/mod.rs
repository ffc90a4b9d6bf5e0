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

/// One element of a comparison: where, what the GPU gave, what the CPU gave, and what
/// difference was allowed there.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Element {
    pub index: usize,
    pub got: f32,
    pub want: f32,
    pub tolerance: f32,
}

/// How many mismatches a comparison keeps to show.
const SHOWN: usize = 5;

/// `got` held to `want` element by element, |got - want| <= tol(i, want) (NaN fails): the
/// one comparison of the checks, `mlp-gpu check` and the tests. It keeps the worst element
/// (furthest past its tolerance, or nearest to it when all pass) and the first mismatches.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub len: (usize, usize),
    pub max_abs_error: f64,
    pub max_rel_error: f64,
    pub worst: Option<Element>,
    pub mismatches: Vec<Element>,
    /// Elements outside their tolerance, all of them.
    pub failed: usize,
}

impl Comparison {
    pub fn new(got: &[f32], want: &[f32], tol: impl Fn(usize, f32) -> f32) -> Self {
        let mut c = Comparison {
            len: (got.len(), want.len()),
            max_abs_error: 0.0,
            max_rel_error: 0.0,
            worst: None,
            mismatches: Vec::new(),
            failed: 0,
        };
        let mut worst_excess = f64::NEG_INFINITY;
        for (index, (&g, &w)) in got.iter().zip(want).enumerate() {
            let tolerance = tol(index, w);
            let err = (g - w).abs();
            let e = Element {
                index,
                got: g,
                want: w,
                tolerance,
            };
            let err = if err.is_nan() {
                f64::INFINITY
            } else {
                f64::from(err)
            };
            let within = (g - w).abs() <= tolerance; // false for NaN
            if !within {
                c.failed += 1;
                if c.mismatches.len() < SHOWN {
                    c.mismatches.push(e);
                }
            }
            // how far past its tolerance (1 = at it), the exact difference where none is allowed
            let excess = if tolerance > 0.0 {
                err / f64::from(tolerance)
            } else {
                err
            };
            if excess > worst_excess {
                worst_excess = excess;
                c.worst = Some(e);
            }
            c.max_abs_error = c.max_abs_error.max(err);
            let scale = f64::from(w.abs()).max(f64::from(f32::MIN_POSITIVE));
            c.max_rel_error = c.max_rel_error.max(err / scale);
        }
        c
    }

    /// Every element within its tolerance, and as many as wanted.
    pub fn pass(&self) -> bool {
        self.failed == 0 && self.len.0 == self.len.1
    }

    /// What went wrong, in one paragraph: how many differ, the worst, the first few.
    pub fn describe(&self) -> String {
        if self.len.0 != self.len.1 {
            return format!("{} elements where {} were wanted", self.len.0, self.len.1);
        }
        let show = |e: &Element| {
            format!(
                "[{}] got {:e} want {:e} (|diff| {:e}, allowed {:e})",
                e.index,
                e.got,
                e.want,
                (e.got - e.want).abs(),
                e.tolerance
            )
        };
        let mut text = format!("{} of {} elements differ", self.failed, self.len.1);
        if let Some(w) = &self.worst {
            text.push_str(&format!("; worst {}", show(w)));
        }
        if !self.mismatches.is_empty() {
            let first: Vec<String> = self.mismatches.iter().map(show).collect();
            text.push_str(&format!("; first: {}", first.join(", ")));
        }
        text
    }
}

/// One check as `mlp-gpu check` shows it: what ran, the worst errors, the tolerance,
/// whether every element was within it, and the worst element and first mismatches.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub op: String,
    pub variant: String,
    pub shape: String,
    pub max_abs_error: f64,
    pub max_rel_error: f64,
    pub tolerance: String,
    pub pass: bool,
    pub worst: Option<Element>,
    pub mismatches: Vec<Element>,
}

impl Row {
    /// The worst element as a table cell: "[i] got g want w".
    pub fn worst_text(&self) -> String {
        self.worst.map_or("–".into(), |e| {
            format!("[{}] {:.6e} vs {:.6e}", e.index, e.got, e.want)
        })
    }
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
    let c = Comparison::new(&got, want, tol);
    Row {
        op: op.into(),
        variant: variant.into(),
        shape,
        max_abs_error: c.max_abs_error,
        max_rel_error: c.max_rel_error,
        tolerance,
        pass: c.pass(),
        worst: c.worst,
        mismatches: c.mismatches,
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

/// The rows `batch` of `part` (`inputs` values each) gathered on the CPU and normalised by
/// `norm` (reference::gather into new buffers): the inputs and labels a GPU gather of the
/// same batch must give.
pub fn cpu_batch(
    part: &crate::data::Part,
    batch: &[u32],
    inputs: usize,
    norm: &crate::data::Normalization,
) -> (Vec<f32>, Vec<u32>) {
    let (mut x, mut y) = (vec![0.0; batch.len() * inputs], vec![0; batch.len()]);
    crate::reference::gather(
        &mut x,
        &mut y,
        &part.values,
        &part.labels,
        batch,
        inputs,
        norm,
    );
    (x, y)
}

/// A data set of one blank sample, for kernels that read none.
pub fn no_data(ctx: &Context, k: &Kernels) -> Result<DataBuffers, GpuError> {
    let blank = crate::data::Values::U8(vec![0; 4]);
    DataBuffers::new(ctx, &k.data_layout, &blank, &[0], &[0])
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

//! The three products of a linear layer (shaders/linear.wgsl) with their fused epilogues,
//! against `reference::linear_*`, for every matmul variant, over shapes that do not divide
//! the tiles (sizes 1, 4, 7, 12, 20, 36, 63, 65, 200, 784; batch 1, 64, 513; 4, 12, 20 and
//! 36 leave half a subgroup form's vec4 columns or bias lanes idle), each at offsets that
//! let the fast forms (vec4, subgroup) run and at offsets that force the scalar ones; and
//! that no form writes a word past its output (the next tensor of a layout may start
//! there; the buffers' 16-byte padding keeps the vec4 reads of a buffer's last tensor inside
//! it on backends that clamp out-of-range indices: Metal, Vulkan without robustness2).
//!
//! Tolerance: the twins sum in f64, the kernels in f32 in their own order, so a dot product
//! of K terms of size ~1 may be off by about K * 2^-24 relative to the sum of the absolute
//! terms. With inputs in [-1, 1) and K <= 784 that stays below 1e-4 absolute, and 1e-4
//! relative covers large outputs.

use super::{compare, model, no_data, read_f32, run, Row};
use crate::gpu::immediates::Pack;
use crate::gpu::{Context, GpuError, Kernels, MatmulVariant};
use crate::ops::{Activation, DropoutMask, LinearShape};
use crate::reference;
use crate::rng::Rng;

const ATOL: f32 = 1e-4;
const RTOL: f32 = 1e-4;

/// One product with one epilogue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Product {
    Forward(Activation),
    /// The epilogue is the backward of the input's activation, if it had one.
    BackwardData(Option<Activation>),
    BackwardWeight,
}

const RELU: Activation = Activation {
    relu: true,
    dropout: None,
};

/// A dropout mask as a layer of a step would have it.
pub const fn mask(p: f32, layer: u32) -> DropoutMask {
    DropoutMask {
        p,
        seed: 42,
        step: 3,
        layer,
    }
}

/// Every product and epilogue the network's plan uses.
pub const PRODUCTS: [Product; 7] = [
    Product::Forward(Activation {
        relu: false,
        dropout: None,
    }),
    Product::Forward(RELU),
    Product::Forward(Activation {
        relu: true,
        dropout: Some(mask(0.3, 1)),
    }),
    Product::BackwardData(None),
    Product::BackwardData(Some(RELU)),
    Product::BackwardData(Some(Activation {
        relu: true,
        dropout: Some(mask(0.25, 0)),
    })),
    Product::BackwardWeight,
];

impl Product {
    /// The entry point's name with its epilogue: `linear_forward+relu+dropout`.
    pub fn name(self) -> String {
        let (entry, act) = match self {
            Product::Forward(a) => ("linear_forward", Some(a)),
            Product::BackwardData(a) => ("linear_backward_data", a),
            Product::BackwardWeight => ("linear_backward_weight", None),
        };
        let act = act.unwrap_or_default();
        let relu = if act.relu { "+relu" } else { "" };
        let drop = if act.dropout.is_some() {
            "+dropout"
        } else {
            ""
        };
        format!("{entry}{relu}{drop}")
    }
}

pub fn shapes() -> Vec<LinearShape> {
    let mut v = Vec::new();
    for rows in [1, 64, 513] {
        for (inputs, outputs) in [
            (1, 7),
            (7, 1),
            (63, 65),
            (65, 63),
            (36, 20),
            (4, 12),
            (784, 200),
            (200, 10),
            (200, 784),
        ] {
            v.push(LinearShape {
                rows,
                inputs,
                outputs,
            });
        }
    }
    v
}

/// Offsets for tensors of `lens` words: each starts 4-aligned plus `pad`, so pad 0 lets the
/// fast forms run and pad 1 forces the scalar forms. Returns the offsets and the total.
fn place(pad: usize, lens: &[usize]) -> (Vec<usize>, usize) {
    let mut at = Vec::new();
    let mut end = 0;
    for &n in lens {
        let o = crate::model::align4(end) + pad;
        at.push(o);
        end = o + n;
    }
    (at, end)
}

/// Seeded operands of one layer shape: x [rows, in], w [out, in], b [out], dy [rows, out].
struct Operands {
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
    dy: Vec<f32>,
}

impl Operands {
    fn new(s: LinearShape, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut random = |n: usize| (0..n).map(|_| rng.uniform(1.0)).collect::<Vec<f32>>();
        Operands {
            x: random(s.rows * s.inputs),
            w: random(s.inputs * s.outputs),
            b: random(s.outputs),
            dy: random(s.rows * s.outputs),
        }
    }
}

/// The form a variant runs: tiled, or subgroup/vec4 where the fast forms apply, else scalar.
pub fn form(variant: MatmulVariant, fast: bool) -> &'static str {
    match (variant, fast) {
        (v, _) if v.tiled() => "tiled",
        (MatmulVariant::Subgroup8, true) => "subgroup",
        (_, true) => "vec4",
        (_, false) => "scalar",
    }
}

/// `product` for every shape, every variant in `kernels` and both paddings; a row per
/// result tensor, its variant named with the form that ran (`block8x8 vec4`).
pub fn check(
    ctx: &Context,
    kernels: &[(MatmulVariant, &Kernels)],
    product: Product,
) -> Result<Vec<Row>, GpuError> {
    let mut rows = Vec::new();
    for (i, s) in shapes().into_iter().enumerate() {
        let o = Operands::new(s, i as u64);
        let want = expected(product, s, &o);
        for &(variant, k) in kernels {
            for pad in [0, 1] {
                let (fast, got) = gpu(ctx, k, product, s, pad, &o)?;
                let v = format!("{} {}", variant.name(), form(variant, fast));
                let at = ["4-aligned", "4-aligned + 1"][pad];
                let shape = format!("{}x{}x{} at {at}", s.rows, s.inputs, s.outputs);
                for (got, (part, want, (atol, rtol))) in got.iter().zip(&want) {
                    let op = format!("{}{part}", product.name());
                    rows.push(compare(&op, &v, shape.clone(), got, want, *atol, *rtol));
                }
            }
        }
    }
    Ok(rows)
}

/// Words right after a product's last output (no gap) that must keep their contents: no
/// form writes past its output, not even the rest of its last vec4.
const GUARD: usize = 4;
/// What the guard holds: the garbage the gradient buffer starts with, and the same in acts.
const SENTINEL: f32 = 7.0;

/// What a row adds to the op's name, the values expected, and the tolerance (atol, rtol).
type Part = (&'static str, Vec<f32>, (f32, f32));

/// The CPU twin's results of `product`, each with what its row adds to the op's name (dW
/// and db for the weight product), then the guard after the last output, exactly unchanged.
fn expected(product: Product, s: LinearShape, o: &Operands) -> Vec<Part> {
    let mut parts: Vec<Part> = results(product, s, o)
        .into_iter()
        .map(|(name, want)| (name, want, (ATOL, RTOL)))
        .collect();
    parts.push((
        " leaves the words past its output",
        vec![SENTINEL; GUARD],
        (0.0, 0.0),
    ));
    parts
}

fn results(product: Product, s: LinearShape, o: &Operands) -> Vec<(&'static str, Vec<f32>)> {
    match product {
        Product::Forward(act) => {
            let mut y = vec![0.0; s.rows * s.outputs];
            reference::linear_forward(&mut y, &o.x, &o.w, &o.b, s, act);
            vec![("", y)]
        }
        Product::BackwardData(act) => {
            let x = input(o, act);
            let mut dx = vec![0.0; s.rows * s.inputs];
            reference::linear_backward_data(&mut dx, &o.dy, &o.w, &x, s, act);
            vec![("", dx)]
        }
        Product::BackwardWeight => {
            let (mut dw, mut db) = (vec![0.0; s.inputs * s.outputs], vec![0.0; s.outputs]);
            reference::linear_backward_weight(&mut dw, &mut db, &o.dy, &o.x, s);
            vec![(" dW", dw), (" db", db)]
        }
    }
}

/// The input x as a ReLU/dropout layer would have made it, so the backward's mask matters.
fn input(o: &Operands, act: Option<Activation>) -> Vec<f32> {
    let mut x = o.x.clone();
    if let Some(act) = act {
        reference::relu_forward(&mut x);
        if let Some(mask) = act.dropout {
            let src = x.clone();
            reference::dropout(&mut x, &src, mask);
        }
    }
    x
}

/// Runs `product` on the GPU with operands placed at `pad`, the guard right after its last
/// output:
/// whether a fast form ran, and the results with the guard last.
fn gpu(
    ctx: &Context,
    k: &Kernels,
    product: Product,
    s: LinearShape,
    pad: usize,
    o: &Operands,
) -> Result<(bool, Vec<Vec<f32>>), GpuError> {
    let solo = &Pack::SOLO;
    let put = |buf: &mut Vec<f32>, at: usize, v: &[f32]| buf[at..at + v.len()].copy_from_slice(v);
    match product {
        Product::Forward(act) => {
            let (p_at, p_len) = place(pad, &[o.w.len(), o.b.len()]);
            let mut params = vec![0.0; p_len];
            put(&mut params, p_at[0], &o.w);
            put(&mut params, p_at[1], &o.b);
            let (a_at, guard) = place(pad, &[o.x.len(), s.rows * s.outputs]);
            let mut acts = vec![0.0; guard + GUARD];
            put(&mut acts, a_at[0], &o.x);
            put(&mut acts, guard, &[SENTINEL; GUARD]);
            let m = model(ctx, k, &params, &acts, &[], &[0.0], &[0])?;
            run(ctx, &m, &no_data(ctx, k)?, |p| {
                k.linear_forward(p, a_at[1], a_at[0], p_at[0], p_at[1], s, act, solo)
            });
            let fast = k.linear_uses_fast_form(s, &[a_at[0], p_at[0]]).0;
            let y = read_f32(ctx, &m.acts, a_at[1], s.rows * s.outputs)?;
            Ok((fast, vec![y, read_f32(ctx, &m.acts, guard, GUARD)?]))
        }
        Product::BackwardData(act) => {
            let x = input(o, act);
            let (p_at, p_len) = place(pad, &[o.w.len()]);
            let mut params = vec![0.0; p_len];
            put(&mut params, p_at[0], &o.w);
            let (a_at, guard) = place(pad, &[x.len(), o.dy.len(), s.rows * s.inputs]);
            let mut acts = vec![0.0; guard + GUARD];
            put(&mut acts, a_at[0], &x);
            put(&mut acts, a_at[1], &o.dy);
            put(&mut acts, guard, &[SENTINEL; GUARD]);
            let m = model(ctx, k, &params, &acts, &[], &[0.0], &[0])?;
            run(ctx, &m, &no_data(ctx, k)?, |p| {
                k.linear_backward_data(p, a_at[2], a_at[1], p_at[0], a_at[0], s, act, solo)
            });
            let fast = k.linear_uses_fast_form(s, &[a_at[1], p_at[0]]).1;
            let dx = read_f32(ctx, &m.acts, a_at[2], s.rows * s.inputs)?;
            Ok((fast, vec![dx, read_f32(ctx, &m.acts, guard, GUARD)?]))
        }
        Product::BackwardWeight => {
            let n = s.inputs * s.outputs;
            let (a_at, a_len) = place(pad, &[o.x.len(), o.dy.len()]);
            let mut acts = vec![0.0; a_len];
            put(&mut acts, a_at[0], &o.x);
            put(&mut acts, a_at[1], &o.dy);
            let (g_at, guard) = place(pad, &[n, s.outputs]);
            let g_len = guard + GUARD;
            // grads start as garbage (the guard's sentinel): the kernel must overwrite, not
            // accumulate
            let m = model(
                ctx,
                k,
                &vec![0.0; g_len],
                &acts,
                &vec![SENTINEL; g_len],
                &[0.0],
                &[0],
            )?;
            run(ctx, &m, &no_data(ctx, k)?, |p| {
                k.linear_backward_weight(p, g_at[0], g_at[1], a_at[1], a_at[0], s, solo)
            });
            let fast = k.linear_uses_fast_form(s, &[a_at[1], a_at[0]]).2;
            let dw = read_f32(ctx, &m.grads, g_at[0], n)?;
            let db = read_f32(ctx, &m.grads, g_at[1], s.outputs)?;
            Ok((fast, vec![dw, db, read_f32(ctx, &m.grads, guard, GUARD)?]))
        }
    }
}

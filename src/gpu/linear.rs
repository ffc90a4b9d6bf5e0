//! Wrappers for `shaders/linear.wgsl`. Offsets are in f32 words of the buffer named.

use super::immediates::{word, Epilogue, Linear, Pack};
use super::Kernels;
use crate::ops::{Activation, LinearShape};

/// The three products of a layer, in the order of `MatmulVariant::cpu_forms`.
#[derive(Clone, Copy)]
enum Product {
    Forward,
    BackwardData,
    BackwardWeight,
}

/// The fast forms (vec4 and subgroup) need the dimensions they read along, and every
/// offset, to be multiples of 4 floats.
fn vec4_ok(words: &[usize]) -> bool {
    words.iter().all(|w| w % 4 == 0)
}

impl Kernels {
    /// Dispatches the variant's form of `product` (scalar, fast or tiled) for a layer of
    /// shape `s` whose operands start at `operands`: enough invocations for the blocks of
    /// its output C (see `origin` in linear.wgsl), plus one per output feature for the
    /// bias gradient.
    fn dispatch_product<T: bytemuck::Pod>(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        product: Product,
        s: LinearShape,
        operands: &[usize],
        imm: &T,
        pack: &Pack,
    ) {
        let (fwd, data, weight) = self.linear_uses_fast_form(s, operands);
        let (scalar, use_fast, (m, n), extra) = match product {
            Product::Forward => (&self.linear_forward, fwd, (s.rows, s.outputs), 0),
            Product::BackwardData => (&self.linear_backward_data, data, (s.rows, s.inputs), 0),
            Product::BackwardWeight => (
                &self.linear_backward_weight,
                weight,
                (s.outputs, s.inputs),
                s.outputs,
            ),
        };
        // Blocks of C, and whether a whole workgroup (else one invocation) computes each.
        let (kernel, (tm, tn), by_workgroup) = match &self.linear_cpu_forms {
            Some(forms) if use_fast => {
                let form = &forms[product as usize];
                (&form.kernel, form.tile, form.workgroup_per_tile)
            }
            _ if self.variant.tiled() => (scalar, self.variant.tile(), true),
            _ => (scalar, self.variant.block(), false),
        };
        let per_block = if by_workgroup { kernel.workgroup } else { 1 } as usize;
        self.dispatch(
            pass,
            kernel,
            imm,
            word(m.div_ceil(tm) * n.div_ceil(tn) * per_block + extra),
            pack,
        );
        if let Some(p) = &self.profiler {
            // 2 FLOPs per multiply-add
            let macs = s.rows * s.inputs * s.outputs * pack.members as usize;
            p.add_flops(2.0 * macs as f64);
        }
    }

    /// Whether the products of a layer of this shape at these offsets take the variant's
    /// fast forms (vec4 or subgroup): (forward, backward_data, backward_weight).
    pub fn linear_uses_fast_form(&self, s: LinearShape, offsets: &[usize]) -> (bool, bool, bool) {
        let base =
            self.linear_cpu_forms.is_some() && vec4_ok(offsets) && s.inputs.is_multiple_of(4);
        (
            base,
            base && s.outputs.is_multiple_of(4),
            base && s.outputs.is_multiple_of(4),
        )
    }
}

impl Kernels {
    /// acts[y] = act(acts[x] params[w]^T + params[b]); x [rows, in], w [out, in], y [rows, out].
    #[allow(clippy::too_many_arguments)]
    pub fn linear_forward(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        y: usize,
        x: usize,
        w: usize,
        b: usize,
        s: LinearShape,
        act: Activation,
        pack: &Pack,
    ) {
        let (rows, i, o) = (word(s.rows), word(s.inputs), word(s.outputs));
        let imm = Linear {
            m: rows,
            n: o,
            k: i,
            a_off: word(x),
            a_sm: i,
            a_sk: 1,
            b_off: word(w),
            b_sk: 1,
            b_sn: i,
            c_off: word(y),
            aux_off: word(b),
            a_ms: pack.acts,
            b_ms: pack.params,
            c_ms: pack.acts,
            aux_ms: pack.params,
            act: Epilogue::new(act, pack),
        };
        self.dispatch_product(pass, Product::Forward, s, &[x, w], &imm, pack);
    }

    /// acts[dx] = acts[dy] params[w], then, with `input_act`, the backward of the ReLU and
    /// dropout that produced the input acts[x]: the gradient passes where x > 0, times the
    /// dropout scale (the mask is read off x itself, so it needs no storage).
    #[allow(clippy::too_many_arguments)]
    pub fn linear_backward_data(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        dx: usize,
        dy: usize,
        w: usize,
        x: usize,
        s: LinearShape,
        input_act: Option<Activation>,
        pack: &Pack,
    ) {
        let (rows, i, o) = (word(s.rows), word(s.inputs), word(s.outputs));
        let mut imm = Linear {
            m: rows,
            n: i,
            k: o,
            a_off: word(dy),
            a_sm: o,
            a_sk: 1,
            b_off: word(w),
            b_sk: i,
            b_sn: 1,
            c_off: word(dx),
            aux_off: word(x),
            a_ms: pack.acts,
            b_ms: pack.params,
            c_ms: pack.acts,
            aux_ms: pack.acts,
            ..Default::default()
        };
        if let Some(act) = input_act {
            imm.act = Epilogue::new(act, pack);
            imm.act.relu = 1;
        }
        self.dispatch_product(pass, Product::BackwardData, s, &[dy, w], &imm, pack);
    }

    /// grads[dw] = acts[dy]^T acts[x] ([out, in]) and grads[db] = column sums of acts[dy].
    #[allow(clippy::too_many_arguments)]
    pub fn linear_backward_weight(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        dw: usize,
        db: usize,
        dy: usize,
        x: usize,
        s: LinearShape,
        pack: &Pack,
    ) {
        let (rows, i, o) = (word(s.rows), word(s.inputs), word(s.outputs));
        let imm = Linear {
            m: o,
            n: i,
            k: rows,
            a_off: word(dy),
            a_sm: 1,
            a_sk: o,
            b_off: word(x),
            b_sk: i,
            b_sn: 1,
            c_off: word(dw),
            aux_off: word(db),
            a_ms: pack.acts,
            b_ms: pack.acts,
            c_ms: pack.params,
            aux_ms: pack.params,
            ..Default::default()
        };
        self.dispatch_product(pass, Product::BackwardWeight, s, &[dy, x], &imm, pack);
    }
}

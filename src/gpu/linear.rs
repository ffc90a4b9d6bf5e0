//! Wrappers for `shaders/linear.wgsl`. Offsets are in f32 words of the buffer named.

use super::Kernels;
use crate::ops::{Activation, LinearShape};
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default)]
struct Linear {
    m: u32,
    n: u32,
    k: u32,
    a_off: u32,
    a_sm: u32,
    a_sk: u32,
    b_off: u32,
    b_sk: u32,
    b_sn: u32,
    c_off: u32,
    aux_off: u32,
    relu: u32,
    drop_threshold: u32,
    drop_scale: f32,
    seed: u32,
    step: u32,
    layer: u32,
}

impl Linear {
    fn with_activation(mut self, act: Activation) -> Self {
        (
            self.relu,
            self.drop_threshold,
            self.drop_scale,
            self.seed,
            self.step,
            self.layer,
        ) = act.words();
        self
    }
}

fn tiles(kernels: &Kernels, m: usize, n: usize) -> usize {
    let (tm, tn, _) = kernels.variant.shape();
    m.div_ceil(tm as usize) * n.div_ceil(tn as usize)
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
    ) {
        let (rows, i, o) = (s.rows as u32, s.inputs as u32, s.outputs as u32);
        let imm = Linear {
            m: rows,
            n: o,
            k: i,
            a_off: x as u32,
            a_sm: i,
            a_sk: 1,
            b_off: w as u32,
            b_sk: 1,
            b_sn: i,
            c_off: y as u32,
            aux_off: b as u32,
            ..Default::default()
        }
        .with_activation(act);
        self.dispatch(
            pass,
            &self.linear_forward,
            &imm,
            tiles(self, s.rows, s.outputs) as u32,
        );
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
    ) {
        let (rows, i, o) = (s.rows as u32, s.inputs as u32, s.outputs as u32);
        let mut imm = Linear {
            m: rows,
            n: i,
            k: o,
            a_off: dy as u32,
            a_sm: o,
            a_sk: 1,
            b_off: w as u32,
            b_sk: i,
            b_sn: 1,
            c_off: dx as u32,
            aux_off: x as u32,
            ..Default::default()
        };
        if let Some(act) = input_act {
            imm = imm.with_activation(act);
            imm.relu = 1;
        }
        self.dispatch(
            pass,
            &self.linear_backward_data,
            &imm,
            tiles(self, s.rows, s.inputs) as u32,
        );
    }

    /// grads[dw] = acts[dy]^T acts[x] ([out, in]) and grads[db] = column sums of acts[dy].
    pub fn linear_backward_weight(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        dw: usize,
        db: usize,
        dy: usize,
        x: usize,
        s: LinearShape,
    ) {
        let (rows, i, o) = (s.rows as u32, s.inputs as u32, s.outputs as u32);
        let imm = Linear {
            m: o,
            n: i,
            k: rows,
            a_off: dy as u32,
            a_sm: 1,
            a_sk: o,
            b_off: x as u32,
            b_sk: i,
            b_sn: 1,
            c_off: dw as u32,
            aux_off: db as u32,
            ..Default::default()
        };
        let invocations = tiles(self, s.outputs, s.inputs) + s.outputs;
        self.dispatch(pass, &self.linear_backward_weight, &imm, invocations as u32);
    }
}

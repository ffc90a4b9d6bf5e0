//! Plain CPU twins of every WGSL entry point, with the same names and the same argument
//! order (outputs first), written to be obviously right rather than fast; sums run in f64.
//! Below them, a CPU forward/backward of the whole network built from the twins.

use crate::model::{ParamLayout, Spec};
use crate::ops::{
    Activation, DropoutMask, LinearShape, BN_EPS, BN_MOMENTUM, PIXEL_MEAN, PIXEL_STD,
};
use crate::optim::{Hyper, ADAM_BETAS, EPS, RMSPROP_ALPHA};

/// x [rows, 784] <- normalised images `indices`; labels_out <- their labels.
pub fn gather(
    x: &mut [f32],
    labels_out: &mut [u32],
    pixels: &[u8],
    labels: &[u8],
    indices: &[u32],
) {
    for (r, &img) in indices.iter().enumerate() {
        let img = img as usize;
        for p in 0..784 {
            let v = f32::from(pixels[img * 784 + p]) / 255.0;
            x[r * 784 + p] = (v - PIXEL_MEAN) * (1.0 / PIXEL_STD);
        }
        labels_out[r] = u32::from(labels[img]);
    }
}

pub fn relu_forward(y: &mut [f32]) {
    for v in y {
        *v = v.max(0.0);
    }
}

/// Gradient through ReLU, read off its output: passes where y > 0.
pub fn relu_backward(dy: &mut [f32], y: &[f32]) {
    for (d, &v) in dy.iter_mut().zip(y) {
        if v <= 0.0 {
            *d = 0.0;
        }
    }
}

/// dst[e] = src[e] * keep(e) / (1 - p); forward on activations, backward on gradients.
pub fn dropout(dst: &mut [f32], src: &[f32], mask: DropoutMask) {
    let (threshold, scale) = (mask.threshold(), mask.scale());
    for (e, (d, &s)) in dst.iter_mut().zip(src).enumerate() {
        let keep = crate::rng::dropout_keep(mask.seed, mask.step, mask.layer, e as u32, threshold);
        *d = if keep { s * scale } else { 0.0 };
    }
}

fn apply_activation(y: &mut [f32], act: Activation) {
    if act.relu {
        relu_forward(y);
    }
    if let Some(mask) = act.dropout.filter(|m| m.p > 0.0) {
        let src = y.to_vec();
        dropout(y, &src, mask);
    }
}

/// y = act(x w^T + b); x [rows, in], w [out, in], y [rows, out].
pub fn linear_forward(
    y: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    s: LinearShape,
    act: Activation,
) {
    for r in 0..s.rows {
        for o in 0..s.outputs {
            let dot: f64 = (0..s.inputs)
                .map(|i| f64::from(x[r * s.inputs + i]) * f64::from(w[o * s.inputs + i]))
                .sum();
            y[r * s.outputs + o] = (dot + f64::from(b[o])) as f32;
        }
    }
    apply_activation(&mut y[..s.rows * s.outputs], act);
}

/// dx = dy w, then with `input_act` the backward of the ReLU and dropout that made x.
pub fn linear_backward_data(
    dx: &mut [f32],
    dy: &[f32],
    w: &[f32],
    x: &[f32],
    s: LinearShape,
    input_act: Option<Activation>,
) {
    for r in 0..s.rows {
        for i in 0..s.inputs {
            let dot: f64 = (0..s.outputs)
                .map(|o| f64::from(dy[r * s.outputs + o]) * f64::from(w[o * s.inputs + i]))
                .sum();
            dx[r * s.inputs + i] = dot as f32;
        }
    }
    if let Some(act) = input_act {
        let dx = &mut dx[..s.rows * s.inputs];
        if let Some(mask) = act.dropout.filter(|m| m.p > 0.0) {
            let src = dx.to_vec();
            dropout(dx, &src, mask);
        }
        relu_backward(dx, &x[..s.rows * s.inputs]);
    }
}

/// dw = dy^T x [out, in]; db = column sums of dy.
pub fn linear_backward_weight(
    dw: &mut [f32],
    db: &mut [f32],
    dy: &[f32],
    x: &[f32],
    s: LinearShape,
) {
    for o in 0..s.outputs {
        for i in 0..s.inputs {
            let dot: f64 = (0..s.rows)
                .map(|r| f64::from(dy[r * s.outputs + o]) * f64::from(x[r * s.inputs + i]))
                .sum();
            dw[o * s.inputs + i] = dot as f32;
        }
        db[o] = (0..s.rows)
            .map(|r| f64::from(dy[r * s.outputs + o]))
            .sum::<f64>() as f32;
    }
}

/// One batch-norm layer's statistics, as laid out in the `state` buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct BnStats {
    pub running_mean: Vec<f32>,
    pub running_var: Vec<f32>,
    pub mean: Vec<f32>,
    pub inv_std: Vec<f32>,
}

impl BnStats {
    pub fn new(features: usize) -> Self {
        BnStats {
            running_mean: vec![0.0; features],
            running_var: vec![1.0; features],
            mean: vec![0.0; features],
            inv_std: vec![1.0; features],
        }
    }

    /// The four vectors back to back, as in the state buffer.
    pub fn flat(&self) -> Vec<f32> {
        [
            &self.running_mean,
            &self.running_var,
            &self.mean,
            &self.inv_std,
        ]
        .into_iter()
        .flatten()
        .copied()
        .collect()
    }

    pub fn from_flat(v: &[f32]) -> Self {
        let f = v.len() / 4;
        BnStats {
            running_mean: v[..f].to_vec(),
            running_var: v[f..2 * f].to_vec(),
            mean: v[2 * f..3 * f].to_vec(),
            inv_std: v[3 * f..].to_vec(),
        }
    }
}

/// Batch mean and inv_std of z [rows, F] (biased variance), running statistics updated
/// with the unbiased variance.
pub fn batch_norm_stats(stats: &mut BnStats, z: &[f32], rows: usize) {
    let f = stats.mean.len();
    for j in 0..f {
        let col = || (0..rows).map(|r| f64::from(z[r * f + j]));
        let mean = col().sum::<f64>() / rows as f64;
        let sq: f64 = col().map(|v| (v - mean) * (v - mean)).sum();
        let var = sq / rows as f64;
        let unbiased = sq / (rows.max(2) - 1) as f64;
        stats.mean[j] = mean as f32;
        stats.inv_std[j] = (1.0 / (var + f64::from(BN_EPS)).sqrt()) as f32;
        let m = f64::from(BN_MOMENTUM);
        stats.running_mean[j] = ((1.0 - m) * f64::from(stats.running_mean[j]) + m * mean) as f32;
        stats.running_var[j] = ((1.0 - m) * f64::from(stats.running_var[j]) + m * unbiased) as f32;
    }
}

fn mean_and_inv_std(stats: &BnStats, j: usize, use_running: bool) -> (f32, f32) {
    if use_running {
        (
            stats.running_mean[j],
            (1.0 / (f64::from(stats.running_var[j]) + f64::from(BN_EPS)).sqrt()) as f32,
        )
    } else {
        (stats.mean[j], stats.inv_std[j])
    }
}

/// y = act(gamma (z - mean) inv_std + beta), batch or running statistics.
pub fn batch_norm_apply(
    y: &mut [f32],
    z: &[f32],
    gamma: &[f32],
    beta: &[f32],
    stats: &BnStats,
    use_running: bool,
    act: Activation,
) {
    let f = gamma.len();
    let n = z.len();
    for e in 0..n {
        let j = e % f;
        let (mean, inv_std) = mean_and_inv_std(stats, j, use_running);
        y[e] = gamma[j] * (z[e] - mean) * inv_std + beta[j];
    }
    apply_activation(&mut y[..n], act);
}

/// dgamma = sum g xhat, dbeta = sum g over the batch; g is the output gradient [rows, F].
pub fn batch_norm_backward_reduce(
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    g: &[f32],
    z: &[f32],
    stats: &BnStats,
) {
    let f = dgamma.len();
    let rows = z.len() / f;
    for j in 0..f {
        let xhat = |r: usize| f64::from((z[r * f + j] - stats.mean[j]) * stats.inv_std[j]);
        dgamma[j] = (0..rows)
            .map(|r| f64::from(g[r * f + j]) * xhat(r))
            .sum::<f64>() as f32;
        dbeta[j] = (0..rows).map(|r| f64::from(g[r * f + j])).sum::<f64>() as f32;
    }
}

/// In place: g <- dL/dz = gamma inv_std / R (R g - dbeta - xhat dgamma).
pub fn batch_norm_backward_apply(
    g: &mut [f32],
    z: &[f32],
    gamma: &[f32],
    dgamma: &[f32],
    dbeta: &[f32],
    stats: &BnStats,
) {
    let f = gamma.len();
    let rows = (z.len() / f) as f32;
    for e in 0..z.len() {
        let j = e % f;
        let xhat = (z[e] - stats.mean[j]) * stats.inv_std[j];
        g[e] = gamma[j] * stats.inv_std[j] / rows * (rows * g[e] - dbeta[j] - xhat * dgamma[j]);
    }
}

/// Softmax cross-entropy of logits [rows, C]: returns (sum of row losses, correct count);
/// writes argmax predictions and, if given, the gradient of the mean loss.
pub fn cross_entropy(
    grad: Option<&mut [f32]>,
    preds: &mut [u32],
    logits: &[f32],
    labels: &[u32],
    classes: usize,
) -> (f32, f32) {
    let rows = labels.len();
    let mut loss = 0.0f64;
    let mut correct = 0.0f32;
    let mut probs = vec![0.0f32; rows * classes];
    for r in 0..rows {
        let z = &logits[r * classes..(r + 1) * classes];
        let mut arg = 0;
        for c in 1..classes {
            if z[c] > z[arg] {
                arg = c;
            }
        }
        let m = f64::from(z[arg]);
        let s: f64 = z.iter().map(|&v| (f64::from(v) - m).exp()).sum();
        let y = labels[r] as usize;
        loss += m + s.ln() - f64::from(z[y]);
        correct += f32::from(u8::from(arg == y));
        preds[r] = arg as u32;
        for c in 0..classes {
            probs[r * classes + c] = ((f64::from(z[c]) - m).exp() / s) as f32;
        }
    }
    if let Some(grad) = grad {
        for r in 0..rows {
            for c in 0..classes {
                let onehot = f32::from(u8::from(c == labels[r] as usize));
                grad[r * classes + c] = (probs[r * classes + c] - onehot) / rows as f32;
            }
        }
    }
    (loss as f32, correct)
}

fn decayed(g: f32, p: f32, hyper: &Hyper) -> f32 {
    g + hyper.weight_decay * p
}

/// torch.optim.SGD (dampening 0, no Nesterov); `buf` is the momentum buffer, zero at start.
pub fn sgd(params: &mut [f32], buf: &mut [f32], grads: &[f32], hyper: &Hyper) {
    for i in 0..params.len() {
        let mut d = decayed(grads[i], params[i], hyper);
        if hyper.momentum != 0.0 {
            d += hyper.momentum * buf[i];
            buf[i] = d;
        }
        params[i] -= hyper.lr * d;
    }
}

/// torch.optim.Adam (betas 0.9/0.999, eps 1e-8) at 1-based step t.
pub fn adam(
    params: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    grads: &[f32],
    hyper: &Hyper,
    t: u32,
) {
    let (b1, b2) = ADAM_BETAS;
    let (bc1, bc2_sqrt) = Hyper::bias_corrections(t);
    for i in 0..params.len() {
        let d = decayed(grads[i], params[i], hyper);
        m[i] += (1.0 - b1) * (d - m[i]);
        v[i] = b2 * v[i] + (1.0 - b2) * d * d;
        params[i] -= (hyper.lr / bc1) * m[i] / (v[i].sqrt() / bc2_sqrt + EPS);
    }
}

/// torch.optim.RMSprop (alpha 0.99, eps 1e-8, not centred); `buf` the momentum buffer.
pub fn rmsprop(params: &mut [f32], buf: &mut [f32], v: &mut [f32], grads: &[f32], hyper: &Hyper) {
    for i in 0..params.len() {
        let d = decayed(grads[i], params[i], hyper);
        v[i] = RMSPROP_ALPHA * v[i] + (1.0 - RMSPROP_ALPHA) * d * d;
        let a = v[i].sqrt() + EPS;
        if hyper.momentum != 0.0 {
            buf[i] = hyper.momentum * buf[i] + d / a;
            params[i] -= hyper.lr * buf[i];
        } else {
            params[i] -= hyper.lr * d / a;
        }
    }
}

/// The whole network on the CPU, laid out exactly as on the GPU.
#[derive(Clone, Debug)]
pub struct Network {
    pub spec: Spec,
    pub layout: ParamLayout,
    pub params: Vec<f32>,
    /// Per linear layer, its batch norm's statistics.
    pub bn: Vec<Option<BnStats>>,
    /// Optimizer moments: first (or momentum buffer) and second.
    pub m: Vec<f32>,
    pub v: Vec<f32>,
}

/// Everything the backward pass needs from a forward pass.
#[derive(Clone, Debug)]
pub struct Forward {
    pub rows: usize,
    pub input: Vec<f32>,
    pub pre_norm: Vec<Option<Vec<f32>>>,
    pub outputs: Vec<Vec<f32>>,
    pub bn: Vec<Option<BnStats>>,
    /// The dropout of each layer's output (none for the last).
    pub acts: Vec<Activation>,
}

impl Forward {
    pub fn logits(&self) -> &[f32] {
        self.outputs.last().expect("a network has layers")
    }
}

impl Network {
    pub fn new(spec: Spec, params: Vec<f32>) -> Self {
        let layout = ParamLayout::new(&spec);
        let bn = layout
            .layers
            .iter()
            .map(|l| l.gamma.map(|_| BnStats::new(l.outputs)))
            .collect();
        let n = layout.len;
        Network {
            spec,
            layout,
            params,
            bn,
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// Forward pass; in training, batch statistics and dropout masks for `step`.
    pub fn forward(&self, x: &[f32], rows: usize, training: bool, seed: u32, step: u32) -> Forward {
        let mut input = x.to_vec();
        let mut f = Forward {
            rows,
            input: x.to_vec(),
            pre_norm: vec![],
            outputs: vec![],
            bn: self.bn.clone(),
            acts: vec![],
        };
        for (l, lp) in self.layout.layers.iter().enumerate() {
            let s = LinearShape {
                rows,
                inputs: lp.inputs,
                outputs: lp.outputs,
            };
            let dropout =
                (training && lp.hidden && self.spec.dropout > 0.0).then_some(DropoutMask {
                    p: self.spec.dropout,
                    seed,
                    step,
                    layer: l as u32,
                });
            let act = Activation {
                relu: lp.hidden,
                dropout,
            };
            let p = &self.params;
            let mut z = vec![0.0; rows * lp.outputs];
            let w = &p[lp.weight..lp.weight + lp.inputs * lp.outputs];
            let b = &p[lp.bias..lp.bias + lp.outputs];
            match (lp.gamma, f.bn[l].as_mut()) {
                (Some(g), Some(stats)) => {
                    linear_forward(&mut z, &input, w, b, s, Activation::default());
                    if training {
                        batch_norm_stats(stats, &z, rows);
                    }
                    let mut y = vec![0.0; z.len()];
                    let (gamma, beta) = (
                        &p[g..g + lp.outputs],
                        &p[g + lp.outputs..g + 2 * lp.outputs],
                    );
                    batch_norm_apply(&mut y, &z, gamma, beta, stats, !training, act);
                    f.pre_norm.push(Some(z));
                    input = y;
                }
                _ => {
                    linear_forward(&mut z, &input, w, b, s, act);
                    f.pre_norm.push(None);
                    input = z;
                }
            }
            f.outputs.push(input.clone());
            f.acts.push(act);
        }
        f
    }

    /// Gradients of the loss by every parameter, given the gradient by the logits.
    pub fn backward(&self, f: &Forward, dlogits: &[f32]) -> Vec<f32> {
        let mut grads = vec![0.0; self.layout.len];
        let mut g = dlogits.to_vec();
        for (l, lp) in self.layout.layers.iter().enumerate().rev() {
            let s = LinearShape {
                rows: f.rows,
                inputs: lp.inputs,
                outputs: lp.outputs,
            };
            if let (Some(gamma_at), Some(stats), Some(z)) = (lp.gamma, &f.bn[l], &f.pre_norm[l]) {
                let n = lp.outputs;
                let (dgamma, dbeta) = grads[gamma_at..gamma_at + 2 * n].split_at_mut(n);
                batch_norm_backward_reduce(dgamma, dbeta, &g, z, stats);
                let gamma = &self.params[gamma_at..gamma_at + n];
                batch_norm_backward_apply(&mut g, z, gamma, dgamma, dbeta, stats);
            }
            let x = if l == 0 { &f.input } else { &f.outputs[l - 1] };
            let (dw, rest) = grads[lp.weight..].split_at_mut(lp.bias - lp.weight);
            linear_backward_weight(dw, &mut rest[..lp.outputs], &g, x, s);
            if l > 0 {
                let mut dx = vec![0.0; f.rows * lp.inputs];
                linear_backward_data(
                    &mut dx,
                    &g,
                    &self.params[lp.weight..lp.weight + lp.inputs * lp.outputs],
                    x,
                    s,
                    Some(f.acts[l - 1]),
                );
                g = dx;
            }
        }
        grads
    }

    /// Forward, loss, backward and update on one batch; returns (loss sum, correct).
    pub fn train_step(
        &mut self,
        x: &[f32],
        labels: &[u32],
        hyper: &Hyper,
        seed: u32,
        step: u32,
    ) -> (f32, f32) {
        let rows = labels.len();
        let f = self.forward(x, rows, true, seed, step);
        let mut dlogits = vec![0.0; rows * self.spec.classes];
        let mut preds = vec![0; rows];
        let (loss, correct) = cross_entropy(
            Some(&mut dlogits),
            &mut preds,
            f.logits(),
            labels,
            self.spec.classes,
        );
        let grads = self.backward(&f, &dlogits);
        self.bn = f.bn;
        let t = step + 1;
        match hyper.kind {
            crate::optim::OptimizerKind::Sgd => sgd(&mut self.params, &mut self.m, &grads, hyper),
            crate::optim::OptimizerKind::Adam => {
                adam(&mut self.params, &mut self.m, &mut self.v, &grads, hyper, t)
            }
            crate::optim::OptimizerKind::Rmsprop => {
                rmsprop(&mut self.params, &mut self.m, &mut self.v, &grads, hyper)
            }
        }
        (loss, correct)
    }
}

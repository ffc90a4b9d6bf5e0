//! Plain CPU twins of every WGSL entry point, with the same names and the same argument
//! order (outputs first), written to be obviously right rather than fast; sums run in f64.
//! Below them, the whole network on the CPU: the model's plan walked with one twin per stage.

use crate::data::{Normalization, Values};
use crate::model::{Act, ActLayout, Mode, ParamLayout, Plan, Spec, Stage, StateLayout};
use crate::ops::{Activation, DropoutMask, LinearShape, BN_EPS, BN_MOMENTUM};
use crate::optim::{Hyper, OptimizerKind, ADAM_BETAS, EPS, RMSPROP_ALPHA};

/// x [rows, inputs] <- samples `indices` of `values` (`inputs` a sample), normalised by
/// `norm`; labels_out <- their labels.
pub fn gather(
    x: &mut [f32],
    labels_out: &mut [u32],
    values: &Values,
    labels: &[u32],
    indices: &[u32],
    inputs: usize,
    norm: &Normalization,
) {
    for (r, &sample) in indices.iter().enumerate() {
        let sample = sample as usize;
        for c in 0..inputs {
            x[r * inputs + c] = norm.apply(values.get(sample * inputs + c), c);
        }
        labels_out[r] = labels[sample];
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

/// What `cross_entropy` writes besides the loss and predictions: nothing, the gradient of
/// the mean loss by the logits, or the probabilities.
pub enum Output<'a> {
    None,
    Grad(&'a mut [f32]),
    Probs(&'a mut [f32]),
}

/// Softmax cross-entropy of logits [rows, C]: returns (sum of row losses, correct count);
/// writes argmax predictions and `out`.
pub fn cross_entropy(
    out: Output<'_>,
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
    match out {
        Output::None => {}
        Output::Grad(grad) => {
            for r in 0..rows {
                for c in 0..classes {
                    let onehot = f32::from(u8::from(c == labels[r] as usize));
                    grad[r * classes + c] = (probs[r * classes + c] - onehot) / rows as f32;
                }
            }
        }
        Output::Probs(p) => p[..probs.len()].copy_from_slice(&probs),
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

/// The whole network on the CPU, laid out exactly as on the GPU and walked by the same
/// plan, one twin per stage.
#[derive(Clone, Debug)]
pub struct Network {
    pub spec: Spec,
    pub plan: Plan,
    pub layout: ParamLayout,
    pub state_layout: StateLayout,
    pub params: Vec<f32>,
    /// Optimizer moments and batch-norm statistics, laid out as the GPU's state buffer
    /// (without its loss slots).
    pub state: Vec<f32>,
}

/// One batch's buffers as a walk of the plan leaves them: activations (laid out as the
/// GPU's acts buffer), gradients, and parameters and state as updated.
#[derive(Clone, Debug)]
pub struct Forward {
    pub rows: usize,
    pub acts: ActLayout,
    pub buf: Vec<f32>,
    pub params: Vec<f32>,
    pub grads: Vec<f32>,
    pub state: Vec<f32>,
    /// The cross-entropy's (loss sum, correct count), once walked.
    pub loss: (f32, f32),
    /// The dropout counter of the forward pass, which its backward reuses.
    pub seed: u32,
    pub step: u32,
}

impl Forward {
    pub fn logits(&self) -> &[f32] {
        self.tensor(Act::Output(self.acts.output.len() - 1))
    }

    /// Activation tensor `a` of the batch's rows.
    pub fn tensor(&self, a: Act) -> &[f32] {
        &self.buf[self.acts.range(a, self.rows)]
    }

    fn tensor_mut(&mut self, a: Act) -> &mut [f32] {
        let r = self.acts.range(a, self.rows);
        &mut self.buf[r]
    }
}

/// The counters and settings of one walk.
struct Walk<'a> {
    labels: &'a [u32],
    hyper: Option<&'a Hyper>,
    seed: u32,
    step: u32,
}

/// What a training step of the CPU network gives back: the batch's summed loss and correct
/// count, and the gradients it applied.
pub struct Stepped {
    pub loss: f32,
    pub correct: f32,
    pub grads: Vec<f32>,
}

impl Network {
    pub fn new(spec: Spec, params: Vec<f32>) -> Self {
        let layout = ParamLayout::new(&spec);
        let state_layout = StateLayout::new(&layout, 0);
        Network {
            plan: Plan::new(&spec),
            state: state_layout.init(&layout),
            spec,
            layout,
            state_layout,
            params,
        }
    }

    /// Forward pass of `rows` rows of x; in training, batch statistics and dropout masks
    /// for `step`.
    pub fn forward(&self, x: &[f32], rows: usize, training: bool, seed: u32, step: u32) -> Forward {
        let mode = if training { Mode::Train } else { Mode::Eval };
        let mut f = self.batch(x, rows, seed, step);
        self.walk(&mut f, self.plan.forward(mode), &[], None);
        f
    }

    /// Gradients of the loss by every parameter, given the gradient by the logits.
    pub fn backward(&self, f: &Forward, dlogits: &[f32]) -> Vec<f32> {
        let mut f = f.clone();
        let last = self.layout.layers.len() - 1;
        f.tensor_mut(Act::Grad(last)).copy_from_slice(dlogits);
        self.walk(&mut f, self.plan.backward(), &[], None);
        f.grads
    }

    /// Runs `stages` on `f` with its dropout counter.
    fn walk(&self, f: &mut Forward, stages: &[Stage], labels: &[u32], hyper: Option<&Hyper>) {
        let w = Walk {
            labels,
            hyper,
            seed: f.seed,
            step: f.step,
        };
        for &s in stages {
            self.stage(f, s, &w);
        }
    }

    /// Forward, loss, backward and update on one batch (x gathered).
    pub fn train_step(
        &mut self,
        x: &[f32],
        labels: &[u32],
        hyper: &Hyper,
        seed: u32,
        step: u32,
    ) -> Stepped {
        let mut f = self.batch(x, labels.len(), seed, step);
        self.walk(&mut f, &self.plan.train, labels, Some(hyper));
        self.params = f.params;
        self.state = f.state;
        Stepped {
            loss: f.loss.0,
            correct: f.loss.1,
            grads: f.grads,
        }
    }

    /// Buffers for a batch of `rows` rows of x, with the network's state.
    fn batch(&self, x: &[f32], rows: usize, seed: u32, step: u32) -> Forward {
        let acts = ActLayout::new(&self.layout, rows);
        let mut buf = vec![0.0; acts.len];
        buf[acts.input..acts.input + x.len()].copy_from_slice(x);
        Forward {
            rows,
            buf,
            acts,
            params: self.params.clone(),
            grads: vec![0.0; self.layout.len],
            state: self.state.clone(),
            loss: (0.0, 0.0),
            seed,
            step,
        }
    }
}

impl Network {
    /// Runs the twin of `stage` on the buffers of `f`.
    fn stage(&self, f: &mut Forward, stage: Stage, w: &Walk) {
        let rows = f.rows;
        let layer = |l: usize| self.layout.layers[l];
        let shape = |l: usize| LinearShape {
            rows,
            inputs: layer(l).inputs,
            outputs: layer(l).outputs,
        };
        let act = |e| Activation::of(e, self.spec.dropout, w.seed, w.step);
        let stats_range = |l: usize| {
            let r = self.state_layout.batch_norm_range(l, layer(l).outputs);
            r.expect("a batch-norm layer")
        };
        let stats = |f: &Forward, l: usize| BnStats::from_flat(&f.state[stats_range(l)]);
        let gamma_beta = |p: &[f32], l: usize| {
            let (g, b) = layer(l).gamma_beta_ranges().expect("a batch-norm layer");
            (p[g].to_vec(), p[b].to_vec())
        };
        // out of f while the twins borrow f's other buffers; only the update writes it
        let mut params = std::mem::take(&mut f.params);
        match stage {
            Stage::Gather => {} // `batch` placed the gathered x
            Stage::LinearForward {
                layer: l,
                x,
                y,
                epilogue,
            } => {
                let (xs, lp) = (f.tensor(x).to_vec(), layer(l));
                let (w_, b) = (&params[lp.weight_range()], &params[lp.bias_range()]);
                linear_forward(f.tensor_mut(y), &xs, w_, b, shape(l), act(epilogue));
            }
            Stage::BatchNormStats { layer: l } => {
                let mut st = stats(f, l);
                batch_norm_stats(&mut st, f.tensor(Act::PreNorm(l)), rows);
                f.state[stats_range(l)].copy_from_slice(&st.flat());
            }
            Stage::BatchNormApply {
                layer: l,
                running,
                epilogue,
            } => {
                let (st, (g, b)) = (stats(f, l), gamma_beta(&params, l));
                let z = f.tensor(Act::PreNorm(l)).to_vec();
                let y = f.tensor_mut(Act::Output(l));
                batch_norm_apply(y, &z, &g, &b, &st, running, act(epilogue));
            }
            Stage::CrossEntropy { grad } => self.loss(f, grad, w.labels),
            Stage::BatchNormBackwardReduce { layer: l } => {
                let st = stats(f, l);
                let g = f.tensor(Act::Grad(l)).to_vec();
                let z = f.tensor(Act::PreNorm(l)).to_vec();
                let (gr, br) = layer(l).gamma_beta_ranges().expect("a batch-norm layer");
                let (dgamma, dbeta) = f.grads[gr.start..br.end].split_at_mut(gr.len());
                batch_norm_backward_reduce(dgamma, dbeta, &g, &z, &st);
            }
            Stage::BatchNormBackwardApply { layer: l } => {
                let (st, (g, _)) = (stats(f, l), gamma_beta(&params, l));
                let (dg, db) = gamma_beta(&f.grads, l);
                let z = f.tensor(Act::PreNorm(l)).to_vec();
                batch_norm_backward_apply(f.tensor_mut(Act::Grad(l)), &z, &g, &dg, &db, &st);
            }
            Stage::LinearBackwardWeight { layer: l, x } => {
                let (xs, dy) = (f.tensor(x).to_vec(), f.tensor(Act::Grad(l)).to_vec());
                let lp = layer(l);
                let (dw, rest) = f.grads[lp.weight..].split_at_mut(lp.bias - lp.weight);
                linear_backward_weight(dw, &mut rest[..lp.outputs], &dy, &xs, shape(l));
            }
            Stage::LinearBackwardData {
                layer: l,
                x,
                epilogue,
            } => {
                let (xs, dy) = (f.tensor(x).to_vec(), f.tensor(Act::Grad(l)).to_vec());
                let w_ = &params[layer(l).weight_range()];
                let dx = f.tensor_mut(Act::Grad(l - 1));
                linear_backward_data(dx, &dy, w_, &xs, shape(l), Some(act(epilogue)));
            }
            Stage::OptimizerStep => {
                let hyper = w
                    .hyper
                    .expect("a training walk has the optimizer's settings");
                let (m, v) = self.state_layout.moments();
                let (m, v) = f.state[..v.end].split_at_mut(m.end);
                let (p, g) = (&mut params, &f.grads);
                match hyper.kind {
                    OptimizerKind::Sgd => sgd(p, m, g, hyper),
                    OptimizerKind::Adam => adam(p, m, v, g, hyper, w.step + 1),
                    OptimizerKind::Rmsprop => rmsprop(p, m, v, g, hyper),
                }
            }
        }
        f.params = params;
    }

    /// The cross-entropy of the logits: loss and correct count into `f.loss`, and with
    /// `grad` the gradient by the logits into Grad(last).
    fn loss(&self, f: &mut Forward, grad: bool, labels: &[u32]) {
        let last = self.layout.layers.len() - 1;
        let logits = f.tensor(Act::Output(last)).to_vec();
        let mut preds = vec![0; f.rows];
        let mut dlogits = vec![0.0; logits.len()];
        let classes = self.spec.classes;
        let out = match grad {
            true => Output::Grad(&mut dlogits[..]),
            false => Output::None,
        };
        f.loss = cross_entropy(out, &mut preds, &logits, labels, classes);
        if grad {
            f.tensor_mut(Act::Grad(last)).copy_from_slice(&dlogits);
        }
    }
}

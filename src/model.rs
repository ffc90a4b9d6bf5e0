//! The network: its shape, where every tensor lives in the flat GPU buffers (and under which
//! PyTorch name), the initialisers, and the plan of its passes.

use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// PyTorch's nn.Linear default: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    Pytorch,
    /// He (Kaiming) uniform for ReLU: W ~ U(-sqrt(6/fan_in), sqrt(6/fan_in)), b = 0.
    KaimingUniform,
}

impl Init {
    pub fn name(self) -> &'static str {
        match self {
            Init::Pytorch => "pytorch",
            Init::KaimingUniform => "kaiming-uniform",
        }
    }
}

/// `Linear -> [BatchNorm1d] -> ReLU -> [Dropout]` per hidden layer, then a final `Linear`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub inputs: usize,
    pub hidden: Vec<usize>,
    pub classes: usize,
    pub batch_norm: bool,
    pub dropout: f32,
}

impl Spec {
    /// `inputs` -> hidden layers -> `classes`.
    pub fn new(
        inputs: usize,
        hidden: Vec<usize>,
        classes: usize,
        batch_norm: bool,
        dropout: f32,
    ) -> Self {
        Spec {
            inputs,
            hidden,
            classes,
            batch_norm,
            dropout,
        }
    }

    /// (in, out) of every linear layer.
    pub fn dims(&self) -> Vec<(usize, usize)> {
        let mut sizes = vec![self.inputs];
        sizes.extend(&self.hidden);
        sizes.push(self.classes);
        sizes.windows(2).map(|w| (w[0], w[1])).collect()
    }

    /// Multiply-adds of one sample's forward pass (the backward pass costs twice this).
    pub fn macs_per_sample(&self) -> usize {
        self.dims().iter().map(|(i, o)| i * o).sum()
    }
}

/// Rounds up to a multiple of 4 floats: every tensor starts 16-byte aligned, so kernels
/// can read it as vec4.
pub fn align4(words: usize) -> usize {
    words.div_ceil(4) * 4
}

/// Offsets of one linear layer's tensors in the flat parameter buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerParams {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: usize,
    pub bias: usize,
    /// gamma of the batch norm after this layer; beta follows at gamma + outputs.
    pub gamma: Option<usize>,
    pub hidden: bool,
}

impl LayerParams {
    /// W [out, in].
    pub fn weight_range(&self) -> Range<usize> {
        self.weight..self.weight + self.inputs * self.outputs
    }

    /// b [out].
    pub fn bias_range(&self) -> Range<usize> {
        self.bias..self.bias + self.outputs
    }

    /// Batch norm's gamma [out] and beta [out], if the layer has one.
    pub fn gamma_beta_ranges(&self) -> Option<(Range<usize>, Range<usize>)> {
        let (g, n) = (self.gamma?, self.outputs);
        Some((g..g + n, g + n..g + 2 * n))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamLayout {
    pub layers: Vec<LayerParams>,
    pub len: usize,
}

impl ParamLayout {
    pub fn new(spec: &Spec) -> Self {
        let dims = spec.dims();
        let mut len = 0;
        let layers = dims
            .iter()
            .enumerate()
            .map(|(l, &(inputs, outputs))| {
                let hidden = l + 1 < dims.len();
                let weight = align4(len);
                let bias = align4(weight + inputs * outputs);
                len = bias + outputs;
                let gamma = (hidden && spec.batch_norm).then(|| {
                    let g = align4(len);
                    len = g + 2 * outputs;
                    g
                });
                LayerParams {
                    inputs,
                    outputs,
                    weight,
                    bias,
                    gamma,
                    hidden,
                }
            })
            .collect();
        ParamLayout {
            layers,
            len: align4(len),
        }
    }

    /// Fresh parameters: weights and biases by `init`, batch norm gamma 1 and beta 0.
    pub fn init(&self, init: Init, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let mut p = vec![0.0f32; self.len];
        for l in &self.layers {
            let fan_in = l.inputs as f32;
            let (w_bound, b_bound) = match init {
                Init::Pytorch => (1.0 / fan_in.sqrt(), Some(1.0 / fan_in.sqrt())),
                Init::KaimingUniform => ((6.0 / fan_in).sqrt(), None),
            };
            for w in &mut p[l.weight..l.weight + l.inputs * l.outputs] {
                *w = rng.uniform(w_bound);
            }
            if let Some(bound) = b_bound {
                for b in &mut p[l.bias..l.bias + l.outputs] {
                    *b = rng.uniform(bound);
                }
            }
            if let Some(g) = l.gamma {
                p[g..g + l.outputs].fill(1.0);
            }
        }
        p
    }
}

/// Offsets in the `state` buffer: optimizer moments, batch-norm statistics, loss slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateLayout {
    /// First moment at 0, second at `params` (each `params` long).
    pub params: usize,
    /// Per linear layer: running_mean, running_var, batch mean, batch inv_std ([4, out]).
    pub batch_norm: Vec<Option<usize>>,
    /// Where the loss slots start: two floats per slot, the loss sum and correct count of
    /// one batch.
    pub slots_at: usize,
    pub len: usize,
}

impl StateLayout {
    pub fn new(params: &ParamLayout, slot_count: usize) -> Self {
        let mut len = 2 * params.len;
        let batch_norm = params
            .layers
            .iter()
            .map(|l| {
                l.gamma.map(|_| {
                    let at = len;
                    len += 4 * l.outputs;
                    at
                })
            })
            .collect();
        let slots_at = len;
        len += 2 * slot_count;
        StateLayout {
            params: params.len,
            batch_norm,
            slots_at,
            len,
        }
    }

    /// The first moment (or momentum buffer) and the second, each as long as the
    /// parameters.
    pub fn moments(&self) -> (Range<usize>, Range<usize>) {
        (0..self.params, self.params..2 * self.params)
    }

    /// Batch norm `l`'s statistics: running_mean, running_var, batch mean, batch inv_std,
    /// `features` each.
    pub fn batch_norm_range(&self, l: usize, features: usize) -> Option<Range<usize>> {
        self.batch_norm[l].map(|at| at..at + 4 * features)
    }

    /// What a run must keep to go on: the moments and batch-norm statistics, everything
    /// but the per-batch loss slots.
    pub fn saved(&self) -> Range<usize> {
        0..self.slots_at
    }

    /// The offset of loss slot `i`.
    pub fn slot(&self, i: usize) -> usize {
        self.slots_at + 2 * i
    }

    /// Initial state: zero moments, running mean 0 and running variance 1.
    pub fn init(&self, params: &ParamLayout) -> Vec<f32> {
        let mut s = vec![0.0f32; self.len];
        for (l, at) in params.layers.iter().zip(&self.batch_norm) {
            if let Some(at) = at {
                s[at + l.outputs..at + 2 * l.outputs].fill(1.0);
            }
        }
        s
    }
}

/// Offsets in the `acts` buffer for batches of up to `rows` rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActLayout {
    /// Input [rows, inputs].
    pub input: usize,
    /// Per linear layer: its output before batch norm (only with batch norm) [rows, out].
    pub pre_norm: Vec<Option<usize>>,
    /// Per linear layer: its activation after ReLU/dropout (logits for the last) [rows, out].
    pub output: Vec<usize>,
    /// Per linear layer: gradient of the loss by its linear output [rows, out].
    pub grad: Vec<usize>,
    /// Features of the input, and of each linear layer's output.
    pub inputs: usize,
    pub outputs: Vec<usize>,
    pub len: usize,
}

impl ActLayout {
    pub fn new(params: &ParamLayout, rows: usize) -> Self {
        let mut len = 0;
        let mut take = |n: usize| {
            let at = align4(len);
            len = at + rows * n;
            at
        };
        let input = take(params.layers[0].inputs);
        let mut pre_norm = Vec::new();
        let mut output = Vec::new();
        for l in &params.layers {
            pre_norm.push(l.gamma.map(|_| take(l.outputs)));
            output.push(take(l.outputs));
        }
        let grad = params.layers.iter().map(|l| take(l.outputs)).collect();
        ActLayout {
            input,
            pre_norm,
            output,
            grad,
            inputs: params.layers[0].inputs,
            outputs: params.layers.iter().map(|l| l.outputs).collect(),
            len,
        }
    }
}

/// Which flat buffer holds a tensor of `state_dict`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Home {
    Params,
    State,
    /// BatchNorm1d's num_batches_tracked: the run's step count, kept by the trainer.
    Steps,
}

/// One tensor of the network under its PyTorch name, and where it lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub home: Home,
    /// f32 offset in its buffer (0 for `Home::Steps`).
    pub at: usize,
}

impl NamedTensor {
    /// Its words in its buffer.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.at..self.at + self.shape.iter().product::<usize>()
    }
}

/// Every tensor named as PyTorch's state_dict of the same network as one nn.Sequential:
/// Linear, [BatchNorm1d], ReLU, [Dropout] per hidden layer, then Linear; every module takes
/// an index.
pub fn state_dict(params: &ParamLayout, state: &StateLayout, dropout: bool) -> Vec<NamedTensor> {
    let mut out = Vec::new();
    let mut push = |name: String, shape: Vec<usize>, home: Home, at: usize| {
        out.push(NamedTensor {
            name,
            shape,
            home,
            at,
        })
    };
    let mut index = 0;
    for (l, lp) in params.layers.iter().enumerate() {
        let (i, o) = (lp.inputs, lp.outputs);
        push(
            format!("{index}.weight"),
            vec![o, i],
            Home::Params,
            lp.weight,
        );
        push(format!("{index}.bias"), vec![o], Home::Params, lp.bias);
        index += 1;
        if !lp.hidden {
            continue;
        }
        if let (Some(g), Some(s)) = (lp.gamma, state.batch_norm[l]) {
            push(format!("{index}.weight"), vec![o], Home::Params, g);
            push(format!("{index}.bias"), vec![o], Home::Params, g + o);
            push(format!("{index}.running_mean"), vec![o], Home::State, s);
            push(format!("{index}.running_var"), vec![o], Home::State, s + o);
            push(
                format!("{index}.num_batches_tracked"),
                vec![],
                Home::Steps,
                0,
            );
            index += 1;
        }
        index += 1; // ReLU
        if dropout {
            index += 1;
        }
    }
    out
}

/// A tensor of the activations buffer (`ActLayout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// The gathered batch [rows, inputs].
    Input,
    /// Linear layer l's output before its batch norm [rows, out].
    PreNorm(usize),
    /// Linear layer l's activation after ReLU and dropout (the logits for the last).
    Output(usize),
    /// The gradient of the loss by linear layer l's output (by its batch norm's output
    /// until the batch norm's backward replaces it in place).
    Grad(usize),
}

impl ActLayout {
    /// The f32 offset of `a`; panics if the network has no such tensor (a plan bug).
    pub fn at(&self, a: Act) -> usize {
        match a {
            Act::Input => self.input,
            Act::PreNorm(l) => self.pre_norm[l].expect("a batch-norm layer"),
            Act::Output(l) => self.output[l],
            Act::Grad(l) => self.grad[l],
        }
    }

    /// The words of `a` for a batch of `rows` rows.
    pub fn range(&self, a: Act, rows: usize) -> std::ops::Range<usize> {
        let features = match a {
            Act::Input => self.inputs,
            Act::PreNorm(l) | Act::Output(l) | Act::Grad(l) => self.outputs[l],
        };
        self.at(a)..self.at(a) + rows * features
    }
}

/// What follows a product or a batch norm, fused into it: ReLU, and dropout with the mask
/// of linear layer `dropout`'s output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Epilogue {
    pub relu: bool,
    pub dropout: Option<usize>,
}

/// Training (batch statistics, dropout, gradients, the update) or evaluation (running
/// statistics, no dropout, loss and predictions only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// One dispatch of a training step or of an evaluation batch. Layers are linear-layer
/// indices; their parameters, gradients and batch-norm statistics are found through
/// `ParamLayout` and `StateLayout`, their activations through the `Act`s named here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Input <- the batch's normalised images; ints <- their labels.
    Gather,
    /// y <- epilogue(x W^T + b).
    LinearForward {
        layer: usize,
        x: Act,
        y: Act,
        epilogue: Epilogue,
    },
    /// Batch mean and inv_std of PreNorm(layer) into state; running statistics updated.
    BatchNormStats { layer: usize },
    /// Output(layer) <- epilogue(batch norm of PreNorm(layer)), with running statistics
    /// in evaluation.
    BatchNormApply {
        layer: usize,
        running: bool,
        epilogue: Epilogue,
    },
    /// Loss and predictions of Output(last); in training also Grad(last).
    CrossEntropy { grad: bool },
    /// dgamma, dbeta into grads from Grad(layer).
    BatchNormBackwardReduce { layer: usize },
    /// Grad(layer) <- the gradient by PreNorm(layer), in place.
    BatchNormBackwardApply { layer: usize },
    /// dW, db into grads from Grad(layer) and x.
    LinearBackwardWeight { layer: usize, x: Act },
    /// Grad(layer - 1) <- Grad(layer) W, through the backward of the epilogue that made
    /// x = Output(layer - 1) (read off x itself).
    LinearBackwardData {
        layer: usize,
        x: Act,
        epilogue: Epilogue,
    },
    /// Every parameter updated by the optimizer from grads.
    OptimizerStep,
}

/// The one description of a network's passes, walked by the GPU encoder
/// (`gpu::network`), the CPU reference (`reference::Network`) and the benchmark's count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub train: Vec<Stage>,
    pub eval: Vec<Stage>,
}

impl Plan {
    pub fn new(spec: &Spec) -> Self {
        Plan {
            train: Self::stages(spec, Mode::Train),
            eval: Self::stages(spec, Mode::Eval),
        }
    }

    /// The stages of a forward pass: those before the loss.
    pub fn forward(&self, mode: Mode) -> &[Stage] {
        let stages = match mode {
            Mode::Train => &self.train,
            Mode::Eval => &self.eval,
        };
        &stages[..Self::loss(stages)]
    }

    /// The stages of a backward pass: those of a training step between the loss and the
    /// update.
    pub fn backward(&self) -> &[Stage] {
        let end = self.train.len() - 1;
        debug_assert_eq!(self.train[end], Stage::OptimizerStep);
        &self.train[Self::loss(&self.train) + 1..end]
    }

    fn loss(stages: &[Stage]) -> usize {
        let loss = stages
            .iter()
            .position(|s| matches!(s, Stage::CrossEntropy { .. }));
        loss.expect("a plan has a loss")
    }

    fn stages(spec: &Spec, mode: Mode) -> Vec<Stage> {
        let layers = spec.hidden.len() + 1;
        let train = mode == Mode::Train;
        let input = |l: usize| {
            if l == 0 {
                Act::Input
            } else {
                Act::Output(l - 1)
            }
        };
        let epilogue = |l: usize, mode: Mode| Epilogue {
            relu: l + 1 < layers,
            dropout: (mode == Mode::Train && l + 1 < layers && spec.dropout > 0.0).then_some(l),
        };
        let norm = |l: usize| spec.batch_norm && l + 1 < layers;
        let mut s = vec![Stage::Gather];
        for l in 0..layers {
            if norm(l) {
                s.push(Stage::LinearForward {
                    layer: l,
                    x: input(l),
                    y: Act::PreNorm(l),
                    epilogue: Epilogue::default(),
                });
                if train {
                    s.push(Stage::BatchNormStats { layer: l });
                }
                s.push(Stage::BatchNormApply {
                    layer: l,
                    running: !train,
                    epilogue: epilogue(l, mode),
                });
            } else {
                s.push(Stage::LinearForward {
                    layer: l,
                    x: input(l),
                    y: Act::Output(l),
                    epilogue: epilogue(l, mode),
                });
            }
        }
        s.push(Stage::CrossEntropy { grad: train });
        if !train {
            return s;
        }
        for l in (0..layers).rev() {
            if norm(l) {
                s.push(Stage::BatchNormBackwardReduce { layer: l });
                s.push(Stage::BatchNormBackwardApply { layer: l });
            }
            s.push(Stage::LinearBackwardWeight {
                layer: l,
                x: input(l),
            });
            if l > 0 {
                s.push(Stage::LinearBackwardData {
                    layer: l,
                    x: input(l),
                    epilogue: epilogue(l - 1, Mode::Train),
                });
            }
        }
        s.push(Stage::OptimizerStep);
        s
    }
}

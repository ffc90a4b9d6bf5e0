//! Both networks, the CPU reference and the GPU one with every matmul variant, held to
//! PyTorch itself: `tests/fixtures/pytorch_steps.safetensors`, written by
//! `scripts/pytorch_fixture.py`, holds six cases of a 784-8-12-10 network (batch norm on and
//! off, dropout through mlp-gpu's own hash, both initialisers, each optimizer with the
//! study's and with other settings) trained by PyTorch for three steps of 16, 16 and 11 rows.
//! Kernel-against-twin tests cannot see a mistake the two share; these can.

use crate::common::*;
use mlp_gpu::data::{Normalization, Values};
use mlp_gpu::gpu::network::{EvalBatch, Step};
use mlp_gpu::gpu::MatmulVariant;
use mlp_gpu::model::{state_dict, Home, Init, ParamLayout, Spec, StateLayout};
use mlp_gpu::optim::{Hyper, OptimizerKind};
use mlp_gpu::reference::{self, Network};
use mlp_gpu::rng;
use safetensors::SafeTensors;
use serde::Deserialize;
use std::sync::OnceLock;

/// One case's settings, as the script wrote them.
#[derive(Clone, Debug, Deserialize)]
struct Case {
    name: String,
    optimizer: OptimizerKind,
    lr: f32,
    momentum: f32,
    weight_decay: f32,
    init: Init,
    batch_norm: bool,
    dropout: f32,
    seed: u32,
}

impl Case {
    fn hyper(&self) -> Hyper {
        Hyper {
            kind: self.optimizer,
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
        }
    }
}

struct Fixture {
    file: SafeTensors<'static>,
    cases: Vec<Case>,
    hidden: Vec<usize>,
    /// Rows of each of the three steps.
    batches: Vec<usize>,
    hash_inputs: Vec<[u32; 4]>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/pytorch_steps.safetensors"
        );
        let bytes: &'static [u8] = std::fs::read(path).expect("the fixture").leak();
        let (_, header) = SafeTensors::read_metadata(bytes).expect("a safetensors file");
        let meta = header.metadata().clone().expect("metadata");
        let json = |key: &str| meta.get(key).unwrap_or_else(|| panic!("metadata {key}"));
        Fixture {
            file: SafeTensors::deserialize(bytes).expect("a safetensors file"),
            cases: serde_json::from_str(json("cases")).expect("cases"),
            hidden: serde_json::from_str(json("hidden")).expect("hidden"),
            batches: serde_json::from_str(json("batches")).expect("batches"),
            hash_inputs: serde_json::from_str(json("hash_inputs")).expect("hash inputs"),
        }
    })
}

impl Fixture {
    fn bytes(&self, name: &str) -> &'static [u8] {
        self.file
            .tensor(name)
            .unwrap_or_else(|_| panic!("the fixture has {name}"))
            .data()
    }

    /// The batch's labels as class indices.
    fn labels(&self) -> Vec<u32> {
        self.bytes("batch.labels")
            .iter()
            .map(|&l| u32::from(l))
            .collect()
    }

    fn f32s(&self, name: &str) -> Vec<f32> {
        mlp_gpu::rundir::model_file::f32s(self.bytes(name))
    }

    fn spec(&self, c: &Case) -> Spec {
        Spec::new(784, self.hidden.clone(), 10, c.batch_norm, c.dropout)
    }

    /// PyTorch's initial linear parameters in our layout; batch norm starts as ours does
    /// (gamma 1, beta 0, which is also BatchNorm1d's).
    fn initial_params(&self, c: &Case) -> Vec<f32> {
        let layout = ParamLayout::new(&self.spec(c));
        let mut p = layout.init(c.init, 0);
        let kind = c.init.name().replace('-', "_");
        for (l, lp) in layout.layers.iter().enumerate() {
            let w = self.f32s(&format!("init.{kind}.linear{l}.weight"));
            let b = self.f32s(&format!("init.{kind}.linear{l}.bias"));
            p[lp.weight..lp.weight + w.len()].copy_from_slice(&w);
            p[lp.bias..lp.bias + b.len()].copy_from_slice(&b);
        }
        p
    }

    /// PyTorch's parameters and running statistics after the steps, in our layouts.
    fn final_state(&self, c: &Case) -> (Vec<f32>, Vec<f32>) {
        let params = ParamLayout::new(&self.spec(c));
        let state = StateLayout::new(&params, self.batches.len());
        let (mut p, mut st) = (params.init(c.init, 0), state.init(&params));
        for n in state_dict(&params, &state, c.dropout > 0.0) {
            let dst = match n.home {
                Home::Steps => continue,
                Home::Params => &mut p,
                Home::State => &mut st,
            };
            dst[n.range()].copy_from_slice(&self.f32s(&format!("{}.after3.{}", c.name, n.name)));
        }
        (p, st)
    }

    /// Step s's batch: the start of its rows in the fixture's images, and its row count.
    fn batch(&self, s: usize) -> (usize, usize) {
        (self.batches[..s].iter().sum(), self.batches[s])
    }

    /// Step s's inputs and labels, gathered (normalised) as the CPU reference does.
    fn inputs(&self, s: usize) -> (Vec<f32>, Vec<u32>) {
        let (start, rows) = self.batch(s);
        let indices: Vec<u32> = (start as u32..(start + rows) as u32).collect();
        let mut x = vec![0.0; rows * 784];
        let mut y = vec![0; rows];
        let pixels = Values::U8(self.bytes("batch.pixels").to_vec());
        let labels = self.labels();
        let norm = Normalization::fashion_legacy();
        reference::gather(&mut x, &mut y, &pixels, &labels, &indices, 784, &norm);
        (x, y)
    }
}

/// What one network produced for a case, in the flat layouts of `model`.
#[derive(Default)]
struct Trace {
    /// Per step: logits and mean loss.
    logits: Vec<Vec<f32>>,
    losses: Vec<f32>,
    /// Every gradient of step 0.
    grads: Vec<f32>,
    /// After the three steps: parameters and the state buffer's moments and statistics.
    params: Vec<f32>,
    state: Vec<f32>,
    /// The first batch in eval mode, from PyTorch's parameters and statistics after the
    /// steps (so that it checks evaluation alone, see `noise_bound`).
    eval_logits: Vec<f32>,
}

/// The tolerances and why. PyTorch and mlp-gpu both compute in f32 but sum in different
/// orders (the reference sums in f64), so every value carries a relative rounding error of a
/// few 1e-7 of the terms it sums. Logits (784-term dots, terms up to 10x the result): 1e-5
/// absolute and 1e-4 relative; the fixture's worst is a third of that. Gradients are sums of
/// 8-16 terms near their own size: 2e-6 and 2e-5, worst seen a quarter. After three steps,
/// parameters and moments have moved by lr-sized updates whose relative error is their
/// gradients': 2e-5 absolute (a few updates' 1e-4 of lr 0.05) and 1e-4 relative, worst a
/// quarter.
const OUT: (f32, f32) = (1e-5, 1e-4);
const GRADS: (f32, f32) = (2e-6, 2e-5);
const AFTER: (f32, f32) = (2e-5, 1e-4);
/// RMSProp's momentum buffer sums ratios d / sqrt(v) of order 1-10, each with the relative
/// error of its gradient d; a gradient that is a near-cancelling sum over the batch has a
/// relative error of up to 1e-4 x its terms over itself, seen as 3e-4 in the fixture.
const RATIOS: (f32, f32) = (1e-4, 1e-3);

/// A linear bias in front of batch norm has a true gradient of 0 (batch norm subtracts the
/// mean); both sides compute rounding noise of about 1e-8 instead, which Adam and RMSProp
/// divide by its own size: each step moves such a bias by up to 10 lr (RMSProp's first step
/// is lr g / (0.1 |g|)) in a direction neither side can predict, and momentum adds these up.
/// So those biases and their moments are held only to that bound, and so is the running
/// mean that follows them (it averages the biased output); training-mode outputs do not
/// see them (batch norm subtracts them again), but eval-mode outputs do, which is why
/// `eval_logits` starts from PyTorch's final state. The SGD case with batch norm moves
/// these biases by lr times the noise and is held to the usual tolerances.
fn noise_bound(c: &Case, name: &str, spec: &Spec) -> Option<f32> {
    let adaptive = c.optimizer != OptimizerKind::Sgd;
    // Sequential indices: Linear, BatchNorm1d, ReLU, [Dropout] per hidden layer
    let modules = 3 + usize::from(spec.dropout > 0.0);
    let before_bn = spec.batch_norm
        && (0..spec.hidden.len()).any(|l| {
            name == format!("{}.bias", l * modules)
                || name == format!("{}.running_mean", l * modules + 1)
        });
    (adaptive && before_bn).then(|| 3.0 * 10.0 * c.lr / (1.0 - c.momentum))
}

/// The optimizer state PyTorch keeps per parameter, and where ours sits in the state
/// buffer: the first moment or momentum buffer at the parameter's offset, the second
/// moment one parameter buffer further; and each one's tolerance.
fn moments(c: &Case) -> &'static [(&'static str, bool, (f32, f32))] {
    match (c.optimizer, c.momentum > 0.0) {
        (OptimizerKind::Sgd, false) => &[],
        (OptimizerKind::Sgd, true) => &[("momentum_buffer", false, AFTER)],
        (OptimizerKind::Adam, _) => &[("exp_avg", false, AFTER), ("exp_avg_sq", true, AFTER)],
        (OptimizerKind::Rmsprop, false) => &[("square_avg", true, AFTER)],
        (OptimizerKind::Rmsprop, true) => &[
            ("square_avg", true, AFTER),
            ("momentum_buffer", false, RATIOS),
        ],
    }
}

/// Holds `t`, the trace of `who` on case `c`, to the fixture.
fn check(f: &Fixture, c: &Case, who: &str, t: &Trace) {
    let spec = f.spec(c);
    let params = ParamLayout::new(&spec);
    let state = StateLayout::new(&params, 1);
    let at = |what: &str| format!("{who} {} {what}", c.name);
    let close = |what: &str, got: &[f32], want: &[f32], (atol, rtol): (f32, f32)| {
        assert_close(&at(what), got, want, atol, rtol)
    };
    for s in 0..f.batches.len() {
        let rows = f.batches[s] as f32;
        let want = f.f32s(&format!("{}.step{s}.logits", c.name));
        close(&format!("step {s} logits"), &t.logits[s], &want, OUT);
        let want = f.f32s(&format!("{}.step{s}.loss", c.name));
        close(&format!("step {s} loss"), &[t.losses[s] / rows], &want, OUT);
    }
    let want = f.f32s(&format!("{}.eval.logits", c.name));
    close("eval logits", &t.eval_logits, &want, OUT);
    let mut compared = Vec::new();
    let mut want = |name: String| {
        let v = f.f32s(&name);
        compared.push(name);
        v
    };
    for n in state_dict(&params, &state, c.dropout > 0.0) {
        let after = format!("{}.after3.{}", c.name, n.name);
        let tol = |t| noise_bound(c, &n.name, &spec).map_or(t, |b| (b, 0.0));
        match n.home {
            Home::Steps => {}
            Home::State => close(&n.name, &t.state[n.range()], &want(after), tol(AFTER)),
            Home::Params => {
                let grad = f.f32s(&format!("{}.step0.grad.{}", c.name, n.name));
                close(
                    &format!("{} gradient", n.name),
                    &t.grads[n.range()],
                    &grad,
                    tol(GRADS),
                );
                close(&n.name, &t.params[n.range()], &want(after), tol(AFTER));
                for &(key, second, tolerance) in moments(c) {
                    let (first_moment, second_moment) = state.moments();
                    let base = if second { second_moment } else { first_moment }.start;
                    let got = &t.state[base + n.at..base + n.range().end];
                    let w = want(format!("{}.after3.{key}.{}", c.name, n.name));
                    close(&format!("{key} {}", n.name), got, &w, tol(tolerance));
                }
            }
        }
    }
    let prefix = format!("{}.after3.", c.name);
    let mut saved: Vec<String> = f
        .file
        .names()
        .into_iter()
        .filter(|k| k.starts_with(&prefix))
        .map(str::to_string)
        .collect();
    saved.sort();
    compared.sort();
    assert_eq!(
        saved, compared,
        "{}: every tensor PyTorch saved after the steps is compared",
        c.name
    );
}

/// The CPU reference network, run through the fixture's steps.
fn cpu_trace(f: &Fixture, c: &Case) -> Trace {
    let spec = f.spec(c);
    let mut net = Network::new(spec.clone(), f.initial_params(c));
    let mut t = Trace::default();
    for s in 0..f.batches.len() {
        let (x, y) = f.inputs(s);
        let rows = y.len();
        let fw = net.forward(&x, rows, true, c.seed, s as u32);
        t.logits.push(fw.logits().to_vec());
        let stepped = net.train_step(&x, &y, &c.hyper(), c.seed, s as u32);
        if s == 0 {
            t.grads = stepped.grads;
        }
        t.losses.push(stepped.loss);
    }
    t.params = net.params.clone();
    t.state = net.state.clone();
    let (params, state) = f.final_state(c);
    net.params = params;
    net.state = state[net.state_layout.saved()].to_vec();
    let (x, y) = f.inputs(0);
    t.eval_logits = net.forward(&x, y.len(), false, 0, 0).logits().to_vec();
    t
}

/// The GPU network with `variant`'s matmul, run through the fixture's steps: the batches
/// gathered by the GPU from the fixture's pixels.
fn gpu_trace(f: &Fixture, c: &Case, variant: MatmulVariant) -> Trace {
    let k = kernels(variant);
    let spec = f.spec(c);
    let rows = f.batches[0];
    let steps = f.batches.len();
    let indices: Vec<u32> = (0..f.batches.iter().sum::<usize>() as u32).collect();
    let d = data(k, f.bytes("batch.pixels"), &f.labels(), &indices);
    let (params, images) = (f.initial_params(c), indices.len());
    let net = solo_network(
        k,
        &spec,
        params,
        c.hyper(),
        c.seed,
        rows,
        steps,
        rows,
        images,
    );
    let logits = |rows: usize| {
        let last = *net.acts.output.last().expect("layers");
        read_f32(&net.buffers.acts, last, rows * spec.classes)
    };
    let mut t = Trace::default();
    for s in 0..steps {
        let (index_off, rows) = f.batch(s);
        let step = Step {
            index_off,
            rows,
            step: s as u32,
            slot: s,
        };
        run(&net.buffers, &d, |p| net.encode_train_step(k, p, step));
        t.logits.push(logits(rows));
        if s == 0 {
            t.grads = read_f32(&net.buffers.grads, 0, net.params.len);
        }
    }
    t.losses = net.read_slots(ctx(), steps).unwrap()[0]
        .iter()
        .map(|l| l.0)
        .collect();
    t.params = net.read_params(ctx(), 0).unwrap();
    t.state = net.read_state(ctx(), 0).unwrap();
    let (params, state) = f.final_state(c);
    net.restore(ctx(), 0, &params, &state[net.state.saved()]);
    run(&net.buffers, &d, |p| {
        let batch = EvalBatch {
            index_off: 0,
            rows,
            slot: 0,
            pred_off: 0,
            shared_indices: false,
            probs: false,
        };
        net.encode_eval_batch(k, p, batch)
    });
    t.eval_logits = logits(rows);
    t
}

#[test]
fn cpu_reference_network_matches_pytorch() {
    let f = fixture();
    for c in &f.cases {
        check(f, c, "cpu", &cpu_trace(f, c));
    }
}

#[test]
fn gpu_network_matches_pytorch_with_every_matmul_variant() {
    let f = fixture();
    for v in variants() {
        for c in &f.cases {
            check(f, c, v.name(), &gpu_trace(f, c, v));
        }
    }
}

/// The script's re-implementation of the dropout hash (which made the fixture's masks) is
/// mlp-gpu's.
#[test]
fn fixture_dropout_hash_is_mlp_gpus() {
    let f = fixture();
    let pcg = f.bytes("hash.pcg");
    let flat: Vec<u32> = f.hash_inputs.iter().flatten().copied().collect();
    let want: Vec<u32> = flat.iter().map(|&v| rng::pcg_hash(v)).collect();
    assert_eq!(bytemuck::cast_slice::<u8, u32>(pcg), want.as_slice());
    let keep: Vec<u8> = f
        .hash_inputs
        .iter()
        .map(|&[s, t, l, e]| u8::from(rng::dropout_keep(s, t, l, e, rng::dropout_threshold(0.2))))
        .collect();
    assert_eq!(f.bytes("hash.keep"), keep.as_slice());
    assert!(keep.contains(&0) || keep.contains(&1));
}

/// `ParamLayout::init` draws from PyTorch's bounds: within them, and filling them (the
/// largest of n uniform draws falls below (1 - 20/n) of the bound with chance e^-20).
#[test]
fn initialisers_draw_within_and_up_to_pytorch_bounds() {
    let f = fixture();
    for init in [Init::Pytorch, Init::KaimingUniform] {
        let spec = Spec::new(784, f.hidden.clone(), 10, false, 0.0);
        let layout = ParamLayout::new(&spec);
        let p = layout.init(init, 9);
        let kind = init.name().replace('-', "_");
        for (l, lp) in layout.layers.iter().enumerate() {
            let bound = |what| f.f32s(&format!("init.{kind}.linear{l}.{what}_bound"))[0];
            let tensors = [
                ("weight", &p[lp.weight..lp.weight + lp.inputs * lp.outputs]),
                ("bias", &p[lp.bias..lp.bias + lp.outputs]),
            ];
            for (what, values) in tensors {
                let b = bound(what);
                let max = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let fill = 1.0 - 20.0 / values.len() as f32;
                let what = format!(
                    "{} layer {l} {what}: max |value| {max}, bound {b}",
                    init.name()
                );
                assert!(max <= b * (1.0 + 1e-6), "{what}: beyond PyTorch's bound");
                assert!(max >= b * fill, "{what}: does not fill PyTorch's bound");
            }
        }
    }
}

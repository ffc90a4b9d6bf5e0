//! The epoch loop: chunked submits change nothing, and the benchmark reports its keys.

use crate::common::ctx;
use mlp_gpu::data::{Fashion, Images, Split, SplitSpec};
use mlp_gpu::gpu::Kernels;
use mlp_gpu::model::Init;
use mlp_gpu::optim::OptimizerKind;
use mlp_gpu::rng::Rng;
use mlp_gpu::train::{Dataset, TrainConfig, Trainer};

fn images(n: usize, seed: u64) -> Images {
    let mut rng = Rng::new(seed);
    Images {
        pixels: (0..n * 784).map(|_| (rng.next_u64() % 256) as u8).collect(),
        labels: (0..n).map(|_| rng.below(10) as u8).collect(),
    }
}

/// 3,600 training images and 100 test images, random, on the GPU.
fn data(k: &Kernels) -> Dataset {
    let f = Fashion {
        train: images(3600, 1),
        test: images(100, 2),
    };
    Dataset::upload(ctx(), k, &f).unwrap()
}

/// 3,500 training images (100 held out) and the 100 test images.
fn split() -> Split {
    let spec = SplitSpec {
        split_seed: 1,
        val_size: 100,
        subset: None,
        eval_subset: None,
    };
    Split::new(3600, 100, spec).unwrap()
}

fn config() -> TrainConfig {
    TrainConfig {
        hidden: vec![64, 32],
        optimizer: OptimizerKind::Adam,
        lr: 0.005,
        epochs: 2,
        batch_size: 50,
        dropout: 0.2,
        batch_norm: true,
        seed: 3,
        split_seed: 1,
        val_size: 100,
        ..TrainConfig::default()
    }
}

/// 64 steps per submit (the default) and one step per submit give bit-identical
/// parameters and losses: chunking only changes when the host hands work over.
#[test]
fn chunked_epoch_equals_step_by_step_epoch() {
    let k = Kernels::new(ctx()).unwrap();
    let (data, split) = (data(&k), split());
    let mut results = Vec::new();
    for chunk in [mlp_gpu::train::CHUNK_STEPS, 1] {
        let mut t = Trainer::new(ctx(), &k, &data, config(), &split).unwrap();
        t.chunk_steps = chunk;
        let mut losses = Vec::new();
        for epoch in 0..2 {
            let (loss, counts) = t.train_epoch(epoch, None).unwrap();
            assert_eq!(counts.host_waits, 1, "one host wait per epoch");
            assert_eq!(counts.submits, counts.steps.div_ceil(chunk));
            losses.push(loss);
        }
        results.push((
            losses,
            t.net.read_params(ctx(), 0).unwrap(),
            t.net.read_state(ctx(), 0).unwrap(),
        ));
    }
    assert!(results[0].0.iter().flatten().all(|l| l.is_finite()));
    assert_eq!(results[0], results[1]);
}

/// With a progress report, every chunk reports as the GPU finishes it, in order, and the
/// last report is the epoch's mean loss.
#[test]
fn progress_reports_each_chunk_and_ends_at_the_epoch_loss() {
    let k = Kernels::new(ctx()).unwrap();
    let (data, split) = (data(&k), split());
    let mut t = Trainer::new(ctx(), &k, &data, config(), &split).unwrap();
    t.chunk_steps = 16;
    let seen = std::cell::RefCell::new(Vec::new());
    let report = |steps: usize, loss: f64| seen.borrow_mut().push((steps, loss));
    let (losses, counts) = t.train_epoch(0, Some(&report)).unwrap();
    let loss = losses[0];
    let seen = seen.into_inner();
    assert_eq!(seen.len(), counts.submits);
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
    let (steps, last) = *seen.last().unwrap();
    assert_eq!(steps, counts.steps);
    assert!(
        (last - loss).abs() < 1e-9,
        "last report {last} vs epoch loss {loss}"
    );
}

/// A training step dispatches once per stage of the network's plan, whatever its depth and
/// with or without batch norm and dropout (the benchmark sizes its profiling chunks by it).
#[test]
fn a_step_dispatches_each_stage_of_the_plan_once() {
    let k = Kernels::new(ctx()).unwrap();
    let (data, split) = (data(&k), split());
    for (hidden, batch_norm, dropout) in [(vec![48], false, 0.0), (vec![64, 32, 16, 8], true, 0.3)]
    {
        let c = TrainConfig {
            hidden: hidden.clone(),
            batch_norm,
            dropout,
            ..config()
        };
        let mut t = Trainer::new(ctx(), &k, &data, c, &split).unwrap();
        let (_, counts) = t.train_epoch(0, None).unwrap();
        let stages = t.net.plan.train.len();
        // gather, loss, update, and per layer: forward, backward weight, backward data but
        // for the first; with batch norm, four more per hidden layer
        let layers = hidden.len() + 1;
        let expected = 3 + 3 * layers - 1 + if batch_norm { 4 * hidden.len() } else { 0 };
        assert_eq!(stages, expected, "{hidden:?}");
        assert_eq!(
            counts.dispatches,
            (counts.steps * stages) as u64,
            "{hidden:?}"
        );
    }
}

/// Trainers sharing one dataset on the GPU keep their own index lists: making and training
/// a second one, on another split, changes nothing the first one evaluates or trains.
#[test]
fn trainers_sharing_a_dataset_keep_their_own_index_lists() {
    let k = Kernels::new(ctx()).unwrap();
    let data = data(&k);
    let other = Split::new(
        3600,
        100,
        SplitSpec {
            split_seed: 99,
            val_size: 100,
            subset: None,
            eval_subset: None,
        },
    )
    .unwrap();
    let run = |with_other: bool| {
        let mut a = Trainer::new(ctx(), &k, &data, config(), &split()).unwrap();
        a.train_epoch(0, None).unwrap();
        if with_other {
            let mut b = Trainer::new(ctx(), &k, &data, config(), &other).unwrap();
            b.train_epoch(0, None).unwrap();
        }
        let (val, test) = (a.evaluate(false).unwrap(), a.evaluate(true).unwrap());
        let (loss, _) = a.train_epoch(1, None).unwrap();
        (val, test, loss, a.net.read_params(ctx(), 0).unwrap())
    };
    assert_eq!(run(false), run(true));
}

/// A pack trained by one Trainer is its members trained alone, to the last bit: every
/// epoch's loss, the validation and test evaluations, parameters and state; and a pack's
/// step costs the dispatches of one run's.
#[test]
fn packed_trainer_members_equal_their_runs_alone() {
    let k = Kernels::new(ctx()).unwrap();
    let (data, split) = (data(&k), split());
    let member = |optimizer, lr, dropout, init, seed| TrainConfig {
        optimizer,
        lr,
        dropout,
        init,
        seed,
        ..config()
    };
    let configs = vec![
        member(OptimizerKind::Adam, 0.005, 0.2, Init::Pytorch, 3),
        member(OptimizerKind::Sgd, 0.05, 0.0, Init::KaimingUniform, 4),
        member(OptimizerKind::Rmsprop, 0.001, 0.3, Init::Pytorch, 5),
        member(OptimizerKind::Adam, 0.01, 0.0, Init::KaimingUniform, 3),
    ];
    let train = |mut t: Trainer| {
        let mut losses = Vec::new();
        let mut dispatches = Vec::new();
        for epoch in 0..2 {
            let (l, counts) = t.train_epoch(epoch, None).unwrap();
            losses.push(l);
            dispatches.push(counts.dispatches);
        }
        let (val, test) = (t.evaluate(false).unwrap(), t.evaluate(true).unwrap());
        let members = t.configs.len();
        let net = &t.net;
        let params: Vec<_> = (0..members)
            .map(|m| net.read_params(ctx(), m).unwrap())
            .collect();
        let state: Vec<_> = (0..members)
            .map(|m| net.read_state(ctx(), m).unwrap())
            .collect();
        (losses, val, test, params, state, dispatches)
    };
    let pack = train(Trainer::new_pack(ctx(), &k, &data, configs.clone(), &split).unwrap());
    for (m, c) in configs.into_iter().enumerate() {
        let alone = train(Trainer::new(ctx(), &k, &data, c, &split).unwrap());
        let losses: Vec<f64> = pack.0.iter().map(|epoch| epoch[m]).collect();
        assert_eq!(
            losses,
            alone.0.iter().map(|e| e[0]).collect::<Vec<_>>(),
            "member {m}"
        );
        assert!(
            losses.iter().all(|l| l.is_finite()),
            "member {m}: {losses:?}"
        );
        assert_eq!(pack.1[m], alone.1[0], "member {m}: validation");
        assert_eq!(pack.2[m], alone.2[0], "member {m}: test");
        assert_eq!(pack.3[m], alone.3[0], "member {m}: parameters");
        assert_eq!(pack.4[m], alone.4[0], "member {m}: state");
        assert_eq!(
            pack.5, alone.5,
            "a pack's epoch dispatches as many as a run's"
        );
    }
}

//! The epoch loop: chunked submits change nothing, and the benchmark reports its keys.

use crate::common::ctx;
use mlp_gpu::data::{Fashion, Images, Split, SplitSpec};
use mlp_gpu::gpu::Kernels;
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
    assert!(results[0].0.iter().all(|l| l.is_finite()));
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
    let (loss, counts) = t.train_epoch(0, Some(&report)).unwrap();
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

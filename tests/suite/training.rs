//! The epoch loop: chunked submits change nothing, and the benchmark reports its keys.

use crate::common::ctx;
use mlp_gpu::check::step;
use mlp_gpu::config::TrainConfig;
use mlp_gpu::data::{DataRecord, Dataset, Normalization, Split, SplitSpec};
use mlp_gpu::gpu::Kernels;
use mlp_gpu::model::Init;
use mlp_gpu::optim::OptimizerKind;
use mlp_gpu::train::{GpuData, Trainer};

/// 3,600 training images and 100 test images, random, on the GPU.
fn data(k: &Kernels) -> GpuData {
    let set = Dataset {
        train: step::dataset(3600, 1),
        test: step::dataset(100, 2),
        info: DataRecord::fashion_legacy().info,
    };
    GpuData::upload(ctx(), k, &set).unwrap()
}

/// How the images are normalised: as runs before fitted normalisations were.
fn norm() -> Normalization {
    Normalization::fashion_legacy()
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
        let mut t = Trainer::new(ctx(), &k, &data, config(), &split, &norm()).unwrap();
        t.set_chunk_steps(chunk);
        let mut losses = Vec::new();
        for epoch in 0..2 {
            let (loss, counts) = t.train_epoch(epoch, None).unwrap();
            assert_eq!(counts.host_waits, 1, "one host wait per epoch");
            assert_eq!(counts.submits, counts.steps.div_ceil(chunk));
            losses.push(loss);
        }
        results.push((
            losses,
            t.network().read_params(ctx(), 0).unwrap(),
            t.network().read_state(ctx(), 0).unwrap(),
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
    let mut t = Trainer::new(ctx(), &k, &data, config(), &split, &norm()).unwrap();
    t.set_chunk_steps(16);
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
        let mut t = Trainer::new(ctx(), &k, &data, c, &split, &norm()).unwrap();
        let (_, counts) = t.train_epoch(0, None).unwrap();
        let stages = t.network().plan.train.len();
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
        let mut a = Trainer::new(ctx(), &k, &data, config(), &split(), &norm()).unwrap();
        a.train_epoch(0, None).unwrap();
        if with_other {
            let mut b = Trainer::new(ctx(), &k, &data, config(), &other, &norm()).unwrap();
            b.train_epoch(0, None).unwrap();
        }
        let (val, test) = (a.evaluate(false).unwrap(), a.evaluate(true).unwrap());
        let (loss, _) = a.train_epoch(1, None).unwrap();
        (val, test, loss, a.network().read_params(ctx(), 0).unwrap())
    };
    assert_eq!(run(false), run(true));
}

/// Five members mixing all three optimizers, two learning rates, dropout 0 and > 0, both
/// initialisers and three seeds; batch norm as given.
fn five_members(batch_norm: bool) -> Vec<TrainConfig> {
    let member = |optimizer, lr, dropout, init, seed| TrainConfig {
        optimizer,
        lr,
        dropout,
        init,
        seed,
        batch_norm,
        epochs: 1,
        ..config()
    };
    vec![
        member(OptimizerKind::Adam, 0.005, 0.2, Init::Pytorch, 3),
        member(OptimizerKind::Sgd, 0.05, 0.0, Init::KaimingUniform, 4),
        member(OptimizerKind::Rmsprop, 0.005, 0.3, Init::Pytorch, 5),
        member(OptimizerKind::Adam, 0.05, 0.0, Init::KaimingUniform, 3),
        member(OptimizerKind::Sgd, 0.005, 0.2, Init::Pytorch, 4),
    ]
}

/// Everything a run's files hold but timings, for every member of `t` after one epoch:
/// losses, validation and test evaluations, parameters and state; and the epoch's
/// dispatches.
type Trained = (
    Vec<Vec<f64>>,
    Vec<mlp_gpu::train::Evaluation>,
    Vec<mlp_gpu::train::Evaluation>,
    Vec<(Vec<f32>, Vec<f32>)>,
    u64,
);

fn train_one_epoch(mut t: Trainer) -> Trained {
    let (l, counts) = t.train_epoch(0, None).unwrap();
    let (val, test) = (t.evaluate(false).unwrap(), t.evaluate(true).unwrap());
    let weights = t.network().read_members(ctx()).unwrap();
    (vec![l], val, test, weights, counts.dispatches)
}

/// A pack trained by one Trainer is its members trained alone, to the last bit, for every
/// matmul variant and with batch norm off and on (two packs of five): the epoch's losses,
/// the validation and test evaluations, parameters and state, all that a run's files hold
/// but timings; and a pack's epoch costs the dispatches of one run's.
#[test]
fn packed_trainer_members_equal_their_runs_alone_with_every_variant() {
    // 10 steps an epoch, 50 images to evaluate: 60 trainings in all
    let spec = SplitSpec {
        split_seed: 1,
        val_size: 100,
        subset: Some(500),
        eval_subset: Some(50),
    };
    let split = Split::new(3600, 100, spec).unwrap();
    for v in crate::common::variants() {
        let k = crate::common::kernels(v);
        let data = data(k);
        for batch_norm in [false, true] {
            let configs = five_members(batch_norm);
            let pack =
                Trainer::new_pack(ctx(), k, &data, configs.clone(), &split, &norm()).unwrap();
            let pack = train_one_epoch(pack);
            for (m, c) in configs.into_iter().enumerate() {
                let alone =
                    train_one_epoch(Trainer::new(ctx(), k, &data, c, &split, &norm()).unwrap());
                let what = format!("{} batch norm {batch_norm} member {m}", v.name());
                assert!(pack.0[0][m].is_finite(), "{what}: {:?}", pack.0);
                assert_eq!(pack.0[0][m], alone.0[0][0], "{what}: loss");
                assert_eq!(pack.1[m], alone.1[0], "{what}: validation");
                assert_eq!(pack.2[m], alone.2[0], "{what}: test");
                assert_eq!(pack.3[m], alone.3[0], "{what}: parameters and state");
                assert_eq!(
                    pack.4, alone.4,
                    "{what}: a pack dispatches as much as a run"
                );
            }
        }
    }
}

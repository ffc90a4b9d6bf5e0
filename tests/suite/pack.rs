//! Packs: members trained in the same dispatches are their solo runs to the last bit.

use crate::common::*;
use mlp_gpu::gpu::network::{GpuNetwork, MemberInit, Room, Step};
use mlp_gpu::gpu::MatmulVariant;
use mlp_gpu::model::{Init, ParamLayout, Spec};
use mlp_gpu::optim::{Hyper, OptimizerKind};
use mlp_gpu::rng::Rng;

const HIDDEN: [usize; 2] = [24, 12];
const IMAGES: usize = 40;
const ROWS: usize = 16;
const STEPS: usize = 3;

/// Five members mixing all three optimizers, two learning rates, dropout 0 and 0.3, both
/// initialisers and three seeds.
fn members() -> Vec<(Hyper, f32, Init, u32)> {
    let h = |kind, lr, momentum, weight_decay| Hyper {
        kind,
        lr,
        momentum,
        weight_decay,
    };
    vec![
        (h(OptimizerKind::Sgd, 0.05, 0.0, 0.0), 0.0, Init::Pytorch, 1),
        (
            h(OptimizerKind::Adam, 0.005, 0.0, 1e-3),
            0.3,
            Init::KaimingUniform,
            2,
        ),
        (
            h(OptimizerKind::Rmsprop, 0.001, 0.9, 0.0),
            0.3,
            Init::Pytorch,
            3,
        ),
        (
            h(OptimizerKind::Sgd, 0.01, 0.9, 1e-3),
            0.3,
            Init::KaimingUniform,
            1,
        ),
        (
            h(OptimizerKind::Adam, 0.001, 0.0, 0.0),
            0.0,
            Init::Pytorch,
            2,
        ),
    ]
}

/// Member m's own order of the images.
fn order(seed: u32) -> Vec<u32> {
    let mut o: Vec<u32> = (0..IMAGES as u32).collect();
    Rng::new(u64::from(seed) + 100).shuffle(&mut o);
    o
}

/// Parameters, state and per-step losses after STEPS steps.
type Outcome = (Vec<f32>, Vec<f32>, Vec<(f32, f32)>);

/// Trains `net` STEPS steps over images bound with `indices`; returns member m's outcome
/// for every member.
fn train(
    k: &mlp_gpu::gpu::Kernels,
    net: &GpuNetwork,
    d: &mlp_gpu::gpu::DataBuffers,
) -> Vec<Outcome> {
    for s in 0..STEPS {
        let step = Step {
            index_off: s * ROWS,
            rows: ROWS.min(IMAGES - s * ROWS),
            step: s as u32,
            slot: s,
        };
        run(&net.buffers, d, |p| net.encode_train_step(k, p, step));
    }
    (0..net.pack.members as usize)
        .map(|m| {
            let c = ctx();
            (
                net.read_params(c, m).unwrap(),
                net.read_state(c, m).unwrap(),
                net.read_slots(c, STEPS).unwrap().swap_remove(m),
            )
        })
        .collect()
}

fn pack_equals_solo_runs(batch_norm: bool, variant: MatmulVariant) {
    let k = kernels(variant);
    let (pixels, labels): (Vec<u8>, Vec<u32>) = {
        let mut rng = Rng::new(5);
        let p = (0..IMAGES * 784)
            .map(|_| (rng.next_u64() % 256) as u8)
            .collect();
        (p, (0..IMAGES).map(|_| rng.below(10) as u32).collect())
    };
    let all = members();
    let init = |spec: &Spec, (hyper, dropout, init, seed): (Hyper, f32, Init, u32)| MemberInit {
        params: ParamLayout::new(spec).init(init, u64::from(seed)),
        hyper,
        dropout,
        seed,
    };
    let max_p = all.iter().map(|m| m.1).fold(0.0, f32::max);
    let spec = Spec::new(784, HIDDEN.to_vec(), 10, batch_norm, max_p);
    let inits: Vec<_> = all.iter().map(|&m| init(&spec, m)).collect();
    let room = Room {
        rows: ROWS,
        slots: STEPS,
        preds_kept: 0,
        index_list: IMAGES,
    };
    let input = mlp_gpu::check::step::input();
    let pack = GpuNetwork::new(ctx(), k, &spec, &inits, room, input).unwrap();
    let indices: Vec<u32> = all.iter().flat_map(|m| order(m.3)).collect();
    let packed = train(k, &pack, &data(k, &pixels, &labels, &indices));
    for (m, &member) in all.iter().enumerate() {
        let solo_spec = Spec::new(784, HIDDEN.to_vec(), 10, batch_norm, member.1);
        let solo_init = init(&solo_spec, member);
        let (hyper, seed) = (solo_init.hyper, solo_init.seed);
        let solo = solo_network(
            k,
            &solo_spec,
            solo_init.params,
            hyper,
            seed,
            ROWS,
            STEPS,
            0,
            IMAGES,
        );
        let alone = train(k, &solo, &data(k, &pixels, &labels, &order(member.3)));
        let what = format!("{} batch norm {batch_norm}, member {m}", variant.name());
        assert!(
            alone[0].2.iter().all(|l| l.0.is_finite() && l.0 > 0.0),
            "{what}: losses"
        );
        assert_eq!(packed[m].2, alone[0].2, "{what}: losses");
        assert_eq!(packed[m].0, alone[0].0, "{what}: parameters");
        assert_eq!(packed[m].1, alone[0].1, "{what}: state");
    }
}

#[test]
fn pack_members_equal_their_solo_runs_bit_for_bit_with_every_variant() {
    for v in variants() {
        for batch_norm in [false, true] {
            pack_equals_solo_runs(batch_norm, v);
        }
    }
}

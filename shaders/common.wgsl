// common.wgsl: prepended to every op file. The shared bind-group layout and the dropout hash.
//
// Group 0, the model (one buffer per role, f32 unless noted; kernels address regions of
// them through offsets in their immediates, so one bind group serves every layer):
//   0 params  flat parameters: per layer W [out, in] row-major, b [out], then batch-norm
//             gamma [out], beta [out] for hidden layers with batch norm
//   1 acts    activations and their gradients for one batch, [rows, features] row-major
//   2 grads   flat gradients, same layout as params
//   3 state   optimizer moments (2 x params), batch-norm running and batch statistics,
//             per-step loss/correct slots
//   4 ints    u32: gathered labels of the batch, argmax predictions
// Group 1, a data set (read only, u32):
//   0 values  the samples' values, row-major: 8-bit, four to a u32, or f32 bits, one a word
//   1 labels  each sample's class index
//   2 indices the normalisation's per-input statistics (if it has them), then which sample
//             each batch row takes (each pack member's epoch permutation, or the test set)
@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read_write> acts: array<f32>;
@group(0) @binding(2) var<storage, read_write> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> state: array<f32>;
@group(0) @binding(4) var<storage, read_write> ints: array<u32>;
@group(1) @binding(0) var<storage, read> values: array<u32>;
@group(1) @binding(1) var<storage, read> labels: array<u32>;
@group(1) @binding(2) var<storage, read> indices: array<u32>;

// Invocation index over a 2D grid of workgroups, so 1D kernels can exceed 65,535 groups.
fn flat_id(gid: vec3<u32>, groups: vec3<u32>, wg: u32) -> u32 {
    return gid.x + gid.y * groups.x * wg;
}

// PCG hash (Jarzynski & Olano 2020); the Rust twin is rng::pcg_hash.
fn pcg_hash(v: u32) -> u32 {
    let s = v * 747796405u + 2891336453u;
    let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
    return (w >> 22u) ^ w;
}

// Dropout keeps element `e` of `layer` at `step` when the hash is at least `threshold`
// (= p * 2^32), so p = 0 keeps everything. Twin: rng::dropout_keep.
fn dropout_keep(seed: u32, step: u32, layer: u32, e: u32, threshold: u32) -> bool {
    let h = pcg_hash(e ^ pcg_hash(step ^ pcg_hash(layer ^ pcg_hash(seed))));
    return h >= threshold;
}

// Packs: a dispatch covers every member of a pack, member = the grid's z. Each buffer holds
// the members' regions back to back, `*_ms` words apart (0 for one member); a member's own
// settings (Rust twin: gpu::immediates::Member) are the last MEMBER_WORDS words of its
// region of ints (MEMBER_WORDS, prepended by the host).
struct Member {
    drop_threshold: u32,
    drop_scale: f32,
    seed: u32,
    kind: u32,
    lr: f32,
    momentum: f32,
    weight_decay: f32,
    pad: u32,
}

fn member_settings(ints_ms: u32, member: u32) -> Member {
    let at = (member + 1u) * ints_ms - MEMBER_WORDS;
    return Member(ints[at], bitcast<f32>(ints[at + 1u]), ints[at + 2u], ints[at + 3u],
        bitcast<f32>(ints[at + 4u]), bitcast<f32>(ints[at + 5u]), bitcast<f32>(ints[at + 6u]), 0u);
}

// What follows a product or a batch norm, fused into it (Rust twin: gpu::immediates::
// Epilogue): ReLU when relu != 0, then dropout of element e by the hash counter (seed,
// step, layer), kept ones scaled by drop_scale = 1 / (1 - p); threshold 0 skips dropout;
// per_member and ints_ms: see member_epilogue.
struct Epilogue {
    relu: u32,
    drop_threshold: u32,
    drop_scale: f32,
    seed: u32,
    step: u32,
    layer: u32,
    per_member: u32,
    ints_ms: u32,
}

// The epilogue of `member`: with per_member and dropout on, the member's own dropout (a
// member with p = 0 has threshold 0).
fn member_epilogue(e: Epilogue, member: u32) -> Epilogue {
    var a = e;
    if (e.per_member != 0u && e.drop_threshold != 0u) {
        let s = member_settings(e.ints_ms, member);
        a.drop_threshold = s.drop_threshold;
        a.drop_scale = s.drop_scale;
        a.seed = s.seed;
    }
    return a;
}

fn epilogue(a: Epilogue, y: f32, e: u32) -> f32 {
    var v = y;
    if (a.relu != 0u) {
        v = max(v, 0.0);
    }
    if (a.drop_threshold != 0u) {
        v = select(0.0, v * a.drop_scale, dropout_keep(a.seed, a.step, a.layer, e, a.drop_threshold));
    }
    return v;
}

// batch_norm.wgsl: BatchNorm1d over a [rows, F] block of acts, PyTorch semantics (biased
// variance to normalise, unbiased for the running estimate, momentum, eps).
// state at stats_off holds, per layer: running_mean [F], running_var [F], batch mean [F],
// batch inv_std [F]. gamma at params[gamma_off], beta at params[gamma_off + F]; their
// gradients at the same offsets in grads.
//   batch_norm_stats            per feature: batch mean, inv_std (two passes), and the
//                               running statistics updated with momentum
//   batch_norm_apply            per element: y = gamma (z - mean) inv_std + beta, then
//                               optional ReLU and dropout (fused; see dropout.wgsl);
//                               use_running = 1 normalises with the running statistics
//   batch_norm_backward_reduce  per feature: dgamma = sum g xhat, dbeta = sum g, where g
//                               is the gradient of the output (masked by the caller)
//   batch_norm_backward_apply   per element, in place over g:
//                               dz = gamma inv_std / R (R g - dbeta - xhat dgamma)
// The per-feature kernels give a workgroup COLS neighbouring features (neighbouring
// invocations read neighbouring words) and LANES invocations per feature, each summing
// every LANES-th row, then add the lanes up in workgroup memory: a serial loop over every
// row per feature was one long latency chain on a GPU (52 us a dispatch at 512 rows on an
// H100, BENCHMARKS.md). The host prepends const COLS (gpu/shaders.rs, BATCH_NORM_COLS).
// Bindings: common.wgsl (params, acts, grads, state).
struct BatchNorm {
    rows: u32,
    features: u32,
    z_off: u32,
    y_off: u32,
    gamma_off: u32,
    stats_off: u32,
    use_running: u32,
    momentum: f32,
    eps: f32,
    // words from one pack member's region of acts, params (and grads), state to the next
    acts_ms: u32,
    params_ms: u32,
    state_ms: u32,
    act: Epilogue,
}
var<immediate> g: BatchNorm;

// This invocation's pack member's offsets and epilogue, set by `enter`, which every entry
// point calls first with its member (the grid's z).
struct Offsets {
    z: u32,
    y: u32,
    gamma: u32,
    stats: u32,
}
var<private> base: Offsets;
var<private> member_act: Epilogue;

fn enter(member: u32) {
    base = Offsets(g.z_off + member * g.acts_ms, g.y_off + member * g.acts_ms,
        g.gamma_off + member * g.params_ms, g.stats_off + member * g.state_ms);
    member_act = member_epilogue(g.act, member);
}

fn running_mean(f: u32) -> u32 { return base.stats + f; }
fn running_var(f: u32) -> u32 { return base.stats + g.features + f; }
fn batch_mean(f: u32) -> u32 { return base.stats + 2u * g.features + f; }
fn batch_inv_std(f: u32) -> u32 { return base.stats + 3u * g.features + f; }

const LANES: u32 = 8u;
const_assert COLS * LANES == 256u; // the workgroup size of the per-feature kernels
var<workgroup> partial: array<vec2<f32>, 256>; // [lane][col]

// The sums of v over the LANES lanes of this invocation's feature, in every lane. Called
// in uniform control flow by the whole workgroup.
fn sum_lanes(v: vec2<f32>, lid: u32) -> vec2<f32> {
    partial[lid] = v;
    workgroupBarrier();
    for (var s = LANES / 2u; s > 0u; s /= 2u) {
        if (lid / COLS < s) {
            partial[lid] += partial[lid + s * COLS];
        }
        workgroupBarrier();
    }
    let total = partial[lid % COLS];
    workgroupBarrier(); // everyone has read it before partial is written again
    return total;
}

// This invocation's feature (may be past the last: it then sums a copy of the last one and
// writes nothing) and lane.
fn feature_lane(lid: u32, wid: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
    return vec2<u32>((wid.x + wid.y * nwg.x) * COLS + lid % COLS, lid / COLS);
}

@compute @workgroup_size(256)
fn batch_norm_stats(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    enter(wid.z);
    let fl = feature_lane(lid, wid, nwg);
    let f = min(fl.x, g.features - 1u);
    var sum = 0.0;
    for (var r = fl.y; r < g.rows; r += LANES) {
        sum += acts[base.z + r * g.features + f];
    }
    let mean = sum_lanes(vec2<f32>(sum, 0.0), lid).x / f32(g.rows);
    var sq = 0.0;
    for (var r = fl.y; r < g.rows; r += LANES) {
        let d = acts[base.z + r * g.features + f] - mean;
        sq += d * d;
    }
    sq = sum_lanes(vec2<f32>(sq, 0.0), lid).x;
    if (fl.x >= g.features || fl.y != 0u) {
        return;
    }
    let var_biased = sq / f32(g.rows);
    let var_unbiased = sq / f32(max(g.rows, 2u) - 1u);
    state[batch_mean(f)] = mean;
    state[batch_inv_std(f)] = 1.0 / sqrt(var_biased + g.eps);
    state[running_mean(f)] = (1.0 - g.momentum) * state[running_mean(f)] + g.momentum * mean;
    state[running_var(f)] = (1.0 - g.momentum) * state[running_var(f)] + g.momentum * var_unbiased;
}

fn mean_and_inv_std(f: u32) -> vec2<f32> {
    if (g.use_running != 0u) {
        return vec2<f32>(state[running_mean(f)], 1.0 / sqrt(state[running_var(f)] + g.eps));
    }
    return vec2<f32>(state[batch_mean(f)], state[batch_inv_std(f)]);
}

@compute @workgroup_size(64)
fn batch_norm_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    enter(gid.z);
    let e = flat_id(gid, nwg, 64u);
    if (e >= g.rows * g.features) {
        return;
    }
    let f = e % g.features;
    let s = mean_and_inv_std(f);
    let y = params[base.gamma + f] * (acts[base.z + e] - s.x) * s.y + params[base.gamma + g.features + f];
    acts[base.y + e] = epilogue(member_act, y, e);
}

@compute @workgroup_size(256)
fn batch_norm_backward_reduce(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    enter(wid.z);
    let fl = feature_lane(lid, wid, nwg);
    let f = min(fl.x, g.features - 1u);
    let mean = state[batch_mean(f)];
    let inv_std = state[batch_inv_std(f)];
    var sums = vec2<f32>(0.0); // (sum g, sum g xhat)
    for (var r = fl.y; r < g.rows; r += LANES) {
        let e = r * g.features + f;
        let gy = acts[base.y + e];
        sums += vec2<f32>(gy, gy * (acts[base.z + e] - mean) * inv_std);
    }
    sums = sum_lanes(sums, lid);
    if (fl.x >= g.features || fl.y != 0u) {
        return;
    }
    grads[base.gamma + f] = sums.y;
    grads[base.gamma + g.features + f] = sums.x;
}

@compute @workgroup_size(64)
fn batch_norm_backward_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    enter(gid.z);
    let e = flat_id(gid, nwg, 64u);
    if (e >= g.rows * g.features) {
        return;
    }
    let f = e % g.features;
    let inv_std = state[batch_inv_std(f)];
    let xhat = (acts[base.z + e] - state[batch_mean(f)]) * inv_std;
    let rows = f32(g.rows);
    let dgamma = grads[base.gamma + f];
    let dbeta = grads[base.gamma + g.features + f];
    let scale = params[base.gamma + f] * inv_std / rows;
    acts[base.y + e] = scale * (rows * acts[base.y + e] - dbeta - xhat * dgamma);
}

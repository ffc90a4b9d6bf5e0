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
// Bindings: common.wgsl (params, acts, grads, state).
struct BatchNorm {
    rows: u32,
    features: u32,
    z_off: u32,
    y_off: u32,
    gamma_off: u32,
    stats_off: u32,
    use_running: u32,
    relu: u32,
    drop_threshold: u32,
    drop_scale: f32,
    seed: u32,
    step: u32,
    layer: u32,
    momentum: f32,
    eps: f32,
}
var<immediate> g: BatchNorm;

fn running_mean(f: u32) -> u32 { return g.stats_off + f; }
fn running_var(f: u32) -> u32 { return g.stats_off + g.features + f; }
fn batch_mean(f: u32) -> u32 { return g.stats_off + 2u * g.features + f; }
fn batch_inv_std(f: u32) -> u32 { return g.stats_off + 3u * g.features + f; }

@compute @workgroup_size(64)
fn batch_norm_stats(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let f = flat_id(gid, nwg, 64u);
    if (f >= g.features) {
        return;
    }
    var sum = 0.0;
    for (var r = 0u; r < g.rows; r++) {
        sum += acts[g.z_off + r * g.features + f];
    }
    let mean = sum / f32(g.rows);
    var sq = 0.0;
    for (var r = 0u; r < g.rows; r++) {
        let d = acts[g.z_off + r * g.features + f] - mean;
        sq += d * d;
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
    let e = flat_id(gid, nwg, 64u);
    if (e >= g.rows * g.features) {
        return;
    }
    let f = e % g.features;
    let s = mean_and_inv_std(f);
    var y = params[g.gamma_off + f] * (acts[g.z_off + e] - s.x) * s.y + params[g.gamma_off + g.features + f];
    if (g.relu != 0u) {
        y = max(y, 0.0);
    }
    if (g.drop_threshold != 0u) {
        y = select(0.0, y * g.drop_scale, dropout_keep(g.seed, g.step, g.layer, e, g.drop_threshold));
    }
    acts[g.y_off + e] = y;
}

@compute @workgroup_size(64)
fn batch_norm_backward_reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let f = flat_id(gid, nwg, 64u);
    if (f >= g.features) {
        return;
    }
    let mean = state[batch_mean(f)];
    let inv_std = state[batch_inv_std(f)];
    var sum_g = 0.0;
    var sum_gx = 0.0;
    for (var r = 0u; r < g.rows; r++) {
        let e = r * g.features + f;
        let gy = acts[g.y_off + e];
        sum_g += gy;
        sum_gx += gy * (acts[g.z_off + e] - mean) * inv_std;
    }
    grads[g.gamma_off + f] = sum_gx;
    grads[g.gamma_off + g.features + f] = sum_g;
}

@compute @workgroup_size(64)
fn batch_norm_backward_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = flat_id(gid, nwg, 64u);
    if (e >= g.rows * g.features) {
        return;
    }
    let f = e % g.features;
    let inv_std = state[batch_inv_std(f)];
    let xhat = (acts[g.z_off + e] - state[batch_mean(f)]) * inv_std;
    let rows = f32(g.rows);
    let dgamma = grads[g.gamma_off + f];
    let dbeta = grads[g.gamma_off + g.features + f];
    let scale = params[g.gamma_off + f] * inv_std / rows;
    acts[g.y_off + e] = scale * (rows * acts[g.y_off + e] - dbeta - xhat * dgamma);
}

// optimizer.wgsl: one dispatch updates every parameter of the flat buffer, PyTorch semantics.
//   sgd      d = g + wd p; with momentum: buf = momentum buf + d (buf starts at 0, which
//            equals PyTorch's first-step copy); p -= lr buf (or lr d without momentum)
//   adam     d = g + wd p; m = lerp(m, d, 1 - beta1); v = beta2 v + (1 - beta2) d^2;
//            p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)
//   rmsprop  d = g + wd p; v = alpha v + (1 - alpha) d^2; a = sqrt(v) + eps;
//            with momentum: buf = momentum buf + d / a, p -= lr buf; else p -= lr d / a
// rmsprop's alpha travels in beta2.
// params[param_off + i], grads[param_off + i]; first moment (or momentum buffer)
// state[state_off + i], second moment state[state_off + n + i]. The bias corrections
// bc1 = 1 - beta1^t and sqrt(1 - beta2^t) come from the host, computed in f64.
// Bindings: common.wgsl (params, grads, state).
struct Optim {
    n: u32,
    param_off: u32,
    state_off: u32,
    lr: f32,
    weight_decay: f32,
    momentum: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    bias_correction1: f32,
    bias_correction2_sqrt: f32,
}
var<immediate> o: Optim;

fn decayed_grad(i: u32) -> f32 {
    return grads[o.param_off + i] + o.weight_decay * params[o.param_off + i];
}

@compute @workgroup_size(256)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    if (i >= o.n) {
        return;
    }
    var d = decayed_grad(i);
    if (o.momentum != 0.0) {
        d = o.momentum * state[o.state_off + i] + d;
        state[o.state_off + i] = d;
    }
    params[o.param_off + i] -= o.lr * d;
}

@compute @workgroup_size(256)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    if (i >= o.n) {
        return;
    }
    let d = decayed_grad(i);
    let m_at = o.state_off + i;
    let v_at = o.state_off + o.n + i;
    let m = state[m_at] + (1.0 - o.beta1) * (d - state[m_at]);
    let v = o.beta2 * state[v_at] + (1.0 - o.beta2) * d * d;
    state[m_at] = m;
    state[v_at] = v;
    let denom = sqrt(v) / o.bias_correction2_sqrt + o.eps;
    params[o.param_off + i] -= (o.lr / o.bias_correction1) * m / denom;
}

@compute @workgroup_size(256)
fn rmsprop(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    if (i >= o.n) {
        return;
    }
    let d = decayed_grad(i);
    let v_at = o.state_off + o.n + i;
    let v = o.beta2 * state[v_at] + (1.0 - o.beta2) * d * d;
    state[v_at] = v;
    let a = sqrt(v) + o.eps;
    if (o.momentum != 0.0) {
        let buf = o.momentum * state[o.state_off + i] + d / a;
        state[o.state_off + i] = buf;
        params[o.param_off + i] -= o.lr * buf;
    } else {
        params[o.param_off + i] -= o.lr * d / a;
    }
}

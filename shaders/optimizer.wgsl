// optimizer.wgsl: one dispatch updates every parameter of the flat buffer, PyTorch semantics.
//   sgd      d = g + wd p; with momentum: buf = momentum buf + d (buf starts at 0, which
//            equals PyTorch's first-step copy); p -= lr buf (or lr d without momentum)
//   adam     d = g + wd p; m = lerp(m, d, 1 - beta1); v = beta2 v + (1 - beta2) d^2;
//            p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)
//   rmsprop  d = g + wd p; v = alpha v + (1 - alpha) d^2; a = sqrt(v) + eps;
//            with momentum: buf = momentum buf + d / a, p -= lr buf; else p -= lr d / a
// rmsprop's alpha travels in beta2.
// n, param_off and state_off are multiples of 4; params[param_off + i], grads[param_off + i]; first moment (or momentum buffer)
// state[state_off + i], second moment state[state_off + n + i]. The bias corrections
// bc1 = 1 - beta1^t and sqrt(1 - beta2^t) come from the host, computed in f64.
// Bindings: common.wgsl (params, grads, state), read through the vec4 views below.
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

// Four parameters per invocation through vec4 views of the buffers (a CPU adapter pays per
// load, not per float); n and the offsets are multiples of 4 (model.rs aligns them).
@group(0) @binding(0) var<storage, read_write> params4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> grads4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> state4: array<vec4<f32>>;

fn decayed_grad(i: u32) -> vec4<f32> {
    return grads4[o.param_off / 4u + i] + o.weight_decay * params4[o.param_off / 4u + i];
}

@compute @workgroup_size(256)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    if (i >= o.n / 4u) {
        return;
    }
    var d = decayed_grad(i);
    let m_at = o.state_off / 4u + i;
    if (o.momentum != 0.0) {
        d = o.momentum * state4[m_at] + d;
        state4[m_at] = d;
    }
    params4[o.param_off / 4u + i] -= o.lr * d;
}

@compute @workgroup_size(256)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    if (i >= o.n / 4u) {
        return;
    }
    let d = decayed_grad(i);
    let m_at = o.state_off / 4u + i;
    let v_at = (o.state_off + o.n) / 4u + i;
    let m = state4[m_at] + (1.0 - o.beta1) * (d - state4[m_at]);
    let v = o.beta2 * state4[v_at] + (1.0 - o.beta2) * d * d;
    state4[m_at] = m;
    state4[v_at] = v;
    let denom = sqrt(v) / o.bias_correction2_sqrt + o.eps;
    params4[o.param_off / 4u + i] -= (o.lr / o.bias_correction1) * m / denom;
}

@compute @workgroup_size(256)
fn rmsprop(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    if (i >= o.n / 4u) {
        return;
    }
    let d = decayed_grad(i);
    let m_at = o.state_off / 4u + i;
    let v_at = (o.state_off + o.n) / 4u + i;
    let v = o.beta2 * state4[v_at] + (1.0 - o.beta2) * d * d;
    state4[v_at] = v;
    let a = sqrt(v) + o.eps;
    if (o.momentum != 0.0) {
        let buf = o.momentum * state4[m_at] + d / a;
        state4[m_at] = buf;
        params4[o.param_off / 4u + i] -= o.lr * buf;
    } else {
        params4[o.param_off / 4u + i] -= o.lr * d / a;
    }
}

// optimizer.wgsl: one dispatch updates every parameter of the flat buffer, PyTorch semantics.
//   sgd      d = g + wd p; with momentum: buf = momentum buf + d (buf starts at 0, which
//            equals PyTorch's first-step copy); p -= lr buf (or lr d without momentum)
//   adam     d = g + wd p; m = lerp(m, d, 1 - beta1); v = beta2 v + (1 - beta2) d^2;
//            p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)
//   rmsprop  d = g + wd p; v = alpha v + (1 - alpha) d^2; a = sqrt(v) + eps;
//            with momentum: buf = momentum buf + d / a, p -= lr buf; else p -= lr d / a
// `optimizer_step` takes the update rule from `kind` (0 sgd, 1 adam, 2 rmsprop), so that the
// members of a pack, each with its own rule and settings (from its Member record when
// per_member != 0), update in one dispatch. A run alone takes the entry point of its rule,
// `optimizer_sgd`, `_adam` or `_rmsprop`, with no branch on the rule at all.
// n, param_off and state_off (and the member strides) are multiples of 4; params[param_off +
// i], grads[param_off + i]; first moment (or momentum buffer) state[state_off + i], second
// moment state[state_off + n + i]. The bias corrections
// bc1 = 1 - beta1^t and sqrt(1 - beta2^t) come from the host, computed in f64.
// Bindings: common.wgsl (params, grads, state), read through the vec4 views below.
struct Optim {
    n: u32,
    param_off: u32,
    state_off: u32,
    kind: u32,
    lr: f32,
    weight_decay: f32,
    momentum: f32,
    adam_beta1: f32,
    adam_beta2: f32,
    rmsprop_alpha: f32,
    eps: f32,
    bias_correction1: f32,
    bias_correction2_sqrt: f32,
    // words from one pack member's region of params (and grads), state, ints to the next
    params_ms: u32,
    state_ms: u32,
    ints_ms: u32,
    per_member: u32,
}
var<immediate> o: Optim;

// Four parameters per invocation through vec4 views of the buffers (a CPU adapter pays per
// load, not per float); n and the offsets are multiples of 4 (model.rs aligns them).
@group(0) @binding(0) var<storage, read_write> params4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> grads4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> state4: array<vec4<f32>>;

// The rule and settings of one member, and where its vec4s are.
struct Rule {
    kind: u32,
    lr: f32,
    weight_decay: f32,
    momentum: f32,
    p: u32,
    m: u32,
    v: u32,
}

fn rule(member: u32, i: u32) -> Rule {
    var r = Rule(o.kind, o.lr, o.weight_decay, o.momentum, 0u, 0u, 0u);
    if (o.per_member != 0u) {
        let s = member_settings(o.ints_ms, member);
        r.kind = s.kind;
        r.lr = s.lr;
        r.weight_decay = s.weight_decay;
        r.momentum = s.momentum;
    }
    r.p = (o.param_off + member * o.params_ms) / 4u + i;
    r.m = (o.state_off + member * o.state_ms) / 4u + i;
    r.v = r.m + o.n / 4u;
    return r;
}

fn sgd(r: Rule) {
    var d = grads4[r.p] + r.weight_decay * params4[r.p];
    if (r.momentum != 0.0) {
        d = r.momentum * state4[r.m] + d;
        state4[r.m] = d;
    }
    params4[r.p] -= r.lr * d;
}

fn adam(r: Rule) {
    let d = grads4[r.p] + r.weight_decay * params4[r.p];
    let m = state4[r.m] + (1.0 - o.adam_beta1) * (d - state4[r.m]);
    let v = o.adam_beta2 * state4[r.v] + (1.0 - o.adam_beta2) * d * d;
    state4[r.m] = m;
    state4[r.v] = v;
    let denom = sqrt(v) / o.bias_correction2_sqrt + o.eps;
    params4[r.p] -= (r.lr / o.bias_correction1) * m / denom;
}

fn rmsprop(r: Rule) {
    let d = grads4[r.p] + r.weight_decay * params4[r.p];
    let v = o.rmsprop_alpha * state4[r.v] + (1.0 - o.rmsprop_alpha) * d * d;
    state4[r.v] = v;
    let a = sqrt(v) + o.eps;
    if (r.momentum != 0.0) {
        let buf = r.momentum * state4[r.m] + d / a;
        state4[r.m] = buf;
        params4[r.p] -= r.lr * buf;
    } else {
        params4[r.p] -= r.lr * d / a;
    }
}

// Rule `kind` (0 SGD, 1 Adam, else RMSProp) applied to `r`'s vec4: a constant in the
// rules' own entry points (no branch left once inlined), the member record's in a pack's.
fn update(r: Rule, kind: u32) {
    switch kind {
        case 0u: {
            sgd(r);
        }
        case 1u: {
            adam(r);
        }
        default: {
            rmsprop(r);
        }
    }
}

@compute @workgroup_size(256)
fn optimizer_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    if (i < o.n / 4u) {
        let r = rule(gid.z, i);
        update(r, r.kind);
    }
}

@compute @workgroup_size(256)
fn optimizer_sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    if (i < o.n / 4u) {
        update(rule(gid.z, i), 0u);
    }
}

@compute @workgroup_size(256)
fn optimizer_adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    if (i < o.n / 4u) {
        update(rule(gid.z, i), 1u);
    }
}

@compute @workgroup_size(256)
fn optimizer_rmsprop(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    if (i < o.n / 4u) {
        update(rule(gid.z, i), 2u);
    }
}

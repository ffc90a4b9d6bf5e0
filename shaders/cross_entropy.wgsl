// cross_entropy.wgsl: fused, numerically stable softmax cross-entropy over a batch.
//   cross_entropy  one workgroup of 256; invocation i takes rows i, i+256, ...
//     logits acts[logits_off + r*C + c], labels ints[label_off + r]
//     -> out acts[out_off + r*C + c] = (softmax - onehot) / rows, the gradient of the mean
//        loss (output 1), or softmax, the probabilities (output 2; 0: neither)
//     -> ints[pred_off + r] = argmax (first maximum)
//     -> state[slot_off] = sum of row losses, state[slot_off + 1] = correct count, summed
//        by a fixed tree in workgroup memory (deterministic, no float atomics)
// loss = m + log(sum exp(z - m)) - z_y with m = max z, finite for any finite logits.
// Bindings: common.wgsl (acts, state, ints).
struct CrossEntropy {
    rows: u32,
    classes: u32,
    logits_off: u32,
    out_off: u32,
    label_off: u32,
    pred_off: u32,
    slot_off: u32,
    output: u32,
    // words from one pack member's region of acts, ints, state to the next
    acts_ms: u32,
    ints_ms: u32,
    state_ms: u32,
}
var<immediate> g: CrossEntropy;

// This invocation's pack member's offsets, set by `enter` with its member (the grid's z).
struct Offsets {
    logits: u32,
    out: u32,
    label: u32,
    pred: u32,
    slot: u32,
}
var<private> base: Offsets;

fn enter(member: u32) {
    base = Offsets(g.logits_off + member * g.acts_ms, g.out_off + member * g.acts_ms,
        g.label_off + member * g.ints_ms, g.pred_off + member * g.ints_ms,
        g.slot_off + member * g.state_ms);
}

const WG: u32 = 256u;
var<workgroup> loss_part: array<f32, WG>;
var<workgroup> correct_part: array<f32, WG>;

@compute @workgroup_size(WG)
fn cross_entropy(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    enter(wid.z);
    var loss = 0.0;
    var correct = 0.0;
    let inv_rows = 1.0 / f32(g.rows);
    for (var r = lid; r < g.rows; r += WG) {
        let row = base.logits + r * g.classes;
        var m = acts[row];
        var arg = 0u;
        for (var c = 1u; c < g.classes; c++) {
            let z = acts[row + c];
            if (z > m) {
                m = z;
                arg = c;
            }
        }
        var s = 0.0;
        for (var c = 0u; c < g.classes; c++) {
            s += exp(acts[row + c] - m);
        }
        let y = ints[base.label + r];
        loss += m + log(s) - acts[row + y];
        correct += select(0.0, 1.0, arg == y);
        ints[base.pred + r] = arg;
        if (g.output == 1u) {
            for (var c = 0u; c < g.classes; c++) {
                let p = exp(acts[row + c] - m) / s;
                acts[base.out + r * g.classes + c] = (p - select(0.0, 1.0, c == y)) * inv_rows;
            }
        } else if (g.output == 2u) {
            for (var c = 0u; c < g.classes; c++) {
                acts[base.out + r * g.classes + c] = exp(acts[row + c] - m) / s;
            }
        }
    }
    loss_part[lid] = loss;
    correct_part[lid] = correct;
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        workgroupBarrier();
        if (lid < stride) {
            loss_part[lid] += loss_part[lid + stride];
            correct_part[lid] += correct_part[lid + stride];
        }
    }
    if (lid == 0u) {
        state[base.slot] = loss_part[0];
        state[base.slot + 1u] = correct_part[0];
    }
}

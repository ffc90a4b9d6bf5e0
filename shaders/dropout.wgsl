// dropout.wgsl: inverted dropout, the unfused form.
//   dropout  acts[dst_off + e] = acts[src_off + e] * keep(e) / (1 - p), e < n
// The forward and the backward pass are the same operation (the backward multiplies the
// incoming gradient by the same mask and scale), so one entry point serves both.
// keep(e) = dropout_keep(seed, step, layer, e, threshold) from common.wgsl (through
// `epilogue`), e = row*F + col.
// Training fuses this mask into the epilogues of linear_forward and batch_norm_apply
// (forward) and linear_backward_data (backward); tests check the fused forms against this.
// Bindings: common.wgsl (acts).
struct Dropout {
    n: u32,
    src_off: u32,
    dst_off: u32,
    acts_ms: u32,
    // relu 0: the epilogue's dropout alone
    mask: Epilogue,
}
var<immediate> g: Dropout;

// This invocation's pack member's offsets and mask, set by `enter` with its member (z).
var<private> src: u32;
var<private> dst: u32;
var<private> mask: Epilogue;

fn enter(member: u32) {
    src = g.src_off + member * g.acts_ms;
    dst = g.dst_off + member * g.acts_ms;
    mask = member_epilogue(g.mask, member);
}

@compute @workgroup_size(64)
fn dropout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    enter(gid.z);
    let e = flat_id(gid, nwg, 64u);
    if (e < g.n) {
        acts[dst + e] = epilogue(mask, acts[src + e], e);
    }
}

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
    // relu 0: the epilogue's dropout alone
    mask: Epilogue,
}
var<immediate> g: Dropout;

@compute @workgroup_size(64)
fn dropout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = flat_id(gid, nwg, 64u);
    if (e < g.n) {
        acts[g.dst_off + e] = epilogue(g.mask, acts[g.src_off + e], e);
    }
}

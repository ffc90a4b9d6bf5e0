// gather.wgsl: build a batch from the resident dataset.
// gather: rows x INPUTS f32 written to acts[out_off..] (out_off a multiple of 4) as ((pixel / 255) - mean) / std, pixels
//   of image indices[index_off + r]; its label to ints[label_off + r].
// One invocation per u32 word of pixels (INPUTS / 4 per image); workgroup 64 over a 2D
// grid. The host prepends const INPUTS (model::INPUTS, gpu/shaders.rs).
// Bindings: common.wgsl (ints, pixels, labels, indices) and acts through the vec4 view.
struct Gather {
    rows: u32,
    index_off: u32,
    out_off: u32,
    label_off: u32,
    mean: f32,
    inv_std: f32,
    // words from one pack member's region of indices, acts, ints to the next
    index_ms: u32,
    acts_ms: u32,
    ints_ms: u32,
}
var<immediate> g: Gather;

// This invocation's pack member's offsets, set by `enter` with its member (the grid's z).
struct Offsets {
    index: u32,
    out: u32,
    label: u32,
}
var<private> base: Offsets;

fn enter(member: u32) {
    base = Offsets(g.index_off + member * g.index_ms, g.out_off + member * g.acts_ms,
        g.label_off + member * g.ints_ms);
}

// The batch is written four pixels at a time; out_off is a multiple of 4.
@group(0) @binding(1) var<storage, read_write> acts4: array<vec4<f32>>;

const WORDS: u32 = INPUTS / 4u;

@compute @workgroup_size(64)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    enter(gid.z);
    let id = flat_id(gid, nwg, 64u);
    if (id >= g.rows * WORDS) {
        return;
    }
    let r = id / WORDS;
    let w = id % WORDS;
    let img = indices[base.index + r];
    let word = pixels[img * WORDS + w];
    let bytes = vec4<f32>(vec4<u32>(word, word >> 8u, word >> 16u, word >> 24u) & vec4<u32>(0xffu));
    acts4[(base.out + r * INPUTS) / 4u + w] = (bytes / 255.0 - g.mean) * g.inv_std;
    if (w == 0u) {
        ints[base.label + r] = (labels[img / 4u] >> (8u * (img % 4u))) & 0xffu;
    }
}

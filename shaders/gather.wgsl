// gather.wgsl: build a batch from the resident data set, normalised.
// gather: rows x inputs f32 written to acts[out_off..] as (v / divisor - mean[c]) * inv_std[c],
//   v being value c of sample indices[index_off + r]; the sample's label to ints[label_off + r].
//   values: 8-bit, packed four to a u32 word in sample order (value c of sample i is byte
//   i * inputs + c of the buffer), or f32 bits, one a word (f32_values != 0).
//   mean and inv_std: the immediates' for every input, or with columns != 0 each input's own,
//   as f32 bits at the head of the index buffer: mean[c] at indices[c], inv_std[c] at
//   indices[inputs + c] (Rust: gpu::gather::stats_words).
//   With wide != 0 (inputs and out_off multiples of 4) an invocation gathers four values and
//   stores them as one vec4; else one value. Twin: reference::gather.
// Workgroup 64 over a 2D grid; pack members along z.
// Bindings: common.wgsl (labels, indices, ints), and vec4 views of acts and values (the
// only views of those two this entry point uses).
struct Gather {
    rows: u32,
    index_off: u32,
    out_off: u32,
    label_off: u32,
    inputs: u32,
    f32_values: u32,
    wide: u32,
    columns: u32,
    divisor: f32,
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

@group(0) @binding(1) var<storage, read_write> acts4: array<vec4<f32>>;
@group(1) @binding(0) var<storage, read> values4: array<vec4<u32>>;

// Word w of the values (one entry point may use only one view of a binding: this one).
fn word(w: u32) -> u32 {
    return values4[w / 4u][w % 4u];
}

// Value i of the data set, not normalised.
fn value(i: u32) -> f32 {
    if (g.f32_values != 0u) {
        return bitcast<f32>(word(i));
    }
    return f32((word(i / 4u) >> (8u * (i % 4u))) & 0xffu);
}

// Values i..i+4 (i a multiple of 4), not normalised.
fn value4(i: u32) -> vec4<f32> {
    if (g.f32_values != 0u) {
        return bitcast<vec4<f32>>(values4[i / 4u]);
    }
    let w = word(i / 4u);
    return vec4<f32>(vec4<u32>(w, w >> 8u, w >> 16u, w >> 24u) & vec4<u32>(0xffu));
}

// Input c's mean and 1 / std.
fn stats(c: u32) -> vec2<f32> {
    if (g.columns == 0u) {
        return vec2<f32>(g.mean, g.inv_std);
    }
    return vec2<f32>(bitcast<f32>(indices[c]), bitcast<f32>(indices[g.inputs + c]));
}

@compute @workgroup_size(64)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    enter(gid.z);
    let id = flat_id(gid, nwg, 64u);
    let per = select(1u, 4u, g.wide != 0u);
    let lanes = g.inputs / per;
    if (id >= g.rows * lanes) {
        return;
    }
    let r = id / lanes;
    let c = (id % lanes) * per;
    let sample = indices[base.index + r];
    let at = sample * g.inputs + c;
    let out = base.out + r * g.inputs + c;
    if (g.wide != 0u) {
        let s = array<vec2<f32>, 4>(stats(c), stats(c + 1u), stats(c + 2u), stats(c + 3u));
        let mean = vec4<f32>(s[0].x, s[1].x, s[2].x, s[3].x);
        let inv_std = vec4<f32>(s[0].y, s[1].y, s[2].y, s[3].y);
        acts4[out / 4u] = (value4(at) / g.divisor - mean) * inv_std;
    } else {
        let s = stats(c);
        acts4[out / 4u][out % 4u] = (value(at) / g.divisor - s.x) * s.y;
    }
    if (c == 0u) {
        ints[base.label + r] = labels[sample];
    }
}

// linear.wgsl: fully-connected layer products, each invocation a register block of C.
//
// All three products are C[m, n] = sum_k A(m, k) B(k, n) with A read from acts and B from
// params (forward, backward_data) or acts (backward_weight), addressed through strides so
// that no operand is ever transposed in memory:
//   linear_forward          Y[rows, out] = X[rows, in] W[out, in]^T + b, then optional ReLU
//                           and dropout (fused epilogue; dropout.wgsl has the unfused form)
//                           A(m,k) = X[m*in + k], B(k,n) = W[n*in + k]
//   linear_backward_data    dX[rows, in] = dY[rows, out] W[out, in], then, optionally, the
//                           ReLU + dropout mask of the input X (fused ReLU backward: the
//                           gradient passes where X > 0, scaled by 1/(1-p))
//                           A(m,k) = dY[m*out + k], B(k,n) = W[k*in + n]
//   linear_backward_weight  dW[out, in] = dY^T X into grads, and db = column sums of dY
//                           (M more invocations after the blocks, one per feature)
//                           A(m,k) = dY[k*out + m], B(k,n) = X[k*in + n]
// Each comes in two forms:
//   <name>       any shapes and offsets; TM x TN scalar register block (the host prepends
//                const TM, TN (multiple of 4), WG for the adapter's variant)
//   <name>_vec4  8 x 8 block with every operand read as vec4 along its contiguous
//                dimension: 4x fewer loads, which is what a CPU adapter pays for (lavapipe
//                runs a loop over the SIMD lanes for every storage load). Needs the
//                contiguous dimensions and the offsets to be multiples of 4; the host picks it
//                when they are (gpu/linear.rs).
// Invocation i takes block i, column blocks first (see `origin`).
// Ragged edges: rows/columns past M or N are clamped to the last one for loading and
// never stored, so shapes need not be multiples of the block.
// Bindings: common.wgsl (params, acts, grads); the _vec4 forms read the same buffers
// through the vec4 views below, which an entry point cannot mix with the scalar ones.
struct Linear {
    m: u32,
    n: u32,
    k: u32,
    a_off: u32,
    a_sm: u32,
    a_sk: u32,
    b_off: u32,
    b_sk: u32,
    b_sn: u32,
    c_off: u32,
    // forward: bias offset in params; backward_data: offset of X in acts (mask source);
    // backward_weight: offset of db in grads
    aux_off: u32,
    relu: u32,
    drop_threshold: u32,
    drop_scale: f32,
    seed: u32,
    step: u32,
    layer: u32,
}
var<immediate> g: Linear;

const NV: u32 = TN / 4u;
var<private> acc: array<vec4<f32>, TM * NV>;

fn load_b(i: u32, from_params: bool) -> f32 {
    if (from_params) {
        return params[i];
    }
    return acts[i];
}

// acc = the TM x TN block of C at (m0, n0).
fn tile(m0: u32, n0: u32, b_in_params: bool) {
    var a_row: array<u32, TM>;
    var b_col: array<u32, TN>;
    for (var i = 0u; i < TM; i++) {
        a_row[i] = g.a_off + min(m0 + i, g.m - 1u) * g.a_sm;
    }
    for (var j = 0u; j < TN; j++) {
        b_col[j] = g.b_off + min(n0 + j, g.n - 1u) * g.b_sn;
    }
    for (var i = 0u; i < TM * NV; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    for (var k = 0u; k < g.k; k++) {
        let ak = k * g.a_sk;
        let bk = k * g.b_sk;
        var b: array<vec4<f32>, NV>;
        for (var v = 0u; v < NV; v++) {
            b[v] = vec4<f32>(
                load_b(b_col[4u * v] + bk, b_in_params),
                load_b(b_col[4u * v + 1u] + bk, b_in_params),
                load_b(b_col[4u * v + 2u] + bk, b_in_params),
                load_b(b_col[4u * v + 3u] + bk, b_in_params),
            );
        }
        for (var i = 0u; i < TM; i++) {
            let a = vec4<f32>(acts[a_row[i] + ak]);
            for (var v = 0u; v < NV; v++) {
                acc[i * NV + v] = fma(a, b[v], acc[i * NV + v]);
            }
        }
    }
}

fn acc_at(i: u32, j: u32) -> f32 {
    return acc[i * NV + j / 4u][j % 4u];
}

// Origin (m0, n0) of the tm x tn block of invocation `id`; consecutive invocations take
// consecutive column blocks. Past the last block m0 >= M: nothing to do, except for
// backward_weight, whose next M invocations sum the bias gradient.
fn origin(id: u32, tm: u32, tn: u32) -> vec2<u32> {
    let tiles_n = (g.n + tn - 1u) / tn;
    return vec2<u32>((id / tiles_n) * tm, (id % tiles_n) * tn);
}

// db[m] = sum_k A(m, k): for backward_weight, the column sums of dY.
fn bias_grad(m: u32) -> f32 {
    var s = 0.0;
    for (var k = 0u; k < g.k; k++) {
        s += acts[g.a_off + m * g.a_sm + k * g.a_sk];
    }
    return s;
}

// The invocation after the last tm x tn block that sums db[m], if any.
fn bias_row(id: u32, tm: u32, tn: u32) -> u32 {
    let tiles = ((g.m + tm - 1u) / tm) * ((g.n + tn - 1u) / tn);
    return select(g.m, id - tiles, id >= tiles);
}

// The forward epilogue after the bias: ReLU, then dropout of element (m, n).
fn activate(y: f32, m: u32, n: u32) -> f32 {
    var v = y;
    if (g.relu != 0u) {
        v = max(v, 0.0);
    }
    if (g.drop_threshold != 0u) {
        let keep = dropout_keep(g.seed, g.step, g.layer, m * g.n + n, g.drop_threshold);
        v = select(0.0, v * g.drop_scale, keep);
    }
    return v;
}

// The backward-data epilogue: the ReLU/dropout mask read off the input value x.
fn mask_by_input(dx: f32, x: f32) -> f32 {
    if (g.relu != 0u) {
        return select(0.0, dx * g.drop_scale, x > 0.0);
    }
    return dx;
}

@compute @workgroup_size(WG)
fn linear_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = origin(flat_id(gid, nwg, WG), TM, TN);
    let m0 = o.x;
    let n0 = o.y;
    if (m0 >= g.m || n0 >= g.n) {
        return;
    }
    tile(m0, n0, true);
    for (var i = 0u; i < TM; i++) {
        let m = m0 + i;
        for (var j = 0u; j < TN; j++) {
            let n = n0 + j;
            if (m < g.m && n < g.n) {
                acts[g.c_off + m * g.n + n] = activate(acc_at(i, j) + params[g.aux_off + n], m, n);
            }
        }
    }
}

@compute @workgroup_size(WG)
fn linear_backward_data(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = origin(flat_id(gid, nwg, WG), TM, TN);
    let m0 = o.x;
    let n0 = o.y;
    if (m0 >= g.m || n0 >= g.n) {
        return;
    }
    tile(m0, n0, true);
    for (var i = 0u; i < TM; i++) {
        let m = m0 + i;
        for (var j = 0u; j < TN; j++) {
            let n = n0 + j;
            if (m < g.m && n < g.n) {
                let at = m * g.n + n;
                acts[g.c_off + at] = mask_by_input(acc_at(i, j), acts[g.aux_off + at]);
            }
        }
    }
}

@compute @workgroup_size(WG)
fn linear_backward_weight(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = flat_id(gid, nwg, WG);
    let bias = bias_row(id, TM, TN);
    if (bias < g.m) {
        grads[g.aux_off + bias] = bias_grad(bias);
        return;
    }
    let o = origin(id, TM, TN);
    let m0 = o.x;
    let n0 = o.y;
    if (m0 >= g.m) {
        return;
    }
    tile(m0, n0, false);
    for (var i = 0u; i < TM; i++) {
        let m = m0 + i;
        for (var j = 0u; j < TN; j++) {
            let n = n0 + j;
            if (m < g.m && n < g.n) {
                grads[g.c_off + m * g.n + n] = acc_at(i, j);
            }
        }
    }
}

// ---- vec4 forms: 8 x 8 blocks, operands as vec4 (see the header) ----
@group(0) @binding(0) var<storage, read_write> params4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> acts4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> grads4: array<vec4<f32>>;

const FORWARD: u32 = 0u;
const BACKWARD_DATA: u32 = 1u;
const BACKWARD_WEIGHT: u32 = 2u;

fn acts_at(i: u32) -> f32 {
    return acts4[i / 4u][i % 4u];
}

// Index of the vec4 holding element i (a multiple of 4) of a row, clamped to the last row.
fn row4(off: u32, r: u32, last: u32, stride: u32) -> u32 {
    return (off + min(r, last) * stride) / 4u;
}

fn store_forward4(m0: u32, n0: u32, i: u32, j: u32, v: f32) {
    let m = m0 + i;
    let n = n0 + j;
    if (m < g.m && n < g.n) {
        let b = g.aux_off + n;
        let c = g.c_off + m * g.n + n;
        acts4[c / 4u][c % 4u] = activate(v + params4[b / 4u][b % 4u], m, n);
    }
}

fn store_backward_data4(m0: u32, n0: u32, i: u32, j: u32, v: f32) {
    let m = m0 + i;
    let n = n0 + j;
    if (m < g.m && n < g.n) {
        let at = m * g.n + n;
        let c = g.c_off + at;
        acts4[c / 4u][c % 4u] = mask_by_input(v, acts_at(g.aux_off + at));
    }
}

fn store_backward_weight4(m0: u32, n0: u32, i: u32, j: u32, v: f32) {
    let m = m0 + i;
    let n = n0 + j;
    if (m < g.m && n < g.n) {
        let c = g.c_off + m * g.n + n;
        grads4[c / 4u][c % 4u] = v;
    }
}

// Stores element (i, j) of the block at o through the epilogue of `kind`.
fn store4(kind: u32, o: vec2<u32>, i: u32, j: u32, v: f32) {
    switch kind {
        case FORWARD: {
            store_forward4(o.x, o.y, i, j, v);
        }
        case BACKWARD_DATA: {
            store_backward_data4(o.x, o.y, i, j, v);
        }
        default: {
            store_backward_weight4(o.x, o.y, i, j, v);
        }
    }
}

// Stores row i of the block: columns 0-3 from ca, 4-7 from cb.
fn store_row(kind: u32, o: vec2<u32>, i: u32, ca: vec4<f32>, cb: vec4<f32>) {
    for (var j = 0u; j < 4u; j++) {
        store4(kind, o, i, j, ca[j]);
        store4(kind, o, i, j + 4u, cb[j]);
    }
}

// Forward: A and B both run along k, so each step reads 4 k of 8 rows of X and 8 rows of W.
@compute @workgroup_size(WG)
fn linear_forward_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = origin(flat_id(gid, nwg, WG), 8u, 8u);
    if (o.x >= g.m || o.y >= g.n) {
        return;
    }
    let a0 = row4(g.a_off, o.x + 0u, g.m - 1u, g.a_sm);
    let a1 = row4(g.a_off, o.x + 1u, g.m - 1u, g.a_sm);
    let a2 = row4(g.a_off, o.x + 2u, g.m - 1u, g.a_sm);
    let a3 = row4(g.a_off, o.x + 3u, g.m - 1u, g.a_sm);
    let a4 = row4(g.a_off, o.x + 4u, g.m - 1u, g.a_sm);
    let a5 = row4(g.a_off, o.x + 5u, g.m - 1u, g.a_sm);
    let a6 = row4(g.a_off, o.x + 6u, g.m - 1u, g.a_sm);
    let a7 = row4(g.a_off, o.x + 7u, g.m - 1u, g.a_sm);
    let b0 = row4(g.b_off, o.y + 0u, g.n - 1u, g.b_sn);
    let b1 = row4(g.b_off, o.y + 1u, g.n - 1u, g.b_sn);
    let b2 = row4(g.b_off, o.y + 2u, g.n - 1u, g.b_sn);
    let b3 = row4(g.b_off, o.y + 3u, g.n - 1u, g.b_sn);
    let b4 = row4(g.b_off, o.y + 4u, g.n - 1u, g.b_sn);
    let b5 = row4(g.b_off, o.y + 5u, g.n - 1u, g.b_sn);
    let b6 = row4(g.b_off, o.y + 6u, g.n - 1u, g.b_sn);
    let b7 = row4(g.b_off, o.y + 7u, g.n - 1u, g.b_sn);
    var c0a = vec4<f32>(0.0);
    var c0b = vec4<f32>(0.0);
    var c1a = vec4<f32>(0.0);
    var c1b = vec4<f32>(0.0);
    var c2a = vec4<f32>(0.0);
    var c2b = vec4<f32>(0.0);
    var c3a = vec4<f32>(0.0);
    var c3b = vec4<f32>(0.0);
    var c4a = vec4<f32>(0.0);
    var c4b = vec4<f32>(0.0);
    var c5a = vec4<f32>(0.0);
    var c5b = vec4<f32>(0.0);
    var c6a = vec4<f32>(0.0);
    var c6b = vec4<f32>(0.0);
    var c7a = vec4<f32>(0.0);
    var c7b = vec4<f32>(0.0);
    for (var k = 0u; k < g.k / 4u; k++) {
        let w0 = params4[b0 + k];
        let w1 = params4[b1 + k];
        let w2 = params4[b2 + k];
        let w3 = params4[b3 + k];
        let w4 = params4[b4 + k];
        let w5 = params4[b5 + k];
        let w6 = params4[b6 + k];
        let w7 = params4[b7 + k];
        let x0 = acts4[a0 + k];
        c0a += vec4<f32>(dot(x0, w0), dot(x0, w1), dot(x0, w2), dot(x0, w3));
        c0b += vec4<f32>(dot(x0, w4), dot(x0, w5), dot(x0, w6), dot(x0, w7));
        let x1 = acts4[a1 + k];
        c1a += vec4<f32>(dot(x1, w0), dot(x1, w1), dot(x1, w2), dot(x1, w3));
        c1b += vec4<f32>(dot(x1, w4), dot(x1, w5), dot(x1, w6), dot(x1, w7));
        let x2 = acts4[a2 + k];
        c2a += vec4<f32>(dot(x2, w0), dot(x2, w1), dot(x2, w2), dot(x2, w3));
        c2b += vec4<f32>(dot(x2, w4), dot(x2, w5), dot(x2, w6), dot(x2, w7));
        let x3 = acts4[a3 + k];
        c3a += vec4<f32>(dot(x3, w0), dot(x3, w1), dot(x3, w2), dot(x3, w3));
        c3b += vec4<f32>(dot(x3, w4), dot(x3, w5), dot(x3, w6), dot(x3, w7));
        let x4 = acts4[a4 + k];
        c4a += vec4<f32>(dot(x4, w0), dot(x4, w1), dot(x4, w2), dot(x4, w3));
        c4b += vec4<f32>(dot(x4, w4), dot(x4, w5), dot(x4, w6), dot(x4, w7));
        let x5 = acts4[a5 + k];
        c5a += vec4<f32>(dot(x5, w0), dot(x5, w1), dot(x5, w2), dot(x5, w3));
        c5b += vec4<f32>(dot(x5, w4), dot(x5, w5), dot(x5, w6), dot(x5, w7));
        let x6 = acts4[a6 + k];
        c6a += vec4<f32>(dot(x6, w0), dot(x6, w1), dot(x6, w2), dot(x6, w3));
        c6b += vec4<f32>(dot(x6, w4), dot(x6, w5), dot(x6, w6), dot(x6, w7));
        let x7 = acts4[a7 + k];
        c7a += vec4<f32>(dot(x7, w0), dot(x7, w1), dot(x7, w2), dot(x7, w3));
        c7b += vec4<f32>(dot(x7, w4), dot(x7, w5), dot(x7, w6), dot(x7, w7));
    }
    store_row(FORWARD, o, 0u, c0a, c0b);
    store_row(FORWARD, o, 1u, c1a, c1b);
    store_row(FORWARD, o, 2u, c2a, c2b);
    store_row(FORWARD, o, 3u, c3a, c3b);
    store_row(FORWARD, o, 4u, c4a, c4b);
    store_row(FORWARD, o, 5u, c5a, c5b);
    store_row(FORWARD, o, 6u, c6a, c6b);
    store_row(FORWARD, o, 7u, c7a, c7b);
}

// Backward data: A = dY runs along k (4 k of 8 rows per step), B = W along n (two vec4 of
// 8 columns for each of the 4 k).
@compute @workgroup_size(WG)
fn linear_backward_data_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = origin(flat_id(gid, nwg, WG), 8u, 8u);
    if (o.x >= g.m || o.y >= g.n) {
        return;
    }
    // columns n0..n0+8 of row k of W: vec4 index, clamped to the row's last vec4
    let last4 = g.n / 4u - 1u;
    let na = min(o.y / 4u, last4);
    let nb = min(o.y / 4u + 1u, last4);
    let a0 = row4(g.a_off, o.x + 0u, g.m - 1u, g.a_sm);
    let a1 = row4(g.a_off, o.x + 1u, g.m - 1u, g.a_sm);
    let a2 = row4(g.a_off, o.x + 2u, g.m - 1u, g.a_sm);
    let a3 = row4(g.a_off, o.x + 3u, g.m - 1u, g.a_sm);
    let a4 = row4(g.a_off, o.x + 4u, g.m - 1u, g.a_sm);
    let a5 = row4(g.a_off, o.x + 5u, g.m - 1u, g.a_sm);
    let a6 = row4(g.a_off, o.x + 6u, g.m - 1u, g.a_sm);
    let a7 = row4(g.a_off, o.x + 7u, g.m - 1u, g.a_sm);
    var c0a = vec4<f32>(0.0);
    var c0b = vec4<f32>(0.0);
    var c1a = vec4<f32>(0.0);
    var c1b = vec4<f32>(0.0);
    var c2a = vec4<f32>(0.0);
    var c2b = vec4<f32>(0.0);
    var c3a = vec4<f32>(0.0);
    var c3b = vec4<f32>(0.0);
    var c4a = vec4<f32>(0.0);
    var c4b = vec4<f32>(0.0);
    var c5a = vec4<f32>(0.0);
    var c5b = vec4<f32>(0.0);
    var c6a = vec4<f32>(0.0);
    var c6b = vec4<f32>(0.0);
    var c7a = vec4<f32>(0.0);
    var c7b = vec4<f32>(0.0);
    for (var k = 0u; k < g.k / 4u; k++) {
        let x0 = acts4[a0 + k];
        let x1 = acts4[a1 + k];
        let x2 = acts4[a2 + k];
        let x3 = acts4[a3 + k];
        let x4 = acts4[a4 + k];
        let x5 = acts4[a5 + k];
        let x6 = acts4[a6 + k];
        let x7 = acts4[a7 + k];
        for (var kk = 0u; kk < 4u; kk++) {
            let row = (g.b_off + (4u * k + kk) * g.b_sk) / 4u;
            let wa = params4[row + na];
            let wb = params4[row + nb];
            c0a += x0[kk] * wa;
            c0b += x0[kk] * wb;
            c1a += x1[kk] * wa;
            c1b += x1[kk] * wb;
            c2a += x2[kk] * wa;
            c2b += x2[kk] * wb;
            c3a += x3[kk] * wa;
            c3b += x3[kk] * wb;
            c4a += x4[kk] * wa;
            c4b += x4[kk] * wb;
            c5a += x5[kk] * wa;
            c5b += x5[kk] * wb;
            c6a += x6[kk] * wa;
            c6b += x6[kk] * wb;
            c7a += x7[kk] * wa;
            c7b += x7[kk] * wb;
        }
    }
    store_row(BACKWARD_DATA, o, 0u, c0a, c0b);
    store_row(BACKWARD_DATA, o, 1u, c1a, c1b);
    store_row(BACKWARD_DATA, o, 2u, c2a, c2b);
    store_row(BACKWARD_DATA, o, 3u, c3a, c3b);
    store_row(BACKWARD_DATA, o, 4u, c4a, c4b);
    store_row(BACKWARD_DATA, o, 5u, c5a, c5b);
    store_row(BACKWARD_DATA, o, 6u, c6a, c6b);
    store_row(BACKWARD_DATA, o, 7u, c7a, c7b);
}

// Backward weight: per batch row k, A = dY[k, m0..m0+8] and B = X[k, n0..n0+8], two vec4
// each, for 64 multiply-adds. The invocations past the blocks sum dY into db.
@compute @workgroup_size(WG)
fn linear_backward_weight_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = flat_id(gid, nwg, WG);
    let bias = bias_row(id, 8u, 8u);
    if (bias < g.m) {
        var s = 0.0;
        for (var k = 0u; k < g.k; k++) {
            s += acts_at(g.a_off + bias * g.a_sm + k * g.a_sk);
        }
        let d = g.aux_off + bias;
        grads4[d / 4u][d % 4u] = s;
        return;
    }
    let o = origin(id, 8u, 8u);
    if (o.x >= g.m) {
        return;
    }
    let last_m4 = g.m / 4u - 1u;
    let last_n4 = g.n / 4u - 1u;
    let ma = min(o.x / 4u, last_m4);
    let mb = min(o.x / 4u + 1u, last_m4);
    let na = min(o.y / 4u, last_n4);
    let nb = min(o.y / 4u + 1u, last_n4);
    var c0a = vec4<f32>(0.0);
    var c0b = vec4<f32>(0.0);
    var c1a = vec4<f32>(0.0);
    var c1b = vec4<f32>(0.0);
    var c2a = vec4<f32>(0.0);
    var c2b = vec4<f32>(0.0);
    var c3a = vec4<f32>(0.0);
    var c3b = vec4<f32>(0.0);
    var c4a = vec4<f32>(0.0);
    var c4b = vec4<f32>(0.0);
    var c5a = vec4<f32>(0.0);
    var c5b = vec4<f32>(0.0);
    var c6a = vec4<f32>(0.0);
    var c6b = vec4<f32>(0.0);
    var c7a = vec4<f32>(0.0);
    var c7b = vec4<f32>(0.0);
    for (var k = 0u; k < g.k; k++) {
        let arow = (g.a_off + k * g.a_sk) / 4u;
        let brow = (g.b_off + k * g.b_sk) / 4u;
        let dya = acts4[arow + ma];
        let dyb = acts4[arow + mb];
        let xa = acts4[brow + na];
        let xb = acts4[brow + nb];
        c0a += dya[0] * xa;
        c0b += dya[0] * xb;
        c1a += dya[1] * xa;
        c1b += dya[1] * xb;
        c2a += dya[2] * xa;
        c2b += dya[2] * xb;
        c3a += dya[3] * xa;
        c3b += dya[3] * xb;
        c4a += dyb[0] * xa;
        c4b += dyb[0] * xb;
        c5a += dyb[1] * xa;
        c5b += dyb[1] * xb;
        c6a += dyb[2] * xa;
        c6b += dyb[2] * xb;
        c7a += dyb[3] * xa;
        c7b += dyb[3] * xb;
    }
    store_row(BACKWARD_WEIGHT, o, 0u, c0a, c0b);
    store_row(BACKWARD_WEIGHT, o, 1u, c1a, c1b);
    store_row(BACKWARD_WEIGHT, o, 2u, c2a, c2b);
    store_row(BACKWARD_WEIGHT, o, 3u, c3a, c3b);
    store_row(BACKWARD_WEIGHT, o, 4u, c4a, c4b);
    store_row(BACKWARD_WEIGHT, o, 5u, c5a, c5b);
    store_row(BACKWARD_WEIGHT, o, 6u, c6a, c6b);
    store_row(BACKWARD_WEIGHT, o, 7u, c7a, c7b);
}

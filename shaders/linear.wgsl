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
// Each comes in three forms here, and a fourth in linear_subgroup.wgsl; the host prepends
// const TM, TN (a multiple of 4), WG, WG_N, TILE_K for the adapter's variant
// (gpu/shaders.rs):
//   <name>       any shapes and offsets; TM x TN scalar register block per invocation
//   <name>_tiled any shapes and offsets; the GPU form: workgroup-memory tiles of
//                (WG / WG_N) TM x WG_N TN, each invocation a TM x TN register block of one
//   <name>_vec4  block8x8's fast form: large register blocks (each entry's <ENTRY>_TILE_M/N)
//                with every operand read as vec4 along its contiguous dimension: 4x fewer
//                loads, which is what a CPU adapter pays for (lavapipe runs a loop over the
//                SIMD lanes for every storage load). Needs the contiguous dimensions and
//                the offsets to be multiples of 4; block8x8 picks it when they are.
// Invocation i takes block i, column blocks first (see `origin`).
// Ragged edges: rows/columns past M or N are clamped to the last one for loading and
// never stored, so shapes need not be multiples of the block.
// Packs (common.wgsl): every entry point first calls `enter` with its member, the grid's z,
// which sets the member's offsets (`base`) and epilogue (`member_act`).
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
    // words from one pack member's A, B, C and aux to the next
    a_ms: u32,
    b_ms: u32,
    c_ms: u32,
    aux_ms: u32,
    // forward: the epilogue; backward_data: relu != 0 applies the input's mask
    act: Epilogue,
}
var<immediate> g: Linear;

// This invocation's pack member's offsets and epilogue, set by `enter`, which every entry
// point calls first with its member (the grid's z).
struct Offsets {
    a: u32,
    b: u32,
    c: u32,
    aux: u32,
}
var<private> base: Offsets;
var<private> member_act: Epilogue;

fn enter(member: u32) {
    base = Offsets(g.a_off + member * g.a_ms, g.b_off + member * g.b_ms, g.c_off + member * g.c_ms,
        g.aux_off + member * g.aux_ms);
    member_act = member_epilogue(g.act, member);
}

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
        a_row[i] = base.a + min(m0 + i, g.m - 1u) * g.a_sm;
    }
    for (var j = 0u; j < TN; j++) {
        b_col[j] = base.b + min(n0 + j, g.n - 1u) * g.b_sn;
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
        s += acts[base.a + m * g.a_sm + k * g.a_sk];
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
    return epilogue(member_act, y, m * g.n + n);
}

// The backward-data epilogue: the ReLU/dropout mask read off the input value x.
fn mask_by_input(dx: f32, x: f32) -> f32 {
    if (member_act.relu != 0u) {
        return select(0.0, dx * member_act.drop_scale, x > 0.0);
    }
    return dx;
}

// The epilogues: store the block in acc at (m0, n0), skipping what lies past M or N.
fn store_forward(m0: u32, n0: u32) {
    for (var i = 0u; i < TM; i++) {
        let m = m0 + i;
        for (var j = 0u; j < TN; j++) {
            let n = n0 + j;
            if (m < g.m && n < g.n) {
                acts[base.c + m * g.n + n] = activate(acc_at(i, j) + params[base.aux + n], m, n);
            }
        }
    }
}

fn store_backward_data(m0: u32, n0: u32) {
    for (var i = 0u; i < TM; i++) {
        let m = m0 + i;
        for (var j = 0u; j < TN; j++) {
            let n = n0 + j;
            if (m < g.m && n < g.n) {
                let at = m * g.n + n;
                acts[base.c + at] = mask_by_input(acc_at(i, j), acts[base.aux + at]);
            }
        }
    }
}

fn store_backward_weight(m0: u32, n0: u32) {
    for (var i = 0u; i < TM; i++) {
        let m = m0 + i;
        for (var j = 0u; j < TN; j++) {
            let n = n0 + j;
            if (m < g.m && n < g.n) {
                grads[base.c + m * g.n + n] = acc_at(i, j);
            }
        }
    }
}

@compute @workgroup_size(WG)
fn linear_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    enter(gid.z);
    let o = origin(flat_id(gid, nwg, WG), TM, TN);
    if (o.x >= g.m || o.y >= g.n) {
        return;
    }
    tile(o.x, o.y, true);
    store_forward(o.x, o.y);
}

@compute @workgroup_size(WG)
fn linear_backward_data(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    enter(gid.z);
    let o = origin(flat_id(gid, nwg, WG), TM, TN);
    if (o.x >= g.m || o.y >= g.n) {
        return;
    }
    tile(o.x, o.y, true);
    store_backward_data(o.x, o.y);
}

@compute @workgroup_size(WG)
fn linear_backward_weight(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    enter(gid.z);
    let id = flat_id(gid, nwg, WG);
    let bias = bias_row(id, TM, TN);
    if (bias < g.m) {
        grads[base.aux + bias] = bias_grad(bias);
        return;
    }
    let o = origin(id, TM, TN);
    if (o.x >= g.m) {
        return;
    }
    tile(o.x, o.y, false);
    store_backward_weight(o.x, o.y);
}

// ---- tiled forms (the GPU variant): a workgroup of WG_M x WG_N invocations computes a
// TILE_M x TILE_N block of C, each invocation a TM x TN block of it, stepping through K in
// slices of TILE_K staged in workgroup memory. Workgroup w takes block w in `origin`'s
// order; for backward_weight the workgroups after the blocks sum db, WG rows each. ----
const WG_M: u32 = WG / WG_N;
const TILE_M: u32 = WG_M * TM;
const TILE_N: u32 = WG_N * TN;
var<workgroup> a_tile: array<f32, TILE_K * TILE_M>; // [k][m]
var<workgroup> b_tile: array<f32, TILE_K * TILE_N>; // [k][n]

// A(m, k) and B(k, n) with m, n clamped into range and k past K read as 0.
fn a_at(m: u32, k: u32) -> f32 {
    if (k >= g.k) {
        return 0.0;
    }
    return acts[base.a + min(m, g.m - 1u) * g.a_sm + k * g.a_sk];
}

fn b_at(k: u32, n: u32, from_params: bool) -> f32 {
    if (k >= g.k) {
        return 0.0;
    }
    return load_b(base.b + k * g.b_sk + min(n, g.n - 1u) * g.b_sn, from_params);
}

// Staging: a slice of TILE_K along K of A's tile rows and B's tile columns, loaded through
// registers (A_LOADS and B_LOADS words per invocation). Element e of a slice runs along
// whichever index is contiguous in memory, so neighbouring invocations read neighbouring
// words.
const A_LOADS: u32 = (TILE_M * TILE_K + WG - 1u) / WG;
const B_LOADS: u32 = (TILE_N * TILE_K + WG - 1u) / WG;
var<private> a_next: array<f32, A_LOADS>;
var<private> b_next: array<f32, B_LOADS>;

// (m or n, k) of element e of a slice of TILE rows or columns, along the contiguous index.
fn slice_place(e: u32, rows: u32, rows_contiguous: bool) -> vec2<u32> {
    if (rows_contiguous) {
        return vec2<u32>(e % rows, e / rows);
    }
    return vec2<u32>(e / TILE_K, e % TILE_K);
}

// Loads this invocation's share of the slice at k0 into a_next and b_next.
fn fetch_slice(m0: u32, n0: u32, k0: u32, lid: u32, b_in_params: bool) {
    for (var i = 0u; i < A_LOADS; i++) {
        let p = slice_place(lid + i * WG, TILE_M, g.a_sm == 1u);
        a_next[i] = a_at(m0 + p.x, k0 + p.y);
    }
    for (var i = 0u; i < B_LOADS; i++) {
        let p = slice_place(lid + i * WG, TILE_N, g.b_sn == 1u);
        b_next[i] = b_at(k0 + p.y, n0 + p.x, b_in_params);
    }
}

// Stores what fetch_slice loaded into the workgroup's tiles.
fn store_slice(lid: u32) {
    for (var i = 0u; i < A_LOADS; i++) {
        let e = lid + i * WG;
        if (e < TILE_M * TILE_K) {
            let p = slice_place(e, TILE_M, g.a_sm == 1u);
            a_tile[p.y * TILE_M + p.x] = a_next[i];
        }
    }
    for (var i = 0u; i < B_LOADS; i++) {
        let e = lid + i * WG;
        if (e < TILE_N * TILE_K) {
            let p = slice_place(e, TILE_N, g.b_sn == 1u);
            b_tile[p.y * TILE_N + p.x] = b_next[i];
        }
    }
}

// acc = invocation lid's TM x TN block of the workgroup's block at (m0, n0). Each slice's
// loads are all issued before any is stored (fetch_slice, then store_slice): one memory
// latency per slice, not one per word.
fn tile_shared(m0: u32, n0: u32, lid: u32, b_in_params: bool) {
    let row = (lid / WG_N) * TM;
    let col = (lid % WG_N) * TN;
    for (var i = 0u; i < TM * NV; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    for (var k0 = 0u; k0 < g.k; k0 += TILE_K) {
        fetch_slice(m0, n0, k0, lid, b_in_params);
        store_slice(lid);
        workgroupBarrier();
        for (var k = 0u; k < TILE_K; k++) {
            var b: array<vec4<f32>, NV>;
            for (var v = 0u; v < NV; v++) {
                let at = k * TILE_N + col + 4u * v;
                b[v] = vec4<f32>(b_tile[at], b_tile[at + 1u], b_tile[at + 2u], b_tile[at + 3u]);
            }
            for (var i = 0u; i < TM; i++) {
                let a = vec4<f32>(a_tile[k * TILE_M + row + i]);
                for (var v = 0u; v < NV; v++) {
                    acc[i * NV + v] = fma(a, b[v], acc[i * NV + v]);
                }
            }
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(WG)
fn linear_forward_tiled(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    enter(wid.z);
    let o = origin(wid.x + wid.y * nwg.x, TILE_M, TILE_N);
    if (o.x >= g.m) {
        return;
    }
    tile_shared(o.x, o.y, lid, true);
    store_forward(o.x + (lid / WG_N) * TM, o.y + (lid % WG_N) * TN);
}

@compute @workgroup_size(WG)
fn linear_backward_data_tiled(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    enter(wid.z);
    let o = origin(wid.x + wid.y * nwg.x, TILE_M, TILE_N);
    if (o.x >= g.m) {
        return;
    }
    tile_shared(o.x, o.y, lid, true);
    store_backward_data(o.x + (lid / WG_N) * TM, o.y + (lid % WG_N) * TN);
}

@compute @workgroup_size(WG)
fn linear_backward_weight_tiled(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    enter(wid.z);
    let w = wid.x + wid.y * nwg.x;
    let blocks = ((g.m + TILE_M - 1u) / TILE_M) * ((g.n + TILE_N - 1u) / TILE_N);
    if (w >= blocks) {
        let r = (w - blocks) * WG + lid;
        if (r < g.m) {
            grads[base.aux + r] = bias_grad(r);
        }
        return;
    }
    let o = origin(w, TILE_M, TILE_N);
    tile_shared(o.x, o.y, lid, false);
    store_backward_weight(o.x + (lid / WG_N) * TM, o.y + (lid % WG_N) * TN);
}

// ---- vec4 forms: blocks and operands as vec4 (see the header) ----
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
        let b = base.aux + n;
        let c = base.c + m * g.n + n;
        acts4[c / 4u][c % 4u] = activate(v + params4[b / 4u][b % 4u], m, n);
    }
}

fn store_backward_data4(m0: u32, n0: u32, i: u32, j: u32, v: f32) {
    let m = m0 + i;
    let n = n0 + j;
    if (m < g.m && n < g.n) {
        let at = m * g.n + n;
        let c = base.c + at;
        acts4[c / 4u][c % 4u] = mask_by_input(v, acts_at(base.aux + at));
    }
}

fn store_backward_weight4(m0: u32, n0: u32, i: u32, j: u32, v: f32) {
    let m = m0 + i;
    let n = n0 + j;
    if (m < g.m && n < g.n) {
        let c = base.c + m * g.n + n;
        grads4[c / 4u][c % 4u] = v;
    }
}

// Stores elements (i, j0..j0+4) of the block at o through the epilogue of `kind`.
fn store_quad(kind: u32, o: vec2<u32>, i: u32, j0: u32, c: vec4<f32>) {
    for (var j = 0u; j < 4u; j++) {
        switch kind {
            case FORWARD: {
                store_forward4(o.x, o.y, i, j0 + j, c[j]);
            }
            case BACKWARD_DATA: {
                store_backward_data4(o.x, o.y, i, j0 + j, c[j]);
            }
            default: {
                store_backward_weight4(o.x, o.y, i, j0 + j, c[j]);
            }
        }
    }
}

// db[m] for the vec4 forms (the scalar views cannot be mixed in).
fn bias_grad4(m: u32) {
    var s = 0.0;
    for (var k = 0u; k < g.k; k++) {
        s += acts_at(base.a + m * g.a_sm + k * g.a_sk);
    }
    let d = base.aux + m;
    grads4[d / 4u][d % 4u] = s;
}

// ---- generated by scripts/gen_linear_cpu.py below this line ----
// Forward, 16 x 16: A and B both run along k; each step reads 4 k of 16 rows of X and 16 rows of W.
const LINEAR_FORWARD_VEC4_TILE_M: u32 = 16u;
const LINEAR_FORWARD_VEC4_TILE_N: u32 = 16u;
@compute @workgroup_size(WG)
fn linear_forward_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    enter(gid.z);
    let id = flat_id(gid, nwg, WG);
    let o = origin(id, LINEAR_FORWARD_VEC4_TILE_M, LINEAR_FORWARD_VEC4_TILE_N);
    if (o.x >= g.m || o.y >= g.n) {
        return;
    }
    let a0 = row4(base.a, o.x + 0u, g.m - 1u, g.a_sm);
    let a1 = row4(base.a, o.x + 1u, g.m - 1u, g.a_sm);
    let a2 = row4(base.a, o.x + 2u, g.m - 1u, g.a_sm);
    let a3 = row4(base.a, o.x + 3u, g.m - 1u, g.a_sm);
    let a4 = row4(base.a, o.x + 4u, g.m - 1u, g.a_sm);
    let a5 = row4(base.a, o.x + 5u, g.m - 1u, g.a_sm);
    let a6 = row4(base.a, o.x + 6u, g.m - 1u, g.a_sm);
    let a7 = row4(base.a, o.x + 7u, g.m - 1u, g.a_sm);
    let a8 = row4(base.a, o.x + 8u, g.m - 1u, g.a_sm);
    let a9 = row4(base.a, o.x + 9u, g.m - 1u, g.a_sm);
    let a10 = row4(base.a, o.x + 10u, g.m - 1u, g.a_sm);
    let a11 = row4(base.a, o.x + 11u, g.m - 1u, g.a_sm);
    let a12 = row4(base.a, o.x + 12u, g.m - 1u, g.a_sm);
    let a13 = row4(base.a, o.x + 13u, g.m - 1u, g.a_sm);
    let a14 = row4(base.a, o.x + 14u, g.m - 1u, g.a_sm);
    let a15 = row4(base.a, o.x + 15u, g.m - 1u, g.a_sm);
    let b0 = row4(base.b, o.y + 0u, g.n - 1u, g.b_sn);
    let b1 = row4(base.b, o.y + 1u, g.n - 1u, g.b_sn);
    let b2 = row4(base.b, o.y + 2u, g.n - 1u, g.b_sn);
    let b3 = row4(base.b, o.y + 3u, g.n - 1u, g.b_sn);
    let b4 = row4(base.b, o.y + 4u, g.n - 1u, g.b_sn);
    let b5 = row4(base.b, o.y + 5u, g.n - 1u, g.b_sn);
    let b6 = row4(base.b, o.y + 6u, g.n - 1u, g.b_sn);
    let b7 = row4(base.b, o.y + 7u, g.n - 1u, g.b_sn);
    let b8 = row4(base.b, o.y + 8u, g.n - 1u, g.b_sn);
    let b9 = row4(base.b, o.y + 9u, g.n - 1u, g.b_sn);
    let b10 = row4(base.b, o.y + 10u, g.n - 1u, g.b_sn);
    let b11 = row4(base.b, o.y + 11u, g.n - 1u, g.b_sn);
    let b12 = row4(base.b, o.y + 12u, g.n - 1u, g.b_sn);
    let b13 = row4(base.b, o.y + 13u, g.n - 1u, g.b_sn);
    let b14 = row4(base.b, o.y + 14u, g.n - 1u, g.b_sn);
    let b15 = row4(base.b, o.y + 15u, g.n - 1u, g.b_sn);
    var c0_0 = vec4<f32>(0.0);
    var c0_1 = vec4<f32>(0.0);
    var c0_2 = vec4<f32>(0.0);
    var c0_3 = vec4<f32>(0.0);
    var c1_0 = vec4<f32>(0.0);
    var c1_1 = vec4<f32>(0.0);
    var c1_2 = vec4<f32>(0.0);
    var c1_3 = vec4<f32>(0.0);
    var c2_0 = vec4<f32>(0.0);
    var c2_1 = vec4<f32>(0.0);
    var c2_2 = vec4<f32>(0.0);
    var c2_3 = vec4<f32>(0.0);
    var c3_0 = vec4<f32>(0.0);
    var c3_1 = vec4<f32>(0.0);
    var c3_2 = vec4<f32>(0.0);
    var c3_3 = vec4<f32>(0.0);
    var c4_0 = vec4<f32>(0.0);
    var c4_1 = vec4<f32>(0.0);
    var c4_2 = vec4<f32>(0.0);
    var c4_3 = vec4<f32>(0.0);
    var c5_0 = vec4<f32>(0.0);
    var c5_1 = vec4<f32>(0.0);
    var c5_2 = vec4<f32>(0.0);
    var c5_3 = vec4<f32>(0.0);
    var c6_0 = vec4<f32>(0.0);
    var c6_1 = vec4<f32>(0.0);
    var c6_2 = vec4<f32>(0.0);
    var c6_3 = vec4<f32>(0.0);
    var c7_0 = vec4<f32>(0.0);
    var c7_1 = vec4<f32>(0.0);
    var c7_2 = vec4<f32>(0.0);
    var c7_3 = vec4<f32>(0.0);
    var c8_0 = vec4<f32>(0.0);
    var c8_1 = vec4<f32>(0.0);
    var c8_2 = vec4<f32>(0.0);
    var c8_3 = vec4<f32>(0.0);
    var c9_0 = vec4<f32>(0.0);
    var c9_1 = vec4<f32>(0.0);
    var c9_2 = vec4<f32>(0.0);
    var c9_3 = vec4<f32>(0.0);
    var c10_0 = vec4<f32>(0.0);
    var c10_1 = vec4<f32>(0.0);
    var c10_2 = vec4<f32>(0.0);
    var c10_3 = vec4<f32>(0.0);
    var c11_0 = vec4<f32>(0.0);
    var c11_1 = vec4<f32>(0.0);
    var c11_2 = vec4<f32>(0.0);
    var c11_3 = vec4<f32>(0.0);
    var c12_0 = vec4<f32>(0.0);
    var c12_1 = vec4<f32>(0.0);
    var c12_2 = vec4<f32>(0.0);
    var c12_3 = vec4<f32>(0.0);
    var c13_0 = vec4<f32>(0.0);
    var c13_1 = vec4<f32>(0.0);
    var c13_2 = vec4<f32>(0.0);
    var c13_3 = vec4<f32>(0.0);
    var c14_0 = vec4<f32>(0.0);
    var c14_1 = vec4<f32>(0.0);
    var c14_2 = vec4<f32>(0.0);
    var c14_3 = vec4<f32>(0.0);
    var c15_0 = vec4<f32>(0.0);
    var c15_1 = vec4<f32>(0.0);
    var c15_2 = vec4<f32>(0.0);
    var c15_3 = vec4<f32>(0.0);
    for (var k = 0u; k < g.k / 4u; k++) {
        let w0 = params4[b0 + k];
        let w1 = params4[b1 + k];
        let w2 = params4[b2 + k];
        let w3 = params4[b3 + k];
        let w4 = params4[b4 + k];
        let w5 = params4[b5 + k];
        let w6 = params4[b6 + k];
        let w7 = params4[b7 + k];
        let w8 = params4[b8 + k];
        let w9 = params4[b9 + k];
        let w10 = params4[b10 + k];
        let w11 = params4[b11 + k];
        let w12 = params4[b12 + k];
        let w13 = params4[b13 + k];
        let w14 = params4[b14 + k];
        let w15 = params4[b15 + k];
        let x0 = acts4[a0 + k];
        c0_0 += vec4<f32>(dot(x0, w0), dot(x0, w1), dot(x0, w2), dot(x0, w3));
        c0_1 += vec4<f32>(dot(x0, w4), dot(x0, w5), dot(x0, w6), dot(x0, w7));
        c0_2 += vec4<f32>(dot(x0, w8), dot(x0, w9), dot(x0, w10), dot(x0, w11));
        c0_3 += vec4<f32>(dot(x0, w12), dot(x0, w13), dot(x0, w14), dot(x0, w15));
        let x1 = acts4[a1 + k];
        c1_0 += vec4<f32>(dot(x1, w0), dot(x1, w1), dot(x1, w2), dot(x1, w3));
        c1_1 += vec4<f32>(dot(x1, w4), dot(x1, w5), dot(x1, w6), dot(x1, w7));
        c1_2 += vec4<f32>(dot(x1, w8), dot(x1, w9), dot(x1, w10), dot(x1, w11));
        c1_3 += vec4<f32>(dot(x1, w12), dot(x1, w13), dot(x1, w14), dot(x1, w15));
        let x2 = acts4[a2 + k];
        c2_0 += vec4<f32>(dot(x2, w0), dot(x2, w1), dot(x2, w2), dot(x2, w3));
        c2_1 += vec4<f32>(dot(x2, w4), dot(x2, w5), dot(x2, w6), dot(x2, w7));
        c2_2 += vec4<f32>(dot(x2, w8), dot(x2, w9), dot(x2, w10), dot(x2, w11));
        c2_3 += vec4<f32>(dot(x2, w12), dot(x2, w13), dot(x2, w14), dot(x2, w15));
        let x3 = acts4[a3 + k];
        c3_0 += vec4<f32>(dot(x3, w0), dot(x3, w1), dot(x3, w2), dot(x3, w3));
        c3_1 += vec4<f32>(dot(x3, w4), dot(x3, w5), dot(x3, w6), dot(x3, w7));
        c3_2 += vec4<f32>(dot(x3, w8), dot(x3, w9), dot(x3, w10), dot(x3, w11));
        c3_3 += vec4<f32>(dot(x3, w12), dot(x3, w13), dot(x3, w14), dot(x3, w15));
        let x4 = acts4[a4 + k];
        c4_0 += vec4<f32>(dot(x4, w0), dot(x4, w1), dot(x4, w2), dot(x4, w3));
        c4_1 += vec4<f32>(dot(x4, w4), dot(x4, w5), dot(x4, w6), dot(x4, w7));
        c4_2 += vec4<f32>(dot(x4, w8), dot(x4, w9), dot(x4, w10), dot(x4, w11));
        c4_3 += vec4<f32>(dot(x4, w12), dot(x4, w13), dot(x4, w14), dot(x4, w15));
        let x5 = acts4[a5 + k];
        c5_0 += vec4<f32>(dot(x5, w0), dot(x5, w1), dot(x5, w2), dot(x5, w3));
        c5_1 += vec4<f32>(dot(x5, w4), dot(x5, w5), dot(x5, w6), dot(x5, w7));
        c5_2 += vec4<f32>(dot(x5, w8), dot(x5, w9), dot(x5, w10), dot(x5, w11));
        c5_3 += vec4<f32>(dot(x5, w12), dot(x5, w13), dot(x5, w14), dot(x5, w15));
        let x6 = acts4[a6 + k];
        c6_0 += vec4<f32>(dot(x6, w0), dot(x6, w1), dot(x6, w2), dot(x6, w3));
        c6_1 += vec4<f32>(dot(x6, w4), dot(x6, w5), dot(x6, w6), dot(x6, w7));
        c6_2 += vec4<f32>(dot(x6, w8), dot(x6, w9), dot(x6, w10), dot(x6, w11));
        c6_3 += vec4<f32>(dot(x6, w12), dot(x6, w13), dot(x6, w14), dot(x6, w15));
        let x7 = acts4[a7 + k];
        c7_0 += vec4<f32>(dot(x7, w0), dot(x7, w1), dot(x7, w2), dot(x7, w3));
        c7_1 += vec4<f32>(dot(x7, w4), dot(x7, w5), dot(x7, w6), dot(x7, w7));
        c7_2 += vec4<f32>(dot(x7, w8), dot(x7, w9), dot(x7, w10), dot(x7, w11));
        c7_3 += vec4<f32>(dot(x7, w12), dot(x7, w13), dot(x7, w14), dot(x7, w15));
        let x8 = acts4[a8 + k];
        c8_0 += vec4<f32>(dot(x8, w0), dot(x8, w1), dot(x8, w2), dot(x8, w3));
        c8_1 += vec4<f32>(dot(x8, w4), dot(x8, w5), dot(x8, w6), dot(x8, w7));
        c8_2 += vec4<f32>(dot(x8, w8), dot(x8, w9), dot(x8, w10), dot(x8, w11));
        c8_3 += vec4<f32>(dot(x8, w12), dot(x8, w13), dot(x8, w14), dot(x8, w15));
        let x9 = acts4[a9 + k];
        c9_0 += vec4<f32>(dot(x9, w0), dot(x9, w1), dot(x9, w2), dot(x9, w3));
        c9_1 += vec4<f32>(dot(x9, w4), dot(x9, w5), dot(x9, w6), dot(x9, w7));
        c9_2 += vec4<f32>(dot(x9, w8), dot(x9, w9), dot(x9, w10), dot(x9, w11));
        c9_3 += vec4<f32>(dot(x9, w12), dot(x9, w13), dot(x9, w14), dot(x9, w15));
        let x10 = acts4[a10 + k];
        c10_0 += vec4<f32>(dot(x10, w0), dot(x10, w1), dot(x10, w2), dot(x10, w3));
        c10_1 += vec4<f32>(dot(x10, w4), dot(x10, w5), dot(x10, w6), dot(x10, w7));
        c10_2 += vec4<f32>(dot(x10, w8), dot(x10, w9), dot(x10, w10), dot(x10, w11));
        c10_3 += vec4<f32>(dot(x10, w12), dot(x10, w13), dot(x10, w14), dot(x10, w15));
        let x11 = acts4[a11 + k];
        c11_0 += vec4<f32>(dot(x11, w0), dot(x11, w1), dot(x11, w2), dot(x11, w3));
        c11_1 += vec4<f32>(dot(x11, w4), dot(x11, w5), dot(x11, w6), dot(x11, w7));
        c11_2 += vec4<f32>(dot(x11, w8), dot(x11, w9), dot(x11, w10), dot(x11, w11));
        c11_3 += vec4<f32>(dot(x11, w12), dot(x11, w13), dot(x11, w14), dot(x11, w15));
        let x12 = acts4[a12 + k];
        c12_0 += vec4<f32>(dot(x12, w0), dot(x12, w1), dot(x12, w2), dot(x12, w3));
        c12_1 += vec4<f32>(dot(x12, w4), dot(x12, w5), dot(x12, w6), dot(x12, w7));
        c12_2 += vec4<f32>(dot(x12, w8), dot(x12, w9), dot(x12, w10), dot(x12, w11));
        c12_3 += vec4<f32>(dot(x12, w12), dot(x12, w13), dot(x12, w14), dot(x12, w15));
        let x13 = acts4[a13 + k];
        c13_0 += vec4<f32>(dot(x13, w0), dot(x13, w1), dot(x13, w2), dot(x13, w3));
        c13_1 += vec4<f32>(dot(x13, w4), dot(x13, w5), dot(x13, w6), dot(x13, w7));
        c13_2 += vec4<f32>(dot(x13, w8), dot(x13, w9), dot(x13, w10), dot(x13, w11));
        c13_3 += vec4<f32>(dot(x13, w12), dot(x13, w13), dot(x13, w14), dot(x13, w15));
        let x14 = acts4[a14 + k];
        c14_0 += vec4<f32>(dot(x14, w0), dot(x14, w1), dot(x14, w2), dot(x14, w3));
        c14_1 += vec4<f32>(dot(x14, w4), dot(x14, w5), dot(x14, w6), dot(x14, w7));
        c14_2 += vec4<f32>(dot(x14, w8), dot(x14, w9), dot(x14, w10), dot(x14, w11));
        c14_3 += vec4<f32>(dot(x14, w12), dot(x14, w13), dot(x14, w14), dot(x14, w15));
        let x15 = acts4[a15 + k];
        c15_0 += vec4<f32>(dot(x15, w0), dot(x15, w1), dot(x15, w2), dot(x15, w3));
        c15_1 += vec4<f32>(dot(x15, w4), dot(x15, w5), dot(x15, w6), dot(x15, w7));
        c15_2 += vec4<f32>(dot(x15, w8), dot(x15, w9), dot(x15, w10), dot(x15, w11));
        c15_3 += vec4<f32>(dot(x15, w12), dot(x15, w13), dot(x15, w14), dot(x15, w15));
    }
    var out: array<vec4<f32>, 64>;
    out[0] = c0_0;
    out[1] = c0_1;
    out[2] = c0_2;
    out[3] = c0_3;
    out[4] = c1_0;
    out[5] = c1_1;
    out[6] = c1_2;
    out[7] = c1_3;
    out[8] = c2_0;
    out[9] = c2_1;
    out[10] = c2_2;
    out[11] = c2_3;
    out[12] = c3_0;
    out[13] = c3_1;
    out[14] = c3_2;
    out[15] = c3_3;
    out[16] = c4_0;
    out[17] = c4_1;
    out[18] = c4_2;
    out[19] = c4_3;
    out[20] = c5_0;
    out[21] = c5_1;
    out[22] = c5_2;
    out[23] = c5_3;
    out[24] = c6_0;
    out[25] = c6_1;
    out[26] = c6_2;
    out[27] = c6_3;
    out[28] = c7_0;
    out[29] = c7_1;
    out[30] = c7_2;
    out[31] = c7_3;
    out[32] = c8_0;
    out[33] = c8_1;
    out[34] = c8_2;
    out[35] = c8_3;
    out[36] = c9_0;
    out[37] = c9_1;
    out[38] = c9_2;
    out[39] = c9_3;
    out[40] = c10_0;
    out[41] = c10_1;
    out[42] = c10_2;
    out[43] = c10_3;
    out[44] = c11_0;
    out[45] = c11_1;
    out[46] = c11_2;
    out[47] = c11_3;
    out[48] = c12_0;
    out[49] = c12_1;
    out[50] = c12_2;
    out[51] = c12_3;
    out[52] = c13_0;
    out[53] = c13_1;
    out[54] = c13_2;
    out[55] = c13_3;
    out[56] = c14_0;
    out[57] = c14_1;
    out[58] = c14_2;
    out[59] = c14_3;
    out[60] = c15_0;
    out[61] = c15_1;
    out[62] = c15_2;
    out[63] = c15_3;
    for (var i = 0u; i < 16u; i++) {
        for (var v = 0u; v < 4u; v++) {
            store_quad(FORWARD, o, i, 4u * v, out[i * 4u + v]);
        }
    }
}

// Backward data, 8 x 16: A = dY runs along k (4 k of 8 rows per step), B = W along n
// (4 vec4 of columns for each of the 4 k).
const LINEAR_BACKWARD_DATA_VEC4_TILE_M: u32 = 8u;
const LINEAR_BACKWARD_DATA_VEC4_TILE_N: u32 = 16u;
@compute @workgroup_size(WG)
fn linear_backward_data_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    enter(gid.z);
    let id = flat_id(gid, nwg, WG);
    let o = origin(id, LINEAR_BACKWARD_DATA_VEC4_TILE_M, LINEAR_BACKWARD_DATA_VEC4_TILE_N);
    if (o.x >= g.m || o.y >= g.n) {
        return;
    }
    let last4 = g.n / 4u - 1u;
    let n0 = min(o.y / 4u + 0u, last4);
    let n1 = min(o.y / 4u + 1u, last4);
    let n2 = min(o.y / 4u + 2u, last4);
    let n3 = min(o.y / 4u + 3u, last4);
    let a0 = row4(base.a, o.x + 0u, g.m - 1u, g.a_sm);
    let a1 = row4(base.a, o.x + 1u, g.m - 1u, g.a_sm);
    let a2 = row4(base.a, o.x + 2u, g.m - 1u, g.a_sm);
    let a3 = row4(base.a, o.x + 3u, g.m - 1u, g.a_sm);
    let a4 = row4(base.a, o.x + 4u, g.m - 1u, g.a_sm);
    let a5 = row4(base.a, o.x + 5u, g.m - 1u, g.a_sm);
    let a6 = row4(base.a, o.x + 6u, g.m - 1u, g.a_sm);
    let a7 = row4(base.a, o.x + 7u, g.m - 1u, g.a_sm);
    var c0_0 = vec4<f32>(0.0);
    var c0_1 = vec4<f32>(0.0);
    var c0_2 = vec4<f32>(0.0);
    var c0_3 = vec4<f32>(0.0);
    var c1_0 = vec4<f32>(0.0);
    var c1_1 = vec4<f32>(0.0);
    var c1_2 = vec4<f32>(0.0);
    var c1_3 = vec4<f32>(0.0);
    var c2_0 = vec4<f32>(0.0);
    var c2_1 = vec4<f32>(0.0);
    var c2_2 = vec4<f32>(0.0);
    var c2_3 = vec4<f32>(0.0);
    var c3_0 = vec4<f32>(0.0);
    var c3_1 = vec4<f32>(0.0);
    var c3_2 = vec4<f32>(0.0);
    var c3_3 = vec4<f32>(0.0);
    var c4_0 = vec4<f32>(0.0);
    var c4_1 = vec4<f32>(0.0);
    var c4_2 = vec4<f32>(0.0);
    var c4_3 = vec4<f32>(0.0);
    var c5_0 = vec4<f32>(0.0);
    var c5_1 = vec4<f32>(0.0);
    var c5_2 = vec4<f32>(0.0);
    var c5_3 = vec4<f32>(0.0);
    var c6_0 = vec4<f32>(0.0);
    var c6_1 = vec4<f32>(0.0);
    var c6_2 = vec4<f32>(0.0);
    var c6_3 = vec4<f32>(0.0);
    var c7_0 = vec4<f32>(0.0);
    var c7_1 = vec4<f32>(0.0);
    var c7_2 = vec4<f32>(0.0);
    var c7_3 = vec4<f32>(0.0);
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
            let row = (base.b + (4u * k + kk) * g.b_sk) / 4u;
            let w0 = params4[row + n0];
            let w1 = params4[row + n1];
            let w2 = params4[row + n2];
            let w3 = params4[row + n3];
            c0_0 += x0[kk] * w0;
            c0_1 += x0[kk] * w1;
            c0_2 += x0[kk] * w2;
            c0_3 += x0[kk] * w3;
            c1_0 += x1[kk] * w0;
            c1_1 += x1[kk] * w1;
            c1_2 += x1[kk] * w2;
            c1_3 += x1[kk] * w3;
            c2_0 += x2[kk] * w0;
            c2_1 += x2[kk] * w1;
            c2_2 += x2[kk] * w2;
            c2_3 += x2[kk] * w3;
            c3_0 += x3[kk] * w0;
            c3_1 += x3[kk] * w1;
            c3_2 += x3[kk] * w2;
            c3_3 += x3[kk] * w3;
            c4_0 += x4[kk] * w0;
            c4_1 += x4[kk] * w1;
            c4_2 += x4[kk] * w2;
            c4_3 += x4[kk] * w3;
            c5_0 += x5[kk] * w0;
            c5_1 += x5[kk] * w1;
            c5_2 += x5[kk] * w2;
            c5_3 += x5[kk] * w3;
            c6_0 += x6[kk] * w0;
            c6_1 += x6[kk] * w1;
            c6_2 += x6[kk] * w2;
            c6_3 += x6[kk] * w3;
            c7_0 += x7[kk] * w0;
            c7_1 += x7[kk] * w1;
            c7_2 += x7[kk] * w2;
            c7_3 += x7[kk] * w3;
        }
    }
    var out: array<vec4<f32>, 32>;
    out[0] = c0_0;
    out[1] = c0_1;
    out[2] = c0_2;
    out[3] = c0_3;
    out[4] = c1_0;
    out[5] = c1_1;
    out[6] = c1_2;
    out[7] = c1_3;
    out[8] = c2_0;
    out[9] = c2_1;
    out[10] = c2_2;
    out[11] = c2_3;
    out[12] = c3_0;
    out[13] = c3_1;
    out[14] = c3_2;
    out[15] = c3_3;
    out[16] = c4_0;
    out[17] = c4_1;
    out[18] = c4_2;
    out[19] = c4_3;
    out[20] = c5_0;
    out[21] = c5_1;
    out[22] = c5_2;
    out[23] = c5_3;
    out[24] = c6_0;
    out[25] = c6_1;
    out[26] = c6_2;
    out[27] = c6_3;
    out[28] = c7_0;
    out[29] = c7_1;
    out[30] = c7_2;
    out[31] = c7_3;
    for (var i = 0u; i < 8u; i++) {
        for (var v = 0u; v < 4u; v++) {
            store_quad(BACKWARD_DATA, o, i, 4u * v, out[i * 4u + v]);
        }
    }
}

// Backward weight, 8 x 16: per batch row k, A = dY[k, m0..] (2 vec4) and B = X[k, n0..]
// (4 vec4). The invocations past the blocks sum dY into db.
const LINEAR_BACKWARD_WEIGHT_VEC4_TILE_M: u32 = 8u;
const LINEAR_BACKWARD_WEIGHT_VEC4_TILE_N: u32 = 16u;
@compute @workgroup_size(WG)
fn linear_backward_weight_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    enter(gid.z);
    let id = flat_id(gid, nwg, WG);
    let bias = bias_row(id, LINEAR_BACKWARD_WEIGHT_VEC4_TILE_M, LINEAR_BACKWARD_WEIGHT_VEC4_TILE_N);
    if (bias < g.m) {
        bias_grad4(bias);
        return;
    }
    let o = origin(id, LINEAR_BACKWARD_WEIGHT_VEC4_TILE_M, LINEAR_BACKWARD_WEIGHT_VEC4_TILE_N);
    if (o.x >= g.m || o.y >= g.n) {
        return;
    }
    let last_m4 = g.m / 4u - 1u;
    let last_n4 = g.n / 4u - 1u;
    let m0 = min(o.x / 4u + 0u, last_m4);
    let m1 = min(o.x / 4u + 1u, last_m4);
    let n0 = min(o.y / 4u + 0u, last_n4);
    let n1 = min(o.y / 4u + 1u, last_n4);
    let n2 = min(o.y / 4u + 2u, last_n4);
    let n3 = min(o.y / 4u + 3u, last_n4);
    var c0_0 = vec4<f32>(0.0);
    var c0_1 = vec4<f32>(0.0);
    var c0_2 = vec4<f32>(0.0);
    var c0_3 = vec4<f32>(0.0);
    var c1_0 = vec4<f32>(0.0);
    var c1_1 = vec4<f32>(0.0);
    var c1_2 = vec4<f32>(0.0);
    var c1_3 = vec4<f32>(0.0);
    var c2_0 = vec4<f32>(0.0);
    var c2_1 = vec4<f32>(0.0);
    var c2_2 = vec4<f32>(0.0);
    var c2_3 = vec4<f32>(0.0);
    var c3_0 = vec4<f32>(0.0);
    var c3_1 = vec4<f32>(0.0);
    var c3_2 = vec4<f32>(0.0);
    var c3_3 = vec4<f32>(0.0);
    var c4_0 = vec4<f32>(0.0);
    var c4_1 = vec4<f32>(0.0);
    var c4_2 = vec4<f32>(0.0);
    var c4_3 = vec4<f32>(0.0);
    var c5_0 = vec4<f32>(0.0);
    var c5_1 = vec4<f32>(0.0);
    var c5_2 = vec4<f32>(0.0);
    var c5_3 = vec4<f32>(0.0);
    var c6_0 = vec4<f32>(0.0);
    var c6_1 = vec4<f32>(0.0);
    var c6_2 = vec4<f32>(0.0);
    var c6_3 = vec4<f32>(0.0);
    var c7_0 = vec4<f32>(0.0);
    var c7_1 = vec4<f32>(0.0);
    var c7_2 = vec4<f32>(0.0);
    var c7_3 = vec4<f32>(0.0);
    for (var k = 0u; k < g.k; k++) {
        let arow = (base.a + k * g.a_sk) / 4u;
        let brow = (base.b + k * g.b_sk) / 4u;
        let dy0 = acts4[arow + m0];
        let dy1 = acts4[arow + m1];
        let x0 = acts4[brow + n0];
        let x1 = acts4[brow + n1];
        let x2 = acts4[brow + n2];
        let x3 = acts4[brow + n3];
        c0_0 += dy0[0] * x0;
        c0_1 += dy0[0] * x1;
        c0_2 += dy0[0] * x2;
        c0_3 += dy0[0] * x3;
        c1_0 += dy0[1] * x0;
        c1_1 += dy0[1] * x1;
        c1_2 += dy0[1] * x2;
        c1_3 += dy0[1] * x3;
        c2_0 += dy0[2] * x0;
        c2_1 += dy0[2] * x1;
        c2_2 += dy0[2] * x2;
        c2_3 += dy0[2] * x3;
        c3_0 += dy0[3] * x0;
        c3_1 += dy0[3] * x1;
        c3_2 += dy0[3] * x2;
        c3_3 += dy0[3] * x3;
        c4_0 += dy1[0] * x0;
        c4_1 += dy1[0] * x1;
        c4_2 += dy1[0] * x2;
        c4_3 += dy1[0] * x3;
        c5_0 += dy1[1] * x0;
        c5_1 += dy1[1] * x1;
        c5_2 += dy1[1] * x2;
        c5_3 += dy1[1] * x3;
        c6_0 += dy1[2] * x0;
        c6_1 += dy1[2] * x1;
        c6_2 += dy1[2] * x2;
        c6_3 += dy1[2] * x3;
        c7_0 += dy1[3] * x0;
        c7_1 += dy1[3] * x1;
        c7_2 += dy1[3] * x2;
        c7_3 += dy1[3] * x3;
    }
    var out: array<vec4<f32>, 32>;
    out[0] = c0_0;
    out[1] = c0_1;
    out[2] = c0_2;
    out[3] = c0_3;
    out[4] = c1_0;
    out[5] = c1_1;
    out[6] = c1_2;
    out[7] = c1_3;
    out[8] = c2_0;
    out[9] = c2_1;
    out[10] = c2_2;
    out[11] = c2_3;
    out[12] = c3_0;
    out[13] = c3_1;
    out[14] = c3_2;
    out[15] = c3_3;
    out[16] = c4_0;
    out[17] = c4_1;
    out[18] = c4_2;
    out[19] = c4_3;
    out[20] = c5_0;
    out[21] = c5_1;
    out[22] = c5_2;
    out[23] = c5_3;
    out[24] = c6_0;
    out[25] = c6_1;
    out[26] = c6_2;
    out[27] = c6_3;
    out[28] = c7_0;
    out[29] = c7_1;
    out[30] = c7_2;
    out[31] = c7_3;
    for (var i = 0u; i < 8u; i++) {
        for (var v = 0u; v < 4u; v++) {
            store_quad(BACKWARD_WEIGHT, o, i, 4u * v, out[i * 4u + v]);
        }
    }
}

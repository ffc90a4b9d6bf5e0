// linear.wgsl: fully-connected layer products, each invocation a TM x TN register block.
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
//                           (extra invocations past the tiles, one per output feature)
//                           A(m,k) = dY[k*out + m], B(k,n) = X[k*in + n]
// Ragged edges: tile rows/columns past M or N are clamped to the last one for loading and
// never stored, so shapes need not be multiples of the tile.
// The host prepends the variant: const TM, TN (multiple of 4), WG (workgroup size).
// Bindings: common.wgsl (params, acts, grads).
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

fn tiles_n() -> u32 {
    return (g.n + TN - 1u) / TN;
}

fn tile_count() -> u32 {
    return ((g.m + TM - 1u) / TM) * tiles_n();
}

@compute @workgroup_size(WG)
fn linear_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = flat_id(gid, nwg, WG);
    if (id >= tile_count()) {
        return;
    }
    let m0 = (id / tiles_n()) * TM;
    let n0 = (id % tiles_n()) * TN;
    tile(m0, n0, true);
    for (var i = 0u; i < TM; i++) {
        let m = m0 + i;
        for (var j = 0u; j < TN; j++) {
            let n = n0 + j;
            if (m < g.m && n < g.n) {
                var y = acc_at(i, j) + params[g.aux_off + n];
                if (g.relu != 0u) {
                    y = max(y, 0.0);
                }
                if (g.drop_threshold != 0u) {
                    let keep = dropout_keep(g.seed, g.step, g.layer, m * g.n + n, g.drop_threshold);
                    y = select(0.0, y * g.drop_scale, keep);
                }
                acts[g.c_off + m * g.n + n] = y;
            }
        }
    }
}

@compute @workgroup_size(WG)
fn linear_backward_data(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = flat_id(gid, nwg, WG);
    if (id >= tile_count()) {
        return;
    }
    let m0 = (id / tiles_n()) * TM;
    let n0 = (id % tiles_n()) * TN;
    tile(m0, n0, true);
    for (var i = 0u; i < TM; i++) {
        let m = m0 + i;
        for (var j = 0u; j < TN; j++) {
            let n = n0 + j;
            if (m < g.m && n < g.n) {
                let at = m * g.n + n;
                var dx = acc_at(i, j);
                if (g.relu != 0u) {
                    dx = select(0.0, dx * g.drop_scale, acts[g.aux_off + at] > 0.0);
                }
                acts[g.c_off + at] = dx;
            }
        }
    }
}

@compute @workgroup_size(WG)
fn linear_backward_weight(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = flat_id(gid, nwg, WG);
    let tiles = tile_count();
    if (id >= tiles) {
        // db[o] = sum over rows of dY[row, o] = sum_k A(o, k)
        let o = id - tiles;
        if (o < g.m) {
            var s = 0.0;
            for (var k = 0u; k < g.k; k++) {
                s += acts[g.a_off + o * g.a_sm + k * g.a_sk];
            }
            grads[g.aux_off + o] = s;
        }
        return;
    }
    let m0 = (id / tiles_n()) * TM;
    let n0 = (id % tiles_n()) * TN;
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

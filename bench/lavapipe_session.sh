#!/usr/bin/env bash
# The lavapipe measurements of BENCHMARKS.md in one go, one after the other on an otherwise
# idle machine, so that every ratio comes from one run: `mlp-gpu bench` with the adapter's
# variant (subgroup8 on lavapipe) and with block8x8, PyTorch on the CPU with 2 threads, the
# matmul products of every variant, the cost table (epochs of each network of SHAPES on
# SUBSET images, mlp-gpu and PyTorch, and the adapter's variant's products of each
# network's widest layer), and, where MESA22_ICD names the ICD file of an unpacked Mesa 22
# lavapipe, the same binary on that driver. Exits 1 naming every step that failed.
#
# Usage: [MESA22_ICD=.../lvp_icd.x86_64.json] [EPOCHS=3] [SHAPES=...] [SUBSET=5000]
#   bench/lavapipe_session.sh OUT
#   Build first (cargo build --release). To unpack Mesa 22 without installing it:
#   apt-get download mesa-vulkan-drivers=22.3.6-1+deb12u2; dpkg -x *.deb DIR; then point
#   library_path in DIR/usr/share/vulkan/icd.d/lvp_icd.x86_64.json at DIR's libvulkan_lvp.so.
set -u
out=$1
bin=target/release/mlp-gpu
epochs=${EPOCHS:-3}
shapes=${SHAPES:-200,200,200:1024,1024:2048,2048}
subset=${SUBSET:-5000}
mkdir -p "$out"
log=$out/log.txt
failed=()
step() { # step NAME COMMAND...: run, log stderr, record a failure and go on
    local name=$1 rc
    shift
    echo "== $name ($(date +%T))" | tee -a "$log" >&2
    "$@" 2>>"$log"
    rc=$?
    echo "== $name: exit $rc ($(date +%T))" | tee -a "$log" >&2
    [ "$rc" -eq 0 ] || failed+=("$name")
}

grep -m1 'model name' /proc/cpuinfo >>"$log"
dpkg-query -W -f='${Package} ${Version}\n' mesa-vulkan-drivers >>"$log" 2>&1
step devices "$bin" devices >>"$log"
step "bench (the adapter's variant)" "$bin" bench --json --epochs "$epochs" >"$out/bench_default.json"
step "bench block8x8" "$bin" bench --json --epochs "$epochs" --matmul-variant block8x8 \
    >"$out/bench_block8x8.json"
step pytorch python3 bench/pytorch_reference.py --threads 2 --epochs "$epochs" >"$out/pytorch.jsonl"
step matmul "$bin" bench --matmul --batch-size 64,512 >"$out/matmul.md"
step "cost table" "$bin" bench --json --epochs 2 --subset "$subset" --hidden "$shapes" \
    >"$out/cost_table.json"
step "cost table (pytorch)" python3 bench/pytorch_reference.py --threads 2 --epochs 2 \
    --subset "$subset" --hidden "$shapes" >"$out/cost_table_pytorch.jsonl"
variant=$("$bin" devices 2>/dev/null | sed -n 's/.*matmul \([a-z0-9]*\).*(default)/\1/p')
for shape in ${shapes//:/ }; do
    width=${shape##*,}
    step "matmul ${width}x${width}" "$bin" bench --matmul --batch-size 64,512 \
        --inputs "$width" --hidden "$width" --matmul-variant "$variant" >>"$out/matmul_widest.md"
done
if [ -n "${MESA22_ICD:-}" ]; then
    export VK_ICD_FILENAMES=$MESA22_ICD
    step "devices (Mesa 22)" "$bin" devices >>"$log"
    step "bench (Mesa 22)" "$bin" bench --json --epochs 1 >"$out/bench_mesa22.json"
    step "matmul (Mesa 22)" "$bin" bench --matmul --batch-size 512 >"$out/matmul_mesa22.md"
    unset VK_ICD_FILENAMES
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}" | tee -a "$log" >&2
    exit 1
fi

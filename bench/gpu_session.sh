#!/usr/bin/env bash
# One measuring session on a lent GPU machine, in one go: the adapter, `mlp-gpu bench` per
# matmul variant, `bench --pack-size` (packs of 1 to 32 runs), PyTorch CUDA on the same GPU,
# the kernel tests on that adapter, `bench --profile`, every matmul variant's products, and
# the whole study, and the study's grid in full against `--halving 3` (seeds 0 and 1, in
# turn, each timed). Each step has its own
# time limit, so one failure does not cost the others; the script still exits 1 and names
# every step that failed (a failing test or a missing adapter is never a silent pass).
#
# Usage: [VARIANTS=...] [PROFILE=...] [MATMUL=1] [SEEDS=0,1,2] bench/gpu_session.sh KIT OUT
#   KIT: made by bench/gpu_kit.sh: mlp-gpu (release build), tests/suite (the test binary),
#        data/ (the four Fashion-MNIST IDX files). OUT: logs and results.
#   VARIANTS: matmul variants to bench; PROFILE: those to profile too; MATMUL=0 skips
#   `bench --matmul`; SEEDS: the study's seeds (empty: no study).
# The Vulkan loader (libvulkan1) must be installed; BENCHMARKS.md gives the call it ran in.
set -u
kit=$1
out=$2
bin=$kit/mlp-gpu
data=$kit/data
variants=${VARIANTS:-tile64 tile32 tile16}
profile=${PROFILE:-$variants}
seeds=${SEEDS-0,1,2}
matmul=${MATMUL:-1}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
log=$out/log.txt
failed=()
step() { # step SECONDS NAME COMMAND...: run, log stderr, record a failure and go on
    local limit=$1 name=$2 rc
    shift 2
    echo "== $name ($(date +%T))" | tee -a "$log" >&2
    timeout -s INT "$limit" "$@" 2>>"$log"
    rc=$?
    echo "== $name: exit $rc" | tee -a "$log" >&2
    [ "$rc" -eq 0 ] || failed+=("$name")
}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm \
    --format=csv >>"$log" 2>&1
grep -m1 'model name' /proc/cpuinfo >>"$log"
if ! "$bin" devices 2>/dev/null | grep -qi nvidia; then
    # the driver's ICD file where the image keeps it
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
step 60 devices "$bin" devices >>"$log"
step 90 "bench (the adapter's variant)" "$bin" bench --json --data "$data" >"$out/bench_default.json"
for v in $variants; do
    step 90 "bench $v" "$bin" bench --json --data "$data" --matmul-variant "$v" >>"$out/bench.jsonl"
done
step 240 "bench packs" "$bin" bench --json --data "$data" --batch-size 64,512 \
    --pack-size 1,2,4,8,16,32 >"$out/bench_packs.json"
step 120 pytorch python3 bench/pytorch_reference.py --device cuda --data "$data" \
    >"$out/pytorch.jsonl"
# the modules that need only a GPU (the others read files of the source tree)
for t in kernels network training pack; do
    step 120 "test $t" "$kit/tests/suite" --test-threads 8 "$t::" >>"$out/tests.log"
done
for v in $profile; do
    step 90 "profile $v" "$bin" bench --json --profile --epochs 1 --data "$data" \
        --matmul-variant "$v" >>"$out/profile.jsonl"
done
if [ "$matmul" = 1 ]; then
    step 150 matmul "$bin" bench --matmul --batch-size 64,512 >"$out/matmul.md"
fi
if [ -n "$seeds" ]; then
    step 150 reproduce "$bin" reproduce --seeds "$seeds" --data "$data" --out /tmp/study \
        --quiet >>"$log"
    step 60 report "$bin" report /tmp/study >>"$log"
    tar czf "$out/study.tgz" --exclude='*.safetensors' -C /tmp study 2>>"$log"
fi
# the grid in full and halved, alternately, each step's wall time in the log
grid=(sweep --optimizer sgd,adam,rmsprop --lr 0.1,0.05,0.01,0.005 --data "$data" --quiet)
for s in 0 1; do
    for mode in full halving; do
        extra=()
        [ "$mode" = full ] || extra=(--halving 3)
        t0=$EPOCHREALTIME
        step 120 "grid seed $s, $mode" "$bin" "${grid[@]}" "${extra[@]}" --seed "$s" \
            --out "/tmp/grid-$mode-$s"
        echo "grid seed $s $mode: $(awk "BEGIN { print $EPOCHREALTIME - $t0 }") s" >>"$log"
    done
    step 60 "report grid seed $s" "$bin" report "/tmp/grid-full-$s" "/tmp/grid-halving-$s" >>"$log"
done
tar czf "$out/halving.tgz" --exclude='*.safetensors' -C /tmp grid-full-0 grid-halving-0 \
    grid-full-1 grid-halving-1 2>>"$log"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}" | tee -a "$log" >&2
    exit 1
fi

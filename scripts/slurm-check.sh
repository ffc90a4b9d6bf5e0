#!/usr/bin/env bash
# scripts/slurm-check.sh [MLP_GPU]: docs/slurm/sweep.sbatch under a real one-node Slurm.
#
# Brings up munged, slurmctld and slurmd on this machine (packages munge and slurm-wlm;
# `scripts/deps.sh test` installs them), every file of theirs in one temporary folder and
# the node as `slurmd -C` sees it. Submits the example's 4-task array on a small sweep (12
# runs, 3 a task), stops one task mid-run with `scancel --signal=TERM` (as Slurm does at a
# time limit), checks its runs say `interrupted`, requeues it, waits for the array, and
# checks that every run completed once and that `mlp-gpu report` on the folder gives the
# same results (timings aside) and models as the same sweep run unsharded. The daemons it
# started are stopped through their pid files whatever happens. Needs root (slurmd runs
# jobs as their user). MLP_GPU defaults to target/release/mlp-gpu. Exit 0: all held.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-target/release/mlp-gpu}")
SBATCH_FILE=$PWD/docs/slurm/sweep.sbatch
DATA=${MLP_GPU_DATA:-/usr/share/datasets/fashion-mnist}
ARGS="--data $DATA --subset 3000 --eval-subset 500 --val-size 500 --hidden 64 --batch-size 100 --epochs 12"
started=$(date +%s)

fail() { echo "slurm-check: $*" >&2; exit 1; }
say() { echo "slurm-check: $*" >&2; }
[ "$(id -u)" -eq 0 ] || fail "run as root: slurmd must run jobs as their user"
for tool in munged slurmctld slurmd sbatch scontrol scancel squeue sinfo; do
  command -v "$tool" >/dev/null || fail "$tool not found; run scripts/deps.sh test"
done
[ -x "$BIN" ] || fail "$BIN: no mlp-gpu binary; run cargo build --release"

W=$(mktemp -d /tmp/mlp-gpu-slurm.XXXXXX)
chmod 700 "$W"
stop_daemons() {
  local pidfile pid
  for pidfile in "$W"/slurmd.pid "$W"/slurmctld.pid "$W"/munged.pid; do
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}
job=""
on_exit() {
  local rc=$?
  [ -z "$job" ] || scancel "$job" 2>/dev/null || true
  stop_daemons
  if [ "$rc" -ne 0 ]; then
    for log in "$W"/*.log "$W"/logs/*; do
      [ -f "$log" ] && { echo "--- $log (last lines)"; tail -n 15 "$log"; } >&2
    done
  fi
  rm -rf "$W"
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# munge: a key and a socket of its own, so a system munged (if any) is left alone.
dd if=/dev/urandom of="$W/munge.key" bs=1024 count=1 status=none
chmod 400 "$W/munge.key"
munged --force --socket="$W/munge.sock" --key-file="$W/munge.key" \
  --pid-file="$W/munged.pid" --log-file="$W/munged.log" --seed-file="$W/munged.seed"

node=$(slurmd -C | head -n 1)
host=$(hostname -s)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'; }
mkdir -p "$W/ctld" "$W/spool" "$W/logs"
cat >"$W/slurm.conf" <<EOF
ClusterName=mlpgpucheck
SlurmctldHost=$host
SlurmctldPort=$(port)
SlurmdPort=$(port)
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$W/munge.sock
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
JobRequeue=1
MinJobAge=3600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
StateSaveLocation=$W/ctld
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd.log
$node State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$W/slurm.conf
slurmctld -c
slurmd -c

# Polls "$@" (a command) every 0.2 s for up to $WAIT seconds; fails naming $WHAT.
wait_for() {
  local what=$1 deadline=$(($(date +%s) + $2))
  shift 2
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out waiting for $what"
    sleep 0.2
  done
}
node_idle() { [ "$(sinfo -h -n "$host" -o %T 2>/dev/null)" = idle ]; }
wait_for "node $host to come up idle" 60 node_idle
say "Slurm up on $host ($node) in $(($(date +%s) - started)) s"

OUT=$W/sharded
job=$(cd "$W/logs" && MLP_GPU=$BIN MLP_GPU_OUT=$OUT MLP_GPU_SWEEP_ARGS=$ARGS \
  sbatch --parsable "$SBATCH_FILE")
job=${job%%;*}
say "submitted array job $job"

# Sets $task to the job id of a task that is mid-run: the holder (its pid in run.lock) of a
# run folder with a checkpoint and no summary yet, read from that process's SLURM_JOB_ID.
mid_run_task() {
  local ck dir pid
  for ck in "$OUT"/*/checkpoint.safetensors; do
    dir=$(dirname "$ck")
    if [ ! -f "$ck" ] || [ -f "$dir/summary.json" ]; then continue; fi
    pid=$(cat "$dir/run.lock" 2>/dev/null) || continue
    task=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | sed -n 's/^SLURM_JOB_ID=//p')
    [ -n "$task" ] && return 0
  done
  return 1
}
wait_for "a task to finish its first epoch" 300 mid_run_task
say "task job $task is mid-run: scancel --signal=TERM"
# mlp-gpu exits on the signal before scancel's confirming retry, which then reports "Job/step
# already completing or completed" and a non-zero status; the checks below hold it to its effect.
scancel --batch --signal=TERM "$task" 2>/dev/null || true
# Field $2 of the record of job (or array task) $1, one line per record (-o).
field() { scontrol -o show job "$1" | sed -n "s/.* $2=\([^ ]*\).*/\1/p"; }
task_ended() { case $(field "$task" JobState) in RUNNING | PENDING | CONFIGURING | COMPLETING) return 1 ;; esac; }
wait_for "task $task to stop after SIGTERM" 120 task_ended
exit_code=$(field "$task" ExitCode)
[ "$exit_code" = "143:0" ] || fail "task $task ended with ExitCode=$exit_code, not 143:0 (SIGTERM)"
interrupted=$(grep -l '"status": *"interrupted"' "$OUT"/*/summary.json | wc -l)
[ "$interrupted" -gt 0 ] || fail "no run of task $task says interrupted"
say "task $task stopped (exit 143, $interrupted runs interrupted); requeueing it"
scontrol requeue "$task"
# Slurm holds a requeued job back for two minutes (its EligibleTime); start it now instead.
say "requeued, eligible at $(field "$task" EligibleTime) (now $(date +%FT%T)); moving it to now"
scontrol update JobId="$task" StartTime=now

array_done() { [ -z "$(squeue -h -j "$job" 2>/dev/null)" ]; }
wait_for "the array to finish" 900 array_done
states=$(field "$job" JobState | sort | uniq -c | xargs)
[ "$states" = "4 COMPLETED" ] || fail "the array's tasks ended: $states"
restarts=$(field "$task" Restarts)
[ "$restarts" = 1 ] || fail "task $task restarted $restarts times, not once"

# Every run completed, once: 12 folders, each with one line per epoch.
runs=$(find "$OUT" -mindepth 1 -maxdepth 1 -type d | wc -l)
[ "$runs" = 12 ] || fail "$runs run folders, not 12"
epochs=$(sed -n 's/.*--epochs \([0-9]*\).*/\1/p' <<<"$ARGS")
for dir in "$OUT"/*/; do
  grep -q '"status": *"completed"' "$dir/summary.json" || fail "$dir did not complete"
  [ "$(wc -l <"$dir/metrics.jsonl")" = "$epochs" ] || fail "$dir: not $epochs epochs"
done

WHOLE=$W/whole
read -r -a args <<<"$ARGS"
"$BIN" sweep --out "$WHOLE" --optimizer sgd,adam,rmsprop --lr 0.1,0.05,0.01,0.005 \
  "${args[@]}" --quiet >/dev/null
# results.csv without mean_epoch_seconds and the adapter (columns 18 and 19).
results() { "$BIN" report "$1" >/dev/null && cut -d, -f1-17 "$1/results.csv"; }
[ "$(results "$OUT")" = "$(results "$WHOLE")" ] || fail "the report differs from the sweep's unsharded"
for model in "$WHOLE"/*/model.safetensors; do
  run=$(basename "$(dirname "$model")")
  cmp -s "$model" "$OUT/$run/model.safetensors" || fail "$run: model differs from the unsharded sweep's"
done
say "passed in $(($(date +%s) - started)) s: 12 runs in 4 tasks, one stopped by SIGTERM and requeued, equal to the sweep unsharded"

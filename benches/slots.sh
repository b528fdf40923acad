#!/usr/bin/env bash
# Wall time of the demo's full built-in search with 1 slot, 4 slots on one
# machine (--gpus 0,1,2,3) and 4 slots through Slurm (--launcher srun, the
# cluster of tests/slurm/start.sh), with the demo's knobs (0.8 s start-up,
# 0.15 s evals, 3 eval runs, 6 s start-up timeout) made exact
# (SIM_NOISE=0, SIM_EVAL_FAIL_RATE=0) so every run must choose the same.
# Prints each run's wall time, the mean ratio to 1 slot, and slot
# utilisation (trial time summed over records / (slots × wall time)).
# Usage: [FULL=1] bash benches/slots.sh [REPEATS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
# FULL=1: the default search (later passes and the refinement) instead of
# one pass.
search="--passes 1 --no_refine"
[ -z "${FULL:-}" ] || search=""
cargo build --quiet
bin=$PWD/target/debug/autotune
export SIM_NOISE=0 SIM_EVAL_FAIL_RATE=0 SIM_STARTUP_S=0.8 SIM_EVAL_S=0.15
export SLURM_CONF=${SLURM_CONF:-${AUTOTUNE_SLURM_DIR:-/tmp/autotune-slurm}/slurm.conf}
slurm=1
sinfo -h >/dev/null 2>&1 || { slurm=0; echo "(no Slurm cluster: run tests/slurm/start.sh for the srun row)"; }
port=18900
one() { # name slots extra-args...
  local name=$1 slots=$2; shift 2
  local dir; dir=$(mktemp -d)
  printf "exec '%s' sim-serve\n" "$bin" > "$dir/run_model.sh"
  printf "exec '%s' sim-eval\n" "$bin" > "$dir/eval_local.sh"
  port=$((port + 50))
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" --headless --repo "$dir" --port "$port" --eval_cmd 'bash eval_local.sh' --eval_runs 3 \
    --startup_timeout 6 --eval_timeout 30 --kill_grace_s 3 --skip_existing $search "$@" > "$dir/out.txt" 2>&1
  t1=$(date +%s.%N)
  python3 - "$name" "$slots" "$t0" "$t1" "$dir" <<'PY'
import json, sys
name, slots, t0, t1, d = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
wall = t1 - t0
recs = [json.loads(l) for l in open(f"{d}/tune_results.jsonl") if l.strip()]
busy = sum(r.get("total_s") or 0 for r in recs)
best = json.load(open(f"{d}/best_params.json"))
# The bound the group sizes set: each group's new trials on 4 slots (a
# group's choice waits for all of it), from this run's trial times.
groups, order = {}, []
for r in recs:
    g = r.get("param_under_test")
    if g not in groups:
        groups[g] = []
        order.append(g)
    groups[g].append(r.get("total_s") or 0)
bound = 0.0
for g in order:
    lanes = [0.0] * 4
    for t in sorted(groups[g], reverse=True):
        lanes[lanes.index(min(lanes))] += t
    bound += max(lanes)
print(f"{name:<14} wall {wall:6.1f}s  trials {len(recs):3d}  utilisation {100 * busy / (slots * wall):5.1f}%"
      + (f"  (4-slot bound from group sizes: {bound / busy:.2f} of the trial time)" if slots == 1 else ""))
with open("/tmp/autotune-bench-slots.tsv", "a") as f:
    f.write(f"{name}\t{wall}\t{json.dumps(best, sort_keys=True)}\n")
PY
  rm -rf "$dir"
}
rm -f /tmp/autotune-bench-slots.tsv
for _ in $(seq "$reps"); do
  one "1 slot" 1
  one "4 gpus" 4 --gpus 0,1,2,3
  [ $slurm = 0 ] || one "4 srun" 4 --slots 4 --launcher 'srun --ntasks=1 --gres=gpu:1'
done
python3 - <<'PY'
import collections, statistics
rows = [l.rstrip("\n").split("\t") for l in open("/tmp/autotune-bench-slots.tsv")]
wall = collections.defaultdict(list)
for name, w, best in rows:
    wall[name].append(float(w))
bests = {best for _, _, best in rows}
base = statistics.mean(wall["1 slot"])
for name, ws in wall.items():
    m = statistics.mean(ws)
    print(f"{name:<14} mean {m:6.1f}s  (min {min(ws):.1f}, max {max(ws):.1f})  ratio to 1 slot {m / base:.2f}")
print("same final configuration in every run:", "yes" if len(bests) == 1 else f"NO ({len(bests)} different)")
PY

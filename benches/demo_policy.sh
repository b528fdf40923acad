#!/usr/bin/env bash
# The demo's full built-in search for real (processes, HTTP, the simulated
# service with its run-to-run noise): the plain search, the noise-aware
# policy over one pass (--passes 1 --no_refine: what #13 changed), and the
# default (passes until stable and the refinement on top): trials started,
# pruned, crashed or timed out (and their time), eval runs, GPU time (the
# records' trial time summed), and the winner's measured tok/s. The simulated service's noise is
# random, so each policy runs REPEATS times.
# Usage: bash benches/demo_policy.sh [REPEATS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
cargo build --quiet
bin=$PWD/target/debug/autotune
export SIM_EVAL_FAIL_RATE=0 SIM_STARTUP_S=${SIM_STARTUP_S:-0.3} SIM_EVAL_S=${SIM_EVAL_S:-0.05}
port=19400
one() { # name extra-args...
  local name=$1; shift
  local dir; dir=$(mktemp -d)
  printf "exec '%s' sim-serve\n" "$bin" > "$dir/run_model.sh"
  printf "exec '%s' sim-eval\n" "$bin" > "$dir/eval_local.sh"
  port=$((port + 7))
  "$bin" --headless --repo "$dir" --port "$port" --eval_cmd 'bash eval_local.sh' --eval_runs 5 \
    --startup_timeout 6 --eval_timeout 30 --kill_grace_s 3 "$@" > "$dir/out.txt" 2>&1
  python3 - "$name" "$dir" <<'PY'
import json, sys
name, d = sys.argv[1], sys.argv[2]
recs = [json.loads(l) for l in open(f"{d}/tune_results.jsonl") if l.strip()]
runs = sum(len(r.get("eval_runs") or []) for r in recs)
gpu = sum(r.get("total_s") or 0 for r in recs)
pruned = sum(r["status"] == "pruned" for r in recs)
failed = sum(r["status"] in ("crashed", "timeout") for r in recs)
fail_s = sum(r.get("total_s") or 0 for r in recs if r["status"] in ("crashed", "timeout"))
best = json.load(open(f"{d}/best_params.json"))
key = "|".join(f"{k}={v}" for k, v in sorted(best.items()))
tps = [r["avg_total_tps"] for r in recs if r["trial_key"] == key and r.get("avg_total_tps")]
print(f"{name:<12} trials {len(recs):3d}  pruned {pruned:2d}  failed {failed:2d} ({fail_s:5.1f}s)  eval runs {runs:4d}  GPU {gpu:6.1f}s  winner {tps[-1] if tps else float('nan'):7.1f} tok/s")
PY
  rm -rf "$dir"
}
for i in $(seq "$reps"); do
  one plain --search_policy plain
  one one-pass --passes 1 --no_refine
  one default
done

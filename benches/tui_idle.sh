#!/usr/bin/env bash
# Idle CPU and memory of the live screen during a long eval (issue 4 goal:
# under 2% of a core, under 30 MB). Runs the release binary in tmux at
# 140x40 against the simulated service with a 60 s eval and samples the
# tuner process for 20 s. Usage: bash benches/tui_idle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/autotune
dir=$(mktemp -d)
printf "exec '%s' sim-serve\n" "$bin" > "$dir/run_model.sh"
printf "exec '%s' sim-eval\n" "$bin" > "$dir/eval_local.sh"
echo '{"MAX_NEW_TOKENS": ["64"]}' > "$dir/space.json"
sock=autotune-bench-$$
tmux -L "$sock" new-session -d -s b -x 140 -y 40 \
  "env SIM_EVAL_S=60 '$bin' --repo '$dir' --port 18791 --eval_cmd 'bash eval_local.sh' --eval_runs 1 --no_builtin_space --search_space_file '$dir/space.json'"
trap 'tmux -L "$sock" kill-server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q 'eval 1/1' "$dir/tune_status.json" 2>/dev/null && break; sleep 0.1; done
pid=$(python3 -c "import json;print(json.load(open('$dir/tune_status.json'))['pid'])")
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$pid/stat"; }
c0=$(cpu); t0=$(date +%s.%N)
sleep 20
c1=$(cpu); t1=$(date +%s.%N)
rss=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
python3 - "$c0" "$c1" "$t0" "$t1" "$ticks" "$rss" <<'PY'
import sys
c0, c1, t0, t1, hz, rss = map(float, sys.argv[1:])
print(f"live screen idle during a long eval: {100 * (c1 - c0) / hz / (t1 - t0):.2f}% of a core, RSS {rss / 1024:.1f} MB")
PY

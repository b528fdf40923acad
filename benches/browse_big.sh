#!/usr/bin/env bash
# Browse on a big results file (issue 5 goal: 100k records, about 100 MB,
# first screen well under 3 s, resident memory below the file's size).
# Writes the file from the fixture's records with varied figures, opens it
# in tmux with the release binary, and times the first screen showing all
# records. Usage: bash benches/browse_big.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
cargo build --release --quiet
bin=$PWD/target/release/autotune
dir=$(mktemp -d)
sock=autotune-bench-$$
trap 'tmux -L "$sock" kill-server 2>/dev/null; rm -rf "$dir"' EXIT
python3 - "$n" "$dir/big.jsonl" <<'PY'
import json, random, sys
n, out = int(sys.argv[1]), sys.argv[2]
src = [json.loads(l) for l in open("tests/data/auto_tune_py/tune_results.jsonl") if l.strip()]
with open(out, "w") as f:
    for i in range(n):
        r = dict(src[i % len(src)])
        if r.get("avg_total_tps") is not None:
            r["avg_total_tps"] = round(r["avg_total_tps"] * random.uniform(0.9, 1.1), 3)
            r["avg_accuracy"] = round(r["avg_accuracy"] + random.uniform(-0.01, 0.01), 4)
        r["server_log"] = "tune_server_logs/trial_%05d.log" % (i + 1)
        f.write(json.dumps(r) + "\n")
PY
size=$(stat -c %s "$dir/big.jsonl")
t0=$(date +%s.%N)
tmux -L "$sock" new-session -d -s b -x 140 -y 40 "'$bin' browse '$dir/big.jsonl'"
until tmux -L "$sock" capture-pane -p -t b | grep -q "$n trials"; do sleep 0.02; done
t1=$(date +%s.%N)
pid=$(pgrep -f "autotune browse $dir/big.jsonl" | head -1)
rss=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
python3 -c "print(f'browse: {$n} records, {$size/1e6:.0f} MB file: first screen in {$t1-$t0:.2f} s, RSS {$rss/1024:.1f} MB (peak {$hwm/1024:.1f} MB)')"

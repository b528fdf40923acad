#!/usr/bin/env bash
# Issue #14's side-by-side: our planner's search policies (benches/passes.rs)
# and Optuna's TPE sampler (benches/optuna_tpe.py) on the same interacting
# landscape, the same candidates, defaults, noise (5 runs of 2 % tok/s and
# 0.003 accuracy noise), accuracy bar and trial budget (the mean trials of
# our default search), over the same number of seeds. The Rust bench exports
# sample points of its landscape; the Python script refuses to run unless
# its reimplementation agrees with them within 1e-9.
# Installs Optuna into target/optuna-venv on first use (PyPI).
# Usage: bash benches/compare_search.sh [SEEDS] [optuna_tpe.py options...]
#   (default 50 seeds; e.g. `... 100 --budget-scale 4`)
# Env: PROFILE=release for an optimised Rust bench (default dev).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-50}
shift || true
if ! [[ "$seeds" =~ ^[0-9]+$ ]] || [ "$seeds" -lt 50 ]; then
  echo "compare_search.sh: SEEDS must be a number of at least 50 (got '$seeds')" >&2
  exit 2
fi
target=${CARGO_TARGET_DIR:-$PWD/target}
mkdir -p "$target"
export_file=$target/interacting_landscape.json
venv=$target/optuna-venv
if ! "$venv/bin/python" -c 'import optuna' 2>/dev/null; then
  echo "installing optuna into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet optuna
fi
rust_out=$(mktemp)
py_out=$(mktemp)
trap 'rm -f "$rust_out" "$py_out"' EXIT
echo "running the Rust bench ($seeds seeds)..." >&2
EXPORT=$export_file cargo bench --quiet --profile "${PROFILE:-dev}" --bench passes -- "$seeds" \
  > "$rust_out"
echo "running Optuna ($seeds seeds)..." >&2
"$venv/bin/python" benches/optuna_tpe.py "$export_file" --seeds "$seeds" "$@" > "$py_out"
echo "== our planner (benches/passes.rs) =="
cat "$rust_out"
echo
echo "== Optuna TPE (benches/optuna_tpe.py) =="
cat "$py_out"

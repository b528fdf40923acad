#!/usr/bin/env bash
# Issue #21's peers side by side (docs/peers.md): the Rust searches of
# benches/pooled.rs (plain pass, today's noise-aware coordinate default,
# pooled) and, on the same landscapes, noise, cost and GPU-time budgets,
# Optuna TPE, Optuna GP and SMAC3 (benches/peers.py), whose landscapes are
# served by the Rust example examples/landscape.rs.
#
# Installs optuna, smac (ConfigSpace, scikit-learn; SMAC 2.4 no longer needs
# pyrfr) and torch (for Optuna's GPSampler; PyPI's Linux wheel, which pulls
# the CUDA runtime packages, ~5 GB, and runs on the CPU) into
# target/peers-venv on first use, from PyPI.
#
# Usage: bash benches/peers.sh [SEEDS] [GP_SEEDS] [SMAC_SEEDS]
#   (defaults 100, 20, 20: GP and SMAC3 take 10-60 s per study on 2 cores)
# Env: PEERS=tpe,gp,smac (a subset), JOBS=2 (worker processes),
#      DEADLINE=unix-time (no new study starts after it),
#      RESULTS=file.jsonl (default target/peers/results.jsonl; studies
#      already in it are kept and skipped, so a stopped run resumes),
#      NO_RUST=1 (skip the Rust bench).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-100}
gp_seeds=${2:-20}
smac_seeds=${3:-20}
target=${CARGO_TARGET_DIR:-$PWD/target}
venv=$target/peers-venv
results=${RESULTS:-$target/peers/results.jsonl}
mkdir -p "$(dirname "$results")"
if ! "$venv/bin/python" -c 'import optuna, smac, torch, scipy' 2>/dev/null; then
  echo "installing optuna, smac, torch and scipy into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet optuna scipy smac torch
fi
echo "building examples/landscape (release)..." >&2
cargo build --quiet --release --example landscape
bin=$target/release/examples/landscape
rust_out=$target/peers/rust.md
if [ -z "${NO_RUST:-}" ]; then
  echo "running the Rust bench ($seeds seeds, release)..." >&2
  cargo bench --quiet --bench pooled -- "$seeds" > "$rust_out"
fi
echo "running the peers ($seeds seeds; GP $gp_seeds, SMAC3 $smac_seeds)..." >&2
# One thread per worker: the workers are the parallelism.
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
  "$venv/bin/python" benches/peers.py run --bin "$bin" --out "$results" \
  --seeds "$seeds" --max-seeds "gp=$gp_seeds,smac=$smac_seeds" \
  --peers "${PEERS:-tpe,gp,smac}" --jobs "${JOBS:-2}" --deadline "${DEADLINE:-0}"
rust_arg=()
if [ -f "$rust_out" ]; then
  echo "== our searches (benches/pooled.rs) =="
  cat "$rust_out"
  echo
  rust_arg=(--rust "$rust_out")
fi
echo "== side by side: our searches and the peers (benches/peers.py) =="
"$venv/bin/python" benches/peers.py report "$results" --bin "$bin" "${rust_arg[@]}"

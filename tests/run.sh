#!/usr/bin/env bash
# Runs the whole test suite, after installing what some tests need besides
# the Rust toolchain: aiosmtpd (a real SMTP server for the email tests),
# tmux (the live and browse screens in a real terminal), openssl (test
# certificates), chromium (the report in a real browser), the llama.cpp example's environment (compiled once,
# about 4 minutes on 2 cores; then it only checks itself), and a one-node
# Slurm cluster (tests/slurm/).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  python3 -m pip install --quiet aiosmtpd 2>/dev/null || apt_install python3-aiosmtpd
fi
need=()
command -v tmux >/dev/null || need+=(tmux)
command -v openssl >/dev/null || need+=(openssl)
# Debian's chromium opens `autotune report` pages headless (tests/report.rs).
command -v chromium >/dev/null || need+=(chromium)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
python3 -c 'import aiosmtpd'
bash examples/llama-cpp/setup.sh
# A one-node Slurm cluster for tests/slurm.rs (installs slurm-wlm and
# munge if needed); stopped when this script ends, however it ends.
trap 'bash tests/slurm/stop.sh' EXIT
bash tests/slurm/start.sh
export SLURM_CONF=${AUTOTUNE_SLURM_DIR:-/tmp/autotune-slurm}/slurm.conf

cargo test --no-fail-fast "$@"

#!/usr/bin/env bash
# Stops the test cluster of tests/slurm/start.sh (idempotent): cancels its
# jobs, then stops slurmd and slurmctld. munged is left running (shared).
set -uo pipefail
DIR=${AUTOTUNE_SLURM_DIR:-/tmp/autotune-slurm}
CONF=$DIR/slurm.conf
[ -f "$CONF" ] || exit 0
export SLURM_CONF=$CONF
scancel --full --state=RUNNING >/dev/null 2>&1 || true
scancel >/dev/null 2>&1 || true
for pf in "$DIR/slurmd.pid" "$DIR/slurmctld.pid"; do
  if [ -f "$pf" ]; then
    pid=$(cat "$pf")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$pf"
  fi
done
exit 0

#!/usr/bin/env bash
# Runs autotune headless in this repository, the way auto_tune.sh ran
# auto_tune.py: short environment variables map to flags, and
# --skip_existing is always passed so a rerun resumes.
#
#   REPO=. EVAL_RUNS=5 ACC=0.88 ./auto_tune.sh
#   RESULTS=tune_results_run2.jsonl ./auto_tune.sh     # a fresh results file
#   WATCHDOG=1 ./auto_tune.sh                          # rerun after crashes
#
# Extra arguments are passed to autotune as they are.
set -euo pipefail
cd "$(dirname "$0")"

if [ -f ./tune_secrets.sh ]; then
  # Secrets (webhook URL, SMTP password) must not be readable by others.
  perms=$(stat -c '%a' ./tune_secrets.sh 2>/dev/null || echo 600)
  if [ "${perms: -2}" != "00" ]; then
    echo "auto_tune.sh: warning: tune_secrets.sh is readable by group or others (mode $perms); run: chmod 600 tune_secrets.sh" >&2
  fi
  # shellcheck disable=SC1091
  source ./tune_secrets.sh
fi

AUTOTUNE=${AUTOTUNE:-autotune}
args=(--headless --skip_existing)
[ -n "${REPO:-}" ] && args+=(--repo "$REPO")
[ -n "${EVAL_RUNS:-}" ] && args+=(--eval_runs "$EVAL_RUNS")
[ -n "${ACC:-}" ] && args+=(--accuracy_threshold "$ACC")
[ -n "${STARTUP_TIMEOUT:-}" ] && args+=(--startup_timeout "$STARTUP_TIMEOUT")
[ -n "${EVAL_TIMEOUT:-}" ] && args+=(--eval_timeout "$EVAL_TIMEOUT")
[ -n "${HEARTBEAT_TRIALS:-}" ] && args+=(--heartbeat_trials "$HEARTBEAT_TRIALS")
[ -n "${HEARTBEAT_INTERVAL_S:-}" ] && args+=(--heartbeat_interval_s "$HEARTBEAT_INTERVAL_S")
[ -n "${SEARCH_SPACE_FILE:-}" ] && args+=(--search_space_file "$SEARCH_SPACE_FILE")
[ -n "${PORT_BUSY_RETRIES:-}" ] && args+=(--port_busy_retries "$PORT_BUSY_RETRIES")
[ -n "${PORT_BUSY_WAIT_S:-}" ] && args+=(--port_busy_wait_s "$PORT_BUSY_WAIT_S")
[ "${PORT_BUSY_KILL:-0}" = "1" ] && args+=(--port_busy_kill)
[ "${NOTIFY_TRIAL_DONE:-0}" = "1" ] && args+=(--notify_trial_done)
[ -n "${NOTIFY_TRIAL_DONE_EVERY:-}" ] && args+=(--notify_trial_done_every "$NOTIFY_TRIAL_DONE_EVERY")
[ -n "${RESULTS:-}" ] && args+=(--results "$RESULTS")

if [ "${WATCHDOG:-0}" = "1" ]; then
  exec "$AUTOTUNE" watchdog --restart_delay "${RESTART_DELAY:-10}" -- "${args[@]}" "$@"
fi
exec "$AUTOTUNE" "${args[@]}" "$@"

#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine for tests/slurm.rs: four
# fake GPUs (character devices) so that Slurm hands each job its own
# CUDA_VISIBLE_DEVICES, and a partition that shares the node between up to
# four jobs. Idempotent: installs what is missing, reuses a running cluster.
# Needs root (slurmd and munged). Clients use SLURM_CONF=$DIR/slurm.conf.
set -euo pipefail
DIR=${AUTOTUNE_SLURM_DIR:-/tmp/autotune-slurm}
CONF=$DIR/slurm.conf

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq slurm-wlm munge >/dev/null
fi

mkdir -p "$DIR"/{state,spool,log}
for i in 0 1 2 3; do
  [ -c "$DIR/gpu$i" ] || mknod "$DIR/gpu$i" c 1 3
done

host=$(hostname -s)
mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
cpus=$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p')
cat > "$CONF.new" <<CONF
ClusterName=autotune
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
KillWait=5
InactiveLimit=0
MinJobAge=2
NodeName=$host CPUs=${cpus:-2} RealMemory=$(( ${mem:-1024} * 9 / 10 )) Gres=gpu:4 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
cat > "$DIR/gres.conf.new" <<CONF
Name=gpu File=$DIR/gpu[0-3]
CONF
# slurmd reads gres.conf next to slurm.conf.
changed=0
cmp -s "$CONF.new" "$CONF" || { mv "$CONF.new" "$CONF"; changed=1; }
cmp -s "$DIR/gres.conf.new" "$DIR/gres.conf" || { mv "$DIR/gres.conf.new" "$DIR/gres.conf"; changed=1; }
rm -f "$CONF.new" "$DIR/gres.conf.new"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# munge: run as the munge user, socket in /run/munge.
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
[ -f /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || create-munge-key -f; chown munge:munge /etc/munge/munge.key; }
if ! pgrep -u munge -x munged >/dev/null; then
  su -s /bin/sh munge -c munged
fi

if [ $changed = 1 ]; then
  bash "$(dirname "$0")/stop.sh" >/dev/null 2>&1 || true
fi
alive "$DIR/slurmctld.pid" || slurmctld -f "$CONF"
alive "$DIR/slurmd.pid" || slurmd -f "$CONF"

export SLURM_CONF=$CONF
for _ in $(seq 1 60); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "slurm: up ($CONF)"
    exit 0
  fi
  # A node that came back after a restart may need waking up.
  scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
  sleep 1
done
echo "slurm: the node did not become idle; see $DIR/log" >&2
sinfo >&2 || true
exit 1

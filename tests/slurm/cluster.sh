#!/usr/bin/env bash
# A one-node SLURM cluster on localhost, for the tests of profiles/slurm (tests/test_slurm.py) and for trying the
# profile by hand. Debian's packages, no systemd, no accounting database: munged, slurmctld and slurmd run as plain
# background processes, stopped by their pids. The node declares 16 CPUs, 128 GB and two H100 "GPUs" (character
# devices: jobs that ask for a GPU are scheduled with it and get CUDA_VISIBLE_DEVICES; they compute on the CPU).
#
#   tests/slurm/cluster.sh start     # idempotent: a running cluster is left as it is
#   tests/slurm/cluster.sh stop      # stops the daemons this script started; the state folder stays (logs)
#   tests/slurm/cluster.sh status    # exit 0 when the cluster answers and its node is idle or busy
#
# FANIONS_SLURM_DIR    the cluster's folder: config, state, logs, fake devices (default /tmp/fanions-slurm)
# FANIONS_SLURM_INSTALL=1  install slurmctld, slurmd, slurm-client and munge with apt-get when missing (root)
#
# The executor's job steps clear every SLURM_* variable (SLURM_CONF too) before their srun: the configuration
# has to be where Slurm looks by default, /etc/slurm/slurm.conf. This script links it there (and gres.conf), and
# refuses to replace a slurm.conf it did not write.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${FANIONS_SLURM_DIR:-/tmp/fanions-slurm}
host=$(hostname -s)
packages=(slurmctld slurmd slurm-client munge)
marker="tests/slurm/cluster.sh"   # in the generated slurm.conf: ours to replace

log() { echo "slurm-cluster: $*" >&2; }

alive() {   # alive <pidfile>: the process it names runs
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

install_packages() {
  local missing=()
  for command in slurmctld slurmd sbatch munged; do
    command -v "$command" >/dev/null || missing+=("$command")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "${FANIONS_SLURM_INSTALL:-0}" != 1 ]; then
    log "missing ${missing[*]}: apt-get install --no-install-recommends ${packages[*]} (or FANIONS_SLURM_INSTALL=1)"
    exit 3
  fi
  log "installing ${packages[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null
}

configure() {
  mkdir -p "$dir"/{state,spool,dev,munge}
  for i in 0 1; do
    [ -c "$dir/dev/fakegpu$i" ] || mknod "$dir/dev/fakegpu$i" c 1 3   # /dev/null's numbers
  done
  for name in slurm.conf gres.conf; do
    { echo "# written by $marker from $name.in; do not edit"
      sed -e "s|@DIR@|$dir|g" -e "s|@HOST@|$host|g" -e "s|@USER@|$(id -un)|g" \
          -e "s|@CTLD_PORT@|${FANIONS_SLURM_CTLD_PORT:-6817}|g" -e "s|@SLURMD_PORT@|${FANIONS_SLURM_SLURMD_PORT:-6818}|g" \
          "$here/$name.in"
    } >"$dir/$name"
    target=/etc/slurm/$name
    if [ -e "$target" ] && ! grep -qs "$marker" "$target"; then
      log "$target exists and was not written by $marker: not replacing it"
      exit 4
    fi
    mkdir -p /etc/slurm
    ln -sfn "$dir/$name" "$target"
  done
  printf '%s\n' '#!/bin/sh' \
    "echo \"job=\$SLURM_JOB_ID step=\${SLURM_STEP_ID:-batch} partition=\$SLURM_JOB_PARTITION cuda_visible_devices=\${CUDA_VISIBLE_DEVICES-unset}\" >>$dir/tasks.log" \
    >"$dir/task_prolog.sh"
  chmod 755 "$dir/task_prolog.sh"
}

start_munge() {
  alive "$dir/munge/munged.pid" && return 0
  [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null || \
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; }
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge "$dir/munge" 2>/dev/null || true
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log"
  else
    /usr/sbin/munged --force --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log"
  fi
}

wait_for() {   # wait_for <seconds> <what> <command...>
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq $((seconds * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  log "$what did not come up in $seconds s; see $dir/*.log"
  return 1
}

node_ready() {
  local state
  state=$(sinfo -h -N -n "$host" -o %T 2>/dev/null | head -1)
  case "$state" in idle*|mixed*|allocated*|completing*) return 0 ;; *) return 1 ;; esac
}

start() {
  local start_time=$SECONDS
  install_packages
  if alive "$dir/slurmctld.pid" && alive "$dir/slurmd.pid" && node_ready; then
    log "already running ($dir)"
    return 0
  fi
  configure
  start_munge
  wait_for 10 munged munge -n
  alive "$dir/slurmctld.pid" || /usr/sbin/slurmctld -i    # -i: ignore a state saved by an earlier cluster
  wait_for 30 slurmctld scontrol ping
  alive "$dir/slurmd.pid" || /usr/sbin/slurmd
  if ! wait_for 30 slurmd node_ready; then
    scontrol update nodename="$host" state=resume 2>/dev/null || true
    wait_for 10 slurmd node_ready
  fi
  log "up in $((SECONDS - start_time)) s: $(sinfo -h -N -o '%N %T %c CPUs %m MB %G' | head -1)"
}

stop() {
  for name in slurmd slurmctld munge/munged; do
    if alive "$dir/$name.pid"; then
      pid=$(cat "$dir/$name.pid")
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      log "stopped ${name#munge/} ($pid)"
    fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) alive "$dir/slurmctld.pid" && alive "$dir/slurmd.pid" && node_ready ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

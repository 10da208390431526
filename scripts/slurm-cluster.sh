#!/usr/bin/env bash
# A one-node Slurm cluster for tests and demos, without systemd (Debian's Slurm 22.05 + munge).
#
#   scripts/slurm-cluster.sh start   writes slurm.conf into a temp dir, starts munged (as the
#                                    munge user), slurmctld and slurmd (as root), waits until the
#                                    node is idle, prints `export SLURM_CONF=…` for the caller
#   scripts/slurm-cluster.sh stop    cancels the cluster's jobs (their slurmstepd and processes
#                                    end with them), then stops the three daemons by the pids
#                                    it recorded (munged only if this script started it)
#   scripts/slurm-cluster.sh status  exit 0 if the cluster answers
#
# The state lives in $BELAY_SLURM_DIR (default /tmp/belay-slurm). KillWait=5 keeps the gap
# between Slurm's SIGTERM and SIGKILL short for tests; proctrack/linuxproc and task/none need
# no cgroups, so it runs in a container.
set -euo pipefail
dir="${BELAY_SLURM_DIR:-/tmp/belay-slurm}"
conf="$dir/slurm.conf"

say() { echo "slurm-cluster: $*" >&2; }

stop() {
  # Jobs first, while slurmctld and slurmd still run: a job's slurmstepd and processes outlive
  # a killed slurmd otherwise.
  if [ -f "$conf" ] && [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    ids="$(SLURM_CONF="$conf" squeue -h -o %i 2>/dev/null | tr '\n' ' ' || true)"
    if [ -n "${ids// /}" ]; then
      # shellcheck disable=SC2086 # one argument per job id
      SLURM_CONF="$conf" scancel $ids 2>/dev/null || true
      for _ in $(seq 1 80); do
        [ -z "$(SLURM_CONF="$conf" squeue -h -o %i 2>/dev/null)" ] && break
        sleep 0.25
      done
    fi
  fi
  for name in slurmd slurmctld munged; do
    pidfile="$dir/$name.pid"
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

start() {
  for bin in munged slurmctld slurmd sbatch squeue scancel scontrol; do
    command -v "$bin" >/dev/null 2>&1 || { say "$bin not found (apt-get install slurmctld slurmd slurm-client munge)"; exit 2; }
  done
  [ "$(id -u)" = 0 ] || { say "must run as root (slurmd runs jobs as their user)"; exit 2; }
  stop
  mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge"
  host="$(hostname -s)"
  cpus="$(nproc)"
  mem_mb="$(awk '/MemTotal/ {print int($2/1024/2)}' /proc/meminfo)"
  cat >"$conf" <<CONF
ClusterName=belay
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=${BELAY_SLURM_CTLD_PORT:-6917}
SlurmdPort=${BELAY_SLURM_D_PORT:-6918}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=300
InactiveLimit=0
SchedulerParameters=sched_interval=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:50
CONF
  export SLURM_CONF="$conf"
  # munge: a key, and the daemon as the munge user (it refuses root).
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  fi
  mkdir -p /run/munge && chown munge:munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  # A munged already running is someone else's: used, never stopped by this script.
  if ! munge -n </dev/null >/dev/null 2>&1; then
    # Its own pid file names the daemon (a pgrep right after the start can find the parent of
    # its fork, which then exits: the script would record a pid that stop cannot find).
    rm -f /run/munge/munged.pid
    su -s /bin/sh munge -c "munged --force --pid-file=/run/munge/munged.pid" || { say "munged did not start"; exit 1; }
    for _ in $(seq 1 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
    cp /run/munge/munged.pid "$dir/munged.pid" || { say "munged wrote no pid file"; exit 1; }
  fi
  slurmctld -f "$conf" || { say "slurmctld did not start: $(tail -n 5 "$dir/log/slurmctld.log" 2>/dev/null)"; stop; exit 1; }
  slurmd -f "$conf" || { say "slurmd did not start: $(tail -n 5 "$dir/log/slurmd.log" 2>/dev/null)"; stop; exit 1; }
  for _ in $(seq 1 60); do
    state="$(sinfo -h -o %t 2>/dev/null | head -n1 || true)"
    case "$state" in idle|mix|alloc) echo "export SLURM_CONF=$conf"; return 0 ;; esac
    sleep 0.5
  done
  say "the node did not become idle (state: ${state:-none}); slurmctld log:"
  tail -n 20 "$dir/log/slurmctld.log" >&2 || true
  stop
  exit 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) SLURM_CONF="$conf" sinfo -h >/dev/null 2>&1 ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

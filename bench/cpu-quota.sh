#!/bin/bash
# bench/cpu-quota.sh CPUS COMMAND...: run COMMAND (and everything it starts) with at most CPUS CPUs of
# time per 100 ms, through a cgroup's CFS quota: the machine short of CPU, reproducibly, as when a VM's
# host takes part of it (steal), which cannot be had on demand. Both sides of a bench run under the same
# quota, so a ratio measured this way compares how each copes with the same shortage. A quota stops all of
# the group's threads at once when it is used up, where steal takes one virtual CPU at a time: a proxy.
# Needs root and the cpu controller (cgroup v2, or v1 mounted at /sys/fs/cgroup/cpu); the group is
# removed afterwards. SIGTERM, SIGINT or SIGHUP to this script go to every process in the group, and the
# group is removed once they are gone; a SIGKILLed script leaves it (rmdir /sys/fs/cgroup[/cpu]/ridepred-bench-PID
# once its processes end). Example (1.3 of this machine's 2 CPUs):
#   bench/cpu-quota.sh 1.3 node bench/score.mjs --rows 10000000 --rounds 3 --threads 2 --only duckdb
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bench/cpu-quota.sh CPUS COMMAND..." >&2
  exit 2
fi
cpus=$1
shift
# A number of CPUs from 0.01 to this machine's count (more would be no limit at all).
quota=$(awk -v c="$cpus" -v n="$(nproc)" 'BEGIN { if (c !~ /^[0-9]*\.?[0-9]+$/ || c > n) exit 1; q = int(c * 100000); if (q < 1000) exit 1; print q }') || {
  echo "bench/cpu-quota.sh: CPUS must be a number of CPUs from 0.01 to $(nproc) (got $cpus)" >&2
  exit 2
}
name="ridepred-bench-$$"
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  dir=/sys/fs/cgroup/$name
  limits=("cpu.max=$quota 100000")
elif [ -d /sys/fs/cgroup/cpu ]; then
  dir=/sys/fs/cgroup/cpu/$name
  limits=("cpu.cfs_period_us=100000" "cpu.cfs_quota_us=$quota")
else
  echo "bench/cpu-quota.sh: no cgroup cpu controller here" >&2
  exit 2
fi
mkdir "$dir"
# Every process in the group, signalled; the group removed once it is empty.
signal_group() { kill "-$1" $(cat "$dir/cgroup.procs" 2>/dev/null) 2>/dev/null || true; }
cleanup() {
  for _ in $(seq 50); do [ -n "$(cat "$dir/cgroup.procs" 2>/dev/null)" ] || break; sleep 0.1; done
  rmdir "$dir" 2>/dev/null || echo "bench/cpu-quota.sh: $dir still holds processes; rmdir it once they end" >&2
}
trap cleanup EXIT
for limit in "${limits[@]}"; do
  echo "${limit#*=}" > "$dir/${limit%%=*}" || exit 2
done
echo "bench/cpu-quota.sh: at most $cpus CPUs ($quota us per 100000 us), cgroup $dir" >&2
# The command runs in a child placed in the group first, so everything it starts is in the group too.
bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ "$dir" "$@" &
child=$!
interrupted=0
trap 'interrupted=1; signal_group TERM' TERM INT HUP
set +e
wait "$child"
code=$?
# A trapped signal interrupts wait: wait again for the command's own exit status (127: already had).
while [ "$interrupted" = 1 ]; do
  interrupted=0
  wait "$child"
  status=$?
  [ "$status" -ne 127 ] && code=$status
done
set -e
grep -E '^(nr_periods|nr_throttled|throttled_(time|usec))' "$dir/cpu.stat" >&2 || true
exit $code

#!/bin/bash
# bench/cpu-quota.sh CPUS COMMAND...: run COMMAND (and everything it starts) with at most CPUS CPUs of
# time per 100 ms, through a cgroup's CFS quota: the machine short of CPU, reproducibly, as when a VM's
# host takes part of it (steal), which cannot be had on demand. Both sides of a bench run under the same
# quota, so a ratio measured this way compares how each copes with the same shortage. A quota stops all of
# the group's threads at once when it is used up, where steal takes one virtual CPU at a time: a proxy.
# Needs root and the cpu controller (cgroup v2, or v1 mounted at /sys/fs/cgroup/cpu); the group is
# removed afterwards. Example (1.3 of this machine's 2 CPUs):
#   bench/cpu-quota.sh 1.3 node bench/score.mjs --rows 10000000 --rounds 3 --threads 2 --only duckdb
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bench/cpu-quota.sh CPUS COMMAND..." >&2
  exit 2
fi
cpus=$1
shift
quota=$(awk -v c="$cpus" 'BEGIN { q = int(c * 100000); if (q < 1000) exit 1; print q }') || {
  echo "bench/cpu-quota.sh: CPUS must be a number of CPUs, at least 0.01 (got $cpus)" >&2
  exit 2
}
name="ridepred-bench-$$"
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  dir=/sys/fs/cgroup/$name
  mkdir "$dir"
  echo "$quota 100000" > "$dir/cpu.max"
elif [ -d /sys/fs/cgroup/cpu ]; then
  dir=/sys/fs/cgroup/cpu/$name
  mkdir "$dir"
  echo 100000 > "$dir/cpu.cfs_period_us"
  echo "$quota" > "$dir/cpu.cfs_quota_us"
else
  echo "bench/cpu-quota.sh: no cgroup cpu controller here" >&2
  exit 2
fi
cleanup() { rmdir "$dir" 2>/dev/null || true; }
trap cleanup EXIT
echo "bench/cpu-quota.sh: at most $cpus CPUs ($quota us per 100000 us), cgroup $dir" >&2
# The command runs in a child placed in the group first, so the group is empty again when it ends.
set +e
bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ "$dir" "$@"
code=$?
set -e
grep -E '^(nr_periods|nr_throttled|throttled_(time|usec))' "$dir/cpu.stat" >&2 || true
exit $code

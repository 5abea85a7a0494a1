#!/usr/bin/env bash
# Run a command on a share of this machine's CPU time, as a stand-in for a slower CPU.
#
#   sudo benchmarks/cpu_quota.sh 0.96 ../shared/tools/as-baseline-cpu python benchmarks/time_to_accuracy.py
#
# The first argument is how many CPUs' worth of time the command may use in every 100 ms, over all its threads
# and processes (a CFS bandwidth quota in a cgroup of its own); the command keeps its 2 threads. OpenMP's idle
# threads sleep instead of spinning (OMP_WAIT_POLICY=PASSIVE, unless set), because a spinning thread would spend
# the quota on waiting. Needs root and the cgroup cpu controller (v1, or v2 with cpu enabled for child groups);
# where it cannot set a quota it says so and exits with status 3, having run nothing.
#
# Calibration (CONTRIBUTING.md, "The main job on the baseline, emulated"): the main job as of commit 126ba56,
# timed on the baseline CPU at 125 s to the end, took 114-126 s under `cpu_quota.sh 0.96 as-baseline-cpu` on a
# 2-core AVX-512 EPYC whose fp32 matmul ran at 59-81 GFLOP/s under it (the baseline's: 49-62). On another machine
# the share that stands for the baseline differs: calibrate it the same way before reading times from it.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: cpu_quota.sh CPUS COMMAND [ARGS...]   (CPUS: e.g. 0.96, the CPU time allowed per wall second)" >&2
    exit 2
fi
cpus=$1
shift
if ! quota=$(awk -v c="$cpus" 'BEGIN { if (c !~ /^[0-9]*\.?[0-9]+$/ || c < 0.01 || c > 64) exit 1; printf "%d", c * 100000 + 0.5 }'); then
    echo "cpu_quota.sh: CPUS must be a number of CPUs between 0.01 and 64, not '$cpus'" >&2
    exit 2
fi
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then  # cgroup v2: one tree, cpu.max = "quota period"
    group=/sys/fs/cgroup/cpu_quota_$$
    settings=("$quota 100000" "$group/cpu.max")
else  # cgroup v1: the cpu controller's own tree
    group=/sys/fs/cgroup/cpu/cpu_quota_$$
    settings=(100000 "$group/cpu.cfs_period_us" "$quota" "$group/cpu.cfs_quota_us")
fi
cannot() {
    rmdir "$group" 2>/dev/null || true
    echo "cpu_quota.sh: cannot set a CPU quota here ($1): it needs root and the cgroup cpu controller" >&2
    exit 3
}
mkdir "$group" 2>/dev/null || cannot "mkdir $group failed"
for ((i = 0; i < ${#settings[@]}; i += 2)); do
    echo "${settings[i]}" 2>/dev/null > "${settings[i + 1]}" || cannot "writing ${settings[i + 1]} failed"
done
echo "cpu_quota.sh: $cpus CPUs of time per second, in $group" >&2
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
# The command runs in a child that joins the group; this shell stays outside it, waits, and removes the group.
status=0
bash -c 'if ! echo $$ 2>/dev/null > "$1/cgroup.procs"; then
              echo "cpu_quota.sh: cannot set a CPU quota here (joining $1 failed): it needs root and the cgroup cpu controller" >&2
              exit 3
          fi
          shift
          exec "$@"' cpu_quota "$group" "$@" || status=$?
rmdir "$group" 2>/dev/null || true
exit "$status"

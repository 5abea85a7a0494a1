#!/usr/bin/env bash
# Run a command on a share of this machine's CPU time, as a stand-in for a slower CPU.
#
#   sudo benchmarks/cpu_quota.sh 0.96 env ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
#       ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=2 "$(command -v python)" benchmarks/time_to_accuracy.py
#
# (the variables hold torch's libraries to AVX2 on 2 threads, as on the course's baseline CPU; sudo resets PATH,
# so name the python of your environment.)
#
# The first argument is how many CPUs' worth of time the command may use in every 100 ms, over all its threads
# and processes (a CFS bandwidth quota in a cgroup of its own); the command keeps its 2 threads. OpenMP's idle
# threads sleep instead of spinning (OMP_WAIT_POLICY=PASSIVE, unless set), because a spinning thread would spend
# the quota on waiting. Needs root and the cgroup cpu controller (v1, or v2 with cpu enabled for child groups);
# where it cannot set a quota it says so and exits with status 3, having run nothing.
#
# Calibration: 0.96 is the share at which, held to AVX2 as above on a 2-core AVX-512 EPYC, the one main job timed
# on the baseline CPU took about as long as it did there (the figures: CONTRIBUTING.md, "The main job on the
# baseline, emulated"). On another machine the share that stands for the baseline differs: calibrate it the same
# way before reading times from it.
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
    tree=/sys/fs/cgroup
    settings=("$quota 100000" cpu.max)
else  # cgroup v1: the cpu controller's own tree
    tree=/sys/fs/cgroup/cpu
    settings=(100000 cpu.cfs_period_us "$quota" cpu.cfs_quota_us)
fi
group=$tree/cpu_quota_$$
cannot() {
    rmdir "$group" 2>/dev/null || true
    echo "cpu_quota.sh: cannot set a CPU quota here ($1): it needs root and the cgroup cpu controller" >&2
    exit 3
}
mkdir "$group" 2>/dev/null || cannot "mkdir $group failed"
for ((i = 0; i < ${#settings[@]}; i += 2)); do
    echo "${settings[i]}" 2>/dev/null > "$group/${settings[i + 1]}" || cannot "writing $group/${settings[i + 1]} failed"
done
# This shell joins the group, so the command it starts is born inside it; once the command has ended the shell
# leaves for the tree's root, which empties the group so that it can be removed.
echo $$ 2>/dev/null > "$group/cgroup.procs" || cannot "joining $group failed"
echo "cpu_quota.sh: $cpus CPUs of time per second, in $group" >&2
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
status=0
"$@" || status=$?
echo $$ > "$tree/cgroup.procs"
rmdir "$group"
exit "$status"

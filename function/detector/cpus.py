"""How many CPUs' worth this process may use: its cpuset, capped by its share of CPU time.

The engine sizes onnxruntime's threads and the resize's bands with it; on Lambda the share
follows the function's memory, in a container its cgroup's quota.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

LAMBDA_MB_PER_VCPU = 1769  # AWS: "at 1,769 MB, a function has the equivalent of one vCPU"


def cpu_count(lambda_memory_mb: int | None = None) -> int:
    """The CPUs' worth this process may use: its cpuset, capped by its share of CPU time.

    A cpuset can be smaller than the machine. A share can be smaller than the cpuset:
    Lambda shows two vCPUs up to 3008 MB but gives CPU time in proportion to memory, one
    vCPU's worth at 1769 MB, and a container's cgroup may set a quota. Threads beyond the
    share are throttled: under a one-CPU cgroup quota with two CPUs visible, two threads
    made COCO detections 17% slower on average and tripled p90 (19.0 -> 22.3 ms mean,
    19.7 -> 56.5 ms p90); at 1.3 CPUs one thread was still faster, at 1.7 two were. So
    the share is rounded to the nearest whole CPU.
    """
    lambda_share = lambda_memory_mb / LAMBDA_MB_PER_VCPU if lambda_memory_mb else None
    return cpus_within(len(os.sched_getaffinity(0)), cgroup_cpu_share(), lambda_share)


def cpus_within(cpus: int, *shares: float | None) -> int:
    """``cpus`` capped by the smallest known share of CPU time, rounded to the nearest
    whole CPU; at least one."""
    known = [share for share in shares if share]
    if known:
        cpus = min(cpus, math.floor(min(known) + 0.5))
    return max(1, cpus)


def cgroup_cpu_share(
    membership: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")
) -> float | None:
    """CPUs' worth of time per period this process's cgroup may use; None if unlimited.

    cgroup v2 says it in ``cpu.max`` ("quota period" or "max period"), v1 in
    ``cpu.cfs_quota_us`` (-1: unlimited) over ``cpu.cfs_period_us``.
    """
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)  # "id:controllers:path"; v2's controllers are empty
        if len(parts) != 3:
            continue
        folder = parts[2].lstrip("/")
        controllers = parts[1]
        try:
            if not controllers:  # v2: one hierarchy
                quota, period = (root / folder / "cpu.max").read_text().split()
            elif "cpu" in controllers.split(","):
                mount = root / controllers  # v1: mounted as "cpu,cpuacct" or as "cpu"
                mount = mount if mount.is_dir() else root / "cpu"
                quota = (mount / folder / "cpu.cfs_quota_us").read_text().strip()
                period = (mount / folder / "cpu.cfs_period_us").read_text().strip()
            else:
                continue
            if quota not in ("max", "-1"):
                return int(quota) / int(period)
        except (OSError, ValueError, ZeroDivisionError):
            continue
    return None

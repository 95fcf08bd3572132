"""The CPU share: cpuset, Lambda's memory share, cgroup quotas (v1 and v2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from detector import cpus
from detector.cpus import cgroup_cpu_share, cpus_within


@pytest.mark.parametrize(
    ("cpus", "shares", "expected"),
    [
        (2, (), 2),  # no quota known: the cpuset
        (2, (None, 1769 / 1769), 1),  # Lambda at 1769 MB: one vCPU's worth of two
        (2, (None, 1024 / 1769), 1),  # less than one: still one thread
        (2, (None, 2600 / 1769), 1),  # 1.47: one thread was faster at 1.3 CPUs
        (2, (None, 3008 / 1769), 2),  # 1.70: two threads were faster
        (2, (None, 10240 / 1769), 2),  # the share never adds CPUs to the cpuset
        (6, (None, 10240 / 1769), 6),  # 5.8: six at 10 GB, as Lambda gives
        (6, (2.0, 10240 / 1769), 2),  # the smaller of a cgroup quota and the memory share
        (4, (0.3,), 1),
    ],
)
def test_the_threads_are_the_cpuset_capped_by_the_nearest_whole_share(cpus, shares, expected):
    assert cpus_within(cpus, *shares) == expected


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("membership", "files", "expected"),
    [
        # cgroup v2: one line, the quota in cpu.max
        ("0::/job\n", {"job/cpu.max": "150000 100000\n"}, 1.5),
        ("0::/job\n", {"job/cpu.max": "max 100000\n"}, None),
        # cgroup v1, mounted as cpu,cpuacct
        (
            "4:cpu,cpuacct:/job\n0::/\n",
            {
                "cpu,cpuacct/job/cpu.cfs_quota_us": "50000",
                "cpu,cpuacct/job/cpu.cfs_period_us": "100000",
            },
            0.5,
        ),
        # cgroup v1, mounted as cpu; -1 is unlimited
        (
            "1:cpu:/\n",
            {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"},
            None,
        ),
        # a hybrid host: the v1 quota counts, the empty v2 hierarchy has no cpu.max
        (
            "1:cpu:/q\n0::/\n",
            {"cpu/q/cpu.cfs_quota_us": "200000", "cpu/q/cpu.cfs_period_us": "100000"},
            2.0,
        ),
        ("garbage\n2:memory:/x\n", {}, None),
        ("0::/job\n", {"job/cpu.max": "many 0\n"}, None),
    ],
)
def test_the_cgroup_cpu_quota_is_read_from_either_cgroup_version(
    tmp_path, membership, files, expected
):
    for name, text in files.items():
        write(tmp_path / "fs" / name, text)
    self_cgroup = write(tmp_path / "self-cgroup", membership)
    assert cgroup_cpu_share(self_cgroup, tmp_path / "fs") == expected


def test_no_cgroup_file_means_no_quota(tmp_path):
    assert cgroup_cpu_share(tmp_path / "missing", tmp_path) is None


V1_CPU = Path("/sys/fs/cgroup/cpu")


@pytest.mark.skipif(
    not os.access(V1_CPU, os.W_OK) or len(os.sched_getaffinity(0)) < 2,
    reason="needs a writable cgroup v1 cpu hierarchy and two CPUs",
)
def test_a_process_in_a_one_cpu_cgroup_runs_one_thread(tmp_path):
    # GIVEN a real cgroup allowed one CPU's worth of time, on a machine with two
    group = V1_CPU / f"detector-test-{os.getpid()}"
    group.mkdir()
    try:
        (group / "cpu.cfs_quota_us").write_text(str(int((group / "cpu.cfs_period_us").read_text())))
        # WHEN a fresh process inside it counts its CPUs
        join = f"open({str(group / 'cgroup.procs')!r}, 'w').write(str(os.getpid()))"
        count = "from detector.cpus import cpu_count; print(cpu_count())"
        done = subprocess.run(
            [sys.executable, "-c", f"import os; {join}; {count}"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(Path(cpus.__file__).parents[1])},
        )
        # THEN it counts one
        assert done.stdout.strip() == "1"
    finally:
        group.rmdir()

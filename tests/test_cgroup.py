"""The cgroup fast path on fake /proc + /sys trees, and once against the live engine."""

from __future__ import annotations

import http.client
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from pathlib import Path

import pytest
from cgroup_helpers import (
    container_cgroup_paths,
    int_value,
    keyed_value,
    parse_int,
    parse_keyed,
    parse_net_dev,
    parse_proc_stat,
    read_cgroup_stats,
    read_many,
)
from conftest import TESTBED_LIMIT, because, engine_lacks, engine_socket, skip_testbed_limit

from exporter.engine.stats import BlockIO, ContainerStats, NetworkIO, ProcessInfo, parse_api_stats
from exporter.stats import cgroup
from exporter.stats.cgroup import (
    UNIFIED,
    CgroupError,
    CgroupGone,
    CgroupMount,
    CgroupReader,
    Target,
    cgroup_pids,
    discover_layout,
    layout_from_mountinfo,
    open_files_budget,
    parse_blkio_throttle,
    parse_cpu_max,
    parse_io_stat,
    parse_mountinfo,
    paths_from_proc_cgroup,
    read_processes,
    sample,
)
from exporter.stats.cgroup.rlimit import OPEN_FILES
from exporter.stats.cgroup.statsfiles import REPROBE_READS

pytestmark = pytest.mark.cgroup

CID = "3f1e2d4c5b6a79880716253443526170a9b8c7d6e5f4031221304f5e6d7c8b9a"
OTHER = "aa" * 32
PID = 4242
MIB = 1024 * 1024
PR_SET_DUMPABLE = 4  # prctl(2) option

# --- realistic file contents (shapes copied from the test engine, kernel 6.x) ----------

NET_DEV = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|"
    "bytes    packets errs drop fifo colls carrier compressed\n"
    "    lo:     120       2    0    0    0     0          0         0"
    "      120       2    0    0    0     0       0          0\n"
    "  eth0:    5180      42    1    3    0     0          0         0"
    "     2240      21    0    0    0     0       0          0\n"
    "  eth1:     736       8    0    0    0     0          0         0"
    "        0       0    0    0    0     0       0          0\n"
)
NETWORKS = (
    NetworkIO("eth0", 5180, 42, 1, 3, 2240, 21, 0, 0),
    NetworkIO("eth1", 736, 8, 0, 0, 0, 0, 0, 0),
)

V1_MEMORY_STAT = """\
cache 1875968
rss 57344
rss_huge 0
shmem 0
mapped_file 1462272
swap 0
pgpgin 1297
pgpgout 825
inactive_anon 53248
active_anon 4096
inactive_file 401408
active_file 1474560
unevictable 0
hierarchical_memory_limit 67108864
hierarchical_memsw_limit 134217728
total_cache 1875968
total_rss 57344
total_rss_huge 0
total_mapped_file 1462272
total_swap 8192
total_inactive_anon 53248
total_active_anon 4096
total_inactive_file 401408
total_active_file 1474560
total_unevictable 0
"""
V1_BLKIO_BYTES = """\
8:0 Read 4096
8:0 Write 8192
8:0 Sync 12288
8:0 Async 0
8:0 Discard 0
8:0 Total 12288
259:0 Read 1048576
259:0 Write 0
259:0 Sync 0
259:0 Async 1048576
259:0 Discard 0
259:0 Total 1048576
Total 1060864
"""
V1_BLKIO_OPS = """\
8:0 Read 1
8:0 Write 2
8:0 Sync 3
8:0 Async 0
8:0 Discard 0
8:0 Total 3
259:0 Read 16
259:0 Write 0
259:0 Total 16
Total 19
"""
V2_MEMORY_STAT = """\
anon 532480
file 2375680
kernel_stack 16384
slab 231424
shmem 0
file_mapped 1478656
inactive_anon 520192
active_anon 12288
inactive_file 1269760
active_file 1105920
unevictable 0
pgfault 1320
pgmajfault 2
"""
V2_CPU_STAT = """\
usage_usec 60123456
user_usec 60000000
system_usec 123456
nr_periods 1203
nr_throttled 1198
throttled_usec 59876543
nr_bursts 0
burst_usec 0
"""
V2_IO_STAT = """\
259:0 rbytes=4096000 wbytes=8388608 rios=120 wios=64 dbytes=0 dios=0
8:16 rbytes=12288 wbytes=0 rios=3 wios=0 dbytes=0 dios=0
"""

# mountinfo of the test engine: separate cpu and cpuacct, plus an empty unified hierarchy.
HYBRID_MOUNTINFO = """\
24 30 0:22 / /sys rw,relatime shared:7 - sysfs sysfs rw
31 24 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
"""
V1_MOUNTINFO = "\n".join(line for line in HYBRID_MOUNTINFO.splitlines() if "cgroup2" not in line)
# A systemd distro: cpu and cpuacct co-mounted, no pids controller mounted.
V1_SYSTEMD_MOUNTINFO = """\
25 30 0:23 / /sys rw,relatime shared:7 - sysfs sysfs rw
31 25 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/systemd rw,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd
35 31 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
36 31 0:33 / /sys/fs/cgroup/memory rw,relatime shared:14 - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/blkio rw,relatime shared:15 - cgroup cgroup rw,blkio
38 31 0:35 / /sys/fs/cgroup/net_cls,net_prio rw shared:16 - cgroup cgroup rw,net_cls,net_prio
"""
V2_MOUNTINFO = """\
24 30 0:22 / /sys rw,relatime shared:7 - sysfs sysfs rw
30 24 0:26 / /sys/fs/cgroup rw,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
"""


def v1_proc_cgroup(prefix: str, *, hybrid: bool = False) -> str:
    """/proc/<pid>/cgroup of a v1 container (test engine numbering)."""
    lines = [
        f"9:name=systemd:{prefix}",
        f"8:pids:{prefix}",
        f"7:blkio:{prefix}",
        f"4:memory:{prefix}",
        f"3:cpuset:{prefix}",
        f"2:cpuacct:{prefix}",
        f"1:cpu:{prefix}",
    ]
    if hybrid:
        lines.append(f"0::{prefix}")
    return "\n".join(lines) + "\n"


def write_tree(root: Path, files: dict[str, str]) -> None:
    """Create files (paths relative to root) with their text."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def make_host(
    tmp: Path, mountinfo: str, proc_cgroup: str, cgroup_files: dict[str, str]
) -> tuple[Path, Path]:
    """Build <tmp>/proc and <tmp>/sys; the mountinfo's /sys mounts get re-rooted to <tmp>/sys."""
    proc, sys = tmp / "proc", tmp / "sys"
    write_tree(
        tmp,
        {
            "proc/self/mountinfo": mountinfo,
            f"proc/{PID}/cgroup": proc_cgroup,
            f"proc/{PID}/net/dev": NET_DEV,
            **{f"sys/fs/cgroup/{rel}": text for rel, text in cgroup_files.items()},
        },
    )
    return proc, sys


def v1_engine_files(prefix: str) -> dict[str, str]:
    """Every v1 file we read, for a `--memory 64m --cpus 0.5` container, per controller dir."""
    return {
        f"cpuacct{prefix}/cpuacct.usage": "1570398380\n",
        f"cpuacct{prefix}/cpuacct.stat": "user 154\nsystem 2\n",
        f"cpu{prefix}/cpu.stat": "nr_periods 32\nnr_throttled 30\nthrottled_time 1496008700\n"
        "nr_bursts 0\nburst_time 0\n",
        f"cpu{prefix}/cpu.cfs_quota_us": "50000\n",
        f"cpu{prefix}/cpu.cfs_period_us": "100000\n",
        f"memory{prefix}/memory.usage_in_bytes": "2637824\n",
        f"memory{prefix}/memory.limit_in_bytes": "67108864\n",
        f"memory{prefix}/memory.stat": V1_MEMORY_STAT,
        f"memory{prefix}/memory.memsw.usage_in_bytes": "2646016\n",
        f"memory{prefix}/memory.failcnt": "3\n",
        f"memory{prefix}/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        f"pids{prefix}/pids.current": "2\n",
        f"pids{prefix}/pids.max": "max\n",
        f"pids{prefix}/cgroup.procs": f"{PID}\n4300\n",
        f"blkio{prefix}/blkio.throttle.io_service_bytes_recursive": V1_BLKIO_BYTES,
        f"blkio{prefix}/blkio.throttle.io_serviced_recursive": V1_BLKIO_OPS,
        f"cpuset{prefix}/cgroup.procs": f"{PID}\n4300\n",
        f"systemd{prefix}/cgroup.procs": f"{PID}\n4300\n",
    }


V1_ENGINE_STATS = ContainerStats(
    cpu_usage_seconds=1.57039838,
    cpu_user_seconds=1.54,
    cpu_system_seconds=0.02,
    cpu_periods=32,
    cpu_throttled_periods=30,
    cpu_throttled_seconds=1.4960087,
    cpu_limit_cores=0.5,
    memory_usage_bytes=2637824,
    memory_working_set_bytes=2637824 - 401408,
    memory_rss_bytes=57344,
    memory_cache_bytes=1875968,
    memory_swap_bytes=8192,  # memory.stat total_swap wins over memsw - usage
    memory_limit_bytes=64 * MIB,
    memory_failures=3,
    oom_kills=1,
    pids=2,
    pids_limit=None,
    networks=NETWORKS,
    block=(BlockIO("8:0", 4096, 8192, 1, 2), BlockIO("259:0", 1048576, 0, 16, 0)),
    memory_mapped_file_bytes=1462272,
)


def read_one(proc: Path, sys: Path, cid: str = CID) -> ContainerStats:
    """discover_layout -> container_cgroup_paths -> read_cgroup_stats, as a caller would."""
    layout = discover_layout(proc, sys)
    paths = container_cgroup_paths(layout, proc, PID, cid)
    assert paths is not None
    return read_cgroup_stats(paths, layout.version, proc, PID, host_network=False)


# --- layouts ------------------------------------------------------------------------------


def test_v1_cgroupfs_reads_every_field(tmp_path: Path) -> None:
    """v1 + cgroupfs (/docker/<id>), separate cpu and cpuacct mounts like the test engine."""
    prefix = f"/docker/{CID}"
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, v1_proc_cgroup(prefix), v1_engine_files(prefix))
    assert read_one(proc, sys) == V1_ENGINE_STATS


def test_v1_cgroupfs_layout_and_paths(tmp_path: Path) -> None:
    """Each v1 line maps to its controller's mount, re-rooted under sys_root."""
    prefix = f"/docker/{CID}"
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, v1_proc_cgroup(prefix), {})
    layout = discover_layout(proc, sys)
    paths = container_cgroup_paths(layout, proc, PID, CID)
    base = sys / "fs" / "cgroup"
    expected = {
        name: base / name / "docker" / CID
        for name in ("pids", "blkio", "memory", "cpuset", "cpuacct", "cpu")
    }
    expected["name=systemd"] = base / "systemd" / "docker" / CID
    assert (layout.version, layout.hybrid, layout.unified) == ("1", False, None)
    assert expected == paths


def v1_systemd_proc_cgroup(prefix: str) -> str:
    """/proc/<pid>/cgroup on a systemd distro: co-mounted cpu,cpuacct, no pids."""
    return (
        f"6:net_cls,net_prio:{prefix}\n5:blkio:{prefix}\n4:memory:{prefix}\n"
        f"3:cpu,cpuacct:{prefix}\n1:name=systemd:{prefix}\n"
    )


def v1_systemd_files(prefix: str) -> dict[str, str]:
    """An unlimited container on a systemd distro: CFQ blkio, no total_swap, old oom_control."""
    mem_stat = "\n".join(
        line
        for line in V1_MEMORY_STAT.splitlines()
        if not line.startswith(("total_swap", "hierarchical_memory_limit"))
    )
    cpu = f"cpu,cpuacct{prefix}"
    return {
        f"{cpu}/cpuacct.usage": "250000000000\n",
        f"{cpu}/cpuacct.stat": "user 20000\nsystem 5000\n",
        f"{cpu}/cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
        f"{cpu}/cpu.cfs_quota_us": "-1\n",
        f"{cpu}/cpu.cfs_period_us": "100000\n",
        f"memory{prefix}/memory.usage_in_bytes": "2637824\n",
        f"memory{prefix}/memory.limit_in_bytes": "9223372036854771712\n",
        f"memory{prefix}/memory.stat": mem_stat,
        f"memory{prefix}/memory.memsw.usage_in_bytes": "2654208\n",
        f"memory{prefix}/memory.failcnt": "0\n",
        f"memory{prefix}/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n",
        f"blkio{prefix}/blkio.io_service_bytes_recursive": V1_BLKIO_BYTES,
    }


def test_v1_systemd_reads_every_field(tmp_path: Path) -> None:
    """v1 + systemd: co-mounted cpu,cpuacct, no pids mount, CFQ blkio, old oom_control.

    Also: -1 quota and the page-rounded unlimited limit are None, swap falls back to
    memsw - usage, and a missing io_serviced file leaves op counts None.
    """
    prefix = f"/system.slice/docker-{CID}.scope"
    proc, sys = make_host(
        tmp_path, V1_SYSTEMD_MOUNTINFO, v1_systemd_proc_cgroup(prefix), v1_systemd_files(prefix)
    )
    expected = ContainerStats(
        cpu_usage_seconds=250.0,
        cpu_user_seconds=200.0,
        cpu_system_seconds=50.0,
        cpu_periods=0,
        cpu_throttled_periods=0,
        cpu_throttled_seconds=0.0,
        cpu_limit_cores=None,
        memory_usage_bytes=2637824,
        memory_working_set_bytes=2637824 - 401408,
        memory_rss_bytes=57344,
        memory_cache_bytes=1875968,
        memory_swap_bytes=2654208 - 2637824,
        memory_limit_bytes=None,
        memory_failures=0,
        oom_kills=None,
        pids=None,
        pids_limit=None,
        networks=NETWORKS,
        block=(BlockIO("8:0", 4096, 8192, None, None), BlockIO("259:0", 1048576, 0, None, None)),
        memory_mapped_file_bytes=1462272,
    )
    assert expected == read_one(proc, sys)


def test_hybrid_reads_v1_controllers_and_maps_unified(tmp_path: Path) -> None:
    """Hybrid: version "1", the empty cgroup2 hierarchy is mapped but not read for stats."""
    prefix = f"/docker/{CID}"
    proc, sys = make_host(
        tmp_path, HYBRID_MOUNTINFO, v1_proc_cgroup(prefix, hybrid=True), v1_engine_files(prefix)
    )
    layout = discover_layout(proc, sys)
    paths = container_cgroup_paths(layout, proc, PID, CID)
    assert paths is not None
    assert (layout.version, layout.hybrid) == ("1", True)
    assert sys / "fs/cgroup/unified/docker" / CID == paths[UNIFIED]
    assert read_one(proc, sys) == V1_ENGINE_STATS


def v2_files(prefix: str) -> dict[str, str]:
    """Every v2 file we read, for a `--memory 64m --cpus 0.5 --pids-limit 100` container."""
    return {
        f"{prefix}/cpu.stat": V2_CPU_STAT,
        f"{prefix}/cpu.max": "50000 100000\n",
        f"{prefix}/memory.current": "3145728\n",
        f"{prefix}/memory.max": "67108864\n",
        f"{prefix}/memory.stat": V2_MEMORY_STAT,
        f"{prefix}/memory.swap.current": "4096\n",
        f"{prefix}/memory.events": "low 0\nhigh 0\nmax 17\noom 2\noom_kill 1\noom_group_kill 0\n",
        f"{prefix}/pids.current": "1\n",
        f"{prefix}/pids.max": "100\n",
        f"{prefix}/io.stat": V2_IO_STAT,
        f"{prefix}/cgroup.procs": f"{PID}\n",
        **{f"{prefix}/{name}": text for name, text in V2_PRESSURE.items()},
    }


# PSI in the kernel's format (kernel/sched/psi.c psi_show: avg10, avg60, avg300 with two
# decimals, total in microseconds); cpu.pressure's `full` line exists since 5.13.
V2_PRESSURE = {
    "cpu.pressure": "some avg10=1.23 avg60=0.50 avg300=0.10 total=4567890\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=12345\n",
    "memory.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=250000\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=200000\n",
    "io.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=1000000\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=900000\n",
}
V2_PRESSURE_STATS = (
    ("cpu", "some", 4.56789),
    ("cpu", "full", 0.012345),
    ("memory", "some", 0.25),
    ("memory", "full", 0.2),
    ("io", "some", 1.0),
    ("io", "full", 0.9),
)


def test_v2_systemd_reads_every_field(tmp_path: Path) -> None:
    """v2 + systemd (/system.slice/docker-<id>.scope): every field from one directory."""
    prefix = f"/system.slice/docker-{CID}.scope"
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, f"0::{prefix}\n", v2_files(prefix))
    expected = ContainerStats(
        cpu_usage_seconds=60.123456,
        cpu_user_seconds=60.0,
        cpu_system_seconds=0.123456,
        cpu_periods=1203,
        cpu_throttled_periods=1198,
        cpu_throttled_seconds=59.876543,
        cpu_limit_cores=0.5,
        memory_usage_bytes=3145728,
        memory_working_set_bytes=3145728 - 1269760,
        memory_rss_bytes=532480,
        memory_cache_bytes=2375680,
        memory_swap_bytes=4096,
        memory_limit_bytes=64 * MIB,
        memory_failures=17,  # memory.events "max"
        oom_kills=1,
        pids=1,
        pids_limit=100,
        networks=NETWORKS,
        block=(BlockIO("8:16", 12288, 0, 3, 0), BlockIO("259:0", 4096000, 8388608, 120, 64)),
        memory_events=(("low", 0), ("high", 0), ("max", 17), ("oom", 2), ("oom_kill", 1)),
        pressure=V2_PRESSURE_STATS,
        memory_mapped_file_bytes=1478656,
        memory_page_faults=(1320, 2),
    )
    assert expected == read_one(proc, sys)


def v2_sparse_files(prefix: str) -> dict[str, str]:
    """v2 without the cpu controller or swap: "max" limits, no cpu.max, an empty io.stat."""
    return {
        f"{prefix}/cpu.stat": "usage_usec 2000000\nuser_usec 1500000\nsystem_usec 500000\n",
        f"{prefix}/memory.current": "1048576\n",
        f"{prefix}/memory.max": "max\n",
        f"{prefix}/memory.stat": "anon 4096\nfile 2097152\ninactive_file 2097152\n",
        f"{prefix}/memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
        f"{prefix}/pids.current": "3\n",
        f"{prefix}/pids.max": "max\n",
        f"{prefix}/io.stat": "",
    }


def test_v2_cgroupfs_unlimited_and_missing_files(tmp_path: Path) -> None:
    """v2 + cgroupfs (/docker/<id>): "max" limits are None, absent files are None, not 0.

    No cpu controller here (cpu.stat has only the core keys), no swap file, empty io.stat.
    """
    prefix = f"/docker/{CID}"
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, f"0::{prefix}\n", v2_sparse_files(prefix))
    expected = ContainerStats(
        cpu_usage_seconds=2.0,
        cpu_user_seconds=1.5,
        cpu_system_seconds=0.5,
        cpu_periods=None,
        cpu_throttled_periods=None,
        cpu_throttled_seconds=None,
        cpu_limit_cores=None,
        memory_usage_bytes=1048576,
        memory_working_set_bytes=1048576,  # inactive_file >= usage
        memory_rss_bytes=4096,
        memory_cache_bytes=2097152,
        memory_swap_bytes=None,
        memory_limit_bytes=None,
        memory_failures=0,
        oom_kills=0,
        pids=3,
        pids_limit=None,
        networks=NETWORKS,
        block=(),
        memory_events=(("low", 0), ("high", 0), ("max", 0), ("oom", 0), ("oom_kill", 0)),
        pressure=(),  # no PSI files (CONFIG_PSI off, or cgroup.pressure 0): no series
    )
    layout = discover_layout(proc, sys)
    assert (layout.version, layout.hybrid) == ("2", False)
    assert expected == read_one(proc, sys)


def test_host_network_reports_no_interfaces(tmp_path: Path) -> None:
    """With --network host, /proc/<pid>/net/dev shows the host's NICs: report none."""
    prefix = f"/docker/{CID}"
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, f"0::{prefix}\n", v2_files(prefix))
    layout = discover_layout(proc, sys)
    paths = container_cgroup_paths(layout, proc, PID, CID)
    assert paths is not None
    stats = read_cgroup_stats(paths, "2", proc, PID, host_network=True)
    assert stats.networks == ()


# --- path resolution ----------------------------------------------------------------------


def test_reused_pid_is_rejected(tmp_path: Path) -> None:
    """A PID whose cgroups do not name the container belongs to someone else now."""
    prefix = f"/docker/{OTHER}"
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, f"0::{prefix}\n", v2_files(prefix))
    assert container_cgroup_paths(discover_layout(proc, sys), proc, PID, CID) is None


def test_exited_process_has_no_paths(tmp_path: Path) -> None:
    """No /proc/<pid>/cgroup (the process exited) means no paths, not an exception."""
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, "0::/\n", {})
    assert container_cgroup_paths(discover_layout(proc, sys), proc, PID + 1, CID) is None


def test_process_in_child_cgroup_maps_to_container_cgroup() -> None:
    """systemd-in-container moves init into init.scope; stats belong to the parent."""
    layout = layout_from_mountinfo(V2_MOUNTINFO, Path("/sys"))
    paths = paths_from_proc_cgroup(layout, f"0::/docker/{CID}/init.scope\n", CID)
    assert {UNIFIED: f"/sys/fs/cgroup/docker/{CID}"} == paths


def test_mount_root_is_stripped_from_cgroup_path() -> None:
    """A mount showing a subtree (root /docker) is joined without repeating the root."""
    mountinfo = "40 31 0:33 /docker /cg/memory rw - cgroup cgroup rw,memory\n"
    layout = layout_from_mountinfo(mountinfo, Path("/sys"))
    paths = paths_from_proc_cgroup(layout, f"4:memory:/docker/{CID}\n", CID)
    assert {"memory": f"/cg/memory/{CID}"} == paths


def test_host_sys_mounted_elsewhere_wins_over_own_cgroup_mount() -> None:
    """In a container: the host tree under --host.sys wins over the container's own mount."""
    mountinfo = (
        "50 40 0:33 /docker/exporter /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n"
        "60 41 0:33 / /host/sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n"
    )
    layout = layout_from_mountinfo(mountinfo, Path("/host/sys"))
    expected = (CgroupMount(frozenset({"memory"}), "/", Path("/host/sys/fs/cgroup/memory")),)
    assert expected == layout.v1


def test_sys_mounts_are_rerooted_under_host_sys() -> None:
    """Without a visible bind, /sys/fs/cgroup/X is read at <host.sys>/fs/cgroup/X, root /."""
    mountinfo = "50 40 0:33 /docker/exporter /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n"
    layout = layout_from_mountinfo(mountinfo, Path("/host/sys"))
    assert CgroupMount(frozenset(), "/", Path("/host/sys/fs/cgroup")) == layout.unified


def test_no_cgroup_mounts_is_an_error() -> None:
    """A host without cgroupfs cannot use the fast path at all."""
    with pytest.raises(CgroupError, match="no cgroup"):
        layout_from_mountinfo("24 30 0:22 / /sys rw - sysfs sysfs rw\n", Path("/sys"))


def test_mount_for_finds_comma_joined_hierarchy() -> None:
    """A controller co-mounted with others (cpu,cpuacct) is found by subset."""
    layout = layout_from_mountinfo(V1_SYSTEMD_MOUNTINFO, Path("/sys"))
    mount = layout.mount_for(frozenset({"cpuacct"}))
    assert mount is not None
    assert Path("/sys/fs/cgroup/cpu,cpuacct") == mount.path


# --- vanishing containers -----------------------------------------------------------------


def test_vanished_cgroup_raises_cgroup_gone(tmp_path: Path) -> None:
    """A cgroup directory removed between resolving and reading is CgroupGone."""
    prefix = f"/docker/{CID}"
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, f"0::{prefix}\n", v2_files(prefix))
    layout = discover_layout(proc, sys)
    paths = container_cgroup_paths(layout, proc, PID, CID)
    assert paths is not None
    shutil.rmtree(paths[UNIFIED])
    with pytest.raises(CgroupGone):
        read_cgroup_stats(paths, "2", proc, PID, host_network=False)


def test_exited_init_process_raises_cgroup_gone(tmp_path: Path) -> None:
    """The init process gone while its cgroup lingers is CgroupGone too (net/dev vanished)."""
    prefix = f"/docker/{CID}"
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, f"0::{prefix}\n", v2_files(prefix))
    layout = discover_layout(proc, sys)
    paths = container_cgroup_paths(layout, proc, PID, CID)
    assert paths is not None
    shutil.rmtree(proc / str(PID))
    with pytest.raises(CgroupGone):
        read_cgroup_stats(paths, "2", proc, PID, host_network=False)


def test_files_longer_than_one_read_are_read_whole(tmp_path: Path) -> None:
    """A net/dev far beyond one read() (hundreds of interfaces) is not truncated."""
    prefix = f"/docker/{CID}"
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, f"0::{prefix}\n", v2_files(prefix))
    rows = "".join(f"  veth{i:04d}: {i} 1 0 0 0 0 0 0 {i} 1 0 0 0 0 0 0\n" for i in range(3000))
    (proc / str(PID) / "net" / "dev").write_text(NET_DEV + rows)
    assert len(NET_DEV + rows) > 65536
    networks = read_one(proc, sys).networks
    assert (len(networks), networks[-1].rx_bytes) == (3002, 2999)


def test_read_many_skips_gone_and_reused_containers(tmp_path: Path) -> None:
    """One sweep returns only containers it could read; others are simply absent."""
    prefix = f"/docker/{CID}"
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, f"0::{prefix}\n", v2_files(prefix))
    write_tree(proc, {"77/cgroup": f"0::/docker/{OTHER}\n"})  # the reused PID 77
    layout = discover_layout(proc, sys)
    targets = [Target(CID, PID), Target("bb" * 32, 77), Target("cc" * 32, 78)]
    result = read_many(layout, proc, targets)
    assert list(result) == [CID]
    assert read_one(proc, sys) == result[CID]


# --- pure parsers -------------------------------------------------------------------------


def test_parse_net_dev_skips_headers_and_lo() -> None:
    """16 counters per interface; rx are columns 1-4, tx columns 9-12."""
    assert parse_net_dev(NET_DEV) == NETWORKS


def test_parse_io_stat_per_device() -> None:
    """io.stat keys become bytes and op counts, devices in numeric order."""
    expected = (BlockIO("8:16", 12288, 0, 3, 0), BlockIO("259:0", 4096000, 8388608, 120, 64))
    assert expected == parse_io_stat(V2_IO_STAT)


def test_parse_blkio_throttle_without_ops() -> None:
    """Only Read and Write count; no ops file means op counts are None."""
    expected = (BlockIO("8:0", 4096, 8192, None, None), BlockIO("259:0", 1048576, 0, None, None))
    assert expected == parse_blkio_throttle(V1_BLKIO_BYTES, None)


def test_parse_keyed_skips_non_integer_lines() -> None:
    """Flat-keyed files are key -> int; odd lines are ignored, not fatal."""
    assert parse_keyed("user 154\nsystem 2\nweird\nx y\n") == {"user": 154, "system": 2}


@pytest.mark.parametrize(
    ("text", "expected"), [("max\n", None), ("-1\n", -1), ("67108864\n", 67108864), ("", None)]
)
def test_parse_int(text: str, expected: int | None) -> None:
    """Single-value files: "max" is None (unlimited); -1 is kept for the caller."""
    assert expected == parse_int(text)
    assert expected == int_value(text.encode())


@pytest.mark.parametrize(
    ("text", "expected"),
    [("max 100000\n", None), ("50000 100000\n", 0.5), ("200000 100000\n", 2.0), (None, None)],
)
def test_parse_cpu_max(text: str | None, expected: float | None) -> None:
    """cpu.max quota/period in cores; "max" or a missing file means unlimited."""
    assert expected == parse_cpu_max(text)


def test_parse_mountinfo_decodes_escapes_and_optional_fields() -> None:
    r"""Mount points escape spaces as \040; optional fields come before the "-"."""
    line = r"36 31 0:33 / /mnt/my\040cg rw shared:14 master:2 - cgroup cgroup rw,memory"
    assert parse_mountinfo(line) == [("cgroup", "/", "/mnt/my cg", "rw,memory")]


def test_parse_proc_stat_handles_parentheses_in_comm() -> None:
    """comm may contain ") "; fields are counted from the last ")"."""
    fields = ["S", "1", *["0"] * 9, "250", "50", *["0"] * 8, "300"]
    text = f"42 (evil) name) {' '.join(fields)} 0 0\n"
    assert parse_proc_stat(text) == ("evil) name", "S", 1, 300, 300)


# --- processes ----------------------------------------------------------------------------


def proc_stat_line(
    pid: int, comm: str, *, state: str, ppid: int, ticks: int, rss: int, threads: int = 1
) -> str:
    """A /proc/<pid>/stat line with utime=ticks, stime=0, num_threads, rss pages."""
    rest = [state, str(ppid), *["0"] * 9, str(ticks), "0", *["0"] * 4, str(threads)]
    rest += [*["0"] * 3, str(rss), "0"]
    return f"{pid} ({comm}) {' '.join(rest)}\n"


def write_processes(proc: Path, threads: dict[int, int]) -> None:
    """/proc/<pid>/{stat,cmdline} of `sh` processes, owned by us: pid -> num_threads."""
    for pid, count in threads.items():
        write_tree(
            proc,
            {
                f"{pid}/stat": proc_stat_line(
                    pid, "sh", state="S", ppid=1, ticks=pid, rss=10, threads=count
                ),
                f"{pid}/cmdline": f"sh\0-c\0job {pid}\0",
            },
        )


def test_read_processes_like_ps(tmp_path: Path) -> None:
    """cmdline with NULs as spaces, [comm] for empty cmdline, the owner of /proc/<pid> as UID
    with its passwd name, exited processes skipped."""
    me = os.geteuid()
    proc = tmp_path / "proc"
    write_tree(
        tmp_path,
        {
            "etc/passwd": f"me:x:{me}:{me}::/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
            f"proc/{PID}/stat": proc_stat_line(PID, "sh", state="S", ppid=4200, ticks=150, rss=100),
            f"proc/{PID}/cmdline": "sh\0-c\0while :; do :; done\0",
            "proc/4300/stat": proc_stat_line(4300, "worker", state="Z", ppid=PID, ticks=0, rss=0),
            "proc/4300/cmdline": "",
        },
    )
    expected = (
        ProcessInfo(
            pid=PID,
            ppid=4200,
            uid=me,
            user="me",
            command="sh -c while :; do :; done",
            cpu_seconds=150 / cgroup.CLK_TCK,
            rss_bytes=100 * cgroup.PAGE_SIZE,
            state="S",
        ),
        ProcessInfo(4300, PID, me, "me", "[worker]", 0.0, 0, "Z"),
    )
    assert expected == read_processes(proc, [PID, 4300, 4301])


@pytest.mark.skipif(os.geteuid() != 0, reason=because(TESTBED_LIMIT, "needs root to change UIDs"))
def test_process_uid_is_the_effective_one(tmp_path: Path) -> None:
    """On the real /proc, a process with real UID 1000 and effective UID 1234, made
    non-dumpable (its /proc files then belong to root), is listed with UID 1234, the
    `Uid:` line's second column, and without a name when passwd has none; a kept
    /proc/<pid> descriptor (CgroupReader's) says 1234 too."""
    script = (
        "import ctypes, os, sys\n"
        f"ctypes.CDLL(None).prctl({PR_SET_DUMPABLE}, 0, 0, 0, 0)\n"
        "os.setresuid(1000, 1234, 1000)\n"
        "print(flush=True)\n"
        "sys.stdin.read()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as child:
        assert child.stdout is not None
        child.stdout.readline()
        status = Path(f"/proc/{child.pid}/status").read_text()
        (info,) = read_processes(Path("/proc"), [child.pid], passwd=tmp_path / "passwd")
        directory = os.open(f"/proc/{child.pid}", os.O_RDONLY | os.O_DIRECTORY)
        try:
            kept_uid = os.fstat(directory).st_uid
        finally:
            os.close(directory)
        child.communicate()
    assert "Uid:\t1000\t1234\t1000\t1234\n" in status
    assert (child.pid, 1234, None, 1234) == (info.pid, info.uid, info.user, kept_uid)


def test_cgroup_pids_walks_child_cgroups(tmp_path: Path) -> None:
    """Processes in nested cgroups (systemd in the container) are included, sorted, unique."""
    base = tmp_path / "pids" / "docker" / CID
    write_tree(base, {"cgroup.procs": "10\n5\n", "init.scope/cgroup.procs": "1\n5\n"})
    assert cgroup_pids({"pids": base}) == [1, 5, 10]


def test_cgroup_pids_of_removed_cgroup_raises(tmp_path: Path) -> None:
    """A container removed before its process list is read is CgroupGone."""
    with pytest.raises(CgroupGone):
        cgroup_pids({UNIFIED: tmp_path / "gone"})


def test_process_list_skips_the_walk_when_threads_add_up(tmp_path: Path) -> None:
    """Threads in the container's own cgroup.procs add up to pids.current: no child cgroup
    can hold a process, so child cgroups are not listed (this decoy child would show)."""
    assert [PID, 4300] == listed_with_child(tmp_path, "decoy", pids_current=3)[0]


def test_process_list_walks_nested_cgroups(tmp_path: Path) -> None:
    """A process in a child cgroup makes pids.current exceed the own cgroup's threads: the
    tree is walked, and the list is the per-file path's (sorted, child included)."""
    listed, as_per_file = listed_with_child(tmp_path, "init.scope", pids_current=4)
    assert [PID, 4300, 5000] == listed
    assert as_per_file


def listed_with_child(tmp_path: Path, child: str, *, pids_current: int) -> tuple[list[int], bool]:
    """PIDs a reader lists for a v1 container whose own cgroup.procs (from v1_engine_files)
    holds PID (2 threads) and 4300, with process 5000 in the child cgroup `child`; and
    whether the per-file path (`sample`) gives the same result."""
    prefix = f"/docker/{CID}"
    files = v1_engine_files(prefix) | {
        f"pids{prefix}/pids.current": f"{pids_current}\n",
        f"pids{prefix}/{child}/cgroup.procs": "5000\n",
    }
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, v1_proc_cgroup(prefix), files)
    write_processes(proc, {PID: 2, 4300: 1, 5000: 1})
    layout = discover_layout(proc, sys)
    with CgroupReader(layout, proc) as reader:
        result = reader.read(Target(CID, PID), processes=True, users={})
    assert result is not None
    per_file = sample(layout, proc, Target(CID, PID), processes=True, users={})
    return [p.pid for p in result[1] or ()], per_file == result


# --- kept-open files (CgroupReader) ----------------------------------------------------------

SYSTEMD_SCOPE = f"/system.slice/docker-{CID}.scope"
DOCKER_DIR = f"/docker/{CID}"
HOSTS = {
    "v1 cgroupfs": (V1_MOUNTINFO, v1_proc_cgroup(DOCKER_DIR), v1_engine_files(DOCKER_DIR)),
    "v1 systemd": (
        V1_SYSTEMD_MOUNTINFO,
        v1_systemd_proc_cgroup(SYSTEMD_SCOPE),
        v1_systemd_files(SYSTEMD_SCOPE) | {f"memory{SYSTEMD_SCOPE}/cgroup.procs": f"{PID}\n"},
    ),
    "hybrid": (
        HYBRID_MOUNTINFO,
        v1_proc_cgroup(DOCKER_DIR, hybrid=True),
        v1_engine_files(DOCKER_DIR),
    ),
    "v2 systemd": (V2_MOUNTINFO, f"0::{SYSTEMD_SCOPE}\n", v2_files(SYSTEMD_SCOPE)),
    "v2 sparse, no cgroup.procs": (V2_MOUNTINFO, f"0::{DOCKER_DIR}\n", v2_sparse_files(DOCKER_DIR)),
}
USERS = {0: "root"}


def open_fds() -> int:
    """Descriptors this process holds now."""
    return len(os.listdir("/proc/self/fd"))


def outcome(read: Callable[[], object]) -> object:
    """The result, or the CgroupError's type and message: both paths must agree on either."""
    try:
        return read()
    except CgroupError as exc:
        return type(exc), str(exc)


@pytest.mark.parametrize("host_network", [False, True])
@pytest.mark.parametrize("host", sorted(HOSTS))
def test_kept_files_read_what_per_file_reads_read(
    tmp_path: Path, host: str, host_network: bool
) -> None:
    """Stats and process lists (or the error) are equal to the per-file path's, on the first
    read (files opened) and the next (files re-read), on every layout."""
    mountinfo, proc_cgroup, files = HOSTS[host]
    proc, sys = make_host(tmp_path, mountinfo, proc_cgroup, files)
    write_processes(proc, {PID: 1, 4300: 1})
    layout = discover_layout(proc, sys)
    target = Target(CID, PID, host_network=host_network)
    expected = outcome(lambda: sample(layout, proc, target, processes=True, users=USERS))
    with CgroupReader(layout, proc) as reader:
        first = outcome(lambda: reader.read(target, processes=True, users=USERS))
        second = outcome(lambda: reader.read(target, processes=True, users=USERS))
    assert expected == first == second


def test_kept_files_see_changes_between_sweeps(tmp_path: Path) -> None:
    """Counters and limits rewritten between two reads are seen on the second, through the
    same descriptors (pread at offset 0; regular files work like seq_file ones here)."""
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, *HOSTS["v1 cgroupfs"][1:])
    layout = discover_layout(proc, sys)
    target = Target(CID, PID)
    cgroups = sys / "fs" / "cgroup"
    with CgroupReader(layout, proc) as reader:
        assert reader.read(target, processes=False, users={}) == (V1_ENGINE_STATS, None)
        kept, fds = reader.open_files, open_fds()
        (cgroups / f"cpuacct{DOCKER_DIR}/cpuacct.usage").write_text("2570398380\n")
        (cgroups / f"cpu{DOCKER_DIR}/cpu.cfs_quota_us").write_text("150000\n")  # docker update
        (cgroups / f"memory{DOCKER_DIR}/memory.stat").write_text(
            V1_MEMORY_STAT.replace("total_rss 57344", "total_rss 1057344")
        )
        (proc / str(PID) / "net" / "dev").write_text(NET_DEV.replace("5180", "9180"))
        # The update event makes the watcher inspect again: the Target's limits change.
        updated = Target(CID, PID, limits="--cpus 1.5")
        result = reader.read(updated, processes=False, users={})
        assert (kept, fds) == (reader.open_files, open_fds())
    assert result is not None
    stats = result[0]
    assert (2.57039838, 1.5, 1057344, 9180) == (
        stats.cpu_usage_seconds,
        stats.cpu_limit_cores,
        stats.memory_rss_bytes,
        stats.networks[0].rx_bytes,
    )
    assert sample(layout, proc, target, processes=False, users={}) == result


def test_files_beyond_the_budget_are_read_per_file(tmp_path: Path) -> None:
    """With room for 5 files, 5 stay open and the others are opened per read, same values;
    a budget of 0 keeps none."""
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, *HOSTS["v1 cgroupfs"][1:])
    layout = discover_layout(proc, sys)
    target = Target(CID, PID)
    fds = open_fds()
    with CgroupReader(layout, proc, max_open_files=5) as reader:
        first = reader.read(target, processes=False, users={})
        second = reader.read(target, processes=False, users={})
        assert (5, fds + 5) == (reader.open_files, open_fds())
    with CgroupReader(layout, proc, max_open_files=0) as unkept:
        third = unkept.read(target, processes=False, users={})
        assert (0, fds) == (unkept.open_files, open_fds())
    assert first == second == third == (V1_ENGINE_STATS, None)


def test_leaving_the_targets_closes_files_and_frees_the_budget(tmp_path: Path) -> None:
    """retain() without a container closes its files; its budget goes to the next one."""
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, f"0::{DOCKER_DIR}\n", v2_files(DOCKER_DIR))
    other_pid = PID + 1
    write_tree(
        tmp_path,
        {
            f"proc/{other_pid}/cgroup": f"0::/docker/{OTHER}\n",
            f"proc/{other_pid}/net/dev": NET_DEV,
            **{f"sys/fs/cgroup{k}": v for k, v in v2_files(f"/docker/{OTHER}").items()},
        },
    )
    layout = discover_layout(proc, sys)
    mine, other = Target(CID, PID), Target(OTHER, other_pid)
    with CgroupReader(layout, proc) as probe:
        probe.read(mine, processes=False, users={})
        per_container = probe.open_files
    fds = open_fds()
    with CgroupReader(layout, proc, max_open_files=per_container) as reader:
        reader.read(mine, processes=False, users={})
        reader.read(other, processes=False, users={})  # no room left: read per file
        assert (per_container, fds + per_container) == (reader.open_files, open_fds())
        reader.retain([OTHER])
        assert (0, fds) == (reader.open_files, open_fds())
        reader.read(other, processes=False, users={})
        assert (per_container, fds + per_container) == (reader.open_files, open_fds())
        reader.retain([])
        assert (0, fds) == (reader.open_files, open_fds())


def test_new_pid_closes_the_old_files_and_resolves_again(tmp_path: Path) -> None:
    """A restart (same ID, new init PID) drops the old descriptors; net/dev is the new PID's."""
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, *HOSTS["v1 cgroupfs"][1:])
    new_pid = PID + 1
    write_tree(
        proc,
        {
            f"{new_pid}/cgroup": v1_proc_cgroup(DOCKER_DIR),
            f"{new_pid}/net/dev": NET_DEV.replace("5180", "1"),
        },
    )
    layout = discover_layout(proc, sys)
    with CgroupReader(layout, proc) as reader:
        before = reader.read(Target(CID, PID), processes=False, users={})
        kept, fds = reader.open_files, open_fds()
        after = reader.read(Target(CID, new_pid), processes=False, users={})
        assert (kept, fds) == (reader.open_files, open_fds())
    assert before is not None
    assert after is not None
    assert (5180, 1) == (before[0].networks[0].rx_bytes, after[0].networks[0].rx_bytes)


def test_reused_pid_is_not_kept(tmp_path: Path) -> None:
    """A PID that now belongs to another container gives None and opens nothing."""
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, f"0::/docker/{OTHER}\n", v2_files(DOCKER_DIR))
    with CgroupReader(discover_layout(proc, sys), proc) as reader:
        assert reader.read(Target(CID, PID), processes=False, users={}) is None
        assert reader.open_files == 0


def test_vanished_cgroup_is_gone_and_its_files_closed(tmp_path: Path) -> None:
    """A cgroup removed before its files were opened is CgroupGone; one removed after (seen
    here by its process list, read afresh) is too, and the files kept for it are closed."""
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, f"0::{DOCKER_DIR}\n", v2_files(DOCKER_DIR))
    layout = discover_layout(proc, sys)
    target = Target(CID, PID)
    fds = open_fds()
    with CgroupReader(layout, proc) as reader:
        assert reader.read(target, processes=False, users={}) is not None
        assert reader.open_files > 0
        shutil.rmtree(sys / "fs" / "cgroup" / "docker" / CID)
        with pytest.raises(CgroupGone):
            reader.read(target, processes=True, users={})
        assert (0, fds) == (reader.open_files, open_fds())
        with pytest.raises(CgroupGone):
            reader.read(target, processes=False, users={})
        assert (0, fds) == (reader.open_files, open_fds())


def test_closed_reader_closes_everything_and_reads_per_file(tmp_path: Path) -> None:
    """close() releases every descriptor; reads after it still work and keep nothing."""
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, *HOSTS["v1 cgroupfs"][1:])
    reader = CgroupReader(discover_layout(proc, sys), proc)
    fds = open_fds()
    reader.read(Target(CID, PID), processes=False, users={})
    assert open_fds() > fds
    reader.close()
    assert (0, fds) == (reader.open_files, open_fds())
    assert reader.read(Target(CID, PID), processes=False, users={}) == (V1_ENGINE_STATS, None)
    assert (0, fds) == (reader.open_files, open_fds())


def test_unchanged_files_give_the_last_stats(tmp_path: Path) -> None:
    """A container whose files all read the same gets the last sweep's stats object; one
    changed file is parsed again."""
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, *HOSTS["v1 cgroupfs"][1:])
    target = Target(CID, PID)
    with CgroupReader(discover_layout(proc, sys), proc) as reader:
        first = reader.read(target, processes=False, users={})
        second = reader.read(target, processes=False, users={})
        (proc / str(PID) / "net/dev").write_text(NET_DEV.replace("5180", "9180"))
        third = reader.read(target, processes=False, users={})
    assert first is not None
    assert second is not None
    assert third is not None
    assert first[0] is second[0]
    assert (5180, 9180) == (second[0].networks[0].rx_bytes, third[0].networks[0].rx_bytes)


def test_a_file_read_only_when_needed_is_compared_too(tmp_path: Path) -> None:
    """Without total_swap in memory.stat, memory.memsw.usage_in_bytes is read for the swap:
    a new value shows even though every other file is unchanged."""
    mountinfo, proc_cgroup, files = HOSTS["v1 systemd"]
    proc, sys = make_host(tmp_path, mountinfo, proc_cgroup, files)
    target = Target(CID, PID)
    with CgroupReader(discover_layout(proc, sys), proc) as reader:
        first = reader.read(target, processes=False, users={})
        memsw = f"memory{SYSTEMD_SCOPE}/memory.memsw.usage_in_bytes"
        (sys / "fs/cgroup" / memsw).write_text("2662400\n")
        second = reader.read(target, processes=False, users={})
    assert first is not None
    assert second is not None
    assert (16384, 24576) == (first[0].memory_swap_bytes, second[0].memory_swap_bytes)


def test_the_cfs_period_is_read_with_the_limit_files(tmp_path: Path) -> None:
    """With a quota, cpu.cfs_period_us is read for the limit, as a limit file: a new period
    shows once the Target's limits change (the `update` event), not before."""
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, *HOSTS["v1 cgroupfs"][1:])
    with CgroupReader(discover_layout(proc, sys), proc) as reader:
        first = reader.read(Target(CID, PID), processes=False, users={})
        (sys / "fs/cgroup" / f"cpu{DOCKER_DIR}/cpu.cfs_period_us").write_text("200000\n")
        second = reader.read(Target(CID, PID), processes=False, users={})
        third = reader.read(Target(CID, PID, limits="updated"), processes=False, users={})
    assert first is not None
    assert second is not None
    assert third is not None
    assert (0.5, 0.5, 0.25) == tuple(r[0].cpu_limit_cores for r in (first, second, third))


@pytest.mark.parametrize(
    "host", sorted(host for host, (*_, files) in HOSTS.items() if "pids.max" in str(files))
)
def test_limit_files_are_read_at_a_recheck_or_when_the_engine_says_they_changed(
    tmp_path: Path, host: str
) -> None:
    """Limits written behind Docker's back show at the next _REPROBE_READS recheck; written
    by `docker update` (the Target's limits change), at the next read."""
    mountinfo, proc_cgroup, files = HOSTS[host]
    proc, sys = make_host(tmp_path, mountinfo, proc_cgroup, files)
    layout = discover_layout(proc, sys)
    pids_max = sys / "fs/cgroup" / next(p for p in files if p.endswith("pids.max")).lstrip("/")
    pids_max.write_text("max\n")
    seen = []
    with CgroupReader(layout, proc) as reader:
        for i in range(REPROBE_READS + 1):
            result = reader.read(Target(CID, PID), processes=False, users={})
            assert result is not None
            seen.append(result[0].pids_limit)
            pids_max.write_text(f"{100 + i}\n")
        updated = reader.read(Target(CID, PID, limits="updated"), processes=False, users={})
    assert [None] * REPROBE_READS + [100 + REPROBE_READS - 1] == seen
    assert updated is not None
    assert 100 + REPROBE_READS == updated[0].pids_limit


def test_v1_cpu_stat_waits_for_full_reads_while_there_is_no_quota(tmp_path: Path) -> None:
    """Without a CFS quota the bandwidth timer that moves cpu.stat does not run: cpu.stat
    is read with the limit files only. With a quota (after `docker update --cpus`) it is
    read on every sweep."""
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, *HOSTS["v1 cgroupfs"][1:])
    cpu = sys / "fs/cgroup" / f"cpu{DOCKER_DIR}"
    (cpu / "cpu.cfs_quota_us").write_text("-1\n")
    periods = []
    with CgroupReader(discover_layout(proc, sys), proc) as reader:
        for limits in (None, None, "--cpus 0.5", "--cpus 0.5"):
            result = reader.read(Target(CID, PID, limits=limits), processes=False, users={})
            assert result is not None
            periods.append((result[0].cpu_limit_cores, result[0].cpu_periods))
            (cpu / "cpu.stat").write_text(f"nr_periods {len(periods)}\nnr_throttled 0\n")
            (cpu / "cpu.cfs_quota_us").write_text("50000\n")
    assert [(None, 32), (None, 32), (0.5, 2), (0.5, 3)] == periods


def test_absent_files_are_looked_for_again_only_now_and_then(tmp_path: Path) -> None:
    """An optional file absent at first (no swap accounting) is not looked for on every
    sweep; it is found at the next look, _REPROBE_READS reads later, and then kept."""
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, f"0::{DOCKER_DIR}\n", v2_sparse_files(DOCKER_DIR))
    target = Target(CID, PID)
    swaps = []
    with CgroupReader(discover_layout(proc, sys), proc) as reader:
        for _ in range(REPROBE_READS):
            result = reader.read(target, processes=False, users={})
            assert result is not None
            swaps.append(result[0].memory_swap_bytes)
            (sys / "fs/cgroup" / DOCKER_DIR[1:] / "memory.swap.current").write_text("4096\n")
        kept = reader.open_files
        result = reader.read(target, processes=False, users={})
        assert (kept + 1) == reader.open_files
    assert result is not None
    assert [None] * REPROBE_READS == swaps
    assert result[0].memory_swap_bytes == 4096


# --- CPU-gated reads --------------------------------------------------------------------------

V1_ALWAYS_READ = {  # every v1 file but the usage and cpuacct.stat, each moving a field
    f"cpu{DOCKER_DIR}/cpu.stat": "nr_periods 40\nnr_throttled 31\nthrottled_time 1596008700\n",
    f"cpu{DOCKER_DIR}/cpu.cfs_quota_us": "150000\n",
    f"memory{DOCKER_DIR}/memory.usage_in_bytes": "3637824\n",
    f"memory{DOCKER_DIR}/memory.stat": V1_MEMORY_STAT.replace("total_rss 57344", "total_rss 1")
    .replace("total_cache 1875968", "total_cache 2")
    .replace("total_swap 8192", "total_swap 3")
    .replace("hierarchical_memory_limit 67108864", "hierarchical_memory_limit 134217728"),
    f"memory{DOCKER_DIR}/memory.failcnt": "4\n",
    f"memory{DOCKER_DIR}/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    f"pids{DOCKER_DIR}/pids.current": "3\n",
    f"pids{DOCKER_DIR}/pids.max": "50\n",
    f"blkio{DOCKER_DIR}/blkio.throttle.io_serviced_recursive": V1_BLKIO_OPS.replace(
        "8:0 Read 1", "8:0 Read 5"
    ),
}


def moved_fields(stats: ContainerStats, than: ContainerStats) -> set[str]:
    """The names of the fields in which `stats` differs from `than`."""
    return {f.name for f in fields(stats) if getattr(stats, f.name) != getattr(than, f.name)}


@pytest.mark.parametrize("budget", [OPEN_FILES.value, 0])
def test_v1_same_usage_reuses_cpuacct_stat_and_reads_the_rest(tmp_path: Path, budget: int) -> None:
    """With cpuacct.usage reading the same, an edit of cpuacct.stat is not seen and edits of
    every other file are (pids.current, oom_control and blkio included), kept or not; once
    the usage moves, cpuacct.stat is read again."""
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, *HOSTS["v1 cgroupfs"][1:])
    layout = discover_layout(proc, sys)
    target = Target(CID, PID)
    cgroups = sys / "fs/cgroup"
    with CgroupReader(layout, proc, max_open_files=budget) as reader:
        assert reader.read(target, processes=False, users={}) == (V1_ENGINE_STATS, None)
        (cgroups / f"cpuacct{DOCKER_DIR}/cpuacct.stat").write_text("user 999\nsystem 99\n")
        write_tree(cgroups, V1_ALWAYS_READ)
        (proc / str(PID) / "net/dev").write_text(NET_DEV.replace("5180", "9180"))
        idle = reader.read(target, processes=False, users={})
        now = sample(layout, proc, target, processes=False, users={})
        (cgroups / f"cpuacct{DOCKER_DIR}/cpuacct.usage").write_text("2570398380\n")
        busy = reader.read(target, processes=False, users={})
        busy_now = sample(layout, proc, target, processes=False, users={})
    assert now is not None
    assert busy_now is not None
    v2_only = {"memory_events", "pressure"}
    unedited = {"memory_mapped_file_bytes", "memory_page_faults"}  # keys the edits keep
    assert {f.name for f in fields(ContainerStats)} - {
        "cpu_usage_seconds",
        *v2_only,
        *unedited,
    } == (moved_fields(now[0], V1_ENGINE_STATS))
    # cpuacct.stat is gated; the limits are deferred (the Target's are the same).
    stale = replace(now[0], cpu_user_seconds=1.54, cpu_system_seconds=0.02)
    assert (replace(stale, cpu_limit_cores=0.5, pids_limit=None), None) == idle
    assert (replace(busy_now[0], cpu_limit_cores=0.5, pids_limit=None), None) == busy
    assert busy is not None
    assert (9.99, 0.99) == (busy[0].cpu_user_seconds, busy[0].cpu_system_seconds)


V1_ENGINE_FILES_QUIET = {  # what QUIET and the loop edit, as v1_engine_files wrote them
    path: text
    for path, text in v1_engine_files(DOCKER_DIR).items()
    if path.endswith(("failcnt", "oom_control", "serviced_recursive", "memory.stat",
                      "memory.usage_in_bytes", "cpuacct.usage", "cpuacct.stat"))
}  # fmt: skip
QUIET = {  # the _V1_QUIET_GATED files and the blkio pair, each moving a field
    f"memory{DOCKER_DIR}/memory.failcnt": "4\n",
    f"memory{DOCKER_DIR}/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    f"blkio{DOCKER_DIR}/blkio.throttle.io_serviced_recursive": V1_BLKIO_OPS.replace(
        "8:0 Read 1", "8:0 Read 5"
    ),
}


@pytest.mark.parametrize("budget", [OPEN_FILES.value, 0])
def test_v1_quiet_files_wait_for_the_cpu_or_the_memory_usage_to_move(
    tmp_path: Path, budget: int
) -> None:
    """With cpuacct.usage and memory.usage_in_bytes reading the same, edits of failcnt,
    oom_control and the blkio pair are not seen (memory.stat's are); once either usage
    moves they are, and a container whose I/O Docker throttles reads its blkio pair on
    every sweep."""
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, *HOSTS["v1 cgroupfs"][1:])
    layout = discover_layout(proc, sys)
    cgroups = sys / "fs/cgroup"
    memory_stat = cgroups / f"memory{DOCKER_DIR}/memory.stat"
    seen = []
    with CgroupReader(layout, proc, max_open_files=budget) as reader:
        for edit in ("", "throttled", f"memory{DOCKER_DIR}/memory.usage_in_bytes",
                     f"cpuacct{DOCKER_DIR}/cpuacct.usage"):  # fmt: skip
            write_tree(cgroups, V1_ENGINE_FILES_QUIET)
            target = Target(CID, PID, throttled_io=edit == "throttled")
            before = reader.read(target, processes=False, users={})
            write_tree(cgroups, QUIET)
            memory_stat.write_text(V1_MEMORY_STAT.replace("total_rss 57344", "total_rss 1"))
            if edit and edit != "throttled":
                (cgroups / edit).write_text("2570398380\n")
            result = reader.read(target, processes=False, users={})
            assert before is not None
            assert result is not None
            seen.append(moved_fields(result[0], before[0]) - {"cpu_usage_seconds"})
    assert [
        {"memory_rss_bytes"},
        {"memory_rss_bytes", "block"},
        {"memory_rss_bytes", "memory_failures", "oom_kills", "block", "memory_usage_bytes",
         "memory_working_set_bytes"},
        {"memory_rss_bytes", "memory_failures", "oom_kills", "block"},
    ] == seen  # fmt: skip


def test_v2_same_usage_reads_every_file(tmp_path: Path) -> None:
    """On v2 no stats file is gated: with usage_usec reading the same, edits of every other
    file (pids.current, io.stat and memory.events included) are seen."""
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, f"0::{DOCKER_DIR}\n", v2_files(DOCKER_DIR))
    layout = discover_layout(proc, sys)
    target = Target(CID, PID)
    base = sys / "fs/cgroup" / DOCKER_DIR[1:]
    edits = {
        "cpu.stat": "usage_usec 60123456\nuser_usec 1\nsystem_usec 2\nnr_periods 3\n"
        "nr_throttled 4\nthrottled_usec 5\n",
        "cpu.max": "150000 100000\n",
        "memory.current": "4145728\n",
        "memory.max": "134217728\n",
        "memory.stat": V2_MEMORY_STAT.replace("anon 532480", "anon 1").replace(
            "file 2375680", "file 2"
        ),
        "memory.swap.current": "8192\n",
        "memory.events": "low 0\nhigh 0\nmax 18\noom 3\noom_kill 2\noom_group_kill 0\n",
        "pids.current": "2\n",
        "pids.max": "200\n",
        "io.stat": V2_IO_STAT.replace("rios=3 ", "rios=4 "),
        **{name: text.replace("total=", "total=1") for name, text in V2_PRESSURE.items()},
    }
    with CgroupReader(layout, proc) as reader:
        first = reader.read(target, processes=False, users={})
        write_tree(base, edits)
        (proc / str(PID) / "net/dev").write_text(NET_DEV.replace("5180", "9180"))
        second = reader.read(target, processes=False, users={})
        now = sample(layout, proc, target, processes=False, users={})
    assert first is not None
    assert now is not None
    unedited = {"memory_mapped_file_bytes", "memory_page_faults"}  # keys the edits keep
    assert {f.name for f in fields(ContainerStats)} - {
        "cpu_usage_seconds",
        *unedited,
    } == moved_fields(now[0], first[0])
    limits = ("cpu_limit_cores", "memory_limit_bytes", "pids_limit")  # deferred, same Target
    now = (replace(now[0], **{name: getattr(first[0], name) for name in limits}), None)
    assert now == second


GATE_HOSTS = {  # usage file and its moved text, pids.current, the cgroup.procs files
    "v1 cgroupfs": (
        f"cpuacct{DOCKER_DIR}/cpuacct.usage",
        "2570398380\n",
        f"pids{DOCKER_DIR}/pids.current",
        [f"{controller}{DOCKER_DIR}/cgroup.procs" for controller in ("pids", "cpuset", "systemd")],
    ),
    "v2 systemd": (
        f"{SYSTEMD_SCOPE[1:]}/cpu.stat",
        V2_CPU_STAT.replace("usage_usec 60123456", "usage_usec 70123456"),
        f"{SYSTEMD_SCOPE[1:]}/pids.current",
        [f"{SYSTEMD_SCOPE[1:]}/cgroup.procs"],
    ),
}


def gate_host(tmp_path: Path, host: str) -> tuple[Path, Path, CgroupReader]:
    """The host with one process (PID) listed and counted, /proc files for PID and 4300,
    and a reader that has read its stats and process list once."""
    mountinfo, proc_cgroup, files = HOSTS[host]
    _, _, pids_current, procs = GATE_HOSTS[host]
    proc, sys = make_host(tmp_path, mountinfo, proc_cgroup, files)
    write_tree(sys / "fs/cgroup", {pids_current: "1\n"} | dict.fromkeys(procs, f"{PID}\n"))
    write_processes(proc, {PID: 1, 4300: 1})
    reader = CgroupReader(discover_layout(proc, sys), proc)
    assert [PID] == listed_pids(reader)
    return proc, sys, reader


def listed_pids(reader: CgroupReader) -> list[int]:
    """The PIDs of the process list of one read."""
    result = reader.read(Target(CID, PID), processes=True, users={})
    assert result is not None
    return [p.pid for p in result[1] or ()]


def move_in_4300(sys: Path, host: str) -> None:
    """4300 listed in cgroup.procs, as a process that joined the container."""
    write_tree(sys / "fs/cgroup", dict.fromkeys(GATE_HOSTS[host][3], f"{PID}\n4300\n"))


@pytest.mark.parametrize("host", sorted(GATE_HOSTS))
def test_same_usage_and_pids_current_describe_the_last_list_again(
    tmp_path: Path, host: str
) -> None:
    """With the CPU usage and pids.current as before the last list, cgroup.procs is not
    read again (a PID added there is not seen), but each listed process is (its RSS)."""
    proc, sys, reader = gate_host(tmp_path, host)
    with reader:
        move_in_4300(sys, host)
        (proc / str(PID) / "stat").write_text(
            proc_stat_line(PID, "sh", state="S", ppid=1, ticks=PID, rss=7)
        )
        result = reader.read(Target(CID, PID), processes=True, users={})
    assert result is not None
    assert [(PID, 7 * cgroup.PAGE_SIZE)] == [(p.pid, p.rss_bytes) for p in result[1] or ()]


@pytest.mark.parametrize("host", sorted(GATE_HOSTS))
def test_a_process_that_did_not_run_keeps_its_cmdline_until_the_usage_moves(
    tmp_path: Path, host: str
) -> None:
    """While the container did not run, only a listed process's stat is read again (its
    RSS): a cmdline rewritten meanwhile (which takes the process running) shows once the
    usage moved."""
    usage, usage_text, _, _ = GATE_HOSTS[host]
    proc, sys, reader = gate_host(tmp_path, host)
    seen: list[tuple[str, int]] = []
    with reader:
        for step in ("idle", "ran"):
            (proc / str(PID) / "cmdline").write_text(f"sh\0-c\0{step}\0")
            (proc / str(PID) / "stat").write_text(
                proc_stat_line(PID, "sh", state="S", ppid=1, ticks=PID, rss=len(seen) + 7)
            )
            if step == "ran":
                (sys / "fs/cgroup" / usage).write_text(usage_text)
            result = reader.read(Target(CID, PID), processes=True, users={})
            assert result is not None
            seen += [(p.command, p.rss_bytes // cgroup.PAGE_SIZE) for p in result[1] or ()]
    assert [(f"sh -c job {PID}", 7), ("sh -c ran", 8)] == seen


@pytest.mark.parametrize("moved", ["usage", "pids.current"])
@pytest.mark.parametrize("host", sorted(GATE_HOSTS))
def test_moved_usage_or_pids_current_lists_again(tmp_path: Path, host: str, moved: str) -> None:
    """A process that joined shows once the usage moved (it ran), or pids.current (it was
    moved in from outside, without running)."""
    usage, usage_text, pids_current, _ = GATE_HOSTS[host]
    _, sys, reader = gate_host(tmp_path, host)
    with reader:
        move_in_4300(sys, host)
        if moved == "usage":
            (sys / "fs/cgroup" / usage).write_text(usage_text)
        else:
            (sys / "fs/cgroup" / pids_current).write_text("2\n")
        assert [PID, 4300] == listed_pids(reader)


def test_every_recheck_reads_gated_files_and_lists_again(tmp_path: Path) -> None:
    """Every _REPROBE_READS-th read is whole: a cpuacct.stat edit and a PID added to
    cgroup.procs, made with the usage and pids.current unchanged, show then."""
    _, sys, reader = gate_host(tmp_path, "v1 cgroupfs")
    seen = []
    with reader:
        (sys / "fs/cgroup" / f"cpuacct{DOCKER_DIR}/cpuacct.stat").write_text("user 999\n")
        move_in_4300(sys, "v1 cgroupfs")
        for _ in range(REPROBE_READS):
            result = reader.read(Target(CID, PID), processes=True, users={})
            assert result is not None
            seen.append((result[0].cpu_user_seconds, [p.pid for p in result[1] or ()]))
    assert [(1.54, [PID])] * (REPROBE_READS - 1) + [(9.99, [PID, 4300])] == seen


def test_a_new_pid_reads_every_file(tmp_path: Path) -> None:
    """After a restart (a new init PID), the first read is whole though the usage reads the
    same."""
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, *HOSTS["v1 cgroupfs"][1:])
    write_tree(
        proc, {f"{PID + 1}/cgroup": v1_proc_cgroup(DOCKER_DIR), f"{PID + 1}/net/dev": NET_DEV}
    )
    with CgroupReader(discover_layout(proc, sys), proc) as reader:
        before = reader.read(Target(CID, PID), processes=False, users={})
        (sys / "fs/cgroup" / f"cpuacct{DOCKER_DIR}/cpuacct.stat").write_text("user 999\n")
        after = reader.read(Target(CID, PID + 1), processes=False, users={})
    assert before is not None
    assert after is not None
    assert (1.54, 9.99) == (before[0].cpu_user_seconds, after[0].cpu_user_seconds)


def test_processes_that_leave_the_container_have_their_files_closed(tmp_path: Path) -> None:
    """Each listed process keeps three descriptors; one gone from cgroup.procs loses them."""
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, *HOSTS["v1 cgroupfs"][1:])
    write_processes(proc, {PID: 1, 4300: 1})
    target = Target(CID, PID)
    with CgroupReader(discover_layout(proc, sys), proc) as reader:
        reader.read(target, processes=True, users={})
        both, fds = reader.open_files, open_fds()
        for controller in ("pids", "cpuset", "systemd"):
            (sys / "fs/cgroup" / f"{controller}{DOCKER_DIR}/cgroup.procs").write_text(f"{PID}\n")
        (sys / "fs/cgroup" / f"pids{DOCKER_DIR}/pids.current").write_text("1\n")  # as the kernel
        result = reader.read(target, processes=True, users={})
        assert (both - 3, fds - 3) == (reader.open_files, open_fds())
    assert result is not None
    assert [PID] == [p.pid for p in result[1] or ()]


def _sleeper() -> subprocess.Popen[bytes]:
    """A real process whose PID is not the fake tree's PID (fresh machines reach 4242)."""
    while True:
        child = subprocess.Popen(["sleep", "60"])
        if child.pid != PID:
            return child
        child.kill()
        child.wait()


def test_an_exited_process_is_dropped_with_its_files(tmp_path: Path) -> None:
    """The kept /proc files of a process that exited fail (ESRCH): it is looked up afresh,
    found gone, and left out with its descriptors closed."""
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, *HOSTS["v1 cgroupfs"][1:])
    write_processes(proc, {PID: 1})
    target = Target(CID, PID)
    with (
        _sleeper() as child,
        CgroupReader(discover_layout(proc, sys), proc) as reader,
    ):
        (proc / str(child.pid)).symlink_to(f"/proc/{child.pid}")  # a real process's files
        for controller in ("pids", "cpuset", "systemd"):
            (sys / "fs/cgroup" / f"{controller}{DOCKER_DIR}/cgroup.procs").write_text(
                f"{PID}\n{child.pid}\n"
            )
        before = reader.read(target, processes=True, users={})
        kept, fds = reader.open_files, open_fds()
        child.kill()
        child.wait()
        after = reader.read(target, processes=True, users={})
        assert (kept - 3, fds - 3) == (reader.open_files, open_fds())
    assert before is not None
    assert after is not None
    # Listed in PID order, like ps; the child's PID may be below or above the fake 4242.
    assert sorted([(PID, "sh -c job 4242"), (child.pid, "sleep 60")]) == [
        (p.pid, p.command) for p in before[1] or ()
    ]
    assert [PID] == [p.pid for p in after[1] or ()]


def test_processes_hold_at_most_half_of_the_budget(tmp_path: Path) -> None:
    """With room for 40 descriptors, 8 processes keep the files of only 6 (18 of 20 for
    processes), yet all 8 are listed, the others read per file."""
    pids = [PID, *range(4300, 4307)]
    files = v1_engine_files(DOCKER_DIR) | {
        f"{controller}{DOCKER_DIR}/cgroup.procs": "".join(f"{pid}\n" for pid in pids)
        for controller in ("pids", "cpuset", "systemd")
    }
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, v1_proc_cgroup(DOCKER_DIR), files)
    (sys / "fs/cgroup" / f"pids{DOCKER_DIR}/pids.current").write_text("8\n")
    write_processes(proc, dict.fromkeys(pids, 1))
    layout = discover_layout(proc, sys)
    target = Target(CID, PID)
    with CgroupReader(layout, proc, max_open_files=40) as reader:
        reader.read(target, processes=False, users={})
        stats_files = reader.open_files
        result = reader.read(target, processes=True, users={})
        assert stats_files + 1 + 18 == reader.open_files  # + the cgroup directory
    assert result is not None
    assert pids == [p.pid for p in result[1] or ()]
    assert sample(layout, proc, target, processes=True, users={}) == result


def test_process_files_give_way_to_the_stats_files_of_every_target(tmp_path: Path) -> None:
    """The first sweep's process files leave a later container's stats partly unkept; the
    next retain() closes them, and that container keeps all its stats files again."""
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, f"0::{DOCKER_DIR}\n", v2_files(DOCKER_DIR))
    other_pid = PID + 1
    write_tree(
        tmp_path,
        {
            f"proc/{other_pid}/cgroup": f"0::/docker/{OTHER}\n",
            f"proc/{other_pid}/net/dev": NET_DEV,
            **{f"sys/fs/cgroup{k}": v for k, v in v2_files(f"/docker/{OTHER}").items()},
        },
    )
    (sys / "fs/cgroup/docker" / OTHER / "cgroup.procs").write_text(f"{other_pid}\n")
    write_processes(proc, {PID: 1, other_pid: 1})
    targets = [Target(CID, PID), Target(OTHER, other_pid)]
    each = 15  # 14 stats files (net/dev and 3 pressure files included), the directory
    with CgroupReader(discover_layout(proc, sys), proc, max_open_files=2 * each + 1) as reader:
        opened = []
        for usage in (1, 2):  # both ran: their process lists are read whole both times
            for cid in (CID, OTHER):
                (sys / "fs/cgroup/docker" / cid / "cpu.stat").write_text(f"usage_usec {usage}\n")
            reader.retain(t.container_id for t in targets)
            results = [reader.read(t, processes=True, users={}) for t in targets]
            opened.append(reader.open_files)
        assert (2 * each + 1, 2 * each) == tuple(opened)
    assert all(result is not None and len(result[1] or ()) == 1 for result in results)


def test_unchanged_processes_are_reused_and_follow_passwd(tmp_path: Path) -> None:
    """A process whose files read the same is the last sweep's object, unless its user
    name changed in passwd."""
    proc, sys = make_host(tmp_path, V1_MOUNTINFO, *HOSTS["v1 cgroupfs"][1:])
    write_processes(proc, {PID: 1, 4300: 1})
    me = os.geteuid()
    target = Target(CID, PID)
    with CgroupReader(discover_layout(proc, sys), proc) as reader:
        first = reader.read(target, processes=True, users={})
        second = reader.read(target, processes=True, users={})
        third = reader.read(target, processes=True, users={me: "me"})
    assert first is not None
    assert second is not None
    assert third is not None
    assert all(a is b for a, b in zip(first[1] or (), second[1] or (), strict=True))
    assert [None, None, "me", "me"] == [p.user for p in (*(second[1] or ()), *(third[1] or ()))]


KEYED_TEXTS = [
    V1_MEMORY_STAT,
    V2_MEMORY_STAT,
    V2_CPU_STAT,
    "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    "user 154\nsystem 2\nweird\nx y\n",
    "nr_periods 3\nnr_throttled 1",  # no final newline
    "",
]


@pytest.mark.parametrize("text", KEYED_TEXTS)
def test_keyed_value_agrees_with_parse_keyed(text: str) -> None:
    """Each key's value (and None for absent or non-integer ones) is what parse_keyed gives."""
    keys = {line.partition(" ")[0] for line in text.splitlines()} | {"absent", "total"}
    expected = parse_keyed(text)
    assert {k: expected.get(k) for k in keys} == {
        k: keyed_value(text.encode(), k.encode()) for k in keys
    }


@pytest.mark.parametrize(
    ("wanted", "soft", "hard", "expected"),
    [
        (4096, 1024, 524288, (4096, 4096 + 256)),  # systemd's default: raised
        (4096, 20000, 20000, (4096, 20000)),  # already enough
        (4096, 1024, 2048, (2048 - 256, 2048)),  # raised to hard, budget shrunk
        (4096, 1024, 200, (0, 200)),  # no room at all
        (4096, resource.RLIM_INFINITY, resource.RLIM_INFINITY, (4096, resource.RLIM_INFINITY)),
        (4096, 1024, resource.RLIM_INFINITY, (4096, 4096 + 256)),
        (0, 1024, 4096, (0, 1024)),  # nothing kept: limits untouched
    ],
)
def test_open_files_budget(wanted: int, soft: int, hard: int, expected: tuple[int, int]) -> None:
    """Soft RLIMIT_NOFILE is raised towards hard for budget + 256; the budget shrinks to fit."""
    assert expected == open_files_budget(wanted, soft, hard)


# --- integration --------------------------------------------------------------------------


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the Engine's unix socket, stdlib only."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _engine_get(path: str, timeout: float = 10.0) -> bytes:
    conn = _UnixHTTPConnection(engine_socket() or "/var/run/docker.sock", timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            msg = f"GET {path}: HTTP {response.status} {body[:200]!r}"
            raise RuntimeError(msg)
        return body
    finally:
        conn.close()


def _engine_unavailable() -> str | None:
    try:
        if _engine_get("/_ping", timeout=10.0) != b"OK":
            return "docker engine /_ping did not answer OK"
    except (OSError, RuntimeError) as exc:
        return f"docker engine not answering on {engine_socket()}: {exc}"
    if shutil.which("docker") is None:
        return "docker CLI not on PATH"
    return None


def _docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()


@pytest.fixture(name="busy_container")
def fixture_busy_container() -> Iterator[tuple[str, int]]:
    """A `--cpus 0.5 --memory 64m` busybox busy loop: (full id, init pid); always removed."""
    reason = _engine_unavailable()
    if reason is not None:
        skip_testbed_limit(reason)  # a failure in CI, which must run the integration tests
    name = f"stats-it-{uuid.uuid4().hex[:12]}"
    try:
        cid = _docker(
            "run", "-d", "--name", name, "--cpus", "0.5", "--memory", "64m",
            "busybox:local", "sh", "-c", "while :; do :; done",
        )  # fmt: skip
        pid = int(_docker("inspect", "-f", "{{.State.Pid}}", cid))
        yield cid, pid
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False, timeout=60)


@pytest.mark.integration
@pytest.mark.engine_generic
def test_fast_path_agrees_with_engine_stats_api(busy_container: tuple[str, int]) -> None:
    """The real /proc + /sys read matches the Engine's own one-shot stats for the container."""
    cid, pid = busy_container
    proc, sys = Path("/proc"), Path("/sys")
    layout = discover_layout(proc, sys)
    deadline = time.monotonic() + 60  # a hang guard: the busy loop has run a while
    while read_many(layout, proc, [Target(cid, pid)])[cid].cpu_usage_seconds < 0.2:
        assert time.monotonic() < deadline, "the busy loop never ran"
        time.sleep(0.05)
    started = time.monotonic()
    before = read_many(layout, proc, [Target(cid, pid)])[cid]
    body = _engine_get(f"/containers/{cid}/stats?stream=false&one-shot=true")
    after = read_many(layout, proc, [Target(cid, pid)])[cid]
    elapsed = time.monotonic() - started
    info = json.loads(_engine_get("/info"))
    api = parse_api_stats(json.loads(body), cgroup_version=info.get("CgroupVersion", ""))
    assert api is not None

    assert (
        after.cpu_limit_cores,
        after.memory_limit_bytes,
        api.memory_limit_bytes,
    ) == (0.5, 64 * MIB, 64 * MIB)
    assert after.pids == api.pids
    assert before.memory_working_set_bytes is not None
    assert api.memory_working_set_bytes is not None
    if not engine_lacks("api-memory-working-set"):
        assert abs(before.memory_working_set_bytes - api.memory_working_set_bytes) <= (
            0.1 * api.memory_working_set_bytes
        )
    # The API sample is taken between our two reads; a 0.5-CPU quota bounds the drift.
    assert before.cpu_usage_seconds <= api.cpu_usage_seconds <= after.cpu_usage_seconds
    assert after.cpu_usage_seconds - before.cpu_usage_seconds <= 0.5 * elapsed + 0.1
    if not engine_lacks("api-interface-names"):
        assert [n.interface for n in api.networks] == [n.interface for n in after.networks]


def test_odd_bytes_in_process_names_and_passwd_never_lose_the_process(tmp_path: Path) -> None:
    """Not every cmdline, comm or passwd entry is UTF-8: shown with replacement characters."""
    me = os.geteuid()
    proc = tmp_path / "proc"
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_bytes(
        f"m\xe9:x:{me}:{me}:J\xe9r\xf4me:/:/bin/sh\n".encode("latin-1")
    )
    (proc / str(PID)).mkdir(parents=True)
    stat = proc_stat_line(PID, "x", state="S", ppid=1, ticks=1, rss=1).encode()
    (proc / str(PID) / "stat").write_bytes(stat.replace(b"(x)", b"(caf\xe9)"))
    (proc / str(PID) / "cmdline").write_bytes(b"caf\xe9\0--flag\0")
    [info] = read_processes(proc, [PID])
    assert info.command == "caf\ufffd --flag"
    assert info.user == "m\ufffd"


def test_slots_are_named_and_share_the_usage_and_net_dev_positions() -> None:
    """The parsers and the kept reader index one list by these slots: the CPU usage first
    and net/dev right after the cgroup files, on both versions."""
    from exporter.stats.cgroup import slots

    assert slots.V1.CPUACCT_USAGE == slots.V2.CPU_STAT == slots.USAGE
    assert slots.V1.NET == slots.V2.NET == slots.NET
    assert len(slots.V1_FILES) == len(slots.V2_FILES) == slots.NET
    assert [name for _, name in slots.V1_FILES][slots.V1.MEMORY_STAT] == "memory.stat"
    assert [name for _, name in slots.V2_FILES][slots.V2.IO_STAT] == "io.stat"
    assert len(slots.V1_EXTRA_FILES) == len(slots.V1Extra)

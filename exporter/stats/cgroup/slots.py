"""What a sample reads, slot by slot: the files of one container's stats, named.

However the files are read (each opened afresh, or kept open), the parser gets their
contents as one list indexed by these slots, None where a file is absent: the cgroup
files, then /proc/<pid>/net/dev at `NET` and, on v1, the blkio pair. Which slots a kept
reader may skip between full reads, and why that is safe, is docs/cgroup.md ("Gating").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum

from exporter.stats.cgroup.layout import UNIFIED


class V1(IntEnum):
    """Slots of a cgroup v1 read."""

    CPUACCT_USAGE = 0
    CPUACCT_STAT = 1
    CPU_STAT = 2
    CFS_QUOTA = 3
    MEMORY_USAGE = 4
    MEMORY_STAT = 5
    OOM_CONTROL = 6
    FAILCNT = 7
    PIDS_CURRENT = 8
    PIDS_MAX = 9
    NET = 10
    BLKIO_SIZES = 11
    BLKIO_OPS = 12


class V2(IntEnum):
    """Slots of a cgroup v2 read."""

    CPU_STAT = 0
    MEMORY_CURRENT = 1
    MEMORY_STAT = 2
    MEMORY_EVENTS = 3
    CPU_MAX = 4
    SWAP_CURRENT = 5
    MEMORY_MAX = 6
    PIDS_CURRENT = 7
    PIDS_MAX = 8
    IO_STAT = 9
    NET = 10
    CPU_PRESSURE = 11
    MEMORY_PRESSURE = 12
    IO_PRESSURE = 13


class V1Extra(IntEnum):
    """v1 files the parser reads only when the others call for them (`IfNeeded`)."""

    CFS_PERIOD = 0
    """With a quota."""
    MEMORY_LIMIT = 1
    """Without hierarchical_memory_limit in memory.stat."""
    MEMSW_USAGE = 2
    """Without total_swap in memory.stat."""


NET = V1.NET
"""net/dev's slot, the same on v1 and v2 (right after the cgroup files; a test checks)."""
USAGE = V1.CPUACCT_USAGE.value
"""The CPU usage's slot, the same on v1 and v2 (cpuacct.usage, cpu.stat): read first, the
gates' reference."""

_V1_FILE_OF: Mapping[V1, tuple[str, str]] = {
    V1.CPUACCT_USAGE: ("cpuacct", "cpuacct.usage"),
    V1.CPUACCT_STAT: ("cpuacct", "cpuacct.stat"),
    V1.CPU_STAT: ("cpu", "cpu.stat"),
    V1.CFS_QUOTA: ("cpu", "cpu.cfs_quota_us"),
    V1.MEMORY_USAGE: ("memory", "memory.usage_in_bytes"),
    V1.MEMORY_STAT: ("memory", "memory.stat"),
    V1.OOM_CONTROL: ("memory", "memory.oom_control"),
    V1.FAILCNT: ("memory", "memory.failcnt"),
    V1.PIDS_CURRENT: ("pids", "pids.current"),
    V1.PIDS_MAX: ("pids", "pids.max"),
}
"""(controller, file) of each cgroup slot; net/dev and the blkio pair come after."""
_V1_EXTRA_FILE_OF: Mapping[V1Extra, tuple[str, str]] = {
    V1Extra.CFS_PERIOD: ("cpu", "cpu.cfs_period_us"),
    V1Extra.MEMORY_LIMIT: ("memory", "memory.limit_in_bytes"),
    V1Extra.MEMSW_USAGE: ("memory", "memory.memsw.usage_in_bytes"),
}
_V2_FILE_OF: Mapping[V2, tuple[str, str]] = {
    V2.CPU_STAT: (UNIFIED, "cpu.stat"),
    V2.MEMORY_CURRENT: (UNIFIED, "memory.current"),
    V2.MEMORY_STAT: (UNIFIED, "memory.stat"),
    V2.MEMORY_EVENTS: (UNIFIED, "memory.events"),
    V2.CPU_MAX: (UNIFIED, "cpu.max"),
    V2.SWAP_CURRENT: (UNIFIED, "memory.swap.current"),
    V2.MEMORY_MAX: (UNIFIED, "memory.max"),
    V2.PIDS_CURRENT: (UNIFIED, "pids.current"),
    V2.PIDS_MAX: (UNIFIED, "pids.max"),
    V2.IO_STAT: (UNIFIED, "io.stat"),
}
_V2_PRESSURE_FILE_OF = {
    V2.CPU_PRESSURE: (UNIFIED, "cpu.pressure"),
    V2.MEMORY_PRESSURE: (UNIFIED, "memory.pressure"),
    V2.IO_PRESSURE: (UNIFIED, "io.pressure"),
}
V2_PRESSURE_FILES = tuple(_V2_PRESSURE_FILE_OF[slot] for slot in V2 if slot >= V2.CPU_PRESSURE)
"""The PSI slots after net/dev, in PRESSURE_RESOURCES order (as v1's blkio pair follows
it): present only where the kernel gives PSI (exporter.stats.cgroup.pressure)."""
V1_FILES = tuple(_V1_FILE_OF[slot] for slot in V1 if slot < NET)
V2_FILES = tuple(_V2_FILE_OF[slot] for slot in V2 if slot < NET)
V1_EXTRA_FILES = tuple(_V1_EXTRA_FILE_OF[extra] for extra in V1Extra)
"""Tuples in slot order, indexed by slot (an IntEnum hashes through Python code)."""

# The gates as plain ints: they are looped over for every container on every sweep.
V1_CPU_GATED: tuple[int, ...] = (V1.CPUACCT_STAT.value,)
"""Read again only when the CPU usage moved (docs/cgroup.md, "CPU-gated")."""
V1_QUIET_GATED: tuple[int, ...] = (V1.OOM_CONTROL.value, V1.FAILCNT.value)
"""Read again only when the CPU usage or the memory usage moved (docs/cgroup.md, "Quiet")."""
V1_BLKIO: tuple[int, ...] = (V1.BLKIO_SIZES.value, V1.BLKIO_OPS.value)
"""Quiet-gated too, unless Docker throttles the container's I/O (`Target.throttled_io`)."""
V1_DEFERRED: tuple[int, ...] = (V1.CFS_QUOTA.value, V1.PIDS_MAX.value)
V2_DEFERRED: tuple[int, ...] = (V2.CPU_MAX.value, V2.MEMORY_MAX.value, V2.PIDS_MAX.value)
"""The limit slots, read only on full reads (docs/cgroup.md, "Deferred"); on v1 also
cpu.stat while the last full read found no CFS quota."""

BLKIO_PAIRS = (
    # The `_recursive` throttle variant first, so that I/O of nested cgroups (systemd or
    # Docker inside the container) counts too; throttle files are filled on blk-mq, the
    # CFQ ones are the fallback.
    ("blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive"),
    ("blkio.throttle.io_service_bytes", "blkio.throttle.io_serviced"),
    ("blkio.io_service_bytes_recursive", "blkio.io_serviced_recursive"),
)


def slot_paths(
    files: Iterable[tuple[str, str]], paths: Mapping[str, str], net_dev: str | None
) -> list[str | None]:
    """The path of each slot (None when its controller is not mounted), net/dev last."""
    return [*(path_of(file, paths) for file in files), net_dev]


def v2_slot_paths(paths: Mapping[str, str], net_dev: str | None) -> list[str | None]:
    """Every v2 slot's path: the cgroup files, net/dev, then the pressure files."""
    return [
        *slot_paths(V2_FILES, paths, net_dev),
        *(path_of(file, paths) for file in V2_PRESSURE_FILES),
    ]


def path_of(file: tuple[str, str], paths: Mapping[str, str]) -> str | None:
    directory = paths.get(file[0])
    return f"{directory}/{file[1]}" if directory else None

"""Pure parsers: container stats and process descriptions from file bytes.

Each is a function of the bytes it is given (None for an absent file), so the per-file
and the kept-descriptor readers share them, and the tests feed them recorded contents.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TypeAlias

from exporter.engine.stats import BlockIO, ContainerStats, NetworkIO, ProcessInfo, limit_or_none
from exporter.stats.cgroup.fileio import CgroupError
from exporter.stats.cgroup.pressure import parse_memory_events, parse_pressures
from exporter.stats.cgroup.slots import NET, V1, V2, V2_PRESSURE_FILES, V1Extra

CLK_TCK = os.sysconf("SC_CLK_TCK")
"""USER_HZ: the unit of cpuacct.stat and /proc/<pid>/stat times (100 on Linux)."""

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

_NS = 1e9
_US = 1e6

IfNeeded: TypeAlias = Callable[[V1Extra], bytes | None]
"""Reads one of `V1_EXTRA_FILES` for the parser, which asks only when its values call for it."""

# The slots as plain ints for the parsers: looking an IntEnum member up costs about 0.2 us
# and indexing with one 25 ns more than with an int, for every changed container each sweep.
_V1_USAGE = V1.CPUACCT_USAGE.value
_V1_TICKS = V1.CPUACCT_STAT.value
_V1_CPU_STAT = V1.CPU_STAT.value
_V1_QUOTA = V1.CFS_QUOTA.value
_V1_MEMORY_USAGE = V1.MEMORY_USAGE.value
_V1_MEMORY_STAT = V1.MEMORY_STAT.value
_V1_OOM_CONTROL = V1.OOM_CONTROL.value
_V1_FAILCNT = V1.FAILCNT.value
_V1_PIDS = V1.PIDS_CURRENT.value
_V1_PIDS_MAX = V1.PIDS_MAX.value
_V1_BLKIO_SIZES = V1.BLKIO_SIZES.value
_V1_BLKIO_OPS = V1.BLKIO_OPS.value
_V2_CPU_STAT = V2.CPU_STAT.value
_V2_MEMORY = V2.MEMORY_CURRENT.value
_V2_MEMORY_STAT = V2.MEMORY_STAT.value
_V2_EVENTS = V2.MEMORY_EVENTS.value
_V2_CPU_MAX = V2.CPU_MAX.value
_V2_SWAP = V2.SWAP_CURRENT.value
_V2_MEMORY_MAX = V2.MEMORY_MAX.value
_V2_PIDS = V2.PIDS_CURRENT.value
_V2_PIDS_MAX = V2.PIDS_MAX.value
_V2_IO_STAT = V2.IO_STAT.value
_NET = NET.value
_V2_PRESSURE = V2.CPU_PRESSURE.value
_CFS_PERIOD = V1Extra.CFS_PERIOD
_MEMORY_LIMIT = V1Extra.MEMORY_LIMIT
_MEMSW_USAGE = V1Extra.MEMSW_USAGE


def parse_v1(
    data: Sequence[bytes | None], if_needed: IfNeeded, cpuacct: str | None
) -> ContainerStats:
    """ContainerStats from the `V1` slots: the cgroup files, net/dev and the blkio pair."""
    usage_ns = num(data[_V1_USAGE])
    if usage_ns is None:
        msg = f"no cpuacct.usage for cgroup {cpuacct}"
        raise CgroupError(msg)
    ticks = data[_V1_TICKS] or b""
    cpu_stat = data[_V1_CPU_STAT] or b""
    throttled_ns = kv(cpu_stat, b"\nthrottled_time ")
    quota = num(data[_V1_QUOTA])
    period = num(if_needed(_CFS_PERIOD)) if quota and quota > 0 else None
    usage = num(data[_V1_MEMORY_USAGE])
    mstat = data[_V1_MEMORY_STAT] or b""
    limit = kv(mstat, b"\nhierarchical_memory_limit ")
    if limit is None:
        limit = num(if_needed(_MEMORY_LIMIT))
    swap = kv(mstat, b"\ntotal_swap ")
    if swap is None and usage is not None:
        memsw = num(if_needed(_MEMSW_USAGE))
        swap = None if memsw is None else max(memsw - usage, 0)
    return ContainerStats(
        cpu_usage_seconds=usage_ns / _NS,
        cpu_user_seconds=(kv(ticks, b"\nuser ") or 0) / CLK_TCK,
        cpu_system_seconds=(kv(ticks, b"\nsystem ") or 0) / CLK_TCK,
        cpu_periods=kv(cpu_stat, b"\nnr_periods "),
        cpu_throttled_periods=kv(cpu_stat, b"\nnr_throttled "),
        cpu_throttled_seconds=None if throttled_ns is None else throttled_ns / _NS,
        cpu_limit_cores=quota / period if quota and quota > 0 and period else None,
        memory_usage_bytes=usage,
        memory_working_set_bytes=_working_set(usage, kv(mstat, b"\ntotal_inactive_file ")),
        memory_rss_bytes=kv(mstat, b"\ntotal_rss "),
        memory_cache_bytes=kv(mstat, b"\ntotal_cache "),
        memory_swap_bytes=swap,
        memory_limit_bytes=limit_or_none(limit),
        memory_failures=num(data[_V1_FAILCNT]),
        oom_kills=kv(data[_V1_OOM_CONTROL] or b"", b"\noom_kill "),
        pids=num(data[_V1_PIDS]),
        pids_limit=limit_or_none(num(data[_V1_PIDS_MAX])),
        networks=_networks(data[_NET]),
        block=_blkio(data[_V1_BLKIO_SIZES], data[_V1_BLKIO_OPS]),
        memory_mapped_file_bytes=kv(mstat, b"\ntotal_mapped_file "),
        memory_page_faults=_faults(mstat, b"\ntotal_pgfault ", b"\ntotal_pgmajfault "),
    )


def parse_v2(data: Sequence[bytes | None], base: str | None) -> ContainerStats:
    """ContainerStats from the `V2` slots: the cgroup files, net/dev and the pressure
    files (a shorter `data` has no pressure: absent)."""
    if base is None:
        msg = "no cgroup2 path for this container"
        raise CgroupError(msg)
    cpu = data[_V2_CPU_STAT] or b""
    usage_us = kv(cpu, b"\nusage_usec ")
    if usage_us is None:
        msg = f"no cpu.stat usage_usec in {base}"
        raise CgroupError(msg)
    throttled_us = kv(cpu, b"\nthrottled_usec ")
    usage = num(data[_V2_MEMORY])
    mstat = data[_V2_MEMORY_STAT] or b""
    events = data[_V2_EVENTS] or b""
    cpu_max, io_stat = data[_V2_CPU_MAX], data[_V2_IO_STAT]
    return ContainerStats(
        cpu_usage_seconds=usage_us / _US,
        cpu_user_seconds=(kv(cpu, b"\nuser_usec ") or 0) / _US,
        cpu_system_seconds=(kv(cpu, b"\nsystem_usec ") or 0) / _US,
        cpu_periods=kv(cpu, b"\nnr_periods "),
        cpu_throttled_periods=kv(cpu, b"\nnr_throttled "),
        cpu_throttled_seconds=None if throttled_us is None else throttled_us / _US,
        cpu_limit_cores=parse_cpu_max(None if cpu_max is None else cpu_max.decode()),
        memory_usage_bytes=usage,
        memory_working_set_bytes=_working_set(usage, kv(mstat, b"\ninactive_file ")),
        memory_rss_bytes=kv(mstat, b"\nanon "),
        memory_cache_bytes=kv(mstat, b"\nfile "),
        memory_swap_bytes=num(data[_V2_SWAP]),
        memory_limit_bytes=limit_or_none(num(data[_V2_MEMORY_MAX])),
        memory_failures=kv(events, b"\nmax "),
        oom_kills=kv(events, b"\noom_kill "),
        pids=num(data[_V2_PIDS]),
        pids_limit=limit_or_none(num(data[_V2_PIDS_MAX])),
        networks=_networks(data[_NET]),
        block=() if io_stat is None else parse_io_stat(io_stat.decode()),
        memory_events=parse_memory_events(data[_V2_EVENTS]),
        pressure=parse_pressures(data[_V2_PRESSURE : _V2_PRESSURE + len(V2_PRESSURE_FILES)]),
        memory_mapped_file_bytes=kv(mstat, b"\nfile_mapped "),
        memory_page_faults=_faults(mstat, b"\npgfault ", b"\npgmajfault "),
    )


def _working_set(usage: int | None, inactive_file: int | None) -> int | None:
    """usage - inactive file pages when below usage, like the CLI and cAdvisor."""
    if usage is None:
        return None
    if inactive_file is not None and inactive_file < usage:
        return usage - inactive_file
    return usage


def _faults(mstat: bytes, minor: bytes, major: bytes) -> tuple[int, int] | None:
    """(pgfault, pgmajfault) of memory.stat, None unless both are there."""
    faults, majors = kv(mstat, minor), kv(mstat, major)
    return None if faults is None or majors is None else (faults, majors)


def _networks(net_dev: bytes | None) -> tuple[NetworkIO, ...]:
    return () if net_dev is None else parse_net_dev(net_dev)


def _blkio(sizes: bytes | None, ops: bytes | None) -> tuple[BlockIO, ...]:
    """parse_blkio_throttle of the pair, skipped when no line can be a Read or Write one
    (blk-mq throttle files of a cgroup that did no I/O hold just "Total 0")."""
    if sizes is None:
        return ()
    if (b"Read" not in sizes and b"Write" not in sizes) and (
        ops is None or (b"Read" not in ops and b"Write" not in ops)
    ):
        return ()
    return parse_blkio_throttle(sizes.decode(), None if ops is None else ops.decode())


def num(data: bytes | None) -> int | None:
    """A single-value file: an int; `max` (unlimited), junk and an absent file (None) give
    None, -1 stays -1."""
    if data is None or data.startswith(b"max"):  # unlimited: skip the costly ValueError
        return None
    try:
        return int(data)  # int() strips the whitespace
    except ValueError:
        return None


def kv(data: bytes, needle: bytes) -> int | None:
    """The value of a flat-keyed file's (cpu.stat, memory.stat, ...) key, without parsing
    the other lines (memory.stat has ~70). `needle` is b"\\n" + key + b" ", written once
    by the caller; the kernel writes each key once, and a value that is not an integer
    gives None."""
    start = data.rfind(needle)
    if start >= 0:
        start += len(needle)
    elif data.startswith(needle[1:]):
        start = len(needle) - 1
    else:
        return None
    end = data.find(b"\n", start)
    try:
        return int(data[start:end] if end >= 0 else data[start:])
    except ValueError:
        return None


def parse_cpu_max(text: str | None) -> float | None:
    """Parse v2 cpu.max (`<quota> <period>` or `max <period>`) into cores; None if unlimited."""
    if text is None:
        return None
    quota, _, period = text.strip().partition(" ")
    if quota == "max":
        return None
    try:
        cores = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
    return cores if cores > 0 else None


def parse_net_dev(data: bytes) -> tuple[NetworkIO, ...]:
    """Parse /proc/<pid>/net/dev, skipping the two header lines and `lo`.

    Columns after "iface:" are 8 receive counters then 8 transmit counters; the counters
    used are the first 4 of each (bytes, packets, errs, drop).
    """
    out = []
    for line in data.split(b"\n")[2:]:
        name, sep, counters = line.partition(b":")
        name = name.strip()
        if not sep or name == b"lo":
            continue
        v = counters.split()
        if len(v) < 16:
            continue
        rx = int(v[0]), int(v[1]), int(v[2]), int(v[3])
        out.append(
            NetworkIO(
                name.decode(errors="replace"), *rx, int(v[8]), int(v[9]), int(v[10]), int(v[11])
            )
        )
    if len(out) > 1:
        out.sort(key=_interface)
    return tuple(out)


_interface = operator.attrgetter("interface")


def parse_io_stat(text: str) -> tuple[BlockIO, ...]:
    """Parse v2 io.stat (`MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. ...`) per device;
    a line whose counters are not numbers is skipped (fuzzing found it ended the sample)."""
    out = []
    for line in text.splitlines():
        device, _, rest = line.partition(" ")
        if not rest:
            continue
        kv = {}
        for item in rest.split():
            key, _, value = item.partition("=")
            kv[key] = value
        try:
            block = BlockIO(
                device=device,
                read_bytes=int(kv.get("rbytes", 0)),
                write_bytes=int(kv.get("wbytes", 0)),
                reads=int(kv.get("rios", 0)),
                writes=int(kv.get("wios", 0)),
            )
        except ValueError:
            continue
        out.append(block)
    out.sort(key=_device_order)
    return tuple(out)


def parse_blkio_throttle(sizes: str, ops: str | None) -> tuple[BlockIO, ...]:
    """Parse v1 blkio `*io_service_bytes*` (and `*io_serviced*`) files into per-device sums.

    Lines are `MAJ:MIN Op value` plus a final `Total N`; only Read and Write are kept.
    Without an ops file the op counts are None.
    """
    size_rw = _blkio_read_write(sizes)
    ops_rw = _blkio_read_write(ops) if ops is not None else {}
    out = []
    for device in size_rw.keys() | ops_rw.keys():
        read_bytes, write_bytes = size_rw.get(device, (0, 0))
        reads, writes = ops_rw.get(device, (0, 0)) if ops is not None else (None, None)
        out.append(BlockIO(device, read_bytes, write_bytes, reads, writes))
    out.sort(key=_device_order)
    return tuple(out)


def _blkio_read_write(text: str) -> dict[str, tuple[int, int]]:
    totals: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 3 or fields[1] not in {"Read", "Write"}:
            continue
        read, write = totals.get(fields[0], (0, 0))
        if fields[1] == "Read":
            totals[fields[0]] = (read + int(fields[2]), write)
        else:
            totals[fields[0]] = (read, write + int(fields[2]))
    return totals


def _device_order(block: BlockIO) -> tuple[int, ...]:
    return tuple(int(x) for x in block.device.split(":") if x.isdigit())


def process(
    pid: int, uid: int, stat: bytes, cmdline: bytes, names: Mapping[int, str]
) -> tuple[ProcessInfo, int]:
    """One process from its effective UID and /proc/<pid>/{stat,cmdline} bytes, and its
    thread count.

    The UID is the owner of /proc/<pid> (docs/cgroup.md, "Process owners").
    """
    comm, state, ppid, ticks, rss_pages, threads = parse_stat(stat)
    command = cmdline.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace") or f"[{comm}]"
    info = ProcessInfo(
        pid=pid,
        ppid=ppid,
        uid=uid,
        user=names.get(uid),
        command=command,
        cpu_seconds=ticks / CLK_TCK,
        rss_bytes=rss_pages * PAGE_SIZE,
        state=state,
    )
    return info, threads


def parse_stat(data: bytes) -> tuple[str, str, int, int, int, int]:
    """(comm, state, ppid, utime + stime ticks, rss pages, num_threads) from
    /proc/<pid>/stat; comm may hold spaces and parentheses, so split at the last ')'.
    Raises ValueError for bytes that are not a stat line (fuzzing: it was IndexError)."""
    head, _, tail = data.rpartition(b")")
    comm = head.partition(b"(")[2].decode(errors="replace")
    fields = tail.split()  # fields[0] is field 3 (state) of proc(5)
    if len(fields) < 22:
        raise ValueError(f"not a /proc/<pid>/stat line: {len(fields)} fields after comm")
    return (
        comm,
        fields[0].decode(),
        int(fields[1]),
        int(fields[11]) + int(fields[12]),
        int(fields[21]),
        int(fields[17]),
    )


def parse_passwd(text: str) -> dict[int, str]:
    """Map uid -> name from passwd(5) text; the first entry of a uid wins."""
    names: dict[int, str] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            names.setdefault(int(fields[2]), fields[0])
    return names

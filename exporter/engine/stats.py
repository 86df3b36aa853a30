"""Container resource stats: the typed model and the Docker stats-API parser.

Both sources (the Engine's stats API and the cgroup fast path in `exporter.stats.cgroup`) produce
the same `ContainerStats`, so collectors never learn where a sample came from. Values are
raw cumulative counters and gauges in base units (seconds, bytes). A field is `None` when
the source cannot provide it, never a made-up 0, so that a collector can skip the series.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from exporter.engine.fields import json_int, map_field

ZERO_TIME = "0001-01-01T00:00:00Z"
"""`read` of the empty frame sent for a stopped container (moby `types.StatsJSON` zero)."""

UNLIMITED_FLOOR = 1 << 62
"""Limits at or above this are "unlimited".

The kernel reports v1 "no limit" as the page-rounded 2^63-1 (9223372036854771712), and
containerd turns v2 `max` into 2^64-1; no real limit comes near 2^62.
"""

_NS = 1e9


@dataclass(frozen=True, slots=True)
class NetworkIO:
    """Cumulative counters of one interface inside the container's network namespace."""

    interface: str
    rx_bytes: int
    rx_packets: int
    rx_errors: int
    rx_dropped: int
    tx_bytes: int
    tx_packets: int
    tx_errors: int
    tx_dropped: int


@dataclass(frozen=True, slots=True)
class BlockIO:
    """Cumulative I/O of one block device; op counts are None when the source has none."""

    device: str  # "MAJ:MIN"
    read_bytes: int
    write_bytes: int
    reads: int | None
    writes: int | None


@dataclass(frozen=True, slots=True)
class ContainerStats:
    """One sample of a running container's resource usage.

    Counters are cumulative since the container's cgroup was created (they reset on
    restart). Limits are None when unlimited. Throttling is None when the source only
    reports fake zeros (Podman) or has no CPU controller (v2 without `cpu`).
    """

    cpu_usage_seconds: float
    cpu_user_seconds: float
    cpu_system_seconds: float
    cpu_periods: int | None
    cpu_throttled_periods: int | None
    cpu_throttled_seconds: float | None
    cpu_limit_cores: float | None
    memory_usage_bytes: int | None
    memory_working_set_bytes: int | None
    memory_rss_bytes: int | None
    memory_cache_bytes: int | None
    memory_swap_bytes: int | None
    memory_limit_bytes: int | None
    # Times usage hit the limit: v1 memory.failcnt, v2 memory.events "max" (the same
    # event: a charge that had to reclaim or fail). Docker's v2 API `failcnt` carries
    # memory.events "oom" instead, so the API parser leaves it None on v2.
    memory_failures: int | None
    oom_kills: int | None
    pids: int | None
    pids_limit: int | None
    networks: tuple[NetworkIO, ...]
    block: tuple[BlockIO, ...]
    memory_events: tuple[tuple[str, int], ...] = ()
    """cgroup v2 memory.events counters as (event, count), MEMORY_EVENTS order; empty on
    v1, through the API, or where the kernel has no such file."""
    pressure: tuple[tuple[str, str, float], ...] = ()
    """cgroup v2 PSI as (resource, kind, stalled seconds) from {cpu,memory,io}.pressure;
    empty where the kernel gives none (v1, PSI off)."""
    memory_mapped_file_bytes: int | None = None
    """memory.stat total_mapped_file (v1) / file_mapped (v2); None through the API."""
    memory_page_faults: tuple[int, int] | None = None
    """memory.stat (pgfault, pgmajfault); None through the API."""


MEMORY_EVENTS = ("low", "high", "max", "oom", "oom_kill")
"""The memory.events counters exported (oom_group_kill and newer ones are left out)."""
PRESSURE_RESOURCES = ("cpu", "memory", "io")
PRESSURE_KINDS = ("some", "full")


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One process of a container, read from /proc (a `top` without the `top` event)."""

    pid: int
    ppid: int
    uid: int
    user: str | None  # from the host's /etc/passwd; None when the uid has no entry
    command: str  # cmdline with NULs as spaces, or "[comm]" for kernel threads/zombies
    cpu_seconds: float  # utime + stime
    rss_bytes: int
    state: str  # one letter, as in ps STAT (R, S, D, Z, ...)


def limit_or_none(value: int | None) -> int | None:
    """Return a limit, or None when it means "unlimited" (absent, <= 0, or >= 2^62)."""
    if value is None or value <= 0 or value >= UNLIMITED_FLOOR:
        return None
    return value


def working_set(usage: int, stats: Mapping[str, object] | None) -> int:
    """Memory in use as `docker stats` (CLI >= 20.10) computes it.

    A line-by-line port of `calculateMemUsageUnixNoCache`: the v1 key wins when it is
    below usage, then the v2 key (missing counts as 0), then raw usage.
    """
    if stats is not None:
        v1 = json_int(stats.get("total_inactive_file"))
        if v1 is not None and v1 < usage:
            return usage - v1
        v2 = json_int(stats.get("inactive_file")) or 0
        if v2 < usage:
            return usage - v2
    return usage


def parse_api_stats(
    payload: Mapping[str, object],
    *,
    cgroup_version: str,
    podman: bool = False,
    mem_total: int | None = None,
) -> ContainerStats | None:
    """Parse one `/containers/{id}/stats?stream=false` payload; None for a stopped container.

    `cgroup_version` is `/info` `CgroupVersion` ("1", "2"; "" on old engines, then it is
    guessed from the memory keys). `podman` drops the fields Podman fills with constant
    zeros (throttling, failcnt). `mem_total` (`/info` MemTotal) recognises the daemon's
    habit of reporting an unlimited v2/Podman limit as host memory.

    The payload has no CPU quota and no OOM-kill count: `cpu_limit_cores` and `oom_kills`
    are always None here (take the CPU limit from inspect).
    """
    if cgroup_version not in {"1", "2", ""}:
        msg = f"unknown cgroup version {cgroup_version!r}"
        raise ValueError(msg)
    cpu = payload.get("cpu_stats")
    if payload.get("read") == ZERO_TIME or not isinstance(cpu, Mapping):
        return None
    usage = map_field(cpu.get("cpu_usage"))
    total = json_int(usage.get("total_usage"))
    if total is None:
        return None
    if payload.get("os_type") == "windows":  # API 1.52+ says which; older ones do not
        return _windows_stats(payload, usage, total)
    memory = map_field(payload.get("memory_stats"))
    mem_stats = _stats_map(memory)
    if not cgroup_version:
        cgroup_version = "1" if "total_inactive_file" in mem_stats or "max_usage" in memory else "2"
    v1 = cgroup_version == "1"
    throttling = map_field(cpu.get("throttling_data"))
    periods, throttled, throttled_ns = (
        (None, None, None)
        if podman
        else (
            json_int(throttling.get("periods")) or 0,
            json_int(throttling.get("throttled_periods")) or 0,
            json_int(throttling.get("throttled_time")) or 0,
        )
    )
    mem_usage = json_int(memory.get("usage"))
    pids = map_field(payload.get("pids_stats"))
    return ContainerStats(
        cpu_usage_seconds=total / _NS,
        cpu_user_seconds=(json_int(usage.get("usage_in_usermode")) or 0) / _NS,
        cpu_system_seconds=(json_int(usage.get("usage_in_kernelmode")) or 0) / _NS,
        cpu_periods=periods,
        cpu_throttled_periods=throttled,
        cpu_throttled_seconds=None if throttled_ns is None else throttled_ns / _NS,
        cpu_limit_cores=None,
        memory_usage_bytes=mem_usage,
        memory_working_set_bytes=(
            None if mem_usage is None else working_set(mem_usage, _opt_obj(memory.get("stats")))
        ),
        memory_rss_bytes=json_int(mem_stats.get("total_rss" if v1 else "anon")),
        memory_cache_bytes=json_int(mem_stats.get("total_cache" if v1 else "file")),
        memory_swap_bytes=None,
        memory_limit_bytes=_api_memory_limit(memory, mem_stats, mem_total),
        # failcnt is omitempty: on a v1 Docker frame with memory data, absent means 0.
        memory_failures=(
            (json_int(memory.get("failcnt")) or 0) if v1 and not podman and memory else None
        ),
        oom_kills=None,
        pids=json_int(pids.get("current")),
        pids_limit=limit_or_none(json_int(pids.get("limit"))),
        networks=_api_networks(payload.get("networks")),
        block=_api_block(map_field(payload.get("blkio_stats")), with_ops=v1 and not podman),
    )


_WINDOWS_TICK = 1e7
"""Windows reports CPU time in 100 ns intervals, not nanoseconds."""


def _windows_stats(
    payload: Mapping[str, object], usage: Mapping[str, object], total: int
) -> ContainerStats:
    """A Windows container's sample (`os_type: windows`, API 1.52+): CPU in 100 ns ticks,
    memory as commit and private working set, processes from `num_procs`; no cgroup, so
    no throttling, limits or memory breakdown."""
    memory = map_field(payload.get("memory_stats"))
    return ContainerStats(
        cpu_usage_seconds=total / _WINDOWS_TICK,
        cpu_user_seconds=(json_int(usage.get("usage_in_usermode")) or 0) / _WINDOWS_TICK,
        cpu_system_seconds=(json_int(usage.get("usage_in_kernelmode")) or 0) / _WINDOWS_TICK,
        cpu_periods=None,
        cpu_throttled_periods=None,
        cpu_throttled_seconds=None,
        cpu_limit_cores=None,
        memory_usage_bytes=json_int(memory.get("commitbytes")),
        memory_working_set_bytes=json_int(memory.get("privateworkingset")),
        memory_rss_bytes=None,
        memory_cache_bytes=None,
        memory_swap_bytes=None,
        memory_limit_bytes=None,
        memory_failures=None,
        oom_kills=None,
        pids=json_int(payload.get("num_procs")),
        pids_limit=None,
        networks=_api_networks(payload.get("networks")),
        block=(),
    )


def _api_memory_limit(
    memory: Mapping[str, object], mem_stats: Mapping[str, object], mem_total: int | None
) -> int | None:
    """Return the effective limit, undoing the daemon's clamp of "unlimited" to MemTotal.

    On v1 `hierarchical_memory_limit` is the unclamped effective limit (the minimum over
    the cgroup and its parents), so it decides by itself.
    """
    hierarchical = json_int(mem_stats.get("hierarchical_memory_limit"))
    if hierarchical is not None:
        return limit_or_none(hierarchical)
    limit = limit_or_none(json_int(memory.get("limit")))
    if limit is not None and mem_total is not None and limit >= mem_total:
        return None
    return limit


def _api_networks(value: object) -> tuple[NetworkIO, ...]:
    """Per-interface counters; `lo` is skipped like the daemon does (it never sends it)."""
    if not isinstance(value, Mapping):
        return ()
    out = []
    for name, raw in sorted(value.items()):
        if name == "lo" or not isinstance(raw, Mapping):
            continue
        out.append(
            NetworkIO(
                interface=str(name),
                rx_bytes=json_int(raw.get("rx_bytes")) or 0,
                rx_packets=json_int(raw.get("rx_packets")) or 0,
                rx_errors=json_int(raw.get("rx_errors")) or 0,
                rx_dropped=json_int(raw.get("rx_dropped")) or 0,
                tx_bytes=json_int(raw.get("tx_bytes")) or 0,
                tx_packets=json_int(raw.get("tx_packets")) or 0,
                tx_errors=json_int(raw.get("tx_errors")) or 0,
                tx_dropped=json_int(raw.get("tx_dropped")) or 0,
            )
        )
    return tuple(out)


def _api_block(blkio: Mapping[str, object], *, with_ops: bool) -> tuple[BlockIO, ...]:
    """Sum Read/Write entries per device the way the CLI does (first letter of `op`).

    Op counts come from `io_serviced_recursive`, which only v1 Docker fills; elsewhere
    they are None.
    """
    sizes = _sum_read_write(blkio.get("io_service_bytes_recursive"))
    ops = _sum_read_write(blkio.get("io_serviced_recursive")) if with_ops else {}
    out = []
    for dev in sorted(sizes.keys() | ops.keys()):
        read_bytes, write_bytes = sizes.get(dev, (0, 0))
        reads, writes = ops.get(dev, (0, 0)) if with_ops else (None, None)
        out.append(BlockIO(f"{dev[0]}:{dev[1]}", read_bytes, write_bytes, reads, writes))
    return tuple(out)


def _sum_read_write(entries: object) -> dict[tuple[int, int], tuple[int, int]]:
    totals: dict[tuple[int, int], tuple[int, int]] = {}
    if not isinstance(entries, list):
        return totals
    for raw in entries:
        entry = map_field(raw)
        op = entry.get("op")
        major, minor = json_int(entry.get("major")), json_int(entry.get("minor"))
        value = json_int(entry.get("value")) or 0
        if not isinstance(op, str) or not op or major is None or minor is None:
            continue
        read, write = totals.get((major, minor), (0, 0))
        if op[0] in "rR":
            totals[major, minor] = (read + value, write)
        elif op[0] in "wW":
            totals[major, minor] = (read, write + value)
    return totals


def _stats_map(memory: Mapping[str, object]) -> Mapping[str, object]:
    return map_field(memory.get("stats"))


def _opt_obj(value: object) -> Mapping[str, object] | None:
    return value if isinstance(value, Mapping) else None


@dataclass(frozen=True, slots=True)
class LogFile:
    """A container's log file as `stat` saw it (never its contents).

    `size_bytes` is the active file's size: it drops when the driver rotates it.
    `written_bytes` grows by what the active file grew between two looks, across a
    rotation too (the renamed file `<path>.1` is found by its inode), since the exporter
    first saw the container. `error` (fixed words) when the file cannot be looked at."""

    path: str
    size_bytes: int | None = None
    written_bytes: int = 0
    inode: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class ContainerSizes:
    """`docker ps --size` (`/containers/json?size=1`): per container ID, its writable
    layer's size (`SizeRw`), and when it was sampled (Unix seconds)."""

    time: float
    writable: Mapping[str, int]
    seconds: float = 0.0
    """How long the engine took to answer (it walks every writable layer)."""


def parse_container_sizes(raw: object, time: float) -> ContainerSizes:
    """`/containers/json?all=1&size=1` to sizes. The engine omits a zero `SizeRw`
    (omitempty) but always sends `SizeRootFs` when sizes were asked: that means 0."""
    out: dict[str, int] = {}
    for entry in raw if isinstance(raw, list) else ():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("Id"), str):
            continue
        size = entry.get("SizeRw", 0 if "SizeRootFs" in entry else None)
        if type(size) is int and size >= 0:
            out[entry["Id"]] = size
    return ContainerSizes(time, out)

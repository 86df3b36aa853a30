"""The cgroup fast path: read container stats straight from cgroupfs and /proc (Linux).

On 20.10 a one-shot stats call costs about 1 s of daemon latency per container; these
files cost about 0.2 ms and no daemon work (see docs engine-api §5). Parsers are pure
functions of file text (or bytes); I/O goes through a `Read` function, which turns a
missing file into None and a vanished cgroup or process into `CgroupGone`: `_read_bytes`
opens, reads and closes each file, `CgroupReader` keeps the files open between sweeps
(bench/sweep_micro.py measures both). Everything is synchronous and meant to run in a
worker thread, once per sweep.

Paths. `discover_layout` reads `<proc_root>/self/mountinfo`. `sys_root` is where the host's
/sys is visible (default `/sys`). When the exporter runs in a container with the host's /sys
bind-mounted elsewhere (e.g. `-v /sys:/host/sys:ro` and `--host.sys=/host/sys`):
  * a cgroup mount point already under `sys_root` is used as is (a recursive bind of the
    host tree shows up there);
  * any other mount point under `/sys` is re-rooted, `/sys/X` -> `<sys_root>/X`, and treated
    as the whole hierarchy (root `/`), because `sys_root` holds the host's full tree;
  * when one hierarchy is mounted twice, the copy under `sys_root` wins.
Container paths in `/proc/<pid>/cgroup` must be host-absolute, so run with `--pid=host`
and `--cgroupns=host` (a private cgroup namespace yields `/..` paths, which never match).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import resource
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from exporter.stats import BlockIO, ContainerStats, NetworkIO, ProcessInfo, limit_or_none

CLK_TCK = os.sysconf("SC_CLK_TCK")
"""USER_HZ: the unit of cpuacct.stat and /proc/<pid>/stat times (100 on Linux)."""

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

UNIFIED = "unified"
"""Key of the cgroup2 hierarchy in a paths mapping (v2, and the empty one on hybrid)."""

V1_CONTROLLERS = frozenset(
    {
        "blkio", "cpu", "cpuacct", "cpuset", "debug", "devices", "freezer", "hugetlb",
        "memory", "misc", "net_cls", "net_prio", "perf_event", "pids", "rdma",
    }
)  # fmt: skip

DEFAULT_OPEN_FILES = 4096
"""Files CgroupReader keeps open by default: at most ~16 MiB of seq_file buffers."""

FD_HEADROOM = 256
"""Descriptors left under RLIMIT_NOFILE for sockets and one-off reads."""

log = logging.getLogger(__name__)

_NS = 1e9
_US = 1e6
_READ_CHUNK = 65536
_SHORT_READ = 2048
_GONE_ERRNOS = frozenset({errno.ENODEV, errno.ESRCH})
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


class CgroupError(Exception):
    """The fast path cannot serve this host or container; fall back to the stats API."""


class CgroupGone(CgroupError):
    """The container's cgroup or init process vanished while it was read (it stopped)."""


@dataclass(frozen=True, slots=True)
class CgroupMount:
    """One mounted hierarchy: its controllers, the hierarchy path mounted, and where."""

    controllers: frozenset[str]  # v1 controllers and "name=..."; empty for cgroup2
    root: str  # mountinfo field 4: the hierarchy path shown at `path`
    path: Path


@dataclass(frozen=True, slots=True)
class CgroupLayout:
    """The host's cgroup mounts. `version` is "1" (also on hybrid hosts) or "2"."""

    version: str
    hybrid: bool  # v1 controllers plus a (controller-less) cgroup2 mount
    v1: tuple[CgroupMount, ...]
    unified: CgroupMount | None

    def mount_for(self, controllers: frozenset[str]) -> CgroupMount | None:
        """Return the v1 mount of exactly this controller set, else one containing it."""
        for mount in self.v1:
            if mount.controllers == controllers:
                return mount
        for mount in self.v1:
            if controllers <= mount.controllers:
                return mount
        return None


@dataclass(frozen=True, slots=True)
class Target:
    """A running container to sample: its full ID, init PID (inspect State.Pid), netns mode."""

    container_id: str
    pid: int
    host_network: bool = False


# --- layout ---------------------------------------------------------------------------


def discover_layout(proc_root: Path, sys_root: Path) -> CgroupLayout:
    """Read the cgroup mounts from `<proc_root>/self/mountinfo` (see the module docstring)."""
    text = _read(str(proc_root / "self" / "mountinfo"))
    if text is None:
        msg = f"{proc_root}/self/mountinfo is not readable"
        raise CgroupError(msg)
    return layout_from_mountinfo(text, sys_root)


def layout_from_mountinfo(text: str, sys_root: Path) -> CgroupLayout:
    """Build the layout from mountinfo text, re-rooting mount points under `sys_root`."""
    sys_prefix = str(sys_root).rstrip("/") or "/"
    best: dict[frozenset[str], tuple[int, CgroupMount]] = {}
    for fstype, root, mount_point, options in parse_mountinfo(text):
        if fstype == "cgroup2":
            controllers: frozenset[str] = frozenset()
        elif fstype == "cgroup":
            controllers = frozenset(
                o for o in options.split(",") if o in V1_CONTROLLERS or o.startswith("name=")
            )
            if not controllers:
                continue
        else:
            continue
        rank, mount = _reroot(controllers, root, mount_point, sys_prefix)
        if controllers not in best or rank < best[controllers][0]:
            best[controllers] = (rank, mount)
    mounts = [mount for _, mount in best.values()]
    v1 = tuple(m for m in mounts if m.controllers)
    unified = next((m for m in mounts if not m.controllers), None)
    has_v1_controllers = any(m.controllers & V1_CONTROLLERS for m in v1)
    if not has_v1_controllers and unified is None:
        msg = "no cgroup v1 controller or cgroup2 mount in mountinfo"
        raise CgroupError(msg)
    return CgroupLayout(
        version="1" if has_v1_controllers else "2",
        hybrid=has_v1_controllers and unified is not None,
        v1=v1,
        unified=unified,
    )


def _reroot(
    controllers: frozenset[str], root: str, mount_point: str, sys_prefix: str
) -> tuple[int, CgroupMount]:
    """Return (preference rank, mount); lower rank wins, ties keep the first seen."""
    if sys_prefix == "/sys" or mount_point.startswith(sys_prefix + "/"):
        return (0 if root == "/" else 1), CgroupMount(controllers, root, Path(mount_point))
    if mount_point.startswith("/sys/"):
        return 2, CgroupMount(controllers, "/", Path(sys_prefix + mount_point[len("/sys") :]))
    return 3, CgroupMount(controllers, root, Path(mount_point))


def parse_mountinfo(text: str) -> list[tuple[str, str, str, str]]:
    """Return (fstype, root, mount point, super options) per line, octal escapes decoded."""
    out = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < sep + 4:
            continue
        out.append((fields[sep + 1], _unescape(fields[3]), _unescape(fields[4]), fields[sep + 3]))
    return out


def _unescape(value: str) -> str:
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), value)


# --- container paths ------------------------------------------------------------------


def container_cgroup_paths(
    layout: CgroupLayout, proc_root: Path, pid: int, container_id: str
) -> dict[str, Path] | None:
    """Map controller -> cgroup directory of the container whose init process is `pid`.

    None when the process is gone or none of its cgroups names `container_id` (the PID
    was reused by another process). v1 keys are controller names ("cpu", "memory", ...);
    the cgroup2 directory is under `UNIFIED`.
    """
    paths = _resolve(layout, proc_root, pid, container_id)
    return None if paths is None else {k: Path(v) for k, v in paths.items()}


def parse_proc_cgroup(text: str) -> list[tuple[frozenset[str], str]]:
    """Parse /proc/<pid>/cgroup into (controllers, path); the cgroup2 line has no controllers."""
    out = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            names = frozenset(parts[1].split(",")) if parts[1] else frozenset()
            out.append((names, parts[2]))
    return out


def paths_from_proc_cgroup(
    layout: CgroupLayout, text: str, container_id: str
) -> dict[str, str] | None:
    """Join each /proc/<pid>/cgroup line with its mount; keep only paths naming the container.

    A path is cut after its last component containing the ID, so a process that moved into
    a child cgroup (systemd's init.scope, Podman's `/container`) still maps to the
    container's own cgroup.
    """
    paths: dict[str, str] = {}
    for controllers, cgroup_path in parse_proc_cgroup(text):
        mount = layout.mount_for(controllers) if controllers else layout.unified
        own = _container_part(cgroup_path, container_id)
        if mount is None or own is None:
            continue
        if mount.root != "/":
            if own != mount.root and not own.startswith(mount.root + "/"):
                continue
            own = own[len(mount.root) :]
        directory = str(mount.path) + own if own else str(mount.path)
        for name in controllers or (UNIFIED,):
            paths[name] = directory
    return paths or None


def _container_part(cgroup_path: str, container_id: str) -> str | None:
    parts = cgroup_path.split("/")
    for i in range(len(parts) - 1, -1, -1):
        if container_id in parts[i]:
            return "/".join(parts[: i + 1])
    return None


def _resolve(
    layout: CgroupLayout, proc_root: Path, pid: int, container_id: str
) -> dict[str, str] | None:
    if pid <= 0 or not container_id:
        return None
    text = _read(f"{proc_root}/{pid}/cgroup", check_gone=False)
    return None if text is None else paths_from_proc_cgroup(layout, text, container_id)


# --- stats ------------------------------------------------------------------------------

Read: TypeAlias = Callable[[str], bytes | None]
"""Reads one whole file: bytes, None when it does not exist, CgroupGone when it vanished."""

Sample: TypeAlias = tuple[ContainerStats, tuple[ProcessInfo, ...] | None]
"""One container's stats and, when asked, its process list."""


def read_cgroup_stats(
    paths: Mapping[str, Path],
    layout_version: str,
    proc_root: Path,
    pid: int,
    *,
    host_network: bool,
) -> ContainerStats:
    """Read one container. Missing files give None fields; a vanished cgroup raises CgroupGone.

    Raises CgroupError when there is no CPU accounting at all (nothing worth a sample).
    """
    str_paths = {k: str(v) for k, v in paths.items()}
    net_dev = None if host_network else f"{proc_root}/{pid}/net/dev"
    if layout_version == "2":
        return _stats_v2(_read_bytes, str_paths, net_dev)
    if layout_version == "1":
        return _stats_v1(_read_bytes, str_paths, net_dev)
    msg = f"unknown cgroup version {layout_version!r}"
    raise ValueError(msg)


def read_many(
    layout: CgroupLayout, proc_root: Path, targets: Iterable[Target]
) -> dict[str, ContainerStats]:
    """Sample many containers in one call (one thread hop per sweep).

    Containers that stopped, whose PID now belongs to someone else, or that the fast path
    cannot serve are left out; the caller treats them as "no sample" or asks the API.
    """
    stats_of = _stats_v2 if layout.version == "2" else _stats_v1
    proc = str(proc_root)
    out: dict[str, ContainerStats] = {}
    for target in targets:
        try:
            paths = _resolve(layout, proc_root, target.pid, target.container_id)
            if paths is None:
                continue
            net_dev = None if target.host_network else f"{proc}/{target.pid}/net/dev"
            out[target.container_id] = stats_of(_read_bytes, paths, net_dev)
        except CgroupError:
            continue
    return out


def _stats_v1(read: Read, paths: Mapping[str, str], net_dev: str | None) -> ContainerStats:
    cpuacct, cpu = paths.get("cpuacct"), paths.get("cpu")
    usage_ns = _int(read, cpuacct and cpuacct + "/cpuacct.usage")
    if usage_ns is None:
        msg = f"no cpuacct.usage for cgroup {cpuacct}"
        raise CgroupError(msg)
    ticks = _keyed(read, cpuacct and cpuacct + "/cpuacct.stat")
    cpu_stat = _keyed(read, cpu and cpu + "/cpu.stat")
    throttled_ns = keyed_value(cpu_stat, b"throttled_time")
    quota = _int(read, cpu and cpu + "/cpu.cfs_quota_us")
    period = _int(read, cpu and cpu + "/cpu.cfs_period_us") if quota and quota > 0 else None

    memory = paths.get("memory")
    usage = _int(read, memory and memory + "/memory.usage_in_bytes")
    mstat = _keyed(read, memory and memory + "/memory.stat")
    limit = keyed_value(mstat, b"hierarchical_memory_limit")
    if limit is None:
        limit = _int(read, memory and memory + "/memory.limit_in_bytes")
    swap = keyed_value(mstat, b"total_swap")
    if swap is None and usage is not None:
        memsw = _int(read, memory and memory + "/memory.memsw.usage_in_bytes")
        swap = None if memsw is None else max(memsw - usage, 0)
    oom = _keyed(read, memory and memory + "/memory.oom_control")

    pids = paths.get("pids")
    return ContainerStats(
        cpu_usage_seconds=usage_ns / _NS,
        cpu_user_seconds=(keyed_value(ticks, b"user") or 0) / CLK_TCK,
        cpu_system_seconds=(keyed_value(ticks, b"system") or 0) / CLK_TCK,
        cpu_periods=keyed_value(cpu_stat, b"nr_periods"),
        cpu_throttled_periods=keyed_value(cpu_stat, b"nr_throttled"),
        cpu_throttled_seconds=None if throttled_ns is None else throttled_ns / _NS,
        cpu_limit_cores=quota / period if quota and quota > 0 and period else None,
        memory_usage_bytes=usage,
        memory_working_set_bytes=_working_set(usage, keyed_value(mstat, b"total_inactive_file")),
        memory_rss_bytes=keyed_value(mstat, b"total_rss"),
        memory_cache_bytes=keyed_value(mstat, b"total_cache"),
        memory_swap_bytes=swap,
        memory_limit_bytes=limit_or_none(limit),
        memory_failures=_int(read, memory and memory + "/memory.failcnt"),
        oom_kills=keyed_value(oom, b"oom_kill"),
        pids=_int(read, pids and pids + "/pids.current"),
        pids_limit=limit_or_none(_int(read, pids and pids + "/pids.max")),
        networks=_read_networks(read, net_dev),
        block=_read_blkio(read, paths.get("blkio")),
    )


def _stats_v2(read: Read, paths: Mapping[str, str], net_dev: str | None) -> ContainerStats:
    base = paths.get(UNIFIED)
    if base is None:
        msg = "no cgroup2 path for this container"
        raise CgroupError(msg)
    cpu = _keyed(read, base + "/cpu.stat")
    usage_us = keyed_value(cpu, b"usage_usec")
    if usage_us is None:
        msg = f"no cpu.stat usage_usec in {base}"
        raise CgroupError(msg)
    throttled_us = keyed_value(cpu, b"throttled_usec")
    usage = _int(read, base + "/memory.current")
    mstat = _keyed(read, base + "/memory.stat")
    events = _keyed(read, base + "/memory.events")
    io_stat = read(base + "/io.stat")
    cpu_max = read(base + "/cpu.max")
    return ContainerStats(
        cpu_usage_seconds=usage_us / _US,
        cpu_user_seconds=(keyed_value(cpu, b"user_usec") or 0) / _US,
        cpu_system_seconds=(keyed_value(cpu, b"system_usec") or 0) / _US,
        cpu_periods=keyed_value(cpu, b"nr_periods"),
        cpu_throttled_periods=keyed_value(cpu, b"nr_throttled"),
        cpu_throttled_seconds=None if throttled_us is None else throttled_us / _US,
        cpu_limit_cores=parse_cpu_max(None if cpu_max is None else cpu_max.decode()),
        memory_usage_bytes=usage,
        memory_working_set_bytes=_working_set(usage, keyed_value(mstat, b"inactive_file")),
        memory_rss_bytes=keyed_value(mstat, b"anon"),
        memory_cache_bytes=keyed_value(mstat, b"file"),
        memory_swap_bytes=_int(read, base + "/memory.swap.current"),
        memory_limit_bytes=limit_or_none(_int(read, base + "/memory.max")),
        memory_failures=keyed_value(events, b"max"),
        oom_kills=keyed_value(events, b"oom_kill"),
        pids=_int(read, base + "/pids.current"),
        pids_limit=limit_or_none(_int(read, base + "/pids.max")),
        networks=_read_networks(read, net_dev),
        block=() if io_stat is None else parse_io_stat(io_stat.decode()),
    )


def _working_set(usage: int | None, inactive_file: int | None) -> int | None:
    """usage - inactive file pages when below usage, like the CLI and cAdvisor."""
    if usage is None:
        return None
    if inactive_file is not None and inactive_file < usage:
        return usage - inactive_file
    return usage


def _read_networks(read: Read, net_dev: str | None) -> tuple[NetworkIO, ...]:
    if net_dev is None:
        return ()
    data = read(net_dev)
    return () if data is None else parse_net_dev(data.decode())


def _read_blkio(read: Read, blkio: str | None) -> tuple[BlockIO, ...]:
    """Prefer the throttle files (filled on blk-mq); fall back to the CFQ ones.

    The `_recursive` throttle variant comes first so that I/O of nested cgroups (systemd
    or Docker inside the container) is counted too.
    """
    if blkio is None:
        return ()
    for sizes_name, ops_name in (
        ("blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive"),
        ("blkio.throttle.io_service_bytes", "blkio.throttle.io_serviced"),
        ("blkio.io_service_bytes_recursive", "blkio.io_serviced_recursive"),
    ):
        sizes = read(f"{blkio}/{sizes_name}")
        if sizes is not None:
            ops = read(f"{blkio}/{ops_name}")
            return parse_blkio_throttle(sizes.decode(), None if ops is None else ops.decode())
    return ()


def _int(read: Read, path: str | None) -> int | None:
    if not path:
        return None
    data = read(path)
    return None if data is None else int_value(data)


def _keyed(read: Read, path: str | None) -> bytes:
    """A flat-keyed file's bytes (b"" when absent); keyed_value picks the keys needed."""
    if not path:
        return b""
    return read(path) or b""


def parse_keyed(text: str) -> dict[str, int]:
    """Parse flat-keyed files (cpu.stat, memory.stat, memory.events, cpuacct.stat, ...).

    Lines whose value is not an integer are skipped.
    """
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def keyed_value(data: bytes, key: bytes) -> int | None:
    """parse_keyed(data)[key] without parsing the other lines (memory.stat has ~70).

    The kernel writes each key once per file, so the last line starting with `key ` is
    the one parse_keyed keeps; a value that is not an integer gives None.
    """
    needle = b"\n" + key + b" "
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


def parse_int(text: str) -> int | None:
    """Parse a single-value file; `max` (unlimited) and junk give None, -1 stays -1."""
    value = text.strip()
    if value == "max":
        return None
    try:
        return int(value)
    except ValueError:
        return None


def int_value(data: bytes) -> int | None:
    """parse_int on bytes: `max` (unlimited) and junk give None, -1 stays -1."""
    try:
        return int(data)  # int() strips the whitespace; b"max" raises
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


def parse_net_dev(text: str) -> tuple[NetworkIO, ...]:
    """Parse /proc/<pid>/net/dev, skipping the two header lines and `lo`.

    Columns after "iface:" are 8 receive counters then 8 transmit counters.
    """
    out = []
    for line in text.splitlines()[2:]:
        name, sep, counters = line.partition(":")
        values = counters.split()
        name = name.strip()
        if not sep or name == "lo" or len(values) < 16:
            continue
        v = [int(x) for x in values[:16]]
        out.append(NetworkIO(name, v[0], v[1], v[2], v[3], v[8], v[9], v[10], v[11]))
    out.sort(key=lambda n: n.interface)
    return tuple(out)


def parse_io_stat(text: str) -> tuple[BlockIO, ...]:
    """Parse v2 io.stat (`MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. ...`) per device."""
    out = []
    for line in text.splitlines():
        device, _, rest = line.partition(" ")
        if not rest:
            continue
        kv = {}
        for item in rest.split():
            key, _, value = item.partition("=")
            kv[key] = value
        out.append(
            BlockIO(
                device=device,
                read_bytes=int(kv.get("rbytes", 0)),
                write_bytes=int(kv.get("wbytes", 0)),
                reads=int(kv.get("rios", 0)),
                writes=int(kv.get("wios", 0)),
            )
        )
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


# --- processes --------------------------------------------------------------------------


def sample(
    layout: CgroupLayout,
    proc_root: Path,
    target: Target,
    *,
    processes: bool,
    users: Mapping[int, str],
) -> Sample | None:
    """One container's stats (and process list when asked), every file opened, read and
    closed: the path CgroupReader replaces. None when the PID no longer belongs to the
    container."""
    paths = _resolve(layout, proc_root, target.pid, target.container_id)
    if paths is None:
        return None
    stats_of = _stats_v2 if layout.version == "2" else _stats_v1
    net_dev = None if target.host_network else f"{proc_root}/{target.pid}/net/dev"
    stats = stats_of(_read_bytes, paths, net_dev)
    if not processes:
        return stats, None
    return stats, read_processes(proc_root, cgroup_pids(paths), users=users)


def passwd_users(proc_root: Path, passwd: Path | None = None) -> dict[int, str]:
    """uid -> name from the host's /etc/passwd (`<proc_root>/../etc/passwd` by default)."""
    text = _read(str(passwd or proc_root.parent / "etc" / "passwd"), check_gone=False)
    return parse_passwd(text) if text is not None else {}


def cgroup_pids(paths: Mapping[str, str | Path]) -> list[int]:
    """PIDs (tgids) in the container's cgroup and its children, from `cgroup.procs`."""
    base = _procs_base(paths)
    if base is None:
        return []
    if _read(base + "/cgroup.procs") is None:
        msg = f"{base}/cgroup.procs is not readable"
        raise CgroupError(msg)
    found: set[int] = set()
    for directory, _, _ in os.walk(base):
        text = _read(directory + "/cgroup.procs", check_gone=False)
        if text is not None:
            found.update(int(x) for x in text.split())
    return sorted(found)


def _procs_base(paths: Mapping[str, str | Path]) -> str | None:
    """The container's own cgroup directory whose cgroup.procs lists its processes.

    pids comes first: on v1 its pids.current is what `list_processes` checks against.
    """
    for key in ("pids", "memory", UNIFIED, "cpu", *sorted(paths)):
        if key in paths:
            return str(paths[key])
    return None


def list_processes(
    proc_root: Path,
    paths: Mapping[str, str],
    pids_current: int | None,
    users: Mapping[int, str],
) -> tuple[ProcessInfo, ...]:
    """read_processes(cgroup_pids(paths)) without walking the cgroup tree in the common case.

    pids.current (read in the same sweep) counts every task, i.e. thread, of the
    container's subtree. When the threads of the processes in its own cgroup.procs add up
    to it, no child cgroup holds a process and the walk (a directory listing per cgroup)
    is skipped. Otherwise (nested cgroups, a process started or exited meanwhile, or no
    pids controller: `pids_current` None) the walk decides, as in cgroup_pids.

    cgroup.procs is opened afresh: on v1 a kept descriptor re-read within a second returns
    the kernel's cached pidlist, which may be stale.
    """
    base = _procs_base(paths)
    if base is None:
        return ()
    data = _read_bytes(base + "/cgroup.procs")
    if data is None:
        msg = f"{base}/cgroup.procs is not readable"
        raise CgroupError(msg)
    own = sorted({int(x) for x in data.split()})
    described, threads = _describe(proc_root, own, users)
    if pids_current is not None and threads == pids_current:
        return tuple(described)
    every = cgroup_pids(paths)
    tried = set(own)
    more, _ = _describe(proc_root, [pid for pid in every if pid not in tried], users)
    by_pid = {p.pid: p for p in (*described, *more)}
    return tuple(by_pid[pid] for pid in every if pid in by_pid)


def read_processes(
    proc_root: Path,
    pids: Iterable[int],
    *,
    passwd: Path | None = None,
    users: Mapping[int, str] | None = None,
) -> tuple[ProcessInfo, ...]:
    """Describe processes like `ps -ef` would; processes that exit meanwhile are skipped.

    User names come from `passwd`, by default `<proc_root>/../etc/passwd` (the host's
    /etc/passwd when the host's / is mounted at `<rootfs>` and /proc at `<rootfs>/proc`).
    """
    names = users if users is not None else passwd_users(proc_root, passwd)
    return tuple(_describe(proc_root, pids, names)[0])


def _describe(
    proc_root: Path, pids: Iterable[int], names: Mapping[int, str]
) -> tuple[list[ProcessInfo], int]:
    """read_processes' work, plus the sum of the described processes' thread counts."""
    out = []
    threads = 0
    for pid in pids:
        base = f"{proc_root}/{pid}"
        stat = _read(base + "/stat", check_gone=False)
        status = _read(base + "/status", check_gone=False)
        cmdline = _read(base + "/cmdline", check_gone=False)
        if stat is None or status is None or cmdline is None:
            continue
        comm, state, ppid, ticks, rss_pages, num_threads = _parse_stat(stat)
        threads += num_threads
        uid = parse_status_uid(status)
        command = cmdline.rstrip("\0").replace("\0", " ") or f"[{comm}]"
        out.append(
            ProcessInfo(
                pid=pid,
                ppid=ppid,
                uid=uid,
                user=names.get(uid),
                command=command,
                cpu_seconds=ticks / CLK_TCK,
                rss_bytes=rss_pages * PAGE_SIZE,
                state=state,
            )
        )
    return out, threads


def parse_proc_stat(text: str) -> tuple[str, str, int, int, int]:
    """Return (comm, state, ppid, utime + stime ticks, rss pages) from /proc/<pid>/stat.

    comm may contain spaces and parentheses, so split at the last ')'.
    """
    return _parse_stat(text)[:5]


def _parse_stat(text: str) -> tuple[str, str, int, int, int, int]:
    """parse_proc_stat's fields plus num_threads (field 20)."""
    head, _, tail = text.rpartition(")")
    comm = head.partition("(")[2]
    fields = tail.split()  # fields[0] is field 3 (state) of proc(5)
    return (
        comm,
        fields[0],
        int(fields[1]),
        int(fields[11]) + int(fields[12]),
        int(fields[21]),
        int(fields[17]),
    )


def parse_status_uid(text: str) -> int:
    """The effective UID (second `Uid:` column), which is what ps shows as USER."""
    for line in text.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[2])
    msg = "no Uid line in /proc/<pid>/status"
    raise ValueError(msg)


def parse_passwd(text: str) -> dict[int, str]:
    """Map uid -> name from passwd(5) text; the first entry of a uid wins."""
    names: dict[int, str] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            names.setdefault(int(fields[2]), fields[0])
    return names


# --- kept-open files ------------------------------------------------------------------------


class CgroupReader:
    """Samples containers through file descriptors kept open from one sweep to the next.

    Opening and closing a cgroupfs or /proc file costs about 5.6 us of kernel time, and the
    first read after an open another 5 us (seq_file allocates its buffer); a pread at
    offset 0 on a kept descriptor regenerates the content for about 1 us. So each
    container's paths are resolved once per (container, init PID), its files stay open,
    and every sweep re-reads them, limits included (`docker update` shows at once).

    A descriptor is bound to the cgroup or process it was opened on, so a reused PID never
    mixes containers up. A container's files are closed when it leaves the sweep's targets
    (`retain`), when its PID changes (restart), and when a read fails because its cgroup
    or process is gone (ENODEV/ESRCH: CgroupGone, as the per-file path raises). A kept
    /proc/<pid>/net/dev pins the container's network namespace (with only `lo` left once
    Docker tears it down) until then, that is, at most one sweep after it stops.

    Each kept file holds a 4 KiB seq_file buffer charged to the exporter's memory cgroup,
    so at most `max_open_files` are kept; files beyond that are opened, read and closed
    per sweep, with the same parsing. 0 keeps none. `fit_open_files` sizes the budget to
    RLIMIT_NOFILE. Thread-safe: a sweep runs in a worker thread while `close` may come
    from another; after `close` every read takes the per-file path and keeps nothing.
    """

    def __init__(
        self, layout: CgroupLayout, proc_root: Path, *, max_open_files: int = DEFAULT_OPEN_FILES
    ) -> None:
        self._layout = layout
        self._proc_root = proc_root
        self._stats_of = _stats_v2 if layout.version == "2" else _stats_v1
        self._budget = _Budget(max(max_open_files, 0))
        self._kept: dict[str, _Kept] = {}
        self._lock = threading.Lock()
        self._closed = False
        # Descriptors are plain ints: close them even if the owner never calls close().
        self._finalizer = weakref.finalize(self, _close_all, self._kept)

    @property
    def open_files(self) -> int:
        """File descriptors held right now."""
        return self._budget.used

    def read(self, target: Target, *, processes: bool, users: Mapping[int, str]) -> Sample | None:
        """`sample()` on kept descriptors: the same result, errors and None."""
        cid = target.container_id
        with self._lock:
            if self._closed:
                return sample(
                    self._layout, self._proc_root, target, processes=processes, users=users
                )
            kept = self._kept.get(cid)
            if kept is not None and (kept.pid, kept.host_network) != (
                target.pid,
                target.host_network,
            ):
                self._kept.pop(cid).close()
                kept = None
            if kept is None:
                paths = _resolve(self._layout, self._proc_root, target.pid, cid)
                if paths is None:
                    return None
                kept = _Kept(self._budget, target, paths, self._proc_root)
                self._kept[cid] = kept
            try:
                stats = self._stats_of(kept.read, kept.paths, kept.net_dev)
                if not processes:
                    return stats, None
                return stats, list_processes(self._proc_root, kept.paths, stats.pids, users)
            except Exception:
                # Gone, unreadable or unexpected: forget it; the next sweep resolves afresh.
                self._kept.pop(cid).close()
                raise

    def retain(self, container_ids: Iterable[str]) -> None:
        """Close the files of every container not in `container_ids` (stopped, removed)."""
        keep = set(container_ids)
        with self._lock:
            for cid in [cid for cid in self._kept if cid not in keep]:
                self._kept.pop(cid).close()

    def close(self) -> None:
        """Close every descriptor; later reads open, read and close each file."""
        with self._lock:
            self._closed = True
            self._finalizer()

    def __enter__(self) -> CgroupReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Budget:
    """How many more descriptors the reader may keep open (shared by its containers)."""

    __slots__ = ("free", "used")

    def __init__(self, limit: int) -> None:
        self.free = limit
        self.used = 0


class _Kept:
    """One container incarnation: its resolved paths and the descriptors kept for it."""

    __slots__ = ("budget", "fds", "host_network", "net_dev", "paths", "pid")

    def __init__(
        self, budget: _Budget, target: Target, paths: dict[str, str], proc_root: Path
    ) -> None:
        self.budget = budget
        self.pid = target.pid
        self.host_network = target.host_network
        self.paths = paths
        self.net_dev = None if target.host_network else f"{proc_root}/{target.pid}/net/dev"
        self.fds: dict[str, int] = {}

    def read(self, path: str) -> bytes | None:
        """pread the kept descriptor; open and keep one while the budget lasts."""
        fd = self.fds.get(path)
        if fd is None:
            if self.budget.free <= 0:
                return _read_bytes(path)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                _raise_if_gone(path)
                return None  # an optional file: looked for again next sweep, like _read
            self.fds[path] = fd
            self.budget.free -= 1
            self.budget.used += 1
        try:
            data = os.pread(fd, _READ_CHUNK, 0)  # seq_file regenerates the file at offset 0
            if len(data) >= _SHORT_READ:  # maybe one seq_file buffer of many: read on
                data = _pread_rest(fd, data)
        except OSError as exc:
            if exc.errno in _GONE_ERRNOS:
                raise CgroupGone(path) from exc
            raise
        return data

    def close(self) -> None:
        """Close the descriptors and give their share of the budget back."""
        for fd in self.fds.values():
            os.close(fd)
        self.budget.free += len(self.fds)
        self.budget.used -= len(self.fds)
        self.fds.clear()


def _close_all(kept: dict[str, _Kept]) -> None:
    """The reader's finalizer: close() and garbage collection both end here, once."""
    for entry in kept.values():
        entry.close()
    kept.clear()


def open_files_budget(wanted: int, soft: int, hard: int) -> tuple[int, int]:
    """Return (budget, soft RLIMIT_NOFILE to set) for keeping `wanted` files open.

    The soft limit is raised towards the hard one (never above) to fit the budget plus
    FD_HEADROOM descriptors for sockets and one-off reads; if it still cannot, the budget
    shrinks to what fits.
    """
    if wanted <= 0:
        return 0, soft

    def finite(limit: int) -> int:
        return sys.maxsize if limit == resource.RLIM_INFINITY else limit

    need = wanted + FD_HEADROOM
    new_soft = soft if finite(soft) >= need else min(need, finite(hard))
    return max(0, min(wanted, finite(new_soft) - FD_HEADROOM)), new_soft


def fit_open_files(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE for `wanted` kept files; return the budget."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    budget, new_soft = open_files_budget(wanted, soft, hard)
    if new_soft != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
            log.debug("stats: soft RLIMIT_NOFILE raised from %d to %d", soft, new_soft)
        except (ValueError, OSError) as exc:
            log.warning("stats: cannot raise RLIMIT_NOFILE to %d: %s", new_soft, exc)
            budget, _ = open_files_budget(wanted, soft, soft)
    if budget < wanted:
        log.warning(
            "stats: keeping at most %d cgroup files open, not %d (RLIMIT_NOFILE %d/%d)",
            budget, wanted, soft, hard,
        )  # fmt: skip
    return budget


# --- I/O helpers ------------------------------------------------------------------------


def _read(path: str, *, check_gone: bool = True) -> str | None:
    """_read_bytes, decoded."""
    data = _read_bytes(path, check_gone=check_gone)
    return None if data is None else data.decode()


def _read_bytes(path: str, *, check_gone: bool = True) -> bytes | None:
    """Open, read whole and close a small file; None if it does not exist.

    With `check_gone`, a missing file whose directory is missing too, or a read failing
    with ENODEV/ESRCH (the cgroup or process was removed under us), raises CgroupGone.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        if check_gone:
            _raise_if_gone(path)
        return None
    try:
        chunks = [os.read(fd, _READ_CHUNK)]
        # A short read is EOF for regular files, and for seq_file ones unless its page
        # buffer filled up (> 2 KiB returned), so only long files pay the extra read.
        if len(chunks[0]) >= _SHORT_READ:
            while chunk := os.read(fd, _READ_CHUNK):
                chunks.append(chunk)
    except OSError as exc:
        if exc.errno in _GONE_ERRNOS:
            raise CgroupGone(path) from exc
        raise
    finally:
        os.close(fd)
    return b"".join(chunks)


def _pread_rest(fd: int, data: bytes) -> bytes:
    """`data` (read at offset 0) and the rest of the file up to EOF, as _read_bytes reads."""
    chunks = [data]
    offset = len(data)
    while chunk := os.pread(fd, _READ_CHUNK, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _raise_if_gone(path: str) -> None:
    """A file missing with its directory means the cgroup or process went away."""
    if not os.path.isdir(os.path.dirname(path)):
        raise CgroupGone(path)

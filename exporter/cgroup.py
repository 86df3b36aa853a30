"""The cgroup fast path: read container stats straight from cgroupfs and /proc (Linux).

On 20.10 a one-shot stats call costs about 1 s of daemon latency per container; these
files cost about 0.2 ms and no daemon work (see docs engine-api §5). Parsers are pure
functions of file text; I/O goes through `_read`, which turns a missing file into None and
a vanished cgroup or process into `CgroupGone`. Everything is synchronous and meant to run
in a worker thread (`asyncio.to_thread(read_many, ...)`), once per sweep.

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
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

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
        return _read_v2(str_paths, net_dev)
    if layout_version == "1":
        return _read_v1(str_paths, net_dev)
    msg = f"unknown cgroup version {layout_version!r}"
    raise ValueError(msg)


def read_many(
    layout: CgroupLayout, proc_root: Path, targets: Iterable[Target]
) -> dict[str, ContainerStats]:
    """Sample many containers in one call (one thread hop per sweep).

    Containers that stopped, whose PID now belongs to someone else, or that the fast path
    cannot serve are left out; the caller treats them as "no sample" or asks the API.
    """
    reader = _read_v2 if layout.version == "2" else _read_v1
    proc = str(proc_root)
    out: dict[str, ContainerStats] = {}
    for target in targets:
        try:
            paths = _resolve(layout, proc_root, target.pid, target.container_id)
            if paths is None:
                continue
            net_dev = None if target.host_network else f"{proc}/{target.pid}/net/dev"
            out[target.container_id] = reader(paths, net_dev)
        except CgroupError:
            continue
    return out


def _read_v1(paths: Mapping[str, str], net_dev: str | None) -> ContainerStats:
    cpuacct, cpu = paths.get("cpuacct"), paths.get("cpu")
    usage_ns = _read_int(cpuacct and cpuacct + "/cpuacct.usage")
    if usage_ns is None:
        msg = f"no cpuacct.usage for cgroup {cpuacct}"
        raise CgroupError(msg)
    ticks = _read_keyed(cpuacct and cpuacct + "/cpuacct.stat")
    cpu_stat = _read_keyed(cpu and cpu + "/cpu.stat")
    throttled_ns = cpu_stat.get("throttled_time")
    quota = _read_int(cpu and cpu + "/cpu.cfs_quota_us")
    period = _read_int(cpu and cpu + "/cpu.cfs_period_us") if quota and quota > 0 else None

    memory = paths.get("memory")
    usage = _read_int(memory and memory + "/memory.usage_in_bytes")
    mstat = _read_keyed(memory and memory + "/memory.stat")
    limit = mstat.get("hierarchical_memory_limit")
    if limit is None:
        limit = _read_int(memory and memory + "/memory.limit_in_bytes")
    swap = mstat.get("total_swap")
    if swap is None and usage is not None:
        memsw = _read_int(memory and memory + "/memory.memsw.usage_in_bytes")
        swap = None if memsw is None else max(memsw - usage, 0)
    oom = _read_keyed(memory and memory + "/memory.oom_control")

    pids = paths.get("pids")
    return ContainerStats(
        cpu_usage_seconds=usage_ns / _NS,
        cpu_user_seconds=ticks.get("user", 0) / CLK_TCK,
        cpu_system_seconds=ticks.get("system", 0) / CLK_TCK,
        cpu_periods=cpu_stat.get("nr_periods"),
        cpu_throttled_periods=cpu_stat.get("nr_throttled"),
        cpu_throttled_seconds=None if throttled_ns is None else throttled_ns / _NS,
        cpu_limit_cores=quota / period if quota and quota > 0 and period else None,
        memory_usage_bytes=usage,
        memory_working_set_bytes=_working_set(usage, mstat.get("total_inactive_file")),
        memory_rss_bytes=mstat.get("total_rss"),
        memory_cache_bytes=mstat.get("total_cache"),
        memory_swap_bytes=swap,
        memory_limit_bytes=limit_or_none(limit),
        memory_failures=_read_int(memory and memory + "/memory.failcnt"),
        oom_kills=oom.get("oom_kill"),
        pids=_read_int(pids and pids + "/pids.current"),
        pids_limit=limit_or_none(_read_int(pids and pids + "/pids.max")),
        networks=_read_networks(net_dev),
        block=_read_blkio(paths.get("blkio")),
    )


def _read_v2(paths: Mapping[str, str], net_dev: str | None) -> ContainerStats:
    base = paths.get(UNIFIED)
    if base is None:
        msg = "no cgroup2 path for this container"
        raise CgroupError(msg)
    cpu = _read_keyed(base + "/cpu.stat")
    if "usage_usec" not in cpu:
        msg = f"no cpu.stat usage_usec in {base}"
        raise CgroupError(msg)
    throttled_us = cpu.get("throttled_usec")
    usage = _read_int(base + "/memory.current")
    mstat = _read_keyed(base + "/memory.stat")
    events = _read_keyed(base + "/memory.events")
    io_stat = _read(base + "/io.stat")
    return ContainerStats(
        cpu_usage_seconds=cpu["usage_usec"] / _US,
        cpu_user_seconds=cpu.get("user_usec", 0) / _US,
        cpu_system_seconds=cpu.get("system_usec", 0) / _US,
        cpu_periods=cpu.get("nr_periods"),
        cpu_throttled_periods=cpu.get("nr_throttled"),
        cpu_throttled_seconds=None if throttled_us is None else throttled_us / _US,
        cpu_limit_cores=parse_cpu_max(_read(base + "/cpu.max")),
        memory_usage_bytes=usage,
        memory_working_set_bytes=_working_set(usage, mstat.get("inactive_file")),
        memory_rss_bytes=mstat.get("anon"),
        memory_cache_bytes=mstat.get("file"),
        memory_swap_bytes=_read_int(base + "/memory.swap.current"),
        memory_limit_bytes=limit_or_none(_read_int(base + "/memory.max")),
        memory_failures=events.get("max"),
        oom_kills=events.get("oom_kill"),
        pids=_read_int(base + "/pids.current"),
        pids_limit=limit_or_none(_read_int(base + "/pids.max")),
        networks=_read_networks(net_dev),
        block=() if io_stat is None else parse_io_stat(io_stat),
    )


def _working_set(usage: int | None, inactive_file: int | None) -> int | None:
    """usage - inactive file pages when below usage, like the CLI and cAdvisor."""
    if usage is None:
        return None
    if inactive_file is not None and inactive_file < usage:
        return usage - inactive_file
    return usage


def _read_networks(net_dev: str | None) -> tuple[NetworkIO, ...]:
    if net_dev is None:
        return ()
    text = _read(net_dev)
    return () if text is None else parse_net_dev(text)


def _read_blkio(blkio: str | None) -> tuple[BlockIO, ...]:
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
        sizes = _read(f"{blkio}/{sizes_name}")
        if sizes is not None:
            return parse_blkio_throttle(sizes, _read(f"{blkio}/{ops_name}"))
    return ()


# --- pure parsers -----------------------------------------------------------------------


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


def parse_int(text: str) -> int | None:
    """Parse a single-value file; `max` (unlimited) and junk give None, -1 stays -1."""
    value = text.strip()
    if value == "max":
        return None
    try:
        return int(value)
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
) -> tuple[ContainerStats, tuple[ProcessInfo, ...] | None] | None:
    """One container's stats (and process list when asked), on plain string paths: the
    sweep's hot loop. None when the PID no longer belongs to the container."""
    paths = _resolve(layout, proc_root, target.pid, target.container_id)
    if paths is None:
        return None
    reader = _read_v2 if layout.version == "2" else _read_v1
    net_dev = None if target.host_network else f"{proc_root}/{target.pid}/net/dev"
    stats = reader(paths, net_dev)
    if not processes:
        return stats, None
    return stats, read_processes(proc_root, cgroup_pids(paths), users=users)


def passwd_users(proc_root: Path, passwd: Path | None = None) -> dict[int, str]:
    """uid -> name from the host's /etc/passwd (`<proc_root>/../etc/passwd` by default)."""
    text = _read(str(passwd or proc_root.parent / "etc" / "passwd"), check_gone=False)
    return parse_passwd(text) if text is not None else {}


def cgroup_pids(paths: Mapping[str, str | Path]) -> list[int]:
    """PIDs (tgids) in the container's cgroup and its children, from `cgroup.procs`."""
    for key in ("pids", "memory", UNIFIED, "cpu", *sorted(paths)):
        if key in paths:
            base = str(paths[key])
            break
    else:
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
    out = []
    for pid in pids:
        base = f"{proc_root}/{pid}"
        stat = _read(base + "/stat", check_gone=False)
        status = _read(base + "/status", check_gone=False)
        cmdline = _read(base + "/cmdline", check_gone=False)
        if stat is None or status is None or cmdline is None:
            continue
        comm, state, ppid, ticks, rss_pages = parse_proc_stat(stat)
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
    return tuple(out)


def parse_proc_stat(text: str) -> tuple[str, str, int, int, int]:
    """Return (comm, state, ppid, utime + stime ticks, rss pages) from /proc/<pid>/stat.

    comm may contain spaces and parentheses, so split at the last ')'.
    """
    head, _, tail = text.rpartition(")")
    comm = head.partition("(")[2]
    fields = tail.split()  # fields[0] is field 3 (state) of proc(5)
    return comm, fields[0], int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[21])


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


# --- I/O helper -------------------------------------------------------------------------


def _read(path: str, *, check_gone: bool = True) -> str | None:
    """Read a whole small file; None if it does not exist.

    With `check_gone`, a missing file whose directory is missing too, or a read failing
    with ENODEV/ESRCH (the cgroup or process was removed under us), raises CgroupGone.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        if check_gone and not os.path.isdir(os.path.dirname(path)):
            raise CgroupGone(path) from None
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
    return b"".join(chunks).decode()


def _read_int(path: str | None) -> int | None:
    if not path:
        return None
    text = _read(path)
    return None if text is None else parse_int(text)


def _read_keyed(path: str | None) -> dict[str, int]:
    if not path:
        return {}
    text = _read(path)
    return {} if text is None else parse_keyed(text)

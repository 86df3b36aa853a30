"""The cgroup fast path: read container stats straight from cgroupfs and /proc (Linux).

On 20.10 a one-shot stats call costs about 1 s of daemon latency per container; these
files cost about 0.2 ms and no daemon work (see docs engine-api §5). Parsers are pure
functions of file bytes (None for a missing file); a vanished cgroup or process is
`CgroupGone`. `sample()` opens, reads and closes each file (`_read_bytes`); `CgroupReader`
keeps them open between sweeps and parses again only what changed (bench/sweep_micro.py
measures both). Everything is synchronous and meant to run in a worker thread, once per
sweep.

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
import operator
import os
import re
import resource
import sys
import threading
import weakref
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from exporter.engine.stats import BlockIO, ContainerStats, NetworkIO, ProcessInfo, limit_or_none

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
_O_READ = os.O_RDONLY | os.O_CLOEXEC
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
    limits: Hashable = None
    """What the Engine says the limits are (inspect HostConfig): when it changes (`docker
    update`, which sends an `update` event), CgroupReader reads the limit files again at
    once instead of at its next recheck (`_V1_DEFERRED`)."""
    throttled_io: bool = False
    """Docker throttles its block I/O (`Limits.block_io_throttled`): its I/O counters are
    read on every sweep (`_V1_QUIET_GATED`)."""


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


# What a sample reads, as (controller, file name) per slot. However the files are read (each
# opened afresh, or kept open), the parser gets their contents as one list in slot order,
# None where a file is absent, then net/dev at `_NET` and, on v1, the blkio pair.
_V1_FILES = (
    ("cpuacct", "cpuacct.usage"),
    ("cpuacct", "cpuacct.stat"),
    ("cpu", "cpu.stat"),
    ("cpu", "cpu.cfs_quota_us"),
    ("memory", "memory.usage_in_bytes"),
    ("memory", "memory.stat"),
    ("memory", "memory.oom_control"),
    ("memory", "memory.failcnt"),
    ("pids", "pids.current"),
    ("pids", "pids.max"),
)
_V1_IF_NEEDED = (
    ("cpu", "cpu.cfs_period_us"),  # with a quota
    ("memory", "memory.limit_in_bytes"),  # without hierarchical_memory_limit
    ("memory", "memory.memsw.usage_in_bytes"),  # without total_swap
)
_PERIOD, _LIMIT, _MEMSW = range(3)
_V2_FILES = tuple(
    (UNIFIED, name)
    for name in (
        "cpu.stat", "memory.current", "memory.stat", "memory.events", "cpu.max",
        "memory.swap.current", "memory.max", "pids.current", "pids.max", "io.stat",
    )
)  # fmt: skip
_NET = 10
_V1_CPU_GATED = (1,)
"""The `_V1_FILES` slots CgroupReader reads again only when the CPU usage moved.

The scheduler charges a task's run time to cpuacct.usage (v2: cpu.stat usage_usec) at
every tick while it runs (the 1 Hz remote tick on a nohz_full CPU), and at each context
switch, fork and exit. So while the usage reads byte for byte the same, no task of the
cgroup or of one below it ran, but for one that started within its last tick and is
still on its CPU: what that one did shows a sweep later, once its time is charged. The
usage is read first and a gated file after it, so a gated value read then holds until
the usage moves. The first read, and every `_REPROBE_READS`-th, reads every file.

Gated: cpuacct.stat. User and system ticks go to the task current on the CPU at a tick
(or at a kernel entry or context switch with VIRT_CPU_ACCOUNTING_GEN), i.e. a running
task; kernels since 2021 scale them to the usage with cputime_adjust, whose state moves
only when the usage does.

Not gated on the CPU usage alone, because they change while no task of the cgroup runs:
  * the usage itself, and cpu.stat: nr_periods can tick a CFS period or two after the
    last run (without a quota it stands still: `_V1_DEFERRED`);
  * memory.usage_in_bytes, memory.stat, memory.memsw.usage_in_bytes: reclaim (kswapd, or
    allocations elsewhere) and swap-out lower the usage, kswapd's aging moves pages to
    the inactive lists (the working set) without changing it, writeback completes
    without the writer, and a swap-in by another process is charged to the page's owner;
  * /proc/<pid>/net/dev: packets arrive while the tasks sleep;
  * every limit file: `docker update` writes them, and no task needs to run
    (`_V1_DEFERRED`);
  * pids.current: a task is uncharged when it is reaped (release_task), in the context
    of its parent. The parent of a `docker exec` process is the containerd shim, outside
    the cgroup, so the count drops after the exited task's last charge. A write to
    cgroup.procs moves a task and its charge in or out without it running. (Measured on
    6.18: an outside parent's late reap, and a sleeping task moved in, each changed
    pids.current with cpuacct.usage unchanged.)
  * memory.failcnt and memory.oom_control (oom_kill): a charge from outside the cgroup
    can fail, and the OOM killer counts a kill in its own context (any task on the host,
    for a global OOM), before it sends SIGKILL; the victim's exit moves the CPU usage
    only once an uninterruptible sleep ends. Both move the memory usage, though
    (`_V1_QUIET_GATED`).
  * the blkio pair: a bio over a throttle limit (`--device-write-bps` and the like) is
    counted, whole or in its split parts depending on the kernel, when the throttle
    dispatches it from its timer and work item, while the submitter sleeps waiting for
    it. (Measured on 6.18: io_serviced of one 4 MiB O_DIRECT write under a 1 MB/s limit
    grew for 5 s while cpuacct.usage stood still.) A loop device's worker also submits
    I/O on the cgroup's behalf. Without a Docker throttle they wait for either usage to
    move (`_V1_QUIET_GATED`).
On v2 nothing is gated: pids.current as above, io.stat moves through writeback by the
kernel's flushers, and memory.events through socket memory charges.
"""
_V1_QUIET_GATED = (6, 7)
_V1_BLKIO = (_NET + 1, _NET + 2)
"""The `_V1_FILES` slots read again only when the CPU usage or memory.usage_in_bytes moved:
memory.oom_control and memory.failcnt, and the blkio pair unless Docker throttles the
container's I/O (`Target.throttled_io`). Like `_V1_CPU_GATED`, read after both usages, and
every file on each full read.

  * memory.failcnt counts failed charges. A failed charge is followed by reclaim in the
    cgroup or by its OOM kill, and a charge that then succeeds adds pages: the usage moves,
    unless reclaim freed exactly what a charge from outside the cgroup (a swap-in by
    another process) then added. A task of the cgroup that charges runs, and its time is
    charged when it sleeps, after the failure was counted.
  * oom_kill (memory.oom_control) is counted for the victim's cgroup when the killer picks
    it. Its SIGKILL and the oom_reaper free its anonymous memory at once, and its exit
    runs it: either moves a usage. A victim with nothing to reap that stays in
    uninterruptible sleep shows at the next recheck. (The OOM alert reads the Engine's
    `oom` event and OOMKilled, not this counter.)
  * the blkio pair: without a throttle, a bio is counted when submitted, by the task that
    submits it (direct I/O, reads, fsync), which runs. On v1, writeback of dirty pages is
    charged to the root cgroup, not to the container's. A throttled bio is counted when
    the throttle dispatches it, while its submitter sleeps: so a container with a Docker
    throttle is read on every sweep. A throttle set on a parent cgroup outside Docker, and
    a loop device's worker submitting for the container, show at the next recheck.
Late, never lost: a counter read stale is read whole at the next move or recheck.
"""

_V1_DEFERRED = (3, 9)
_V2_DEFERRED = (4, 6, 8)
"""The limit slots (v1 cpu.cfs_quota_us, pids.max; v2 cpu.max, memory.max, pids.max),
which CgroupReader reads only on a full read: the first, every `_REPROBE_READS`-th, and
the first after the container's `Target.limits` changed.

Nothing but a write changes them, and the writer is Docker (`docker update`, which sends
the `update` event after which the watcher inspects the container again) or someone
writing the cgroup files behind Docker's back, which shows at the next recheck (a minute
at the default 5 s interval). The memory limit on v1 comes from memory.stat
(hierarchical_memory_limit), which is read on every sweep.

Also deferred, on v1, while the last full read found no CFS quota: cpu.stat
(`_V1_CPU_STAT`). Its counters move only in the cgroup's own bandwidth timer, which does
not run without a quota (do_sched_cfs_period_timer leaves at once while the quota is
RUNTIME_INF), and setting or removing a quota is a limit write, as above.
"""
_V1_CPU_STAT, _V1_QUOTA, _V1_MEMORY_USAGE = 2, 3, 4

_BLKIO_PAIRS = (
    # The `_recursive` throttle variant first, so that I/O of nested cgroups (systemd or
    # Docker inside the container) counts too; throttle files are filled on blk-mq, the
    # CFQ ones are the fallback.
    ("blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive"),
    ("blkio.throttle.io_service_bytes", "blkio.throttle.io_serviced"),
    ("blkio.io_service_bytes_recursive", "blkio.io_serviced_recursive"),
)

IfNeeded: TypeAlias = Callable[[int], bytes | None]
"""Reads `_V1_IF_NEEDED[slot]` for the parser, which asks only when its values call for it."""


def _slot_paths(
    files: Iterable[tuple[str, str]], paths: Mapping[str, str], net_dev: str | None
) -> list[str | None]:
    """The path of each slot (None when its controller is not mounted), net/dev last."""
    return [*(_path_of(file, paths) for file in files), net_dev]


def _path_of(file: tuple[str, str], paths: Mapping[str, str]) -> str | None:
    directory = paths.get(file[0])
    return f"{directory}/{file[1]}" if directory else None


def _stats_v1(read: Read, paths: Mapping[str, str], net_dev: str | None) -> ContainerStats:
    data = [read(path) if path else None for path in _slot_paths(_V1_FILES, paths, net_dev)]
    data += _read_blkio(read, paths.get("blkio"))

    def if_needed(slot: int) -> bytes | None:
        path = _path_of(_V1_IF_NEEDED[slot], paths)
        return read(path) if path else None

    return _parse_v1(data, if_needed, paths.get("cpuacct"))


def _stats_v2(read: Read, paths: Mapping[str, str], net_dev: str | None) -> ContainerStats:
    data = [read(path) if path else None for path in _slot_paths(_V2_FILES, paths, net_dev)]
    return _parse_v2(data, paths.get(UNIFIED))


def _read_blkio(read: Read, blkio: str | None) -> list[bytes | None]:
    """The first pair of `_BLKIO_PAIRS` whose byte counts exist: [sizes, ops or None]."""
    if blkio:
        for sizes_name, ops_name in _BLKIO_PAIRS:
            sizes = read(f"{blkio}/{sizes_name}")
            if sizes is not None:
                return [sizes, read(f"{blkio}/{ops_name}")]
    return [None, None]


def _parse_v1(
    data: Sequence[bytes | None], if_needed: IfNeeded, cpuacct: str | None
) -> ContainerStats:
    """ContainerStats from the `_V1_FILES` slots, net/dev and the blkio pair."""
    usage_ns = _num(data[0])
    if usage_ns is None:
        msg = f"no cpuacct.usage for cgroup {cpuacct}"
        raise CgroupError(msg)
    ticks = data[1] or b""
    cpu_stat = data[2] or b""
    throttled_ns = _kv(cpu_stat, b"\nthrottled_time ")
    quota = _num(data[3])
    period = _num(if_needed(_PERIOD)) if quota and quota > 0 else None
    usage = _num(data[4])
    mstat = data[5] or b""
    limit = _kv(mstat, b"\nhierarchical_memory_limit ")
    if limit is None:
        limit = _num(if_needed(_LIMIT))
    swap = _kv(mstat, b"\ntotal_swap ")
    if swap is None and usage is not None:
        memsw = _num(if_needed(_MEMSW))
        swap = None if memsw is None else max(memsw - usage, 0)
    return ContainerStats(
        cpu_usage_seconds=usage_ns / _NS,
        cpu_user_seconds=(_kv(ticks, b"\nuser ") or 0) / CLK_TCK,
        cpu_system_seconds=(_kv(ticks, b"\nsystem ") or 0) / CLK_TCK,
        cpu_periods=_kv(cpu_stat, b"\nnr_periods "),
        cpu_throttled_periods=_kv(cpu_stat, b"\nnr_throttled "),
        cpu_throttled_seconds=None if throttled_ns is None else throttled_ns / _NS,
        cpu_limit_cores=quota / period if quota and quota > 0 and period else None,
        memory_usage_bytes=usage,
        memory_working_set_bytes=_working_set(usage, _kv(mstat, b"\ntotal_inactive_file ")),
        memory_rss_bytes=_kv(mstat, b"\ntotal_rss "),
        memory_cache_bytes=_kv(mstat, b"\ntotal_cache "),
        memory_swap_bytes=swap,
        memory_limit_bytes=limit_or_none(limit),
        memory_failures=_num(data[7]),
        oom_kills=_kv(data[6] or b"", b"\noom_kill "),
        pids=_num(data[8]),
        pids_limit=limit_or_none(_num(data[9])),
        networks=_networks(data[_NET]),
        block=_blkio(data[_NET + 1], data[_NET + 2]),
    )


def _parse_v2(data: Sequence[bytes | None], base: str | None) -> ContainerStats:
    """ContainerStats from the `_V2_FILES` slots and net/dev."""
    if base is None:
        msg = "no cgroup2 path for this container"
        raise CgroupError(msg)
    cpu = data[0] or b""
    usage_us = _kv(cpu, b"\nusage_usec ")
    if usage_us is None:
        msg = f"no cpu.stat usage_usec in {base}"
        raise CgroupError(msg)
    throttled_us = _kv(cpu, b"\nthrottled_usec ")
    usage = _num(data[1])
    mstat = data[2] or b""
    events = data[3] or b""
    cpu_max, io_stat = data[4], data[9]
    return ContainerStats(
        cpu_usage_seconds=usage_us / _US,
        cpu_user_seconds=(_kv(cpu, b"\nuser_usec ") or 0) / _US,
        cpu_system_seconds=(_kv(cpu, b"\nsystem_usec ") or 0) / _US,
        cpu_periods=_kv(cpu, b"\nnr_periods "),
        cpu_throttled_periods=_kv(cpu, b"\nnr_throttled "),
        cpu_throttled_seconds=None if throttled_us is None else throttled_us / _US,
        cpu_limit_cores=parse_cpu_max(None if cpu_max is None else cpu_max.decode()),
        memory_usage_bytes=usage,
        memory_working_set_bytes=_working_set(usage, _kv(mstat, b"\ninactive_file ")),
        memory_rss_bytes=_kv(mstat, b"\nanon "),
        memory_cache_bytes=_kv(mstat, b"\nfile "),
        memory_swap_bytes=_num(data[5]),
        memory_limit_bytes=limit_or_none(_num(data[6])),
        memory_failures=_kv(events, b"\nmax "),
        oom_kills=_kv(events, b"\noom_kill "),
        pids=_num(data[7]),
        pids_limit=limit_or_none(_num(data[8])),
        networks=_networks(data[_NET]),
        block=() if io_stat is None else parse_io_stat(io_stat.decode()),
    )


def _working_set(usage: int | None, inactive_file: int | None) -> int | None:
    """usage - inactive file pages when below usage, like the CLI and cAdvisor."""
    if usage is None:
        return None
    if inactive_file is not None and inactive_file < usage:
        return usage - inactive_file
    return usage


def _networks(net_dev: bytes | None) -> tuple[NetworkIO, ...]:
    return () if net_dev is None else _net_dev(net_dev)


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


def _num(data: bytes | None) -> int | None:
    """int_value, and None for an absent file (None) too."""
    if data is None or data.startswith(b"max"):  # unlimited: skip the costly ValueError
        return None
    try:
        return int(data)  # int() strips the whitespace
    except ValueError:
        return None


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
    return _kv(data, b"\n" + key + b" ")


def _kv(data: bytes, needle: bytes) -> int | None:
    """keyed_value with its needle (b"\\n" + key + b" ") written once, not built per call."""
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
    return _num(data)


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

    Columns after "iface:" are 8 receive counters then 8 transmit counters; the counters
    used are the first 4 of each (bytes, packets, errs, drop).
    """
    return _net_dev(text.encode())


def _net_dev(data: bytes) -> tuple[NetworkIO, ...]:
    """parse_net_dev on the file's bytes."""
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
    """uid -> name from the host's /etc/passwd (`<proc_root>/../etc/passwd` by default);
    bytes that are not UTF-8 (a latin-1 GECOS, say) show as replacement characters."""
    data = _read_bytes(str(passwd or proc_root.parent / "etc" / "passwd"), check_gone=False)
    return parse_passwd(data.decode(errors="replace")) if data is not None else {}


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

    pids comes first: on v1 its pids.current is what `_Kept.processes` checks against.
    """
    for key in ("pids", "memory", UNIFIED, "cpu", *sorted(paths)):
        if key in paths:
            return str(paths[key])
    return None


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
        try:
            uid = os.stat(base).st_uid
            stat = _read_bytes(base + "/stat", check_gone=False)
            cmdline = _read_bytes(base + "/cmdline", check_gone=False)
        except (FileNotFoundError, CgroupGone):  # it exited (CgroupGone: ESRCH on a read)
            continue
        if stat is not None and cmdline is not None:
            out.append(_process(pid, uid, stat, cmdline, names)[0])
    return tuple(out)


def _process(
    pid: int, uid: int, stat: bytes, cmdline: bytes, names: Mapping[int, str]
) -> tuple[ProcessInfo, int]:
    """One process from its effective UID and /proc/<pid>/{stat,cmdline} bytes, and its
    thread count.

    The UID is the owner of /proc/<pid>: the kernel gives that directory the task's
    effective UID (procps reads it there for `ps`), and a stat costs 1 us where
    /proc/<pid>/status, generated whole for its Uid line, costs 7 us.
    """
    comm, state, ppid, ticks, rss_pages, threads = _parse_stat(stat)
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


def parse_proc_stat(text: str) -> tuple[str, str, int, int, int]:
    """Return (comm, state, ppid, utime + stime ticks, rss pages) from /proc/<pid>/stat.

    comm may contain spaces and parentheses, so split at the last ')'. Raises ValueError
    for text that is not a stat line.
    """
    return _parse_stat(text.encode())[:5]


def _parse_stat(data: bytes) -> tuple[str, str, int, int, int, int]:
    """parse_proc_stat's fields plus num_threads (field 20)."""
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


# --- kept-open files ------------------------------------------------------------------------


class CgroupReader:
    """Samples containers through file descriptors kept open from one sweep to the next.

    Opening and closing a cgroupfs or /proc file costs about 5.6 us of kernel time, and the
    first read after an open another 5 us (seq_file allocates its buffer); a pread at
    offset 0 on a kept descriptor regenerates the content for about 1 us. So each
    container's paths are resolved once per (container, init PID), its files stay open,
    and every sweep re-reads them, but for what cannot change while the container's CPU
    usage stands still: v1 cpuacct.stat (`_V1_CPU_GATED`) and the cgroup.procs of a process
    list (`_Kept.processes`); and the limit files, read when the Engine's limits change
    (`docker update`) and at each recheck (`_V1_DEFERRED`). Its
    processes' /proc/<pid>, stat and cmdline stay open too, until a process leaves the
    container's cgroup.procs or exits (ESRCH: a reused PID is opened afresh).

    A descriptor is bound to the cgroup or process it was opened on, so a reused PID never
    mixes containers up. A container's files are closed when it leaves the sweep's targets
    (`retain`), when its PID changes (restart), and when a read fails because its cgroup
    or process is gone (ENODEV/ESRCH: CgroupGone, as the per-file path raises). A kept
    /proc/<pid>/net/dev pins the container's network namespace (with only `lo` left once
    Docker tears it down) until then, that is, at most one sweep after it stops.

    An optional file that does not exist is not looked for on every sweep: cgroup
    interface files come with the cgroup, so it is looked for again only every
    `_REPROBE_READS` reads (v2 adds a controller's files when a parent enables it later).

    Each kept file (not a directory) holds a 4 KiB seq_file buffer charged to the
    exporter's memory cgroup, so at most `max_open_files` are kept, stats files first
    (processes get what the targets' stats files leave, at most half); files beyond that
    are opened, read and closed per sweep, with the same parsing. 0 keeps none.
    `fit_open_files` sizes the budget to RLIMIT_NOFILE. Thread-safe: a sweep runs in a
    worker thread while `close` may come from another; after `close` every read takes the
    per-file path and keeps nothing.
    """

    def __init__(
        self, layout: CgroupLayout, proc_root: Path, *, max_open_files: int = DEFAULT_OPEN_FILES
    ) -> None:
        self._layout = layout
        self._proc_root = proc_root
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
            if kept is not None and (
                kept.pid != target.pid
                or kept.host_network != target.host_network
                or kept.throttled_io != target.throttled_io
            ):
                self._kept.pop(cid).close()
                kept = None
            if kept is not None and kept.limits is not target.limits:
                if kept.limits != target.limits:
                    kept.reprobe = 0  # read the limit files now
                kept.limits = target.limits  # equal after a re-inspect: compare by identity
            if kept is None:
                paths = _resolve(self._layout, self._proc_root, target.pid, cid)
                if paths is None:
                    return None
                kept = _Kept(self._budget, target, paths, self._layout, str(self._proc_root))
                self._kept[cid] = kept
            try:
                stats = kept.stats()
                return stats, kept.processes(stats.pids, users) if processes else None
            except Exception:
                # Gone, unreadable or unexpected: forget it; the next sweep resolves afresh.
                self._kept.pop(cid).close()
                raise

    def retain(self, container_ids: Iterable[str]) -> None:
        """Close the files of every container not in `container_ids` (stopped, removed).

        Then leave room for the stats files of all of them: process files may use only the
        rest, and those beyond it are closed (the most files a container keeps for its
        stats, times the containers, is the room kept).
        """
        keep = set(container_ids)
        with self._lock:
            for cid in [cid for cid in self._kept if cid not in keep]:
                self._kept.pop(cid).close()
            budget = self._budget
            each = max((len(kept.files) for kept in self._kept.values()), default=0)
            budget.process_cap = max(0, min(budget.limit // 2, budget.limit - each * len(keep)))
            for kept in self._kept.values():
                while kept.procs and budget.process_used > budget.process_cap:
                    kept.drop_process(next(iter(kept.procs)))

    def close(self) -> None:
        """Close every descriptor; later reads open, read and close each file."""
        with self._lock:
            self._closed = True
            self._finalizer()

    def __enter__(self) -> CgroupReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_REPROBE_READS = 12
"""Reads of a kept container between two looks for its absent files (a minute at 5 s)."""

_MISSING = -1
"""Slot marker: the file does not exist (or its controller is not mounted)."""

_UNKEPT = -2
"""Slot marker: no room left in the budget, the file is opened, read and closed."""

_O_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class _Budget:
    """How many more descriptors the reader may keep open (shared by its containers).

    Stats files come first: they are read three times as often as process files, which
    get at most `process_cap` (half the budget, less what `retain` expects the stats files
    of all its targets to need).
    """

    __slots__ = ("free", "limit", "process_cap", "process_used", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.free = limit
        self.used = 0
        self.process_cap = limit // 2
        self.process_used = 0

    def take(self, count: int, *, processes: bool = False) -> None:
        """Count `count` more descriptors as held (fewer when negative: closed)."""
        self.free -= count
        self.used += count
        if processes:
            self.process_used += count

    def room_for_process(self, count: int) -> bool:
        """Whether one process's `count` descriptors may be kept."""
        return count <= self.free and self.process_used + count <= self.process_cap


class _Kept:
    """One container incarnation: its files, the descriptors kept for them and for its
    processes.

    `plan` decides once per slot (see `_V1_FILES`) between a kept descriptor, `_MISSING`
    and `_UNKEPT`, so that a sweep is one pread per descriptor, then the parser.
    """

    __slots__ = (
        "budget", "deferred", "described", "fds", "files", "gate", "gated", "host_network",
        "last_data", "last_stats", "limits", "list_key", "listed", "missing", "needed",
        "paths", "period", "pid", "proc_root", "procs", "procs_base", "quiet", "read_fds",
        "reprobe", "slot_paths", "throttled_io", "unkept", "v2",
    )  # fmt: skip

    def __init__(
        self,
        budget: _Budget,
        target: Target,
        paths: dict[str, str],
        layout: CgroupLayout,
        proc_root: str,
    ) -> None:
        self.budget = budget
        self.pid = target.pid
        self.host_network = target.host_network
        self.limits = target.limits
        self.throttled_io = target.throttled_io
        self.paths = paths
        self.proc_root = proc_root
        self.v2 = layout.version == "2"
        net_dev = None if target.host_network else f"{proc_root}/{target.pid}/net/dev"
        self.slot_paths = _slot_paths(_V2_FILES if self.v2 else _V1_FILES, paths, net_dev)
        if not self.v2:
            self.slot_paths += [None, None]  # the blkio pair, chosen by plan()
        self.files: dict[str, int] = {}  # every kept descriptor by path, slots or not
        self.missing: set[str] = set()
        self.fds: list[int] = []  # per slot: a kept descriptor, _MISSING or _UNKEPT
        self.gated = () if self.v2 else _V1_CPU_GATED
        self.quiet: tuple[int, ...] = ()  # on v1, _V1_QUIET_GATED (and the blkio pair)
        if not self.v2:
            self.quiet = _V1_QUIET_GATED + (() if target.throttled_io else _V1_BLKIO)
        self.deferred: tuple[int, ...] = _V2_DEFERRED if self.v2 else _V1_DEFERRED
        # fds without the gated and deferred slots (_MISSING there):
        self.read_fds: list[int] = []
        self.gate = False  # whether this read may skip gated and deferred slots
        self.unkept = False
        self.reprobe = 0  # reads until plan() looks for missing files again
        self.procs_base = _procs_base(paths)
        self.procs: dict[int, tuple[int, int, int]] = {}  # pid -> /proc/<pid>, stat, cmdline
        # What the last sweep parsed, for files that did not change (an idle container):
        self.last_data: list[bytes | None] = []
        self.needed: list[tuple[int, bytes | None]] = []  # the _V1_IF_NEEDED reads too
        self.period: tuple[bytes | None] | None = None  # cpu.cfs_period_us, last full read
        self.last_stats: ContainerStats | None = None
        self.described: dict[int, tuple[tuple[int, bytes, bytes], ProcessInfo, int]] = {}
        # The CPU usage and pids.current read before the last list read whole, its PIDs:
        self.list_key: tuple[bytes | int | None, int] | None = None
        self.listed: list[int] = []

    def stats(self) -> ContainerStats:
        """The parser's input read through the plan, parsed; the last sweep's stats when
        every file read the same (the parser is a pure function of them).

        The first read, every `_REPROBE_READS`-th, and the first after `Target.limits`
        changed read every file (`gate` False); the others skip `gated` slots while the CPU
        usage reads the same (`_V1_CPU_GATED`), and the `deferred` limit files and the CFS
        period (`_V1_DEFERRED`).
        """
        full = self.reprobe <= 0 or not self.last_data
        if self.reprobe <= 0:
            self.missing.clear()
            self.plan()
            self.reprobe = _REPROBE_READS
            self.list_key = None  # the next process list is read whole too
        elif self.unkept and self.budget.free > 0:
            self.plan()
        self.reprobe -= 1
        self.gate = not full
        data = self.read_slots()
        if (
            data == self.last_data
            and self.last_stats is not None
            and (
                not self.needed
                or all(self.read_if_needed(slot) == value for slot, value in self.needed)
            )
        ):
            return self.last_stats
        self.needed = []
        if self.v2:
            stats = _parse_v2(data, self.paths.get(UNIFIED))
        else:
            stats = _parse_v1(data, self.if_needed, self.paths.get("cpuacct"))
        self.last_data, self.last_stats = data, stats
        return stats

    def plan(self) -> None:
        """Give each slot a descriptor while the budget lasts, or mark it absent or unkept."""
        if not self.v2:
            blkio = self.paths.get("blkio")
            self.slot_paths[_NET + 1 :] = [None, None]
            for sizes, ops in _BLKIO_PAIRS if blkio else ():
                if self.slot(f"{blkio}/{sizes}", probe=True) != _MISSING:
                    self.slot_paths[_NET + 1 :] = [f"{blkio}/{sizes}", f"{blkio}/{ops}"]
                    break
        self.fds = [self.slot(path) for path in self.slot_paths]
        self.skip_in_read_fds()
        self.unkept = _UNKEPT in self.fds

    def skip_in_read_fds(self) -> None:
        """read_fds: fds, but `_MISSING` for the gated and deferred slots (read apart)."""
        self.read_fds = list(self.fds)
        for i in (*self.gated, *self.quiet, *self.deferred):
            self.read_fds[i] = _MISSING

    def slot(self, path: str | None, *, probe: bool = False) -> int:
        """The kept descriptor of `path`, opened now if there is room; or a marker.

        Without room a file is not opened, unless `probe` asks whether it exists.
        """
        if path is None or path in self.missing:
            return _MISSING
        fd = self.files.get(path)
        if fd is not None:
            return fd
        if self.budget.free <= 0 and not probe:
            return _UNKEPT
        try:
            fd = os.open(path, _O_READ)
        except FileNotFoundError:
            _raise_if_gone(path)
            self.missing.add(path)
            return _MISSING
        if self.budget.free <= 0:
            os.close(fd)
            return _UNKEPT
        self.files[path] = fd
        self.budget.take(1)
        return fd

    def read_slots(self) -> list[bytes | None]:
        """Every slot's bytes (None: absent); one pread each when all are kept or absent.

        The CPU usage (slot 0) is read first and the `gated` slots last, from the last read
        when `gate` allows and the usage reads the same as then (`_V1_CPU_GATED`); the
        `quiet` ones when the memory usage does too (`_V1_QUIET_GATED`); the `deferred`
        slots only on a full read (`_V1_DEFERRED`).
        """
        data = self.read_each() if self.unkept else self.read_kept()
        last = self.last_data
        if not self.gate:
            for i in (*self.deferred, *self.gated, *self.quiet):
                data[i] = self.read_slot(i)
            if not self.v2:  # cpu.stat waits for the full reads while there is no quota
                quota = _num(data[_V1_QUOTA])
                cpu_stat = () if quota is not None and quota > 0 else (_V1_CPU_STAT,)
                self.deferred = (*_V1_DEFERRED, *cpu_stat)
                self.skip_in_read_fds()
            return data
        for i in self.deferred:
            data[i] = last[i]
        ran = data[0] != last[0]
        for i in self.gated:
            data[i] = self.read_slot(i) if ran else last[i]
        if self.quiet:
            moved = ran or data[_V1_MEMORY_USAGE] != last[_V1_MEMORY_USAGE]
            for i in self.quiet:
                data[i] = self.read_slot(i) if moved else last[i]
        return data

    def read_kept(self) -> list[bytes | None]:
        """read_slots' first pass when every slot is kept or absent: one pread each."""
        fds = self.read_fds
        pread = os.pread
        try:
            data = [pread(fd, _READ_CHUNK, 0) if fd >= 0 else None for fd in fds]
        except OSError:
            return self.read_each()  # again, to raise CgroupGone naming the file
        if max(map(len, filter(None, data)), default=0) >= _SHORT_READ:
            for i, chunk in enumerate(data):
                if chunk is not None and len(chunk) >= _more_after(i):
                    data[i] = _read_on(fds[i], self.slot_paths[i], 0, chunk)
        return data

    def read_each(self) -> list[bytes | None]:
        """read_kept, one slot at a time, each file read per file when it is not kept."""
        return [None if fd == _MISSING else self.read_slot(i) for i, fd in enumerate(self.read_fds)]

    def read_slot(self, i: int) -> bytes | None:
        """One slot's bytes: pread when kept, opened and read when not, None when absent."""
        fd, path = self.fds[i], self.slot_paths[i]
        if path is None or fd == _MISSING:
            return None
        if fd == _UNKEPT:
            return _read_bytes(path)
        return _read_on(fd, path, _more_after(i))

    def if_needed(self, slot: int) -> bytes | None:
        """The parser's IfNeeded: read_if_needed, remembered with what it read."""
        data = self.read_if_needed(slot)
        self.needed.append((slot, data))
        return data

    def read_if_needed(self, slot: int) -> bytes | None:
        """Read one of `_V1_IF_NEEDED`, kept like the slots once it was needed; the CFS
        period is a limit file, read on full reads only (`_V1_DEFERRED`)."""
        if slot == _PERIOD and self.gate and self.period is not None:
            return self.period[0]
        path = _path_of(_V1_IF_NEEDED[slot], self.paths)
        fd = self.slot(path)
        if path is None or fd == _MISSING:
            data = None
        elif fd == _UNKEPT:
            data = _read_bytes(path)
        else:
            data = _read_on(fd, path, _READ_CHUNK)
        if slot == _PERIOD:
            self.period = (data,)
        return data

    def processes(
        self, pids_current: int | None, users: Mapping[int, str]
    ) -> tuple[ProcessInfo, ...]:
        """read_processes(cgroup_pids(paths)) without walking the cgroup tree in the common
        case, through kept descriptors; without reading cgroup.procs while the container
        did not run.

        pids.current (read in the same sweep) counts every task, i.e. thread, of the
        container's subtree. When the threads of the processes in its own cgroup.procs add
        up to it, no child cgroup holds a process and the walk (a directory listing per
        cgroup) is skipped. Otherwise (nested cgroups, a process started or exited
        meanwhile, or no pids controller: `pids_current` None) the walk decides, as in
        cgroup_pids. Processes that are not listed any more have their files closed.

        cgroup.procs is opened afresh: on v1 a kept descriptor re-read within a second
        returns the kernel's cached pidlist, which may be stale. It is the costliest read
        of a list, and it is skipped, with the walk, while the CPU usage and pids.current
        read the same as before the last list (`list_key`; see `_V1_CPU_GATED` for the
        usage): no process of the subtree could fork, exec or exit (each runs in the task
        and moves the usage; an exit's reap by a parent outside moves pids.current), and
        none was moved in or out through cgroup.procs (that moves pids.current; Docker
        moves a task in every v1 hierarchy at once). The last list's processes are then
        described again, /proc/<pid>/stat, cmdline and owner read as always: RSS shrinks
        under reclaim and swap-out without the process running, and these reads cost
        about half of what a whole list does, so the list stays exact.
        What it misses: one task moved out and another moved in between two lists by
        outside writes, none of them running (pids.current nets to the same count); the
        next list read whole shows it, after the usage moves or the next
        `_REPROBE_READS` recheck. Without a pids controller every list is read whole.
        """
        base = self.procs_base
        if base is None:
            self.forget_processes(set())
            return ()
        usage = self.last_data[0]  # this sweep's, read before
        key = None
        if pids_current is not None:
            key = (_kv(usage, b"\nusage_usec ") if self.v2 and usage else usage, pids_current)
        if key is not None and key == self.list_key:
            described, _ = self.describe(self.listed, users, ran=False)
            if len(described) != len(self.listed):  # one exited after all: read whole next
                self.list_key = None
            return tuple(described)
        described = self.read_list(base, pids_current, users)
        self.list_key, self.listed = key, [p.pid for p in described]
        return tuple(described)

    def read_list(
        self, base: str, pids_current: int | None, users: Mapping[int, str]
    ) -> list[ProcessInfo]:
        """The process list read whole: cgroup.procs, the walk when needed, each process."""
        data = self.cgroup_procs(base)
        if data is None:
            msg = f"{base}/cgroup.procs is not readable"
            raise CgroupError(msg)
        own = sorted({int(x) for x in data.split()})
        described, threads = self.describe(own, users)
        listed = set(own)
        if pids_current is None or threads != pids_current:
            every = cgroup_pids(self.paths)
            more, _ = self.describe([pid for pid in every if pid not in listed], users)
            listed.update(every)
            by_pid = {p.pid: p for p in (*described, *more)}
            described = [by_pid[pid] for pid in every if pid in by_pid]
        self.forget_processes(listed)
        return described

    def cgroup_procs(self, base: str) -> bytes | None:
        """`base`/cgroup.procs, opened afresh, through the directory kept open while there
        is room (a lookup of one name instead of the whole path)."""
        path = base + "/cgroup.procs"
        directory = self.files.get(base)
        if directory is None:
            if self.budget.free <= 0:
                return _read_bytes(path)
            try:
                directory = os.open(base, _O_DIRECTORY)
            except FileNotFoundError as exc:
                raise CgroupGone(base) from exc
            self.files[base] = directory
            self.budget.take(1)
        try:
            fd = os.open("cgroup.procs", _O_READ, dir_fd=directory)
        except FileNotFoundError:
            _raise_if_gone(path)
            return None
        try:
            return _read_on(fd, path, _SHORT_READ)
        finally:
            os.close(fd)

    def describe(
        self, pids: Iterable[int], names: Mapping[int, str], *, ran: bool = True
    ) -> tuple[list[ProcessInfo], int]:
        """read_processes' work, plus the sum of the described processes' thread counts.

        With `ran` False (no task of the container ran since the last list: `processes`),
        a process described before has only its stat read again: its RSS shrinks under
        reclaim, but its owner and cmdline change only when it runs (setuid, exec, or a
        write to its own argv, as setproctitle does).
        """
        out = []
        threads = 0
        described = self.described
        for pid in pids:
            last = described.get(pid)
            if not ran and last is not None:
                files = self.process_stat(pid, last[0])
            else:
                files = self.process_files(pid)
            if files is None:
                continue
            if last is not None and last[0] == files and last[1].user == names.get(files[0]):
                info, count = last[1], last[2]  # unchanged (a sleeping process)
            else:
                info, count = _process(pid, *files, names)
                if pid in self.procs:
                    described[pid] = files, info, count
            out.append(info)
            threads += count
        return out, threads

    def process_files(self, pid: int) -> tuple[int, bytes, bytes] | None:
        """UID, stat and cmdline of `pid`; None when it exited. Kept while there is room.

        The three descriptors are /proc/<pid> and the two files opened through it, so they
        belong to one process even if the PID is reused meanwhile.
        """
        fds = self.procs.get(pid)
        if fds is not None:
            try:
                return _read_process(fds)
            except OSError as exc:
                if exc.errno not in _GONE_ERRNOS:
                    raise
            self.drop_process(pid)  # it exited; the PID may be another process's now
        opened: list[int] = []
        try:
            opened.append(os.open(f"{self.proc_root}/{pid}", _O_DIRECTORY))
            opened.append(os.open("stat", _O_READ, dir_fd=opened[0]))
            opened.append(os.open("cmdline", _O_READ, dir_fd=opened[0]))
            files = _read_process(opened)
        except OSError as exc:
            for fd in opened:
                os.close(fd)
            if isinstance(exc, FileNotFoundError) or exc.errno in _GONE_ERRNOS:
                return None
            raise
        if self.budget.room_for_process(len(opened)):
            self.procs[pid] = (opened[0], opened[1], opened[2])
            self.budget.take(len(opened), processes=True)
        else:
            for fd in opened:
                os.close(fd)
        return files

    def process_stat(
        self, pid: int, last: tuple[int, bytes, bytes]
    ) -> tuple[int, bytes, bytes] | None:
        """process_files with the last owner and cmdline, for a process that did not run."""
        fds = self.procs.get(pid)
        if fds is None:
            return self.process_files(pid)
        try:
            stat = os.pread(fds[1], _READ_CHUNK, 0)
        except OSError as exc:
            if exc.errno not in _GONE_ERRNOS:
                raise
            self.drop_process(pid)
            return self.process_files(pid)  # the PID may be another process's now
        if len(stat) == _READ_CHUNK:
            stat = _pread_rest(fds[1], stat)
        return last[0], stat, last[2]

    def forget_processes(self, listed: set[int]) -> None:
        """Close the files of processes not in `listed` (they left or exited)."""
        for pid in [pid for pid in self.procs if pid not in listed]:
            self.drop_process(pid)

    def drop_process(self, pid: int) -> None:
        """Close one process's descriptors and forget what was parsed from them."""
        self.described.pop(pid, None)
        fds = self.procs.pop(pid)
        for fd in fds:
            os.close(fd)
        self.budget.take(-len(fds), processes=True)

    def close(self) -> None:
        """Close the descriptors and give their share of the budget back."""
        for fd in self.files.values():
            os.close(fd)
        self.budget.take(-len(self.files))
        self.files.clear()
        self.fds = []
        self.unkept = False
        for pid in list(self.procs):
            self.drop_process(pid)


def _more_after(slot: int) -> int:
    """Length of a first read after which a slot's file may have more to read.

    net/dev is a seq_file of one record per interface, which a read returns a page buffer
    at a time. Every other file (cgroup interface files, like single_open ones) is one
    record returned whole, so only a full read may have more.
    """
    return _SHORT_READ if slot == _NET else _READ_CHUNK


def _read_process(fds: Sequence[int]) -> tuple[int, bytes, bytes]:
    """The owner of /proc/<pid> (its fstat, first: it does not fail once the process is
    gone, the preads then do, with ESRCH), stat and cmdline (short reads are EOF)."""
    directory, stat_fd, cmdline_fd = fds
    uid = os.fstat(directory).st_uid
    stat = os.pread(stat_fd, _READ_CHUNK, 0)
    if len(stat) == _READ_CHUNK:
        stat = _pread_rest(stat_fd, stat)
    cmdline = os.pread(cmdline_fd, _READ_CHUNK, 0)
    if len(cmdline) == _READ_CHUNK:
        cmdline = _pread_rest(cmdline_fd, cmdline)
    return uid, stat, cmdline


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
    return None if data is None else data.decode(errors="surrogateescape")


def _read_bytes(path: str, *, check_gone: bool = True) -> bytes | None:
    """Open, read whole and close a small file; None if it does not exist.

    With `check_gone`, a missing file whose directory is missing too, or a read failing
    with ENODEV/ESRCH (the cgroup or process was removed under us), raises CgroupGone.
    """
    try:
        fd = os.open(path, _O_READ)
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


def _read_on(fd: int, path: str | None, more_after: int, first: bytes | None = None) -> bytes:
    """pread a kept file whole: `first` (read at offset 0 already) or a read at 0, and the
    rest when that read was at least `more_after` long. ENODEV/ESRCH raise CgroupGone."""
    try:
        data = os.pread(fd, _READ_CHUNK, 0) if first is None else first
        return data if len(data) < more_after else _pread_rest(fd, data)
    except OSError as exc:
        if exc.errno in _GONE_ERRNOS:
            raise CgroupGone(path) from exc
        raise


def _raise_if_gone(path: str) -> None:
    """A file missing with its directory means the cgroup or process went away."""
    if not os.path.isdir(os.path.dirname(path)):
        raise CgroupGone(path)

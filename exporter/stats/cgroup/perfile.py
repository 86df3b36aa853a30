"""One container sampled with every file opened, read and closed: the path the
kept-descriptor reader replaces (and takes once it is closed); bench/sweep_micro.py
compares the two."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeAlias

from exporter.engine.stats import ContainerStats, ProcessInfo
from exporter.stats.cgroup.fileio import read_bytes
from exporter.stats.cgroup.layout import UNIFIED, CgroupLayout, Target, resolve
from exporter.stats.cgroup.parse import parse_v1, parse_v2
from exporter.stats.cgroup.procs import cgroup_pids, read_processes
from exporter.stats.cgroup.slots import (
    BLKIO_PAIRS,
    V1_EXTRA_FILES,
    V1_FILES,
    V1Extra,
    path_of,
    slot_paths,
    v2_slot_paths,
)

Read: TypeAlias = Callable[[str], bytes | None]
"""Reads one whole file: bytes, None when it does not exist, CgroupGone when it vanished."""

Sample: TypeAlias = tuple[ContainerStats, tuple[ProcessInfo, ...] | None]
"""One container's stats and, when asked, its process list."""


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
    paths = resolve(layout, proc_root, target.pid, target.container_id)
    if paths is None:
        return None
    stats_of = stats_v2 if layout.version == "2" else stats_v1
    net_dev = None if target.host_network else f"{proc_root}/{target.pid}/net/dev"
    stats = stats_of(read_bytes, paths, net_dev)
    if not processes:
        return stats, None
    return stats, read_processes(proc_root, cgroup_pids(paths), users=users)


def stats_v1(read: Read, paths: Mapping[str, str], net_dev: str | None) -> ContainerStats:
    data = [read(path) if path else None for path in slot_paths(V1_FILES, paths, net_dev)]
    data += _read_blkio(read, paths.get("blkio"))

    def if_needed(extra: V1Extra) -> bytes | None:
        path = path_of(V1_EXTRA_FILES[extra], paths)
        return read(path) if path else None

    return parse_v1(data, if_needed, paths.get("cpuacct"))


def stats_v2(read: Read, paths: Mapping[str, str], net_dev: str | None) -> ContainerStats:
    data = [read(path) if path else None for path in v2_slot_paths(paths, net_dev)]
    return parse_v2(data, paths.get(UNIFIED))


def _read_blkio(read: Read, blkio: str | None) -> list[bytes | None]:
    """The first pair of `BLKIO_PAIRS` whose byte counts exist: [sizes, ops or None]."""
    if blkio:
        for sizes_name, ops_name in BLKIO_PAIRS:
            sizes = read(f"{blkio}/{sizes_name}")
            if sizes is not None:
                return [sizes, read(f"{blkio}/{ops_name}")]
    return [None, None]


def host_stats(layout: CgroupLayout, proc_root: Path) -> ContainerStats | None:
    """The root cgroup's stats, read like a container's (each file opened and closed, once
    per sweep), with the network counters of PID 1's namespace: the host as cAdvisor's
    `id="/"` shows it. None where the mounts are not the hierarchy's root (the exporter
    in a container with its own cgroup namespace sees only its own subtree)."""
    mounts = [*layout.v1, *((layout.unified,) if layout.unified is not None else ())]
    if any(m.root != "/" for m in mounts):
        return None
    net_dev = f"{proc_root}/1/net/dev"
    if layout.version == "2":
        if layout.unified is None:
            return None
        return stats_v2(read_bytes, {UNIFIED: str(layout.unified.path)}, net_dev)
    paths: dict[str, str] = {}
    for mount in layout.v1:
        for controller in mount.controllers:
            paths.setdefault(controller, str(mount.path))
    return stats_v1(read_bytes, paths, net_dev)

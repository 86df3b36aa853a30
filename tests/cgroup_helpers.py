"""Text-level wrappers of the cgroup package's byte parsers and per-file readers, for the
tests only: the exporter reads bytes, the fixtures are written as text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from exporter.engine.stats import ContainerStats, NetworkIO
from exporter.stats.cgroup import CgroupError, CgroupLayout, Target
from exporter.stats.cgroup.fileio import read_bytes
from exporter.stats.cgroup.layout import resolve
from exporter.stats.cgroup.parse import kv, num, parse_stat
from exporter.stats.cgroup.parse import parse_net_dev as parse_net_dev_bytes
from exporter.stats.cgroup.perfile import stats_v1, stats_v2


def parse_keyed(text: str) -> dict[str, int]:
    """Every key of a flat-keyed file whose value is an integer (kv's oracle)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def keyed_value(data: bytes, key: bytes) -> int | None:
    return kv(data, b"\n" + key + b" ")


def int_value(data: bytes) -> int | None:
    return num(data)


def parse_int(text: str) -> int | None:
    return num(text.encode())


def parse_net_dev(text: str) -> tuple[NetworkIO, ...]:
    return parse_net_dev_bytes(text.encode())


def parse_proc_stat(text: str) -> tuple[str, str, int, int, int]:
    comm, state, ppid, ticks, rss, _threads = parse_stat(text.encode())
    return comm, state, ppid, ticks, rss


def container_cgroup_paths(
    layout: CgroupLayout, proc_root: Path, pid: int, container_id: str
) -> dict[str, Path] | None:
    paths = resolve(layout, proc_root, pid, container_id)
    return None if paths is None else {k: Path(v) for k, v in paths.items()}


def read_cgroup_stats(
    paths: Mapping[str, Path], layout_version: str, proc_root: Path, pid: int, *,
    host_network: bool,
) -> ContainerStats:  # fmt: skip
    str_paths = {k: str(v) for k, v in paths.items()}
    net_dev = None if host_network else f"{proc_root}/{pid}/net/dev"
    if layout_version == "2":
        return stats_v2(read_bytes, str_paths, net_dev)
    if layout_version == "1":
        return stats_v1(read_bytes, str_paths, net_dev)
    msg = f"unknown cgroup version {layout_version!r}"
    raise ValueError(msg)


def read_many(
    layout: CgroupLayout, proc_root: Path, targets: Iterable[Target]
) -> dict[str, ContainerStats]:
    stats_of = stats_v2 if layout.version == "2" else stats_v1
    out: dict[str, ContainerStats] = {}
    for target in targets:
        try:
            paths = resolve(layout, proc_root, target.pid, target.container_id)
            if paths is None:
                continue
            net_dev = None if target.host_network else f"{proc_root}/{target.pid}/net/dev"
            out[target.container_id] = stats_of(read_bytes, paths, net_dev)
        except CgroupError:
            continue
    return out

"""Where the cgroups are: the host's cgroup mounts from mountinfo, and each container's
cgroup directories from `/proc/<pid>/cgroup` (see docs/cgroup.md, "Paths")."""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

from exporter.stats.cgroup.fileio import CgroupError, read_text

UNIFIED = "unified"
"""Key of the cgroup2 hierarchy in a paths mapping (v2, and the empty one on hybrid)."""

V1_CONTROLLERS = frozenset(
    {
        "blkio", "cpu", "cpuacct", "cpuset", "debug", "devices", "freezer", "hugetlb",
        "memory", "misc", "net_cls", "net_prio", "perf_event", "pids", "rdma",
    }
)  # fmt: skip

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


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
    once instead of at its next recheck (`V1_DEFERRED`)."""
    throttled_io: bool = False
    """Docker throttles its block I/O (`Limits.block_io_throttled`): its I/O counters are
    read on every sweep (`V1_QUIET_GATED`)."""


def discover_layout(proc_root: Path, sys_root: Path) -> CgroupLayout:
    """Read the cgroup mounts from `<proc_root>/self/mountinfo` (docs/cgroup.md, "Paths")."""
    text = read_text(str(proc_root / "self" / "mountinfo"))
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


def resolve(
    layout: CgroupLayout, proc_root: Path, pid: int, container_id: str
) -> dict[str, str] | None:
    if pid <= 0 or not container_id:
        return None
    text = read_text(f"{proc_root}/{pid}/cgroup", check_gone=False)
    return None if text is None else paths_from_proc_cgroup(layout, text, container_id)

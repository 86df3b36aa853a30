"""Process lists, every file opened, read and closed: the cgroup's PIDs from
`cgroup.procs` and each process from /proc, as `ps -ef` shows them."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from exporter.engine.stats import ProcessInfo
from exporter.stats.cgroup.fileio import CgroupError, CgroupGone, read_bytes, read_text
from exporter.stats.cgroup.layout import UNIFIED
from exporter.stats.cgroup.parse import parse_passwd, process


def passwd_users(proc_root: Path, passwd: Path | None = None) -> dict[int, str]:
    """uid -> name from the host's /etc/passwd (`<proc_root>/../etc/passwd` by default);
    bytes that are not UTF-8 (a latin-1 GECOS, say) show as replacement characters."""
    data = read_bytes(str(passwd or proc_root.parent / "etc" / "passwd"), check_gone=False)
    return parse_passwd(data.decode(errors="replace")) if data is not None else {}


def cgroup_pids(paths: Mapping[str, str | Path]) -> list[int]:
    """PIDs (tgids) in the container's cgroup and its children, from `cgroup.procs`."""
    base = procs_base(paths)
    if base is None:
        return []
    if read_text(base + "/cgroup.procs") is None:
        msg = f"{base}/cgroup.procs is not readable"
        raise CgroupError(msg)
    found: set[int] = set()
    for directory, _, _ in os.walk(base):
        text = read_text(directory + "/cgroup.procs", check_gone=False)
        if text is not None:
            found.update(int(x) for x in text.split())
    return sorted(found)


def procs_base(paths: Mapping[str, str | Path]) -> str | None:
    """The container's own cgroup directory whose cgroup.procs lists its processes.

    pids comes first: on v1 its pids.current is what `ProcessFiles.processes` checks against.
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
            stat = read_bytes(base + "/stat", check_gone=False)
            cmdline = read_bytes(base + "/cmdline", check_gone=False)
        except (FileNotFoundError, CgroupGone):  # it exited (CgroupGone: ESRCH on a read)
            continue
        if stat is not None and cmdline is not None:
            out.append(process(pid, uid, stat, cmdline, names)[0])
    return tuple(out)

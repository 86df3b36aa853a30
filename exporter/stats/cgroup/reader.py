"""CgroupReader: containers sampled through descriptors kept open from one sweep to the next.

Each container incarnation keeps its stats files (`statsfiles.StatsFiles`) and its
process files (`procfiles.ProcessFiles`) within one shared descriptor budget. Why each
skipped read is safe is docs/cgroup.md.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable, Iterable, Mapping
from pathlib import Path

from exporter.stats.cgroup.budget import Budget
from exporter.stats.cgroup.layout import CgroupLayout, Target, resolve
from exporter.stats.cgroup.perfile import Sample, sample
from exporter.stats.cgroup.procfiles import ProcessFiles
from exporter.stats.cgroup.rlimit import OPEN_FILES
from exporter.stats.cgroup.statsfiles import StatsFiles


class CgroupReader:
    """Samples containers through file descriptors kept open from one sweep to the next.

    Each container's paths are resolved once per (container, init PID); its files stay
    open and every sweep preads them, but for what cannot have changed since (gated and
    deferred slots, an unchanged process list); see docs/cgroup.md, "Kept descriptors"
    and "Gating". A container's files are closed when it leaves the sweep's targets
    (`retain`), when its PID changes, and when a read fails because its cgroup or process
    is gone. At most `max_open_files` are kept, stats files first (processes get what the
    targets' stats files leave, at most half); the rest are opened, read and closed per
    sweep with the same parsing; 0 keeps none. Thread-safe: a sweep runs in a worker
    thread while `close` may come from another; after `close` every read takes the
    per-file path (`sample`) and keeps nothing.
    """

    def __init__(
        self, layout: CgroupLayout, proc_root: Path, *, max_open_files: int = OPEN_FILES.value
    ) -> None:
        self._layout = layout
        self._proc_root = proc_root
        self._budget = Budget(max(max_open_files, 0))
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
            if kept is not None and not kept.same_incarnation(target):
                self._kept.pop(cid).close()
                kept = None
            if kept is not None and kept.limits is not target.limits:
                if kept.limits != target.limits:
                    kept.stats.recheck()  # read the limit files now
                kept.limits = target.limits  # equal after a re-inspect: compare by identity
            if kept is None:
                paths = resolve(self._layout, self._proc_root, target.pid, cid)
                if paths is None:
                    return None
                kept = _Kept(self._budget, target, paths, self._layout, str(self._proc_root))
                self._kept[cid] = kept
            try:
                stats = kept.stats.read()
                if kept.stats.rechecked:
                    kept.procs.reread()
                if not processes:
                    return stats, None
                return stats, kept.procs.processes(kept.stats.usage, stats.pids, users)
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
            each = max((kept.stats_descriptors for kept in self._kept.values()), default=0)
            budget.process_cap = max(0, min(budget.limit // 2, budget.limit - each * len(keep)))
            for kept in self._kept.values():
                procs = kept.procs
                while procs.procs and budget.process_used > budget.process_cap:
                    procs.drop_process(next(iter(procs.procs)))

    def close(self) -> None:
        """Close every descriptor; later reads open, read and close each file."""
        with self._lock:
            self._closed = True
            self._finalizer()

    def __enter__(self) -> CgroupReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Kept:
    """One container incarnation: what identifies it, its stats and its process files."""

    __slots__ = ("host_network", "limits", "pid", "procs", "stats", "throttled_io")

    def __init__(
        self, budget: Budget, target: Target, paths: dict[str, str], layout: CgroupLayout,
        proc_root: str,
    ) -> None:  # fmt: skip
        self.pid = target.pid
        self.host_network = target.host_network
        self.throttled_io = target.throttled_io
        self.limits: Hashable = target.limits
        v2 = layout.version == "2"
        self.stats = StatsFiles(budget, target, paths, v2, proc_root)
        self.procs = ProcessFiles(budget, paths, v2, proc_root)

    def same_incarnation(self, target: Target) -> bool:
        return (
            self.pid == target.pid
            and self.host_network == target.host_network
            and self.throttled_io == target.throttled_io
        )

    @property
    def stats_descriptors(self) -> int:
        """Descriptors kept for the stats files, with the cgroup directory of cgroup.procs."""
        return len(self.stats.files) + (self.procs.directory is not None)

    def close(self) -> None:
        self.stats.close()
        self.procs.close()


def _close_all(kept: dict[str, _Kept]) -> None:
    """The reader's finalizer: close() and garbage collection both end here, once."""
    for entry in kept.values():
        entry.close()
    kept.clear()

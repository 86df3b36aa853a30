"""One container's process list on kept descriptors: its cgroup.procs through a kept
directory, each process's /proc/<pid>, stat and cmdline, re-read without walking the
cgroup tree while nothing could have changed it (docs/cgroup.md, "Process lists")."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

from exporter.engine.stats import ProcessInfo
from exporter.stats.cgroup.budget import Budget
from exporter.stats.cgroup.fileio import (
    GONE_ERRNOS,
    O_DIRECTORY,
    O_READ,
    READ_CHUNK,
    SHORT_READ,
    CgroupError,
    CgroupGone,
    pread_rest,
    raise_if_gone,
    read_bytes,
    read_on,
)
from exporter.stats.cgroup.parse import kv, process
from exporter.stats.cgroup.procs import cgroup_pids, procs_base

ProcessFds = tuple[int, int, int]
"""A process's kept descriptors: /proc/<pid>, and its stat and cmdline opened through it."""
ProcessBytes = tuple[int, bytes, bytes]
"""What describes a process: its owner's UID, its stat and cmdline bytes."""


class ProcessFiles:
    """The process list of one container incarnation and the descriptors kept for it."""

    __slots__ = (
        "budget", "described", "directory", "list_key", "listed", "paths", "proc_root",
        "procs", "procs_base", "v2",
    )  # fmt: skip

    def __init__(self, budget: Budget, paths: dict[str, str], v2: bool, proc_root: str) -> None:
        self.budget = budget
        self.paths = paths
        self.v2 = v2
        self.proc_root = proc_root
        self.procs_base = procs_base(paths)
        self.directory: int | None = None
        """procs_base, kept open while there is room: cgroup.procs is opened through it."""
        self.procs: dict[int, ProcessFds] = {}
        self.described: dict[int, tuple[ProcessBytes, ProcessInfo, int]] = {}
        """pid -> what its description was made from, the description, its thread count."""
        self.list_key: tuple[bytes | int | None, int] | None = None
        """The CPU usage and pids.current read before the last list read whole."""
        self.listed: list[int] = []
        """That list's PIDs."""

    def reread(self) -> None:
        """Read the next process list whole (a recheck)."""
        self.list_key = None

    def processes(
        self, usage: bytes | None, pids_current: int | None, users: Mapping[int, str]
    ) -> tuple[ProcessInfo, ...]:
        """read_processes(cgroup_pids(paths)) through kept descriptors, without walking
        the cgroup tree when the threads of its own cgroup.procs add up to pids.current,
        and without reading cgroup.procs while the CPU usage (`usage`, this sweep's) and
        pids.current read the same as before the last list read whole: then the last
        list's processes are described again. Why that is exact, and what it can miss
        until the next recheck: docs/cgroup.md, "Process lists".
        """
        base = self.procs_base
        if base is None:
            self.forget_processes(set())
            return ()
        key = None
        if pids_current is not None:
            key = (kv(usage, b"\nusage_usec ") if self.v2 and usage else usage, pids_current)
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
        directory = self.directory
        if directory is None:
            if self.budget.free <= 0:
                return read_bytes(path)
            try:
                directory = os.open(base, O_DIRECTORY)
            except FileNotFoundError as exc:
                raise CgroupGone(base) from exc
            self.directory = directory
            self.budget.take(1)
        try:
            fd = os.open("cgroup.procs", O_READ, dir_fd=directory)
        except FileNotFoundError:
            raise_if_gone(path)
            return None
        try:
            return read_on(fd, path, SHORT_READ)
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
                info, count = process(pid, *files, names)
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
                if exc.errno not in GONE_ERRNOS:
                    raise
            self.drop_process(pid)  # it exited; the PID may be another process's now
        opened: list[int] = []
        try:
            opened.append(os.open(f"{self.proc_root}/{pid}", O_DIRECTORY))
            opened.append(os.open("stat", O_READ, dir_fd=opened[0]))
            opened.append(os.open("cmdline", O_READ, dir_fd=opened[0]))
            files = _read_process(opened)
        except OSError as exc:
            for fd in opened:
                os.close(fd)
            if isinstance(exc, FileNotFoundError) or exc.errno in GONE_ERRNOS:
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
            stat = os.pread(fds[1], READ_CHUNK, 0)
        except OSError as exc:
            if exc.errno not in GONE_ERRNOS:
                raise
            self.drop_process(pid)
            return self.process_files(pid)  # the PID may be another process's now
        if len(stat) == READ_CHUNK:
            stat = pread_rest(fds[1], stat)
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
        if self.directory is not None:
            os.close(self.directory)
            self.directory = None
            self.budget.take(-1)
        for pid in list(self.procs):
            self.drop_process(pid)


def _read_process(fds: Sequence[int]) -> ProcessBytes:
    """The owner of /proc/<pid> (its fstat, first: it does not fail once the process is
    gone, the preads then do, with ESRCH), stat and cmdline (short reads are EOF)."""
    directory, stat_fd, cmdline_fd = fds
    uid = os.fstat(directory).st_uid
    stat = os.pread(stat_fd, READ_CHUNK, 0)
    if len(stat) == READ_CHUNK:
        stat = pread_rest(stat_fd, stat)
    cmdline = os.pread(cmdline_fd, READ_CHUNK, 0)
    if len(cmdline) == READ_CHUNK:
        cmdline = pread_rest(cmdline_fd, cmdline)
    return uid, stat, cmdline

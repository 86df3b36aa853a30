"""One container's stats files on kept descriptors: which slot reads through which
descriptor (`plan`), one pread each per sweep, and the slots that may be skipped between
full reads (docs/cgroup.md, "Gating")."""

from __future__ import annotations

import os

from exporter.engine.stats import ContainerStats
from exporter.stats.cgroup.budget import Budget
from exporter.stats.cgroup.fileio import (
    O_READ,
    PROBED_SUFFIX,
    READ_CHUNK,
    SHORT_READ,
    raise_if_gone,
    read_bytes,
    read_on,
    readable,
)
from exporter.stats.cgroup.layout import UNIFIED, Target
from exporter.stats.cgroup.parse import num, parse_v1, parse_v2
from exporter.stats.cgroup.slots import (
    BLKIO_PAIRS,
    NET,
    USAGE,
    V1,
    V1_BLKIO,
    V1_CPU_GATED,
    V1_DEFERRED,
    V1_EXTRA_FILES,
    V1_FILES,
    V1_QUIET_GATED,
    V2_DEFERRED,
    V1Extra,
    path_of,
    slot_paths,
    v2_slot_paths,
)

REPROBE_READS = 12
"""Reads of a kept container between two looks for its absent files (a minute at 5 s),
and between two full reads of its gated and deferred slots."""

MISSING = -1
"""Slot marker: the file does not exist (or its controller is not mounted)."""

UNKEPT = -2
"""Slot marker: no room left in the budget, the file is opened, read and closed."""

_NET = NET.value
_CFS_PERIOD = V1Extra.CFS_PERIOD
_V1_QUOTA = V1.CFS_QUOTA.value
_V1_CPU_STAT = V1.CPU_STAT.value
_V1_MEMORY_USAGE = V1.MEMORY_USAGE.value
_V1_BLKIO_SIZES = V1.BLKIO_SIZES.value


class StatsFiles:
    """The stats files of one container incarnation and what their last read parsed to.

    `plan` decides once per slot between a kept descriptor, `MISSING` and `UNKEPT`, so
    that a sweep is one pread per descriptor, then the parser.
    """

    __slots__ = (
        "budget", "deferred", "fds", "files", "gate", "gated", "last_data", "last_stats",
        "missing", "needed", "paths", "period", "quiet", "read_fds", "rechecked", "reprobe",
        "slot_paths", "unkept", "v2",
    )  # fmt: skip

    def __init__(
        self, budget: Budget, target: Target, paths: dict[str, str], v2: bool, proc_root: str
    ) -> None:
        self.budget = budget
        self.paths = paths
        self.v2 = v2
        net_dev = None if target.host_network else f"{proc_root}/{target.pid}/net/dev"
        if v2:
            self.slot_paths = v2_slot_paths(paths, net_dev)
        else:
            self.slot_paths = slot_paths(V1_FILES, paths, net_dev)
            self.slot_paths += [None, None]  # the blkio pair, chosen by plan()
        self.files: dict[str, int] = {}
        """Every kept descriptor by path."""
        self.missing: set[str] = set()
        self.fds: list[int] = []
        """Per slot: a kept descriptor, MISSING or UNKEPT."""
        self.gated = () if v2 else V1_CPU_GATED
        self.quiet: tuple[int, ...] = ()
        if not v2:
            self.quiet = V1_QUIET_GATED + (() if target.throttled_io else V1_BLKIO)
        self.deferred: tuple[int, ...] = V2_DEFERRED if v2 else V1_DEFERRED
        self.read_fds: list[int] = []
        """fds, but MISSING for the gated, quiet and deferred slots (read apart)."""
        self.gate = False
        """Whether this read may skip gated and deferred slots."""
        self.unkept = False
        self.reprobe = 0
        """Reads until plan() looks for missing files again, and the next full read."""
        self.rechecked = False
        """Whether the last read was a recheck (every file looked for and read)."""
        self.last_data: list[bytes | None] = []
        """What the last sweep parsed, for files that did not change (an idle container)."""
        self.needed: list[tuple[V1Extra, bytes | None]] = []
        """The V1Extra files the last parse asked for, and what they read."""
        self.period: tuple[bytes | None] | None = None
        """cpu.cfs_period_us at the last full read."""
        self.last_stats: ContainerStats | None = None

    @property
    def usage(self) -> bytes | None:
        """The CPU usage file as this sweep read it."""
        return self.last_data[USAGE]

    def recheck(self) -> None:
        """Read every file at the next read (the Engine's limits changed)."""
        self.reprobe = 0

    def read(self) -> ContainerStats:
        """The parser's input read through the plan, parsed; the last sweep's stats when
        every file read the same (the parser is a pure function of them).

        The first read, every `REPROBE_READS`-th, and the first after `recheck` read every
        file (`gate` False); the others skip `gated` slots while the CPU usage reads the
        same, and the `deferred` limit files and the CFS period.
        """
        full = self.reprobe <= 0 or not self.last_data
        self.rechecked = self.reprobe <= 0
        if self.rechecked:
            self.missing.clear()
            self.plan()
            self.reprobe = REPROBE_READS
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
                or all(self.read_if_needed(extra) == value for extra, value in self.needed)
            )
        ):
            return self.last_stats
        self.needed = []
        if self.v2:
            stats = parse_v2(data, self.paths.get(UNIFIED))
        else:
            stats = parse_v1(data, self.if_needed, self.paths.get("cpuacct"))
        self.last_data, self.last_stats = data, stats
        return stats

    def plan(self) -> None:
        """Give each slot a descriptor while the budget lasts, or mark it absent or unkept."""
        if not self.v2:
            blkio = self.paths.get("blkio")
            self.slot_paths[_V1_BLKIO_SIZES:] = [None, None]
            for sizes, ops in BLKIO_PAIRS if blkio else ():
                if self.slot(f"{blkio}/{sizes}", probe=True) != MISSING:
                    self.slot_paths[_V1_BLKIO_SIZES:] = [f"{blkio}/{sizes}", f"{blkio}/{ops}"]
                    break
        self.fds = [self.slot(path) for path in self.slot_paths]
        self.skip_in_read_fds()
        self.unkept = UNKEPT in self.fds

    def skip_in_read_fds(self) -> None:
        """read_fds: fds, but `MISSING` for the gated and deferred slots (read apart)."""
        self.read_fds = list(self.fds)
        for i in (*self.gated, *self.quiet, *self.deferred):
            self.read_fds[i] = MISSING

    def slot(self, path: str | None, *, probe: bool = False) -> int:
        """The kept descriptor of `path`, opened now if there is room; or a marker.

        Without room a file is not opened, unless `probe` asks whether it exists.
        """
        if path is None or path in self.missing:
            return MISSING
        fd = self.files.get(path)
        if fd is not None:
            return fd
        if self.budget.free <= 0 and not probe:
            return UNKEPT
        try:
            fd = os.open(path, O_READ)
        except FileNotFoundError:
            raise_if_gone(path)
            self.missing.add(path)
            return MISSING
        if path.endswith(PROBED_SUFFIX) and not readable(fd):
            os.close(fd)  # PSI off on an older kernel: the file is there, its read fails
            self.missing.add(path)
            return MISSING
        if self.budget.free <= 0:
            os.close(fd)
            return UNKEPT
        self.files[path] = fd
        self.budget.take(1)
        return fd

    def read_slots(self) -> list[bytes | None]:
        """Every slot's bytes (None: absent); one pread each when all are kept or absent.

        The CPU usage is read first and the `gated` slots last, from the last read when
        `gate` allows and the usage reads the same as then; the `quiet` ones when the
        memory usage does too; the `deferred` slots only on a full read.
        """
        data = self.read_each() if self.unkept else self.read_kept()
        last = self.last_data
        if not self.gate:
            for i in (*self.deferred, *self.gated, *self.quiet):
                data[i] = self.read_slot(i)
            if not self.v2:  # cpu.stat waits for the full reads while there is no quota
                quota = num(data[_V1_QUOTA])
                cpu_stat = () if quota is not None and quota > 0 else (_V1_CPU_STAT,)
                self.deferred = (*V1_DEFERRED, *cpu_stat)
                self.skip_in_read_fds()
            return data
        for i in self.deferred:
            data[i] = last[i]
        ran = data[USAGE] != last[USAGE]
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
            data = [pread(fd, READ_CHUNK, 0) if fd >= 0 else None for fd in fds]
        except OSError:
            return self.read_each()  # again, to raise CgroupGone naming the file
        if max(map(len, filter(None, data)), default=0) >= SHORT_READ:
            for i, chunk in enumerate(data):
                if chunk is not None and len(chunk) >= _more_after(i):
                    data[i] = read_on(fds[i], self.slot_paths[i], 0, chunk)
        return data

    def read_each(self) -> list[bytes | None]:
        """read_kept, one slot at a time, each file read per file when it is not kept."""
        return [None if fd == MISSING else self.read_slot(i) for i, fd in enumerate(self.read_fds)]

    def read_slot(self, i: int) -> bytes | None:
        """One slot's bytes: pread when kept, opened and read when not, None when absent."""
        fd, path = self.fds[i], self.slot_paths[i]
        if path is None or fd == MISSING:
            return None
        if fd == UNKEPT:
            return read_bytes(path)
        return read_on(fd, path, _more_after(i))

    def if_needed(self, extra: V1Extra) -> bytes | None:
        """The parser's IfNeeded: read_if_needed, remembered with what it read."""
        data = self.read_if_needed(extra)
        self.needed.append((extra, data))
        return data

    def read_if_needed(self, extra: V1Extra) -> bytes | None:
        """Read one of `V1_EXTRA_FILES`, kept like the slots once it was needed; the CFS
        period is a limit file, read on full reads only (`V1_DEFERRED`)."""
        period = extra is _CFS_PERIOD
        if period and self.gate and self.period is not None:
            return self.period[0]
        path = path_of(V1_EXTRA_FILES[extra], self.paths)
        fd = self.slot(path)
        if path is None or fd == MISSING:
            data = None
        elif fd == UNKEPT:
            data = read_bytes(path)
        else:
            data = read_on(fd, path, READ_CHUNK)
        if period:
            self.period = (data,)
        return data

    def close(self) -> None:
        """Close the descriptors and give their share of the budget back."""
        for fd in self.files.values():
            os.close(fd)
        self.budget.take(-len(self.files))
        self.files.clear()
        self.fds = []
        self.unkept = False


def _more_after(slot: int) -> int:
    """Length of a first read after which a slot's file may have more to read.

    net/dev is a seq_file of one record per interface, which a read returns a page buffer
    at a time. Every other file (cgroup interface files, like single_open ones) is one
    record returned whole, so only a full read may have more.
    """
    return SHORT_READ if slot == _NET else READ_CHUNK

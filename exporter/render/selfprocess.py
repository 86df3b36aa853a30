"""The exporter's own process_* metrics, as prometheus_client's ProcessCollector writes
them, except for the open-descriptor count. prometheus_client lists /proc/self/fd, and the
cgroup source's kept files (about 13 per container) make that listing cost about 0.9 ms
at 100 containers, ten times the rest of these metrics, on every render. Since Linux 6.2
the size of /proc/self/fd is that count (one stat). Where it is not (older kernels read
0; a --host.proc that is no procfs), the listing is refreshed at most every OPEN_FDS_TTL
seconds."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable

from exporter.collectors.family import Family, MetricSpec

OPEN_FDS_TTL = 15.0

# prometheus_client's names, types and help texts (a test compares them with its
# ProcessCollector's), as our own families: the exporter imports no prometheus_client
# module at run time (1.3 MiB of RSS).
VIRTUAL = MetricSpec("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.")
RESIDENT = MetricSpec("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
START = MetricSpec(
    "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds."
)
CPU = MetricSpec(
    "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."
)
OPEN_FDS = MetricSpec("process_open_fds", "gauge", "Number of open file descriptors.")
MAX_FDS = MetricSpec("process_max_fds", "gauge", "Maximum number of open file descriptors.")


def _one(spec: MetricSpec, value: float) -> Family:
    family = spec.new()
    family.rows.append(((), value))
    return family


class ProcessMetrics:
    """This process's families, computed at each collect."""

    def __init__(
        self, proc: str = "/proc", monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._self = f"{proc}/self"
        self._monotonic = monotonic
        self._ticks = os.sysconf("SC_CLK_TCK")
        self._page = resource.getpagesize()
        self._btime = _boot_time(proc)
        self._fds: tuple[float, int] | None = None
        self._size_counts = _size_counts_fds(f"{self._self}/fd")

    def open_fds(self) -> int:
        if self._size_counts:
            try:
                return os.stat(f"{self._self}/fd").st_size
            except OSError:
                return 0
        now = self._monotonic()
        if self._fds is None or now - self._fds[0] >= OPEN_FDS_TTL:
            self._fds = (now, len(os.listdir(f"{self._self}/fd")))
        return self._fds[1]

    def collect(self) -> list[Family]:
        if self._btime is None:
            return []
        try:
            with open(f"{self._self}/stat", "rb") as stat:
                parts = stat.read().split(b")")[-1].split()
        except OSError:
            return []
        cpu = (float(parts[11]) + float(parts[12])) / self._ticks
        start = float(parts[19]) / self._ticks + self._btime
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return [
            _one(VIRTUAL, float(parts[20])),
            _one(RESIDENT, float(parts[21]) * self._page),
            _one(START, start),
            _one(CPU, cpu),
            _one(OPEN_FDS, self.open_fds()),
            _one(MAX_FDS, float(soft)),
        ]


def _size_counts_fds(fd_dir: str) -> bool:
    """Whether the directory's size is its entry count (procfs since 6.2): checked once
    against a listing, which holds one more descriptor, the directory's own."""
    try:
        size = os.stat(fd_dir).st_size
        listed = len(os.listdir(fd_dir))
    except OSError:
        return False
    return size > 0 and size == listed - 1


def _boot_time(proc: str) -> float | None:
    try:
        with open(f"{proc}/stat", "rb") as stat:
            for line in stat:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None

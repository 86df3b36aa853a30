"""CPU and memory of processes from /proc: the exporter's, the engine's (dockerd,
containerd, shims)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchlib.common import CLK_TCK, DOCKER_PIDFILE, ENGINE_CONTAINERD


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process (all its threads), in clock ticks; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def status_kb(pid: int, key: str) -> int:
    """A `kB` line of /proc/<pid>/status (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    msg = f"no {key} in /proc/{pid}/status"
    raise ValueError(msg)


def engine_pids() -> list[int]:
    """The main engine: dockerd (its pidfile), its containerd, and that containerd's shims."""
    dockerd = int(DOCKER_PIDFILE.read_text().strip())
    pids = [dockerd]
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            comm = Path(entry.path, "comm").read_text().strip()
            if comm == "containerd":
                ppid = int(Path(entry.path, "stat").read_text().rpartition(")")[2].split()[1])
                if ppid == dockerd:
                    pids.append(int(entry.name))
            elif (
                comm.startswith("containerd-shim")
                and ENGINE_CONTAINERD in Path(entry.path, "cmdline").read_bytes()
            ):
                pids.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


class CpuMeter:
    """CPU seconds of a changing set of processes since `start`.

    A process born inside the window counts whole (all its CPU is in the window); one that
    exits inside the window loses its share (short-lived shims of other users, rare).
    """

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self._pids = pids
        self._start: dict[int, int] = {}
        self._t0 = 0.0

    def _read(self) -> dict[int, int]:
        out = {}
        for pid in self._pids():
            ticks = cpu_ticks(pid)
            if ticks is not None:
                out[pid] = ticks
        return out

    def start(self) -> None:
        self._start = self._read()
        self._t0 = time.monotonic()

    def read(self) -> tuple[float, float]:
        """(CPU seconds, wall seconds) since start."""
        now = self._read()
        ticks = sum(max(t - self._start.get(pid, 0), 0) for pid, t in now.items())
        return ticks / CLK_TCK, time.monotonic() - self._t0


def cpu_seconds() -> float:
    """User + system CPU of this process, all threads (the sweep runs in a worker thread)."""
    return time.process_time()


def imports_rss_kb() -> int:
    """VmRSS of a fresh interpreter after importing what the running exporter imports."""
    code = (
        "import exporter.cli.main, exporter.cli.app\n"
        "print([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return int(out.stdout.strip())

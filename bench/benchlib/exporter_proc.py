"""The exporter as a subprocess: start it, scrape /metrics, follow its sweeps, measure a window."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

from benchlib.common import (
    CPU_SERIES,
    ERRORS_METRIC,
    EVENTS_SERIES,
    EXPORTER_BIN,
    FINE_POLL,
    LAST_SAMPLE_METRIC,
    POLL,
    PROMETHEUS_ACCEPT,
    SAMPLES_METRIC,
    SCRAPES,
    SWEEP_METRIC,
    SWEEPS_METRIC,
)
from benchlib.procfs import CpuMeter, engine_pids, status_kb
from benchlib.report import log


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Client:
    """One keep-alive HTTP connection to the exporter; counts the requests it makes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._conn: http.client.HTTPConnection | None = None
        self.requests = 0

    def get(self, path: str = "/metrics", *, gzipped: bool = False) -> tuple[int, bytes]:
        """With Prometheus' Accept header, as every real scrape sends it (OpenMetrics)."""
        headers = {
            "Accept": PROMETHEUS_ACCEPT,
            "Accept-Encoding": "gzip" if gzipped else "identity",
        }
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.requests += 1
                self._conn.request("GET", path, headers=headers)
                response = self._conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def metrics(self) -> str:
        """The exposition, fetched gzipped as Prometheus does."""
        status, body = self.get(gzipped=True)
        if status != 200:
            msg = f"/metrics answered {status}"
            raise RuntimeError(msg)
        return gzip.decompress(body).decode()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


@dataclass(frozen=True, slots=True)
class SweepState:
    """What /metrics says about the latest stats sweep."""

    last_sample_ts: float | None
    sweep_seconds: float | None
    errors: float
    events: float  # engine events the exporter has seen (other users' activity is work too)
    sampled: int  # containers with a CPU series: the latest sweep's samples
    ours: int  # of them, this run's bench containers
    sweeps_total: float  # sweeps since the exporter started
    samples_total: float  # container samples since the exporter started


def sweep_state(text: str, prefix: str) -> SweepState:
    ts = sweep = None
    errors = events = sweeps = samples = 0.0
    sampled = ours = 0
    marker = f'name="{prefix}-'
    for line in text.splitlines():
        if line.startswith(CPU_SERIES):
            sampled += 1
            ours += marker in line
        elif line.startswith(LAST_SAMPLE_METRIC):
            ts = float(line.split()[1])
        elif line.startswith(SWEEP_METRIC):
            sweep = float(line.split()[1])
        elif line.startswith(ERRORS_METRIC):
            errors = float(line.split()[1])
        elif line.startswith(EVENTS_SERIES):
            events += float(line.rpartition(" ")[2])
        elif line.startswith(SWEEPS_METRIC):
            sweeps = float(line.split()[1])
        elif line.startswith(SAMPLES_METRIC):
            samples = float(line.split()[1])
    return SweepState(ts, sweep, errors, events, sampled, ours, sweeps, samples)


@contextlib.contextmanager
def exporter(source: str) -> Iterator[tuple[subprocess.Popen[bytes], Client]]:
    """The exporter on a free port, with `--stats.source`; terminated on exit."""
    port = free_port()
    command = [
        str(EXPORTER_BIN),
        "--web.listen-address",
        f"127.0.0.1:{port}",
        "--log.level",
        "warn",
        "--stats.source",
        source,
    ]
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        client = Client(port)
        try:
            yield proc, client
        finally:
            client.close()
            terminate(proc)
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip().splitlines()[-5:]
            if tail:
                log(f"exporter ({source}) stderr, last lines: " + " | ".join(tail))


def terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL after 15 s."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_ready(proc: subprocess.Popen[bytes], client: Client, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"the exporter exited with {proc.returncode}"
            raise RuntimeError(msg)
        with contextlib.suppress(OSError, http.client.HTTPException):
            if client.get("/-/ready")[0] == 200:
                return
        time.sleep(0.1)
    msg = "the exporter was not ready in time"
    raise RuntimeError(msg)


def next_sweep(
    client: Client, prefix: str, after: float, *, expected: float | None, timeout: float
) -> SweepState:
    """Wait for a sweep that finished after `after` (Unix time), polling finely."""
    if expected is not None:
        time.sleep(max(expected - 0.3 - time.time(), 0.0))
    deadline = time.monotonic() + timeout
    while True:
        state = sweep_state(client.metrics(), prefix)
        if state.last_sample_ts is not None and state.last_sample_ts > after:
            return state
        if time.monotonic() > deadline:
            msg = f"no stats sweep within {timeout:.0f}s"
            raise RuntimeError(msg)
        time.sleep(FINE_POLL)


def wait_covered(client: Client, prefix: str, count: int, timeout: float) -> SweepState:
    """Wait for a sweep that sampled all `count` bench containers."""
    deadline = time.monotonic() + timeout
    after = 0.0
    while True:
        state = next_sweep(client, prefix, after, expected=None, timeout=timeout)
        if state.ours >= count:
            return state
        if time.monotonic() > deadline:
            msg = f"the exporter sampled only {state.ours} of {count} bench containers"
            raise RuntimeError(msg)
        after = state.last_sample_ts or 0.0


@dataclass(slots=True)
class Window:
    """One measurement window of an exporter run, from one sweep's end to another's."""

    seconds: float
    exporter_cpu: float
    engine_cpu: float
    first: SweepState  # the sweep the window starts after
    sweeps: list[SweepState]  # the sweeps seen by the polls, the closing one last
    events: float  # engine events during the window
    engine_processes: int  # dockerd + containerd + shims at the window end
    requests: int
    rss_kb: int
    hwm_kb: int
    anon_kb: int  # of VmRSS: private memory
    file_kb: int  # of VmRSS: file-backed pages (libpython, libcrypto, ... shared with others)

    @property
    def samples(self) -> int:
        """Container samples in the window, from the exporter's counter (exact whatever
        the poll interval)."""
        return int(self.sweeps[-1].samples_total - self.first.samples_total)

    @property
    def sweep_count(self) -> int:
        return int(self.sweeps[-1].sweeps_total - self.first.sweeps_total)


def measure_window(
    proc: subprocess.Popen[bytes],
    client: Client,
    prefix: str,
    window: float,
    *,
    period: float | None,
    timeout: float,
) -> Window:
    """Exporter and engine CPU over >= `window` s that start and end right after a sweep.

    `period` (the sweep period when known: the interval for the cgroup source) lets the
    boundary polls start just before the sweep is due instead of polling all along.
    """
    current = sweep_state(client.metrics(), prefix)
    after = current.last_sample_ts or 0.0
    first = next_sweep(
        client, prefix, after, expected=after + period if period else None, timeout=timeout
    )
    exporter_meter, engine_meter = CpuMeter(lambda: [proc.pid]), CpuMeter(engine_pids)
    exporter_meter.start()
    engine_meter.start()
    requests0 = client.requests
    t0 = time.monotonic()
    sweeps: list[SweepState] = []
    last = first
    while time.monotonic() - t0 < window:
        time.sleep(POLL)
        state = sweep_state(client.metrics(), prefix)
        if state.last_sample_ts is not None and state.last_sample_ts > (last.last_sample_ts or 0):
            sweeps.append(state)
            last = state
    ts = last.last_sample_ts or 0.0
    sweeps.append(
        next_sweep(client, prefix, ts, expected=ts + period if period else None, timeout=timeout)
    )
    exporter_cpu, seconds = exporter_meter.read()
    engine_cpu, _ = engine_meter.read()
    return Window(
        seconds=seconds,
        exporter_cpu=exporter_cpu,
        engine_cpu=engine_cpu,
        first=first,
        sweeps=sweeps,
        events=sweeps[-1].events - first.events,
        engine_processes=len(engine_pids()),
        requests=client.requests - requests0,
        rss_kb=status_kb(proc.pid, "VmRSS"),
        hwm_kb=status_kb(proc.pid, "VmHWM"),
        anon_kb=status_kb(proc.pid, "RssAnon"),
        file_kb=status_kb(proc.pid, "RssFile"),
    )


def scrape_latency(port: int, *, gzipped: bool) -> tuple[list[float], int]:
    """SCRAPES sequential GETs of /metrics on a fresh keep-alive connection; (ms, body bytes)."""
    client = Client(port)
    times = []
    size = 0
    try:
        for _ in range(SCRAPES):
            start = time.perf_counter()
            status, body = client.get(gzipped=gzipped)
            times.append((time.perf_counter() - start) * 1000)
            if status != 200:
                msg = f"/metrics answered {status}"
                raise RuntimeError(msg)
            size = len(body)
    finally:
        client.close()
    return times, size

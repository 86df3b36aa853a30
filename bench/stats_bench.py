"""Cost of container stats: our cgroup sweep against `docker stats` and the Docker stats API.

Issue 3's proof. Everything printed is measured in the same run, and every ratio is taken
against baselines measured in that run.

Live part (N busybox containers on the local engine, default 100):
  * engine baseline: CPU of dockerd, its containerd and the containerd shims over a window
    with no exporter running;
  * the exporter as a subprocess (cgroup source, default 5 s interval) over the same window
    length: its own CPU, the engine CPU it induces (window minus baseline), RSS and peak RSS,
    the sweep duration it reports, and CPU per container-sample;
  * scrape latency: 300 sequential GETs of /metrics over one keep-alive connection, plain
    and gzip;
  * baselines: `docker stats --no-stream` wall time, and a Docker stats API sweep of the same
    containers (concurrency N and 8), next to an in-process cgroup sweep of the same targets;
  * the exporter again with `--stats.source api`: what every Docker-API exporter pays.

Simulated part (a synthetic cgroup v2 tree and fake /proc in a temp dir, and a fake engine:
an Inventory of N containers parsed from a recorded inspect payload). For 100 and each N of
`--simulate`, in a fresh interpreter: the sweep time, the render time and body size, the
bytes the snapshot retains (tracemalloc) and the RSS delta, per container, to show that
they grow linearly.

Why: the Engine's stats API costs about 1 s of daemon latency per container on 20.10 and
real daemon CPU (engine-api reference §2.2); cgroup files cost neither (§5.4). This script
puts numbers on both sides on this machine. docs/performance.md records its figures and
explains each one.

Usage: .venv/bin/python bench/stats_bench.py [--containers 100] [--window 60]
       [--api-window 30] [--simulate 1000,10000] [--sim-dir DIR] [--skip-live]
       [--skip-simulate]
Needs root, the local engine and the image busybox:local. Containers are named
bench-stats-<random>-<i> and are always removed (also on Ctrl-C). Exit status is non-zero
only on errors, never on a missed target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import gzip
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from exporter.clock import SystemClock
from exporter.collectors import COLLECTORS, Options
from exporter.engine.adapter import DockerEngine, EngineConfig
from exporter.engine.models import Container, parse_container, parse_engine
from exporter.inventory.store import Inventory, SamplerStatus, WatcherStatus
from exporter.inventory.watcher import FULL_RESYNC_EVERY, QUIET_EVENTS, Watcher
from exporter.render.exposition import Exposition
from exporter.render.formats import OPENMETRICS
from exporter.stats.cgroup import Target, discover_layout
from exporter.stats.sampler import PROCESSES_INTERVAL, ApiSource, CgroupSource, Sweep, targets

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
EXPORTER_BIN = ROOT / ".venv" / "bin" / "docker-exporter"
FIXTURES = ROOT / "tests" / "fixtures" / "engine"
IMAGE = "busybox:local"
CLK_TCK = os.sysconf("SC_CLK_TCK")
DOCKER_PIDFILE = Path("/var/run/docker.pid")
ENGINE_CONTAINERD = b"/var/run/docker/containerd/containerd.sock"
"""The shims of the main engine name its containerd socket on their command line."""

INTERVAL = 5.0  # the exporter's default --stats.interval
RESYNC_INTERVAL = 60.0  # the exporter's default --inventory.resync-interval
SCRAPES = 300
POLL = 15.0  # seconds between /metrics polls inside a window: a common Prometheus interval
FINE_POLL = 0.1  # near a window boundary, to start and end the window on a sweep
START_WORKERS = 8
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
"""What Prometheus 2.x sends on every scrape: the path production takes."""
CPU_SERIES = "docker_container_cpu_usage_seconds_total{"
SWEEP_METRIC = "docker_exporter_stats_sweep_duration_seconds "
LAST_SAMPLE_METRIC = "docker_exporter_stats_last_sample_timestamp_seconds "
ERRORS_METRIC = "docker_exporter_stats_errors_total "
SWEEPS_METRIC = "docker_exporter_stats_sweeps_total "
SAMPLES_METRIC = "docker_exporter_stats_samples_total "
EVENTS_SERIES = "docker_events_total{"

TARGET_SPEEDUP = 20.0
TARGET_SCRAPE_P50_MS = 5.0
TARGET_CPU_PER_SAMPLE_MS = 0.1
TARGET_RSS_MB = 45.0
TARGET_AT = 100  # the targets are stated for 100 containers
LINEAR_TOLERANCE = 1.5
"""Growth counts as linear when the per-container cost at the largest N stays within this
factor of the per-container cost at the smallest N of --simulate."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def quantile(values: Sequence[float], q: int) -> float:
    """The q-th percentile (1..99) by the exclusive method, like kill_latency.py."""
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def timed(awaitable: Awaitable[T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = await awaitable
    return time.perf_counter() - start, result


# --- processes: CPU and memory from /proc ----------------------------------------------


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


# --- containers --------------------------------------------------------------------------


def docker(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False, timeout=timeout
    )
    if result.returncode != 0:
        msg = f"docker {' '.join(args[:3])} ... failed: {result.stderr.strip()}"
        raise RuntimeError(msg)
    return result.stdout.strip()


def dockerd_pid() -> int:
    return int(DOCKER_PIDFILE.read_text().strip())


def choose_network(prefix: str, label: str) -> str:
    """The default bridge; a bridge of our own when docker0 is unusable (seen on this shared
    machine while other tests manipulated it)."""
    probe = f"{prefix}-probe"
    try:
        docker("run", "-d", "--name", probe, "--label", label, IMAGE, "sleep", "1")
    except RuntimeError as exc:
        if "docker0" not in str(exc):
            raise
        log(f"default bridge unusable ({exc}); using a user-defined bridge {prefix}-net")
        docker("network", "create", "--label", label, f"{prefix}-net")
        return f"{prefix}-net"
    finally:
        subprocess.run(["docker", "rm", "-f", probe], capture_output=True, check=False)
    return "bridge"


def start_containers(prefix: str, label: str, count: int, network: str) -> float:
    """`docker run -d` N sleepers on `network`, START_WORKERS at a time."""

    def one(i: int) -> None:
        docker(
            "run", "-d", "--name", f"{prefix}-{i}", "--label", label, "--network", network,
            IMAGE, "sleep", "3600",
        )  # fmt: skip

    start = time.perf_counter()
    with ThreadPoolExecutor(START_WORKERS) as pool:
        list(pool.map(one, range(count)))
    return time.perf_counter() - start


def remove_containers(prefix: str, label: str) -> None:
    """Remove every container of this run, by label and by name prefix (best effort)."""
    ids = set()
    for flt in (f"label={label}", f"name={prefix}-"):
        result = subprocess.run(
            ["docker", "ps", "-aq", "--filter", flt],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        ids.update(result.stdout.split())
    batches = [sorted(ids)[i : i + 50] for i in range(0, len(ids), 50)]

    def rm(batch: list[str]) -> None:
        subprocess.run(["docker", "rm", "-f", *batch], capture_output=True, check=False)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(rm, batches))
    networks = subprocess.run(
        ["docker", "network", "ls", "-q", "--filter", f"label={label}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    ).stdout.split()
    if networks:
        subprocess.run(["docker", "network", "rm", *networks], capture_output=True, check=False)
    log(f"removed {len(ids)} bench containers and {len(networks)} bench networks")


# --- the exporter subprocess and its /metrics -------------------------------------------


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


# --- in-process baselines -----------------------------------------------------------------


@dataclass(slots=True)
class InProcess:
    """Sweeps of the same targets, in this process: ours and the stats API's."""

    targets: int
    cgroup_procs: list[float]  # with process lists (every 15 s in the exporter)
    cgroup_stats: list[float]  # stats only
    cpu_procs: float  # median CPU seconds (user + sys, all threads) of a sweep with processes
    cpu_stats: float  # median CPU seconds of a stats-only sweep
    cpu_render: float  # median CPU seconds of one full render of the snapshot with stats
    cpu_render_sweep: float  # median CPU seconds of a render after a stats-only publication
    engine_light: float  # engine CPU seconds per light resync pass on a quiet engine
    engine_listing: float  # the same pass after QUIET_EVENTS events: it lists containers
    engine_full: float  # engine CPU seconds per full resync pass (every FULL_RESYNC_EVERY-th)
    body: int
    api_all: float
    api_all_samples: int
    api_all_errors: int
    api_8: float
    api_8_samples: int
    api_8_errors: int


async def sweeps(
    source: CgroupSource, wanted: Sequence[Target], count: int | None = None, reps: int = 5
) -> tuple[list[float], list[float], Sweep]:
    """Wall and CPU seconds of `reps` warm sweeps (after one discarded), and the last sweep.

    The discarded first sweep also reads every process list; after it, a default source
    sweeps stats only (process lists are due again in 15 s), while a source built with
    `processes_interval=0` reads them on every sweep. `count` checks completeness.
    """
    await source.sample(wanted, None)
    walls, cpus = [], []
    for _ in range(reps):
        cpu0 = cpu_seconds()
        seconds, sweep = await timed(source.sample(wanted, None))
        cpus.append(cpu_seconds() - cpu0)
        walls.append(seconds)
        if count is not None:
            _checked(sweep, count)
    return walls, cpus, sweep


async def inprocess_sweeps() -> InProcess:
    engine = DockerEngine(EngineConfig())
    try:
        inventory = Inventory()
        clock = SystemClock()
        await Watcher(engine, inventory, clock).resync()
        snapshot = inventory.snapshot
        wanted = targets(snapshot)
        info = snapshot.engine
        layout = discover_layout(Path("/proc"), Path("/sys"))
        source = CgroupSource(layout, Path("/proc"), clock)
        stats_only, cpu_stats, sweep = await sweeps(source, wanted)
        every = CgroupSource(layout, Path("/proc"), clock, processes_interval=0.0)
        with_procs, cpu_procs, _ = await sweeps(every, wanted)
        inventory.publish(stats=dict(sweep.stats), sampler=SamplerStatus("cgroup", INTERVAL))
        cpu_render, cpu_render_sweep, body = render_cpu(inventory, dict(sweep.stats))
        log("engine CPU of resync passes, replayed in-process")
        engine_light = await resync_engine_cpu(engine, full=False, reps=20, streaming=True)
        engine_listing = await resync_engine_cpu(engine, full=False, reps=20)
        engine_full = await resync_engine_cpu(engine, full=True, reps=5)
        log(f"stats API sweep of {len(wanted)} containers, concurrency {len(wanted)}")
        api_all, all_sweep = await timed(ApiSource(engine, len(wanted)).sample(wanted, info))
        log(f"stats API sweep of {len(wanted)} containers, concurrency 8")
        api_8, sweep_8 = await timed(ApiSource(engine, 8).sample(wanted, info))
    finally:
        await engine.close()
    return InProcess(
        targets=len(wanted),
        cgroup_procs=with_procs,
        cgroup_stats=stats_only,
        api_all=api_all,
        api_all_samples=len(all_sweep.stats),
        api_all_errors=all_sweep.errors,
        api_8=api_8,
        api_8_samples=len(sweep_8.stats),
        api_8_errors=sweep_8.errors,
        cpu_procs=median(cpu_procs),
        cpu_stats=median(cpu_stats),
        cpu_render=cpu_render,
        cpu_render_sweep=cpu_render_sweep,
        engine_light=engine_light,
        engine_listing=engine_listing,
        engine_full=engine_full,
        body=body,
    )


def cpu_seconds() -> float:
    """User + system CPU of this process, all threads (the sweep runs in a worker thread)."""
    return time.process_time()


def render_cpu(inventory: Inventory, stats: dict[str, Any]) -> tuple[float, float, int]:
    """Median CPU of a full render and of the render that follows a stats sweep.

    Full: a fresh Exposition each time (no collector output to reuse). After a sweep: the
    exporter's case, where only the stats collector's inputs changed, with every sample a
    new object (`busy`: every container's counters moved, the costly case; the sampler
    gives back the same object for a container whose files all read the same). Three of
    each; and the body size.
    """
    full, incremental = [], []
    size = 0
    for _ in range(3):
        snapshot = inventory.publish()
        cpu0 = cpu_seconds()
        size = len(default_exposition().render(snapshot, OPENMETRICS).data)
        full.append(cpu_seconds() - cpu0)
    exposition = default_exposition()
    exposition.render(inventory.publish(), OPENMETRICS)
    for i in range(3):
        snapshot = inventory.publish(stats=busy(stats, i))
        cpu0 = cpu_seconds()
        exposition.render(snapshot, OPENMETRICS)
        incremental.append(cpu_seconds() - cpu0)
    return median(full), median(incremental), size


def busy(stats: dict[str, Any], step: int) -> dict[str, Any]:
    """`stats` as after a sweep in which every container ran: each sample a new object,
    its CPU usage moved."""
    return {
        cid: dataclasses.replace(s, cpu_usage_seconds=s.cpu_usage_seconds + step + 1)
        for cid, s in stats.items()
    }


async def resync_engine_cpu(
    engine: DockerEngine, *, full: bool, reps: int, streaming: bool = False
) -> float:
    """Engine CPU seconds per resync pass: the exporter's only Engine traffic on a quiet
    host with the cgroup source, replayed `reps` times so that it stands out of the
    engine's own noise (which a 60 s window difference cannot resolve).

    With `streaming`, the watcher runs as in the exporter (its event stream up, the
    periodic pass not due), so a light pass on a quiet engine lists no containers
    (`QUIET_EVENTS`); without, every light pass lists them, as after a burst of events.
    """
    inventory = Inventory()
    watcher = Watcher(engine, inventory, SystemClock(), resync_interval=3600.0)
    running = asyncio.create_task(watcher.run()) if streaming else None
    if running is None:
        await watcher.resync()  # warm: every image and network inspected, like the exporter
    while not inventory.snapshot.status.synced or (
        running is not None and not inventory.snapshot.status.stream_up
    ):
        await asyncio.sleep(0.05)
    await asyncio.sleep(1)
    meter = CpuMeter(engine_pids)
    meter.start()
    for _ in range(reps):
        await watcher.resync(full=full)
    busy, wall = meter.read()
    if running is not None:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    idle = CpuMeter(engine_pids)
    idle.start()
    time.sleep(min(wall, 10.0))
    idle_cpu, idle_wall = idle.read()
    return max(busy - idle_cpu / idle_wall * wall, 0.0) / reps


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


def docker_stats_wall() -> tuple[float, int]:
    """Wall time of `docker stats --no-stream` and the number of containers it listed."""
    start = time.perf_counter()
    out = docker("stats", "--no-stream", timeout=900)
    return time.perf_counter() - start, max(len(out.splitlines()) - 1, 0)


# --- the live run --------------------------------------------------------------------------


@dataclass(slots=True)
class Live:
    containers: int
    network: str = "bridge"
    start_seconds: float = 0.0
    baseline: tuple[float, float] = (0.0, 0.0)  # engine CPU s, wall s
    baseline_halves: tuple[float, float] = (0.0, 0.0)  # engine CPU rate of each half, CPU s/s
    baseline_after: tuple[float, float] = (0.0, 0.0)  # the same, right after the cgroup window
    cgroup: Window | None = None
    api: Window | None = None
    scrape_plain: list[float] = field(default_factory=list)
    scrape_gzip: list[float] = field(default_factory=list)
    body_plain: int = 0
    body_gzip: int = 0
    docker_stats: list[float] = field(default_factory=list)
    docker_stats_listed: int = 0
    inprocess: InProcess | None = None
    imports_kb: int = 0  # VmRSS of an interpreter that only imported the exporter

    @property
    def baseline_rate(self) -> float:
        """Engine CPU rate without exporter: the mean of the windows before and after."""
        cpu = self.baseline[0] + self.baseline_after[0]
        return cpu / (self.baseline[1] + self.baseline_after[1])

    def modelled_induced(self, window: Window) -> float:
        """Engine CPU the cgroup exporter causes in `window`, from the replayed resync
        passes: one every RESYNC_INTERVAL, full every FULL_RESYNC_EVERY-th; the light ones
        list containers when the window saw QUIET_EVENTS events or more per pass."""
        if self.inprocess is None:
            return 0.0
        passes = max(window.seconds / RESYNC_INTERVAL, 1.0)
        light = self.inprocess.engine_light
        if window.events / passes >= QUIET_EVENTS:
            light = self.inprocess.engine_listing
        per_pass = (light * (FULL_RESYNC_EVERY - 1) + self.inprocess.engine_full) / (
            FULL_RESYNC_EVERY
        )
        return per_pass * window.seconds / RESYNC_INTERVAL

    def per_sample_modelled_ms(self, window: Window) -> float:
        return (window.exporter_cpu + self.modelled_induced(window)) / window.samples * 1000

    def induced(self, window: Window) -> float:
        return window.engine_cpu - self.baseline_rate * window.seconds

    def per_sample_ms(self, window: Window) -> float:
        return (window.exporter_cpu + max(self.induced(window), 0.0)) / window.samples * 1000


def engine_baseline(live: Live, window: float, *, after: bool = False) -> None:
    meter = CpuMeter(engine_pids)
    meter.start()
    time.sleep(window / 2)
    half_cpu, half_wall = meter.read()
    time.sleep(window / 2)
    cpu, wall = meter.read()
    if after:
        live.baseline_after = (cpu, wall)
        return
    live.baseline = (cpu, wall)
    live.baseline_halves = (half_cpu / half_wall, (cpu - half_cpu) / (wall - half_wall))


def run_live(count: int, window: float, api_window: float) -> Live:
    run = uuid.uuid4().hex[:6]
    prefix, label = f"bench-stats-{run}", f"bench-stats={run}"
    live = Live(count)
    engine = dockerd_pid()

    def same_engine() -> None:
        if dockerd_pid() != engine:
            msg = "dockerd restarted during the run (someone else's test?): figures are void"
            raise RuntimeError(msg)

    try:
        live.network = choose_network(prefix, label)
        log(f"starting {count} containers {prefix}-* on network {live.network}")
        live.start_seconds = start_containers(prefix, label, count, live.network)
        time.sleep(30)  # let the engine settle after the starts (IPv6, shims)
        log(f"engine baseline, {window:.0f}s without exporter")
        engine_baseline(live, window)
        same_engine()
        with exporter("cgroup") as (proc, client):
            wait_ready(proc, client)
            wait_covered(client, prefix, count, timeout=120)
            log(f"exporter (cgroup source) window, >= {window:.0f}s")
            live.cgroup = measure_window(proc, client, prefix, window, period=INTERVAL, timeout=120)
            log(f"scrape latency, {SCRAPES} GETs plain and gzip")
            live.scrape_plain, live.body_plain = scrape_latency(client.port, gzipped=False)
            live.scrape_gzip, live.body_gzip = scrape_latency(client.port, gzipped=True)
        same_engine()
        time.sleep(5)
        log(f"engine baseline again, {window:.0f}s without exporter")
        engine_baseline(live, window, after=True)
        same_engine()
        log("baseline: docker stats --no-stream, twice")
        for _ in range(2):
            seconds, listed = docker_stats_wall()
            live.docker_stats.append(seconds)
            live.docker_stats_listed = listed
        log("baseline: in-process cgroup and stats API sweeps of the same targets")
        live.inprocess = asyncio.run(inprocess_sweeps())
        live.imports_kb = imports_rss_kb()
        with exporter("api") as (proc, client):
            wait_ready(proc, client)
            wait_covered(client, prefix, count, timeout=600)
            log(f"exporter (api source) window, >= {api_window:.0f}s")
            live.api = measure_window(proc, client, prefix, api_window, period=None, timeout=600)
        same_engine()
    finally:
        remove_containers(prefix, label)
    return live


# --- the simulated run ---------------------------------------------------------------------

SIM_NET_DEV = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|"
    "bytes    packets errs drop fifo colls carrier compressed\n"
    "    lo:       0       0    0    0    0     0          0         0"
    "        0       0    0    0    0     0       0          0\n"
    "  eth0:    5180      42    0    0    0     0          0         0"
    "     2240      21    0    0    0     0       0          0\n"
)
SIM_CGROUP_FILES = {
    "cpu.stat": "usage_usec 60123456\nuser_usec 60000000\nsystem_usec 123456\n"
    "nr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n",
    "cpu.max": "max 100000\n",
    "memory.current": "3145728\n",
    "memory.max": "max\n",
    "memory.swap.current": "0\n",
    "memory.stat": "anon 532480\nfile 2375680\nkernel 348160\nkernel_stack 16384\n"
    "pagetables 45056\nsec_pagetables 0\npercpu 480\nsock 0\nvmalloc 0\nshmem 0\n"
    "zswap 0\nzswapped 0\nfile_mapped 1478656\nfile_dirty 0\nfile_writeback 0\n"
    "swapcached 0\nanon_thp 0\nfile_thp 0\nshmem_thp 0\ninactive_anon 520192\n"
    "active_anon 12288\ninactive_file 1269760\nactive_file 1105920\nunevictable 0\n"
    "slab_reclaimable 129024\nslab_unreclaimable 102400\nslab 231424\n"
    "workingset_refault_anon 0\nworkingset_refault_file 0\nworkingset_activate_anon 0\n"
    "workingset_activate_file 0\nworkingset_restore_anon 0\nworkingset_restore_file 0\n"
    "workingset_nodereclaim 0\npgscan 0\npgsteal 0\npgscan_kswapd 0\npgscan_direct 0\n"
    "pgsteal_kswapd 0\npgsteal_direct 0\npgfault 1320\npgmajfault 2\npgrefill 0\n"
    "pgactivate 0\npgdeactivate 0\npglazyfree 0\npglazyfreed 0\nthp_fault_alloc 0\n"
    "thp_collapse_alloc 0\n",
    "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
    "pids.current": "1\n",
    "pids.max": "max\n",
    "io.stat": "254:0 rbytes=4096000 wbytes=8192 rios=120 wios=2 dbytes=0 dios=0\n",
}
SIM_STATUS = (
    "Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\n"
    "PPid:\t{ppid}\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t64\n"
    "Groups:\t10 \nVmPeak:\t    1320 kB\nVmSize:\t    1320 kB\nVmRSS:\t       4 kB\n"
    "Threads:\t1\n"
)


def sim_id(i: int) -> str:
    return hashlib.sha256(f"bench-sim-{i}".encode()).hexdigest()


def sim_pid(i: int) -> int:
    return 100_000 + i


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def build_tree(root: Path, count: int) -> None:
    """A cgroup v2 host (systemd driver) with `count` containers, one process each."""
    proc, cgroup = root / "proc", root / "sys" / "fs" / "cgroup"
    os.makedirs(proc / "self")
    os.makedirs(root / "etc")
    _write(
        str(proc / "self" / "mountinfo"),
        f"24 30 0:22 / {root}/sys rw,relatime shared:7 - sysfs sysfs rw\n"
        f"30 24 0:26 / {cgroup} rw,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n",
    )
    _write(str(root / "etc" / "passwd"), "root:x:0:0:root:/root:/bin/sh\n")
    for i in range(count):
        cid, pid = sim_id(i), sim_pid(i)
        scope = f"/system.slice/docker-{cid}.scope"
        directory = f"{cgroup}{scope}"
        os.makedirs(directory)
        for name, text in SIM_CGROUP_FILES.items():
            _write(f"{directory}/{name}", text)
        _write(f"{directory}/cgroup.procs", f"{pid}\n")
        base = f"{proc}/{pid}"
        os.makedirs(f"{base}/net")
        _write(f"{base}/cgroup", f"0::{scope}\n")
        _write(f"{base}/net/dev", SIM_NET_DEV)
        _write(
            f"{base}/stat",
            f"{pid} (sleep) S 90000 {pid} {pid} 0 -1 4194560 110 0 0 0 3 5 0 0 20 0 1 0 "
            "123456 1351680 1 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
        )
        _write(f"{base}/status", SIM_STATUS.format(pid=pid, ppid=90000))
        _write(f"{base}/cmdline", "sleep\x003600\x00")


def fake_inventory(count: int) -> Inventory:
    """A fake engine's inventory: `count` running containers from a recorded inspect."""
    text = (FIXTURES / "inspect_running.json").read_text()
    engine = parse_engine(
        json.loads((FIXTURES / "info.json").read_text()),
        json.loads((FIXTURES / "version.json").read_text()),
        "1.41",
    )
    inventory = Inventory()
    for i in range(count):
        raw: dict[str, Any] = json.loads(text)
        raw["Id"], raw["Name"] = sim_id(i), f"/bench-sim-{i}"
        raw["State"]["Pid"] = sim_pid(i)
        container: Container = parse_container(raw)
        inventory.upsert(container)
    inventory.publish(
        engine=engine,
        status=WatcherStatus(engine_up=True, synced=True, stream_up=True, last_sync_ts=time.time()),
    )
    return inventory


def default_exposition() -> Exposition:
    enabled = [name for name, spec in COLLECTORS.items() if spec.default_enabled]
    return Exposition(enabled, Options())


def _checked(sweep: Sweep, count: int) -> Sweep:
    if len(sweep.stats) != count or sweep.missing:
        msg = f"simulated sweep read {len(sweep.stats)} of {count} ({len(sweep.missing)} missing)"
        raise RuntimeError(msg)
    return sweep


async def sim_timings(root: Path, count: int) -> dict[str, float]:
    """Sweep and render times, body sizes and the RSS delta, in a fresh interpreter."""
    clock = SystemClock()
    rss0 = status_kb(os.getpid(), "VmRSS")
    inventory = fake_inventory(count)
    wanted = targets(inventory.snapshot)
    layout = discover_layout(root / "proc", root / "sys")
    stats_s, _, _ = await sweeps(CgroupSource(layout, root / "proc", clock), wanted, count)
    every = CgroupSource(layout, root / "proc", clock, processes_interval=0.0)
    procs_s, _, sweep = await sweeps(every, wanted, count)
    if sweep.processes is None or len(sweep.processes) != count:
        msg = "simulated sweep did not read the process lists"
        raise RuntimeError(msg)
    inventory.publish(
        stats=dict(sweep.stats),
        processes=dict(sweep.processes),
        sampler=SamplerStatus("cgroup", INTERVAL, median(stats_s), time.time()),
    )
    stats = dict(inventory.snapshot.stats)
    del sweep
    renders = []
    for _ in range(3):
        snapshot = inventory.publish()
        exposition = default_exposition()  # nothing to reuse: a full render
        start = time.perf_counter()
        body = exposition.render(snapshot, OPENMETRICS)
        renders.append(time.perf_counter() - start)
    after_sweep, after_idle = [], []
    for i in range(3):
        snapshot = inventory.publish(stats=busy(stats, i))  # every container ran
        start = time.perf_counter()
        exposition.render(snapshot, OPENMETRICS)
        after_sweep.append(time.perf_counter() - start)
    for _ in range(3):
        snapshot = inventory.publish(stats=dict(snapshot.stats))  # none ran: same samples
        start = time.perf_counter()
        exposition.render(snapshot, OPENMETRICS)
        after_idle.append(time.perf_counter() - start)
    start = time.perf_counter()
    zipped = exposition.render(snapshot, OPENMETRICS, gzipped=True)
    gzip_s = time.perf_counter() - start
    gc.collect()
    pid = os.getpid()
    return {
        "sweep_procs": median(procs_s),
        "sweep_stats": median(stats_s),
        "render": median(renders),
        "render_sweep": median(after_sweep),
        "render_idle": median(after_idle),
        "gzip": gzip_s,
        "body": len(body.data),
        "body_gzip": len(zipped.data),
        "series": body.data.count(b"\n") - body.data.count(b"\n#"),
        "rss_delta_kb": status_kb(pid, "VmRSS") - rss0,
        "hwm_delta_kb": status_kb(pid, "VmHWM") - rss0,
    }


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def sim_memory(root: Path, count: int) -> dict[str, float]:
    """Bytes retained (tracemalloc) by containers, stats, process lists and cached bodies."""
    clock = SystemClock()
    layout = discover_layout(root / "proc", root / "sys")
    exposition = default_exposition()
    if not tracemalloc.is_tracing():
        tracemalloc.start()
    m0 = _traced()
    inventory = fake_inventory(count)
    m1 = _traced()
    wanted = targets(inventory.snapshot)
    engine = inventory.snapshot.engine
    source = CgroupSource(layout, root / "proc", clock)
    await source.sample(wanted, engine)  # reads processes; the next sweep is stats only
    sweep = _checked(await source.sample(wanted, engine), count)
    status = SamplerStatus("cgroup", INTERVAL, 0.0, time.time())
    inventory.publish(stats=dict(sweep.stats), sampler=status)
    del sweep
    m2 = _traced()
    every = CgroupSource(layout, root / "proc", clock, processes_interval=0.0)
    sweep = await every.sample(wanted, engine)
    inventory.publish(processes=dict(sweep.processes or {}))
    del sweep, every
    m3 = _traced()
    exposition.render(inventory.snapshot, OPENMETRICS)
    exposition.render(inventory.snapshot, OPENMETRICS, gzipped=True)
    m4 = _traced()
    tracemalloc.stop()
    return {
        "containers": m1 - m0,
        "stats": m2 - m1,
        "processes": m3 - m2,
        "bodies": m4 - m3,
        "snapshot": m3 - m0,
    }


def sim_child(root: Path, count: int, mode: str) -> None:
    work = sim_timings if mode == "time" else sim_memory
    print(json.dumps(asyncio.run(work(root, count))))


def run_child(root: Path, count: int, mode: str) -> dict[str, float]:
    """One measurement in a fresh interpreter, so RSS deltas are not blurred by earlier runs.

    The memory child traces from interpreter start (`-X tracemalloc`), so a table that grows
    (dicts, CPython's interned strings used by pathlib) counts as its net growth.
    """
    trace = ["-X", "tracemalloc=1"] if mode == "mem" else []
    out = subprocess.run(
        [sys.executable, *trace, __file__, "--sim-child", str(root), str(count), mode],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    if out.returncode != 0:
        msg = f"simulation child ({count}, {mode}) failed:\n{out.stderr}"
        raise RuntimeError(msg)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run_simulation(sizes: Sequence[int], sim_dir: str | None) -> dict[int, dict[str, float]]:
    counts = sorted({100, *sizes})
    root = Path(tempfile.mkdtemp(prefix="stats-bench-", dir=sim_dir))
    results: dict[int, dict[str, float]] = {}
    try:
        log(f"building a synthetic cgroup v2 tree of {counts[-1]} containers in {root}")
        start = time.perf_counter()
        build_tree(root, counts[-1])
        log(f"tree built in {time.perf_counter() - start:.1f}s")
        for count in counts:
            log(f"simulated {count} containers: timings, then memory")
            results[count] = run_child(root, count, "time") | run_child(root, count, "mem")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return results


# --- report --------------------------------------------------------------------------------


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report_live(live: Live) -> None:
    cg, api, inproc = live.cgroup, live.api, live.inprocess
    if cg is None or api is None or inproc is None:
        raise RuntimeError("incomplete live run")
    n = live.containers
    sweeps = [s.sweep_seconds for s in cg.sweeps if s.sweep_seconds is not None]
    ours = median(sweeps)
    docker_stats = median(live.docker_stats)
    note = "" if n == TARGET_AT else f" (target stated for {TARGET_AT})"
    per_sample = live.per_sample_ms(cg)
    procs_share = min(INTERVAL / PROCESSES_INTERVAL, 1.0)
    quiet = (
        (
            inproc.cpu_stats * (1 - procs_share)
            + inproc.cpu_procs * procs_share
            + inproc.cpu_render_sweep
        )
        / inproc.targets
        * 1000
    )
    modelled = live.per_sample_modelled_ms(cg)
    rss_mib = cg.rss_kb / 1024
    rss_si = cg.rss_kb * 1024 / 1e6
    p50 = quantile(live.scrape_plain, 50)
    lo, hi = live.baseline_halves
    print(
        f"\n== Live: {n} bench containers (network {live.network}), "
        f"{cg.sweeps[-1].sampled} running containers sampled =="
    )
    print(
        f"containers started in {live.start_seconds:.1f}s; engine = dockerd + containerd + "
        f"shims ({cg.engine_processes} processes)"
    )
    after_rate = live.baseline_after[0] / max(live.baseline_after[1], 1e-9)
    print(
        f"engine baseline, no exporter: {live.baseline[0]:.2f} CPU-s over {live.baseline[1]:.1f}s"
        f" = {live.baseline[0] / live.baseline[1] * 60:.2f} CPU-s/min (halves: {lo * 60:.2f} "
        f"and {hi * 60:.2f}); after the window: {after_rate * 60:.2f} CPU-s/min; "
        f"mean used: {live.baseline_rate * 60:.2f} CPU-s/min"
    )
    print(
        f"engine CPU per resync pass, replayed in-process: light {inproc.engine_light * 1000:.1f}"
        f" ms (quiet engine; {inproc.engine_listing * 1000:.1f} ms when it lists containers), "
        f"full {inproc.engine_full * 1000:.1f} ms (one pass per {RESYNC_INTERVAL:.0f} s, "
        f"full every {FULL_RESYNC_EVERY}th)"
    )
    rows = [["figure", "value", "target", "verdict"]]
    rows += [
        [
            "our sweep (exporter gauge at each poll, median / max)",
            f"{ours * 1000:.1f} ms / {max(sweeps) * 1000:.1f} ms over {len(sweeps)} sweeps",
            "",
            "",
        ],
        [
            "our sweep, in-process, same targets",
            f"{median(inproc.cgroup_stats) * 1000:.1f} ms stats only, "
            f"{median(inproc.cgroup_procs) * 1000:.1f} ms with process lists "
            f"({inproc.targets} targets, median of 5 each)",
            "",
            "",
        ],
        [
            "docker stats --no-stream (median of 2)",
            f"{docker_stats:.2f} s ({live.docker_stats_listed} listed)",
            "",
            "",
        ],
        [
            "  speed-up: docker stats / our sweep",
            f"{docker_stats / ours:.0f}x",
            f">= {TARGET_SPEEDUP:.0f}x{note}",
            verdict(docker_stats / ours >= TARGET_SPEEDUP),
        ],
        [
            f"stats API sweep, concurrency {inproc.targets}",
            f"{inproc.api_all:.2f} s ({inproc.api_all_samples} samples, "
            f"{inproc.api_all_errors} errors); / ours = {inproc.api_all / ours:.0f}x",
            "",
            "",
        ],
        [
            "stats API sweep, concurrency 8",
            f"{inproc.api_8:.2f} s ({inproc.api_8_samples} samples, {inproc.api_8_errors} "
            f"errors); / ours = {inproc.api_8 / ours:.0f}x",
            "",
            "",
        ],
        [
            f"scrape /metrics p50 / p99 ({SCRAPES} GETs)",
            f"{p50:.2f} / {quantile(live.scrape_plain, 99):.2f} ms, "
            f"body {live.body_plain / 1024:.0f} KiB",
            f"p50 <= {TARGET_SCRAPE_P50_MS:.0f} ms{note}",
            verdict(p50 <= TARGET_SCRAPE_P50_MS),
        ],
        [
            "scrape /metrics gzip p50 / p99",
            f"{quantile(live.scrape_gzip, 50):.2f} / {quantile(live.scrape_gzip, 99):.2f} ms, "
            f"body {live.body_gzip / 1024:.0f} KiB",
            "",
            "",
        ],
        *window_rows(live, cg, "cgroup"),
        [
            "  exporter + induced engine CPU / container-sample",
            f"{per_sample:.3f} ms (engine term: window minus mean baseline, clamped at 0)",
            f"<= {TARGET_CPU_PER_SAMPLE_MS} ms{note}",
            verdict(per_sample <= TARGET_CPU_PER_SAMPLE_MS),
        ],
        [
            "  the same, engine term from the replayed resync passes",
            f"{modelled:.3f} ms (engine {live.modelled_induced(cg):.3f} CPU-s in the window)",
            f"<= {TARGET_CPU_PER_SAMPLE_MS} ms{note}",
            verdict(modelled <= TARGET_CPU_PER_SAMPLE_MS),
        ],
        [
            "  stats path alone, in-process CPU (quiet engine)",
            f"{quiet:.3f} ms: sweep {inproc.cpu_stats * 1000:.1f} ms CPU "
            f"(+procs {inproc.cpu_procs * 1000:.1f} ms, 1 sweep in {1 / procs_share:.0f}) + "
            f"render after a sweep in which all ran {inproc.cpu_render_sweep * 1000:.1f} ms "
            f"(a full render: {inproc.cpu_render * 1000:.1f} ms, {inproc.body / 1024:.0f} KiB)",
            f"<= {TARGET_CPU_PER_SAMPLE_MS} ms (info)",
            verdict(quiet <= TARGET_CPU_PER_SAMPLE_MS),
        ],
        [
            "  exporter RSS at window end (peak VmHWM)",
            f"{rss_si:.1f} MB = {rss_mib:.1f} MiB (peak {cg.hwm_kb / 1024:.1f} MiB)",
            f"<= {TARGET_RSS_MB:.0f} MB (SI){note}",
            verdict(rss_si <= TARGET_RSS_MB),
        ],
        [
            "    of which anon / file-backed; empty interpreter + imports",
            f"{cg.anon_kb / 1024:.1f} / {cg.file_kb / 1024:.1f} MiB; "
            f"{live.imports_kb / 1024:.1f} MiB",
            "",
            "",
        ],
        *window_rows(live, api, "api"),
        [
            "  exporter + induced engine CPU / container-sample",
            f"{live.per_sample_ms(api):.3f} ms = "
            f"{live.per_sample_ms(api) / per_sample:.1f}x the cgroup source",
            "",
            "",
        ],
    ]
    print(table(rows))


def window_rows(live: Live, window: Window, source: str) -> list[list[str]]:
    sweeps = [s.sweep_seconds for s in window.sweeps if s.sweep_seconds is not None]
    errors = window.sweeps[-1].errors
    return [
        [
            f"exporter --stats.source {source}: window",
            f"{window.seconds:.1f}s, {window.sweep_count} sweeps (median of the "
            f"{len(sweeps)} polled: {median(sweeps):.3f}s), {window.samples} container-samples, "
            f"{window.requests} polls, {window.events:.0f} engine events, "
            f"{errors:.0f} stats errors total",
            "",
            "",
        ],
        [
            "  exporter CPU",
            f"{window.exporter_cpu:.2f} CPU-s = "
            f"{window.exporter_cpu / window.seconds * 60:.2f} CPU-s/min",
            "",
            "",
        ],
        [
            "  engine CPU in window / induced (window - baseline)",
            f"{window.engine_cpu:.2f} / {live.induced(window):+.2f} CPU-s",
            "",
            "",
        ],
    ]


def report_simulation(results: dict[int, dict[str, float]], sizes: Sequence[int]) -> None:
    counts = sorted(results)
    print("\n== Simulated: synthetic cgroup v2 tree + fake /proc, fake engine inventory ==")
    rows = [
        [
            "containers",
            "sweep stats",
            "sweep +procs",
            "render full",
            "render after sweep (idle)",
            "gzip",
            "body (gzip)",
            "series",
            "snapshot retained",
            "cached bodies",
            "RSS delta (peak)",
        ]
    ]
    for n in counts:
        r = results[n]
        rows.append(
            [
                str(n),
                f"{r['sweep_stats'] * 1000:.1f} ms ({r['sweep_stats'] / n * 1e6:.0f} us/c)",
                f"{r['sweep_procs'] * 1000:.1f} ms ({r['sweep_procs'] / n * 1e6:.0f} us/c)",
                f"{r['render'] * 1000:.1f} ms ({r['render'] / n * 1e6:.0f} us/c)",
                f"{r['render_sweep'] * 1000:.1f} ms ({r['render_sweep'] / n * 1e6:.0f} us/c; "
                f"{r['render_idle'] * 1000:.1f} ms)",
                f"{r['gzip'] * 1000:.1f} ms",
                f"{r['body'] / 1024:.0f} KiB ({r['body_gzip'] / 1024:.0f} KiB)",
                f"{r['series']:.0f}",
                f"{r['snapshot'] / 2**20:.2f} MiB ({r['snapshot'] / n / 1024:.1f} KiB/c)",
                f"{r['bodies'] / 2**20:.2f} MiB",
                f"{r['rss_delta_kb'] / 1024:.1f} MiB ({r['hwm_delta_kb'] / 1024:.1f} MiB)",
            ]
        )
    print(table(rows))
    print(
        "snapshot retained = containers + stats + process lists: "
        + "; ".join(
            f"{n}: {results[n]['containers'] / n:.0f} + {results[n]['stats'] / n:.0f} + "
            f"{results[n]['processes'] / n:.0f} B/c"
            for n in counts
        )
    )
    small, large = min(sizes), max(sizes)
    if small == large:
        return
    rows = [["per-container growth", f"{small} -> {large}", "target", "verdict"]]
    for label, key in (
        ("sweep time (stats only)", "sweep_stats"),
        ("sweep time (with process lists)", "sweep_procs"),
        ("render time (full)", "render"),
        ("render time (after a sweep, all ran)", "render_sweep"),
        ("snapshot bytes (tracemalloc)", "snapshot"),
        ("RSS delta", "rss_delta_kb"),
    ):
        ratio = (results[large][key] / large) / (results[small][key] / small)
        rows.append(
            [
                label,
                f"x{ratio:.2f} per container (1.00 = linear)",
                f"<= x{LINEAR_TOLERANCE}",
                verdict(ratio <= LINEAR_TOLERANCE),
            ]
        )
    print(table(rows))


def revision() -> str:
    """`git describe --always --dirty` of this tree: the code a run measured."""
    return subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


def machine() -> str:
    kernel = os.uname().release
    commit = revision()
    docker_version = docker(
        "version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"
    )
    cgroup = docker("info", "--format", "cgroup v{{.CgroupVersion}}, {{.CgroupDriver}} driver")
    return (
        f"exporter {commit or '?'}; {os.cpu_count()} CPUs, kernel {kernel}, "
        f"Docker {docker_version}, {cgroup}"
    )


def parse_sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=100, help="live containers (100)")
    parser.add_argument("--window", type=float, default=60.0, help="measurement window, s (60)")
    parser.add_argument(
        "--api-window", type=float, default=30.0, help="window of the API-source run, s (30)"
    )
    parser.add_argument(
        "--simulate",
        type=parse_sizes,
        default=[1000, 10000],
        help="simulated container counts, comma-separated (1000,10000); 100 is always added",
    )
    parser.add_argument("--sim-dir", help="where to build the synthetic tree (default: $TMPDIR)")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-simulate", action="store_true")
    parser.add_argument("--sim-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sim_child:
        root, count, mode = args.sim_child
        sim_child(Path(root), int(count), mode)
        return 0

    def terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    header = f"stats_bench {time.strftime('%Y-%m-%d %H:%M:%S %Z')}: {machine()}"
    live = None if args.skip_live else run_live(args.containers, args.window, args.api_window)
    sim = None if args.skip_simulate else run_simulation(args.simulate, args.sim_dir)
    print(header)
    if live is not None:
        report_live(live)
    if sim is not None:
        report_simulation(sim, args.simulate)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; bench containers removed")
        sys.exit(130)

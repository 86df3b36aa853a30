"""Resource stats on their own timer, published into the snapshot; scrapes never wait for them.

Two sources behind one interface. The cgroup source reads each running container's
cgroup and /proc files in one worker-thread hop per sweep: no Engine work at all. The
API source asks the Engine for one-shot stats with bounded concurrency and at most one
request in flight per container; it serves remote, rootless and Podman engines, and, in
`auto` mode, the containers the cgroup source could not resolve.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from exporter.clock import Clock
from exporter.engine.api import Engine, EngineError
from exporter.engine.config import STATS_CONCURRENCY
from exporter.engine.models import EngineInfo
from exporter.engine.stats import ContainerStats, ProcessInfo
from exporter.inventory.store import PROCESS_STATES, Inventory, SamplerStatus, Snapshot
from exporter.options import option, parse_choice, parse_interval
from exporter.stats.cgroup import (
    OPEN_FILES,
    CgroupError,
    CgroupLayout,
    CgroupReader,
    Target,
    discover_layout,
    fit_open_files,
    host_stats,
    passwd_users,
)

log = logging.getLogger(__name__)

SOURCE = option(
    "--stats.source",
    "auto",
    parse_choice("auto", "cgroup", "api"),
    "Resource stats from cgroup files (fast, local engines), the Engine API, or auto: "
    "cgroup when the host's cgroups are visible and the engine is local, API for the rest.",
    group="stats",
)
INTERVAL = option(
    "--stats.interval", "5s", parse_interval, "Stats sampling interval (>= 1s).", group="stats"
)
HOST_PROC = option(
    "--host.proc",
    "/proc",
    str,
    "Where the host's /proc is visible (e.g. /host/proc in a container, with --pid=host).",
    group="stats",
)
HOST_SYS = option(
    "--host.sys",
    "/sys",
    str,
    "Where the host's /sys is visible (e.g. /host/sys in a container, with --cgroupns=host).",
    group="stats",
)
PROCESSES_INTERVAL = 15.0
"""Process lists change slowly and cost three files per process: read them less often."""


@dataclass(frozen=True, slots=True)
class Sweep:
    """What one pass over the running containers produced."""

    stats: Mapping[str, ContainerStats] = field(default_factory=dict)
    processes: Mapping[str, tuple[ProcessInfo, ...]] | None = None
    """None when the source does not read processes (the API: `top` has a cost of its own)."""
    missing: tuple[str, ...] = ()
    errors: int = 0
    host: ContainerStats | None = None
    """The root cgroup's stats, when the source was asked for them (`host`)."""


class Source(Protocol):
    """A way to sample many containers at once."""

    name: str

    async def sample(self, targets: Sequence[Target], engine: EngineInfo | None) -> Sweep: ...

    async def close(self) -> None:
        """Release what the source holds between sweeps."""


def _sweep_cgroup(
    reader: CgroupReader,
    proc_root: Path,
    targets: Sequence[Target],
    passwd: Path | None,
    with_processes: frozenset[str],
    *,
    host: CgroupLayout | None = None,
) -> Sweep:
    """Runs in a worker thread: stats (and processes when asked) of every target, files only.

    Files of containers that are no longer targets are closed first, which also frees
    their share of the reader's open-file budget for this sweep's newcomers.
    """
    stats: dict[str, ContainerStats] = {}
    processes: dict[str, tuple[ProcessInfo, ...]] = {}
    missing: list[str] = []
    users = passwd_users(proc_root, passwd) if with_processes else {}
    reader.retain(t.container_id for t in targets)
    for target in targets:
        cid = target.container_id
        try:
            result = reader.read(target, processes=cid in with_processes, users=users)
        except (CgroupError, OSError, ValueError):
            result = None
        if result is None:
            missing.append(cid)
            continue
        stats[cid], listed = result
        if listed is not None:
            processes[cid] = listed
    root = None
    if host is not None:
        try:
            root = host_stats(host, proc_root)
        except (CgroupError, OSError, ValueError):
            root = None
    return Sweep(stats, processes, tuple(missing), host=root)


class CgroupSource:
    """The fast path: the host's cgroup filesystem and /proc, files kept open (CgroupReader).

    `max_open_files` bounds the files kept open (and their kernel buffers, ~4 KiB each);
    RLIMIT_NOFILE is raised for it, or the budget shrinks to fit. Call `close` on shutdown.
    """

    name = "cgroup"

    def __init__(
        self,
        layout: CgroupLayout,
        proc_root: Path,
        clock: Clock,
        *,
        passwd: Path | None = None,
        processes_interval: float = PROCESSES_INTERVAL,
        max_open_files: int = OPEN_FILES.value,
        host: bool = False,
    ) -> None:
        self._layout = layout
        self._host = host
        """Read the root cgroup too, every sweep (the cAdvisor-shaped `id="/"`)."""
        self._reader = CgroupReader(
            layout, proc_root, max_open_files=fit_open_files(max_open_files)
        )
        self._proc = proc_root
        self._clock = clock
        self._passwd = passwd
        self._processes_interval = processes_interval
        self._processes_due: dict[str, float] = {}

    @property
    def open_files(self) -> int:
        """cgroup and /proc files held open between sweeps right now."""
        return self._reader.open_files

    async def sample(self, targets: Sequence[Target], engine: EngineInfo | None) -> Sweep:
        """Stats of every target; processes of those seen first or not read for a while."""
        del engine  # the layout knows the cgroup version
        now = self._clock.monotonic()
        due = self._processes_due
        with_processes = frozenset(
            t.container_id for t in targets if due.get(t.container_id, 0.0) <= now
        )
        self._processes_due = {
            t.container_id: (now + self._processes_interval)
            if t.container_id in with_processes
            else due[t.container_id]
            for t in targets
        }
        return await asyncio.to_thread(
            _sweep_cgroup,
            self._reader,
            self._proc,
            list(targets),
            self._passwd,
            with_processes,
            host=self._layout if self._host else None,
        )

    async def close(self) -> None:
        """Close the kept files (in a thread: it waits for a sweep still reading)."""
        await asyncio.to_thread(self._reader.close)


class ApiSource:
    """The Engine's stats endpoint, one-shot, bounded, never two requests for one container."""

    name = "api"

    def __init__(self, engine: Engine, concurrency: int = STATS_CONCURRENCY.value) -> None:
        self._engine = engine
        self._limit = asyncio.Semaphore(concurrency)
        self._in_flight: set[str] = set()

    async def sample(self, targets: Sequence[Target], engine: EngineInfo | None) -> Sweep:
        stats: dict[str, ContainerStats] = {}
        errors = 0

        async def one(container_id: str) -> None:
            nonlocal errors
            if container_id in self._in_flight:
                return
            self._in_flight.add(container_id)
            try:
                async with self._limit:
                    sample = await self._engine.container_stats(container_id, engine)
                if sample is not None:
                    stats[container_id] = sample
            except EngineError as exc:
                errors += 1
                log.debug("stats failed: %s", exc, extra={"container": container_id[:12]})
            finally:
                self._in_flight.discard(container_id)

        await asyncio.gather(*(one(t.container_id) for t in targets))
        return Sweep(stats, None, (), errors)

    async def close(self) -> None:
        """Nothing to release: the engine client belongs to the app."""


def targets(snapshot: Snapshot) -> list[Target]:
    """Running containers with a host PID; `container:` netns sharers report no network."""
    return [
        Target(
            c.id,
            c.pid,
            host_network=c.host_network or c.network_mode.startswith("container:"),
            limits=c.limits,
            throttled_io=c.limits.block_io_throttled,
        )
        for c in snapshot.containers.values()
        if c.state in PROCESS_STATES and c.pid > 0
    ]


def choose_source(
    wanted: str,
    *,
    docker_host: str,
    proc_root: Path,
    sys_root: Path,
    engine: Engine,
    concurrency: int,
    clock: Clock,
    open_files: int = OPEN_FILES.value,
    host: bool = False,
) -> tuple[Source, ApiSource | None]:
    """The primary source and, in auto mode, the API fallback for what it cannot read.

    auto picks cgroup when the engine is on a local socket and the host's cgroup mounts
    are visible under `proc_root`/`sys_root`; otherwise the API. `host`: the cgroup
    source reads the root cgroup too (`--compat.cadvisor.listen-address`).
    """
    api = ApiSource(engine, concurrency)
    if wanted == "api":
        return api, None
    local = urlsplit(docker_host).scheme == "unix"
    try:
        layout = discover_layout(proc_root, sys_root)
    except CgroupError as exc:
        if wanted == "cgroup":
            raise
        log.info("stats: cgroup fast path unavailable (%s); using the Engine API", exc)
        return api, None
    if wanted == "cgroup":
        return CgroupSource(layout, proc_root, clock, max_open_files=open_files, host=host), None
    if not local:
        log.info("stats: engine %s is remote; using the Engine API", docker_host)
        return api, None
    return CgroupSource(layout, proc_root, clock, max_open_files=open_files, host=host), api


class Sampler:
    """Sweeps on a fixed interval and publishes stats, processes and its own status."""

    def __init__(
        self,
        inventory: Inventory,
        clock: Clock,
        source: Source,
        *,
        interval: float = INTERVAL.value,
        fallback: ApiSource | None = None,
    ) -> None:
        self._inventory = inventory
        self._clock = clock
        self._source = source
        self._fallback = fallback
        self._interval = interval
        self._errors = 0
        self._fallbacks = 0
        self._sweeps = 0
        self._samples = 0
        self._suspended = 0
        self._last: tuple[float | None, float | None] = (None, None)
        # targets() of the last containers mapping (the same object while none changed):
        self._targets: tuple[object, list[Target]] = (None, [])

    def targets(self, snapshot: Snapshot) -> list[Target]:
        if snapshot.containers is not self._targets[0]:
            self._targets = (snapshot.containers, targets(snapshot))
        return self._targets[1]

    async def run(self) -> None:
        """Sweep forever; on cancellation (shutdown) release what the source holds open.

        A crash is not a shutdown: the supervisor restarts run() with the files still open.
        """
        self._inventory.publish(sampler=SamplerStatus(self._source.name, self._interval))
        try:
            while True:
                started = self._clock.monotonic()
                await self.sweep()
                elapsed = self._clock.monotonic() - started
                await self._clock.sleep(max(self._interval - elapsed, self._interval / 10))
        except asyncio.CancelledError:
            await self.close()
            raise

    async def close(self) -> None:
        """Release what the source holds open (the cgroup source's files); call on shutdown."""
        await self._source.close()

    async def sweep(self) -> None:
        """One pass. While the liveness probe gets no answer, what would ask the engine
        (the API source, the API fallback) is skipped and counted, not queued behind
        requests that would each wait for their timeout; the cgroup source reads on."""
        snapshot = self._inventory.snapshot
        engine = snapshot.engine
        hung = snapshot.liveness.up is False
        if hung and isinstance(self._source, ApiSource):
            self._suspended += 1
            self._inventory.publish(sampler=self._status(None))
            return
        wanted = self.targets(snapshot)
        started = self._clock.monotonic()
        result = await self._source.sample(wanted, engine)
        stats = dict(result.stats)
        self._errors += result.errors
        if hung and self._fallback is not None and result.missing:
            self._suspended += 1
        elif self._fallback is not None and result.missing:
            missing = set(result.missing)
            retry = [t for t in wanted if t.container_id in missing]
            extra = await self._fallback.sample(retry, engine)
            stats.update(extra.stats)
            self._errors += extra.errors
            self._fallbacks += len(retry)
        self._sweeps += 1
        self._samples += len(stats)
        self._last = (self._clock.monotonic() - started, self._clock.time())
        status = self._status(self._last)
        # The inventory merges process lists and drops those of stopped containers.
        host = {"host_stats": result.host} if result.host is not None else {}
        self._inventory.publish(
            stats=stats, processes=result.processes or {}, sampler=status, **host
        )

    def _status(self, last: tuple[float | None, float | None] | None) -> SamplerStatus:
        """The sampler's counters; `last` (sweep seconds, when) of the latest sweep done."""
        sweep_seconds, last_ts = last or self._last
        return SamplerStatus(
            source=self._source.name,
            interval=self._interval,
            sweep_seconds=sweep_seconds,
            last_sample_ts=last_ts,
            errors=self._errors,
            api_fallbacks=self._fallbacks,
            sweeps=self._sweeps,
            samples=self._samples,
            suspended=self._suspended,
        )

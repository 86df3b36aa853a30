"""stats_bench's live part: N busybox containers on the local engine, the exporter against
`docker stats` and the stats API, every ratio against baselines measured in the same run."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib.common import (
    INTERVAL,
    RESYNC_INTERVAL,
    SCRAPES,
    TARGET_AT,
    TARGET_CPU_PER_SAMPLE_MS,
    TARGET_RSS_MB,
    TARGET_SCRAPE_P50_MS,
    TARGET_SPEEDUP,
)
from benchlib.dockercli import (
    choose_network,
    docker,
    dockerd_pid,
    remove_containers,
    start_containers,
)
from benchlib.exporter_proc import (
    Window,
    exporter,
    measure_window,
    scrape_latency,
    wait_covered,
    wait_ready,
)
from benchlib.inprocess import busy, default_exposition, sweeps
from benchlib.procfs import CpuMeter, cpu_seconds, engine_pids, imports_rss_kb
from benchlib.report import log, median, quantile, table, timed, verdict

from exporter.clock import SystemClock
from exporter.engine.adapter import DockerEngine
from exporter.engine.config import EngineConfig
from exporter.inventory.store import Inventory, SamplerStatus
from exporter.inventory.watcher import FULL_RESYNC_EVERY, QUIET_EVENTS, Watcher
from exporter.render.formats import OPENMETRICS
from exporter.stats.cgroup import discover_layout
from exporter.stats.sampler import PROCESSES_INTERVAL, ApiSource, CgroupSource, targets


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


def docker_stats_wall() -> tuple[float, int]:
    """Wall time of `docker stats --no-stream` and the number of containers it listed."""
    start = time.perf_counter()
    out = docker("stats", "--no-stream", timeout=900)
    return time.perf_counter() - start, max(len(out.splitlines()) - 1, 0)


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


def report_live(live: Live) -> None:
    cg, api, inproc = live.cgroup, live.api, live.inprocess
    if cg is None or api is None or inproc is None:
        raise RuntimeError("incomplete live run")
    n = live.containers
    sweeps = [s.sweep_seconds for s in cg.sweeps if s.sweep_seconds is not None]
    ours = median(sweeps)
    docker_stats = median(live.docker_stats)
    like_for_like = inproc.api_all / median(inproc.cgroup_stats)
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
            "  speed-up, like for like: stats API one-shot sweep / our sweep, both "
            "in-process, same targets",
            f"{like_for_like:.0f}x ({inproc.api_all:.2f} s against "
            f"{median(inproc.cgroup_stats) * 1000:.1f} ms)",
            f">= {TARGET_SPEEDUP:.0f}x{note}",
            verdict(like_for_like >= TARGET_SPEEDUP),
        ],
        [
            "docker stats --no-stream (median of 2)",
            f"{docker_stats:.2f} s ({live.docker_stats_listed} listed)",
            "",
            "",
        ],
        [
            "  not like for like: docker stats CLI wall time (a process start and the "
            "engine's priming tick) / our in-process sweep gauge",
            f"{docker_stats / ours:.0f}x",
            "",
            "",
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

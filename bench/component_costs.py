"""Component costs behind docs/performance.md's "How the cost came down" table.

Why: the stats bench measures the whole exporter; these are the parts it is made of, each
against its baseline in the same run, so the table's smaller figures can be rerun too:
  * process metrics: prometheus_client's ProcessCollector against ours, with as many
    extra open files as the cgroup source keeps at 100 containers (`--fds`);
  * a light and a full reconcile pass against the local engine: exporter CPU per pass
    (the Engine side is in stats_bench.py: stats_live.py, "replayed resync passes");
  * gzip of a simulated 100-container exposition, level 5 against level 1;
  * malloc_trim after renders: its CPU and the RSS it gives back;
  * import RSS: aiohttp with and without loading the system CA bundle, and what importing
    aiodocker (no longer used) would add, each in a fresh interpreter.

Usage: .venv/bin/python bench/component_costs.py [--fds 1700] [--skip-engine]
The reconcile part needs the local engine on /var/run/docker.sock (read-only GETs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gzip
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import ProcessCollector

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib.inprocess import default_exposition, fake_inventory

from exporter.clock import SystemClock
from exporter.engine.adapter import DockerEngine
from exporter.engine.config import EngineConfig
from exporter.engine.stats import ContainerStats, NetworkIO
from exporter.inventory.store import Inventory
from exporter.inventory.watcher import Watcher
from exporter.render import memory
from exporter.render.selfprocess import ProcessMetrics


def cpu_ms(fn: Callable[[], object], reps: int) -> float:
    """Median CPU milliseconds of `fn` over 5 batches of `reps` calls."""
    fn()
    batches = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(reps):
            fn()
        batches.append((time.process_time() - start) / reps * 1000)
    return statistics.median(batches)


def rss_kib(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise ValueError(field)


def process_metrics(fds: int) -> None:
    extra = [os.open("/dev/null", os.O_RDONLY) for _ in range(fds)]
    try:
        theirs = ProcessCollector(registry=None)
        ours = ProcessMetrics()
        a = cpu_ms(lambda: list(theirs.collect()), 50)
        b = cpu_ms(ours.collect, 50)
    finally:
        for fd in extra:
            os.close(fd)
    print(f"process metrics with {fds} extra fds: ProcessCollector {a:.3f} ms, ours {b:.3f} ms")


async def reconcile() -> None:
    """Exporter CPU of each kind of resync pass: light on a quiet engine (the watcher
    running with its event stream up: no container list), light listing containers (as
    after QUIET_EVENTS events), and full."""
    engine = DockerEngine(EngineConfig())
    try:
        inventory = Inventory()
        streaming = Watcher(engine, inventory, SystemClock(), resync_interval=3600.0)
        running = asyncio.create_task(streaming.run())
        while not inventory.snapshot.status.stream_up:
            await asyncio.sleep(0.05)
        listing = Watcher(engine, Inventory(), SystemClock())
        await listing.resync()
        count = len(inventory.snapshot.containers)
        for kind, watcher, full in (
            ("light (quiet engine)", streaming, False),
            ("light (listing containers)", listing, False),
            ("full", listing, True),
        ):
            times = []
            for _ in range(10):
                start = time.process_time()
                await watcher.resync(full=full)
                times.append((time.process_time() - start) * 1000)
            print(
                f"{kind} reconcile pass, {count} containers: "
                f"{statistics.median(times):.1f} ms exporter CPU (median of 10)"
            )
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    finally:
        await engine.close()


def sample(i: int) -> ContainerStats:
    nic = (NetworkIO("eth0", 1_234_567 + i, 4567, 0, 0, 2_345_678, 3456, 0, 0),)
    return ContainerStats(
        i * 1.5, i * 1.0, i * 0.5, 1000 + i, 10, 0.25, None, 3_000_000 + i, 2_000_000 + i,
        1_000_000, 1_000_000, 0, None, 0, 0, 3, None, nic, (),
    )  # fmt: skip


def gzip_and_trim() -> None:
    inventory = fake_inventory(100)
    ids = list(inventory.known_ids())
    exposition = default_exposition()
    body = b""
    for i in range(5):
        snapshot = inventory.publish(stats={cid: sample(i * 100 + j) for j, cid in enumerate(ids)})
        body = exposition.render(snapshot).data
    for level in (5, 1):
        ms = cpu_ms(functools.partial(gzip.compress, body, compresslevel=level), 20)
        size = len(gzip.compress(body, compresslevel=level))
        print(
            f"gzip level {level} of a {len(body) // 1024} KiB body: {ms:.2f} ms, {size // 1024} KiB"
        )
    before = rss_kib("RssAnon")
    start = time.process_time()
    memory.trim()
    spent = (time.process_time() - start) * 1000
    print(
        f"malloc_trim after 5 renders: {spent:.2f} ms CPU, "
        f"RssAnon {before / 1024:.1f} -> {rss_kib('RssAnon') / 1024:.1f} MiB"
    )


def import_rss(code: str) -> float:
    script = (
        code
        + "\nprint([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def imports() -> None:
    plain = import_rss("import aiohttp")
    guarded = import_rss("import exporter, aiohttp")
    print(f"import aiohttp: {plain:.1f} MiB VmRSS; with exporter.sslguard first: {guarded:.1f} MiB")
    app = import_rss("import exporter.cli.main, exporter.cli.app")
    try:
        extra = import_rss("import exporter.cli.main, exporter.cli.app, aiodocker")
    except subprocess.CalledProcessError:
        print(f"exporter imports: {app:.1f} MiB (aiodocker not installed, nothing to compare)")
        return
    print(f"exporter imports: {app:.1f} MiB; plus aiodocker: {extra:.1f} MiB (+{extra - app:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fds", type=int, default=1700)
    parser.add_argument("--skip-engine", action="store_true")
    args = parser.parse_args()
    process_metrics(args.fds)
    if not args.skip_engine:
        asyncio.run(reconcile())
    gzip_and_trim()
    imports()


if __name__ == "__main__":
    main()

"""stats_bench's simulated part: sweep and render time, retained bytes and RSS per container
over a synthetic tree, each N in a fresh interpreter, to show linear growth."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

from benchlib.common import INTERVAL, LINEAR_TOLERANCE
from benchlib.inprocess import (
    build_tree,
    busy,
    checked_sweep,
    default_exposition,
    fake_inventory,
    sweeps,
)
from benchlib.procfs import status_kb
from benchlib.report import log, median, table, verdict

from exporter.clock import SystemClock
from exporter.inventory.store import SamplerStatus
from exporter.render.formats import OPENMETRICS
from exporter.stats.cgroup import discover_layout
from exporter.stats.sampler import CgroupSource, targets

MAIN = Path(__file__).resolve().with_name("stats_bench.py")
"""The simulation children run through the bench's command line (`--sim-child`)."""


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


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def sim_memory(root: Path, count: int) -> dict[str, float]:
    """Bytes retained (tracemalloc) by containers, stats, process lists and cached bodies."""
    clock = SystemClock()
    layout = discover_layout(root / "proc", root / "sys")
    exposition = default_exposition()
    if not tracemalloc.is_tracing():
        tracemalloc.start()
    m0 = traced()
    inventory = fake_inventory(count)
    m1 = traced()
    wanted = targets(inventory.snapshot)
    engine = inventory.snapshot.engine
    source = CgroupSource(layout, root / "proc", clock)
    await source.sample(wanted, engine)  # reads processes; the next sweep is stats only
    sweep = checked_sweep(await source.sample(wanted, engine), count)
    status = SamplerStatus("cgroup", INTERVAL, 0.0, time.time())
    inventory.publish(stats=dict(sweep.stats), sampler=status)
    del sweep
    m2 = traced()
    every = CgroupSource(layout, root / "proc", clock, processes_interval=0.0)
    sweep = await every.sample(wanted, engine)
    inventory.publish(processes=dict(sweep.processes or {}))
    del sweep, every
    m3 = traced()
    exposition.render(inventory.snapshot, OPENMETRICS)
    exposition.render(inventory.snapshot, OPENMETRICS, gzipped=True)
    m4 = traced()
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
        [sys.executable, *trace, str(MAIN), "--sim-child", str(root), str(count), mode],
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

"""The cAdvisor-shaped endpoint's extra cost per scrape (issue 21), as a ratio to /metrics
measured in the same run.

For each N of --counts (default 100,1000) simulated running containers (a recorded
inspect payload, a fake engine's inventory: no engine work, as on the cgroup path), with
the root cgroup sampled too, sweeps in which every container's CPU moved are published,
and after each one both renders run as a scrape after a sweep triggers them (in the
render thread, Prometheus' variant: OpenMetrics, gzip): the default /metrics exposition
and the CompatExposition over the same snapshot. Printed per N: the median milliseconds
of each, the compat render's ratio to /metrics (its extra cost per scrape when both are
scraped), both bodies' sizes, and an idle sweep (nothing moved) of each.

Usage: .venv/bin/python bench/cadvisor_bench.py [--counts 100,1000] [--sweeps 7]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib.inprocess import busy, fake_inventory

from exporter.collectors import COLLECTORS, Options, cadvisor
from exporter.engine.stats import BlockIO, ContainerStats, NetworkIO
from exporter.inventory.store import SamplerStatus
from exporter.render.compat import CompatExposition
from exporter.render.exposition import Exposition
from exporter.render.formats import OPENMETRICS

BASE = ContainerStats(
    cpu_usage_seconds=0.0, cpu_user_seconds=1.0, cpu_system_seconds=1.0, cpu_periods=None,
    cpu_throttled_periods=None, cpu_throttled_seconds=None, cpu_limit_cores=None,
    memory_usage_bytes=1 << 22, memory_working_set_bytes=1 << 21, memory_rss_bytes=1 << 20,
    memory_cache_bytes=1 << 20, memory_swap_bytes=0, memory_limit_bytes=None,
    memory_failures=0, oom_kills=0, pids=1, pids_limit=None,
    networks=(NetworkIO("eth0", 1000, 10, 0, 0, 2000, 20, 0, 0),),
    block=(BlockIO("8:0", 4096, 0, 1, 0),),
    memory_mapped_file_bytes=4096, memory_page_faults=(100, 1),
)  # fmt: skip


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result


def measure(count: int, sweeps: int) -> dict[str, float]:
    inventory = fake_inventory(count)
    ids = sorted(inventory.known_ids())
    stats = {
        cid: dataclasses.replace(BASE, cpu_usage_seconds=float(i)) for i, cid in enumerate(ids)
    }
    enabled = [n for n, spec in COLLECTORS.items() if spec.default_enabled]
    native = Exposition(enabled, Options(), process_metrics=False)
    compat = CompatExposition(Options({cadvisor.GRACE: 300.0}), off_loop=lambda fn: fn())
    at = time.time()

    def publish(step: int, moved: bool) -> Any:
        return inventory.publish(
            stats=busy(stats, step) if moved else dict(inventory.snapshot.stats),
            host_stats=dataclasses.replace(BASE, cpu_usage_seconds=1e4 + step),
            sampler=SamplerStatus("cgroup", 5.0, 0.01, at + step),
        )

    first = publish(0, True)
    native_body = native.render(first, OPENMETRICS, gzipped=True).data
    compat_body = compat.render(first, OPENMETRICS, gzipped=True).data
    out: dict[str, list[float]] = {"native": [], "compat": [], "native_idle": [], "compat_idle": []}
    for step in range(1, sweeps + 1):
        for moved, suffix in ((True, ""), (False, "_idle")):
            snapshot = publish(step, moved)
            ms, _ = timed(lambda s=snapshot: native.render(s, OPENMETRICS, gzipped=True))
            out["native" + suffix].append(ms)
            ms, _ = timed(lambda s=snapshot: compat.render(s, OPENMETRICS, gzipped=True))
            out["compat" + suffix].append(ms)
    result = {key: statistics.median(values) for key, values in out.items()}
    result["native_bytes"] = len(native_body)
    result["compat_bytes"] = len(compat_body)
    result["native_plain"] = len(native.render(first, OPENMETRICS, gzipped=False).data)
    result["compat_plain"] = len(compat.render(first, OPENMETRICS, gzipped=False).data)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="100,1000")
    parser.add_argument("--sweeps", type=int, default=7)
    args = parser.parse_args()
    print(
        "containers | /metrics render ms | compat render ms | compat / /metrics | "
        "idle sweep ms (/metrics, compat) | body gzip KiB (/metrics, compat) | plain KiB"
    )
    for count in (int(c) for c in args.counts.split(",")):
        r = measure(count, args.sweeps)
        print(
            f"{count} | {r['native']:.1f} | {r['compat']:.1f} | "
            f"{r['compat'] / r['native']:.2f} | {r['native_idle']:.2f}, {r['compat_idle']:.2f} | "
            f"{r['native_bytes'] / 1024:.0f}, {r['compat_bytes'] / 1024:.0f} | "
            f"{r['native_plain'] / 1024:.0f}, {r['compat_plain'] / 1024:.0f}"
        )


if __name__ == "__main__":
    main()

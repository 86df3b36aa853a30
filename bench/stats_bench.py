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

The parts: bench/stats_live.py (the live run and its report), bench/stats_sim.py (the
simulated run and its report), on the bench library bench/benchlib/ (procfs, dockercli,
exporter_proc, simtree, report), which scrape_bench.py, ab_exporter.py and
component_costs.py share.

Usage: .venv/bin/python bench/stats_bench.py [--containers 100] [--window 60]
       [--api-window 30] [--simulate 1000,10000] [--sim-dir DIR] [--skip-live]
       [--skip-simulate]
Needs root, the local engine and the image busybox:local. Containers are named
bench-stats-<random>-<i> and are always removed (also on Ctrl-C). Exit status is non-zero
only on errors, never on a missed target.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from benchlib.dockercli import machine
from benchlib.report import log, parse_sizes
from stats_live import report_live, run_live
from stats_sim import report_simulation, run_simulation, sim_child


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

    def interrupted(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
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

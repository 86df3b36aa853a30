"""Two revisions of the exporter side by side on the same engine: CPU per container-sample and RSS.

Why: the exporter's whole-process CPU (sweeps, renders, scrapes, reconciles, the event
loop) drifts with the machine from one run to the next by as much as a change saves. Run
at the same time against the same containers and events, two revisions see the same
conditions, so their ratio is the change's effect. (Engine CPU is not split between them:
`stats_bench.py` measures it.)

What it does: checks out `--baseline-rev` into a temporary git worktree, starts N busybox
sleepers (default 100; `--containers 0` uses the running ones), then both exporters
(cgroup source, default flags) on free ports, each from its own source tree with the
same interpreter. After a warm-up it scrapes both every 15 s with gzip, like Prometheus,
for `--window` seconds, and prints for each: its CPU (utime + stime of all threads), the
container-samples it counted (`docker_exporter_stats_samples_total`), CPU per
container-sample, RSS and peak RSS at the end, and the ratio of the two.

Usage: .venv/bin/python bench/ab_exporter.py [--baseline-rev a708dbc] [--containers 100]
       [--window 180]
Needs root, the local engine and busybox:local. Containers are named ab-<random>-<i> and
removed on exit. Exit status is non-zero only on errors.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchlib.common import CLK_TCK
from benchlib.dockercli import choose_network, docker, remove_containers, start_containers
from benchlib.exporter_proc import Client, free_port, terminate, wait_ready
from benchlib.procfs import cpu_ticks, status_kb
from benchlib.report import log, revision

ROOT = Path(__file__).resolve().parent.parent
SCRAPE_EVERY = 15.0
WARMUP = 20.0


@dataclass(slots=True)
class Run:
    name: str
    proc: subprocess.Popen[bytes]
    client: Client
    ticks: int = 0
    samples: float = 0.0
    rss_kib: int = 0
    hwm_kib: int = 0

    def samples_total(self) -> float:
        for line in self.client.metrics().splitlines():
            if line.startswith("docker_exporter_stats_samples_total "):
                return float(line.split()[1])
        msg = f"{self.name}: no docker_exporter_stats_samples_total"
        raise RuntimeError(msg)


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """`rev` checked out in a temporary worktree (removed on exit)."""
    path = Path(tempfile.mkdtemp(prefix="ab-exporter-"))
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(path), rev], check=True
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False
        )


@contextlib.contextmanager
def exporter(name: str, tree: Path) -> Iterator[Run]:
    """The exporter package of `tree` (first on PYTHONPATH) on a free port."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "exporter", "--web.listen-address", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [*command, "--log.level", "warn"],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run = Run(name, proc, Client(port))
    try:
        wait_ready(proc, run.client)
        yield run
    finally:
        run.client.close()
        terminate(proc)


def measure(runs: list[Run], window: float) -> None:
    """CPU ticks and samples of each run over `window`, scraping with gzip every 15 s."""
    time.sleep(WARMUP)
    start = {r.name: (cpu_ticks(r.proc.pid) or 0, r.samples_total()) for r in runs}
    deadline = time.monotonic() + window
    while time.monotonic() < deadline:
        for r in runs:
            r.client.get("/metrics", gzipped=True)
        time.sleep(min(SCRAPE_EVERY, max(deadline - time.monotonic(), 0.0)))
    for r in runs:
        ticks0, samples0 = start[r.name]
        r.ticks = (cpu_ticks(r.proc.pid) or 0) - ticks0
        r.samples = r.samples_total() - samples0
        r.rss_kib = status_kb(r.proc.pid, "VmRSS")
        r.hwm_kib = status_kb(r.proc.pid, "VmHWM")


def report(runs: list[Run], window: float, rev: str) -> None:
    head = revision()
    print(f"ab_exporter {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}: "
          f"{window:.0f} s window, scrapes with gzip every {SCRAPE_EVERY:.0f} s; "
          f"baseline {rev}, current {head}")  # fmt: skip
    for r in runs:
        cpu = r.ticks / CLK_TCK
        per = cpu / r.samples * 1000 if r.samples else float("nan")
        print(
            f"{r.name:9s} CPU {cpu:.2f} s for {r.samples:.0f} container-samples = "
            f"{per:.4f} ms each (+/- {1 / CLK_TCK / max(r.samples, 1) * 1000:.4f} ms, one "
            f"tick); RSS {r.rss_kib / 1024:.1f} MiB = {r.rss_kib * 1.024 / 1000:.1f} MB, "
            f"peak {r.hwm_kib / 1024:.1f} MiB"
        )
    base, cur = runs
    if base.ticks and cur.samples and base.samples:
        ratio = (cur.ticks / cur.samples) / (base.ticks / base.samples)
        print(f"current / baseline CPU per container-sample: {ratio:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-rev", default="a708dbc")
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--window", type=float, default=180.0)
    args = parser.parse_args()
    prefix = f"ab-{uuid.uuid4().hex[:6]}"
    label = f"docker-exporter-bench={prefix}"
    try:
        if args.containers:
            network = choose_network(prefix, label)
            log(f"starting {args.containers} containers {prefix}-* on network {network}")
            start_containers(prefix, label, args.containers, network)
            time.sleep(30)  # let the engine settle after the starts
        running = len(docker("ps", "-q").split())
        log(f"{running} running containers; baseline {args.baseline_rev} and current tree")
        with (
            worktree(args.baseline_rev) as base_tree,
            exporter("baseline", base_tree) as base,
            exporter("current", ROOT) as current,
        ):
            measure([base, current], args.window)
        report([base, current], args.window, args.baseline_rev)
    finally:
        if args.containers:
            remove_containers(prefix, label)
    return 0


if __name__ == "__main__":
    sys.exit(main())

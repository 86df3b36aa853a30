"""Soak: the exporter for a set time under churn, health flips and a scrape every second.

The exporter runs in a child process (default collectors plus `--collector.top` off, all
the rest on) against the engine of $DOCKER_HOST (else the default socket). Meanwhile:
  * churn: a pool of --pool containers, one replaced every --churn seconds (create, start,
    kill, remove: every lifecycle event, new series and removed ones);
  * health flips: each container's healthcheck passes and fails in turn (a marker file
    its own loop creates and deletes every few seconds), so health_status events and
    state-set flips keep coming;
  * a scrape every second with Prometheus' Accept header (OpenMetrics first) and gzip.
Every --every seconds it prints the child's RSS, open fds, threads, asyncio tasks (a
hook in the child counts them on its loop), the containers and series of the last scrape,
plus the scrape latency of the period. The cgroup stats source keeps about 14 files open
per running container: on a shared engine (others' containers come and go) fds follow
them; run it against an engine of its own (DOCKER_HOST) for a flat line. At the end: each
figure's growth after the warm-up (--warmup seconds) against the targets (RSS growth
< 2 MiB, fds flat, tasks constant), printed PASS/MISS, never asserted.

Containers are named dxsoak-<random>-<n> and always removed.

Usage: .venv/bin/python bench/soak.py [--minutes 10] [--pool 10] [--churn 5] [--every 30]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
CHILD = """
import asyncio, sys
from exporter.cli import app as app_module, logs
from exporter.cli.main import parse_settings
from exporter.web.http import serve

settings = parse_settings(sys.argv[2:], {})
logs.setup("warn", "logfmt")
out = sys.argv[1]

async def count_tasks(_app):
    async def loop():
        while True:
            with open(out + ".tmp", "w") as f:
                f.write(str(len(asyncio.all_tasks())))
            import os; os.replace(out + ".tmp", out)
            await asyncio.sleep(1)
    _app["soak-counter"] = asyncio.get_running_loop().create_task(loop())

async def stop_counter(_app):
    _app["soak-counter"].cancel()

app = app_module.build_app(settings)
app.on_startup.append(count_tasks)
app.on_cleanup.append(stop_counter)
serve(app, settings.listen_host, settings.listen_port)
"""
HEALTH_LOOP = "while true; do touch /tmp/ok; sleep 7; rm -f /tmp/ok; sleep 5; done"


def docker(*args: str, check: bool = True) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def scrape(url: str) -> tuple[float, int, int]:
    """(seconds, series, containers) of one Prometheus-like scrape."""
    request = urllib.request.Request(url, headers={"Accept": ACCEPT, "Accept-Encoding": "gzip"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
    took = time.perf_counter() - started
    lines = body.splitlines()
    series = sum(1 for line in lines if line and not line.startswith(b"#"))
    containers = sum(1 for line in lines if line.startswith(b"docker_container_info{"))
    return took, series, containers


class Churn:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.n = 0
        self.live: list[str] = []

    def create(self) -> None:
        name = f"{self.prefix}-{self.n}"
        self.n += 1
        docker(
            "run", "-d", "--name", name, "--label", "soak=1",
            "--health-cmd", "test -f /tmp/ok", "--health-interval", "2s",
            "--health-retries", "1", "busybox:local", "sh", "-c", HEALTH_LOOP,
        )  # fmt: skip
        self.live.append(name)

    def retire(self) -> None:
        if self.live:
            docker("rm", "-f", self.live.pop(0), check=False)

    def cleanup(self) -> None:
        names = docker("ps", "-aq", "--filter", f"name={self.prefix}-", check=False).split()
        if names:
            docker("rm", "-f", *names, check=False)


def main() -> int:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--pool", type=int, default=10, help="containers alive at once")
    parser.add_argument("--churn", type=float, default=5.0, help="seconds between replacements")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between rows")
    parser.add_argument("--warmup", type=float, default=120.0)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()

    port = free_port()
    counter = Path(tempfile.mkdtemp(prefix="dxsoak-")) / "tasks"
    flags = [f"--web.listen-address=127.0.0.1:{port}", "--no-collector.top"]
    host = os.environ.get("DOCKER_HOST", "")
    if host:
        flags.append(f"--docker.host={host}")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(counter), *flags])
    url = f"http://127.0.0.1:{port}/metrics"
    churn = Churn(f"dxsoak-{uuid.uuid4().hex[:6]}")
    rows: list[dict[str, float]] = []
    try:
        for _ in range(args.pool):
            churn.create()
        deadline = time.monotonic() + 30
        while True:
            try:
                scrape(url)
                break
            except OSError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise
                time.sleep(0.2)
        started = time.monotonic()
        end = started + args.minutes * 60
        next_churn = started + args.churn
        next_row = started
        latencies: list[float] = []
        series = containers = 0
        scrapes = errors = 0
        print(
            " t(s)  RSS(MiB)  fds  threads  tasks  containers  series  scrape p50/p99 (ms)  scrapes"
        )
        while (now := time.monotonic()) < end:
            if child.poll() is not None:
                raise RuntimeError(f"the exporter exited with {child.returncode}")
            try:
                took, series, containers = scrape(url)
                latencies.append(took)
                scrapes += 1
            except OSError:
                errors += 1
            if now >= next_churn:
                churn.retire()
                churn.create()
                next_churn += args.churn
            if now >= next_row:
                tasks = int(counter.read_text()) if counter.exists() else -1
                row = {
                    "t": round(now - started),
                    "rss_mib": rss_kib(child.pid) / 1024,
                    "fds": fds(child.pid),
                    "threads": threads(child.pid),
                    "tasks": tasks,
                    "series": series,
                    "containers": containers,
                    "p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
                    "p99_ms": (
                        statistics.quantiles(latencies, n=100)[98] * 1000
                        if len(latencies) >= 2
                        else 0.0
                    ),
                    "scrapes": scrapes,
                }
                rows.append(row)
                print(
                    f"{row['t']:5.0f}  {row['rss_mib']:8.2f}  {row['fds']:3.0f}  "
                    f"{row['threads']:7.0f}  {row['tasks']:5.0f}  {containers:10.0f}  "
                    f"{row['series']:6.0f}  {row['p50_ms']:8.1f} / {row['p99_ms']:6.1f}"
                    f"      {scrapes}",
                    flush=True,
                )
                latencies = []
                next_row += args.every
            time.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
    finally:
        churn.cleanup()
        child.terminate()
        child.wait(timeout=30)
    warm = [r for r in rows if r["t"] >= args.warmup] or rows
    first, last = warm[0], warm[-1]
    print(f"\nafter the {args.warmup:.0f} s warm-up ({first['t']:.0f} s to {last['t']:.0f} s):")
    growth = (last["rss_mib"] - first["rss_mib"]) * 1024
    peak = (max(r["rss_mib"] for r in warm) - first["rss_mib"]) * 1024
    # fds follow the containers running at the sampling instant (a replacement closes one
    # container's kept files and opens the next one's): compare the medians of the first
    # and the last third, which a leak moves and churn does not.
    third = max(len(warm) // 3, 1)
    fd_early = statistics.median(r["fds"] for r in warm[:third])
    fd_late = statistics.median(r["fds"] for r in warm[-third:])
    task_span = max(r["tasks"] for r in warm) - min(r["tasks"] for r in warm)
    print(f"  RSS growth {growth:+.0f} KiB (peak {peak:+.0f} KiB): {_ok(growth < 2048)} < 2 MiB")
    print(
        f"  fds median {fd_early:.0f} (first third) -> {fd_late:.0f} (last third), range "
        f"{min(r['fds'] for r in warm):.0f}-{max(r['fds'] for r in warm):.0f}: "
        f"{_ok(fd_late - fd_early <= 2)} flat"
    )
    print(f"  tasks span {task_span:.0f}: {_ok(task_span <= 2)} constant")
    print(f"  scrape errors {errors}; containers churned {churn.n}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


def _ok(good: bool) -> str:
    return "PASS" if good else "MISS"


if __name__ == "__main__":
    sys.exit(main())

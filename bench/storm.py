"""Event storms and churn at scale, scraped like Prometheus does, with the figures printed.

Against the engine of $DOCKER_HOST (else the default socket), with the exporter in a
child process (bench/soak.py's) and a scrape every second (Prometheus' Accept, gzip):
  1. churn: --containers containers created and started as fast as the engine allows
     (--workers CLI calls at once, `--network none`), then all removed the same way;
     after each half, the time until the exporter's inventory equals `docker ps -a`
     (every container's state as `docker inspect` says), and after the removal no
     series of any of them left;
  2. storm: --events container events or more from pause/unpause loops over --storm
     running containers (one CLI call pauses or unpauses all of them), then the time
     until every container's last state equals `docker inspect`, and the events the
     exporter counted against those sent (the engine drops events for a slow reader);
  3. figures: scrape latency p50/p99/max per phase, the exporter's refresh queue
     high-water mark and peak RSS, rates of the engine itself (the baseline: the same
     CLI calls with the exporter in the same run are all there is to compare with).
Verdicts are printed, never asserted. Containers are named dxstorm-<random>-<n> and
always removed. On a small shared machine scale down with --containers/--events and
say so with the figures.

Usage: .venv/bin/python bench/storm.py [--containers 1000] [--events 10000] [--storm 20]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from soak import CHILD, docker, free_port, rss_kib, scrape


class Scraper(threading.Thread):
    """Scrapes every second in the background; latencies are kept per phase."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.phase = "start"
        self.latencies: dict[str, list[float]] = {}
        self.errors = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            started = time.monotonic()
            try:
                took, _, _ = scrape(self.url)
                self.latencies.setdefault(self.phase, []).append(took)
            except OSError:
                self.errors += 1
            self.stopped.wait(max(0.0, 1.0 - (time.monotonic() - started)))


def metric(base: str, name: str, **labels: str) -> float | None:
    with urllib.request.urlopen(base + "/metrics", timeout=30) as response:
        text = response.read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + ("{" + want + "}" if want else " ")):
            return float(line.rsplit(" ", 1)[1])
        if (
            want
            and line.startswith(name + "{")
            and all(f'{k}="{v}"' in line for k, v in labels.items())
        ):
            return float(line.rsplit(" ", 1)[1])
    return None


def exporter_states(base: str, prefix: str) -> dict[str, str]:
    with urllib.request.urlopen(base + f"/inventory?name={prefix}", timeout=30) as response:
        doc = json.loads(response.read())
    return {c["id"]: c["state"] for c in doc["containers"]}


def engine_states(prefix: str) -> dict[str, str]:
    ids = docker("ps", "-aq", "--no-trunc", "--filter", f"name={prefix}-").split()
    if not ids:
        return {}
    out = docker("inspect", "--format", "{{.Id}} {{.State.Status}}", *ids, check=False)
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def converge(base: str, prefix: str, limit: float = 300.0) -> tuple[float, int]:
    """Seconds until the exporter's view equals the engine's, and the mismatches left."""
    started = time.monotonic()
    while True:
        want = engine_states(prefix)
        got = exporter_states(base, prefix)
        wrong = sum(1 for cid, state in want.items() if got.get(cid) != state)
        wrong += sum(1 for cid in got if cid not in want)
        if not wrong or time.monotonic() - started > limit:
            return time.monotonic() - started, wrong
        time.sleep(0.5)


def percentiles(values: list[float]) -> str:
    if not values:
        return "no scrapes"
    ms = sorted(v * 1000 for v in values)
    p99 = ms[min(len(ms) - 1, math.ceil(0.99 * len(ms)) - 1)]  # nearest rank
    return (
        f"p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms "
        f"({len(ms)} scrapes)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--storm", type=int, default=20, help="containers paused in the storm")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--skip-churn", action="store_true", help="only the event storm")
    args = parser.parse_args()

    prefix = f"dxstorm-{uuid.uuid4().hex[:6]}"
    port = free_port()
    counter = Path(tempfile.mkdtemp(prefix="dxstorm-")) / "tasks"
    flags = [f"--web.listen-address=127.0.0.1:{port}", "--no-collector.top"]
    if os.environ.get("DOCKER_HOST"):
        flags.append(f"--docker.host={os.environ['DOCKER_HOST']}")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(counter), *flags])
    base = f"http://127.0.0.1:{port}"
    scraper = Scraper(base + "/metrics")

    def run(n: int) -> None:
        docker(
            "run", "-d", "--network", "none", "--name", f"{prefix}-{n}", "--label", "storm=1",
            "busybox:local", "sleep", "3600",
        )  # fmt: skip

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                scrape(base + "/metrics")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        scraper.start()
        peak_rss = 0
        if not args.skip_churn:
            peak_rss = churn(args, base, prefix, scraper, run, pid=child.pid)
        storm(args, base, prefix, scraper, run)
        high = metric(base, "docker_exporter_refresh_queue_high_water") or 0
        reconnects = metric(base, "docker_exporter_event_stream_reconnects_total") or 0
        peak_rss = max(peak_rss, rss_kib(child.pid))
        print(
            f"refresh queue high-water mark: {high:.0f} objects; exporter peak RSS seen "
            f"{peak_rss / 1024:.1f} MiB; event stream reconnects {reconnects:.0f}"
        )
    finally:
        scraper.stopped.set()
        ids = docker("ps", "-aq", "--filter", f"name={prefix}-", check=False).split()
        for i in range(0, len(ids), 50):
            docker("rm", "-f", *ids[i : i + 50], check=False)
        child.terminate()
        child.wait(timeout=30)
    print("scrape latency by phase:")
    for phase, values in scraper.latencies.items():
        print(f"  {phase:16} {percentiles(values)}")
    print(f"  scrape errors: {scraper.errors}")
    return 0


def churn(
    args: argparse.Namespace,
    base: str,
    prefix: str,
    scraper: Scraper,
    run: Callable[[int], None],
    *,
    pid: int,
) -> int:
    """Create and remove --containers as fast as the engine allows; the peak RSS (KiB)."""
    scraper.phase = "create"
    started = time.monotonic()
    with ThreadPoolExecutor(args.workers) as pool:
        list(pool.map(run, range(args.containers)))
    took = time.monotonic() - started
    print(
        f"created and started {args.containers} containers in {took:.1f} s "
        f"({args.containers / took:.1f}/s, {args.workers} CLI calls at once)"
    )
    scraper.phase = "converge-create"
    lag, wrong = converge(base, prefix)
    print(f"  exporter matched docker inspect {lag:.1f} s after the last start ({wrong} wrong)")
    peak_rss = rss_kib(pid)
    scraper.phase = "remove"
    ids = docker("ps", "-aq", "--filter", f"name={prefix}-").split()
    batches = [ids[i : i + 25] for i in range(0, len(ids), 25)]
    started = time.monotonic()
    with ThreadPoolExecutor(args.workers) as pool:
        list(pool.map(lambda b: docker("rm", "-f", *b, check=False), batches))
    took = time.monotonic() - started
    print(f"removed them in {took:.1f} s ({len(ids) / took:.1f}/s)")
    scraper.phase = "converge-remove"
    lag, wrong = converge(base, prefix)
    with urllib.request.urlopen(base + "/metrics", timeout=30) as response:
        stale = sum(1 for line in response.read().decode().splitlines() if prefix in line)
    print(
        f"  exporter matched {lag:.1f} s after the last removal ({wrong} wrong); "
        f"series left naming them: {stale} ({'PASS' if stale == 0 else 'MISS'})"
    )
    return peak_rss


def storm(
    args: argparse.Namespace, base: str, prefix: str, scraper: Scraper, run: Callable[[int], None]
) -> None:
    """Pause/unpause loops; the exporter's count against an independent `docker events`."""
    scraper.phase = "storm"
    for n in range(args.storm):
        run(args.containers + n)
    converge(base, prefix)
    names = [f"{prefix}-{args.containers + n}" for n in range(args.storm)]
    before = {
        action: metric(base, "docker_events_total", type="container", action=action) or 0
        for action in ("pause", "unpause")
    }
    # The baseline: another subscriber (the docker CLI) counting the same events, written
    # to a file as they come (a pipe read only at the end would make it a slow reader,
    # and dockerd drops events for a slow reader).
    seen_file = tempfile.TemporaryFile("w+")  # noqa: SIM115 - read back after the storm
    baseline_stream = subprocess.Popen(
        [
            "docker", "events", "--since", str(int(time.time()) - 1),
            "--format", "{{.Action}} {{.Actor.ID}}", "--filter", "type=container",
            "--filter", "event=pause", "--filter", "event=unpause",
        ],
        stdout=seen_file,
        text=True,
    )  # fmt: skip
    rounds = -(-args.events // (2 * args.storm))
    started = time.monotonic()
    for _ in range(rounds):
        docker("pause", *names, check=False)
        docker("unpause", *names, check=False)
    docker("pause", *names[: args.storm // 2], check=False)  # a mixed final state
    took = time.monotonic() - started
    sent = 2 * rounds * args.storm + args.storm // 2
    print(f"storm: {sent} pause/unpause actions in {took:.1f} s ({sent / took:.0f}/s)")
    scraper.phase = "converge-storm"
    lag, wrong = converge(base, prefix)
    print(
        f"  every container's last state equals docker inspect {lag:.1f} s after the "
        f"storm ({wrong} wrong: {'PASS' if wrong == 0 else 'MISS'})"
    )
    time.sleep(2)  # the baseline subscriber's last lines (its stream has no end marker)
    baseline_stream.terminate()
    baseline_stream.wait(timeout=30)
    seen_file.seek(0)
    seen = seen_file.read()
    seen_file.close()
    ids = set(engine_states(prefix))
    baseline = sum(1 for line in seen.splitlines() if line.split(" ")[-1] in ids)
    counted = sum(
        (metric(base, "docker_events_total", type="container", action=a) or 0) - before[a]
        for a in ("pause", "unpause")
    )
    print(
        f"  events counted by the exporter: {counted:.0f}; by an independent `docker events` "
        f"subscriber (the baseline): {baseline}; ratio {counted / max(baseline, 1):.4f} "
        f"({'PASS' if counted == baseline else 'MISS'})"
    )


if __name__ == "__main__":
    sys.exit(main())

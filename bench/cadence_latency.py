"""Does a scrape at Prometheus' cadence still find its body ready (issue 25)?

Starts N `perf-cadence-N` sleepers and the exporter (`--stats.interval 1s`), then scrapes
/metrics like Prometheus (its Accept header, gzip, `X-Prometheus-Scrape-Timeout-Seconds`)
every --every seconds (± 0.5 s: a phase moving across the 1 s sweeps). Each round times
that scrape (the first after some sweeps: found prewarmed when the cadence works,
rendered on demand when not); after the rounds, the
same request back to back (cached bodies, the floor). Prints the medians and their ratio
(target: within 1.5x), measured in the same run.

Usage: .venv/bin/python bench/cadence_latency.py [--count 100] [--every 5] [--rounds 12]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib.common import EXPORTER_BIN, PROMETHEUS_ACCEPT
from benchlib.dockercli import choose_network, remove_containers, start_containers
from benchlib.exporter_proc import free_port
from benchlib.report import log
from peers import started

PREFIX = "perf-cadence"
LABEL = "dxt.bench=perf-cadence"


def scrape(conn: http.client.HTTPConnection) -> float:
    headers = {
        "Accept": PROMETHEUS_ACCEPT,
        "Accept-Encoding": "gzip",
        "X-Prometheus-Scrape-Timeout-Seconds": "4",
    }
    start = time.perf_counter()
    conn.request("GET", "/metrics", headers=headers)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        msg = f"/metrics answered {response.status}"
        raise RuntimeError(msg)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    remove_containers(PREFIX, LABEL)
    try:
        start_containers(PREFIX, LABEL, args.count, choose_network(PREFIX, LABEL))
        port = free_port()
        command = [str(EXPORTER_BIN), "--web.listen-address", f"127.0.0.1:{port}"]
        command += ["--log.level", "warn", "--stats.interval", "1s"]
        with started(command):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            deadline = time.monotonic() + 60
            while True:
                try:
                    scrape(conn)
                    break
                except (OSError, http.client.HTTPException, RuntimeError):
                    conn.close()
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            first = []
            for i in range(args.rounds + 2):
                # Prometheus' cadence, at a phase that moves across the sweep interval:
                # a fixed phase would land every scrape at the same point after a sweep
                # (all found ready, or all just after a publication, rendered on demand)
                time.sleep(args.every + (0.37 * i) % 1.0 - 0.5)  # a bench, not a test
                first.append(scrape(conn))
            # the floor, after the cadence rounds (a scrape in between would be recorded
            # as a second scraper): back to back, mostly hits of one version
            cached = [scrape(conn) for _ in range(20)][1:]
            conn.close()
        first = first[2:]  # the cadence is learned on the second scrape
    finally:
        remove_containers(PREFIX, LABEL)
    a, b = statistics.median(first), statistics.median(cached)
    log(
        f"{args.count} containers, 1 s sweeps, a scrape every {args.every:g} s, {len(first)} rounds"
    )
    print(f"scrape at the cadence, median: {a:.2f} ms (max {max(first):.2f})")
    print(f"the same request back to back (cached), median: {b:.2f} ms")
    print(f"ratio: x{a / b:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()

"""How fast a hung engine is seen: SIGSTOP a dockerd of your own, watch docker_up.

The exporter runs in a child process on --docker.host with its default ping interval
(5 s) and timeout (3 s) unless told otherwise; this script scrapes it every 100 ms,
freezes the engine (`kill -STOP` of the dockerd in --pidfile), and prints per round: the
time until docker_up 0 (the bound is interval + timeout), the scrape latency and series
count while frozen (the last inventory must stay served, and fast), and after SIGCONT
the time until docker_up 1 again (a reconnect and a reconcile). It prints the exporter's
log lines about the outage: one when it starts, one when it ends.

Never point it at the host's shared engine: it refuses a pidfile whose process is not a
dockerd serving --docker.host, or a host of /var/run/docker.sock. A private one:
  bash -c 'source scripts/legs.bash; leg_down(){ :; }; leg_dockerd hung-bench'
(then DOCKER_HOST=unix:///run/docker-exporter-legs/hung-bench/docker.sock and
--pidfile /run/docker-exporter-legs/hung-bench/docker.pid).

Usage: .venv/bin/python bench/hung_engine.py --docker.host unix:///.../docker.sock
       --pidfile /.../docker.pid [--rounds 3] [--frozen 20] [--ping-interval 5s]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from soak import CHILD, free_port, scrape

SHARED = "/var/run/docker.sock"


def up(url: str) -> float | None:
    with urllib.request.urlopen(url, timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("docker_up "):
                return float(line.split()[1])
    return None


def wait_for(url: str, value: float, limit: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if up(url) == value:
            return time.monotonic() - started
        time.sleep(0.1)
    raise RuntimeError(f"docker_up never became {value} within {limit} s")


def main() -> int:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docker.host", dest="host", default=os.environ.get("DOCKER_HOST", ""))
    parser.add_argument("--pidfile", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frozen", type=float, default=20.0, help="seconds frozen per round")
    parser.add_argument("--ping-interval", default="5s")
    parser.add_argument("--ping-timeout", default="3s")
    args = parser.parse_args()
    socket_path = args.host.removeprefix("unix://")
    pid = int(Path(args.pidfile).read_text().strip())
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    if not args.host or socket_path in (SHARED, "/run/docker.sock"):
        parser.error("refusing the host's shared engine: start a private one (see --help)")
    if "dockerd" not in cmdline or socket_path not in cmdline:
        parser.error(f"pid {pid} is not a dockerd serving {args.host}: {cmdline[:120]}")

    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="dxhung-")) / "exporter.log"
    flags = [
        f"--web.listen-address=127.0.0.1:{port}",
        f"--docker.host={args.host}",
        f"--docker.ping-interval={args.ping_interval}",
        f"--docker.ping-timeout={args.ping_timeout}",
        "--no-collector.top",
    ]
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD.replace('"warn"', '"info"'), str(log) + ".tasks", *flags],
            stderr=out,
        )
    url = f"http://127.0.0.1:{port}/metrics"
    detections, recoveries = [], []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if up(url) == 1:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the exporter never reported docker_up 1")
            time.sleep(0.2)
        print(
            f"engine {args.host} (dockerd pid {pid}); ping every {args.ping_interval}, "
            f"timeout {args.ping_timeout}"
        )
        for n in range(1, args.rounds + 1):
            time.sleep(2.5 * n % 5)  # freeze at different points of the ping cycle
            _, series_before, _ = scrape(url)
            os.kill(pid, signal.SIGSTOP)
            try:
                detected = wait_for(url, 0, 60)
                latencies, series = [], set()
                end = time.monotonic() + args.frozen
                while time.monotonic() < end:
                    took, count, _ = scrape(url)
                    latencies.append(took * 1000)
                    series.add(count)
                    time.sleep(0.1)
            finally:
                os.kill(pid, signal.SIGCONT)
            recovered = wait_for(url, 1, 120)
            detections.append(detected)
            recoveries.append(recovered)
            ms = sorted(latencies)
            print(
                f"round {n}: docker_up 0 after {detected:.2f} s; frozen {args.frozen:.0f} s: "
                f"scrapes p50 {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms, series "
                f"{sorted(series)} (before {series_before}); docker_up 1 again "
                f"{recovered:.2f} s after SIGCONT"
            )
    finally:
        with Path(f"/proc/{pid}/status").open() as status:
            if any(line.startswith("State:\tT") for line in status):
                os.kill(pid, signal.SIGCONT)
        child.terminate()
        child.wait(timeout=30)
    print(
        f"detection: mean {statistics.mean(detections):.2f} s, max {max(detections):.2f} s "
        f"(bound: ping interval + timeout); recovery: mean {statistics.mean(recoveries):.2f} s"
    )
    lines = [
        line for line in log.read_text().splitlines()
        if "unreachable" in line or "reachable again" in line
    ]  # fmt: skip
    print(f"exporter log lines about the outages ({len(lines)} for {args.rounds} rounds):")
    for line in lines:
        print("  " + line[:200])
    return 0


if __name__ == "__main__":
    sys.exit(main())

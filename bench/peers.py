"""The peer bench (issue 25): docker-exporter, netdata's cgroups plugin and cAdvisor, ONE AT A
TIME against the same N running containers, each scraped by a real Prometheus 3.5 (its own
Accept header, gzip), with the table of the issue printed at the end.

Per config: the peer starts, Prometheus 3.5 scrapes it every --scrape-interval, and after
two scrapes a window of --window seconds is measured:

- own CPU ms per container-sample: the CPU (utime + stime, /proc) of the peer's whole
  process tree over the window, divided by running containers x window / its sampling
  interval (the nominal interval: 1 s for netdata and cAdvisor as configured here);
- scrape p50: Prometheus' own `scrape_duration_seconds` of the target, median over the
  window (query_range at 1 s steps, so repeated points of one scrape weigh alike);
- samples: Prometheus' `scrape_samples_scraped` (the last one);
- RSS: VmRSS of the peer's process tree at the end of the window.

docker-exporter's rows are also printed as ratios to netdata's, measured in the same run:
CPU time and ratios, not wall time, are what this bench is for (the machine it was written
on was shared by eight busy sessions; see docs/performance.md).

netdata (Debian 12's `apt-get install netdata`, 1.37) runs from a config this bench writes
into a temporary directory: the cgroups plugin at 1 s (`[plugin:cgroups] update every = 1`),
every other plugin, health, ML and streaming off, the database in RAM, listening on a free
loopback port; Prometheus scrapes `/api/v1/allmetrics?format=prometheus`. It is stopped at
the end of its window (SIGTERM, then SIGKILL), like cAdvisor
(`../shared/peers/cadvisor-v0.36.0 -docker_only -housekeeping_interval=1s
-allow_dynamic_housekeeping=false`: a fixed 1 s, not backed off while stats idle; BUILD.md).

Containers are busybox sleepers named `perf-peers-N`, removed at the end.

Usage: .venv/bin/python bench/peers.py [--count 100] [--window 120] [--scrape-interval 15]
    [--only exporter-1s,exporter-5s,exporter-1s-unscraped,netdata,cadvisor] [--label before]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from benchlib.common import CLK_TCK, EXPORTER_BIN
from benchlib.dockercli import choose_network, remove_containers, start_containers
from benchlib.exporter_proc import free_port
from benchlib.report import log, table
from prometheus3 import prometheus3

PREFIX = "perf-peers"
LABEL = "dxt.bench=perf-peers"
CADVISOR = Path(__file__).resolve().parents[3] / "shared" / "peers" / "cadvisor-v0.36.0"
if not CADVISOR.exists():
    CADVISOR = Path("/work/shared/peers/cadvisor-v0.36.0")

NETDATA_CONF = """\
[global]
    update every = 1
    memory mode = ram
    history = 120
    run as user = root
[directories]
    cache = {dir}/cache
    lib = {dir}/lib
    log = {dir}/log
    lock = {dir}/lock
    config = {dir}
    stock config = /usr/lib/netdata/conf.d
[logs]
    debug log = none
    error log = {dir}/log/error.log
    access log = none
[web]
    bind to = 127.0.0.1:{port}
    mode = static-threaded
[health]
    enabled = no
[ml]
    enabled = no
[registry]
    enabled = no
[cloud]
    conversation log = no
[plugins]
    enable running new plugins = no
    check for new plugins every = 3600
    cgroups = yes
    proc = no
    diskspace = no
    tc = no
    idlejitter = no
    timex = no
    checks = no
    statsd = no
    apps = no
    python.d = no
    charts.d = no
    go.d = no
    node.d = no
    ebpf = no
    fping = no
    ioping = no
    perf = no
    slabinfo = no
    freeipmi = no
    nfacct = no
    cups = no
    debugfs = no
[plugin:cgroups]
    update every = 1
    check for new cgroups every = 10
[statsd]
    enabled = no
"""


@dataclass(frozen=True)
class Peer:
    name: str
    port: int
    interval: float
    """Its sampling interval: a container-sample is one container over one interval."""
    command: list[str]
    path: str
    params: dict[str, list[str]]
    env: dict[str, str] | None = None
    scraped: bool = True
    """False: no Prometheus at all (the idle cost)."""


@dataclass(frozen=True)
class Row:
    name: str
    containers: int
    cpu_ms_per_sample: float
    scrape_p50_ms: float
    samples: int
    rss_mib: float


def tree(pid: int) -> list[int]:
    """The pid and all its descendants (from /proc's ppid fields)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def ticks(pid: int) -> int:
    """utime + stime (+ children's reaped: cgroup-network helpers of netdata)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(f) for f in fields[11:15])


def tree_ticks(pid: int) -> int:
    return sum(ticks(p) for p in tree(pid))


def tree_rss_kib(pid: int) -> int:
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def running_containers() -> int:
    out = subprocess.run(
        ["docker", "ps", "-q"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return len(out.split())


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def started(command: list[str], env: dict[str, str] | None = None) -> Iterator[int]:
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        try:
            yield proc.pid
        finally:
            stop(proc)
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip().splitlines()[-3:]
            if proc.returncode not in (0, -signal.SIGTERM) and tail:
                log(f"{command[0]} exited {proc.returncode}: " + " | ".join(tail))


class Prometheus:
    """Prometheus 3.5 scraping one target, in a temporary directory."""

    def __init__(self, workdir: Path, target: str, peer: Peer, interval: float) -> None:
        self.port = free_port()
        params = "".join(
            f"      {k}: [{', '.join(json.dumps(v) for v in vs)}]\n"
            for k, vs in peer.params.items()
        )
        config = (
            "global:\n"
            f"  scrape_interval: {interval:g}s\n"
            f"  scrape_timeout: {min(interval, 10):g}s\n"
            "scrape_configs:\n"
            "  - job_name: peer\n"
            f"    metrics_path: {peer.path}\n"
            + (f"    params:\n{params}" if params else "")
            + f"    static_configs:\n      - targets: ['{target}']\n"
        )
        (workdir / "prometheus.yml").write_text(config)
        self.command = [
            str(prometheus3()),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]

    def query(self, path: str, **params: str) -> list[dict[str, object]]:
        url = f"http://127.0.0.1:{self.port}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=30) as response:
            data = json.load(response)
        result: list[dict[str, object]] = data["data"]["result"]
        return result

    def scrapes(self) -> int:
        with contextlib.suppress(OSError, KeyError, ValueError):
            result = self.query("/api/v1/query", query='count_over_time(up{job="peer"}[1h])')
            if result:
                return int(float(result[0]["value"][1]))  # type: ignore[index]
        return 0

    def healthy_scrapes(self) -> int:
        with contextlib.suppress(OSError, KeyError, ValueError):
            result = self.query("/api/v1/query", query='sum_over_time(up{job="peer"}[1h])')
            if result:
                return int(float(result[0]["value"][1]))  # type: ignore[index]
        return 0


def wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.5)
    msg = f"timed out waiting for {what}"
    raise RuntimeError(msg)


def measure_unscraped(peer: Peer, window: float) -> Row:
    with started(peer.command, peer.env) as pid:
        time.sleep(20)  # start-up and the first sweeps (a bench, not a test)
        containers = running_containers()
        t0, start = time.time(), tree_ticks(pid)
        time.sleep(window)
        used = tree_ticks(pid) - start
        t1 = time.time()
        rss = tree_rss_kib(pid)
    container_samples = max(containers, 1) * (t1 - t0) / peer.interval
    cpu_ms = used / CLK_TCK * 1000
    return Row(peer.name, containers, cpu_ms / container_samples, float("nan"), 0, rss / 1024)


def measure(peer: Peer, window: float, scrape_interval: float) -> Row:
    if not peer.scraped:
        return measure_unscraped(peer, window)
    with tempfile.TemporaryDirectory(prefix="perf-peers-prom-") as tmp:
        prom = Prometheus(Path(tmp), f"127.0.0.1:{peer.port}", peer, scrape_interval)
        with started(peer.command, peer.env) as pid, started(prom.command):
            wait(lambda: prom.healthy_scrapes() >= 2, 180 + 3 * scrape_interval, peer.name)
            containers = running_containers()
            t0, start = time.time(), tree_ticks(pid)
            time.sleep(window)  # the measured window (a bench, not a test)
            used = tree_ticks(pid) - start
            t1 = time.time()
            rss = tree_rss_kib(pid)
            rng = {"start": f"{t0:.3f}", "end": f"{t1:.3f}", "step": "1"}
            durations = prom.query(
                "/api/v1/query_range", query='scrape_duration_seconds{job="peer"}', **rng
            )
            values = [float(v[1]) for v in durations[0]["values"]] if durations else []  # type: ignore[index]
            samples = prom.query("/api/v1/query", query='scrape_samples_scraped{job="peer"}')
            count = int(float(samples[0]["value"][1])) if samples else 0  # type: ignore[index]
    cpu_ms = used / CLK_TCK * 1000
    container_samples = max(containers, 1) * (t1 - t0) / peer.interval
    return Row(
        peer.name,
        containers,
        cpu_ms / container_samples,
        statistics.median(values) * 1000 if values else float("nan"),
        count,
        rss / 1024,
    )


def peers(workdir: Path, only: set[str]) -> Iterator[Peer]:
    for interval, scraped in (("1s", True), ("5s", True), ("1s", False)):
        name = f"exporter-{interval}" + ("" if scraped else "-unscraped")
        if name in only:
            port = free_port()
            yield Peer(
                f"docker-exporter, --stats.interval {interval}"
                + ("" if scraped else ", no scraper (idle cost)"),
                port,
                float(interval[:-1]),
                [
                    str(EXPORTER_BIN),
                    "--web.listen-address",
                    f"127.0.0.1:{port}",
                    "--log.level",
                    "warn",
                    "--stats.interval",
                    interval,
                ],
                "/metrics",
                {},
                scraped=scraped,
            )
    if "netdata" in only:
        netdata = shutil.which("netdata") or "/usr/sbin/netdata"
        if not os.access(netdata, os.X_OK):
            log("netdata is not installed (apt-get install netdata): its row is left out")
        else:
            conf_dir = workdir / "netdata"
            for sub in ("cache", "lib", "log", "lock"):
                (conf_dir / sub).mkdir(parents=True, exist_ok=True)
            port = free_port()
            (conf_dir / "netdata.conf").write_text(NETDATA_CONF.format(dir=conf_dir, port=port))
            yield Peer(
                "netdata 1.37 cgroups plugin, 1 s",
                port,
                1.0,
                [netdata, "-D", "-c", str(conf_dir / "netdata.conf"), "-P", str(conf_dir / "pid")],
                "/api/v1/allmetrics",
                {"format": ["prometheus"]},
            )
    if "cadvisor" in only:
        if not os.access(CADVISOR, os.X_OK):
            log(f"{CADVISOR} not found: cAdvisor's row is left out")
        else:
            port = free_port()
            yield Peer(
                "cAdvisor v0.36, 1 s",
                port,
                1.0,
                [
                    str(CADVISOR),
                    "-listen_ip=127.0.0.1",
                    f"-port={port}",
                    "-logtostderr",
                    "-docker_only",
                    "-housekeeping_interval=1s",
                    "-allow_dynamic_housekeeping=false",
                ],
                "/metrics",
                {},
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--window", type=float, default=120.0)
    parser.add_argument("--scrape-interval", type=float, default=15.0)
    parser.add_argument("--only", default="exporter-1s,exporter-5s,netdata,cadvisor")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    if prometheus3() is None:
        sys.exit("Prometheus 3.5 not found (scripts/testbed --prometheus3)")
    only = set(args.only.split(","))
    rows: list[Row] = []
    remove_containers(PREFIX, LABEL)
    try:
        network = choose_network(PREFIX, LABEL)
        took = start_containers(PREFIX, LABEL, args.count, network)
        log(f"{args.count} containers started in {took:.1f} s")
        with tempfile.TemporaryDirectory(prefix="perf-peers-") as tmp:
            for peer in peers(Path(tmp), only):
                log(f"measuring {peer.name} for {args.window:g} s")
                row = measure(peer, args.window, args.scrape_interval)
                log(f"  {row}")
                rows.append(row)
    finally:
        remove_containers(PREFIX, LABEL)
    print_table(rows, args)


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    netdata = next((r for r in rows if r.name.startswith("netdata")), None)
    lines = [
        [
            "config",
            "running containers",
            "own CPU ms per container-sample",
            f"Prometheus 3.5 scrape p50 (every {args.scrape_interval:g} s)",
            "samples",
            "RSS",
            "CPU vs netdata",
        ]
    ]
    for r in rows:
        ratio = (
            f"{r.cpu_ms_per_sample / netdata.cpu_ms_per_sample:.2f}x"
            if netdata is not None and r.name.startswith("docker-exporter")
            else ""
        )
        lines.append(
            [
                r.name,
                str(r.containers),
                f"{r.cpu_ms_per_sample:.3f}",
                f"{r.scrape_p50_ms:.1f} ms",
                str(r.samples),
                f"{r.rss_mib:.1f} MiB",
                ratio,
            ]
        )
    print(f"\npeer bench {args.label} ({args.window:g} s windows)")
    print(table(lines))


if __name__ == "__main__":
    main()

"""The cAdvisor drop-in, live: cAdvisor v0.36 and the exporter's cAdvisor-shaped listener
on the same containers, one Prometheus scraping each, and every cAdvisor expression of
the public set (dockprom, awesome-prometheus-alerts, Grafana.com 193 and 15798, Grafana
Labs' docker-mixin) evaluated on both at the same instant.

An expression answers like cAdvisor when both give no series, or the same series
identities (by `name`, plus `interface`/`failure_type`/`scope` where present, summed over
the rest: cAdvisor's per-CPU split and its device names are not copied) with values
within 10 % (or within 2 % of the answer's largest value, for near-zero rates). The
differences that are design decisions are listed in EXCEPTIONS with their reason
(docs/cadvisor.md); anything else fails. The ContainerKilled rule
(`time() - container_last_seen > 60`) must fire and resolve within seconds of each other.

cAdvisor comes from $DXT_CADVISOR, else ../shared/peers (relative to the repository root),
else /work/shared/peers;
Prometheus is $DXT_PROMETHEUS, else the test bed's Prometheus 3.5 (sid-prometheus), else
the `prometheus` on PATH. Both servers run with --query.lookback-delta=90s and the
exporter with --compat.cadvisor.last-seen-grace=90s, so that the linger (5 minutes by
default on both sides) ends within the test.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    docker,
    engine_answers,
    found,
    free_port,
    poll,
    skip_not_applicable,
    skip_testbed_limit,
)
from prometheus3 import prometheus2, prometheus3

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
QUERIES = Path(__file__).parent / "fixtures" / "cadvisor-queries-public.json"
"""The public set (../shared/reference), copied: 149 records, 70 on cAdvisor metrics."""
PEER = "peers/cadvisor-v0.36.0"
CADVISOR = Path(
    os.environ.get("DXT_CADVISOR")
    or next(
        (p for p in (ROOT.parent / "shared" / PEER, Path("/work/shared") / PEER) if p.exists()),
        ROOT.parent / "shared" / PEER,
    )
)
GRACE = 90
"""Seconds: the exporter's last-seen grace and both servers' lookback delta."""
SCRAPE = 5
WARMUP = 80
"""Seconds of data before the comparison: [1m] rates and `offset 1m` need more than 60."""
TOLERANCE = 0.10
ALERT_SLACK = 12.0
"""Seconds ContainerKilled may fire or resolve apart: cAdvisor's last sample is up to its
housekeeping interval (1 s) old, ours up to --stats.interval (2 s) plus a scrape (5 s)."""
GRAFANA = {
    "$__rate_interval": "1m",
    "$interval": "1m",
    "$job": ".*",
    "$node": ".*",
    "$instance": ".*",
    "$name": ".*",
    "$service": ".*",
    "$container": ".*",
}
"""Grafana's template variables, replaced by match-all values (All) and a 1m interval."""
IDENTITY = ("name", "interface", "failure_type", "scope")

DISKSTATS = (
    "per-container ops only: cAdvisor adds the device-wide /proc/diskstats row to every container"
)
EXCEPTIONS: tuple[tuple[str, str], ...] = (
    (
        r"container_fs_usage_bytes",
        "not emitted: cAdvisor walks each writable layer with du every minute "
        "(google/cadvisor#2098); no honest cheap source",
    ),
    (r"container_fs_inodes", "not copied: cAdvisor's inodes_free is always 0 for Docker"),
    (r"container_fs_(reads|writes)_total", DISKSTATS),
    (
        r"\birate\(",
        "irate() of two scrapes: without sample timestamps the 5 s between two scrapes is "
        "not the interval between the samples they carry (up to --stats.interval apart); "
        "cAdvisor's timestamps make its irate exact; rate() over 1m agrees",
    ),
    (
        r"avg\b.*container_cpu_usage_seconds_total",
        "avg over cAdvisor's per-CPU series (cgroup v1) divides the container's CPU by the "
        'number of CPUs; ours is the one cpu="total" series: the right value',
    ),
)
"""Expression pattern -> why it cannot answer like cAdvisor's (docs/cadvisor.md)."""
HOST_NETWORK = (
    "host-network container: cAdvisor reports the host's interfaces under its name (not "
    "copied); compared without it"
)


def prometheus_binary() -> tuple[str | None, str]:
    """The Prometheus to run, and its version line (3.5 from the test bed when there)."""
    wanted = os.environ.get("DXT_PROMETHEUS")
    binary = wanted or prometheus3() or prometheus2()
    if not binary:
        return None, ""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return binary, (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else ""


@dataclass
class Server:
    """One Prometheus scraping one target."""

    url: str
    proc: subprocess.Popen[bytes]

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=20) as resp:
            doc = json.load(resp)
        if doc.get("status") != "success":
            raise AssertionError(f"{path} {params}: {doc}")
        return doc["data"]

    def query(self, expr: str, at: float) -> Any:
        return self.api("query", query=expr, time=f"{at:.3f}")


@dataclass
class Bed:
    run: str
    base: Path
    names: dict[str, str]
    cadvisor: Server
    ours: Server
    prometheus_version: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stopped_at: float = 0.0


def _start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _up(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return bool(resp.status == 200)


def _prometheus(binary: str, base: Path, name: str, target: str, keep: str) -> Server:
    config = base / f"{name}.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": f"{SCRAPE}s", "scrape_timeout": "4s"},
                "scrape_configs": [
                    {
                        "job_name": "cadvisor",
                        "static_configs": [{"targets": [target]}],
                        # The shared engine runs other sessions' containers: both servers
                        # keep this run's containers and the host-level series only.
                        "metric_relabel_configs": [
                            {"source_labels": ["name"], "regex": keep, "action": "keep"}
                        ],
                    }
                ],
            }
        )
    )
    port = free_port()
    proc = _start(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={base / (name + '-tsdb')}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--query.lookback-delta={GRACE}s",
        ],
        base / f"{name}.log",
    )
    url = f"http://127.0.0.1:{port}"
    poll(lambda: _up(url + "/-/ready"), f"Prometheus {name}", 60)
    return Server(url, proc)


def _containers(run: str) -> dict[str, str]:
    """The workload, by role -> container name."""
    p = f"cadv-{run}"
    names = {
        role: f"{p}-{role}"
        for role in ("busy", "limited", "hog", "web", "db", "stopper", "hostnet")
    }
    loop = ["sh", "-c", "while :; do :; done"]
    compose = ["--label", f"com.docker.compose.project={p}", "--network", f"{p}-net"]
    docker("network", "create", f"{p}-net")
    runs: list[list[str]] = [
        ["--name", names["busy"], "--cpu-shares", "64", "busybox:local", *loop],
        ["--name", names["limited"], "--cpus", "0.2", "-m", "64m", "busybox:local", *loop],
        [
            "--name", names["hog"], "-m", "128m", "--memory-reservation", "96m",
            "busybox:local", "sh", "-c",
            "dd if=/dev/zero of=/hog bs=1M count=8 oflag=direct 2>/dev/null;"
            " x=$(head -c 40000000 /dev/zero | tr '\\0' a); exec sleep 100000",
        ],
        [
            "--name", names["db"], *compose, "--network-alias", "db",
            "--label", "com.docker.compose.service=db",
            "busybox:local", "sleep", "100000",
        ],
        [
            "--name", names["web"], *compose,
            "--label", "com.docker.compose.service=web",
            "--label", "org.label-schema.group=monitoring",
            "busybox:local", "ping", "-i", "0.2", "db",
        ],
        ["--name", names["stopper"], "busybox:local", "sleep", "100000"],
        ["--name", names["hostnet"], "--network", "host", "busybox:local", "sleep", "100000"],
    ]  # fmt: skip
    for args in runs:
        docker("run", "-d", *args)
    return names


def _cleanup(run: str, names: dict[str, str]) -> None:
    docker("rm", "-f", *names.values(), check=False)
    docker("network", "rm", f"cadv-{run}-net", check=False)


@pytest.fixture(name="bed", scope="module")
def fixture_bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    if not CADVISOR.exists():
        skip_testbed_limit(f"no cAdvisor at {CADVISOR} (set DXT_CADVISOR)")
    if os.geteuid() != 0:
        skip_testbed_limit("cAdvisor reads /sys/fs/cgroup and /var/lib/docker as root")
    if not engine_answers():
        skip_testbed_limit("no live Docker Engine with busybox:local")
    if not Path("/sys/fs/cgroup/cpuacct").exists():
        skip_not_applicable("cAdvisor v0.36 reads cgroup v1 only; this host is cgroup v2")
    binary, version = prometheus_binary()
    if binary is None:
        skip_testbed_limit("no prometheus binary (run scripts/testbed)")
    run = secrets.token_hex(3)
    base = tmp_path_factory.mktemp("cadv")
    names: dict[str, str] = {}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        names = _containers(run)
        cad_port, our_port, web_port = free_port(), free_port(), free_port()
        procs.append(
            _start(
                [
                    str(CADVISOR),
                    "-listen_ip=127.0.0.1",
                    f"-port={cad_port}",
                    "-logtostderr",
                    "-docker_only",
                    "-housekeeping_interval=1s",
                    "-allow_dynamic_housekeeping=false",
                ],
                base / "cadvisor.log",
            )
        )
        procs.append(
            _start(
                [
                    sys.executable,
                    "-m",
                    "exporter",
                    f"--web.listen-address=127.0.0.1:{web_port}",
                    f"--compat.cadvisor.listen-address=127.0.0.1:{our_port}",
                    f"--compat.cadvisor.last-seen-grace={GRACE}s",
                    "--stats.interval=2s",
                    "--stats.source=cgroup",
                ],
                base / "exporter.log",
            )
        )
        for port in (cad_port, our_port):
            poll(lambda p=port: _up(f"http://127.0.0.1:{p}/metrics"), f"metrics on {port}", 60)
        keep = f"(|cadv-{run}-.*)"
        cad = _prometheus(binary, base, "cadvisor", f"127.0.0.1:{cad_port}", keep)
        procs.append(cad.proc)
        ours = _prometheus(binary, base, "ours", f"127.0.0.1:{our_port}", keep)
        procs.append(ours.proc)
        yield Bed(run, base, names, cad, ours, version, procs)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        _cleanup(run, names)


def _expressions() -> list[dict[str, Any]]:
    records = json.loads(QUERIES.read_text())
    return [r for r in records if r.get("cadvisor")]


def promql(record: dict[str, Any]) -> tuple[str, str | None]:
    """The expression with Grafana's variables replaced; a `label_values(sel, label)`
    variable becomes `count by (label) (sel)` (and the label is returned)."""
    expr = record["expr"]
    for var, value in GRAFANA.items():
        expr = expr.replace(var, value)
    match = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", expr, re.S)
    if match:
        return f"count by ({match[2]}) ({match[1]})", match[2]
    return expr, None


def without(expr: str, name: str) -> str:
    """The expression with `name!="<name>"` added to each network selector."""
    expr = re.sub(r"(container_network_\w+)\{", rf'\1{{name!="{name}",', expr)
    return re.sub(r"(container_network_\w+)(?![\w{])", rf'\1{{name!="{name}"}}', expr)


def answer(data: Any, extra: str | None) -> dict[tuple[tuple[str, str], ...], float]:
    """A query's result as identity -> value (summed over what the identity leaves out)."""
    if data["resultType"] == "scalar":
        return {(): float(data["result"][1])}
    keys = (*IDENTITY, extra) if extra and extra not in ("instance", "job") else IDENTITY
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for item in data["result"]:
        metric = item["metric"]
        ident = tuple((k, metric[k]) for k in keys if metric.get(k))
        out[ident] = out.get(ident, 0.0) + float(item["value"][1])
    return out


def close(a: float, b: float, scale: float) -> bool:
    if math.isnan(a) or math.isnan(b):  # x / scalar(count(node_cpu...)) without node_exporter
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= max(TOLERANCE * max(abs(a), abs(b)), 0.02 * scale, 1e-9)


def _compare(bed: Bed, at: float) -> tuple[int, int, list[str], list[str]]:
    """(alike, total, exception lines, failure lines) over every expression."""
    alike, exceptions, failures = 0, [], []
    records = _expressions()
    for record in records:
        expr, extra = promql(record)
        where = f"{record['origin']} / {record['title']}"
        reason = next((why for m, why in EXCEPTIONS if re.search(m, expr)), None)
        drop = "container_network_" in expr
        if drop:  # on both servers, so that sums without `name` leave it out too
            expr = without(expr, bed.names["hostnet"])
        theirs = answer(bed.cadvisor.query(expr, at), extra)
        ours = answer(bed.ours.query(expr, at), extra)
        problem = ""
        if set(theirs) != set(ours):
            problem = f"series {sorted(theirs)} vs ours {sorted(ours)}"
        else:
            scale = max((abs(v) for v in theirs.values()), default=0.0)
            off = [(k, theirs[k], ours[k]) for k in theirs if not close(theirs[k], ours[k], scale)]
            if off:
                problem = "values " + "; ".join(f"{dict(k)}: {t:.4g} vs {o:.4g}" for k, t, o in off)
        if not problem:
            alike += 1
            if drop:
                exceptions.append(f"  (alike) {where}: {HOST_NETWORK}")
        elif reason:
            exceptions.append(f"  {where}: {reason}")
        else:
            failures.append(f"  {where}: {expr}\n    {problem}")
    return alike, len(records), exceptions, failures


def _has(server: Server, expr: str, at: float) -> bool:
    return bool(server.query(expr, at)["result"])


def test_every_public_expression_answers_like_cadvisor(bed: Bed) -> None:
    """One test for both phases (the comparison needs the stopper running, the alert its
    stop): random test order cannot split them."""
    busy = bed.names["busy"]
    enough = WARMUP // SCRAPE - 2
    warm = f"count_over_time(container_last_seen{{name='{busy}'}}[{WARMUP}s]) >= {enough}"
    poll(
        lambda: all(_has(s, warm, time.time()) for s in (bed.cadvisor, bed.ours)),
        f"{WARMUP} s of data on both servers",
        WARMUP + 120,
        pause=2.0,
    )
    at = time.time() - 2 * SCRAPE  # both servers have scraped past this instant
    alike, total, exceptions, failures = _compare(bed, at)
    report = [
        f"{alike} of {total} expressions answer like cAdvisor "
        f"(cAdvisor v0.36.0, {bed.prometheus_version})"
    ]
    if exceptions:
        report.append("exceptions (by design, docs/cadvisor.md):")
        report.extend(exceptions)
    if failures:
        report.append("unexpected differences:")
        report.extend(failures)
    for line in report:
        found(line)
    assert not failures, "\n".join(report)
    _container_killed_fires_and_resolves_alike(bed)


def _killed_span(server: Server, name: str, start: float, end: float) -> tuple[float, float]:
    """First and last instant at which ContainerKilled fires for `name`."""
    expr = f"time() - container_last_seen{{name='{name}'}} > 60"
    data = server.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step="1")
    points = [float(t) for series in data["result"] for t, _ in series["values"]]
    assert points, f"ContainerKilled never fired for {name} on {server.url}"
    return min(points), max(points)


def _container_killed_fires_and_resolves_alike(bed: Bed) -> None:
    name = bed.names["stopper"]
    killed = "time() - container_last_seen > 60"
    for server in (bed.cadvisor, bed.ours):  # nothing fires before the stop
        poll(
            lambda s=server: _has(s, f"container_last_seen{{name='{name}'}}", time.time()),
            "the stopper seen on both",
            60,
        )
        assert not _has(server, killed, time.time())
    stopped = time.time()
    docker("stop", "-t", "1", name)

    def gone_on_both() -> bool:
        now = time.time()
        return not any(
            _has(s, f"container_last_seen{{name='{name}'}}", now) for s in (bed.cadvisor, bed.ours)
        )

    poll(gone_on_both, "the stopper's last_seen gone on both", GRACE + 60, pause=2.0)
    end = time.time()
    theirs = _killed_span(bed.cadvisor, name, stopped, end)
    ours = _killed_span(bed.ours, name, stopped, end)
    print(
        f"ContainerKilled for {name}: cAdvisor fires {theirs[0] - stopped:.0f}s after the stop "
        f"and resolves after {theirs[1] - stopped:.0f}s; ours {ours[0] - stopped:.0f}s and "
        f"{ours[1] - stopped:.0f}s"
    )
    assert abs(theirs[0] - ours[0]) <= ALERT_SLACK
    assert abs(theirs[1] - ours[1]) <= ALERT_SLACK
    running = f"time() - container_last_seen{{name=~'cadv-{bed.run}-(busy|hog|web)'}} > 60"
    assert not _has(bed.ours, running, end)
    assert not _has(bed.cadvisor, running, end)


def test_series_shape_is_cadvisors_without_its_faults(bed: Bed) -> None:
    """id is the cgroup path, cpu="total" only, allow-listed labels, the root as "/",
    no network series for the host-network container."""
    now = time.time() - SCRAPE
    busy = bed.names["busy"]
    cid = docker("inspect", "-f", "{{.Id}}", busy).strip()
    cpu = bed.ours.query(f"container_cpu_usage_seconds_total{{name='{busy}'}}", now)["result"]
    assert [s["metric"]["cpu"] for s in cpu] == ["total"]
    assert cpu[0]["metric"]["id"] == f"/docker/{cid}"
    theirs = bed.cadvisor.query(f"container_cpu_usage_seconds_total{{name='{busy}'}}", now)
    assert {s["metric"]["id"] for s in theirs["result"]} == {f"/docker/{cid}"}
    web = bed.ours.query(f"container_memory_usage_bytes{{name='{bed.names['web']}'}}", now)
    labels = web["result"][0]["metric"]
    assert labels["container_label_com_docker_compose_service"] == "web"
    assert labels["container_label_org_label_schema_group"] == "monitoring"
    assert not any(k.startswith("container_env_") or k.endswith("restartcount") for k in labels)
    for expr in (
        "container_cpu_system_seconds_total{id='/'}",
        "container_network_receive_bytes_total{id='/'}",
        "container_memory_usage_bytes{id='/'}",
    ):
        assert _has(bed.ours, expr, now), expr
    host_net = f"container_network_receive_bytes_total{{name='{bed.names['hostnet']}'}}"
    assert not _has(bed.ours, host_net, now)
    assert _has(bed.cadvisor, host_net, now)  # the fault not copied
    for expr in ("cadvisor_version_info", "machine_cpu_cores", "machine_memory_bytes"):
        ours = bed.ours.query(expr, now)["result"]
        theirs = bed.cadvisor.query(expr, now)["result"]
        assert len(ours) == len(theirs) == 1, expr
        if expr.startswith("machine_"):
            assert ours[0]["value"][1] == theirs[0]["value"][1], expr
    limited = bed.names["limited"]
    quota = bed.ours.query(f"container_spec_cpu_quota{{name='{limited}'}}", now)["result"]
    assert float(quota[0]["value"][1]) == 20000
    memory = bed.ours.query(f"container_spec_memory_limit_bytes{{name='{busy}'}}", now)
    assert float(memory["result"][0]["value"][1]) == 0  # unlimited, as cAdvisor writes it

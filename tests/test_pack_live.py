"""Alerts and dashboards on live data: a real Prometheus scrapes the exporter every second,
Prometheus 3.5 (what users run) and Debian 12's 2.42 (while Debian 12 ships it).

The test makes an unhealthy container, a crash-looping one, an OOM-killed one and a
healthy busy one; the right alerts must fire naming the right containers, none for
the healthy one; then every dashboard query is evaluated against that Prometheus.
"""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestServer
from conftest import OOM_RUN, LiveDocker, docker, found, free_port, live_settings, until
from pack import alerts, dashboards
from prometheus3 import servers
from registryd import Registry, push, registry, require_registry_binary

from exporter.cli.app import build_app
from exporter.collectors import COLLECTORS
from exporter.collectors import logs as logs_collector
from exporter.options import Options
from exporter.web.http import INVENTORY

pytestmark = pytest.mark.integration
JOB = "docker-exporter"


def fast_rules(directory: Path) -> Path:
    """The shipped rules with every `for:` cut to 0s and windows to 1m, for a quick test."""
    config = copy.deepcopy(alerts.load_config())
    for spec in config["alerts"].values():
        spec["for"] = "0s"
        if "window" in spec:
            spec["window"] = "1m"
    path = directory / "rules.yaml"
    path.write_text(alerts.render(config))
    return path


class Prometheus:
    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            doc = json.load(resp)
        assert doc["status"] == "success", doc
        return doc["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        data = await asyncio.to_thread(self.get, "/api/v1/query", query=expr)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] == "vector" else []
        if data["resultType"] == "scalar":
            return [{"value": data["result"]}]
        return result

    async def firing(self) -> list[dict[str, str]]:
        data = await asyncio.to_thread(self.get, "/api/v1/alerts")
        return [a["labels"] for a in data["alerts"] if a["state"] == "firing"]


@pytest.fixture(name="prometheus", params=servers())
async def fixture_prometheus(
    live: LiveDocker, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Prometheus, str]]:
    """The exporter with every collector, a watched registry (with manifests) holding one
    image, and a Prometheus (3.5, then 2.42) scraping it every second."""
    require_registry_binary()
    binary: str = request.param
    with registry(tmp_path / "registry") as reg:
        push(reg, "dxt/pack", "v1")
        settings = live_settings(
            collectors=tuple(COLLECTORS),
            stats_interval=1.0,
            registry_urls=(reg.url,),
            registry_interval=1.0,
            registry_manifests=True,
            options=Options(
                {logs_collector.LOGS_INTERVAL: 1.0, logs_collector.SIZES_INTERVAL: 1.0}
            ),
        )
        async for prom in _prometheus(binary, tmp_path, settings, reg):
            yield prom


async def _prometheus(
    binary: str, tmp_path: Path, settings: Any, reg: Registry
) -> AsyncIterator[tuple[Prometheus, str]]:
    app = build_app(settings)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    await until(app[INVENTORY], lambda s: s.status.synced, timeout=30)
    # a push and a pull the watcher sees, and a polled registry
    pushed = await asyncio.to_thread(push, reg, "dxt/pushed", "v1")
    await asyncio.to_thread(docker, "pull", "-q", pushed)  # docker_image_pulls_total
    await asyncio.to_thread(docker, "rmi", pushed)
    await until(
        app[INVENTORY],
        lambda s: reg.name in s.registries and s.registries[reg.name].up,
        timeout=30,
    )
    target = f"127.0.0.1:{server.port}"
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(fast_rules(tmp_path))],
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    prom = Prometheus(f"http://127.0.0.1:{port}")
    try:
        await wait_for(prom, "up == 1", 60)
        yield prom, target
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        await server.close()


async def wait_for(prom: Prometheus, expr: str, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await prom.query(expr)
        except OSError:
            result = []
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{expr} never returned data")
        await asyncio.sleep(0.5)


async def wait_alerts(
    prom: Prometheus, wanted: dict[str, str], timeout: float
) -> list[dict[str, str]]:
    """Until each alertname in `wanted` fires for the container named there."""
    deadline = time.monotonic() + timeout
    while True:
        firing = await prom.firing()
        pairs = {(a.get("alertname"), a.get("name")) for a in firing}
        if all((alert, name) in pairs for alert, name in wanted.items()):
            return firing
        if time.monotonic() > deadline:
            raise AssertionError(f"wanted {wanted}, firing: {sorted(pairs, key=str)}")
        await asyncio.sleep(1.0)


async def test_alerts_fire_for_the_right_containers_and_dashboards_have_data(
    live: LiveDocker, prometheus: tuple[Prometheus, str]
) -> None:
    prom, target = prometheus
    scenario = {role: live.name(role) for role in ("unhealthy", "crash", "oom", "healthy")}
    live.run(
        "unhealthy", "--health-cmd", "false", "--health-interval", "1s", "--health-retries", "1"
    )
    live.run("crash", "--restart", "always", cmd=("sh", "-c", "sleep 0.5; exit 3"))
    live.run("oom", *OOM_RUN, cmd=("tail", "/dev/zero"))
    net, volume = live.network("net"), live.volume("data")
    live.run(
        "healthy",
        "--health-cmd", "true", "--health-interval", "1s",
        "--memory", "256m", "--cpus", "1.5", "--pids-limit", "100",
        "--network", net, "--network-alias", "api", "-p", "127.0.0.1::80",
        "-v", f"{volume}:/data",
        cmd=("sh", "-c", "while :; do :; done"),
    )  # fmt: skip
    docker("restart", "-t", "1", scenario["healthy"])  # an operator's restart: not an alert
    firing = await wait_alerts(
        prom,
        {
            "DockerContainerUnhealthy": scenario["unhealthy"],
            "DockerContainerCrashLooping": scenario["crash"],
            "DockerContainerOomKilled": scenario["oom"],
        },
        timeout=120,
    )
    ours = [a for a in firing if a.get("name", "").startswith(live.prefix)]
    assert not [a for a in ours if a.get("name") == scenario["healthy"]], ours
    for alert in ours:
        assert alert["instance"] == target
        assert alert["severity"] in ("critical", "warning", "info")
    assert not [
        a for a in firing if a["alertname"] in ("DockerEngineUnreachable", "DockerExporterDown")
    ]

    await evaluate_dashboards(prom, target, scenario["healthy"])


EMPTY_REASONS = {
    "docker_registry_certificate_expiry_timestamp_seconds": "the test's registry speaks "
    "plain http (the TLS expiry is checked in tests/test_registry_live.py)",
    "docker_container_block_": "this test bed's kernel attributes no block I/O to container "
    "cgroups (blkio files read 'Total 0' even for O_DIRECT writes); real hosts do",
    'ALERTS{alertname=~"Docker.*", alertstate="firing"': "no alert fires for the healthy "
    "container, by design of the test",
    "docker_compose_service_containers": "the scenario runs no Compose project (Compose "
    "projects are checked in tests/test_compose.py)",
    "docker_container_pressure_stalled_seconds_total": "cgroup v2 only: empty on a cgroup v1 "
    "host like docker20's",
    "docker_container_memory_events_total": "cgroup v2 only: empty on a cgroup v1 host like "
    "docker20's",
    "docker_container_image_update_available": "the scenario's containers run busybox:local, "
    "built here and never pulled from a registry: no freshness verdict (checked in "
    "tests/test_fresh_live.py)",
    "docker_image_registry_check_timestamp_seconds": "no running container's image came from "
    "a registry, so no tag is checked (checked in tests/test_fresh_live.py)",
    'docker_container_log_info{job=~"$job", instance=~"$instance", name=~"$container", '
    'max_size!=""}': "the scenario's containers log without max-size (rotation is checked "
    "in tests/test_fresh_live.py)",
}
"""Queries that cannot return data in this scenario, and why."""


async def evaluate_dashboards(prom: Prometheus, instance: str, container: str) -> None:
    """Every dashboard query (variables substituted) against the live Prometheus."""
    values = {"job": JOB, "instance": instance, "container": container}
    # As an operator would: open the dashboard once the restarted container has samples.
    await wait_for(
        prom, f'rate(docker_container_cpu_usage_seconds_total{{name="{container}"}}[1m])', 60
    )
    queries = dashboards.all_queries(include_variables=True)
    assert len(queries) >= 40
    empty: list[str] = []
    for dashboard, panel, expr in queries:
        result = await prom.query(dashboards.substitute(expr, values))
        if not result:
            reason = next((r for key, r in EMPTY_REASONS.items() if key in expr), "UNEXPECTED")
            empty.append(f"{dashboard} / {panel}: {reason}\n    {expr}")
    share = 1 - len(empty) / len(queries)
    report = "\n".join(empty)
    found(f"pack: dashboard queries with data: {len(queries) - len(empty)}/{len(queries)}")
    print(report)
    assert share >= 0.9, f"only {share:.0%} of dashboard queries returned data:\n{report}"
    assert "UNEXPECTED" not in report, f"queries empty for no declared reason:\n{report}"

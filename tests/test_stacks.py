"""The shipped stacks brought up for real.

deploy/swarm-stack.yaml, unchanged but for its image variables, on three engines joined
into one Swarm (scripts/swarm.bash), with deploy/prometheus/dockerswarm_sd.yml discovering
one exporter task per node.

The nodes are dockerds in network, UTS and mount namespaces of their own on a hub bridge
that the test bed makes; the overlay network's VXLAN crosses that bridge. The exporter and
Prometheus 3 images are built on the machine's default engine (tests/localimages.py) and
loaded into every node. Prometheus runs on the manager, as a task of the stack, and is
reached at the manager's address from the hub's namespace.

deploy/compose.yaml comes up with Debian 12's docker-compose on an engine of its own (a
node of the same test bed, outside the Swarm), with every service but Grafana.

Run with `pytest -m stacks` (.ci/run runs it as the `stacks` leg).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import HANG_SCALE, docker, engine_answers, found, poll, skip_testbed_limit
from localimages import build_alertmanager_image, build_exporter_image, build_prometheus_image
from pack import dashboards

pytestmark = pytest.mark.stacks

ROOT = Path(__file__).resolve().parent.parent
TESTBED = ROOT / "scripts" / "testbed"
STACK_FILE = ROOT / "deploy" / "swarm-stack.yaml"
SD_CONFIG = ROOT / "deploy" / "prometheus" / "dockerswarm_sd.yml"
RULES = ROOT / "alerts" / "docker-exporter.rules.yaml"
STACK = "dxs"
HUB = "dxs-hub"
MANAGER_URL = "http://10.251.0.1:9090"
JOB = "docker-exporter"


def _sd_timing() -> tuple[float, float]:
    """(discovery refresh, scrape interval) in seconds, as the shipped config sets them."""
    config = yaml.safe_load(SD_CONFIG.read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == JOB)
    refresh = job["dockerswarm_sd_configs"][0]["refresh_interval"]
    scrape = job.get("scrape_interval", config["global"]["scrape_interval"])
    return _seconds(refresh), _seconds(scrape)


def _seconds(duration: str) -> float:
    m = re.fullmatch(r"(\d+)([sm])", duration)
    assert m, duration
    return float(m.group(1)) * (60 if m.group(2) == "m" else 1)


def _testbed(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(TESTBED), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        raise AssertionError(f"scripts/testbed {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout


@dataclass(frozen=True)
class Swarm:
    """The running Swarm: node engines by number, Prometheus through the hub."""

    images: str

    def node(self, i: int, *args: str, check: bool = True) -> str:
        socket = f"unix:///run/docker-exporter-swarm/n{i}/docker.sock"
        return docker("-H", socket, *args, check=check)

    def prometheus(self, path: str, **params: str) -> Any:
        """GET Prometheus' API from the hub's namespace (the nodes' network)."""
        url = f"{MANAGER_URL}{path}?{urllib.parse.urlencode(params)}"
        result = subprocess.run(
            ["nsenter", f"--net=/run/netns/{HUB}", "curl", "-sf", "--max-time", "5", url],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if result.returncode != 0:
            return None
        doc = json.loads(result.stdout)
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]] | None:
        data = self.prometheus("/api/v1/query", query=expr)
        if data is None:
            return None
        if data["resultType"] == "scalar":
            return [{"value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def targets(self) -> list[dict[str, Any]]:
        data = self.prometheus("/api/v1/targets", state="active")
        if data is None:
            return []
        return [t for t in data["activeTargets"] if t["labels"].get("job") == JOB]

    def up_instances(self) -> set[str]:
        return {t["labels"]["instance"] for t in self.targets() if t["health"] == "up"}


def _require_tools() -> None:
    missing = [t for t in ("ip", "nsenter", "unshare", "curl") if shutil.which(t) is None]
    problem = ""
    if os.geteuid() != 0:
        problem = "the Swarm test bed needs root (namespaces, engines)"
    elif missing:
        problem = f"missing tools: {', '.join(missing)}"
    elif not engine_answers():
        problem = "no live default engine with busybox:local to build the images (scripts/testbed)"
    if problem:
        skip_testbed_limit(problem)


@pytest.fixture(name="swarm", scope="module")
def fixture_swarm() -> Iterator[Swarm]:
    """Three nodes in one Swarm with the stack deployed; everything removed afterwards."""
    _require_tools()
    tag = uuid.uuid4().hex[:8]
    exporter_image, prometheus_image = f"dxs-exporter:{tag}", f"dxs-prometheus:{tag}"
    images = f"{exporter_image} {prometheus_image}"
    try:
        build_exporter_image(exporter_image)
        build_prometheus_image(prometheus_image)
        _testbed("--swarm", "3", env={"SWARM_IMAGES": images})
        swarm = Swarm(images)
        socket_gid = os.stat("/run/docker-exporter-swarm/n1/docker.sock").st_gid
        deployed = subprocess.run(
            [
                "docker",
                "-H",
                "unix:///run/docker-exporter-swarm/n1/docker.sock",
                "stack",
                "deploy",
                "--resolve-image",
                "never",
                "-c",
                str(STACK_FILE),
                STACK,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            cwd=STACK_FILE.parent,
            env={
                **os.environ,
                "EXPORTER_IMAGE": exporter_image,
                "PROMETHEUS_IMAGE": prometheus_image,
                "DOCKER_GID": str(socket_gid),
            },
        )
        assert deployed.returncode == 0, f"docker stack deploy failed: {deployed.stderr}"
        yield swarm
    finally:
        try:
            _testbed("--teardown", "swarm")
        finally:
            docker("rmi", "--force", exporter_image, prometheus_image, check=False)
    assert not list(Path("/run/netns").glob("dxs-*")), "a Swarm namespace outlived teardown"


def _nodes(swarm: Swarm) -> set[str]:
    return set(swarm.node(1, "node", "ls", "--format", "{{.Hostname}}").split())


def test_every_node_runs_one_exporter_and_prometheus_scrapes_each(swarm: Swarm) -> None:
    """One task per node, discovered by dockerswarm_sd, instance = the node's host name,
    and each exporter reports its own node's engine (its socket, not the machine's)."""
    nodes = _nodes(swarm)
    assert nodes == {"swarm-n1", "swarm-n2", "swarm-n3"}
    up = poll(
        lambda: swarm.up_instances() == nodes and swarm.up_instances(),
        "every node's exporter scraped and up",
        180,
    )
    assert up == nodes
    targets = swarm.targets()
    assert len(targets) == 3, targets
    for target in targets:
        assert target["labels"]["swarm_node_id"], target["labels"]
        assert target["scrapeUrl"].endswith(":9417/metrics"), target["scrapeUrl"]
    # Each exporter sees its own node: its own task container, and Prometheus only on n1.
    own = 'count by (instance) (docker_container_info{name=~"dxs_docker-exporter.*"})'
    result = poll(lambda: swarm.query(own), "each exporter's own task", 60)
    assert {r["metric"]["instance"]: r["value"][1] for r in result} == dict.fromkeys(nodes, "1")
    prom = swarm.query('count by (instance) (docker_container_info{name=~"dxs_prometheus.*"})')
    assert prom is not None
    assert {r["metric"]["instance"] for r in prom} == {"swarm-n1"}


FLEET_EMPTY = {
    "ALERTS{": "no Docker alert fires on a healthy Swarm",
}
"""Fleet dashboard queries that cannot return data here, and why."""


def test_the_fleet_dashboard_answers_for_every_node(swarm: Swarm) -> None:
    """Every query of the fleet dashboard, variables matching all, on the live Swarm."""
    nodes = _nodes(swarm)
    poll(lambda: swarm.up_instances() == nodes, "every node up", 180)
    # Rates need two scrapes of every node.
    poll(
        lambda: (
            len(
                swarm.query(
                    "sum by (instance) (rate(docker_container_cpu_usage_seconds_total[1m]))"
                )
                or []
            )
            == 3
        ),
        "a CPU rate for every node",
        120,
    )
    queries = [q for q in dashboards.all_queries(include_variables=True) if "Fleet" in q[0]]
    assert len(queries) >= 15
    values = {"job": JOB, "instance": ".*", "__rate_interval": "1m"}
    problems: list[str] = []
    for _, panel, expr in queries:
        result = swarm.query(dashboards.substitute(expr, values))
        reason = next((r for key, r in FLEET_EMPTY.items() if key in expr), None)
        if not result:
            if reason is None:
                problems.append(f"{panel}: empty\n    {expr}")
            continue
        seen = {r["metric"]["instance"] for r in result if "instance" in r.get("metric", {})}
        if seen and seen != nodes:
            problems.append(f"{panel}: instances {sorted(seen)}\n    {expr}")
    assert not problems, "\n".join(problems)


def _task_state(swarm: Swarm, node: str) -> str:
    out = swarm.node(
        1,
        "service",
        "ps",
        f"{STACK}_docker-exporter",
        "--filter",
        f"node={node}",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.CurrentState}}",
        check=False,
    )
    return out.splitlines()[0] if out else ""


def test_a_joining_node_is_scraped_within_one_discovery_interval_plus_one_scrape(
    swarm: Swarm,
) -> None:
    refresh, scrape = _sd_timing()
    _testbed("--swarm-node-up", "4", env={"SWARM_IMAGES": swarm.images})
    poll(
        lambda: _task_state(swarm, "swarm-n4").startswith("Running"),
        "the global service's task on the new node",
        120,
    )
    running = time.monotonic()
    poll(lambda: "swarm-n4" in swarm.up_instances(), "the new node's exporter scraped", 180)
    elapsed = time.monotonic() - running
    found(
        f"stacks: new node: first successful scrape {elapsed:.1f}s after its task ran "
        f"(refresh {refresh:g}s + scrape {scrape:g}s)"
    )
    # The bound is the configuration's, plus one target scrape's own timeout.
    assert elapsed <= (refresh + scrape + 10) * HANG_SCALE


def _rule_for(alert: str) -> float:
    """The `for:` of one of the shipped rules, in seconds."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rule = next(r for g in groups for r in g["rules"] if r.get("alert") == alert)
    return _seconds(rule["for"])


def test_a_drained_then_removed_node_leaves_without_a_down_alert(swarm: Swarm) -> None:
    """Draining stops the node's task at once, but Prometheus keeps its target until the next
    discovery refresh: `up == 0` (DockerExporterDown's expression) may hold for at most one
    refresh interval plus one scrape, which the rule's `for:` outlasts, so the alert never
    fires; then the target leaves, its series go stale, and removing the node changes nothing."""
    refresh, scrape = _sd_timing()
    hold = _rule_for("DockerExporterDown")
    assert refresh + scrape < hold, "the rule would fire on every deliberate drain"
    node_id = swarm.node(4, "info", "--format", "{{.Swarm.NodeID}}")
    poll(lambda: "swarm-n4" in swarm.up_instances(), "node 4 scraped", 180)
    swarm.node(1, "node", "update", "--availability", "drain", node_id)
    poll(
        lambda: all(t["labels"]["instance"] != "swarm-n4" for t in swarm.targets()),
        "the drained node's target gone",
        180,
    )
    _testbed("--swarm-node-rm", "4")
    assert "swarm-n4" not in _nodes(swarm)
    assert swarm.up_instances() == {"swarm-n1", "swarm-n2", "swarm-n3"}
    node4 = 'up{job="docker-exporter", instance="swarm-n4"}'
    samples = swarm.query(f"count_over_time({node4}[30m])")
    assert samples, "node 4 was never scraped"
    ups = swarm.query(f"sum_over_time({node4}[30m])")
    assert ups
    down = float(samples[0]["value"][1]) - float(ups[0]["value"][1])
    found(f"stacks: drained node: {down:g} scrape(s) with up == 0 before discovery dropped it")
    assert down * scrape <= refresh + scrape
    firing = swarm.query(
        'count_over_time(ALERTS{alertname="DockerExporterDown", alertstate="firing"}[30m])'
    )
    assert firing == [], firing
    # Prometheus ends a dropped target's series with stale markers about one scrape interval
    # after the target leaves (endOfRunStaleness), not after the 5 m lookback.
    poll(lambda: swarm.query(node4) == [], "node 4's series marked stale", 3 * scrape)
    assert swarm.query('absent(up{job="docker-exporter"})') == []


def test_a_manager_restart_keeps_the_service(swarm: Swarm) -> None:
    """The manager's engine stops and starts again: the stack and its global service come
    back, and Prometheus (a task on the manager) scrapes every node again."""
    nodes = _nodes(swarm)
    _testbed("--swarm-node-restart", "1")
    services = swarm.node(1, "stack", "services", STACK, "--format", "{{.Name}} {{.Mode}}")
    assert f"{STACK}_docker-exporter global" in services.splitlines()
    poll(lambda: swarm.up_instances() == nodes, "every node scraped after the restart", 240)


# --- deploy/compose.yaml ---------------------------------------------------------------

COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
COMPOSE_NODE = 9
COMPOSE_SERVICES = ("docker-exporter", "prometheus", "alertmanager")
"""Every service of deploy/compose.yaml but Grafana, whose image cannot be had here."""


@dataclass(frozen=True)
class ComposeHost:
    """A standalone engine (not in the Swarm) with the Compose stack up, reached on loopback
    inside its network namespace, where Compose publishes the ports."""

    def get(self, port: int, path: str, **params: str) -> str | None:
        url = f"http://127.0.0.1:{port}{path}?{urllib.parse.urlencode(params)}"
        result = subprocess.run(
            [
                "nsenter",
                f"--net=/run/netns/dxs-n{COMPOSE_NODE}",
                "curl",
                "-sf",
                "--max-time",
                "5",
                url,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        return result.stdout if result.returncode == 0 else None

    def api(self, path: str, **params: str) -> Any:
        body = self.get(9090, path, **params)
        if body is None:
            return None
        doc = json.loads(body)
        assert doc["status"] == "success", doc
        return doc["data"]


@pytest.fixture(name="compose", scope="module")
def fixture_compose() -> Iterator[ComposeHost]:
    """deploy/compose.yaml up (without Grafana) with Debian 12's docker-compose on an engine
    of its own; the project, the engine and the images removed afterwards."""
    _require_tools()
    if shutil.which("docker-compose") is None:
        skip_testbed_limit("docker-compose is not installed (scripts/testbed)")
    tag = uuid.uuid4().hex[:8]
    images = {
        "EXPORTER_IMAGE": f"dxc-exporter:{tag}",
        "PROMETHEUS_IMAGE": f"dxc-prometheus:{tag}",
        "ALERTMANAGER_IMAGE": f"dxc-alertmanager:{tag}",
    }
    sock = f"/run/docker-exporter-swarm/n{COMPOSE_NODE}/docker.sock"
    env = {**os.environ, **images, "DOCKER_HOST": f"unix://{sock}"}
    compose = ["docker-compose", "--project-name", "dxc", "--file", str(COMPOSE_FILE)]
    try:
        build_exporter_image(images["EXPORTER_IMAGE"])
        build_prometheus_image(images["PROMETHEUS_IMAGE"])
        build_alertmanager_image(images["ALERTMANAGER_IMAGE"])
        _testbed(
            "--swarm-engine", str(COMPOSE_NODE), env={"SWARM_IMAGES": " ".join(images.values())}
        )
        env["DOCKER_GID"] = str(os.stat(sock).st_gid)
        up = subprocess.run(
            [*compose, "up", "--detach", "--no-build", *COMPOSE_SERVICES],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            env=env,
        )
        assert up.returncode == 0, f"docker-compose up failed:\n{up.stderr[-2000:]}"
        yield ComposeHost()
    except BaseException:
        logs = subprocess.run(
            [*compose, "logs", "--tail", "20"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env=env,
        )
        print(f"docker-compose logs:\n{logs.stdout[-4000:]}")
        raise
    finally:
        subprocess.run(
            [*compose, "down", "--volumes"], capture_output=True, check=False, timeout=300, env=env
        )
        try:
            _testbed("--swarm-node-rm", str(COMPOSE_NODE))
        finally:
            docker("rmi", "--force", *images.values(), check=False)


def test_compose_stack_scrapes_the_exporter_with_our_rules(compose: ComposeHost) -> None:
    """The stack's Prometheus scrapes the exporter (which watches the stack's own engine
    through the mounted socket), loads every rule group of alerts/, and finds Alertmanager."""
    poll(
        lambda: (
            (t := compose.api("/api/v1/targets", state="active"))
            and any(x["labels"]["job"] == JOB and x["health"] == "up" for x in t["activeTargets"])
        ),
        "the exporter target up",
        180,
    )
    # The exporter reports the stack's engine: its own Compose containers are there.
    seen = poll(
        lambda: (
            compose.api("/api/v1/query", query='docker_container_info{name=~"dxc_.*"}') or {}
        ).get("result"),
        "the stack's containers",
        120,
    )
    names = {r["metric"]["name"] for r in seen}
    assert {"dxc_docker-exporter_1", "dxc_prometheus_1", "dxc_alertmanager_1"} <= names, names
    shipped = {g["name"] for g in yaml.safe_load(RULES.read_text())["groups"]}
    rules = compose.api("/api/v1/rules")
    assert {g["name"] for g in rules["groups"]} == shipped
    managers = poll(
        lambda: (compose.api("/api/v1/alertmanagers") or {}).get("activeAlertmanagers"),
        "Alertmanager discovered",
        120,
    )
    assert managers[0]["url"].startswith("http://alertmanager:9093"), managers
    # Alertmanager answers ready once its cluster gossip has settled.
    poll(lambda: compose.get(9093, "/-/ready") is not None, "Alertmanager ready", 120)
    metrics = compose.get(9417, "/metrics")
    assert metrics is not None
    assert "\ndocker_up 1" in metrics

"""Issue 12's truth fixes against the live engine, where it can show them.

Each test waits on a condition (the deadline only guards a hang) and compares with the
engine's own answer where that answer holds still. Podman-only faults (network event
shapes, `top` rows, `stopped`) are unit-tested on constructed payloads instead.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import (
    LiveDocker,
    docker,
    engine_lacks,
    health_checks_run,
    live_engine_config,
    until,
    wait_for,
)
from prometheus_client.parser import text_string_to_metric_families

from exporter.cli.app import build_app
from exporter.cli.settings import Settings
from exporter.collectors import COLLECTORS
from exporter.engine.adapter import DockerEngine
from exporter.inventory.store import Inventory, Snapshot
from exporter.web.http import INVENTORY

pytestmark = [pytest.mark.integration, pytest.mark.engine_generic]


class Live:
    """The exporter app under a test client, and its inventory."""

    def __init__(self, client: TestClient, inventory: Inventory) -> None:  # type: ignore[type-arg]
        self.client = client
        self.inventory = inventory

    async def value(self, metric: str, short_id: str) -> float | None:
        resp = await self.client.get("/metrics")
        assert resp.status == 200
        for family in text_string_to_metric_families(await resp.text()):
            for sample in family.samples:
                if sample.name == metric and sample.labels.get("id") == short_id:
                    return float(sample.value)
        return None

    async def wait(self, predicate: Callable[[Snapshot], bool], timeout: float = 60.0) -> Snapshot:
        return await until(self.inventory, predicate, timeout=timeout)


@pytest.fixture(name="exporter")
async def fixture_exporter(live: LiveDocker) -> AsyncIterator[Live]:
    del live  # the engine must answer before the app starts
    # No periodic reconcile within a test: what it shows must come from the events.
    settings = Settings(collectors=tuple(COLLECTORS), stats_interval=1.0, resync_interval=3600.0)
    app = build_app(settings)
    async with TestClient(TestServer(app)) as client:
        await until(app[INVENTORY], lambda s: s.status.synced, timeout=30)
        yield Live(client, app[INVENTORY])


async def test_a_crash_loop_keeps_the_last_exit_code_while_running(
    live: LiveDocker, exporter: Live
) -> None:
    """A restart resets inspect's ExitCode to 0; the exporter keeps the die's 3."""
    cid = live.run("loop", "--restart", "always", cmd=("sh", "-c", "sleep 2; exit 3"))
    snap = await exporter.wait(
        lambda s: (
            cid in s.containers
            and s.containers[cid].state == "running"
            and s.containers[cid].restart_count >= 1
        )
    )
    assert snap.containers[cid].exit_code == 3
    assert await exporter.value("docker_container_exit_code", cid[:12]) == 3.0


@pytest.mark.needs("restarting-state")
async def test_a_restarting_container_keeps_no_dead_process_list(
    live: LiveDocker, exporter: Live
) -> None:
    """Read while it runs; between two runs (restarting, PID 0) the list is gone."""
    cid = live.run("restart", "--restart", "always", cmd=("sh", "-c", "sleep 3; exit 1"))
    stale: list[int] = []

    def check(snapshot: Snapshot) -> None:
        container = snapshot.containers.get(cid)
        if container is not None and container.state == "restarting":
            stale.append(len(snapshot.processes.get(cid) or ()))

    exporter.inventory.subscribe(check)
    await exporter.wait(lambda s: bool(s.processes.get(cid)))
    await exporter.wait(lambda s: cid in s.containers and s.containers[cid].state == "restarting")
    assert stale
    assert set(stale) == {0}


async def test_the_failing_streak_follows_the_engine(live: LiveDocker, exporter: Live) -> None:
    """After the unhealthy transition only exec events arrive: each probe's end
    re-inspects, so the streak keeps counting (it stopped at the transition before)."""
    cid = live.run(
        "streak", "--health-cmd", "false", "--health-interval", "1s", "--health-retries", "2"
    )
    async with health_checks_run(cid):
        snap = await exporter.wait(
            lambda s: cid in s.containers and s.containers[cid].failing_streak >= 6
        )
        ours = snap.containers[cid].failing_streak
        engine = int(docker("inspect", "-f", "{{.State.Health.FailingStreak}}", cid))
    assert ours <= engine <= ours + 3  # the engine's probe runs on while we compare
    assert snap.containers[cid].health == "unhealthy"


async def test_network_members_match_docker_network_inspect(
    live: LiveDocker, exporter: Live
) -> None:
    """Members come from the containers' inspect: a stopped one leaves, a started one
    joins, as `docker network inspect` lists them (Podman 4's lists the stopped one too)."""
    net = live.network("lan")
    up = live.run("up", "--network", net)
    down = live.run("down", "--network", net)
    docker("stop", "-t", "0", down)

    def members(s: Snapshot) -> set[str]:
        named = [n for n in s.networks.values() if n.name == net]
        return {m.container_id for m in named[0].members} if named else set()

    await exporter.wait(lambda s: members(s) == {up})
    engine = json.loads(docker("network", "inspect", net))[0]["Containers"]
    assert set(engine) == ({up, down} if engine_lacks("running-network-members") else {up})
    resp = await exporter.client.get("/topology")
    edges = {(e["source"], e["target"]) for e in (await resp.json())["edges"]}
    network_id = docker("network", "inspect", "-f", "{{.Id}}", net)
    assert ("container/" + up, "network/" + network_id) in edges
    docker("start", down)
    await exporter.wait(lambda s: members(s) == {up, down})
    engine = json.loads(docker("network", "inspect", net))[0]["Containers"]
    assert set(engine) == {up, down}


LISTINGS = 20


async def test_listings_of_an_idle_engine_sign_every_container_alike(live: LiveDocker) -> None:
    """The light reconcile's premise: a container nothing happened to keeps its list
    signature (`container_signature` over its `/containers/json` row), though the row's
    Status text ("Up 2 seconds") moves. Containers with what a row can list in any order:
    several ports, labels, networks and mounts (Docker lists ports and mounts from Go maps,
    in a new order on most listings: LISTINGS of them show it); a healthy one, an exited
    one, a created one."""
    net = live.network("signet")
    volume = live.volume("sigvol")
    busy = live.run(
        "sigbusy",
        *(
            "-p",
            "127.0.0.1::80",
            "-p",
            "127.0.0.1::81/udp",
            "-p",
            "127.0.0.1::82",
            "--expose",
            "83",
        ),
        *("--label", "b=2", "--label", "a=1", "--label", "c=3"),
        *("-v", f"{volume}:/data", "-v", "/scratch", "--tmpfs", "/run/t"),
        *("--network", net),
    )
    docker("network", "connect", live.network("signet2"), busy)
    healthy = live.run("sighealth", "--health-cmd", "true", "--health-interval", "1s")
    exited = live.run("sigexited", cmd=("true",))
    live.containers.append(live.name("sigcreated"))
    created = docker("create", "--name", live.name("sigcreated"), "busybox:local")
    ours = {busy, healthy, exited, created}

    async def settled() -> bool:
        states = docker("inspect", "-f", "{{.State.Status}}", exited)
        health = docker("inspect", "-f", "{{.State.Health.Status}}", healthy)
        return states == "exited" and health == "healthy"

    def status_of(cid: str) -> str:
        return docker("ps", "-a", "--filter", f"id={cid}", "--format", "{{.Status}}")

    engine = DockerEngine(live_engine_config())
    try:
        async with health_checks_run(healthy):
            await wait_for(settled, "the exited container exited, the healthy one is healthy")
            before = status_of(busy)
            first = await engine.list_containers()

            async def moved() -> bool:  # the listing's Status text moves every second
                return status_of(busy) != before

            await wait_for(moved, f"{before!r} moved")
            later = [await engine.list_containers() for _ in range(LISTINGS)]
    finally:
        await engine.close()
    assert ours <= set(first)
    for listing in later:
        assert {c: listing[c] for c in ours} == {c: first[c] for c in ours}

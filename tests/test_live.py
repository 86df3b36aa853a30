"""The whole exporter against the live Docker Engine: lifecycle, health, restarts, OOM, removal."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import (
    OOM_RUN,
    TESTBED_LIMIT,
    LiveDocker,
    Scraper,
    because,
    docker,
    engine_facts,
    engine_lacks,
    health_checks_run,
    live_settings,
    until,
    value,
)

from exporter.cli.app import build_app
from exporter.collectors import COLLECTORS, Options
from exporter.collectors.containers import LABEL_KEYS
from exporter.engine.config import version_tuple
from exporter.engine.models import HEALTH_IN_LIST_API
from exporter.web.http import INVENTORY

pytestmark = [pytest.mark.integration, pytest.mark.engine_generic]

ODD_LABEL = "dxt.odd"


@pytest.fixture(name="exporter")
async def fixture_exporter(live: LiveDocker) -> AsyncIterator[Scraper]:
    settings = live_settings(
        collectors=tuple(COLLECTORS), options=Options({LABEL_KEYS: (ODD_LABEL,)})
    )
    app = build_app(settings)
    async with TestClient(TestServer(app)) as client:
        await until(app[INVENTORY], lambda s: s.status.synced, timeout=30)
        yield Scraper(client)


def short(container_id: str) -> str:
    return container_id[:12]


async def test_start_and_kill_are_seen_through_events(live: LiveDocker, exporter: Scraper) -> None:
    cid = short(live.run("kill"))
    await exporter.wait(lambda s: value(s, "docker_container_state", id=cid, state="running") == 1)
    docker("kill", live.name("kill"))
    # The state may come from a reconcile before the stream delivers the kill (a slow
    # stream, as Podman 5's on a loaded machine): wait for both, not for one then the other.
    samples = await exporter.wait(
        lambda s: (
            value(s, "docker_container_state", id=cid, state="exited") == 1
            and (value(s, "docker_events_total", type="container", action="kill") or 0) >= 1
        )
    )
    assert value(samples, "docker_container_exit_code", id=cid) == 137


async def test_removed_container_series_disappear(live: LiveDocker, exporter: Scraper) -> None:
    cid = short(live.run("rm"))
    await exporter.wait(lambda s: value(s, "docker_container_info", id=cid) == 1)
    docker("rm", "-f", live.name("rm"))
    samples = await exporter.wait(lambda s: value(s, "docker_container_info", id=cid) is None)
    assert not any(dict(labels).get("id") == cid for _, labels in samples)


async def test_health_transitions(live: LiveDocker, exporter: Scraper) -> None:
    cid = short(
        live.run(
            "health",
            "--health-cmd",
            "test -f /tmp/ok",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
            cmd=("sh", "-c", "touch /tmp/ok; exec sleep 600"),
        )
    )
    async with health_checks_run(live.name("health")):
        await exporter.wait(
            lambda s: value(s, "docker_container_health_status", id=cid, status="healthy") == 1
        )
        docker("exec", live.name("health"), "rm", "/tmp/ok")
        samples = await exporter.wait(
            lambda s: value(s, "docker_container_health_status", id=cid, status="unhealthy") == 1
        )
    assert value(samples, "docker_container_health_status", id=cid, status="healthy") == 0
    assert (value(samples, "docker_container_health_failing_streak", id=cid) or 0) >= 1


async def test_the_failing_streak_counts_on_past_the_transition(
    live: LiveDocker, exporter: Scraper
) -> None:
    """After the unhealthy transition only probe ends arrive, and each moves the streak:
    read from the container list on Docker at API 1.52+ (no inspect), by inspect on older
    APIs and Podman. The streak keeps up with `docker inspect`'s."""
    cid = short(
        live.run(
            "streak", "--health-cmd", "false", "--health-interval", "1s", "--health-retries", "2"
        )
    )
    streak = "docker_container_health_failing_streak"
    async with health_checks_run(live.name("streak")):
        first = await exporter.wait(lambda s: (value(s, streak, id=cid) or 0) >= 3)
        samples = await exporter.wait(
            lambda s: (value(s, streak, id=cid) or 0) >= (value(first, streak, id=cid) or 0) + 4
        )
    facts = engine_facts()
    assert facts is not None
    if facts.product == "docker" and version_tuple(facts.api_version) >= HEALTH_IN_LIST_API:
        requests = "docker_exporter_engine_request_duration_seconds_count"
        inspects = (value(samples, requests, endpoint="inspect") or 0) - (
            value(first, requests, endpoint="inspect") or 0
        )
        assert inspects < 4  # not one per probe: each was read from a list
        assert (value(samples, requests, endpoint="list") or 0) > (
            value(first, requests, endpoint="list") or 0
        )
    ours = value(samples, streak, id=cid)
    engine = int(docker("inspect", "-f", "{{.State.Health.FailingStreak}}", live.name("streak")))
    assert ours is not None
    assert ours <= engine <= ours + 3  # the engine's probe runs on while we compare
    assert value(samples, "docker_container_health_status", id=cid, status="unhealthy") == 1


async def test_crash_loop_counts_restarts_and_exit_code(
    live: LiveDocker, exporter: Scraper
) -> None:
    cid = short(live.run("loop", "--restart", "always", cmd=("sh", "-c", "sleep 0.3; exit 3")))
    samples = await exporter.wait(
        lambda s: (
            (value(s, "docker_container_restarts_total", id=cid) or 0) >= 2
            and value(s, "docker_container_exit_code", id=cid) == 3
        )
    )
    assert value(samples, "docker_container_restart_policy_info", id=cid, policy="always") == 1


@pytest.mark.gap(
    "podman4",
    reason="Podman 4 neither sets State.OOMKilled nor sends an `oom` event, so "
    "docker_container_oom_killed stays 0 for a container the OOM killer ended",
)
async def test_oom_kill_is_reported(live: LiveDocker, exporter: Scraper) -> None:
    """`tail /dev/zero` buffers an endless line until the limit (OOM_RUN) kills it: exited, 137,
    and OOM-killed once the exporter saw inspect say so or the run's `oom` event, in
    whichever order they came (20.10 may set OOMKilled false when containerd's OOM notice
    loses the race with the exit; Docker 28 sets it before `die`). An engine that reports
    neither is a declared gap: the test fails there, on the value."""
    name = live.name("oom")
    cid = short(live.run("oom", *OOM_RUN, cmd=("tail", "/dev/zero")))
    has_event = not engine_lacks("oom-event")
    tells = has_event or not engine_lacks("oom-killed")  # else no wait for what cannot come
    samples = await exporter.wait(
        lambda s: (
            value(s, "docker_container_state", id=cid, state="exited") == 1
            and (not has_event or (value(s, "docker_container_oom_events_total", id=cid) or 0) >= 1)
            and (not tells or value(s, "docker_container_oom_killed", id=cid) == 1)
        )
    )
    assert docker("inspect", "-f", "{{.State.ExitCode}}", name) == "137"
    assert value(samples, "docker_container_exit_code", id=cid) == 137
    assert value(samples, "docker_container_oom_killed", id=cid) == 1


async def test_odd_label_values_round_trip(live: LiveDocker, exporter: Scraper) -> None:
    odd = 'say "hi" \\ back\nslash é 日本'
    cid = short(live.run("odd", "--label", f"{ODD_LABEL}={odd}", "--label", "other=x"))
    samples = await exporter.wait(lambda s: value(s, "docker_container_labels", id=cid) == 1)
    assert value(samples, "docker_container_labels", id=cid, label_dxt_odd=odd) == 1


async def test_inventory_matches_docker_inspect(live: LiveDocker, exporter: Scraper) -> None:
    live.run("inv", "--memory", "32m", "-e", "SECRET_PASSWORD=hunter2", "--label", "team=core")
    await exporter.wait(lambda s: value(s, "docker_container_info", name=live.name("inv")) == 1)
    resp = await exporter.client.get(f"/inventory/containers/{live.name('inv')}")
    doc = await resp.json()
    inspect_id = docker("inspect", "-f", "{{.Id}}", live.name("inv"))
    assert doc["id"] == inspect_id
    assert doc["limits"]["memory_bytes"] == 32 * 1024 * 1024
    assert doc["labels"] == {"team": "core"}
    assert doc["pid"] == int(docker("inspect", "-f", "{{.State.Pid}}", live.name("inv")))
    assert "hunter2" not in await (await exporter.client.get("/inventory")).text()


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason=because(TESTBED_LIMIT, "promtool not installed")
)
async def test_promtool_check_metrics_is_silent(live: LiveDocker, exporter: Scraper) -> None:
    live.run("lint", "--label", f"{ODD_LABEL}=x")
    live.run("lint2", "--health-cmd", "true", "--health-interval", "1s")
    await exporter.wait(lambda s: value(s, "docker_container_info", name=live.name("lint2")) == 1)
    text = await exporter.text()
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""

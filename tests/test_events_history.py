"""The event history: a bounded ring of kept events, /events, health transitions and
`docker-exporter events [--follow]`."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import (
    FakeClock,
    FakeEngine,
    LiveDocker,
    docker,
    engine_lacks,
    event,
    health_checks_run,
    inspect_payload,
    live_settings,
    until,
    wait_for,
)
from prometheus_client.parser import text_string_to_metric_families
from test_openapi import validate_response

from exporter.cli import events as events_cli
from exporter.cli.app import build_app
from exporter.cli.settings import Settings
from exporter.collectors import COLLECTORS
from exporter.inventory.history import EventHistory, EventQuery
from exporter.web.http import INVENTORY

A = "a" * 64
B = "b" * 64
T0 = 1_800_000_000 * 10**9


def record(history: EventHistory, e: Any, admitted: bool = True) -> Any:
    return history.record(e, container_name={A: "alpha"}.get, admitted=lambda *_: admitted)


def test_ring_keeps_the_newest_and_only_kept_kinds() -> None:
    history = EventHistory(3)
    assert record(history, event("container", "exec_create: sh -c 'echo $SECRET'", A, T0)) is None
    assert record(history, event("container", "exec_die", A, T0)) is None
    assert record(history, event("container", "top", A, T0)) is None
    assert record(history, event("volume", "mount", A, T0)) is None
    for i, action in enumerate(("create", "start", "health_status: healthy", "die")):
        kept = record(history, event("container", action, A, T0 + i, name="alpha", exitCode="1"))
        assert kept is not None
    assert [r.full_action for r in history.records()] == ["start", "health_status: healthy", "die"]
    assert [r.seq for r in history.records()] == [2, 3, 4]
    assert history.records()[-1].attributes == {"name": "alpha", "exitCode": "1"}
    assert (
        EventHistory(0).record(
            event("container", "start", A, T0),
            container_name=lambda _c: None,
            admitted=lambda *_: True,
        )
        is None
    )


def test_attributes_are_an_allow_list() -> None:
    history = EventHistory()
    r = record(
        history,
        event(
            "container",
            "start",
            A,
            T0,
            name="alpha",
            image="busybox",
            **{"com.example.secret": "x", "com.docker.compose.service": "web"},
        ),
    )
    assert dict(r.attributes) == {
        "name": "alpha",
        "image": "busybox",
        "com.docker.compose.service": "web",
    }
    net = record(history, event("network", "connect", "n" * 64, T0, container=A, name="front"))
    assert (net.container_id, net.container_name) == (A, "alpha")
    assert dict(net.attributes) == {"container": A, "name": "front"}
    assert record(history, event("container", "start", B, T0, name="b"), admitted=False) is None


def test_query_filters_newest_first() -> None:
    history = EventHistory()
    record(history, event("container", "start", A, T0, name="alpha"))
    record(history, event("network", "connect", "n" * 64, T0 + 1, container=A))
    record(history, event("container", "health_status: unhealthy", A, T0 + 2, name="alpha"))
    record(history, event("image", "tag", "sha256:1", T0 + 3, name="x:1"))
    records = history.records()
    assert [r.seq for r in EventQuery().select(records)] == [4, 3, 2, 1]
    assert [r.seq for r in EventQuery(container="alpha").select(records)] == [3, 2, 1]
    assert [r.seq for r in EventQuery(container=A[:6]).select(records)] == [3, 2, 1]
    assert [r.seq for r in EventQuery(types=("image",)).select(records)] == [4]
    assert [r.seq for r in EventQuery(actions=("health_status",)).select(records)] == [3]
    hs = EventQuery(actions=("health_status: healthy",)).select(records)
    assert hs == []
    assert [r.seq for r in EventQuery(since_ns=T0 + 2).select(records)] == [4, 3]
    assert [r.seq for r in EventQuery(after=2, limit=1).select(records)] == [4]


@pytest.fixture(name="app_client")
async def fixture_app_client(clock: FakeClock) -> AsyncIterator[tuple[Any, FakeEngine]]:
    engine = FakeEngine()
    engine.add(inspect_payload(cid=A, Name="/alpha"))
    engine.add(inspect_payload(cid=B, Name="/skip-me"))
    settings = Settings(
        collectors=tuple(COLLECTORS), container_exclude=("name=skip-*",), events_history=50
    )
    app = build_app(settings, lambda: engine, clock)
    async with TestClient(TestServer(app)) as client:
        await until(app[INVENTORY], lambda s: s.status.synced and s.status.stream_up)
        yield client, engine


async def test_events_endpoint_and_health_transitions(
    app_client: tuple[Any, FakeEngine], clock: FakeClock
) -> None:
    client, engine = app_client
    inventory = client.server.app[INVENTORY]
    now = int(clock.time() * 1e9)
    for i, (cid, action) in enumerate(
        [
            (A, "health_status: healthy"),
            (A, "health_status: healthy"),  # Podman repeats the status at every probe
            (B, "health_status: unhealthy"),  # excluded
            (A, "health_status: unhealthy"),
            (A, "exec_create: sh -c secret"),
            (A, "kill"),
        ]
    ):
        engine.emit(event("container", action, cid, now + i, signal="9"))
    await until(inventory, lambda s: A in s.health_transitions and inventory.history.last_seq >= 4)
    resp = await client.get("/events")
    body = await resp.json()
    validate_response("/events", 200, body)
    assert [(e["action"], e["status"]) for e in body["events"]] == [
        ("kill", None),
        ("health_status", "unhealthy"),
        ("health_status", "healthy"),
        ("health_status", "healthy"),
    ]
    assert body["events"][0]["attributes"] == {"signal": "9"}
    assert body["events"][0]["container_name"] == "alpha"
    assert "secret" not in json.dumps(body)
    for params in ({"type": "image"}, {"container": "skip-me"}, {"since": "1h"}):
        resp = await client.get("/events", params=params)
        validate_response("/events", 200, await resp.json())
    assert len((await (await client.get("/events", params={"since": "1h"})).json())["events"]) == 4
    assert (await (await client.get("/events", params={"container": "skip-me"})).json())[
        "events"
    ] == []
    for bad in ({"since": "yesterday"}, {"limit": "0"}, {"after": "-1"}):
        resp = await client.get("/events", params=bad)
        assert resp.status == 400
        validate_response("/events", 400, await resp.json())
    text = await (await client.get("/metrics")).text()
    samples = {
        (s.name, s.labels.get("name"), s.labels.get("status")): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "docker_container_health_transitions_total"
    }
    assert samples == {
        ("docker_container_health_transitions_total", "alpha", "healthy"): 1,
        ("docker_container_health_transitions_total", "alpha", "unhealthy"): 1,
    }


def test_format_like_docker_events() -> None:
    line = events_cli.format_event(
        {
            "time_nano": 1_800_000_000_123_456_789,
            "type": "container",
            "action": "health_status",
            "status": "healthy",
            "actor_id": A,
            "attributes": {"name": "alpha", "image": "busybox"},
        }
    )
    assert line == f"2027-01-15T08:00:00.123456789Z container health_status: healthy {A} " + (
        "(image=busybox, name=alpha)"
    )


def test_follow_prints_each_event_once_and_reports_evictions() -> None:
    pages = [
        {
            "last_seq": 2,
            "oldest_seq": 1,
            "events": [
                {"seq": 2, "type": "container", "action": "b"},
                {"seq": 1, "type": "container", "action": "a"},
            ],
        },
        {"last_seq": 2, "oldest_seq": 1, "events": []},
        {
            "last_seq": 9,
            "oldest_seq": 8,
            "events": [
                {"seq": 9, "type": "image", "action": "c"},
                {"seq": 8, "type": "image", "action": "d"},
            ],
        },
    ]
    asked: list[list[tuple[str, str]]] = []
    out: list[str] = []
    warned: list[str] = []

    def fetch(params: list[tuple[str, str]]) -> Any:
        asked.append(params)
        return pages[len(asked) - 1]

    events_cli.follow(
        fetch,
        out.append,
        warned.append,
        [("type", "x")],
        as_json=True,
        sleep=lambda _s: None,
        polls=3,
    )
    assert [json.loads(line)["seq"] for line in out] == [1, 2, 8, 9]
    assert asked == [
        [("type", "x")],
        [("type", "x"), ("after", "2")],
        [("type", "x"), ("after", "2")],
    ]
    assert warned == ["docker-exporter events: 5 events evicted from the ring\n"]


@pytest.mark.integration
@pytest.mark.engine_generic
async def test_kill_health_and_connect_in_order(live: LiveDocker) -> None:
    net = live.network("evnet")
    cid = live.run(
        "ev",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
    )
    name = live.name("ev")
    app = build_app(live_settings(collectors=("containers", "events")))
    inventory = app[INVENTORY]
    async with TestClient(TestServer(app)) as client, health_checks_run(name):

        async def recorded(status: str) -> bool:
            """The history's newest health_status says `status`: Podman 4.3's event of a
            probe carries the status from before that probe, so a change shows in its
            events one probe later than in inspect."""
            body = await (await client.get("/events", params={"container": name})).json()
            health = [e["status"] for e in body["events"] if e["action"] == "health_status"]
            return bool(health) and health[0] == status

        await until(inventory, lambda s: s.status.stream_up and cid in s.containers, 30)
        docker("exec", name, "touch", "/tmp/ok")
        await until(inventory, lambda s: s.containers[cid].health == "healthy", 30)
        await wait_for(lambda: recorded("healthy"), "health_status: healthy recorded")
        docker("network", "connect", net, name)
        docker("exec", name, "rm", "/tmp/ok")
        await until(inventory, lambda s: s.containers[cid].health == "unhealthy", 30)
        await wait_for(lambda: recorded("unhealthy"), "health_status: unhealthy recorded")
        docker("kill", name)
        await until(inventory, lambda s: s.containers[cid].state == "exited", 30)

        async def died() -> bool:  # Podman 5's `die` can come after inspect says exited
            body = await (await client.get("/events", params={"container": name})).json()
            return any(e["action"] == "die" for e in body["events"])

        await wait_for(died, "die recorded")
        body = await (await client.get("/events", params={"container": name})).json()
        validate_response("/events", 200, body)
        seen = [
            (e["type"], e["action"], e["status"])
            for e in reversed(body["events"])
            # Podman 4 names neither the network nor its name in a connect event
            if e["type"] == "container" or (e["type"] == "network" and e["action"] == "connect")
        ]
        wanted = [
            ("container", "health_status", "healthy"),
            ("network", "connect", None),
            ("container", "health_status", "unhealthy"),
            ("container", "kill", None),
            ("container", "die", None),
        ]
        # In this order, with anything between: on a slow host a probe can fail before the
        # first `touch` (an early unhealthy), which is true history, not a reordering.
        remaining = iter(seen)
        assert all(w in remaining for w in wanted), f"{seen}"
        die = next(e for e in body["events"] if e["action"] == "die")
        assert die["attributes"]["exitCode"] == "137"
        assert not [e for e in body["events"] if e["action"].startswith("exec")]
        text = await (await client.get("/metrics")).text()
        labels = f'id="{cid[:12]}",name="{name}",status="unhealthy"'
        # Transitions into unhealthy (2 after an early one): Docker sends a health_status
        # per change, Podman one per probe, which the exporter must not count as changes.
        health = [status for _, action, status in seen if action == "health_status"]
        unhealthy = sum(
            1
            for i, status in enumerate(health)
            if status == "unhealthy" and (i == 0 or health[i - 1] != "unhealthy")
        )
        assert f"docker_container_health_transitions_total{{{labels}}} {unhealthy}" in text

        # the CLI, against this exporter, in a process of its own
        url = str(client.make_url("/"))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "exporter",
            "events",
            "--url",
            url,
            "--container",
            name,
            stdout=asyncio.subprocess.PIPE,
            cwd=Path(__file__).parent.parent,
        )
        out, _ = await proc.communicate()
        lines = out.decode().splitlines()
        assert proc.returncode == 0
        kill = [line for line in lines if f"container kill {cid} (" in line]
        assert len(kill) == 1, lines
        if not engine_lacks("kill-signal"):
            assert "signal=9" in kill[0]
        assert lines == sorted(lines)  # oldest first, by timestamp

        follower = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "exporter",
            "events",
            "--url",
            url,
            "--follow",
            "--container",
            name,
            "--action",
            "die",
            stdout=asyncio.subprocess.PIPE,
            cwd=Path(__file__).parent.parent,
        )
        try:
            assert follower.stdout is not None
            first = await asyncio.wait_for(follower.stdout.readline(), 30)
            assert b"container die " + cid.encode() in first  # the history
            # In a thread: this loop serves the exporter the follower polls, and the CLI
            # gives up on a poll unanswered for 10 s (a blocking `docker start` under qemu's
            # TCG took longer: the follower exited, the test saw a ProcessLookupError).
            await asyncio.to_thread(docker, "start", name)
            await asyncio.to_thread(docker, "kill", name)
            line = await asyncio.wait_for(follower.stdout.readline(), 30)
            assert b"container die " + cid.encode() in line  # followed, not in the history
            assert line != first
        finally:
            if follower.returncode is None:  # an exited follower is the failure to show
                follower.kill()
            await follower.wait()

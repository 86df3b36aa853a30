"""A hung or misbehaving engine, live: a dockerd of our own frozen with SIGSTOP, and the
live engine behind a fault-injecting proxy (tests/faultproxy.py) that delays, cuts,
drops and garbles its answers. The exporter degrades (docker_up 0, or a logged and
counted error), never crashes, leaks no task and never publishes a half-parsed object."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import (
    LiveDocker,
    Samples,
    Scraper,
    docker,
    engine_socket,
    live_settings,
    skip_not_applicable,
    until,
)
from conftest import value as find
from faultproxy import Fault, FaultProxy
from test_fleet import Engine
from test_live_restart import fixture_private_engine

from exporter.cli.app import build_app
from exporter.cli.settings import Settings
from exporter.collectors import COLLECTORS
from exporter.web.http import INVENTORY

pytestmark = pytest.mark.integration
assert fixture_private_engine  # the private dockerd fixture, shared with the restart test
FAST = {
    "ping_interval": 1.0,
    "ping_timeout": 0.5,
    "docker_timeout": 2.0,
    "resync_interval": 2.0,
}
COLLECTED = tuple(c for c in COLLECTORS if c not in ("top", "volume_sizes"))


@pytest.fixture(name="hung_exporter")
async def fixture_hung_exporter(private_engine: Engine) -> AsyncIterator[Scraper]:
    settings = Settings(collectors=COLLECTED, docker_host=private_engine.host, **FAST)
    app = build_app(settings)
    async with TestClient(TestServer(app)) as client:
        await until(app[INVENTORY], lambda s: s.status.synced, timeout=30)
        yield Scraper(client)


async def test_a_stopped_dockerd_is_down_and_recovers(
    private_engine: Engine, hung_exporter: Scraper, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGSTOP the engine: its sockets stay open and silent. docker_up turns 0 (the ping
    times out), the last inventory is still served with its age; SIGCONT: a reconnect
    and a reconcile, one log line each way."""
    cid = private_engine.docker(
        "run", "-d", "--network", "none", "--name", "dxt-hung", "busybox:local", "sleep", "600"
    )[:12]
    await hung_exporter.wait(lambda s: find(s, "docker_container_info", id=cid) == 1)
    assert private_engine.process is not None
    caplog.set_level(logging.INFO)
    caplog.clear()
    os.kill(private_engine.process.pid, signal.SIGSTOP)
    try:
        samples = await hung_exporter.wait(lambda s: find(s, "docker_up") == 0)
        assert find(samples, "docker_container_info", id=cid) == 1
        assert find(samples, "docker_exporter_engine_ping_up") == 0
        assert find(samples, "docker_exporter_inventory_last_sync_timestamp_seconds")
        failures = "docker_exporter_engine_ping_failures_total"
        samples = await hung_exporter.wait(lambda s: (find(s, failures) or 0) >= 4)
        assert find(samples, "docker_up") == 0  # a few failed pings more: still one line
        assert find(samples, "docker_container_info", id=cid) == 1
    finally:
        os.kill(private_engine.process.pid, signal.SIGCONT)
    samples = await hung_exporter.wait(lambda s: find(s, "docker_up") == 1, timeout=60)
    assert (find(samples, "docker_exporter_event_stream_reconnects_total") or 0) >= 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([w for w in warnings if "engine unreachable" in w]) == 1, warnings
    assert len([r for r in caplog.records if "reachable again" in r.getMessage()]) == 1
    private_engine.docker("rm", "-f", "dxt-hung")


@pytest.fixture(name="proxy")
async def fixture_proxy(live: LiveDocker) -> AsyncIterator[FaultProxy]:
    upstream = engine_socket()
    if upstream is None:
        skip_not_applicable("the proxy needs the engine on a unix socket")
    base = Path(tempfile.mkdtemp(prefix="dxt-proxy-", dir="/tmp"))  # short socket path
    proxy = FaultProxy(upstream, base / "engine.sock")
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
        shutil.rmtree(base, ignore_errors=True)
    del live


@pytest.fixture(name="proxied")
async def fixture_proxied(
    proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[tuple[Scraper, Settings]]:
    """The exporter on the proxy; on exit, no task of its own may be left running and no
    background loop may have crashed."""
    before = asyncio.all_tasks()
    settings = replace(live_settings(collectors=COLLECTED, **FAST), docker_host=proxy.host)
    app = build_app(settings)
    async with TestClient(TestServer(app)) as client:
        await until(app[INVENTORY], lambda s: s.status.synced, timeout=30)
        yield Scraper(client), settings
    left = {t for t in asyncio.all_tasks() - before - {asyncio.current_task()} if not t.done()}
    left = {t for t in left if "FaultProxy" not in repr(t.get_coro())}
    assert not left, left
    crashed = [r.getMessage() for r in caplog.records if "crashed" in r.getMessage()]
    assert not crashed, crashed


async def test_a_frozen_socket_is_down_and_recovers(
    proxy: FaultProxy, proxied: tuple[Scraper, Settings]
) -> None:
    scraper, _ = proxied
    await scraper.wait(lambda s: find(s, "docker_up") == 1)
    proxy.freeze()
    try:
        samples = await scraper.wait(lambda s: find(s, "docker_up") == 0)
        assert find(samples, "docker_exporter_engine_ping_up") == 0
    finally:
        proxy.thaw()
    samples = await scraper.wait(lambda s: find(s, "docker_up") == 1)
    assert (find(samples, "docker_exporter_event_stream_reconnects_total") or 0) >= 1


def inspect_of(name_or_id: str) -> str:
    return f"/containers/{name_or_id}/json"


async def test_one_object_answered_badly_does_not_take_the_engine_down(
    live: LiveDocker, proxy: FaultProxy, proxied: tuple[Scraper, Settings]
) -> None:
    """A 500 with HTML, half a JSON body, a body of the wrong shape, a cut connection and
    an answer slower than the timeout, each on one container's inspect: docker_up stays
    1, the failures are counted by kind, none of these containers is published half-read,
    and each appears once its inspect is answered properly."""
    scraper, _ = proxied
    names = ["html", "half", "shape", "cut", "slow", "drop"]
    ids = {name: live.run(name) for name in names}
    faults = {
        "html": Fault(html_500=True),
        "half": Fault(garble=b'{"Id": "' + ids["half"].encode() + b'", "State": {"Sta'),
        "shape": Fault(garble=b'{"Id": ["x"], "State": "running", "Config": [], "Mounts": 7}'),
        "cut": Fault(truncate=True),
        "slow": Fault(delay=3.0),
        "drop": Fault(drop=True),
    }
    by_path = {inspect_of(ids[n]): f for n, f in faults.items()}

    def inspect_rule(path: str) -> Fault | None:
        bare = path.split("?", maxsplit=1)[0]
        return next((f for p, f in by_path.items() if bare.endswith(p)), None)

    proxy.rules.append(inspect_rule)
    healthy = live.run("healthy")
    await scraper.wait(lambda s: find(s, "docker_container_info", id=healthy[:12]) == 1)
    kinds = ("server_error", "malformed", "timeout")

    def degraded_only(samples: Samples) -> bool:
        """Every scrape: up, none of them half-published; done once each kind is counted
        at least twice (two passes of the same failures)."""
        assert find(samples, "docker_up") == 1
        for name in names:
            assert find(samples, "docker_container_info", id=ids[name][:12]) is None, name
        errors = "docker_exporter_engine_request_errors_total"
        return all(
            (find(samples, errors, endpoint="inspect", kind=kind) or 0) >= 2 for kind in kinds
        )

    await scraper.wait(degraded_only, timeout=60)
    proxy.rules.clear()
    await scraper.wait(
        lambda s: all(find(s, "docker_container_info", id=i[:12]) == 1 for i in ids.values()),
        timeout=30,
    )
    assert find(await scraper.samples(), "docker_up") == 1


async def test_a_hostile_event_stream_is_survived(
    live: LiveDocker, proxy: FaultProxy, proxied: tuple[Scraper, Settings]
) -> None:
    """A 10 MB event line, garbage lines and an event of the wrong shape on the stream:
    skipped and counted, the stream stays up. Then a stream that stops mid-event: a
    reconnect, and events flow again."""
    scraper, _ = proxied
    huge = b'{"Type":"container","Action":"start","Actor":{"ID":"' + b"x" * 10_000_000 + b'"}}\n'
    inject = [huge, b"not json\n", b'{"Type": 5, "Action": [], "timeNano": "x"}\n', b"[1]\n"]
    modes = [Fault(cut_mid_event=True), Fault(inject=inject)]  # the next two streams

    def events_rule(path: str) -> Fault | None:
        if "/events" not in path or not modes:
            return None
        return modes.pop(0)

    proxy.rules.append(events_rule)
    samples = await scraper.wait(lambda s: find(s, "docker_exporter_event_stream_up") == 1)
    reconnects = find(samples, "docker_exporter_event_stream_reconnects_total") or 0
    proxy.cut_streams()  # the stream open now ends; the next one stops mid-event
    discarded = "docker_exporter_event_lines_discarded_total"
    # Garbage, a wrong shape, not an object: malformed. (The half event at the cut is never
    # parsed: the stream's own chunked framing is broken there, and aiohttp raises.)
    await scraper.wait(
        lambda s: (
            (find(s, "docker_exporter_event_stream_reconnects_total") or 0) >= reconnects + 2
            and (find(s, discarded, reason="oversized") or 0) >= 1
            and (find(s, discarded, reason="malformed") or 0) >= 3
            and find(s, "docker_exporter_event_stream_up") == 1
        ),
        timeout=60,
    )
    assert modes == []
    cid = live.run("after")
    docker("pause", cid)
    await scraper.wait(
        lambda s: find(s, "docker_container_state", id=cid[:12], state="paused") == 1
    )
    docker("unpause", cid)
    assert find(await scraper.samples(), "docker_up") == 1


async def test_caps_hold_on_the_live_engine(live: LiveDocker) -> None:
    """A container with more labels than --docker.max-labels and an image tagged more
    often than --docker.max-image-tags: cut to the caps, counted, nothing else lost."""
    settings = live_settings(collectors=COLLECTED, max_labels=5, max_image_tags=2)
    labels = [arg for i in range(12) for arg in ("--label", f"dxt.cap{i:02}=v{i}")]
    cid = live.run("caps", *labels)
    image = live.build("capped", "FROM busybox:local\nLABEL dxt.capped=1\n")
    for n in range(4):
        live.tag(image, f"{live.name('capped')}:t{n}")
    app = build_app(settings)
    async with TestClient(TestServer(app)) as client:
        await until(app[INVENTORY], lambda s: s.status.synced, timeout=30)
        scraper = Scraper(client)
        await scraper.wait(lambda s: find(s, "docker_container_info", id=cid[:12]) == 1)
        snapshot = app[INVENTORY].snapshot
        assert len(snapshot.containers[cid].labels) == 5
        tagged = [i for i in snapshot.images.values() if any("capped" in t for t in i.repo_tags)]
        assert tagged
        assert all(len(i.repo_tags) <= 2 for i in tagged)
        samples = await scraper.wait(
            lambda s: (find(s, "docker_exporter_truncations_total", what="image_tags") or 0) >= 1
        )
        assert (find(samples, "docker_exporter_truncations_total", what="labels") or 0) >= 1

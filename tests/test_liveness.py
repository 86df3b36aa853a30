"""The liveness probe against a fake engine that can be frozen (what `kill -STOP` does)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from conftest import FakeClock, FakeEngine, event, inspect_payload, running_watcher, until

from exporter.cli.main import parse_settings
from exporter.collectors import Options
from exporter.engine.api import EngineTimeout, ServerError
from exporter.engine.telemetry import RequestMeter
from exporter.inventory.liveness import Liveness
from exporter.inventory.store import Inventory
from exporter.inventory.watcher import Watcher
from exporter.render.exposition import Exposition
from exporter.stats.sampler import ApiSource, Sampler

A = "a" * 64
B = "b" * 64
INTERVAL = 5.0
TIMEOUT = 3.0


@asynccontextmanager
async def probing(
    engine: FakeEngine, inventory: Inventory, clock: FakeClock, watcher: Watcher | None
) -> AsyncIterator[Liveness]:
    liveness = Liveness(
        engine,
        inventory,
        clock,
        interval=INTERVAL,
        timeout=TIMEOUT,
        listeners=[watcher.reachable] if watcher else [],
        meter=RequestMeter(),
    )
    task = asyncio.create_task(liveness.run())
    await until(inventory, lambda s: s.liveness.up is True)
    try:
        yield liveness
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def tick(clock: FakeClock, seconds: float, step: float = 0.5) -> None:
    """Advance in small steps, letting the loop run between them."""
    for _ in range(round(seconds / step)):
        await clock.advance(step)


async def test_a_hung_engine_is_down_within_two_intervals_and_back_after_a_reconcile(
    fake_engine: FakeEngine,
    inventory: Inventory,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_engine.add(inspect_payload(cid=A, Name="/alpha"))
    async with (
        running_watcher(fake_engine, inventory, clock) as watcher,
        probing(fake_engine, inventory, clock, watcher),
    ):
        synced_at = inventory.snapshot.status.last_sync_ts
        assert inventory.snapshot.up
        streams = len(fake_engine.streams)
        caplog.set_level(logging.INFO)
        caplog.clear()
        fake_engine.freeze()
        frozen_at = clock.now
        while inventory.snapshot.up:
            assert clock.now - frozen_at <= 2 * INTERVAL, "still up after two intervals"
            await clock.advance(0.5)
        detected = clock.now - frozen_at
        snap = inventory.snapshot
        assert A in snap.containers  # the last inventory is still served
        assert snap.status.last_sync_ts == synced_at  # with its age visible
        assert not snap.status.stream_up
        assert snap.liveness.up is False
        await tick(clock, 4 * INTERVAL)  # a long outage: still one line, no reconnect storm
        assert len(fake_engine.streams) == streams
        down_lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(down_lines) == 1, [r.getMessage() for r in caplog.records]
        assert "/_ping" in down_lines[0].getMessage()

        fake_engine.add(inspect_payload(cid=B, Name="/beta"))  # created while it was hung
        calls = len(fake_engine.calls)
        fake_engine.thaw()
        while not inventory.snapshot.up:
            await clock.advance(0.5)
        snap = inventory.snapshot
        assert B in snap.containers  # the reconcile found it
        assert len(fake_engine.streams) == streams + 1  # a reconnect
        assert "list" in fake_engine.calls[calls:]
        assert snap.status.last_sync_ts is not None
        assert synced_at is not None
        assert snap.status.last_sync_ts > synced_at
        back = [r.getMessage() for r in caplog.records if "reachable again" in r.getMessage()]
        assert len(back) == 1
        assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
    assert detected <= 2 * INTERVAL


async def test_the_probe_holds_one_ping_at_a_time_and_leaks_no_task(
    fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    async with probing(fake_engine, inventory, clock, None):
        baseline = len(asyncio.all_tasks())
        fake_engine.freeze()
        await tick(clock, 10 * INTERVAL + TIMEOUT)  # pings at 5, 10, ... 50 s all time out
        assert inventory.snapshot.liveness.failures == 10
        assert fake_engine.calls.count("ping") == 11  # one per interval, none piled up
        assert len(asyncio.all_tasks()) == baseline
        telemetry = inventory.snapshot.engine_requests
        assert telemetry.errors[("ping", "timeout")] == 10
        fake_engine.thaw()
        await tick(clock, INTERVAL)
        assert inventory.snapshot.liveness.up is True


def test_ping_timeout_must_fit_in_the_interval() -> None:
    with pytest.raises(ValueError, match="ping timeout"):
        Liveness(FakeEngine(), Inventory(), FakeClock(), interval=2.0, timeout=3.0)
    with pytest.raises(SystemExit) as exit_info:
        parse_settings(["--docker.ping-interval=2s", "--docker.ping-timeout=3s"], {})
    assert exit_info.value.code == 2
    settings = parse_settings(["--docker.ping-interval=10s"], {})
    assert (settings.ping_interval, settings.ping_timeout) == (10.0, 3.0)


async def test_api_stats_sweeps_are_suspended_while_the_engine_is_hung(
    fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    fake_engine.add(inspect_payload(cid=A, Name="/alpha"))
    async with (
        running_watcher(fake_engine, inventory, clock) as watcher,
        probing(fake_engine, inventory, clock, watcher),
    ):
        sampler = Sampler(inventory, clock, ApiSource(fake_engine), interval=5.0)
        await sampler.sweep()
        asked = sum(c.startswith("stats") for c in fake_engine.calls)
        assert asked == 1
        fake_engine.freeze()
        while inventory.snapshot.liveness.up:
            await clock.advance(0.5)
        for _ in range(3):
            await asyncio.wait_for(sampler.sweep(), 1)  # returns at once: nothing is asked
        assert sum(c.startswith("stats") for c in fake_engine.calls) == asked
        assert inventory.snapshot.sampler.suspended == 3
        fake_engine.thaw()


@pytest.mark.parametrize(
    "failure",
    [
        ServerError("containerd: deadline exceeded"),
        # dockerd holds a container's lock while removing it: one inspect answers late
        # (bench/storm.py found it: a reconcile failed whole under 1 000 removals).
        EngineTimeout("GET /containers/x/json: no answer within 10.0s"),
    ],
)
async def test_one_failed_inspect_keeps_the_engine_up(
    fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock, failure: Exception
) -> None:
    """A 5xx or a timeout on one object is that request's failure: docker_up stays 1, the
    object keeps its last state, and the next pass inspects it again."""
    fake_engine.add(inspect_payload(cid=A, Name="/alpha"))
    fake_engine.add(inspect_payload(cid=B, Name="/beta"))
    async with running_watcher(fake_engine, inventory, clock):
        fake_engine.failing[f"inspect {A[:12]}"] = failure
        fake_engine.containers[A]["State"].update(Status="exited", Running=False)
        fake_engine.containers[B]["State"].update(Status="exited", Running=False)
        fake_engine.emit(event("container", "die", A, 10, exitCode="0"))
        fake_engine.emit(event("container", "die", B, 11, exitCode="0"))
        snap = await until(inventory, lambda s: s.containers[B].state == "exited")
        assert snap.up
        assert snap.containers[A].state == "running"  # its last state, not half an object
        calls = len(fake_engine.calls)
        await clock.advance(60.0)  # the next pass lists and asks again: the same failure
        await until(inventory, lambda s: f"inspect {A[:12]}" in fake_engine.calls[calls:])
        assert inventory.snapshot.up
        assert inventory.snapshot.containers[A].state == "running"
        del fake_engine.failing[f"inspect {A[:12]}"]
        await clock.advance(60.0)
        await until(inventory, lambda s: s.containers[A].state == "exited")
        assert inventory.snapshot.up


def test_the_request_histogram_renders_as_prometheus_client_does() -> None:
    from prometheus_client.exposition import generate_latest
    from prometheus_client.openmetrics.exposition import generate_latest as om_latest

    from exporter.inventory.store import LivenessStatus, Snapshot
    from exporter.render.exposition import engine_families
    from exporter.render.formats import OPENMETRICS, TEXT, encode_rows, head_of

    meter = RequestMeter()
    for seconds in (0.001, 0.02, 0.3, 4.0, 45.0):
        meter.observe("inspect", seconds)
    meter.observe("ping", 0.0004)
    meter.error("ping", "timeout")
    meter.discard("oversized")
    snapshot = Snapshot(
        engine_requests=meter.freeze(), liveness=LivenessStatus(up=True, failures=2)
    )
    families = list(engine_families(snapshot))

    class Fixed:
        def collect(self) -> list[object]:
            return [f.as_metric() for f in families]

    for fmt, reference in ((TEXT, generate_latest), (OPENMETRICS, om_latest)):
        ours = b"".join(head_of(f).of(fmt) + encode_rows(f, f.rows) for f in families)
        expected = reference(Fixed())  # type: ignore[arg-type]
        if fmt == OPENMETRICS:
            expected = expected.removesuffix(b"# EOF\n")
        assert ours == expected, fmt


async def test_the_exposition_shows_the_outage(
    fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    fake_engine.add(inspect_payload(cid=A, Name="/alpha"))
    async with (
        running_watcher(fake_engine, inventory, clock) as watcher,
        probing(fake_engine, inventory, clock, watcher),
    ):
        fake_engine.freeze()
        while inventory.snapshot.up:
            await clock.advance(0.5)
        await tick(clock, INTERVAL)
        text = Exposition(["containers"], Options()).render(inventory.snapshot).data.decode()
        fake_engine.thaw()
    assert "docker_up 0.0" in text
    assert "docker_exporter_engine_ping_up 0.0" in text
    assert "docker_exporter_inventory_last_sync_timestamp_seconds " in text
    assert "docker_container_info{" in text  # the last inventory, still served
    assert 'docker_exporter_engine_request_errors_total{endpoint="ping",kind="timeout"}' in text


class SlowToCancelPing(FakeEngine):
    """A ping that hangs, and when cancelled takes until `released` to end (an aiohttp
    request closing its connection under load)."""

    def __init__(self) -> None:
        super().__init__()
        self.hang = True
        self.cancelling = asyncio.Event()
        self.released = asyncio.Event()

    async def ping(self) -> None:
        if not self.hang:
            return
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelling.set()
            await self.released.wait()
            raise


async def test_a_shutdown_during_a_ping_cancellation_stops_the_loop(
    inventory: Inventory, clock: FakeClock
) -> None:
    """Cancelled while it waits for a timed-out ping to end, the loop ends (it kept pinging
    through the shutdown, whose wait then never returned)."""
    engine = SlowToCancelPing()
    liveness = Liveness(engine, inventory, clock, interval=INTERVAL, timeout=TIMEOUT)
    task = asyncio.create_task(liveness.run())
    while not engine.cancelling.is_set():  # the deadline passes: the ping is cancelled
        await clock.advance(0.5)
    task.cancel()  # the shutdown, while the probe waits for that ping to end
    await asyncio.sleep(0)
    engine.hang = False
    engine.released.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5.0)

"""The event watcher against the fake engine: ordering, replay, reconnects, outages."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator

import pytest
from conftest import (
    FakeClock,
    FakeEngine,
    event,
    inspect_payload,
    load_json,
    running_watcher,
    until,
)

from exporter.inventory.store import Inventory
from exporter.inventory.watcher import (
    FULL_RESYNC_EVERY,
    NETWORK_POLL,
    QUIET_EVENTS,
    Watcher,
    lacks_network_events,
)

A = "a" * 64
B = "b" * 64


@pytest.fixture(name="running")
async def fixture_running(
    fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> AsyncIterator[Watcher]:
    fake_engine.add(inspect_payload(cid=A, Name="/alpha"))
    async with running_watcher(fake_engine, inventory, clock) as watcher:
        yield watcher


async def test_stream_is_opened_before_the_listing(
    running: Watcher, fake_engine: FakeEngine
) -> None:
    """The docker CLI pattern: subscribe first so that no creation falls between list and watch."""
    assert fake_engine.calls[:3] == ["events", "info", "list"]


async def test_initial_sync_fills_the_snapshot(running: Watcher, inventory: Inventory) -> None:
    snap = inventory.snapshot
    assert set(snap.containers) == {A}
    assert snap.engine is not None
    assert snap.status.engine_up


async def test_die_event_triggers_inspect(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory
) -> None:
    fake_engine.containers[A]["State"].update(Status="exited", ExitCode=137, Running=False)
    fake_engine.emit(event("container", "die", A, 10, exitCode="137"))
    snap = await until(inventory, lambda s: s.containers[A].state == "exited")
    assert snap.containers[A].exit_code == 137
    assert snap.status.events[("container", "die")] == 1


async def test_destroy_removes_without_inspect(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory
) -> None:
    calls = len(fake_engine.calls)
    fake_engine.emit(event("container", "destroy", A, 10))
    await until(inventory, lambda s: A not in s.containers)
    assert not any(c.startswith("inspect") for c in fake_engine.calls[calls:])


async def test_create_event_adds_a_container(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory
) -> None:
    fake_engine.add(inspect_payload(cid=B, Name="/beta"))
    fake_engine.emit(event("container", "create", B, 10))
    snap = await until(inventory, lambda s: B in s.containers)
    assert snap.containers[B].name == "beta"


async def test_suffixed_actions_are_counted_by_prefix(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory
) -> None:
    fake_engine.emit(event("container", "exec_start: sh -c true", A, 10))
    fake_engine.emit(event("container", "health_status: unhealthy", A, 11))
    snap = await until(inventory, lambda s: ("container", "health_status") in s.status.events)
    assert snap.status.events[("container", "exec_start")] == 1


async def test_oom_events_are_counted_per_container(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory
) -> None:
    fake_engine.emit(event("container", "oom", A, 10))
    fake_engine.emit(event("container", "oom", A, 11))
    snap = await until(inventory, lambda s: s.oom_events.get(A) == 2)
    assert snap.oom_events[A] == 2


async def test_podman_remove_is_destroy(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory
) -> None:
    fake_engine.emit(event("container", "remove", A, 10))
    await until(inventory, lambda s: A not in s.containers)


async def test_reconnect_replays_since_last_event_and_drops_duplicates(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """`since` is inclusive: the last event comes again and must not be counted twice."""
    first = event("container", "kill", A, 100, signal="9")
    fake_engine.emit(first)
    await until(inventory, lambda s: s.status.events.get(("container", "kill")) == 1)
    fake_engine.replay = [first, event("container", "stop", A, 101)]
    fake_engine.end_stream()
    await until(inventory, lambda s: not s.status.stream_up)
    await clock.advance(1.0)
    snap = await until(inventory, lambda s: ("container", "stop") in s.status.events)
    assert fake_engine.since[-1] == 100
    assert snap.status.events[("container", "kill")] == 1
    assert snap.status.reconnects == 1


async def test_reconnect_relists_and_reconciles(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """A container removed while the stream was down (no event replayed) still disappears."""
    fake_engine.end_stream()
    await until(inventory, lambda s: not s.status.stream_up)
    del fake_engine.containers[A]
    fake_engine.add(inspect_payload(cid=B, Name="/beta"))
    await clock.advance(1.0)
    snap = await until(inventory, lambda s: s.status.stream_up and B in s.containers)
    assert A not in snap.containers


async def test_engine_outage_sets_up_to_zero_and_backs_off(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """Down: the snapshot says so, backoff doubles to its cap; recovery resyncs. (A
    stream that ends is no outage by itself: the reconnect that fails is.)"""
    fake_engine.down = True
    fake_engine.end_stream()
    await until(inventory, lambda s: not s.status.stream_up)
    assert inventory.snapshot.status.engine_up
    await clock.advance(1.0)
    await until(inventory, lambda s: not s.status.engine_up)
    assert A in inventory.snapshot.containers  # last known inventory is kept while down
    for _ in range(7):
        await clock.advance(60.0)
    backoffs = [s for s in clock.sleeps if s != 60.0]
    assert backoffs[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert max(backoffs) == 30.0
    fake_engine.down = False
    await clock.advance(60.0)
    snap = await until(inventory, lambda s: s.status.engine_up and s.status.stream_up)
    assert snap.status.synced


async def test_backoff_has_jitter(
    fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    fake_engine.down = True
    watcher = Watcher(fake_engine, inventory, clock, jitter=lambda: 0.0)
    task = asyncio.create_task(watcher.run())
    await until(inventory, lambda s: s.version > 0)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 0.5 in clock.sleeps  # half of the 1 s initial backoff with jitter 0


async def test_engine_down_at_start_then_up(
    fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    fake_engine.down = True
    fake_engine.add(inspect_payload(cid=A, Name="/alpha"))
    watcher = Watcher(fake_engine, inventory, clock, jitter=lambda: 1.0)
    task = asyncio.create_task(watcher.run())
    snap = await until(inventory, lambda s: s.version > 0)
    assert not snap.status.engine_up
    assert not snap.status.synced
    fake_engine.down = False
    await clock.advance(1.0)
    snap = await until(inventory, lambda s: s.status.synced)
    assert A in snap.containers
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_periodic_reconcile_catches_silent_drops(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """An event the engine dropped (a slow reader, behind a flood of events) is repaired
    by the 60 s reconcile."""
    fake_engine.add(inspect_payload(cid=B, Name="/beta"))
    await flood(fake_engine, inventory)
    await clock.advance(60.0)
    await until(inventory, lambda s: B in s.containers)


async def flood(fake_engine: FakeEngine, inventory: Inventory, first_ns: int = 10_000) -> None:
    """QUIET_EVENTS exec events on A, read by the watcher: what a drop comes after."""
    for i in range(QUIET_EVENTS):
        fake_engine.emit(event("container", "exec_die", A, first_ns + i, exitCode="0"))
    end = ("container", "exec_die")
    await until(inventory, lambda s: s.status.events.get(end, 0) >= QUIET_EVENTS, timeout=10)


async def test_a_quiet_light_pass_lists_no_containers(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """With fewer than QUIET_EVENTS events since the last list, the Engine cannot have
    dropped one: a light pass lists images, networks and volumes, not containers; the
    full pass lists them, and finds what no event announced."""
    fake_engine.add(inspect_payload(cid=B, Name="/beta"))  # no event at all
    for i in range(QUIET_EVENTS - 1):
        fake_engine.emit(event("container", "exec_die", A, 10_000 + i, exitCode="0"))
    calls = len(fake_engine.calls)
    for _ in range(FULL_RESYNC_EVERY - 1):
        await clock.advance(60.0)
    await until(inventory, lambda s: fake_engine.calls.count("volumes") >= FULL_RESYNC_EVERY - 1)
    light = fake_engine.calls[calls:]
    assert "list" not in light
    assert light.count("images") == light.count("networks") == FULL_RESYNC_EVERY - 1
    assert B not in inventory.snapshot.containers
    await clock.advance(60.0)  # the full pass
    await until(inventory, lambda s: B in s.containers)
    assert "list" in fake_engine.calls[calls:]


async def test_the_generation_guard_refuses_an_inspect_started_before_a_destroy(
    fake_engine: FakeEngine, inventory: Inventory
) -> None:
    """Inventory.upsert's guard, which the watcher's inspects pass their generation to."""
    fake_engine.add(inspect_payload(cid=A, Name="/alpha"))
    generation = inventory.generation(A)
    inventory.remove(A)  # the destroy lands while the inspect is in flight
    container = await fake_engine.inspect_container(A)
    assert not inventory.upsert(container, generation)
    assert A not in inventory.snapshot.containers


async def test_network_connect_refreshes_the_container(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory
) -> None:
    nets = fake_engine.containers[A]["NetworkSettings"]["Networks"]
    nets["extra"] = {**next(iter(nets.values())), "Aliases": ["db"], "IPAddress": "10.9.0.2"}
    fake_engine.emit(event("network", "connect", "n" * 64, 10, container=A, name="extra"))
    snap = await until(inventory, lambda s: len(s.containers[A].networks) == 2)
    assert {n.network for n in snap.containers[A].networks} >= {"extra"}


async def test_count_only_events_are_published_at_most_once_a_second(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """Health probes send three exec events per probe: they must not each cost a render."""
    fake_engine.emit(event("container", "exec_start: true", A, 10))
    snap = await until(inventory, lambda s: ("container", "exec_start") in s.status.events)
    version = snap.version
    for i in range(50):  # A is healthy: a passing probe changes nothing
        fake_engine.emit(event("container", "exec_die", A, 11 + i, exitCode="0"))
    await fake_engine.drained()  # all 50 handled
    await clock.advance(0.5)
    assert inventory.snapshot.version == version  # counted, not yet published
    await clock.advance(0.6)
    fake_engine.emit(event("container", "exec_die", A, 100, exitCode="0"))
    snap = await until(inventory, lambda s: s.status.events.get(("container", "exec_die")) == 51)
    assert snap.version == version + 1
    assert snap.status.last_event_ts == 100 / 1e9


async def test_periodic_reconcile_inspects_only_what_the_list_shows_changed(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """A quiet host costs the Engine a list, not an inspect per container, each minute;
    every tenth pass inspects everything anyway."""
    fake_engine.add(inspect_payload(cid=B, Name="/beta"))
    await flood(fake_engine, inventory)
    await clock.advance(60.0)
    await until(inventory, lambda s: B in s.containers)
    await flood(fake_engine, inventory, 20_000)
    calls = len(fake_engine.calls)
    await clock.advance(60.0)  # nothing changed
    await until(inventory, lambda s: len(fake_engine.calls) > calls + 1)
    assert "list" in fake_engine.calls[calls:]
    assert not [c for c in fake_engine.calls[calls:] if c.startswith("inspect")]
    fake_engine.containers[A]["State"].update(Status="exited", ExitCode=1, Running=False)
    await flood(fake_engine, inventory, 30_000)
    calls = len(fake_engine.calls)
    await clock.advance(60.0)  # A's list entry changed, its event was lost
    snap = await until(inventory, lambda s: s.containers[A].state == "exited")
    assert [c for c in fake_engine.calls[calls:] if c.startswith("inspect")] == [
        f"inspect {A[:12]}"
    ]
    for _ in range(6):  # passes 4 to 9
        await clock.advance(60.0)
    calls = len(fake_engine.calls)
    await clock.advance(60.0)  # the tenth pass: full
    await until(inventory, lambda s: len(fake_engine.calls) >= calls + 4)
    inspected = {c for c in fake_engine.calls[calls:] if c.startswith("inspect")}
    assert inspected == {f"inspect {A[:12]}", f"inspect {B[:12]}"}
    del snap


async def test_light_passes_skip_engine_info_and_known_networks(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """Between full passes only lists are asked for, plus inspects of what is new."""
    fake_engine.add_recorded_objects()
    await clock.advance(60.0)  # pass 1, light: the recorded networks are new, so inspected
    await until(inventory, lambda s: len(s.networks) == 2)
    calls = len(fake_engine.calls)
    await clock.advance(60.0)  # pass 2, light, nothing new
    await until(inventory, lambda s: len(fake_engine.calls) >= calls + 3)
    light = fake_engine.calls[calls:]
    assert "info" not in light
    assert not [c for c in light if c.startswith(("network ", "inspect"))]
    assert {"images", "networks", "volumes"} <= set(light)
    extra = dict(load_json("network_inspect.json"), Id="f" * 64, Name="late")
    fake_engine.add_network(extra)
    calls = len(fake_engine.calls)
    await clock.advance(60.0)  # pass 3: only the new network is inspected
    await until(inventory, lambda s: "f" * 64 in s.networks)
    assert [c for c in fake_engine.calls[calls:] if c.startswith("network ")] == [
        "network " + "f" * 12
    ]
    for _ in range(6):  # passes 4 to 9
        await clock.advance(60.0)
    calls = len(fake_engine.calls)
    await clock.advance(60.0)  # the tenth pass: full
    await until(inventory, lambda s: len(fake_engine.calls) >= calls + 8)
    full = fake_engine.calls[calls:]
    assert "info" in full
    assert len([c for c in full if c.startswith("network ")]) == 3


async def test_a_cancelled_pass_leaves_no_inspect_never_awaited(
    fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """A shutdown mid-pass cancels inspects still queued behind the concurrency limit;
    none may be a coroutine made and never awaited (pytest fails on its warning)."""
    base = load_json("network_inspect.json")
    for n in range(6):
        fake_engine.add_network(dict(base, Id=f"{n:x}" * 64, Name=f"net{n}"))
    watcher = Watcher(fake_engine, inventory, clock, concurrency=1)
    task = asyncio.create_task(watcher._inspect_networks(list(fake_engine.networks)))
    while not any(c.startswith("network ") for c in fake_engine.calls):
        await asyncio.sleep(0)
    task.cancel()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(asyncio.CancelledError):
            await task
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]


async def test_events_out_of_timestamp_order_are_all_applied(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """dockerd stamps an event before it takes the publish lock: concurrent pauses arrive
    out of timestamp order. None is a replay; all count, and the last one's state stands;
    a reconnect still replays from the newest."""
    fake_engine.add(inspect_payload(cid=B, Name="/beta"))
    fake_engine.emit(event("container", "pause", A, 200))
    fake_engine.emit(event("container", "pause", B, 199))  # published second, stamped first
    snap = await until(inventory, lambda s: s.status.events.get(("container", "pause")) == 2)
    assert B in snap.containers
    fake_engine.end_stream()
    await until(inventory, lambda s: not s.status.stream_up)
    await clock.advance(1.0)
    await until(inventory, lambda s: s.status.stream_up)
    assert fake_engine.since[-1] == 200


@pytest.mark.parametrize(("version", "polled"), [("4.3.1", True), ("5.4.2", False)])
async def test_networks_are_listed_often_where_the_engine_sends_no_network_events(
    fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock, version: str, polled: bool
) -> None:
    """Podman 4 sends no network `create` or `remove` event: its networks are listed every
    NETWORK_POLL seconds (new ones inspected); an engine that sends them is not polled."""
    fake_engine.version_doc = dict(
        fake_engine.version_doc,
        Version=version,
        Components=[{"Name": "Podman Engine", "Version": version, "Details": {}}],
    )
    async with running_watcher(fake_engine, inventory, clock):
        assert inventory.snapshot.engine is not None
        assert lacks_network_events(inventory.snapshot.engine) == polled
        lan = dict(load_json("network_inspect.json"), Id="e" * 64, Name="late_lan")
        fake_engine.add_network(lan)
        calls = len(fake_engine.calls)
        await clock.advance(NETWORK_POLL)
        if not polled:
            assert "networks" not in fake_engine.calls[calls:]
            return
        await until(inventory, lambda s: "e" * 64 in s.networks)
        del fake_engine.networks["e" * 64]
        await clock.advance(NETWORK_POLL)
        await until(inventory, lambda s: "e" * 64 not in s.networks)


async def test_a_lost_label_change_is_re_inspected_at_the_next_light_pass(
    running: Watcher, fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """With the real list signature: a container whose labels changed behind a dropped
    event is re-inspected by a light pass, the unchanged one is not."""
    fake_engine.add(inspect_payload(cid=B, Name="/beta"))
    await flood(fake_engine, inventory)
    await clock.advance(60.0)
    await until(inventory, lambda s: B in s.containers)
    fake_engine.containers[B]["Config"]["Labels"] = {"tier": "front"}
    await flood(fake_engine, inventory, 20_000)
    calls = len(fake_engine.calls)
    await clock.advance(60.0)  # a light pass: lists, then inspects what changed
    await until(inventory, lambda s: s.containers[B].labels.get("tier") == "front")
    assert [c for c in fake_engine.calls[calls:] if c.startswith("inspect")] == [
        f"inspect {B[:12]}"
    ]


async def test_concurrent_resyncs_never_drop_a_container_listed_by_the_later_one(
    fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """The reconnect's resync and the periodic one may overlap. A listing answered late
    (taken before a container was created) must not remove the container that the other
    resync, listing later, found and added."""
    fake_engine.add(inspect_payload(cid=A, Name="/alpha"))
    watcher = Watcher(fake_engine, inventory, clock)
    await watcher.resync()
    gate = fake_engine.list_gate = asyncio.Event()
    calls = fake_engine.calls.count("list")
    early = asyncio.create_task(watcher.resync(full=False))  # lists {A}; its answer held
    for _ in range(1000):
        if fake_engine.calls.count("list") > calls:
            break
        await asyncio.sleep(0)
    assert fake_engine.calls.count("list") == calls + 1
    fake_engine.add(inspect_payload(cid=B, Name="/beta"))
    await watcher.resync(full=False)  # lists {A, B}: B is added
    assert B in inventory.snapshot.containers
    gate.set()  # the early listing's answer arrives now
    await early
    assert set(inventory.snapshot.containers) == {A, B}
    fake_engine.containers.pop(B)
    await watcher.resync(full=False)  # and a container really gone is still removed
    assert set(inventory.snapshot.containers) == {A}

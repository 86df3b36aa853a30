"""The background render: one at a time, and never a publication left behind."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from exporter.inventory.store import Inventory, Snapshot
from exporter.render.prewarm import Prewarmer


async def until_true(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll a condition that a worker thread makes true (the timeout only guards a hang)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


class NoWait:
    """A clock whose sleeps end at once: the coalescing delay is not what is tested."""

    async def sleep(self, _seconds: float) -> None:
        await asyncio.sleep(0)

    def time(self) -> float:
        return 0.0

    def monotonic(self) -> float:
        return 0.0


async def test_a_publication_during_a_render_is_rendered_next() -> None:
    """The race of the old prewarm: two publications while a render runs; the newest
    one must still be rendered, with one render in flight at a time."""
    inventory = Inventory()
    release = threading.Event()
    rendered: list[int] = []
    in_flight: list[int] = []

    def render(snapshot: Snapshot) -> None:
        in_flight.append(snapshot.version)
        assert len(in_flight) == 1, "two renders at once"
        if not rendered:
            release.wait(timeout=30)  # the first render is slow
        rendered.append(snapshot.version)
        in_flight.pop()

    prewarmer = Prewarmer(inventory, render, NoWait())  # type: ignore[arg-type]
    async with prewarmer.running():
        first = inventory.publish()
        await until_true(lambda: in_flight == [first.version])
        inventory.publish()
        latest = inventory.publish()
        release.set()
        await until_true(lambda: prewarmer.rendered == latest.version)
    assert rendered[0] == first.version
    assert rendered[-1] == latest.version
    assert len(rendered) == 2  # the two publications during the render coalesced into one


async def test_shutdown_cancels_the_loop() -> None:
    inventory = Inventory()
    prewarmer = Prewarmer(inventory, lambda _s: None, NoWait())  # type: ignore[arg-type]
    async with prewarmer.running():
        inventory.publish()
        await until_true(lambda: prewarmer.rendered == inventory.snapshot.version)
    before = prewarmer.rendered
    inventory.publish()
    for _ in range(20):
        await asyncio.sleep(0)
    assert prewarmer.rendered == before


async def test_a_slow_render_spaces_the_next_one_out() -> None:
    """At most BUDGET of a core: after a render of 1 s the next waits 4 s or more."""
    from exporter.render.prewarm import BUDGET

    class Recording(NoWait):
        def __init__(self) -> None:
            self.now = 0.0
            self.sleeps: list[float] = []

        async def sleep(self, seconds: float) -> None:
            self.sleeps.append(seconds)
            await asyncio.sleep(0)

        def monotonic(self) -> float:
            return self.now

    clock = Recording()
    inventory = Inventory()

    def render(_snapshot: Snapshot) -> None:
        clock.now += 1.0  # each render takes a second

    prewarmer = Prewarmer(inventory, render, clock)  # type: ignore[arg-type]
    async with prewarmer.running():
        inventory.publish()
        await until_true(lambda: prewarmer.rendered == 1)
        inventory.publish()
        await until_true(lambda: prewarmer.rendered == 2)
    assert clock.sleeps[0] < 1.0  # the first waits only the coalescing delay
    assert clock.sleeps[1] >= 1.0 * (1 / BUDGET - 1)

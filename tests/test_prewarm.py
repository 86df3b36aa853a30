"""The background render: one at a time, and never a publication left behind."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from conftest import FakeClock

from exporter.inventory.store import Inventory, Snapshot
from exporter.render.prewarm import DELAY, FORGET, LEAD, LEAD_MIN, Cadence, Prewarmer


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


# -- pay per scrape, not per sweep (issue 25) ------------------------------------------


def test_a_variant_scraped_once_without_the_header_is_never_prewarmed(clock: FakeClock) -> None:
    """curl: nothing says when it comes back, so its variant renders lazily."""
    cadence = Cadence(clock)
    cadence.scraped("curl")
    assert cadence.until_armed() is None
    assert not cadence.armed("curl")


def test_prometheus_timeout_header_arms_the_variant_before_its_second_scrape(
    clock: FakeClock,
) -> None:
    """The timeout is a lower bound of the interval: armed from timeout - lead after the
    first scrape (early rather than late)."""
    cadence = Cadence(clock)
    cadence.scraped("prom", timeout=10.0)
    assert cadence.until_armed() == pytest.approx(10.0 - LEAD_MIN)
    assert not cadence.armed("prom")


async def test_the_observed_interval_arms_the_variant_lead_sweeps_before_its_scrape(
    clock: FakeClock,
) -> None:
    """Sweeps every 1 s, scrapes every 15 s: armed LEAD sweeps before the next scrape,
    disarmed by it, forgotten after FORGET intervals without one."""
    cadence = Cadence(clock)
    cadence.scraped("prom", timeout=10.0)
    for _ in range(15):
        await clock.advance(1.0)
        cadence.published()
    cadence.scraped("prom", timeout=10.0)  # 15 s after the first
    assert cadence.lead() == pytest.approx(LEAD * 1.0)
    assert cadence.until_armed() == pytest.approx(15.0 - LEAD)
    await clock.advance(15.0 - LEAD - 0.1)
    assert not cadence.armed("prom")
    await clock.advance(0.1)
    assert cadence.armed("prom")
    cadence.scraped("prom")
    assert not cadence.armed("prom")
    await clock.advance(15.0 * FORGET + 0.1)
    assert not cadence.armed("prom")
    assert cadence.until_armed() is None


async def test_unread_publications_are_not_rendered_and_the_last_before_a_scrape_is(
    clock: FakeClock,
) -> None:
    """1 s sweeps, a 15 s scrape: of fifteen publications per scrape only those in the
    armed window (LEAD sweeps) are rendered, and the one just before the scrape is among
    them: the scrape finds its body ready, as the eager prewarm gave it."""
    inventory = Inventory()
    cadence = Cadence(clock)
    rendered: list[int] = []
    prewarmer = Prewarmer(  # type: ignore[arg-type]
        inventory, lambda s: rendered.append(s.version), clock, cadence=cadence
    )
    counts: list[int] = []
    async with prewarmer.running():
        cadence.scraped("prom", timeout=10.0)
        for second in range(1, 46):
            await clock.advance(1.0 - DELAY)
            for _ in range(20):  # a prewarm woken at its arm time settles into its delay
                await asyncio.sleep(0)
            version = inventory.publish().version
            for _ in range(20):  # the prewarm wakes on the publication, into its delay
                await asyncio.sleep(0)
            await clock.advance(DELAY)
            if cadence.armed("prom"):
                await until_true(lambda v=version: prewarmer.rendered == v)  # type: ignore[misc]
            if second % 15 == 0:
                assert rendered[-1] == version, (second, rendered)
                counts.append(len(rendered) - sum(counts))
                cadence.scraped("prom", timeout=10.0)
    assert counts[0] <= 7  # armed from the timeout header: timeout - lead after the first
    assert counts[1:] == [2, 2]  # learned 15 s: the two sweeps within 1.5 s of the scrape
    assert len(set(rendered)) == len(rendered)


async def test_two_scrapers_a_moment_apart_keep_the_variant_armed(clock: FakeClock) -> None:
    """Two Prometheus replicas 0.5 s apart every 15 s: the short gap arms the variant early
    (prewarmed on every publication, as before issue 25), and the long one keeps it from
    being forgotten between their rounds."""
    cadence = Cadence(clock)
    for _ in range(2):
        cadence.scraped("prom", timeout=10.0)
        await clock.advance(0.5)
        cadence.scraped("prom", timeout=10.0)
        await clock.advance(14.5)
    assert cadence.armed("prom")
    await clock.advance(10.0)
    assert cadence.armed("prom")


async def test_time_spent_idle_counts_towards_the_budget() -> None:
    """A render of 1 s after 10 s with nothing to render (the first of an armed window,
    catching up): the next one waits only the coalescing delay; back to back, 4 s."""
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
        clock.now += 1.0

    prewarmer = Prewarmer(inventory, render, clock)  # type: ignore[arg-type]
    async with prewarmer.running():
        inventory.publish()
        await until_true(lambda: prewarmer.rendered == 1)
        clock.now += 10.0  # idle: no publication
        inventory.publish()
        await until_true(lambda: prewarmer.rendered == 2)
        inventory.publish()
        await until_true(lambda: prewarmer.rendered == 3)
    assert clock.sleeps[1] == DELAY
    assert clock.sleeps[2] >= 1.0 * (1 / BUDGET - 1) - 0.01

"""Render a new snapshot in a worker thread shortly before it will be scraped, so a scrape
finds its body ready and no render ever runs on the event loop, and a snapshot nobody will
read is not rendered at all (issue 25: pay per scrape, not per sweep).

`Cadence` learns when each variant is scraped: Prometheus' `X-Prometheus-Scrape-Timeout-
Seconds` header (a lower bound of its interval) from the first scrape, the observed gap
between scrapes from the second. A variant is *armed* from LEAD publication gaps before its
next expected scrape until it is scraped; the `Prewarmer` renders publications only while
some variant is armed, and each exposition prewarms only its armed variants. A variant
scraped once without the header (curl) is never prewarmed: a scrape that finds no body
renders it itself, so data is never staler for it."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from functools import partial

from exporter.clock import Clock
from exporter.inventory.store import Inventory, Snapshot

DELAY = 0.05
"""Coalesce a burst of publications (an event storm, a sweep's) into one render."""
BUDGET = 0.2
"""The share of one core the prewarm may take: after a render of r seconds it waits at
least r * (1 / BUDGET - 1) before the next one, less the time it then had nothing to
render (waiting for a publication, or for a scrape to come due), so an event storm at
1 000 containers (every container event re-encodes a line in each family) cannot keep a
core busy. A scrape that finds its body not rendered yet renders it itself, so data is
never staler for waiting."""


LEAD = 1.5
"""Arm a variant this many publication gaps (the longest of the last GAPS) before its next
expected scrape: the last sweep before the scrape falls in the window, with room for jitter."""
LEAD_MIN = 0.5
"""The shortest lead, in seconds (publications faster than this, or none seen yet)."""
GAPS = 8
"""Publication gaps remembered (the longest sets the lead: an event storm's bursts do not
shorten it)."""
FORGET = 3.0
"""A variant not scraped for this many of its intervals (the longer of its last two gaps:
two scrapers a moment apart give a short gap and a long one) is no longer prewarmed (its
scraper went away); its next scrape renders it and learns again."""


@dataclass(frozen=True, slots=True)
class Scrapes:
    """When a variant was last scraped and how often it is."""

    last: float
    interval: float | None
    """The shorter of its last two gaps (two scrapers of one variant arm it early, not
    late); before a gap, the scrape timeout Prometheus sent; None: not known."""
    gap: float | None = None
    """The last gap."""
    span: float = 0.0
    """The longer of its last two gaps (what forgetting it waits for)."""


class Cadence:
    """Each variant's scrape cadence and the publications' pace, on the injected clock.
    `scraped` is called on the event loop; `armed` from the render thread too (it only
    reads immutable records)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._scrapes: dict[Hashable, Scrapes] = {}
        self._published: float | None = None
        self._gaps: deque[float] = deque(maxlen=GAPS)
        self._changed = asyncio.Event()

    def scraped(self, key: Hashable, timeout: float | None = None) -> None:
        """Record a scrape of `key` (with the scraper's timeout header, if it sent one)."""
        now = self._clock.monotonic()
        before = self._scrapes.get(key)
        gap = now - before.last if before is not None else None
        interval: float | None
        if gap is not None and gap > 0:
            previous = before.gap if before is not None else None
            interval = min(gap, previous) if previous else gap
        else:
            interval = before.interval if before is not None else None
        if interval is None and timeout is not None and timeout > 0:
            interval = timeout
        span = max(gap or 0.0, (before.gap or 0.0) if before is not None else 0.0)
        self._scrapes[key] = Scrapes(now, interval, gap if gap else None, span)
        self._changed.set()

    def published(self) -> None:
        """Record a publication (its pace sets the lead; a new lead wakes the prewarm)."""
        now = self._clock.monotonic()
        if self._published is not None:
            lead = self.lead()
            self._gaps.append(now - self._published)
            if self.lead() != lead:
                self._changed.set()
        self._published = now

    def lead(self) -> float:
        return max(LEAD_MIN, LEAD * max(self._gaps, default=0.0))

    def _arms_in(self, scrapes: Scrapes, now: float, lead: float) -> float | None:
        if scrapes.interval is None:
            return None
        if now > scrapes.last + FORGET * max(scrapes.interval, scrapes.span):
            return None
        return max(0.0, scrapes.last + scrapes.interval - lead - now)

    def armed(self, key: Hashable) -> bool:
        """Whether `key` is scraped and its next scrape is due within the lead."""
        scrapes = self._scrapes.get(key)
        if scrapes is None:
            return False
        return self._arms_in(scrapes, self._clock.monotonic(), self.lead()) == 0.0

    def until_armed(self) -> float | None:
        """Seconds until some variant is armed (0: one is now); None: none is scraped."""
        now, lead = self._clock.monotonic(), self.lead()
        waits = [self._arms_in(s, now, lead) for s in list(self._scrapes.values())]
        return min((w for w in waits if w is not None), default=None)

    async def wait(self, seconds: float | None) -> None:
        """Until a scrape is recorded, the lead changes or `seconds` pass on the clock
        (None: no deadline)."""
        self._changed.clear()
        waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(self._changed.wait())]
        if seconds is not None:
            waiters.append(asyncio.ensure_future(self._clock.sleep(seconds)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()


class Prewarmer:
    """One render at a time, and never a publication left behind: the flag is cleared
    before the snapshot is read, so one published during a render triggers another."""

    def __init__(
        self,
        inventory: Inventory,
        render: Callable[[Snapshot], object],
        clock: Clock,
        delay: float = DELAY,
        *,
        off_loop: Callable[[Callable[[], object]], Awaitable[object]] | None = None,
        cadence: Cadence | None = None,
    ) -> None:
        """`off_loop` runs a call in a worker thread (the Exposition's own; default
        asyncio.to_thread). With a `cadence`, a publication is rendered only while some
        variant is armed (the expositions render only those); without, every one is."""
        self._inventory = inventory
        self._render = render
        self._clock = clock
        self._delay = delay
        self._off_loop = off_loop or asyncio.to_thread
        self._cadence = cadence
        self._dirty = asyncio.Event()
        self._took = 0.0
        self.rendered = -1
        """The version of the latest snapshot rendered (tests wait on it)."""
        inventory.subscribe(self._on_publish)

    def _on_publish(self, _snapshot: Snapshot) -> None:
        if self._cadence is not None:
            self._cadence.published()
        self._dirty.set()

    async def run(self) -> None:
        idle = 0.0  # time spent with nothing to render since the last render
        while True:
            waited = self._clock.monotonic()
            await self._dirty.wait()
            if self._cadence is not None:
                wait = self._cadence.until_armed()
                if wait is None or wait > 0:
                    await self._cadence.wait(wait)
                    idle += self._clock.monotonic() - waited
                    continue
            idle += self._clock.monotonic() - waited
            # the budget's spacing, less the time already spent idle: the first render
            # of an armed window (catching up on the versions skipped) is not charged
            # against the window's renders; an event storm (no idle time) still is
            spacing = self._took * (1 / BUDGET - 1) - idle
            await self._clock.sleep(max(self._delay, spacing))
            self._dirty.clear()
            snapshot = self._inventory.snapshot
            start = self._clock.monotonic()
            await self._off_loop(partial(self._render, snapshot))
            self._took = self._clock.monotonic() - start
            idle = 0.0
            self.rendered = snapshot.version

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self.run(), name="prewarm")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

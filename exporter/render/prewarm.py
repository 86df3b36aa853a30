"""Render each new snapshot in a worker thread right after it is published, so a scrape
finds its body ready and no render ever runs on the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from functools import partial

from exporter.clock import Clock
from exporter.inventory.store import Inventory, Snapshot

DELAY = 0.05
"""Coalesce a burst of publications (an event storm, a sweep's) into one render."""
BUDGET = 0.2
"""The share of one core the prewarm may take: after a render of r seconds it waits at
least r * (1 / BUDGET - 1) before the next one, so an event storm at 1 000 containers
(every container event re-encodes a line in each family) cannot keep a core busy. A
scrape that finds its body not rendered yet renders it itself, so data is never staler
for waiting."""


class Prewarmer:
    """One render at a time, and never a publication left behind: the flag is cleared
    before the snapshot is read, so one published during a render triggers another."""

    def __init__(
        self,
        inventory: Inventory,
        render: Callable[[Snapshot], object],
        clock: Clock,
        delay: float = DELAY,
        off_loop: Callable[[Callable[[], object]], Awaitable[object]] | None = None,
    ) -> None:
        """`off_loop` runs a call in a worker thread (the Exposition's own; default
        asyncio.to_thread)."""
        self._inventory = inventory
        self._render = render
        self._clock = clock
        self._delay = delay
        self._off_loop = off_loop or asyncio.to_thread
        self._dirty = asyncio.Event()
        self._took = 0.0
        self.rendered = -1
        """The version of the latest snapshot rendered (tests wait on it)."""
        inventory.subscribe(self._on_publish)

    def _on_publish(self, _snapshot: Snapshot) -> None:
        self._dirty.set()

    async def run(self) -> None:
        while True:
            await self._dirty.wait()
            await self._clock.sleep(max(self._delay, self._took * (1 / BUDGET - 1)))
            self._dirty.clear()
            snapshot = self._inventory.snapshot
            start = self._clock.monotonic()
            await self._off_loop(partial(self._render, snapshot))
            self._took = self._clock.monotonic() - start
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

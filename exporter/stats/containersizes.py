"""The opt-in writable-layer sampler: `docker ps --size` on a long interval, one caller.

`SizeRw` makes the engine walk every container's writable layer (the overlay upper
directory): on a host with many or large layers that is seconds of disk I/O per call
(bench/fresh_bench.py measures it against a plain list). So it runs only when the
`container_sizes` collector is enabled, from one task, every interval, like the volume
sizes' `/system/df` (stats/diskusage.py); a scrape only reads the latest sample.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from exporter.clock import Clock
from exporter.engine.api import Engine, EngineError
from exporter.inventory.store import Inventory

log = logging.getLogger(__name__)


class ContainerSizeSampler:
    """Samples `/containers/json?size=1` and publishes it as `snapshot.container_sizes`."""

    def __init__(
        self, engine: Engine, inventory: Inventory, clock: Clock, *, interval: float
    ) -> None:
        self._engine = engine
        self._inventory = inventory
        self._clock = clock
        self._interval = interval

    async def run(self) -> None:
        """Run until cancelled: sample, then wait the whole interval (never overlapping)."""
        while True:
            liveness = self._inventory.snapshot.liveness
            if liveness.up is False:  # a hung engine: wait for its answer, not an interval
                await self._clock.sleep(min(self._interval, liveness.interval or 5.0))
                continue
            await self.sample()
            await self._clock.sleep(self._interval)

    async def sample(self) -> bool:
        """One call; on failure the previous sample stays and the next interval retries."""
        started = self._clock.monotonic()
        try:
            sizes = await self._engine.container_sizes()
        except EngineError as exc:
            log.warning("container sizes: list with size failed, retrying in %gs: %s",
                        self._interval, exc)  # fmt: skip
            return False
        seconds = self._clock.monotonic() - started
        self._inventory.publish(
            container_sizes=replace(sizes, time=self._clock.time(), seconds=seconds)
        )
        return True

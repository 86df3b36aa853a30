"""The opt-in disk-usage sampler: `/system/df` on a long interval, one caller, never concurrent.

`/system/df` walks every volume (and layer) on disk: minutes on large hosts, and on
Docker 20.10 a second concurrent caller gets an error. So it runs only when the
`volume_sizes` collector is enabled, sequentially from one task, every `interval`;
the watcher never calls it and a scrape only reads the latest sample.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from exporter.clock import Clock
from exporter.engine.api import Engine, EngineError
from exporter.inventory.store import Inventory
from exporter.options import option, parse_interval

log = logging.getLogger(__name__)

INTERVAL = option(
    "--collector.volume_sizes.interval",
    "15m",
    parse_interval,
    "volume_sizes collector: how often /system/df runs (one caller, never concurrent).",
    group="collectors",
)


class EngineSampler:
    """A costly engine call on a long interval, from one task, never concurrent: the
    volume sizes' `/system/df` here, the writable layers' `docker ps --size`
    (stats/containersizes.py). `sample` makes the call and publishes it."""

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
        """One call; True when it was answered and published."""
        raise NotImplementedError


class DiskUsageSampler(EngineSampler):
    """Samples `/system/df` and publishes its volume sizes as `snapshot.disk_usage`."""

    def __init__(
        self,
        engine: Engine,
        inventory: Inventory,
        clock: Clock,
        *,
        interval: float = INTERVAL.value,
    ) -> None:
        super().__init__(engine, inventory, clock, interval=interval)

    async def sample(self) -> bool:
        """One `/system/df`; on failure the previous sample stays and the next interval retries."""
        try:
            usage = await self._engine.disk_usage()
        except EngineError as exc:
            log.warning("volume sizes: /system/df failed, retrying in %gs: %s", self._interval, exc)
            return False
        self._inventory.publish(disk_usage=replace(usage, time=self._clock.time()))
        return True

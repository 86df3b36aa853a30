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

from exporter.engine.api import EngineError
from exporter.stats.diskusage import EngineSampler

log = logging.getLogger(__name__)


class ContainerSizeSampler(EngineSampler):
    """Samples `/containers/json?size=1` and publishes it as `snapshot.container_sizes`."""

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

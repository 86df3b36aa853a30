"""The rationed `top` poller: process lists through the Engine API, one container at a time.

Every successful `/containers/{id}/top` logs a `top` event to every event subscriber
and pushes lifecycle events out of the daemon's 256-event replay buffer. So this
poller is opt-in (`--collector.top`), asks for one container at a time, spaces its
calls evenly over `interval` (each running container's list is refreshed about that
often) and never faster than one call per `min_gap`. The cgroup path of the stats
sampler reads the same lists with no Engine call at all; prefer it where it works.
"""

from __future__ import annotations

import logging
import math

from exporter.clock import Clock
from exporter.engine.api import Engine, EngineError, NotFound, RequestFailed, ServerError
from exporter.engine.stats import ProcessInfo
from exporter.inventory.store import Inventory

log = logging.getLogger(__name__)

PS_ARGS = "-o pid,ppid,uid,user:32,stat,time,rss,args"
"""What we ask the host's `ps` for; must include `pid`. `args` last: it holds spaces."""
TOP_INTERVAL = 60.0
MIN_GAP = 1.0


class TopPoller:
    """Round-robin over running containers, least recently listed first."""

    def __init__(
        self,
        engine: Engine,
        inventory: Inventory,
        clock: Clock,
        *,
        interval: float = TOP_INTERVAL,
        min_gap: float = MIN_GAP,
    ) -> None:
        self._engine = engine
        self._inventory = inventory
        self._clock = clock
        self._interval = interval
        self._min_gap = min_gap
        self._last: dict[str, float] = {}
        self._ps_args = PS_ARGS

    async def run(self) -> None:
        """Run until cancelled."""
        while True:
            await self._clock.sleep(await self.step())

    async def step(self) -> float:
        """List one container's processes if one is due; return the pause before the next step."""
        snapshot = self._inventory.snapshot
        running = sorted(cid for cid, c in snapshot.containers.items() if c.state == "running")
        self._last = {cid: t for cid, t in self._last.items() if cid in snapshot.containers}
        if not running or not snapshot.status.engine_up:
            return max(self._min_gap, self._interval / 10)
        gap = max(self._interval / len(running), self._min_gap)
        now = self._clock.monotonic()
        due = min(running, key=lambda cid: self._last.get(cid, -math.inf))
        waited = now - self._last.get(due, -math.inf)
        if waited < self._interval:
            return min(gap, self._interval - waited)
        self._last[due] = now
        try:
            processes = await self._top(due)
        except EngineError as exc:
            log.debug("top %s failed; retrying in %gs: %s", due[:12], self._interval, exc)
            return gap
        self._inventory.set_processes(due, processes)
        self._inventory.publish()
        return gap

    async def _top(self, container_id: str) -> tuple[ProcessInfo, ...] | None:
        """The list; None when the container stopped or went; raises when the engine failed.

        Falls back to the engine's default `ps` arguments, for good, when ours are
        refused (a host whose ps rejects our -o list: busybox ps) or answered with no
        process at all for a running container (Podman 4.3 answers 200 with an empty
        body to any ps_args).
        """
        try:
            processes = await self._engine.top(container_id, self._ps_args)
        except (NotFound, RequestFailed):
            return None  # gone, or not running any more (409)
        except ServerError as exc:  # busybox ps: "Couldn't find PID field" as a 500
            if not self._ps_args:
                raise
            reason = str(exc)
        else:
            if processes or not self._ps_args:
                return processes
            reason = "an empty answer"
        try:
            processes = await self._engine.top(container_id, "")
        except (NotFound, RequestFailed):
            return None
        log.info("top: the engine refused ps_args %r (%s); using its default", PS_ARGS, reason)
        self._ps_args = ""
        return processes

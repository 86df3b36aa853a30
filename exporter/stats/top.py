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
from exporter.options import option, parse_interval

log = logging.getLogger(__name__)

INTERVAL = option(
    "--collector.top.interval",
    "60s",
    parse_interval,
    "top collector: how often each running container's process list is asked for.",
    group="collectors",
)

PS_ARGS = "-o pid,ppid,uid,user:32,stat,time,rss,args"
"""What we ask the host's `ps` for; must include `pid`. `args` last: it holds spaces."""
PSGO_ARGS = "pid,ppid,user,state,time,rss,args"
"""The same in Podman's own descriptors (psgo), which it reads without running `ps`:
Podman runs `ps` inside the container for anything with a dash (no RSS from busybox)."""
ARGS_TO_TRY = (PS_ARGS, PSGO_ARGS, "")
"""Tried in order until one is answered with processes; "" is the engine's default."""
MIN_GAP = 1.0


class TopPoller:
    """Round-robin over running containers, least recently listed first."""

    def __init__(
        self,
        engine: Engine,
        inventory: Inventory,
        clock: Clock,
        *,
        interval: float,
        min_gap: float = MIN_GAP,
    ) -> None:
        self._engine = engine
        self._inventory = inventory
        self._clock = clock
        self._interval = interval
        self._min_gap = min_gap
        self._last: dict[str, float] = {}
        self._args_in_use = 0
        """Index into ARGS_TO_TRY."""

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
            log.debug(
                "top failed; retrying in %gs: %s",
                self._interval,
                exc,
                extra={"container": due[:12]},
            )
            return gap
        self._inventory.set_processes(due, processes)
        self._inventory.publish()
        return gap

    async def _top(self, container_id: str) -> tuple[ProcessInfo, ...] | None:
        """The list; None when the container stopped or went; raises when the engine failed.

        Moves down `ARGS_TO_TRY`, for good, when the arguments in use are refused (a host
        whose ps rejects our -o list: busybox ps) or answered with no process at all for
        a running container (Podman 4.3 answers 200 with an empty body to a `-o` list).
        """
        while True:
            ps_args = ARGS_TO_TRY[self._args_in_use]
            last = self._args_in_use == len(ARGS_TO_TRY) - 1
            try:
                processes = await self._engine.top(container_id, ps_args)
            except (NotFound, RequestFailed):
                return None  # gone, or not running any more (409)
            except ServerError as exc:  # busybox ps: "Couldn't find PID field", a 500
                if last:
                    raise
                reason = str(exc)
            else:
                if processes or last:
                    return processes
                reason = "an empty answer"
            self._args_in_use += 1
            log.info(
                "top: the engine refused ps_args %r (%s); trying %r",
                ps_args,
                reason,
                ARGS_TO_TRY[self._args_in_use] or "its default",
            )

"""Engine liveness: a `/_ping` on its own timer and deadline, apart from the event stream.

A hung dockerd (`kill -STOP`, a deadlocked daemon: "docker ps hangs") keeps the event
stream's socket open and sends nothing, which is what an idle engine does too; only the
next resync's timeout would notice, a minute later. A ping every `interval` with a
`timeout` <= interval notices within two intervals. Its verdict goes to the listeners
(the watcher cuts its stream and waits; the requests that need the engine pause) and into
the snapshot, with the adapter's request meter frozen beside it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from exporter.clock import Clock
from exporter.engine.api import Engine, EngineError
from exporter.engine.telemetry import RequestMeter
from exporter.inventory.store import Inventory, LivenessStatus
from exporter.options import ConfigError, Options, check, option, parse_duration

log = logging.getLogger(__name__)

PING_INTERVAL = option(
    "--docker.ping-interval",
    "5s",
    parse_duration,
    "How often /_ping checks that the engine answers, apart from the event stream: a "
    "hung engine turns docker_up to 0 within two intervals.",
    group="docker",
)
PING_TIMEOUT = option(
    "--docker.ping-timeout",
    "3s",
    parse_duration,
    "How long a ping may take before the engine counts as not answering (<= the interval).",
    group="docker",
)


@check
def _ping_within_its_interval(chosen: Options) -> None:
    """A ping that may take longer than its interval would overlap the next one, and the
    hung-engine bound (interval + timeout) would exceed two intervals."""
    interval, timeout = chosen[PING_INTERVAL], chosen[PING_TIMEOUT]
    if timeout > interval:
        raise ConfigError(
            f"--docker.ping-timeout ({timeout:g}s) must not exceed "
            f"--docker.ping-interval ({interval:g}s)"
        )


Listener = Callable[[bool, str], None]
"""Called on every change of verdict: (answers, why not)."""


class Liveness:
    """Pings the engine every `interval`; the deadline is the injected clock's, so that a
    hung engine is a test that advances time, not one that waits."""

    def __init__(
        self,
        engine: Engine,
        inventory: Inventory,
        clock: Clock,
        *,
        interval: float = PING_INTERVAL.value,
        timeout: float = PING_TIMEOUT.value,
        listeners: Sequence[Listener] = (),
        meter: RequestMeter | None = None,
    ) -> None:
        if not 0 < timeout <= interval:
            raise ValueError(f"ping timeout {timeout}s must be within (0, interval {interval}s]")
        self._engine = engine
        self._inventory = inventory
        self._clock = clock
        self._interval = interval
        self._timeout = timeout
        self._listeners = list(listeners)
        self._meter = meter
        self._status = LivenessStatus(interval=interval)

    @property
    def status(self) -> LivenessStatus:
        return self._status

    async def run(self) -> None:
        """Probe forever, one ping at a time, one every `interval` (never two in flight)."""
        while True:
            started = self._clock.monotonic()
            await self.probe()
            elapsed = self._clock.monotonic() - started
            await self._clock.sleep(max(self._interval - elapsed, 0.0))

    async def probe(self) -> bool:
        """One ping within the deadline; records and publishes the verdict."""
        reason = await self._ping()
        now = self._clock.time()
        was = self._status.up
        if reason is None:
            self._status = LivenessStatus(
                up=True,
                interval=self._interval,
                last_ok_ts=now,
                failures=self._status.failures,
                probes=self._status.probes + 1,
            )
        else:
            self._status = LivenessStatus(
                up=False,
                interval=self._interval,
                last_ok_ts=self._status.last_ok_ts,
                failures=self._status.failures + 1,
                probes=self._status.probes + 1,
                down_since=self._status.down_since if was is False else now,
            )
            log.debug("ping failed: %s", reason)
        if was != self._status.up:
            for listener in self._listeners:
                listener(reason is None, reason or "")
        changes: dict[str, object] = {"liveness": self._status}
        if self._meter is not None:
            changes["engine_requests"] = self._meter.freeze()
        self._inventory.publish(**changes)
        return reason is None

    async def _ping(self) -> str | None:
        """None when the engine answered in time, else why not. The ping and the deadline
        are two tasks kept here and both ended before returning."""
        ping = asyncio.ensure_future(self._engine.ping())
        deadline = asyncio.ensure_future(self._clock.sleep(self._timeout))
        try:
            await asyncio.wait({ping, deadline}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (ping, deadline):
                task.cancel()
            me = asyncio.current_task()
            for task in (ping, deadline):
                try:
                    await task
                except (asyncio.CancelledError, EngineError):
                    # theirs, not ours: a cancellation of this task (a shutdown while a
                    # cancelled ping still ends) must not be swallowed, or the loop pings on
                    if me is not None and me.cancelling():
                        raise asyncio.CancelledError from None
        if not ping.done() or ping.cancelled():
            if self._meter is not None:
                self._meter.observe("ping", self._timeout)
                self._meter.error("ping", "timeout")
            return f"GET /_ping: no answer within {self._timeout:g}s"
        exc = ping.exception()
        if exc is not None:
            return str(exc) or type(exc).__name__
        return None

"""Composition root: builds the objects, wires their lifecycles, and nothing else."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

from exporter.clock import Clock, SystemClock
from exporter.collectors import Options
from exporter.config import Settings
from exporter.engine import DockerEngine, Engine, EngineError, engine_config_from_env
from exporter.exposition import Exposition
from exporter.http import App, attach, make_app, serve
from exporter.inventory import Inventory, Snapshot
from exporter.watcher import Watcher

log = logging.getLogger(__name__)

PREWARM_DELAY = 0.05
"""Coalesce bursts of publications into one background render."""


def default_engine_factory(settings: Settings) -> Callable[[], Engine]:
    config = engine_config_from_env(settings.docker_host, settings.docker_timeout, os.environ)
    return lambda: DockerEngine(config)


def build_exposition(settings: Settings) -> Exposition:
    return Exposition(
        settings.collectors,
        Options(container_labels=settings.container_labels),
        process_metrics=settings.exporter_metrics,
    )


def build_app(
    settings: Settings,
    engine_factory: Callable[[], Engine] | None = None,
    clock: Clock | None = None,
) -> App:
    """The whole exporter as an aiohttp app; tests pass a fake engine and clock."""
    inventory = Inventory()
    exposition = build_exposition(settings)
    app = make_app(inventory, exposition, settings.telemetry_path)
    factory = engine_factory or default_engine_factory(settings)
    the_clock = clock or SystemClock()

    @asynccontextmanager
    async def prewarm() -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        scheduled: list[asyncio.TimerHandle] = []

        def render() -> None:
            scheduled.clear()
            exposition.render(inventory.snapshot)

        def on_publish(_snapshot: Snapshot) -> None:
            if not scheduled:
                scheduled.append(loop.call_later(PREWARM_DELAY, render))

        inventory.subscribe(on_publish)
        yield
        for handle in scheduled:
            handle.cancel()

    @asynccontextmanager
    async def watch() -> AsyncIterator[None]:
        engine = factory()
        watcher = Watcher(engine, inventory, the_clock, resync_interval=settings.resync_interval)
        task = asyncio.create_task(watcher.run(), name="watcher")
        yield
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await engine.close()

    attach(app, prewarm)
    attach(app, watch)
    return app


async def once(settings: Settings, engine_factory: Callable[[], Engine] | None = None) -> bytes:
    """One sync and one render, for `--once`; raises EngineError when the engine is down."""
    inventory = Inventory()
    engine = (engine_factory or default_engine_factory(settings))()
    try:
        await Watcher(engine, inventory, SystemClock()).resync()
    finally:
        await engine.close()
    return build_exposition(settings).render(inventory.snapshot).data


def run(settings: Settings) -> int:
    """Serve until SIGINT/SIGTERM; exit 1 when the port cannot be bound."""
    if settings.once:
        try:
            sys.stdout.buffer.write(asyncio.run(once(settings)))
        except EngineError as exc:
            log.error("engine unreachable: %s", exc)
            return 1
        return 0
    log.info(
        "starting docker-exporter on %s:%d%s, engine %s, collectors %s",
        settings.listen_host,
        settings.listen_port,
        settings.telemetry_path,
        settings.docker_host,
        ",".join(settings.collectors),
    )
    try:
        serve(build_app(settings), settings.listen_host, settings.listen_port)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", settings.listen_host, settings.listen_port, exc)
        return 1
    return 0

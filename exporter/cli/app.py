"""Composition root: builds the objects, wires their lifecycles, and nothing else."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path

from exporter.cli.settings import Settings
from exporter.clock import Clock, SystemClock
from exporter.collectors import cadvisor, image_updates, logs
from exporter.engine.adapter import DockerEngine
from exporter.engine.api import Engine, EngineError, EngineFactory
from exporter.engine.config import engine_config_from_env
from exporter.engine.models import EngineInfo
from exporter.engine.telemetry import RequestMeter
from exporter.inventory.filters import ContainerFilter
from exporter.inventory.history import EventHistory
from exporter.inventory.liveness import Liveness
from exporter.inventory.store import Inventory, Snapshot
from exporter.inventory.watcher import Watcher
from exporter.registry.checker import ImageChecker
from exporter.registry.client import RegistryClient
from exporter.registry.config import (
    RegistryAccess,
    RegistryTarget,
    load_access,
    load_targets,
    registry_url_of,
)
from exporter.registry.freshness import wanted_tags
from exporter.registry.poller import RegistryPoller
from exporter.render import memory
from exporter.render.compat import CompatExposition
from exporter.render.exposition import Exposition
from exporter.render.prewarm import Cadence, Prewarmer
from exporter.stats.cgroup import CgroupError, discover_layout
from exporter.stats.containersizes import ContainerSizeSampler
from exporter.stats.diskusage import DiskUsageSampler
from exporter.stats.logfiles import LogFileSampler
from exporter.stats.sampler import Sampler, choose_source
from exporter.stats.top import TopPoller
from exporter.web.http import App, attach, listen_also, make_app, make_compat_app, serve
from exporter.web.systemd import describe, listen_sockets
from exporter.web.webconfig import Authenticator, RateLimit, WebConfig

log = logging.getLogger(__name__)

RESTART_DELAY = 5.0
"""A background loop that crashes on a bug is logged and restarted, never silently lost."""


async def supervise(name: str, run: Callable[[], Awaitable[None]], clock: Clock) -> None:
    """Run a background loop forever: an unexpected exception is logged with its traceback
    and the loop restarts after RESTART_DELAY (a restarted watcher re-lists everything)."""
    while True:
        try:
            await run()
            log.error(
                "loop stopped unexpectedly; restarting in %gs", RESTART_DELAY, extra={"loop": name}
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("loop crashed; restarting in %gs", RESTART_DELAY, extra={"loop": name})
        await clock.sleep(RESTART_DELAY)


def default_engine_factory(settings: Settings, meter: RequestMeter | None = None) -> EngineFactory:
    config = engine_config_from_env(
        settings.engine_host,
        settings.docker_timeout,
        os.environ,
        stats_concurrency=settings.stats_concurrency,
        max_labels=settings.max_labels,
        max_label_length=settings.max_label_length,
        max_image_tags=settings.max_image_tags,
    )
    return lambda: DockerEngine(config, meter=meter)


def build_sampler(
    settings: Settings, engine: Engine, inventory: Inventory, clock: Clock
) -> Sampler | None:
    """The stats sampler when the stats collector is enabled."""
    if "stats" not in settings.collectors:
        return None
    source, fallback = choose_source(
        settings.stats_source,
        docker_host=settings.engine_host,
        proc_root=Path(settings.host_proc),
        sys_root=Path(settings.host_sys),
        engine=engine,
        concurrency=settings.stats_concurrency,
        clock=clock,
        open_files=settings.stats_open_files,
        host=settings[cadvisor.LISTEN] is not None,  # the cAdvisor-shaped id="/"
    )
    log.info("stats: %s source every %gs", source.name, settings.stats_interval)
    return Sampler(inventory, clock, source, interval=settings.stats_interval, fallback=fallback)


def container_filter(settings: Settings) -> ContainerFilter:
    return ContainerFilter.from_texts(settings.container_include, settings.container_exclude)


def build_inventory(settings: Settings) -> Inventory:
    """The inventory, with its caps: the same for serving and for `--once`."""
    return Inventory(
        container_filter(settings),
        EventHistory(settings.events_history),
        max_processes=settings.max_processes,
        max_event_kinds=settings.max_event_kinds,
    )


def registry_targets(settings: Settings) -> tuple[list[RegistryTarget], list[str]]:
    """The registries to poll (none unless the registry collector is on) and the warnings
    to log once; raises RegistryConfigError for unusable flags or files."""
    if "registry" not in settings.collectors and "image_updates" not in settings.collectors:
        return [], []
    return load_targets(
        settings.registry_urls,
        config_file=settings.registry_config_file,
        docker_config=settings.registry_docker_config,
        certs_dir=settings.registry_certs_dir,
        unlisted=settings[image_updates.CHECK_RUNNING],
    )


def build_pollers(
    settings: Settings,
    clients: Sequence[RegistryClient],
    inventory: Inventory,
    clock: Clock,
) -> list[RegistryPoller]:
    """One poller per registry, each with its client (made inside the loop)."""
    if "registry" not in settings.collectors:
        return []
    return [
        RegistryPoller(
            client,
            inventory.publish_registry,
            clock,
            interval=settings.registry_interval,
            max_repositories=settings.registry_max_repositories,
            manifests=settings.registry_manifests,
        )
        for client in clients
    ]


def _insecure(name: str, engine: EngineInfo | None) -> bool:
    """Whether the engine reaches `name` as an insecure registry (a listed name, or an IP
    address in a listed CIDR; host names are not resolved)."""
    if engine is None:
        return False
    if name.startswith("["):
        host = name[1 : name.find("]")]
    else:
        host = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    for entry in engine.insecure_registries:
        if entry == name:
            return True
        try:
            if "/" in entry and ipaddress.ip_address(host) in ipaddress.ip_network(entry):
                return True
        except ValueError:
            continue
    return False


def build_checker(
    settings: Settings,
    clients: Sequence[RegistryClient],
    inventory: Inventory,
    clock: Clock,
) -> ImageChecker | None:
    """The image freshness checker: the watched registries through their pollers' clients
    (one request in flight per registry), with --registry.check-running any other one a
    running container names, reached as Docker would (https; an insecure one, http after)."""
    if "image_updates" not in settings.collectors:
        return None
    shared = {client.target.name: client for client in clients}
    check_running = settings[image_updates.CHECK_RUNNING]
    access: RegistryAccess | None = None
    if check_running:
        access, _warnings = load_access(
            config_file=settings.registry_config_file,
            docker_config=settings.registry_docker_config,
            certs_dir=settings.registry_certs_dir,
        )
    timeout = settings.registry_timeout

    def clients_for(name: str) -> list[RegistryClient]:
        if name in shared:
            return [shared[name]]
        if access is None:
            return []
        insecure = _insecure(name, inventory.snapshot.engine)
        url = registry_url_of(name)
        made = [RegistryClient(access.target(name, url, insecure=insecure), clock, timeout=timeout)]
        if insecure:
            plain = access.target(name, "http://" + name)
            made.append(RegistryClient(plain, clock, timeout=timeout))
        return made

    checker = ImageChecker(
        clients_for,
        lambda checks: inventory.publish(image_checks=checks),
        clock,
        interval=settings[image_updates.CHECK_INTERVAL],
    )
    seen: list[object] = [None, None, None]

    def on_publish(snapshot: Snapshot) -> None:
        inputs = [snapshot.containers, snapshot.images, snapshot.engine]
        if all(a is b for a, b in zip(inputs, seen, strict=True)):
            return
        seen[:] = inputs
        wanted = wanted_tags(snapshot.containers.values(), snapshot.images, snapshot.engine)
        if not check_running:
            wanted = {name: pairs for name, pairs in wanted.items() if name in shared}
        checker.want(wanted)

    inventory.subscribe(on_publish)
    on_publish(inventory.snapshot)
    return checker


def disk_loops(
    settings: Settings, engine: Engine, inventory: Inventory, clock: Clock
) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
    """The disk samplers the enabled collectors need: volume sizes and writable layers
    (opt-in: the engine walks every volume or layer), log files (a stat each)."""
    loops: list[tuple[str, Callable[[], Awaitable[None]]]] = []
    if "volume_sizes" in settings.collectors:
        df = DiskUsageSampler(engine, inventory, clock, interval=settings.volume_sizes_interval)
        loops.append(("disk-usage", df.run))
    if "container_sizes" in settings.collectors:
        sizes = ContainerSizeSampler(
            engine, inventory, clock, interval=settings[logs.SIZES_INTERVAL]
        )
        loops.append(("container-sizes", sizes.run))
    if "logs" in settings.collectors:
        files = LogFileSampler(
            inventory,
            clock,
            interval=settings[logs.LOGS_INTERVAL],
            docker_root=settings[logs.DOCKER_ROOT],
        )
        loops.append(("log-files", files.run))
    return loops


def build_exposition(settings: Settings, cadence: Cadence | None = None) -> Exposition:
    return Exposition(
        settings.collectors,
        settings.options,
        process_metrics=settings.exporter_metrics,
        cadence=cadence,
    )


def compat_listener(
    settings: Settings,
    app: App,
    inventory: Inventory,
    exposition: Exposition,
    *,
    make_compat_app: Callable[[Inventory, CompatExposition], App],
    ssl_context: ssl.SSLContext | None,
    cadence: Cadence | None = None,
) -> CompatExposition | None:
    """The cAdvisor-shaped listener beside `app`, when --compat.cadvisor.listen-address
    asks for it: same snapshots and render thread, the same web config."""
    address = settings[cadvisor.LISTEN]
    if address is None:
        return None
    compat = CompatExposition(settings.options, exposition.off_loop, cadence)
    listen_also(app, make_compat_app(inventory, compat), *address, ssl_context)
    return compat


def build_app(
    settings: Settings,
    engine_factory: EngineFactory | None = None,
    clock: Clock | None = None,
    *,
    auth: Authenticator | None = None,
    headers: Mapping[str, str] | None = None,
    registries: Sequence[RegistryTarget] | None = None,
    rate_limit: RateLimit | None = None,
    allowed_sans: frozenset[str] = frozenset(),
    ssl_context: ssl.SSLContext | None = None,
) -> App:
    """The whole exporter as an aiohttp app; tests pass a fake engine and clock.
    `registries` None: read from the settings (registry_targets)."""
    if registries is None:
        registries, warnings = registry_targets(settings)
        for warning in warnings:
            log.warning("%s", warning)
    targets = registries
    inventory = build_inventory(settings)
    the_clock = clock or SystemClock()
    cadence = Cadence(the_clock)
    exposition = build_exposition(settings, cadence)
    app = make_app(
        inventory,
        exposition,
        settings.telemetry_path,
        auth,
        the_clock,
        headers=headers,
        inventory_limit=settings.inventory_max_containers,
        rate_limit=rate_limit,
        allowed_sans=allowed_sans,
    )
    compat = compat_listener(
        settings,
        app,
        inventory,
        exposition,
        make_compat_app=partial(
            make_compat_app,
            auth=auth,
            clock=the_clock,
            headers=headers,
            rate_limit=rate_limit,
            allowed_sans=allowed_sans,
        ),
        ssl_context=ssl_context,
        cadence=cadence,
    )
    meter = RequestMeter()
    factory = engine_factory or default_engine_factory(settings, meter)

    @asynccontextmanager
    async def watch() -> AsyncIterator[None]:
        engine = factory()
        watcher = Watcher(engine, inventory, the_clock, resync_interval=settings.resync_interval)
        liveness = Liveness(
            engine,
            inventory,
            the_clock,
            interval=settings.ping_interval,
            timeout=settings.ping_timeout,
            listeners=[watcher.reachable],
            meter=meter,
        )
        loops: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("watcher", watcher.run),
            ("liveness", liveness.run),
        ]
        sampler = build_sampler(settings, engine, inventory, the_clock)
        if sampler is not None:
            loops.append(("sampler", sampler.run))
        if "top" in settings.collectors:  # opt-in: every API top call logs a `top` event
            top = TopPoller(engine, inventory, the_clock, interval=settings.top_interval)
            loops.append(("top", top.run))
        loops.extend(disk_loops(settings, engine, inventory, the_clock))
        clients = [
            RegistryClient(target, the_clock, timeout=settings.registry_timeout)
            for target in targets
        ]
        loops.extend(
            (f"registry {poller.snapshot.name}", poller.run)
            for poller in build_pollers(settings, clients, inventory, the_clock)
        )
        checker = build_checker(settings, clients, inventory, the_clock)
        if checker is not None:
            loops.append(("image-checks", checker.run))
        tasks = [
            asyncio.create_task(supervise(name, run, the_clock), name=name) for name, run in loops
        ]
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task
        await engine.close()

    def render_and_trim(snapshot: Snapshot) -> None:
        exposition.prewarm(snapshot)
        if compat is not None:
            compat.prewarm(snapshot)
        memory.trim()

    prewarmer = Prewarmer(
        inventory, render_and_trim, the_clock, off_loop=exposition.off_loop, cadence=cadence
    )

    @asynccontextmanager
    async def rendering() -> AsyncIterator[None]:
        async with prewarmer.running():
            yield
        exposition.close()

    attach(app, rendering)
    attach(app, watch)
    return app


async def once(
    settings: Settings,
    engine_factory: EngineFactory | None = None,
    registries: Sequence[RegistryTarget] = (),
) -> bytes:
    """One sync and one render, for `--once`; raises EngineError when the engine is down."""
    inventory = build_inventory(settings)
    engine = (engine_factory or default_engine_factory(settings))()
    try:
        await Watcher(engine, inventory, SystemClock()).resync()
        sampler = build_sampler(settings, engine, inventory, SystemClock())
        if sampler is not None:
            await sampler.sweep()
            await sampler.close()
        clients = [
            RegistryClient(target, SystemClock(), timeout=settings.registry_timeout)
            for target in registries
        ]
        for poller in build_pollers(settings, clients, inventory, SystemClock()):
            try:
                await poller.poll()
            finally:
                await poller.close()
    finally:
        await engine.close()
    return build_exposition(settings).render(inventory.snapshot).data


SWITCH_INTERVAL = 0.001
"""The interpreter's GIL switch interval while serving (default 5 ms): renders run in a
worker thread, and the event loop waits up to this long for the GIL at each system call
of a request; with the render's own yields (exporter.render.store), /-/healthy's p99
during a 1 000-container render drops from about 18 to 10 ms (bench/scrape_bench.py)."""


def run(
    settings: Settings,
    web: WebConfig | None = None,
    registries: Sequence[RegistryTarget] = (),
) -> int:
    """Serve until SIGINT/SIGTERM; exit 1 when the port cannot be bound."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    if settings.once:
        try:
            sys.stdout.buffer.write(asyncio.run(once(settings, registries=registries)))
        except EngineError as exc:
            log.error("engine unreachable: %s", exc)
            return 1
        return 0
    if settings.stats_source == "cgroup" and "stats" in settings.collectors:
        try:
            discover_layout(Path(settings.host_proc), Path(settings.host_sys))
        except CgroupError as exc:
            log.error("--stats.source=cgroup: %s (mount the host's /proc and /sys?)", exc)
            return 2
    where = f"{settings.listen_host}:{settings.listen_port}"
    try:
        sockets = listen_sockets() if settings.systemd_socket else None
    except OSError as exc:
        log.error("%s", exc)
        return 1
    if sockets:
        where = "systemd socket " + ", ".join(describe(sock) for sock in sockets)
    log.info(
        "starting docker-exporter on %s, metrics at %s, engine %s, collectors %s",
        where,
        settings.telemetry_path,
        settings.engine_host,
        ",".join(settings.collectors),
    )
    if web is not None and web.rate_limit is not None:
        log.info(
            "rate limit: burst %d, one request per %gs",
            web.rate_limit.burst,
            web.rate_limit.interval,
        )
    try:
        app = build_app(
            settings,
            auth=Authenticator(web.users) if web else None,
            headers=web.headers if web else None,
            registries=registries,
            rate_limit=web.rate_limit if web else None,
            allowed_sans=web.allowed_sans if web else frozenset(),
            ssl_context=web.tls if web else None,
        )
        serve(
            app,
            settings.listen_host,
            settings.listen_port,
            web.tls if web else None,
            sockets=sockets,
        )
    except OSError as exc:
        log.error("cannot listen on %s: %s", where, exc)
        return 1
    return 0

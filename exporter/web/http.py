"""The HTTP face: /metrics, /inventory, health, readiness and a landing page.

Handlers only read the latest snapshot (through the inventory) and the cached
exposition; none of them ever calls the Engine. This is the only module that
imports aiohttp.web.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from functools import cache, lru_cache, partial
from importlib.resources import files
from typing import Any

from aiohttp import web

from exporter import __version__
from exporter.clock import Clock, SystemClock
from exporter.inventory.store import Inventory
from exporter.render.compat import CompatExposition
from exporter.render.exposition import Exposition
from exporter.render.formats import negotiate
from exporter.web import pages
from exporter.web.topology import topology_view
from exporter.web.views import container_view, event_query, events_view, inventory_view
from exporter.web.webconfig import Authenticator, RateLimit, TokenBucket, client_sans

App = web.Application
"""Re-exported so the composition root can name the type without importing aiohttp.web."""

INVENTORY = web.AppKey("inventory", Inventory)
EXPOSITION = web.AppKey("exposition", Exposition)
TELEMETRY_PATH = web.AppKey("telemetry_path", str)
INVENTORY_LIMIT = web.AppKey("inventory_limit", int)
CLOCK = web.AppKey("clock", Clock)
COMPAT = web.AppKey("compat", CompatExposition)


def wants_gzip(accept_encoding: str) -> bool:
    """`gzip` listed with a q-value above 0 (`gzip;q=0.5` yes, `gzip;q=0` no)."""
    for part in accept_encoding.split(","):
        coding, _, params = part.partition(";")
        if coding.strip().lower() != "gzip":
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            return True
    return False


def scrape_timeout(request: web.Request) -> float | None:
    """Prometheus' `X-Prometheus-Scrape-Timeout-Seconds` (a lower bound of its scrape
    interval), or None when absent or not a positive number."""
    try:
        timeout = float(request.headers.get("X-Prometheus-Scrape-Timeout-Seconds", ""))
    except ValueError:
        return None
    return timeout if 0 < timeout < float("inf") else None


async def metrics(request: web.Request) -> web.Response:
    exposition = request.app[EXPOSITION]
    collect = request.query.getall("collect[]", [])
    exclude = request.query.getall("exclude[]", [])
    names = request.query.getall("name[]", [])  # metric names, as client_golang/_python
    if collect and exclude:
        raise web.HTTPBadRequest(text="collect[] and exclude[] cannot be combined\n")
    reply = negotiate(request.headers.get("Accept", ""))
    fmt = reply.form
    gzipped = wants_gzip(request.headers.get("Accept-Encoding", ""))
    snapshot = request.app[INVENTORY].snapshot
    filtered = collect or exclude or names
    if not filtered:  # every scrape: the prewarm learns when the next one comes
        exposition.want(fmt, gzipped, scrape_timeout(request))
    body = None if filtered else exposition.cached(snapshot.version, fmt, gzipped=gzipped)
    if body is None:  # a render: in a worker thread, never on the loop
        try:
            body = await exposition.off_loop(
                partial(
                    exposition.render,
                    snapshot,
                    fmt,
                    gzipped=gzipped,
                    collect=collect,
                    exclude=exclude,
                    names=names,
                )
            )
        except KeyError as exc:
            raise web.HTTPBadRequest(
                text=f"unknown or disabled collector: {exc.args[0]}\n"
            ) from None
    headers = {"Content-Type": reply.content_type, "Vary": "Accept, Accept-Encoding"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body.data, headers=headers)


async def compat_metrics(request: web.Request) -> web.Response:
    """The cAdvisor-shaped body: cached per snapshot version, rendered off the loop."""
    compat = request.app[COMPAT]
    reply = negotiate(request.headers.get("Accept", ""))
    fmt = reply.form
    gzipped = wants_gzip(request.headers.get("Accept-Encoding", ""))
    snapshot = request.app[INVENTORY].snapshot
    compat.want(fmt, gzipped, scrape_timeout(request))
    body = compat.cached(snapshot.version, fmt, gzipped=gzipped)
    if body is None:
        body = await compat.off_loop(partial(compat.render, snapshot, fmt, gzipped=gzipped))
    headers = {"Content-Type": reply.content_type, "Vary": "Accept, Accept-Encoding"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body.data, headers=headers)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=_dumps(data), status=status, content_type="application/json")


def _dumps(data: Any) -> bytes:
    return json.dumps(data, indent=1, ensure_ascii=False, sort_keys=False).encode()


async def _json_off_loop(view: Callable[[], Any]) -> web.Response:
    """Build and serialise a JSON document in a worker thread: at 1 000 containers
    /inventory takes a few hundred milliseconds, which the loop (scrapes, health
    checks) must not wait for. Snapshots are immutable, so the thread reads one safely."""
    body = await asyncio.to_thread(lambda: _dumps(view()))
    return web.Response(body=body, content_type="application/json")


async def inventory(request: web.Request) -> web.Response:
    query = request.query
    labels = query.getall("label", [])
    snapshot = request.app[INVENTORY].snapshot
    try:
        return await _json_off_loop(
            lambda: inventory_view(
                snapshot,
                name=query.get("name"),
                state=query.get("state"),
                labels=labels,
                limit=request.app[INVENTORY_LIMIT],
            )
        )
    except ValueError as exc:  # a bad filter
        return _json({"error": str(exc)}, status=400)


async def one_container(request: web.Request) -> web.Response:
    ref = request.match_info["ref"]
    snapshot = request.app[INVENTORY].snapshot
    container = snapshot.find_container(ref)
    if container is None:
        return _json({"error": f"no container {ref!r}"}, status=404)
    return await _json_off_loop(lambda: container_view(snapshot, container))


async def events(request: web.Request) -> web.Response:
    """The event history, filtered like `docker events --filter` (the ring is copied on
    the loop, where the watcher writes it; filtering and encoding run in a thread)."""
    query = request.query
    history = request.app[INVENTORY].history
    try:
        wanted = event_query(
            types=query.getall("type", []),
            actions=query.getall("action", []),
            container=query.get("container"),
            since=query.get("since"),
            after=query.get("after"),
            limit=query.get("limit"),
            now=request.app[CLOCK].time(),
        )
    except ValueError as exc:
        return _json({"error": str(exc)}, status=400)
    records, last = history.records(), history.last_seq
    return await _json_off_loop(
        lambda: events_view(records, wanted, capacity=history.capacity, last_seq=last)
    )


async def topology(request: web.Request) -> web.Response:
    snapshot = request.app[INVENTORY].snapshot
    return await _json_off_loop(lambda: topology_view(snapshot))


@cache
def openapi_document() -> bytes:
    """The description of every JSON document served here; a test checks responses against it."""
    return files("exporter.web").joinpath("openapi.json").read_bytes()


async def openapi(_request: web.Request) -> web.Response:
    return web.Response(body=openapi_document(), content_type="application/json")


async def healthy(_request: web.Request) -> web.Response:
    return web.Response(text="OK\n")


async def ready(request: web.Request) -> web.Response:
    if request.app[INVENTORY].snapshot.status.synced:
        return web.Response(text="OK\n")
    return web.Response(text="not ready: first inventory sync pending\n", status=503)


def _landing(path: str) -> Callable[[web.Request], Any]:
    links = [
        (path, "Metrics"),
        ("/inventory", "Inventory (JSON)"),
        ("/topology", "Topology (JSON nodes and edges)"),
        ("/events", "Event history (JSON, newest first)"),
        ("/openapi.json", "OpenAPI description of the JSON documents"),
        ("/-/healthy", "Health"),
        ("/-/ready", "Readiness"),
    ]
    items = "".join(f'<li><a href="{html.escape(h)}">{html.escape(t)}</a></li>' for h, t in links)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Docker Exporter</title></head>"
        f"<body><h1>Docker Exporter</h1><p>Version {html.escape(__version__)}</p>"
        f"<ul>{items}</ul></body></html>"
    )

    async def landing(_request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    return landing


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _basic_auth(auth: Authenticator) -> Any:
    """401 without valid credentials; /-/healthy stays open for container health checks."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/-/healthy":
            return await handler(request)  # type: ignore[no-any-return]
        creds = _basic_credentials(request.headers.get("Authorization", ""))
        ok = creds is not None and (
            auth.known(*creds) or await asyncio.to_thread(auth.check, *creds)
        )
        if not ok:
            raise web.HTTPUnauthorized(
                text="401 Unauthorized\n",
                headers={"WWW-Authenticate": 'Basic realm="docker-exporter"'},
            )
        return await handler(request)  # type: ignore[no-any-return]

    return middleware


def _client_sans(allowed: frozenset[str]) -> Any:
    """403 for a client certificate naming none of `client_allowed_sans`: the toolkit
    checks them in the handshake, which Python's ssl has no hook for."""

    @lru_cache(maxsize=256)
    def refused(names: tuple[tuple[str, str], ...]) -> bool:  # one parse per certificate
        return client_sans({"subjectAltName": names}).isdisjoint(allowed)

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        transport = request.transport
        peercert = transport.get_extra_info("peercert") if transport is not None else None
        if refused(tuple((peercert or {}).get("subjectAltName", ()))):
            forbidden = web.Response(
                status=403, text="403 Forbidden: client certificate SAN not allowed\n"
            )
            forbidden.force_close()
            return forbidden
        return await handler(request)  # type: ignore[no-any-return]

    return middleware


def _rate_limit(bucket: TokenBucket) -> Any:
    """The web config's rate_limit: 429 when the one bucket is empty, before basic auth;
    /-/healthy neither spends nor is refused a token (container health checks)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path != pages.HEALTHY and not bucket.allow():
            raise web.HTTPTooManyRequests(
                text="429 Too Many Requests\n",
                headers={"Retry-After": str(bucket.retry_after())},
            )
        return await handler(request)  # type: ignore[no-any-return]

    return middleware


PAGES: Mapping[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
    pages.INVENTORY: inventory,
    pages.CONTAINER: one_container,
    pages.TOPOLOGY: topology,
    pages.EVENTS: events,
    pages.OPENAPI: openapi,
    pages.HEALTHY: healthy,
    pages.READY: ready,
}
"""The handler of every page in exporter.web.pages.PAGES (tests/test_http.py holds the
two lists equal)."""


def _application(
    auth: Authenticator | None,
    headers: Mapping[str, str] | None,
    clock: Clock,
    *,
    rate_limit: RateLimit | None = None,
    allowed_sans: frozenset[str] = frozenset(),
) -> web.Application:
    """An application with the web config's checks (the client certificate's SANs first,
    then the rate limit, then basic auth) and `headers` on every response. Each listener
    gets its own rate-limit bucket."""
    middlewares = [_client_sans(allowed_sans)] if allowed_sans else []
    if rate_limit is not None:
        middlewares.append(_rate_limit(TokenBucket(rate_limit, clock.monotonic)))
    if auth is not None and auth.enabled:
        middlewares.append(_basic_auth(auth))
    app = web.Application(client_max_size=64 * 1024, middlewares=middlewares)
    if headers:
        extra = dict(headers)

        async def add_headers(_request: web.Request, response: web.StreamResponse) -> None:
            response.headers.update(extra)

        app.on_response_prepare.append(add_headers)
    return app


def make_app(
    inventory_: Inventory,
    exposition: Exposition,
    telemetry_path: str,
    auth: Authenticator | None = None,
    clock: Clock | None = None,
    *,
    inventory_limit: int = pages.INVENTORY_MAX_CONTAINERS.value,
    headers: Mapping[str, str] | None = None,
    rate_limit: RateLimit | None = None,
    allowed_sans: frozenset[str] = frozenset(),
) -> web.Application:
    """The aiohttp application; lifecycles (watcher, samplers) are attached by the caller.
    `headers` (the web config's http_server_config.headers) go on every response."""
    clock = clock or SystemClock()
    app = _application(auth, headers, clock, rate_limit=rate_limit, allowed_sans=allowed_sans)
    app[INVENTORY] = inventory_
    app[EXPOSITION] = exposition
    app[TELEMETRY_PATH] = telemetry_path
    app[INVENTORY_LIMIT] = inventory_limit
    app[CLOCK] = clock
    clash = pages.shadowed(telemetry_path)
    if clash is not None:
        raise ValueError(f"telemetry path {telemetry_path!r} would hide the {clash} page")
    app.router.add_get(telemetry_path, metrics)
    for path, handler in PAGES.items():
        app.router.add_get(path, handler)
    if telemetry_path != pages.LANDING:
        app.router.add_get(pages.LANDING, _landing(telemetry_path))
    return app


def make_compat_app(
    inventory_: Inventory,
    compat: CompatExposition,
    auth: Authenticator | None = None,
    clock: Clock | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    rate_limit: RateLimit | None = None,
    allowed_sans: frozenset[str] = frozenset(),
) -> web.Application:
    """The cAdvisor-shaped listener's application: /metrics as cAdvisor serves it, and
    the health check; the same web config as the main one."""
    app = _application(
        auth,
        headers,
        clock or SystemClock(),
        rate_limit=rate_limit,
        allowed_sans=allowed_sans,
    )
    app[INVENTORY] = inventory_
    app[COMPAT] = compat
    app.router.add_get("/metrics", compat_metrics)
    app.router.add_get(pages.HEALTHY, healthy)
    return app


def listen_also(
    app: web.Application,
    other: web.Application,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Serve `other` on its own address for the life of `app` (a second listener in the
    same loop: the cAdvisor-shaped /metrics); a bind failure fails the startup."""

    async def ctx(_app: web.Application) -> AsyncIterator[None]:
        runner = web.AppRunner(other, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host or None, port, ssl_context=ssl_context).start()
            yield
        finally:
            await runner.cleanup()

    app.cleanup_ctx.append(ctx)


Lifecycle = Callable[[], AbstractAsyncContextManager[None]]


def attach(app: web.Application, lifecycle: Lifecycle) -> None:
    """Run `lifecycle` for the life of the app; its exit runs only if its entry succeeded."""

    async def ctx(_app: web.Application) -> AsyncIterator[None]:
        async with lifecycle():
            yield

    app.cleanup_ctx.append(ctx)


def serve(
    app: web.Application,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    sockets: list[socket.socket] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, on `sockets` (already listening: systemd's) if
    given, else on host:port; raises OSError when the address cannot be bound."""
    where: dict[str, Any] = {"sock": sockets} if sockets else {"host": host, "port": port}
    web.run_app(app, **where, ssl_context=ssl_context, print=None, access_log=None)

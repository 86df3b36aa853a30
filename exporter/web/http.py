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
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from functools import cache, partial
from importlib.resources import files
from typing import Any

from aiohttp import web

from exporter import __version__
from exporter.clock import Clock, SystemClock
from exporter.inventory.store import Inventory
from exporter.render.exposition import Exposition
from exporter.render.formats import negotiate
from exporter.web.topology import topology_view
from exporter.web.views import container_view, event_query, events_view, inventory_view
from exporter.web.webconfig import Authenticator

App = web.Application
"""Re-exported so the composition root can name the type without importing aiohttp.web."""

INVENTORY = web.AppKey("inventory", Inventory)
EXPOSITION = web.AppKey("exposition", Exposition)
TELEMETRY_PATH = web.AppKey("telemetry_path", str)
INVENTORY_LIMIT = web.AppKey("inventory_limit", int)
MAX_INVENTORY_CONTAINERS = 10_000
"""Containers in one /inventory document (`--web.inventory.max-containers`): its JSON is
built whole, about 3 KiB per container; the rest are counted in `containers_omitted`
(filter with ?name=, ?state=, ?label= to page through a larger host)."""
CLOCK = web.AppKey("clock", Clock)


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
    body = None if filtered else exposition.cached(snapshot.version, fmt, gzipped=gzipped)
    if body is None:  # a render: in a worker thread, never on the loop
        if not filtered:
            exposition.want(fmt, gzipped)
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


def make_app(
    inventory_: Inventory,
    exposition: Exposition,
    telemetry_path: str,
    auth: Authenticator | None = None,
    clock: Clock | None = None,
    *,
    inventory_limit: int = MAX_INVENTORY_CONTAINERS,
    headers: Mapping[str, str] | None = None,
) -> web.Application:
    """The aiohttp application; lifecycles (watcher, samplers) are attached by the caller.
    `headers` (the web config's http_server_config.headers) go on every response."""
    middlewares = [_basic_auth(auth)] if auth is not None and auth.enabled else []
    app = web.Application(client_max_size=64 * 1024, middlewares=middlewares)
    if headers:
        extra = dict(headers)

        async def add_headers(_request: web.Request, response: web.StreamResponse) -> None:
            response.headers.update(extra)

        app.on_response_prepare.append(add_headers)
    app[INVENTORY] = inventory_
    app[EXPOSITION] = exposition
    app[TELEMETRY_PATH] = telemetry_path
    app[INVENTORY_LIMIT] = inventory_limit
    app[CLOCK] = clock or SystemClock()
    app.router.add_get(telemetry_path, metrics)
    app.router.add_get("/inventory", inventory)
    app.router.add_get("/inventory/containers/{ref}", one_container)
    app.router.add_get("/topology", topology)
    app.router.add_get("/events", events)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    if telemetry_path != "/":
        app.router.add_get("/", _landing(telemetry_path))
    return app


Lifecycle = Callable[[], AbstractAsyncContextManager[None]]


def attach(app: web.Application, lifecycle: Lifecycle) -> None:
    """Run `lifecycle` for the life of the app; its exit runs only if its entry succeeded."""

    async def ctx(_app: web.Application) -> AsyncIterator[None]:
        async with lifecycle():
            yield

    app.cleanup_ctx.append(ctx)


def serve(
    app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None = None
) -> None:
    """Serve until SIGINT or SIGTERM; raises OSError when the address cannot be bound."""
    web.run_app(app, host=host, port=port, ssl_context=ssl_context, print=None, access_log=None)

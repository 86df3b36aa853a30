"""Registries that misbehave, served by the test itself: garbage, a hang, a lie (JSON
that is not), concurrent callers. Each poll ends within its request timeout, the
registry is reported down, and the app keeps serving."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from conftest import FakeEngine, until
from test_openapi import validate_response
from test_registry_live import parse, registry_options, value

from exporter.cli.app import build_app
from exporter.cli.settings import Settings
from exporter.clock import SystemClock
from exporter.registry.client import RegistryClient
from exporter.registry.config import load_targets
from exporter.web.http import INVENTORY


@asynccontextmanager
async def raw_server(handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]
                     ) -> AsyncIterator[str]:  # fmt: skip
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in list(writers):
            writer.close()
        writers.clear()
        await server.wait_closed()


writers: set[asyncio.StreamWriter] = set()


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1024)
    writer.write(b"\x16\x03\x01 not HTTP at all \x00\xff\r\n\r\n")
    await writer.drain()
    writer.close()


async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writers.add(writer)
    await reader.read(1024)  # then never answer


@asynccontextmanager
async def http_server(routes: dict[str, Callable[[web.Request], Any]]) -> AsyncIterator[str]:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def ok(_request: web.Request) -> web.Response:
    return web.json_response({})


async def not_json(_request: web.Request) -> web.Response:
    return web.Response(text="<html>gateway</html>", content_type="text/html")


async def test_garbage_hanging_and_lying_registries_are_down_in_bounded_time(
    fake_engine: FakeEngine,
) -> None:
    """Each poll ends within the request timeout; the app keeps serving meanwhile."""
    async with (
        raw_server(garbage) as garbage_url,
        raw_server(hang) as hang_url,
        http_server({"/v2/": ok, "/v2/_catalog": not_json}) as lying_url,
    ):
        urls = (garbage_url, hang_url, lying_url)
        targets, _ = load_targets(urls)
        options = registry_options(registry_urls=urls, registry_timeout=0.5)
        settings = Settings(collectors=("registry",), options=options)
        app = build_app(settings, lambda: fake_engine, registries=targets)
        async with TestClient(TestServer(app)) as client:
            inventory = app[INVENTORY]
            names = [t.name for t in targets]
            snap = await until(
                inventory,
                lambda s: all(n in s.registries and s.registries[n].polled for n in names),
                timeout=10,
            )
            errors = {n: snap.registries[n].error for n in names}
            assert errors[names[1]] == "no answer within 0.5s"
            assert snap.registries[names[1]].requests == {"timeout": 1}
            assert errors[names[2]] == "/v2/_catalog: not JSON"
            assert errors[names[0]] == "not an HTTP answer"
            assert snap.registries[names[0]].requests == {"error": 1}
            resp = await client.get("/metrics")  # served while one registry hangs
            assert resp.status == 200
            samples = parse(await resp.text())
            for name in names:
                assert value(samples, "docker_registry_up", registry=name) == 0
            doc = await (await client.get("/inventory")).json()
            validate_response("/inventory", 200, doc)


async def test_never_two_requests_in_flight_to_one_registry() -> None:
    in_flight = 0
    most = 0

    async def slow(_request: web.Request) -> web.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.05)  # widen the window a second request would use
        in_flight -= 1
        return web.json_response({"repositories": []})

    async with http_server({"/v2/_catalog": slow}) as url:
        (target,), _ = load_targets([url])
        client = RegistryClient(target, SystemClock(), timeout=5.0)
        try:
            answers = await asyncio.gather(*(client.get("/v2/_catalog") for _ in range(4)))
        finally:
            await client.close()
    assert [a.status for a in answers] == [200] * 4
    assert most == 1

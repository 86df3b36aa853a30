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
from conftest import FakeClock, FakeEngine, until
from test_openapi import validate_response
from test_registry_live import parse, registry_settings, value

from exporter.cli.app import build_app
from exporter.cli.settings import Settings
from exporter.clock import SystemClock
from exporter.registry.client import RegistryClient
from exporter.registry.config import load_targets
from exporter.registry.models import RegistrySnapshot
from exporter.registry.poller import RegistryPoller
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
        chosen = registry_settings(registry_urls=urls, registry_timeout=0.5)
        settings = Settings(collectors=("registry",), **chosen)
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


class StubRegistry:
    """A Distribution API with bearer auth and its token endpoint on one server, counting
    what it is asked: for the client's token reuse and expiry, and manifest reuse."""

    def __init__(self) -> None:
        self.issued = 0
        self.token_status = 200
        self.calls: list[str] = []
        self.url = ""

    def routes(self) -> dict[str, Callable[[web.Request], Any]]:
        return {
            "/token": self.token,
            "/v2/": self.api,
            "/v2/_catalog": self.api,
            "/v2/{name:.+}/tags/list": self.api,
            "/v2/{name:.+}/manifests/{ref}": self.api,
        }

    async def token(self, request: web.Request) -> web.Response:
        self.calls.append(f"token {request.query.get('scope', '')}")
        if self.token_status != 200:
            return web.json_response({}, status=self.token_status)
        self.issued += 1
        return web.json_response({"token": f"t{self.issued}", "expires_in": 120})

    async def api(self, request: web.Request) -> web.Response:
        self.calls.append(f"{request.method} {request.path}")
        if not request.headers.get("Authorization", "").startswith("Bearer t"):
            challenge = f'Bearer realm="{self.url}/token",service="stub"'
            return web.json_response({}, status=401, headers={"WWW-Authenticate": challenge})
        if request.path == "/v2/_catalog":
            return web.json_response({"repositories": ["a"]})
        if request.path.endswith("/tags/list"):
            return web.json_response({"name": "a", "tags": ["1", "bad tag"]})
        if "/manifests/" in request.path:
            body = b'{"schemaVersion": 2, "config": {"size": 10}, "layers": [{"size": 5}]}'
            headers = {"Docker-Content-Digest": "sha256:" + "0" * 64}
            return web.Response(body=body, headers=headers, content_type=MANIFEST)
        return web.json_response({})


MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


async def test_tokens_are_reused_until_they_expire_and_manifests_until_they_change() -> None:
    stub = StubRegistry()
    clock = FakeClock()
    async with http_server(stub.routes()) as url:
        stub.url = url
        (target,), _ = load_targets([url])
        published: list[RegistrySnapshot] = []
        poller = RegistryPoller(
            RegistryClient(target, clock, timeout=5.0), published.append, clock, manifests=True
        )
        try:
            first = await poller.poll()
            assert first.up
            assert first.auth == "bearer"
            (repo,) = first.repositories
            assert repo.tags == ("1",)  # an invalid tag name is left out
            assert repo.manifests["1"].size_bytes == 15
            scopes = [c for c in stub.calls if c.startswith("token")]
            assert scopes == [
                "token ",
                "token registry:catalog:*",
                "token repository:a:pull",
            ]
            stub.calls.clear()
            second = await poller.poll()  # tokens reused; the manifest's digest unchanged
            assert stub.calls == [
                "GET /v2/",
                "GET /v2/_catalog",
                "GET /v2/a/tags/list",
                "HEAD /v2/a/manifests/1",
            ]
            assert second.repositories[0].manifests["1"] is repo.manifests["1"]
            await clock.advance(200)  # past expires_in: new tokens, without a 401 first
            stub.calls.clear()
            await poller.poll()
            assert stub.calls[:2] == ["token ", "GET /v2/"]
            stub.token_status = 401  # credentials refused by the token server
            await clock.advance(200)
            refused = await poller.poll()
            assert not refused.up
            assert refused.error == "the token server answered 401"
            assert refused.repositories == first.repositories  # the last known stay
            assert refused.requests["401"] >= 1
        finally:
            await poller.close()
    assert published[-1] is refused

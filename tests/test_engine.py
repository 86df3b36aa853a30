"""The engine adapter against a scripted server on a unix socket, and the live engine."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import LiveDocker, engine_facts, live_engine_config, load_json

from exporter.engine import (
    DockerEngine,
    EngineConfig,
    EngineUnavailable,
    NotFound,
    ReadOnlyViolation,
    RequestFailed,
    negotiate,
    resolve_host,
)


class Scripted:
    """A fake engine HTTP server that records every request it receives."""

    def __init__(self, version: dict[str, Any]) -> None:
        self.version = version
        self.requests: list[tuple[str, str]] = []
        self.hang = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.middlewares.append(self.record)
        app.router.add_route("*", "/version", self.on_version)
        app.router.add_route("*", "/{api}/info", self.on_info)
        app.router.add_route("*", "/{api}/containers/json", self.on_list)
        app.router.add_route("*", "/{api}/containers/{id}/json", self.on_inspect)
        app.router.add_route("*", "/{api}/containers/create", self.on_list)
        app.router.add_route("*", "/{api}/events", self.on_events)
        return app

    @web.middleware
    async def record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        return await handler(request)

    async def on_version(self, _r: web.Request) -> web.Response:
        return web.json_response(self.version)

    async def on_info(self, _r: web.Request) -> web.Response:
        return web.json_response(load_json("info.json"))

    async def on_list(self, _r: web.Request) -> web.Response:
        return web.json_response([{"Id": "a" * 64}])

    async def on_inspect(self, request: web.Request) -> web.Response:
        if request.match_info["id"] == "slow":
            await self.hang.wait()
        if request.match_info["id"] == "bad":
            return web.json_response({"message": "bad parameter"}, status=400)
        return web.json_response({"message": "No such container"}, status=404)

    async def on_events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        line = {"Type": "container", "Action": "start", "Actor": {"ID": "a" * 64}, "timeNano": 7}
        await resp.write(json.dumps(line).encode() + b"\n\n")
        await resp.write(b"not json\n")
        return resp


@pytest.fixture(name="scripted")
async def fixture_scripted(tmp_path: Path) -> AsyncIterator[tuple[Scripted, DockerEngine]]:
    server = Scripted({"ApiVersion": "1.53", "MinAPIVersion": "1.44", "Version": "29.2.0"})
    runner = web.AppRunner(server.app())
    await runner.setup()
    sock = tmp_path / "docker.sock"
    site = web.UnixSite(runner, str(sock))
    await site.start()
    engine = DockerEngine(EngineConfig(host=f"unix://{sock}", timeout=0.5))
    yield server, engine
    server.hang.set()
    await engine.close()
    await runner.cleanup()


async def test_version_is_negotiated_not_pinned(scripted: tuple[Scripted, DockerEngine]) -> None:
    server, engine = scripted
    info = await engine.engine_info()
    assert engine.api_version == "1.51"
    assert info.api_version == "1.51"
    assert ("GET", "/v1.51/info") in server.requests


def test_negotiation_rule() -> None:
    assert negotiate("1.41", "1.12") == "1.41"  # Docker 20.10
    assert negotiate("1.52", "1.44") == "1.51"  # Docker 29.0: ours, within its range
    assert negotiate("1.54", "1.52") == "1.52"  # a future engine that raised its minimum
    assert negotiate("", "") == "1.51"


async def test_errors_are_mapped(scripted: tuple[Scripted, DockerEngine]) -> None:
    _, engine = scripted
    with pytest.raises(NotFound):
        await engine.inspect_container("gone")
    with pytest.raises(RequestFailed):
        await engine.inspect_container("bad")
    with pytest.raises(EngineUnavailable, match="no answer within"):
        await engine.inspect_container("slow")


async def test_event_stream_skips_blank_and_garbage_lines(
    scripted: tuple[Scripted, DockerEngine],
) -> None:
    server, engine = scripted
    async with engine.events(1_500_000_000_123_456_789) as stream:
        events = [e async for e in stream]
    assert [(e.type, e.action, e.time_ns) for e in events] == [("container", "start", 7)]
    assert ("GET", "/v1.51/events?since=1500000000.123456789") in server.requests


async def test_no_method_but_get_can_leave_the_adapter(
    scripted: tuple[Scripted, DockerEngine],
) -> None:
    """Writes through the adapter's session, whatever the helper used, are refused before
    they are sent: the server sees no request at all."""
    server, engine = scripted
    session = engine._session
    for method in ("POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"):
        with pytest.raises(ReadOnlyViolation):
            async with session.request(method, "http://localhost/v1.41/containers/create"):
                pass
    with pytest.raises(ReadOnlyViolation):
        await session.post("http://localhost/v1.41/containers/create", json={"Image": "x"})
    with pytest.raises(ReadOnlyViolation):
        await session.delete("http://localhost/v1.41/containers/x")
    assert server.requests == []


async def test_unreachable_socket_is_engine_unavailable(tmp_path: Path) -> None:
    engine = DockerEngine(EngineConfig(host=f"unix://{tmp_path}/none.sock", timeout=1))
    try:
        with pytest.raises(EngineUnavailable):
            await engine.engine_info()
        with pytest.raises(EngineUnavailable):
            async with engine.events(None):
                pass
    finally:
        await engine.close()


def test_resolve_host() -> None:
    assert resolve_host(None, {}) == "unix:///var/run/docker.sock"
    assert resolve_host(None, {"DOCKER_HOST": "tcp://10.0.0.1:2376"}) == "tcp://10.0.0.1:2376"
    for bad in ("ftp://x", "tcp://", "unix://", "tcp://h:notaport", "/var/run/docker.sock"):
        with pytest.raises(ValueError, match="invalid docker host"):
            resolve_host(bad, {})


def test_tls_without_cert_path_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="DOCKER_CERT_PATH"):
        DockerEngine(EngineConfig(host="tcp://127.0.0.1:2376", tls_verify=True))


def _api(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@pytest.mark.integration
@pytest.mark.engine_generic
async def test_live_engine_sees_only_get_requests(live: LiveDocker) -> None:
    """A full sync plus a few live events against the real engine: every request is a GET."""
    live.run("ro")
    methods: list[str] = []

    async def on_start(_s: Any, _c: Any, params: aiohttp.TraceRequestStartParams) -> None:
        methods.append(params.method)

    observer = aiohttp.TraceConfig()
    observer.on_request_start.append(on_start)
    engine = DockerEngine(live_engine_config(), [observer])
    try:
        info = await engine.engine_info()
        ids = list(await engine.list_containers())
        containers = [await engine.inspect_container(i) for i in ids]
        async with engine.events(None) as stream:
            iterator = aiter(stream)
            live.run("ro2")
            first = await asyncio.wait_for(anext(iterator), 10)
    finally:
        await engine.close()
    facts = engine_facts()
    assert facts is not None
    negotiated = _api(info.api_version)
    assert _api(facts.min_api_version) <= negotiated <= _api(facts.api_version)
    assert any(c.name == live.name("ro") for c in containers)
    assert first.type in ("container", "network")
    assert methods
    assert set(methods) == {"GET"}


def test_aiohttp_is_imported_without_the_system_cas() -> None:
    """sslguard: aiohttp's import-time contexts stay empty; ours for https load the CAs."""
    code = (
        "import exporter, ssl, asyncio, aiohttp.connector as c\n"
        "from exporter.engine import _connector\n"
        "assert ssl.create_default_context().cert_store_stats()['x509'] > 0, 'no system CAs'\n"
        "assert c._SSL_CONTEXT_VERIFIED.cert_store_stats()['x509'] == 0\n"
        "assert c._SSL_CONTEXT_UNVERIFIED.cert_store_stats()['x509'] == 0\n"
        "async def main():\n"
        "    connector, url = _connector('https://127.0.0.1:2376', None)\n"
        "    assert url == 'https://127.0.0.1:2376'\n"
        "    got = connector._ssl.cert_store_stats()\n"
        "    assert got == ssl.create_default_context().cert_store_stats(), got\n"
        "    await connector.close()\n"
        "asyncio.run(main())\n"
        "assert 'set_default_verify_paths' not in vars(ssl.SSLContext)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_engine_error_messages_from_json_or_plain_bodies() -> None:
    from exporter.engine import _engine_message, _status_error

    assert _engine_message(b'{"message": "No such container: x"}') == "No such container: x"
    assert _engine_message(b"<html>\n<h1>502 Bad Gateway</h1>") == "<html>"
    assert _engine_message(b"") == "(empty body)"
    assert isinstance(_status_error(404, "gone"), NotFound)
    assert isinstance(_status_error(503, "busy"), EngineUnavailable)
    forbidden = _status_error(403, "denied by proxy")
    assert isinstance(forbidden, RequestFailed)
    assert str(forbidden) == "HTTP 403: denied by proxy"

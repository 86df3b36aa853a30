"""The engine adapter against a scripted server on a unix socket, and the live engine."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import LiveDocker, engine_facts, live_engine_config, load_json

from exporter.engine.adapter import DockerEngine
from exporter.engine.api import (
    EngineTimeout,
    EngineUnavailable,
    NotFound,
    ReadOnlyViolation,
    RequestFailed,
    ServerError,
)
from exporter.engine.config import (
    POOL_MARGIN,
    EngineConfig,
    engine_config_from_env,
    negotiate,
    resolve_host,
)
from exporter.engine.models import ListedContainer, container_signature

ROW = {
    "Id": "a" * 64,
    "Names": ["/alpha"],
    "Image": "busybox:local",
    "ImageID": "sha256:" + "b" * 64,
    "Command": "sleep 60",
    "Created": 1_795_846_000,
    "Ports": [],
    "Labels": {"app": "bench"},
    "State": "running",
    "Status": "Up 5 minutes (healthy)",
    "HostConfig": {"NetworkMode": "default"},
    "Health": {"Status": "healthy", "FailingStreak": 1},
    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
    "Mounts": [{"Name": "data", "Type": "volume"}],
}


class Scripted:
    """A fake engine HTTP server that records every request it receives."""

    def __init__(self, version: dict[str, Any]) -> None:
        self.version = version
        self.requests: list[tuple[str, str]] = []
        self.hang = asyncio.Event()
        self.event_pause = 0.0

    def app(self) -> web.Application:
        app = web.Application()
        app.middlewares.append(self.record)
        app.router.add_route("*", "/version", self.on_version)
        app.router.add_route("*", "/{api}/version", self.on_version)
        app.router.add_route("*", "/{api}/info", self.on_info)
        app.router.add_route("*", "/{api}/containers/json", self.on_list)
        app.router.add_route("*", "/{api}/containers/{id}/json", self.on_inspect)
        app.router.add_route("*", "/{api}/containers/{id}/stats", self.on_stats)
        app.router.add_route("*", "/{api}/containers/{id}/top", self.on_top)
        app.router.add_route("*", "/{api}/images/json", self.on_fixture("images.json"))
        app.router.add_route("*", "/{api}/images/{id}/json", self.on_fixture("image_inspect.json"))
        app.router.add_route(
            "*", "/{api}/images/{id}/history", self.on_fixture("image_history.json")
        )
        app.router.add_route("*", "/{api}/networks", self.on_fixture("networks.json"))
        app.router.add_route("*", "/{api}/networks/{id}", self.on_fixture("network_inspect.json"))
        app.router.add_route("*", "/{api}/volumes", self.on_fixture("volumes.json"))
        app.router.add_route("*", "/{api}/system/df", self.on_fixture("system_df.json"))
        app.router.add_route("*", "/{api}/events", self.on_events)
        return app

    @web.middleware
    async def record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        return await handler(request)

    def paths(self) -> list[str]:
        return [path for _, path in self.requests]

    async def on_version(self, _r: web.Request) -> web.Response:
        return web.json_response(self.version)

    async def on_info(self, _r: web.Request) -> web.Response:
        return web.json_response(load_json("info.json"))

    async def on_list(self, _r: web.Request) -> web.Response:
        return web.json_response([ROW])

    def on_fixture(self, name: str) -> Any:
        async def handler(_r: web.Request) -> web.Response:
            return web.json_response(load_json(name))

        return handler

    async def on_inspect(self, request: web.Request) -> web.Response:
        cid = request.match_info["id"]
        if cid == "slow":
            await self.hang.wait()
        if cid == "bad":
            return web.json_response({"message": "bad parameter"}, status=400)
        if cid == "broken":
            return web.json_response({"message": "containerd: deadline exceeded"}, status=500)
        if cid == "proxied":
            return web.Response(text="<html>\n<h1>403 Forbidden</h1>", status=403)
        if cid == "a" * 64:
            return web.json_response(load_json("inspect_running.json"))
        return web.json_response({"message": "No such container"}, status=404)

    async def on_stats(self, request: web.Request) -> web.Response:
        if request.match_info["id"] == "slow":
            await self.hang.wait()
        return web.json_response({"read": "0001-01-01T00:00:00Z", "id": request.match_info["id"]})

    async def on_top(self, _r: web.Request) -> web.Response:
        return web.json_response(load_json("top.json"))

    async def on_events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await asyncio.sleep(self.event_pause)
        line = {"Type": "container", "Action": "start", "Actor": {"ID": "a" * 64}, "timeNano": 7}
        await resp.write(json.dumps(line).encode() + b"\n\n")
        await resp.write(b"not json\n")
        old = {"Type": "container", "Action": "die", "Actor": {"ID": "a" * 64}, "time": 9}
        await resp.write(json.dumps(old).encode() + b"\n")
        return resp


async def serve(tmp_path: Path, server: Scripted) -> tuple[web.AppRunner, Path]:
    runner = web.AppRunner(server.app())
    await runner.setup()
    sock = tmp_path / "docker.sock"
    await web.UnixSite(runner, str(sock)).start()
    return runner, sock


@pytest.fixture(name="scripted")
async def fixture_scripted(tmp_path: Path) -> AsyncIterator[tuple[Scripted, DockerEngine]]:
    server = Scripted({"ApiVersion": "1.53", "MinAPIVersion": "1.44", "Version": "29.2.0"})
    runner, sock = await serve(tmp_path, server)
    engine = DockerEngine(EngineConfig(host=f"unix://{sock}", timeout=0.5))
    yield server, engine
    server.hang.set()
    await engine.close()
    await runner.cleanup()


async def test_version_is_negotiated_not_pinned(scripted: tuple[Scripted, DockerEngine]) -> None:
    """One unversioned /version tells the version; aiodocker then speaks ours, not "auto"
    (which would take the daemon's newest)."""
    server, engine = scripted
    info = await engine.engine_info()
    assert engine.api_version == "1.53"
    assert info.api_version == "1.53"
    assert server.requests == [
        ("GET", "/version"),
        ("GET", "/v1.53/version"),
        ("GET", "/v1.53/info"),
    ]


@pytest.mark.parametrize(
    ("server_max", "server_min", "spoken"),
    [
        ("1.41", "1.12", "1.41"),  # Docker 20.10
        ("1.51", "1.24", "1.51"),  # Docker 28.5
        ("1.55", "1.40", "1.55"),  # Docker 29.6-29.7
        ("1.56", "1.40", "1.55"),  # Docker 29.8: ours, within its range
        ("1.60", "1.56", "1.56"),  # a future engine that raised its minimum
    ],
)
async def test_every_request_speaks_the_negotiated_version(
    tmp_path: Path, server_max: str, server_min: str, spoken: str
) -> None:
    """Concurrent first calls negotiate once, then every path carries the version."""
    server = Scripted({"ApiVersion": server_max, "MinAPIVersion": server_min})
    runner, sock = await serve(tmp_path, server)
    engine = DockerEngine(EngineConfig(host=f"unix://{sock}", timeout=2))
    try:
        await asyncio.gather(engine.list_containers(), engine.list_volumes(), engine.engine_info())
    finally:
        await engine.close()
        await runner.cleanup()
    assert server.paths().count("/version") == 1
    assert server.paths()[0] == "/version"
    assert {p.split("/")[1] for p in server.paths()[1:]} == {f"v{spoken}"}


def test_negotiation_rule() -> None:
    assert negotiate("1.41", "1.12") == "1.41"  # Docker 20.10
    assert negotiate("1.52", "1.44") == "1.52"  # Docker 29.0: the engine's newest
    assert negotiate("1.56", "1.40") == "1.55"  # Docker 29.8: ours, within its range
    assert negotiate("1.60", "1.56") == "1.56"  # a future engine that raised its minimum
    assert negotiate("", "") == "1.55"


async def test_errors_are_mapped(scripted: tuple[Scripted, DockerEngine]) -> None:
    """404 is gone, other 4xx refused, a 5xx a failed request (the engine answered: the
    top poller falls back to the default ps arguments on a 500 from busybox `ps`), silence
    a timeout of an unavailable engine."""
    _, engine = scripted
    with pytest.raises(NotFound, match=r"^No such container$"):
        await engine.inspect_container("gone")
    with pytest.raises(RequestFailed, match=r"^HTTP 400: bad parameter$"):
        await engine.inspect_container("bad")
    with pytest.raises(RequestFailed, match=r"^HTTP 403: <html>$"):
        await engine.inspect_container("proxied")
    with pytest.raises(ServerError, match=r"^containerd: deadline exceeded$"):
        await engine.inspect_container("broken")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(EngineTimeout, match=r"no answer within 0.5s"):
        await asyncio.wait_for(engine.inspect_container("slow"), 30)  # a hang guard
    assert loop.time() - started >= 0.4  # the timeout, not an early failure
    with pytest.raises(EngineUnavailable, match=r"no answer within 0.5s"):
        await engine.container_stats("slow", None)


async def test_refused_connection_is_engine_unavailable(tmp_path: Path) -> None:
    """A socket nobody listens on: the negotiation GET and, once the engine went away
    after it, aiodocker's calls (its `DockerError(900)`) both mean unavailable."""
    dead = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX) as unbound:
        unbound.bind(str(dead))  # the file exists; connect() gets ECONNREFUSED
    engine = DockerEngine(EngineConfig(host=f"unix://{dead}", timeout=1))
    try:
        with pytest.raises(EngineUnavailable, match=r"ConnectionRefused|Connection refused"):
            await engine.list_containers()
    finally:
        await engine.close()

    server = Scripted({"ApiVersion": "1.41", "MinAPIVersion": "1.12"})
    runner, sock = await serve(tmp_path, server)
    engine = DockerEngine(EngineConfig(host=f"unix://{sock}", timeout=1))
    try:
        await engine.list_containers()
        await runner.cleanup()
        with pytest.raises(EngineUnavailable, match="cannot connect to unix://"):
            await engine.list_containers()
        with pytest.raises(EngineUnavailable):
            await engine.container_stats("a" * 64, None)
    finally:
        await engine.close()


async def test_event_stream_skips_blank_and_garbage_lines(
    scripted: tuple[Scripted, DockerEngine],
) -> None:
    server, engine = scripted
    async with engine.events(1_500_000_000_123_456_789) as stream:
        events = [e async for e in stream]
    assert [(e.type, e.action, e.time_ns) for e in events] == [
        ("container", "start", 7),
        ("container", "die", 9_000_000_000),  # `time` read raw, never as a naive datetime
    ]
    assert ("GET", "/v1.53/events?since=1500000000.123456789") in server.requests


async def test_event_stream_survives_idle_periods_longer_than_the_timeout(
    scripted: tuple[Scripted, DockerEngine],
) -> None:
    """The stream has no read timeout: an idle engine sends nothing, for hours maybe."""
    server, engine = scripted
    server.event_pause = 1.5  # three times the 0.5 s request timeout
    async with engine.events(None) as stream:
        first = await anext(aiter(stream))
    assert first.action == "start"


async def test_stats_in_flight_cannot_starve_other_requests(tmp_path: Path) -> None:
    """The pool holds every stats request `--stats.concurrency` allows, the event stream
    and a margin; with all of those busy, an inspect still gets a connection."""
    server = Scripted({"ApiVersion": "1.41", "MinAPIVersion": "1.12"})
    runner, sock = await serve(tmp_path, server)
    config = EngineConfig(host=f"unix://{sock}", timeout=1, stats_concurrency=3)
    engine = DockerEngine(config)
    assert engine._connector.limit == config.connections == 3 + 1 + POOL_MARGIN
    try:
        async with engine.events(None):
            stats = [asyncio.create_task(engine.container_stats("slow", None)) for _ in range(3)]
            slow = "/v1.41/containers/slow/stats?stream=0&one-shot=1"
            for _ in range(10_000):  # until the server holds all three (each on a connection)
                if server.paths().count(slow) == 3:
                    break
                await asyncio.sleep(0.001)
            assert server.paths().count(slow) == 3
            container = await engine.inspect_container("a" * 64)
            server.hang.set()
            await asyncio.gather(*stats)
    finally:
        await engine.close()
        await runner.cleanup()
    assert container.id
    assert server.paths().count("/v1.41/containers/slow/stats?stream=0&one-shot=1") == 3


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


async def test_aiodocker_write_helpers_are_refused_before_sending(
    scripted: tuple[Scripted, DockerEngine],
) -> None:
    """aiodocker's own writes, on the session we hand it, stop at the trace hook: after
    the negotiation GET the server receives nothing."""
    server, engine = scripted
    docker = await engine._client()
    assert docker.session is engine._session
    assert server.requests == [("GET", "/version")]
    container = docker.containers.container("a" * 64)
    attempts = [
        lambda: docker.containers.create({"Image": "busybox:local"}),
        container.start,
        container.kill,
        container.delete,
        docker.containers.prune,
        lambda: docker.images.pull("busybox:latest"),
        lambda: docker.networks.create({"Name": "x"}),
        lambda: docker.volumes.create({"Name": "x"}),
    ]
    for attempt in attempts:
        with pytest.raises(ReadOnlyViolation):
            await attempt()
    assert server.requests == [("GET", "/version")]


async def test_calls_reach_the_engine_as_docker_does(
    scripted: tuple[Scripted, DockerEngine],
) -> None:
    """Each Engine method is one GET per object (two for an image: inspect and history),
    with the query the Docker CLI would send."""
    server, engine = scripted
    listed = await engine.list_containers()
    await engine.inspect_container("a" * 64)
    await engine.container_stats("a" * 64, None)
    await engine.top("a" * 64, "-o pid,args")
    await engine.top("a" * 64, "")
    await engine.list_images()
    await engine.inspect_image("sha256:1")
    await engine.list_network_ids()
    await engine.inspect_network("n1")
    await engine.list_volumes()
    await engine.disk_usage()
    assert server.paths()[1:] == [
        "/v1.53/containers/json?all=1",
        f"/v1.53/containers/{'a' * 64}/json",
        f"/v1.53/containers/{'a' * 64}/stats?stream=0&one-shot=1",
        f"/v1.53/containers/{'a' * 64}/top?ps_args=-o+pid,args",
        f"/v1.53/containers/{'a' * 64}/top",
        "/v1.53/images/json",
        "/v1.53/images/sha256:1/json",
        "/v1.53/images/sha256:1/history",
        "/v1.53/networks",
        "/v1.53/networks/n1",
        "/v1.53/volumes",
        "/v1.53/system/df?type=volume&verbose=1",
    ]
    # the whole row, rebuilt; API 1.52+ lists health and failing streak
    assert listed == {"a" * 64: ListedContainer(container_signature(ROW), "healthy", 1)}


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


async def test_stats_before_api_1_41_ask_no_one_shot(tmp_path: Path) -> None:
    """`one-shot` exists from API 1.41; an older engine gets the plain `stream=0`."""
    server = Scripted({"ApiVersion": "1.40", "MinAPIVersion": "1.12"})
    runner, sock = await serve(tmp_path, server)
    engine = DockerEngine(EngineConfig(host=f"unix://{sock}", timeout=2))
    try:
        await engine.container_stats("a" * 64, None)
        await engine.disk_usage()
    finally:
        await engine.close()
        await runner.cleanup()
    assert server.paths() == [
        "/version",
        f"/v1.40/containers/{'a' * 64}/stats?stream=0",
        "/v1.40/system/df",  # `type=` exists from API 1.42
    ]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.mark.parametrize("tls", [False, True])
async def test_tcp_engine_with_and_without_tls(tmp_path: Path, tls: bool) -> None:
    """tcp:// as `dockerd -H tcp://`, and with DOCKER_TLS_VERIFY as `dockerd --tlsverify`
    (the client proves itself with DOCKER_CERT_PATH's cert.pem): aiodocker composes its
    URLs on our https:// base and our TLS context."""
    env: dict[str, str] = {}
    server_tls: ssl.SSLContext | None = None
    if tls:
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                "/CN=ca", "-keyout", "ca.key", "-out", "ca.pem", cwd=tmp_path)  # fmt: skip
        (tmp_path / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        for who in ("server", "client"):
            openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={who}",
                    "-keyout", f"{who}.key", "-out", f"{who}.csr", cwd=tmp_path)  # fmt: skip
            openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                    "-CAcreateserial", "-days", "2", "-extfile", "san.ext",
                    "-out", f"{who}.crt", cwd=tmp_path)  # fmt: skip
        (tmp_path / "cert.pem").write_bytes((tmp_path / "client.crt").read_bytes())
        (tmp_path / "key.pem").write_bytes((tmp_path / "client.key").read_bytes())
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tmp_path / "ca.pem")
        server_tls.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
        server_tls.verify_mode = ssl.CERT_REQUIRED
        env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)}
    server = Scripted({"ApiVersion": "1.41", "MinAPIVersion": "1.12"})
    runner = web.AppRunner(server.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
    await site.start()
    port = runner.addresses[0][1]
    env["DOCKER_HOST"] = f"tcp://127.0.0.1:{port}"
    engine = DockerEngine(engine_config_from_env(None, 5.0, env))
    try:
        info = await engine.engine_info()
        listed = await engine.list_containers()
        async with engine.events(None) as stream:
            first = await anext(aiter(stream))
    finally:
        await engine.close()
        await runner.cleanup()
    assert info.api_version == "1.41"
    assert list(listed) == ["a" * 64]
    assert first.action == "start"
    assert server.paths()[:4] == [
        "/version",
        "/v1.41/version",
        "/v1.41/info",
        "/v1.41/containers/json?all=1",
    ]


def test_config_from_env_sizes_the_pool_from_stats_concurrency() -> None:
    env = {"DOCKER_HOST": "tcp://10.0.0.1:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/c"}
    config = engine_config_from_env(None, 3.0, env, stats_concurrency=32)
    assert config == EngineConfig("tcp://10.0.0.1:2376", 3.0, True, "/c", 32)
    assert config.connections == 32 + 1 + POOL_MARGIN
    assert engine_config_from_env(None, 3.0, {}).connections == 8 + 1 + POOL_MARGIN


def _api(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@pytest.mark.integration
@pytest.mark.engine_generic
async def test_live_engine_sees_only_get_requests(live: LiveDocker) -> None:
    """A full sync, every other adapter call, and live events against the real engine:
    every request is a GET. (The engine is shared: the event awaited is our container's.)"""
    cid = live.run("ro")
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
        stats = await engine.container_stats(cid, info)
        processes = await engine.top(cid, "")
        images = await engine.list_images()
        await engine.inspect_image(images[0].id)
        networks = [await engine.inspect_network(n) for n in await engine.list_network_ids()]
        await engine.list_volumes()
        await engine.disk_usage()
        async with engine.events(None) as stream:
            live.run("ro2")
            async with asyncio.timeout(10):
                first = await anext(
                    e async for e in stream if e.attributes.get("name") == live.name("ro2")
                )
    finally:
        await engine.close()
    facts = engine_facts()
    assert facts is not None
    negotiated = _api(info.api_version)
    assert _api(facts.min_api_version) <= negotiated <= _api(facts.api_version)
    assert any(c.name == live.name("ro") for c in containers)
    assert stats is not None
    if "podman4" not in facts.traits:  # Podman 4.3 answers ps_args with an empty body
        assert processes
    assert {n.name for n in networks} >= {"bridge" if "docker" in facts.traits else "podman"}
    assert (first.type, first.action) == ("container", "create")
    assert methods
    assert set(methods) == {"GET"}


def test_aiohttp_is_imported_without_the_system_cas() -> None:
    """sslguard: aiohttp's import-time contexts stay empty; ours for https load the CAs."""
    code = (
        "import exporter, ssl, asyncio, aiohttp.connector as c\n"
        "from exporter.engine.adapter import _connector\n"
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
    from exporter.engine.adapter import _engine_message, _status_error

    assert _engine_message(b'{"message": "No such container: x"}') == "No such container: x"
    assert _engine_message(b"<html>\n<h1>502 Bad Gateway</h1>") == "<html>"
    assert _engine_message(b"") == "(empty body)"
    assert isinstance(_status_error(404, "gone"), NotFound)
    assert isinstance(_status_error(503, "busy"), ServerError)
    forbidden = _status_error(403, "denied by proxy")
    assert isinstance(forbidden, RequestFailed)
    assert str(forbidden) == "HTTP 403: denied by proxy"

"""--web.config.file: TLS (with real certificates made here), client certificates, basic auth."""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import bcrypt
import pytest
from aiohttp import web
from conftest import FakeClock, FakeEngine, inspect_payload, until

from exporter.cli.app import build_app
from exporter.cli.settings import Settings
from exporter.collectors import COLLECTORS
from exporter.web.http import INVENTORY
from exporter.web.webconfig import Authenticator, WebConfigError, load

A = "a" * 64


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(name="pki", scope="module")
def fixture_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for who in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={who}",
                "-keyout", f"{who}.key", "-out", f"{who}.csr", cwd=d)  # fmt: skip
        openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", f"{who}.crt",
                cwd=d)  # fmt: skip
    return d


def write_config(d: Path, body: str) -> str:
    path = d / "web.yml"
    path.write_text(body)
    return str(path)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(user, password)}


HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()


@asynccontextmanager
async def serve(config_path: str) -> AsyncIterator[str]:
    config = load(config_path)
    engine = FakeEngine()
    engine.add(inspect_payload(cid=A, Name="/alpha"))
    app = build_app(
        Settings(collectors=tuple(COLLECTORS)),
        lambda: engine,
        FakeClock(),
        auth=Authenticator(config.users),
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=config.tls)
    await site.start()
    await until(app[INVENTORY], lambda s: s.status.synced)
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    scheme = "https" if config.tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_tls_and_basic_auth(pki: Path) -> None:
    """TLS serves with our certificate; scrapes need the right user and password."""
    path = write_config(
        pki,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        f"basic_auth_users:\n  prometheus: {HASH}\n",
    )
    trust = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    async with serve(path) as base, aiohttp.ClientSession() as session:
        ok = await session.get(base + "/metrics", ssl=trust, headers=basic("prometheus", "s3cret"))
        assert ok.status == 200
        assert "docker_container_info" in await ok.text()
        again = await session.get(
            base + "/metrics", ssl=trust, headers=basic("prometheus", "s3cret")
        )
        assert again.status == 200  # served from the verified-credential cache
        for headers in ({}, basic("prometheus", "wrong"), basic("x", "s3cret")):
            denied = await session.get(base + "/inventory", ssl=trust, headers=headers)
            assert denied.status == 401
            assert denied.headers["WWW-Authenticate"].startswith("Basic")
        health = await session.get(base + "/-/healthy", ssl=trust)
        assert health.status == 200  # liveness stays open for HEALTHCHECK
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(base + "/metrics")  # system CAs do not trust our test CA
        with pytest.raises(aiohttp.ClientError):
            await session.get(base.replace("https", "http") + "/metrics")


async def test_client_certificates_are_required(pki: Path) -> None:
    path = write_config(
        pki,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n",
    )
    with_cert = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    with_cert.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    without = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    async with serve(path) as base:
        async with aiohttp.ClientSession() as session:
            assert (await session.get(base + "/metrics", ssl=with_cert)).status == 200
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientError):
                await (await session.get(base + "/metrics", ssl=without)).read()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n", "does not exist"),
        ("basic_auth_users:\n  bob: plaintext\n", "bcrypt"),
        (
            "tls_server_config: {cert_file: server.crt, key_file: server.key,"
            " client_auth_type: Maybe}\n",
            "client_auth_type",
        ),
        ("nonsense: 1\n", "unsupported keys"),
        ("a: [\n", "invalid YAML"),
    ],
)
def test_bad_config_is_one_clear_error(pki: Path, body: str, message: str) -> None:
    with pytest.raises(WebConfigError, match=message):
        load(write_config(pki, body))


def test_bad_config_exits_2_with_one_line(pki: Path) -> None:
    path = write_config(pki, "basic_auth_users:\n  bob: plaintext\n")
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--web.config.file", path],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "bcrypt" in result.stderr

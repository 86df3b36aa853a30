"""--web.config.file: TLS (with real certificates made here), client certificates, basic auth."""

from __future__ import annotations

import asyncio
import shutil
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


def issue(pki: Path, who: str, out: Path | None = None) -> None:
    """A key and a certificate for 127.0.0.1 signed by the test CA, as <who>.key/.crt."""
    d = out or pki
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={who}",
            "-keyout", f"{d}/{who}.key", "-out", f"{d}/{who}.csr", cwd=pki)  # fmt: skip
    openssl("x509", "-req", "-in", f"{d}/{who}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", f"{d}/{who}.crt",
            cwd=pki)  # fmt: skip


@pytest.fixture(name="pki", scope="module")
def fixture_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for who in ("server", "client"):
        issue(d, who)
    return d


def write_config(d: Path, body: str) -> str:
    path = d / "web.yml"
    path.write_text(body)
    return str(path)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(user, password)}


TLS = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
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
        headers=config.headers,
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
        (TLS + "  min_version: TLS9\n", "min_version: unknown TLS version 'TLS9'"),
        (TLS + "  max_version: SSL3\n", "max_version: unknown TLS version 'SSL3'"),
        (TLS + "  min_version: TLS13\n  max_version: TLS12\n", "min_version is above"),
        (TLS + "  client_auth_type: RequireAnyClientCert\n  client_ca_file: ca.crt\n",
         "RequireAnyClientCert .* cannot be served"),
        (TLS + "  client_auth_type: RequestClientCert\n", "RequestClientCert .* cannot be served"),
        (TLS + "  client_ca_file: ca.crt\n", "client_ca_file is set without a client_auth_type"),
        (TLS + "  client_auth_type: VerifyClientCertIfGiven\n", "needs client_ca_file"),
        (TLS + "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", "unsupported keys"),
        ("http_server_config:\n  http2: true\n", "HTTP/2 is not served"),
        ("http_server_config:\n  headers:\n    Server: x\n", "'Server' can not be configured"),
        ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", "deny, sameorigin"),
        ("http_server_config:\n  rate_limit: 1\n", "unsupported keys"),
    ],
)  # fmt: skip
def test_bad_config_is_one_clear_error(pki: Path, body: str, message: str) -> None:
    """What exporter-toolkit rejects is rejected; what Python's ssl cannot do as Go does
    is refused, never served with another meaning."""
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


def test_http2_false_is_what_is_served(pki: Path) -> None:
    assert load(write_config(pki, "http_server_config:\n  http2: false\n")).headers == {}


async def test_response_headers_from_http_server_config(pki: Path) -> None:
    path = write_config(
        pki,
        TLS + "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
        "    Strict-Transport-Security: max-age=600\n"
        f"basic_auth_users:\n  prometheus: {HASH}\n",
    )
    trust = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    async with serve(path) as base, aiohttp.ClientSession() as session:
        for url, headers, status in (
            ("/metrics", basic("prometheus", "s3cret"), 200),
            ("/metrics", {}, 401),
            ("/-/healthy", {}, 200),
        ):
            response = await session.get(base + url, ssl=trust, headers=headers)
            assert response.status == status
            assert response.headers["X-Frame-Options"] == "deny"
            assert response.headers["Strict-Transport-Security"] == "max-age=600"


async def peer_name(base: str, context: ssl.SSLContext, sni: str | None = None) -> str:
    """The common name of the certificate the server presents on a new connection (by
    IP address: no SNI, unless `sni` names the server)."""
    host, port = base.removeprefix("https://").split(":")
    reader, writer = await asyncio.open_connection(
        host, int(port), ssl=context, server_hostname=sni
    )
    try:
        cert = writer.get_extra_info("peercert")
        return dict(item[0] for item in cert["subject"])["commonName"]  # type: ignore[no-any-return]
    finally:
        writer.close()
        await writer.wait_closed()
        del reader


async def test_a_rotated_certificate_is_served_from_the_next_handshake(
    pki: Path, tmp_path: Path
) -> None:
    """cert-manager and certbot rewrite the files in place; the toolkit reloads them per
    connection, and so does this exporter once they changed."""
    issue(pki, "first", tmp_path)
    issue(pki, "second", tmp_path)
    for suffix in ("crt", "key"):
        shutil.copy(tmp_path / f"first.{suffix}", tmp_path / f"server.{suffix}")
    path = write_config(tmp_path, TLS)
    trust = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    async with serve(path) as base:
        assert await peer_name(base, trust) == "first"
        for suffix in ("crt", "key"):
            shutil.copy(tmp_path / f"second.{suffix}", tmp_path / f"server.{suffix}")
        assert await peer_name(base, trust) == "second"
        assert await peer_name(base, trust, sni="localhost") == "second"  # with SNI too
        (tmp_path / "server.key").write_text("half written")
        assert await peer_name(base, trust) == "second"  # a broken pair keeps the last good one
        async with aiohttp.ClientSession() as session:
            assert (await session.get(base + "/metrics", ssl=trust)).status == 200


async def test_tls_versions_are_enforced(pki: Path) -> None:
    path = write_config(pki, TLS + "  min_version: TLS13\n")
    old = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    new = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    async with serve(path) as base:
        assert await peer_name(base, new) == "server"
        with pytest.raises(OSError):  # an SSL alert, or the server closing the handshake
            await peer_name(base, old)


async def test_a_client_certificate_is_verified_if_given(pki: Path, tmp_path: Path) -> None:
    """VerifyClientCertIfGiven: no certificate passes, one from the CA passes, a
    self-signed one is refused."""
    path = write_config(
        pki, TLS + "  client_ca_file: ca.crt\n  client_auth_type: VerifyClientCertIfGiven\n"
    )
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=rogue",
            "-keyout", "rogue.key", "-out", "rogue.crt", cwd=tmp_path)  # fmt: skip
    contexts = {}
    for name, cert in (("none", None), ("ours", pki / "client"), ("rogue", tmp_path / "rogue")):
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        if cert is not None:
            ctx.load_cert_chain(f"{cert}.crt", f"{cert}.key")
        contexts[name] = ctx
    async with serve(path) as base:
        for name, expected in (("none", 200), ("ours", 200)):
            async with aiohttp.ClientSession() as session:
                response = await session.get(base + "/metrics", ssl=contexts[name])
                assert response.status == expected, name
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientError):
                await (await session.get(base + "/metrics", ssl=contexts["rogue"])).read()

"""--web.config.file: TLS (with real certificates made here), client certificates, basic auth."""

from __future__ import annotations

import asyncio
import re
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
from conftest import FakeClock, FakeEngine, inspect_payload, skip_not_applicable, until

from exporter.cli.app import build_app
from exporter.cli.settings import Settings
from exporter.collectors import COLLECTORS
from exporter.web.http import INVENTORY
from exporter.web.webconfig import (
    TLS12_CIPHERS,
    Authenticator,
    RateLimit,
    TokenBucket,
    WebConfigError,
    client_sans,
    load,
)

A = "a" * 64


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def issue(pki: Path, who: str, out: Path | None = None, san: str | None = None) -> None:
    """A key and a certificate signed by the test CA, as <who>.key/.crt: for 127.0.0.1 and
    localhost, or for the subjectAltName `san` (openssl's syntax: DNS:x,IP:y,URI:z)."""
    d = out or pki
    ext = "san.ext"
    if san is not None:
        ext = f"{d}/{who}.ext"
        Path(ext).write_text(f"subjectAltName={san}\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={who}",
            "-keyout", f"{d}/{who}.key", "-out", f"{d}/{who}.csr", cwd=pki)  # fmt: skip
    openssl("x509", "-req", "-in", f"{d}/{who}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", f"{d}/{who}.crt",
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
async def serve(config_path: str, clock: FakeClock | None = None) -> AsyncIterator[str]:
    config = load(config_path)
    engine = FakeEngine()
    engine.add(inspect_payload(cid=A, Name="/alpha"))
    app = build_app(
        Settings(collectors=tuple(COLLECTORS)),
        lambda: engine,
        clock or FakeClock(),
        auth=Authenticator(config.users),
        headers=config.headers,
        rate_limit=config.rate_limit,
        allowed_sans=config.allowed_sans,
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
        (TLS + "  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n",
         "cipher_suites: unknown cipher: TLS_RSA_WITH_RC4_128_SHA"),
        (TLS + "  cipher_suites: TLS_AES_128_GCM_SHA256\n", "cipher_suites: expected a list"),
        (TLS + "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  max_version: TLS12\n",
         "TLS 1.3 suites only, and max_version allows no TLS 1.3"),
        (TLS + "  curve_preferences: [CurveP224]\n", "unknown curve: CurveP224"),
        (TLS + "  prefer_server_cipher_suites: sometimes\n", "true or false"),
        (TLS + "  no_such_key: 1\n", r"tls_server_config: unsupported keys \['no_such_key'\]"),
        (TLS + "  cert: x\n", "give one of cert or cert_file, not both"),
        ("tls_server_config:\n  cert: not pem\n  key_file: server.key\n", "expected PEM text"),
        ("tls_server_config:\n  min_version: TLS12\n", "missing one of cert or cert_file"),
        ("tls_server_config:\n  cert_file: server.crt\n", "missing one of key or key_file"),
        (TLS + "  client_ca: x\n  client_ca_file: ca.crt\n"
         "  client_auth_type: RequireAndVerifyClientCert\n",
         "give one of client_ca or client_ca_file"),
        (TLS + "  client_ca: |\n    -----BEGIN CERTIFICATE-----\n    junk\n"
         "  client_auth_type: RequireAndVerifyClientCert\n", "cannot load certificate, key or"),
        (TLS + "  client_ca_file: ca.crt\n  client_auth_type: VerifyClientCertIfGiven\n"
         "  client_allowed_sans: [a]\n", "client_allowed_sans requires client_auth_type"),
        (TLS + "  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n"
         "  client_allowed_sans: []\n", "client_allowed_sans is empty"),
        ("rate_limit:\n  interval: 1s\n  burst: 0\n", "burst: 0 would refuse every request"),
        ("rate_limit:\n  interval: 5\n  burst: 1\n", "interval: 5 is not a duration"),
        ("rate_limit:\n  interval: soon\n  burst: 1\n", "interval: 'soon' is not a duration"),
        ("rate_limit:\n  interval: -1s\n  burst: 1\n", "is not a duration"),
        ("rate_limit:\n  interval: 1s\n  burst: many\n", "burst: 'many' is not a whole number"),
        ("rate_limit:\n  interval: 1s\n  bucket: 1\n", r"unsupported keys \['bucket'\]"),
        ("rate_limit: 10\n", "rate_limit: expected a mapping"),
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


# -- exporter-toolkit 0.17 keys -------------------------------------------------------------


def test_rate_limit_parsing(pki: Path) -> None:
    """Go durations; `interval: 0` (or none) means no limiter, as in the toolkit."""
    for interval, seconds in (("1s", 1.0), ("100ms", 0.1), ("1m30s", 90.0), ("1.5h", 5400.0)):
        config = load(write_config(pki, f"rate_limit:\n  interval: {interval}\n  burst: 3\n"))
        assert config.rate_limit == RateLimit(seconds, 3), interval
    for body in ("rate_limit:\n  interval: 0\n  burst: 3\n", "rate_limit:\n  burst: 3\n",
                 "rate_limit: {}\n", 'rate_limit:\n  interval: "0"\n'):  # fmt: skip
        assert load(write_config(pki, body)).rate_limit is None, body


def test_token_bucket_refills_on_its_clock() -> None:
    """Full at start, one token per interval, never more than the burst (rate.Limiter)."""
    now = [100.0]
    bucket = TokenBucket(RateLimit(interval=2.0, burst=3), lambda: now[0])
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after() == 2
    now[0] += 1.0  # half a token
    assert not bucket.allow()
    assert bucket.retry_after() == 1
    now[0] += 1.0
    assert bucket.allow()
    assert not bucket.allow()
    now[0] += 3600.0  # an idle hour refills to the burst only
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]


async def test_rate_limit_answers_429_before_auth_and_recovers(pki: Path) -> None:
    """One bucket for every request, spent before basic auth (a wrong password costs a
    token too), 429 with Retry-After when empty, /-/healthy exempt; a token comes back
    after an interval on the app's clock."""
    path = write_config(
        pki,
        TLS + f"rate_limit:\n  interval: 1m\n  burst: 2\nbasic_auth_users:\n  prometheus: {HASH}\n",
    )
    clock = FakeClock()
    trust = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    good = basic("prometheus", "s3cret")
    async with serve(path, clock) as base, aiohttp.ClientSession() as session:
        retry_after: list[str] = []

        async def status(url: str = "/metrics", headers: dict[str, str] = good) -> int:
            async with session.get(base + url, ssl=trust, headers=headers) as response:
                if response.status == 429:
                    retry_after.append(response.headers["Retry-After"])
                return response.status

        assert await status(headers=basic("prometheus", "wrong")) == 401
        assert await status() == 200
        assert await status() == 429
        assert await status(headers={}) == 429  # before auth: no 401 once empty
        assert await status("/-/healthy", {}) == 200  # exempt: container health checks
        await clock.advance(59)
        assert await status() == 429
        assert retry_after == ["60", "60", "1"]
        await clock.advance(1)
        assert await status() == 200
        assert await status() == 429


def pem_block(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.splitlines())


async def test_inline_cert_key_and_client_ca(pki: Path, tmp_path: Path) -> None:
    """`cert`, `key` and `client_ca` as PEM text in the file (no file paths at all)."""
    body = (
        "tls_server_config:\n"
        f"  cert: |\n{pem_block((pki / 'server.crt').read_text())}"
        f"  key: |\n{pem_block((pki / 'server.key').read_text())}"
        f"  client_ca: |\n{pem_block((pki / 'ca.crt').read_text())}"
        "  client_auth_type: RequireAndVerifyClientCert\n"
    )
    path = write_config(tmp_path, body)  # elsewhere than the PEM files: nothing to resolve
    with_cert = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    with_cert.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    without = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    async with serve(path) as base:
        assert await peer_name(base, with_cert) == "server"
        async with aiohttp.ClientSession() as session:
            assert (await session.get(base + "/metrics", ssl=with_cert)).status == 200
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientError):
                await (await session.get(base + "/metrics", ssl=without)).read()


async def test_client_allowed_sans(pki: Path, tmp_path: Path) -> None:
    """A verified client certificate must name one of client_allowed_sans (DNS, e-mail,
    IP as Go prints it, URI); another certificate from the same CA is refused."""
    issue(pki, "scraper", tmp_path, san="DNS:scraper.example,IP:2001:db8:0:0:0:0:0:7")
    issue(pki, "intruder", tmp_path, san="DNS:intruder.example,email:x@example.com")
    issue(pki, "byip", tmp_path, san="IP:2001:db8::7")
    body = (
        TLS + "  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n"
        "  client_allowed_sans: [prometheus.example, 2001:db8::7]\n"
    )
    path = write_config(pki, body)
    assert load(path).allowed_sans == {"prometheus.example", "2001:db8::7"}
    async with serve(path) as base:
        for who, expected in (("scraper", 200), ("byip", 200), ("intruder", 403)):
            ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
            ctx.load_cert_chain(str(tmp_path / f"{who}.crt"), str(tmp_path / f"{who}.key"))
            async with aiohttp.ClientSession() as session:
                for url in ("/metrics", "/-/healthy"):  # the toolkit refuses the connection
                    async with session.get(base + url, ssl=ctx) as response:
                        assert response.status == expected, (who, url)
    # the SAN spellings: what Go's x509 gives, compared as strings
    cert = {"subjectAltName": (("DNS", "a.example"), ("IP Address", "2001:DB8:0:0:0:0:0:7"),
                               ("email", "x@example.com"), ("URI", "spiffe://x/y"),
                               ("IP Address", "10.0.0.7"))}  # fmt: skip
    assert client_sans(cert) == {
        "a.example", "2001:db8::7", "x@example.com", "spiffe://x/y", "10.0.0.7"
    }  # fmt: skip
    assert client_sans(None) == set()


async def s_client(base: str, *args: str) -> tuple[int, str]:
    """`openssl s_client` against the server: its exit code and output (the handshake
    only: stdin is closed)."""
    host, port = base.removeprefix("https://").split(":")
    process = await asyncio.create_subprocess_exec(
        "openssl", "s_client", "-connect", f"{host}:{port}", *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace")


def negotiated(output: str) -> str:
    match = re.search(r"Cipher is (\S+)", output)
    return match.group(1) if match else ""


async def test_cipher_suites_restrict_tls12(pki: Path) -> None:
    """Go's names, OpenSSL underneath: a TLS 1.2 client offering only a suite not listed
    fails; a listed one is chosen; TLS 1.3 suites are named in a warning and TLS 1.3 keeps
    every suite (as in Go)."""
    path = write_config(
        pki,
        TLS + "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
        " TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, TLS_AES_128_GCM_SHA256]\n",
    )
    config = load(path)
    [warning] = config.warnings
    assert "cipher_suites: TLS_AES_128_GCM_SHA256 ignored: TLS 1.3 suites are not" in warning
    async with serve(path) as base:
        code, out = await s_client(base, "-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384")
        assert code != 0, out
        assert negotiated(out) in ("", "(NONE)"), out
        code, out = await s_client(base, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
        assert code == 0, out
        assert negotiated(out) == "ECDHE-RSA-AES128-GCM-SHA256"
        code, out = await s_client(base, "-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384")
        assert code == 0, out
        assert negotiated(out) == "TLS_AES_256_GCM_SHA384"


@pytest.mark.parametrize(("prefer", "chosen"), [
    ("true", "ECDHE-RSA-AES128-GCM-SHA256"),  # the server's first
    ("false", "ECDHE-RSA-AES256-GCM-SHA384"),  # the client's first
])  # fmt: skip
async def test_prefer_server_cipher_suites(pki: Path, prefer: str, chosen: str) -> None:
    path = write_config(
        pki,
        TLS + "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
        " TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\n"
        f"  prefer_server_cipher_suites: {prefer}\n",
    )
    async with serve(path) as base:
        code, out = await s_client(
            base, "-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"
        )
        assert code == 0, out
        assert negotiated(out) == chosen


async def test_only_tls13_suites_leave_no_tls12(pki: Path) -> None:
    """Go has no TLS 1.2 cipher left then; here min_version becomes TLS13, said once."""
    path = write_config(pki, TLS + "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n")
    assert any("so min_version is TLS13" in w for w in load(path).warnings)
    async with serve(path) as base:
        assert (await s_client(base, "-tls1_2"))[0] != 0
        assert (await s_client(base, "-tls1_3"))[0] == 0


async def test_curve_preferences_offer_the_first_curve(pki: Path) -> None:
    """Python's ssl sets one curve: the first listed is offered, the rest named in a
    warning; a client with only another curve fails (never a curve that was not listed)."""
    path = write_config(pki, TLS + "  curve_preferences: [CurveP384, X25519]\n")
    [warning] = load(path).warnings
    assert "curve_preferences: Python's ssl offers one curve" in warning
    assert "CurveP384 only; X25519 not offered" in warning
    async with serve(path) as base:
        for version in ("-tls1_2", "-tls1_3"):
            code, out = await s_client(base, version, "-groups", "secp384r1")
            assert code == 0, out
            code, out = await s_client(base, version, "-groups", "X25519")
            assert code != 0, out


def test_go_cipher_names_match_openssl() -> None:
    """Every Go name maps to the OpenSSL suite with that IANA name (`-stdname`); a suite
    this OpenSSL lacks (3DES in Debian's) is named in a warning and not offered."""
    for go_name, openssl_name in TLS12_CIPHERS.items():
        result = subprocess.run(
            ["openssl", "ciphers", "-stdname", "-ciphersuites", "", openssl_name],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:  # not built into this OpenSSL
            probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            with pytest.raises(ssl.SSLError):
                probe.set_ciphers(openssl_name)
            continue
        assert result.stdout.split()[0] == go_name, (go_name, result.stdout)


def test_a_suite_missing_from_openssl_is_a_warning(pki: Path) -> None:
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        probe.set_ciphers("DES-CBC3-SHA")
        skip_not_applicable("this OpenSSL has 3DES")
    except ssl.SSLError:
        pass
    both = "[TLS_RSA_WITH_3DES_EDE_CBC_SHA, TLS_RSA_WITH_AES_128_GCM_SHA256]"
    [warning] = load(write_config(pki, TLS + f"  cipher_suites: {both}\n")).warnings
    assert "TLS_RSA_WITH_3DES_EDE_CBC_SHA is not available in this OpenSSL" in warning
    with pytest.raises(WebConfigError, match=r"none of the TLS 1\.2 suites listed is available"):
        load(write_config(pki, TLS + "  cipher_suites: [TLS_RSA_WITH_3DES_EDE_CBC_SHA]\n"))


def test_warnings_are_logged_at_start(pki: Path) -> None:
    """The one line per key that Python's ssl cannot honour reaches the log (stderr)."""
    path = write_config(pki, TLS + "  curve_preferences: [X25519, CurveP256]\n")
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--web.config.file", path,
         "--web.systemd-socket"],  # no socket passed: exits 1 right after the warnings
        capture_output=True, text=True, timeout=30, check=False,
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert [line for line in lines if "curve_preferences" in line] == [
        next(line for line in lines if "X25519 only; CurveP256 not offered" in line)
    ]
    assert "--web.systemd-socket: no socket passed" in lines[-1]

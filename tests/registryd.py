"""Real registries for the tests: Debian's docker-registry (Distribution 2.8) on loopback.

Each Registry runs its own process on a free port with its own config and storage in a
temporary directory; `make_ca` and `server_cert` make a CA and a server certificate with
openssl; `TokenServer` is a Distribution token server (RS256 JWTs signed by openssl).
scripts/testbed installs docker-registry, apache2-utils (htpasswd) and openssl.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from conftest import skip_testbed_limit

BINARY = "docker-registry"


def require_registry_binary() -> None:
    """Skip (fail in CI: scripts/testbed installs them) without the registry tools."""
    missing = [b for b in (BINARY, "htpasswd", "openssl") if shutil.which(b) is None]
    if missing:
        skip_testbed_limit(f"{', '.join(missing)} not installed (run scripts/testbed)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        list(args), input=stdin, capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def make_ca(folder: Path) -> tuple[Path, Path]:
    """A self-signed CA (cert, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    key, cert = folder / "ca.key", folder / "ca.crt"
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        "-subj", "/CN=dxt test CA", "-keyout", str(key), "-out", str(cert))  # fmt: skip
    return cert, key


def server_cert(folder: Path, ca: tuple[Path, Path], days: int = 20) -> tuple[Path, Path]:
    """A server certificate for 127.0.0.1 signed by `ca` (cert, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    key, csr, cert = folder / "server.key", folder / "server.csr", folder / "server.crt"
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(key), "-out", str(csr))  # fmt: skip
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-days", str(days), "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    return cert, key


def not_after(cert: Path) -> float:
    """The certificate's notAfter, in Unix seconds."""
    import ssl

    text = run("openssl", "x509", "-noout", "-enddate", "-in", str(cert)).strip()
    return float(ssl.cert_time_to_seconds(text.removeprefix("notAfter=")))


def htpasswd(path: Path, user: str, password: str) -> Path:
    path.write_text(run("htpasswd", "-Bbn", user, password))
    return path


class Registry:
    """One docker-registry process; `auth` and `tls` are config sections."""

    def __init__(self, folder: Path, *, auth: dict[str, Any] | None = None,
                 tls: tuple[Path, Path] | None = None) -> None:  # fmt: skip
        self.folder = folder
        self.port = free_port()
        self.name = f"127.0.0.1:{self.port}"
        self.scheme = "https" if tls else "http"
        self.url = f"{self.scheme}://{self.name}"
        http: dict[str, Any] = {"addr": self.name, "secret": uuid.uuid4().hex}
        if tls:
            http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(folder / "data")},
                "delete": {"enabled": True},
            },
            "http": http,
        }
        if auth:
            config["auth"] = auth
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "config.yml"
        self.config.write_text(json.dumps(config))  # JSON is YAML
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "registry.log"

    def start(self) -> Registry:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [BINARY, "serve", str(self.config)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + 20
        while True:  # bounded wait for the port to accept
            if self.process.poll() is not None:
                raise AssertionError(f"registry exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("registry did not listen") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


@contextmanager
def registry(folder: Path, **kwargs: Any) -> Iterator[Registry]:
    reg = Registry(folder, **kwargs).start()
    try:
        yield reg
    finally:
        reg.stop()


MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def read_api(
    url: str, authorization: str = "", cafile: str | None = None, *, accept: bool = False
) -> Any:
    """A registry answer read directly (urllib: another client than the exporter's)."""
    import ssl

    headers = {"Authorization": authorization} if authorization else {}
    if accept:
        headers["Accept"] = MANIFEST_V2
    request = urllib.request.Request(url, headers=headers)
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    with urllib.request.urlopen(request, timeout=10, context=context) as resp:
        return json.loads(resp.read())


def catalog(
    reg: Registry, authorization: str = "", cafile: str | None = None
) -> dict[str, list[str]]:
    """Every repository and its tags, as the registry's API lists them."""
    names = read_api(f"{reg.url}/v2/_catalog?n=1000", authorization, cafile)["repositories"]
    return {
        name: sorted(
            read_api(f"{reg.url}/v2/{name}/tags/list", authorization, cafile)["tags"] or []
        )
        for name in names
    }


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- a token server -----------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """The Distribution token spec's server, in the test process: GET with basic
    credentials (or anonymous: refused) and the OAuth POST (refresh_token and password
    grants). Tokens grant every scope asked for; each token issued is remembered, so a
    test can check that none leaks."""

    SERVICE = "dxt-registry"
    ISSUER = "dxt-token-issuer"

    def __init__(self, folder: Path, user: str, password: str) -> None:
        self.user, self.password = user, password
        self.key = folder / "token.key"
        self.cert = folder / "token.crt"
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=dxt signer", "-keyout", str(self.key), "-out", str(self.cert))  # fmt: skip
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
                             capture_output=True, check=True).stdout  # fmt: skip
        self.x5c = base64.b64encode(der).decode()
        self.port = free_port()
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self.issued: list[str] = []
        self.refresh_tokens: list[str] = []
        self.requests: list[tuple[str, str]] = []  # (method, scope)
        self._runner: web.AppRunner | None = None

    def registry_auth(self) -> dict[str, Any]:
        return {"token": {"realm": self.realm, "service": self.SERVICE, "issuer": self.ISSUER,
                          "rootcertbundle": str(self.cert)}}  # fmt: skip

    async def _sign(self, claims: dict[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        proc = await asyncio.create_subprocess_exec(
            "openssl", "dgst", "-sha256", "-sign", str(self.key),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        signature, _ = await proc.communicate(signing_input.encode())
        token = f"{signing_input}.{_b64(signature)}"
        self.issued.append(token)
        return token

    def _access(self, scopes: list[str]) -> list[dict[str, Any]]:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        return access

    async def _token(self, scopes: list[str], account: str) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": self.ISSUER, "sub": account, "aud": self.SERVICE, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
                  "access": self._access(scopes)}  # fmt: skip
        return {"token": await self._sign(claims), "expires_in": 300}

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "") == basic(self.user, self.password)

    async def handle_get(self, request: web.Request) -> web.Response:
        scopes = request.query.getall("scope", [])
        self.requests.append(("GET", " ".join(scopes)))
        if not self._authorized(request):
            return web.json_response({"details": "unauthorized"}, status=401)
        answer = await self._token(scopes, self.user)
        if request.query.get("offline_token") == "true":  # docker login: an identity token
            refresh = uuid.uuid4().hex
            self.refresh_tokens.append(refresh)
            answer["refresh_token"] = refresh
        return web.json_response(answer)

    async def handle_post(self, request: web.Request) -> web.Response:
        form = await request.post()
        scopes = str(form.get("scope", "")).split()
        self.requests.append(("POST", " ".join(scopes)))
        grant = form.get("grant_type")
        ok = (grant == "refresh_token" and form.get("refresh_token") in self.refresh_tokens) or (
            grant == "password"
            and form.get("username") == self.user
            and form.get("password") == self.password
        )
        if not ok:
            return web.json_response({"error": "invalid_grant"}, status=401)
        answer = await self._token(scopes, self.user)
        return web.json_response({"access_token": answer["token"], "expires_in": 300})

    async def start(self) -> TokenServer:
        app = web.Application()
        app.router.add_get("/token", self.handle_get)
        app.router.add_post("/token", self.handle_post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def secrets(self) -> list[str]:
        return [self.password, *self.issued, *self.refresh_tokens]


def docker_login(config_dir: Path, reg: Registry, user: str, password: str) -> Path:
    """`docker login` with a DOCKER_CONFIG of the test's own (never the user's)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    run("docker", "--config", str(config_dir), "login", "-u", user, "--password-stdin",
        reg.name, stdin=password)  # fmt: skip
    return config_dir / "config.json"


def push(reg: Registry, repository: str, tag: str, config_dir: Path | None = None,
         image: str = "busybox:local") -> str:  # fmt: skip
    """Tag `image` into the registry and push it through the live engine; untagged after."""
    reference = f"{reg.name}/{repository}:{tag}"
    run("docker", "tag", image, reference)
    try:
        config = ["--config", str(config_dir)] if config_dir else []
        run("docker", *config, "push", "-q", reference)
    finally:
        subprocess.run(["docker", "rmi", reference], capture_output=True, check=False)
    return reference


def urlopen_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code

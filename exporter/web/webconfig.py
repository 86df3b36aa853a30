"""`--web.config.file`: TLS and basic auth in the Prometheus exporter-toolkit format.

The same file works for node_exporter and this exporter:

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_ca_file: ca.crt            # optional
      client_auth_type: RequireAndVerifyClientCert
      min_version: TLS12
    http_server_config:
      headers:
        Strict-Transport-Security: max-age=31536000
    basic_auth_users:
      prometheus: $2y$10$...            # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':')

Relative paths are resolved against the file's directory, as the toolkit does. What the
toolkit (web/tls_config.go, web/handler.go) does is done the same here, or refused at
start-up with one line naming why, never changed silently:
  * unknown keys, TLS versions and client auth types are errors (yaml.UnmarshalStrict);
  * `RequestClientCert` and `RequireAnyClientCert` ask for a client certificate without
    verifying it, which Python's ssl module cannot do: refused;
  * a `client_ca_file` without a `client_auth_type` that verifies is an error, as there;
  * `http_server_config.headers` are validated as there and set on every response;
    `http2: true` is refused (aiohttp serves HTTP/1.1), `http2: false` is what it does;
  * the certificate and key are read again when their files change (rotation): the
    toolkit reloads them per connection, here a changed file is loaded at the next
    handshake, and a broken one leaves the last good pair in use (logged).
"""

from __future__ import annotations

import hashlib
import logging
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")
"""Go's modes that take a client certificate without verifying it: Python's ssl verifies
every certificate it asks for, so these are refused rather than made stricter."""
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
TLS_KEYS = frozenset(
    {"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version", "max_version"}
)
EXTRA_HTTP_HEADERS: Mapping[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}
"""The response headers the toolkit lets a web config set, with their allowed values
(empty: any)."""


class WebConfigError(ValueError):
    """The web config file is unreadable or invalid; reported at start-up, exit code 2."""


@dataclass(frozen=True, slots=True)
class WebConfig:
    """TLS context (or None for plain HTTP), basic-auth users (empty: no auth) and the
    extra response headers."""

    tls: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


def _path(base: Path, value: object, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise WebConfigError(f"tls_server_config.{key} must be a file path")
    path = Path(value) if Path(value).is_absolute() else base / value
    if not path.is_file():
        raise WebConfigError(f"tls_server_config.{key}: {path} does not exist")
    return str(path)


def _version(raw: Mapping[str, Any], key: str, default: str) -> ssl.TLSVersion:
    name = raw.get(key, default)
    if not isinstance(name, str) or name not in TLS_VERSIONS:  # fuzzing: a list is unhashable
        choices = ", ".join(TLS_VERSIONS)
        raise WebConfigError(f"tls_server_config.{key}: unknown TLS version {name!r}: {choices}")
    return TLS_VERSIONS[name]


def _tls(base: Path, raw: object) -> ssl.SSLContext:
    if not isinstance(raw, Mapping):  # fuzzing: `tls_server_config: 1` was a TypeError
        raise WebConfigError("tls_server_config: expected a mapping (cert_file, key_file, ...)")
    unknown = set(raw) - TLS_KEYS
    if unknown:
        raise WebConfigError(f"tls_server_config: unsupported keys {sorted(unknown)}")
    auth_type = str(raw.get("client_auth_type") or "NoClientCert")
    if auth_type in UNVERIFIED_CLIENT_AUTH:
        raise WebConfigError(
            f"tls_server_config.client_auth_type: {auth_type} (a client certificate taken"
            " without verification) cannot be served by Python's ssl module; use"
            " VerifyClientCertIfGiven or RequireAndVerifyClientCert with client_ca_file"
        )
    if auth_type not in CLIENT_AUTH:
        choices = ", ".join((*CLIENT_AUTH, *UNVERIFIED_CLIENT_AUTH[:2]))
        raise WebConfigError(f"tls_server_config.client_auth_type: {auth_type!r}: use {choices}")
    if "client_ca_file" in raw and auth_type == "NoClientCert":
        raise WebConfigError(
            "tls_server_config: client_ca_file is set without a client_auth_type (client"
            " CAs configured without a client auth policy)"
        )
    if "client_ca_file" not in raw and auth_type != "NoClientCert":
        raise WebConfigError(f"tls_server_config: {auth_type} needs client_ca_file")
    minimum = _version(raw, "min_version", "TLS12")
    maximum = _version(raw, "max_version", "TLS13")
    if minimum > maximum:
        raise WebConfigError("tls_server_config: min_version is above max_version")
    cert = _path(base, raw.get("cert_file"), "cert_file")
    key = _path(base, raw.get("key_file"), "key_file")
    ca = _path(base, raw["client_ca_file"], "client_ca_file") if "client_ca_file" in raw else None

    def context() -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version, ctx.maximum_version = minimum, maximum
        ctx.load_cert_chain(cert, key)
        ctx.verify_mode = CLIENT_AUTH[auth_type]
        if ca is not None:
            ctx.load_verify_locations(ca)
        return ctx

    try:
        first = context()
    except ssl.SSLError as exc:
        raise WebConfigError(f"tls_server_config: cannot load certificate/key: {exc}") from None
    return _reloading(first, context, (cert, key))


def _stamp(paths: tuple[str, ...]) -> tuple[tuple[int, int, int], ...]:
    """What tells a rewritten file (inode, size, mtime in ns), or () when one is missing."""
    try:
        return tuple(
            (s.st_ino, s.st_size, s.st_mtime_ns) for s in (os.stat(path) for path in paths)
        )
    except OSError:
        return ()


def _reloading(
    first: ssl.SSLContext, make: Callable[[], ssl.SSLContext], files: tuple[str, ...]
) -> ssl.SSLContext:
    """`first`, whose handshakes switch to a context made afresh once the certificate or
    key file changed (two stat calls a handshake; Prometheus keeps its connection)."""
    reloader = _Reloader(first, make, files)
    first.sni_callback = reloader.on_hello  # every ClientHello, with or without SNI
    return first


class _Reloader:
    __slots__ = ("current", "files", "first", "make", "stamp")

    def __init__(
        self, first: ssl.SSLContext, make: Callable[[], ssl.SSLContext], files: tuple[str, ...]
    ) -> None:
        self.first, self.current, self.make, self.files = first, first, make, files
        self.stamp = _stamp(files)

    def on_hello(self, conn: ssl.SSLObject, _name: str, _ctx: ssl.SSLContext) -> None:
        """The handshake's servername callback (the name is None without SNI)."""
        stamp = _stamp(self.files)
        if stamp and stamp != self.stamp:
            try:
                self.current = self.make()
                log.info("web config: certificate reloaded from %s", self.files[0])
            except (ssl.SSLError, OSError) as exc:  # half written: keep the last good one
                log.warning("web config: certificate not reloaded: %s", exc)
            self.stamp = stamp
        if self.current is not self.first:
            conn.context = self.current


def _http(raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise WebConfigError("http_server_config: expected a mapping")
    unknown = set(raw) - {"http2", "headers"}
    if unknown:
        raise WebConfigError(f"http_server_config: unsupported keys {sorted(unknown)}")
    if raw.get("http2") is True:
        raise WebConfigError(
            "http_server_config.http2: HTTP/2 is not served here (aiohttp speaks HTTP/1.1);"
            " set it to false or leave it out"
        )
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        raise WebConfigError("http_server_config.headers: expected a mapping")
    for name, value in headers.items():
        if name not in EXTRA_HTTP_HEADERS:
            raise WebConfigError(f"http_server_config.headers: {name!r} can not be configured")
        allowed = EXTRA_HTTP_HEADERS[name]
        if allowed and value not in allowed:
            raise WebConfigError(
                f"http_server_config.headers.{name}: {value!r}: one of {', '.join(allowed)}"
            )
    return {str(name): str(value) for name, value in headers.items()}


def load(path: str) -> WebConfig:
    """Parse and validate the file; every problem is one WebConfigError line."""
    import yaml  # noqa: PLC0415 - only when a web config is given: keeps the exporter's RSS down

    file = Path(path)
    try:
        doc = yaml.safe_load(file.read_text()) or {}
    except OSError as exc:
        raise WebConfigError(f"--web.config.file: {exc.strerror}: {path}") from None
    except yaml.YAMLError as exc:
        raise WebConfigError(f"--web.config.file: invalid YAML: {exc}".splitlines()[0]) from None
    if not isinstance(doc, dict):
        raise WebConfigError("--web.config.file: expected a mapping at the top level")
    unknown = set(doc) - {"tls_server_config", "basic_auth_users", "http_server_config"}
    if unknown:
        raise WebConfigError(f"--web.config.file: unsupported keys {sorted(unknown)}")
    base = file.parent
    tls = _tls(base, doc["tls_server_config"]) if doc.get("tls_server_config") else None
    headers = _http(doc["http_server_config"]) if doc.get("http_server_config") else {}
    users: dict[str, bytes] = {}
    listed = doc.get("basic_auth_users") or {}
    if not isinstance(listed, dict):
        raise WebConfigError("basic_auth_users: expected a mapping of user: bcrypt hash")
    for user, hashed in listed.items():
        if not isinstance(hashed, str) or not hashed.startswith("$2"):
            raise WebConfigError(f"basic_auth_users.{user}: expected a bcrypt hash ($2y$...)")
        users[str(user)] = hashed.encode()
    return WebConfig(tls, users, headers)


class Authenticator:
    """Checks basic-auth credentials; caches successes, since bcrypt is slow by design."""

    def __init__(self, users: Mapping[str, bytes]) -> None:
        import bcrypt  # noqa: PLC0415 - only with basic auth: keeps the exporter's RSS down

        self._bcrypt = bcrypt
        self._users = dict(users)
        self._verified: set[tuple[str, bytes]] = set()
        self._dummy = bcrypt.hashpw(b"no such user", bcrypt.gensalt(10)) if users else b""

    @property
    def enabled(self) -> bool:
        return bool(self._users)

    def known(self, user: str, password: str) -> bool:
        """A credential verified before: checked without bcrypt, so a scrape stays cheap."""
        return (user, hashlib.sha256(password.encode()).digest()) in self._verified

    def check(self, user: str, password: str) -> bool:
        hashed = self._users.get(user)
        if hashed is None:
            self._bcrypt.checkpw(password.encode(), self._dummy)  # same cost: no user-name oracle
            return False
        key = (user, hashlib.sha256(password.encode()).digest())
        if key in self._verified:
            return True
        try:
            ok = self._bcrypt.checkpw(password.encode(), hashed)
        except ValueError:
            return False
        if ok:
            self._verified.add(key)
        return ok

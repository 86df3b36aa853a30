"""`--web.config.file`: TLS, basic auth and a rate limit (exporter-toolkit format).

The same file works for node_exporter and this exporter (every key of exporter-toolkit
0.17, web/tls_config.go):

    tls_server_config:
      cert_file: server.crt             # or `cert: |` with the PEM text inline
      key_file: server.key              # or `key: |`
      client_ca_file: ca.crt            # or `client_ca: |`; optional
      client_auth_type: RequireAndVerifyClientCert
      client_allowed_sans: [prometheus.example.com]
      min_version: TLS12
      cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
      curve_preferences: [X25519]
    http_server_config:
      headers:
        Strict-Transport-Security: max-age=31536000
    rate_limit:
      interval: 100ms                   # one request per interval, on average
      burst: 20                         # at most this many at once
    basic_auth_users:
      prometheus: $2y$10$...            # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':')

Relative paths are resolved against the file's directory, as the toolkit does. What the
toolkit (web/tls_config.go, web/handler.go) does is done the same here, or refused at
start-up with one line naming why, or, where Python's ssl offers less, done as closely as
it allows with one warning naming the key -- never changed silently:
  * unknown keys, TLS versions, client auth types, cipher suites and curves are errors
    (yaml.UnmarshalStrict);
  * `RequestClientCert` and `RequireAnyClientCert` ask for a client certificate without
    verifying it, which Python's ssl module cannot do: refused;
  * a client CA without a `client_auth_type` that verifies is an error, as there; an
    inline value and a file for the same thing (`cert` and `cert_file`) is an error here
    (the toolkit silently takes the file);
  * `client_allowed_sans` needs RequireAndVerifyClientCert, as there; the toolkit checks
    the SANs in the handshake, Python's ssl has no hook for that, so a client whose
    certificate names none of them gets 403 on every request instead;
  * `cipher_suites` take Go's names and restrict TLS 1.2 (OpenSSL names underneath); TLS
    1.3 suites are not configurable, in Go's crypto/tls as in Python's ssl: listed ones
    are ignored with a warning; a list of TLS 1.3 suites only leaves TLS 1.2 without a
    cipher in Go, so here it raises min_version to TLS13;
  * `curve_preferences`: Python's ssl sets one curve (SSLContext.set_ecdh_curve), so the
    first listed is the only one offered and the others are named in a warning;
  * `prefer_server_cipher_suites` (default true) is honoured; Go ignores it since 1.17;
  * `rate_limit`: one token bucket for every request but /-/healthy, checked before
    basic auth, 429 when empty; `interval: 0` (or no rate_limit) means no limit, as
    there; a burst below 1 would refuse everything and is an error here;
  * `http_server_config.headers` are validated as there and set on every response;
    `http2: true` is refused (aiohttp serves HTTP/1.1), `http2: false` is what it does;
  * the certificate and key are read again when their files change (rotation): the
    toolkit reloads them per connection, here a changed file is loaded at the next
    handshake, and a broken one leaves the last good pair in use (logged). Inline PEM
    changes with the file only, at a restart.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import os
import re
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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
    {
        "cert",
        "key",
        "client_ca",
        "cert_file",
        "key_file",
        "client_ca_file",
        "client_auth_type",
        "client_allowed_sans",
        "min_version",
        "max_version",
        "cipher_suites",
        "curve_preferences",
        "prefer_server_cipher_suites",
    }
)
"""The toolkit's TLSConfig struct tags (web/tls_config.go)."""
ENABLING_KEYS = ("cert", "key", "client_ca", "cert_file", "key_file", "client_ca_file")
"""The keys whose presence turns TLS on (the toolkit's TLSConfig.IsEnabled, with
client_auth_type, which needs a CA here anyway)."""
TLS12_CIPHERS: Mapping[str, str] = {
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
"""Go's crypto/tls CipherSuites() names (what the toolkit accepts) for TLS 1.0-1.2, to
OpenSSL's names (`openssl ciphers -stdname` lists both; a test checks every pair)."""
TLS13_CIPHERS = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
"""Accepted by the toolkit, configurable neither in Go's crypto/tls nor in Python's ssl."""
CURVES: Mapping[str, str] = {
    "CurveP256": "prime256v1",
    "CurveP384": "secp384r1",
    "CurveP521": "secp521r1",
    "X25519": "X25519",
}
"""The toolkit's curve names to OpenSSL's."""
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
class RateLimit:
    """`rate_limit`: a bucket of `burst` tokens, refilled with one every `interval` seconds
    (golang.org/x/time/rate's Limiter, as the toolkit builds it)."""

    interval: float
    burst: int


@dataclass(frozen=True, slots=True)
class WebConfig:
    """TLS context (or None for plain HTTP), basic-auth users (empty: no auth), the extra
    response headers, the rate limit, the client certificate SANs allowed (empty: any
    verified certificate) and the warnings to log once logging is set up."""

    tls: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    rate_limit: RateLimit | None = None
    allowed_sans: frozenset[str] = frozenset()
    warnings: tuple[str, ...] = ()


class TokenBucket:
    """One bucket for all requests (the toolkit's rate.Limiter.Allow): full at start,
    `burst` tokens at most, one more every `interval`; `monotonic` is injectable."""

    __slots__ = ("_last", "_monotonic", "_tokens", "burst", "interval")

    def __init__(self, limit: RateLimit, monotonic: Callable[[], float]) -> None:
        self.interval, self.burst = limit.interval, limit.burst
        self._monotonic = monotonic
        self._tokens = float(limit.burst)
        self._last = monotonic()

    def _refill(self) -> float:
        now = self._monotonic()
        elapsed = max(0.0, now - self._last)
        self._tokens = min(float(self.burst), self._tokens + elapsed / self.interval)
        self._last = now
        return self._tokens

    def allow(self) -> bool:
        """Take a token if there is one."""
        if self._refill() >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def retry_after(self) -> int:
        """Whole seconds until the next token (a Retry-After header), at least 1."""
        missing = 1.0 - self._refill()
        return max(1, math.ceil(missing * self.interval - 1e-6))  # no 2 for 1.0000001


def client_sans(peercert: Mapping[str, Any] | None) -> set[str]:
    """The SAN values of a verified peer certificate (ssl's getpeercert()), spelled as
    Go's x509 spells them: DNS names, e-mail addresses, IP addresses (compressed) and URIs."""
    values: set[str] = set()
    for kind, value in (peercert or {}).get("subjectAltName", ()):
        if kind in ("DNS", "email", "URI"):
            values.add(value)
        elif kind == "IP Address":
            try:
                values.add(str(ipaddress.ip_address(value.strip())))
            except ValueError:
                values.add(value)
    return values


_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
             "h": 3600.0}  # fmt: skip


def _go_duration(value: object, key: str) -> float:
    """A Go duration (`1s`, `100ms`, `1m30s`, `0`) in seconds; a bare number other than 0
    (nanoseconds to Go's YAML decoder) is refused as surely meant otherwise."""
    if value in (0, "0") and not isinstance(value, bool):
        return 0.0
    if isinstance(value, str) and re.fullmatch(f"(?:{_GO_DURATION.pattern})+", value):
        return sum(float(n) * _GO_UNITS[unit] for n, unit in _GO_DURATION.findall(value))
    raise WebConfigError(f"{key}: {value!r} is not a duration: use e.g. 1s or 100ms")


def _rate_limit(raw: object) -> RateLimit | None:
    if not isinstance(raw, Mapping):
        raise WebConfigError("rate_limit: expected a mapping (interval, burst)")
    unknown = set(raw) - {"interval", "burst"}
    if unknown:
        raise WebConfigError(f"rate_limit: unsupported keys {sorted(unknown, key=str)}")
    interval = _go_duration(raw.get("interval", 0), "rate_limit.interval")
    burst = raw.get("burst", 0)
    if not isinstance(burst, int) or isinstance(burst, bool):
        raise WebConfigError(f"rate_limit.burst: {burst!r} is not a whole number")
    if interval == 0:
        return None  # the toolkit's limiter only exists with an interval
    if burst < 1:
        raise WebConfigError(
            f"rate_limit.burst: {burst} would refuse every request; give at least 1"
        )
    return RateLimit(interval, burst)


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


@dataclass(frozen=True, slots=True)
class _Pem:
    """A certificate, key or CA bundle: a file (reloaded when it changes) or inline text."""

    file: str | None = None
    text: str | None = None


def _pem(base: Path, raw: Mapping[str, Any], inline: str, file: str) -> _Pem | None:
    if inline in raw and file in raw:
        raise WebConfigError(f"tls_server_config: give one of {inline} or {file}, not both")
    if file in raw:
        return _Pem(file=_path(base, raw[file], file))
    if inline in raw:
        text = raw[inline]
        if not isinstance(text, str) or "-----BEGIN" not in text:
            raise WebConfigError(f"tls_server_config.{inline}: expected PEM text (-----BEGIN ...)")
        return _Pem(text=text)
    return None


@contextmanager
def _pem_path(pem: _Pem) -> Iterator[str]:
    """A path to read `pem` from: Python's ssl loads a certificate chain from a path only,
    so inline PEM goes to an anonymous memory file (never on disk) named by /proc."""
    if pem.file is not None:
        yield pem.file
        return
    fd = os.memfd_create("web-config-pem", os.MFD_CLOEXEC)
    try:
        data = (pem.text or "").encode()
        while data:
            data = data[os.write(fd, data) :]
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _strings(raw: Mapping[str, Any], key: str) -> list[str]:
    listed = raw.get(key)
    if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
        raise WebConfigError(f"tls_server_config.{key}: expected a list of names")
    return listed


def _ciphers(raw: Mapping[str, Any], warnings: list[str]) -> tuple[list[str], bool]:
    """`cipher_suites` to OpenSSL's TLS 1.2 names, and whether only TLS 1.3 suites were
    listed (TLS 1.2 then has no cipher left, as in Go)."""
    if "cipher_suites" not in raw:
        return [], False
    names = _strings(raw, "cipher_suites")
    for name in names:
        if name not in TLS12_CIPHERS and name not in TLS13_CIPHERS:
            raise WebConfigError(f"tls_server_config.cipher_suites: unknown cipher: {name}")
    tls13 = [name for name in names if name in TLS13_CIPHERS]
    if tls13:
        warnings.append(
            f"tls_server_config.cipher_suites: {', '.join(tls13)} ignored: TLS 1.3 suites are"
            " not configurable (in Go's crypto/tls as in Python's ssl); every TLS 1.3 suite"
            " stays enabled"
        )
    wanted = [TLS12_CIPHERS[name] for name in names if name in TLS12_CIPHERS]
    usable = []
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    for name, openssl_name in zip([n for n in names if n in TLS12_CIPHERS], wanted, strict=True):
        try:
            probe.set_ciphers(openssl_name)
        except ssl.SSLError:
            warnings.append(
                f"tls_server_config.cipher_suites: {name} is not available in this OpenSSL"
                f" ({ssl.OPENSSL_VERSION}): not offered"
            )
            continue
        usable.append(openssl_name)
    if wanted and not usable:
        raise WebConfigError(
            "tls_server_config.cipher_suites: none of the TLS 1.2 suites listed is available"
            f" in {ssl.OPENSSL_VERSION}"
        )
    return usable, bool(names) and not wanted


def _curve(raw: Mapping[str, Any], warnings: list[str]) -> str | None:
    if "curve_preferences" not in raw:
        return None
    names = _strings(raw, "curve_preferences")
    for name in names:
        if name not in CURVES:
            raise WebConfigError(f"tls_server_config.curve_preferences: unknown curve: {name}")
    if not names:
        return None
    if len(names) > 1:
        warnings.append(
            "tls_server_config.curve_preferences: Python's ssl offers one curve"
            f" (SSLContext.set_ecdh_curve): {names[0]} only; {', '.join(names[1:])} not offered"
        )
    return CURVES[names[0]]


def _client_auth(raw: Mapping[str, Any]) -> tuple[str, frozenset[str]]:
    """client_auth_type (checked against the CA keys) and client_allowed_sans."""
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
    has_ca = "client_ca_file" in raw or "client_ca" in raw
    if has_ca and auth_type == "NoClientCert":
        raise WebConfigError(
            "tls_server_config: client_ca_file is set without a client_auth_type (client"
            " CAs configured without a client auth policy)"
        )
    if not has_ca and auth_type != "NoClientCert":
        raise WebConfigError(f"tls_server_config: {auth_type} needs client_ca_file or client_ca")
    if "client_allowed_sans" not in raw:
        return auth_type, frozenset()
    if auth_type != "RequireAndVerifyClientCert":
        raise WebConfigError(
            "tls_server_config.client_allowed_sans requires client_auth_type"
            " RequireAndVerifyClientCert"
        )
    sans = frozenset(_strings(raw, "client_allowed_sans"))
    if not sans:
        raise WebConfigError(
            "tls_server_config.client_allowed_sans is empty: no client could connect"
        )
    return auth_type, sans


@dataclass(frozen=True, slots=True)
class _Handshake:
    """What every TLS context made from the config is given (the first and each reload)."""

    cert: _Pem
    key: _Pem
    ca: _Pem | None
    verify_mode: ssl.VerifyMode
    minimum: ssl.TLSVersion
    maximum: ssl.TLSVersion
    ciphers: tuple[str, ...]
    curve: str | None
    prefer_server: bool

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version, ctx.maximum_version = self.minimum, self.maximum
        with _pem_path(self.cert) as cert_path, _pem_path(self.key) as key_path:
            ctx.load_cert_chain(cert_path, key_path)
        ctx.verify_mode = self.verify_mode
        if self.ca is not None:
            ctx.load_verify_locations(cafile=self.ca.file, cadata=self.ca.text)
        if self.ciphers:
            ctx.set_ciphers(":".join(self.ciphers))
        if self.curve is not None:
            ctx.set_ecdh_curve(self.curve)
        if self.prefer_server:
            ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        else:
            ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
        return ctx


def _versions(
    raw: Mapping[str, Any], ciphers: tuple[list[str], bool], warnings: list[str]
) -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    """min_version and max_version, with min raised to TLS13 when cipher_suites lists TLS
    1.3 suites only (Go then has no TLS 1.2 cipher left)."""
    minimum = _version(raw, "min_version", "TLS12")
    maximum = _version(raw, "max_version", "TLS13")
    if minimum > maximum:
        raise WebConfigError("tls_server_config: min_version is above max_version")
    if not ciphers[1]:
        return minimum, maximum
    if maximum < ssl.TLSVersion.TLSv1_3:
        raise WebConfigError(
            "tls_server_config.cipher_suites lists TLS 1.3 suites only, and max_version"
            " allows no TLS 1.3: no cipher could be negotiated"
        )
    if minimum < ssl.TLSVersion.TLSv1_3:
        warnings.append(
            "tls_server_config.cipher_suites lists TLS 1.3 suites only: no TLS 1.2"
            " cipher is left (as in Go), so min_version is TLS13"
        )
    return ssl.TLSVersion.TLSv1_3, maximum


def _tls(base: Path, raw: object, warnings: list[str]) -> tuple[ssl.SSLContext, frozenset[str]]:
    if not isinstance(raw, Mapping):  # fuzzing: `tls_server_config: 1` was a TypeError
        raise WebConfigError("tls_server_config: expected a mapping (cert_file, key_file, ...)")
    unknown = set(raw) - TLS_KEYS
    if unknown:
        raise WebConfigError(f"tls_server_config: unsupported keys {sorted(unknown, key=str)}")
    auth_type, sans = _client_auth(raw)
    prefer = raw.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        raise WebConfigError("tls_server_config.prefer_server_cipher_suites: true or false")
    ciphers = _ciphers(raw, warnings)
    minimum, maximum = _versions(raw, ciphers, warnings)
    curve = _curve(raw, warnings)
    cert = _pem(base, raw, "cert", "cert_file")
    key = _pem(base, raw, "key", "key_file")
    if cert is None:
        raise WebConfigError("tls_server_config: missing one of cert or cert_file")
    if key is None:
        raise WebConfigError("tls_server_config: missing one of key or key_file")
    handshake = _Handshake(
        cert,
        key,
        _pem(base, raw, "client_ca", "client_ca_file"),
        CLIENT_AUTH[auth_type],
        minimum,
        maximum,
        tuple(ciphers[0]),
        curve,
        prefer,
    )
    try:
        first = handshake.context()
    except ssl.SSLError as exc:
        raise WebConfigError(
            f"tls_server_config: cannot load certificate, key or client CA: {exc}"
        ) from None
    files = tuple(pem.file for pem in (cert, key) if pem.file is not None)
    return (_reloading(first, handshake.context, files) if files else first), sans


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
    unknown = set(doc) - {
        "tls_server_config",
        "basic_auth_users",
        "http_server_config",
        "rate_limit",
    }
    if unknown:
        raise WebConfigError(f"--web.config.file: unsupported keys {sorted(unknown, key=str)}")
    base = file.parent
    warnings: list[str] = []
    tls, sans = None, frozenset[str]()
    raw_tls = doc.get("tls_server_config")
    if raw_tls is not None and not isinstance(raw_tls, Mapping):
        raise WebConfigError("tls_server_config: expected a mapping (cert_file, key_file, ...)")
    if raw_tls:
        tls, sans = _tls(base, raw_tls, warnings)
    headers = _http(doc["http_server_config"]) if doc.get("http_server_config") else {}
    limit = _rate_limit(doc["rate_limit"]) if doc.get("rate_limit") is not None else None
    users: dict[str, bytes] = {}
    listed = doc.get("basic_auth_users") or {}
    if not isinstance(listed, dict):
        raise WebConfigError("basic_auth_users: expected a mapping of user: bcrypt hash")
    for user, hashed in listed.items():
        if not isinstance(hashed, str) or not hashed.startswith("$2"):
            raise WebConfigError(f"basic_auth_users.{user}: expected a bcrypt hash ($2y$...)")
        users[str(user)] = hashed.encode()
    return WebConfig(tls, users, headers, limit, sans, tuple(warnings))


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

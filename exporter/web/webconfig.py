"""`--web.config.file`: TLS and basic auth in the Prometheus exporter-toolkit format.

The same file works for node_exporter and this exporter:

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_ca_file: ca.crt            # optional
      client_auth_type: RequireAndVerifyClientCert
      min_version: TLS12
    basic_auth_users:
      prometheus: $2y$10$...            # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':')

Relative paths are resolved against the file's directory, as the toolkit does.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


class WebConfigError(ValueError):
    """The web config file is unreadable or invalid; reported at start-up, exit code 2."""


@dataclass(frozen=True, slots=True)
class WebConfig:
    """TLS context (or None for plain HTTP) and basic-auth users (empty: no auth)."""

    tls: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)


def _path(base: Path, value: object, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise WebConfigError(f"tls_server_config.{key} must be a file path")
    path = Path(value) if Path(value).is_absolute() else base / value
    if not path.is_file():
        raise WebConfigError(f"tls_server_config.{key}: {path} does not exist")
    return str(path)


def _tls(base: Path, raw: object) -> ssl.SSLContext:
    if not isinstance(raw, Mapping):
        raise WebConfigError("tls_server_config: expected a mapping (cert_file, key_file, ...)")
    unknown = set(raw) - {
        "cert_file",
        "key_file",
        "client_ca_file",
        "client_auth_type",
        "min_version",
        "max_version",
    }
    if unknown:
        raise WebConfigError(f"tls_server_config: unsupported keys {sorted(unknown)}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = TLS_VERSIONS.get(
        str(raw.get("min_version", "TLS12")), ssl.TLSVersion.TLSv1_2
    )
    if "max_version" in raw:
        if raw["max_version"] not in TLS_VERSIONS:
            raise WebConfigError(f"tls_server_config.max_version: {raw['max_version']!r}")
        ctx.maximum_version = TLS_VERSIONS[raw["max_version"]]
    try:
        ctx.load_cert_chain(
            _path(base, raw.get("cert_file"), "cert_file"),
            _path(base, raw.get("key_file"), "key_file"),
        )
    except ssl.SSLError as exc:
        raise WebConfigError(f"tls_server_config: cannot load certificate/key: {exc}") from None
    auth_type = str(raw.get("client_auth_type", "NoClientCert"))
    if auth_type not in CLIENT_AUTH:
        choices = ", ".join(CLIENT_AUTH)
        raise WebConfigError(f"tls_server_config.client_auth_type: {auth_type!r}: use {choices}")
    ctx.verify_mode = CLIENT_AUTH[auth_type]
    if "client_ca_file" in raw:
        ctx.load_verify_locations(_path(base, raw["client_ca_file"], "client_ca_file"))
    elif auth_type in ("RequireAndVerifyClientCert", "VerifyClientCertIfGiven"):
        raise WebConfigError(f"tls_server_config: {auth_type} needs client_ca_file")
    return ctx


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
    users: dict[str, bytes] = {}
    listed = doc.get("basic_auth_users") or {}
    if not isinstance(listed, dict):
        raise WebConfigError("basic_auth_users: expected a mapping of user: bcrypt hash")
    for user, hashed in listed.items():
        if not isinstance(hashed, str) or not hashed.startswith("$2"):
            raise WebConfigError(f"basic_auth_users.{user}: expected a bcrypt hash ($2y$...)")
        users[str(user)] = hashed.encode()
    return WebConfig(tls, users)


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

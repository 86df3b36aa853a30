"""Which registries to watch and how to reach them, checked once at start-up.

From `--registry.url` (repeatable), credentials from `--registry.config.file` (YAML, per
registry) or else from the `auths` of `--registry.docker-config` (what `docker login`
writes), and TLS trust as Docker itself reads it from `<certs dir>/<host:port>/`: `*.crt`
are CA roots, each `*.cert` a client certificate with the `*.key` of the same stem.

    registries:
      "registry.example:5000":
        username: exporter
        password_file: /run/secrets/registry-password
        ca_file: /etc/ssl/registry-ca.pem
        cert_file: client.pem            # relative paths: against this file's directory
        key_file: client-key.pem
        insecure_skip_verify: false
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from exporter.options import option, repeated
from exporter.registry.auth import AuthError, Credentials, parse_docker_config, registry_key

KEYS = frozenset(
    {"username", "password_file", "ca_file", "cert_file", "key_file", "insecure_skip_verify"}
)


class RegistryConfigError(ValueError):
    """A registry flag or file that cannot be used: one line at start-up, exit code 2."""


@dataclass(frozen=True, slots=True)
class RegistryTarget:
    """One registry to poll: its name (host:port, the `registry` label), base URL,
    credentials (never shown: repr hides them) and TLS context (None for http)."""

    name: str
    url: str
    credentials: Credentials | None = field(default=None, repr=False)
    tls: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    verified: bool = True
    """False with insecure_skip_verify: no certificate expiry is read then."""


def parse_registry_url(text: str) -> tuple[str, str]:
    """`http(s)://host[:port]` to (name, base URL); userinfo and paths are refused (a
    password in a flag would show in `ps` and logs)."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RegistryConfigError(f"invalid registry URL {text!r}: use http(s)://host[:port]")
    if parts.username is not None or parts.password is not None:
        raise RegistryConfigError(
            "invalid registry URL: no credentials in the URL (use --registry.config.file or "
            "--registry.docker-config)"
        )
    if parts.path not in ("", "/", "/v2", "/v2/") or parts.query or parts.fragment:
        raise RegistryConfigError(f"invalid registry URL {text!r}: no path, query or fragment")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise RegistryConfigError(f"invalid registry URL {text!r}: bad port") from None
    name = registry_key(parts.netloc)
    return name, f"{parts.scheme}://{parts.netloc.lower()}"


def _file(base: Path, value: object, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise RegistryConfigError(f"{where} must be a file path")
    path = Path(value) if Path(value).is_absolute() else base / value
    if not path.is_file():
        raise RegistryConfigError(f"{where}: {path} does not exist")
    return path


@dataclass(frozen=True, slots=True)
class _Entry:
    credentials: Credentials | None = None
    ca_files: tuple[Path, ...] = ()
    client_cert: tuple[Path, Path] | None = None
    insecure: bool = False


def load_config_file(path: str) -> dict[str, _Entry]:
    """The YAML file's registries, by host:port."""
    file = Path(path)
    try:
        doc = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise RegistryConfigError(f"--registry.config.file: {exc.strerror}: {path}") from None
    except yaml.YAMLError as exc:
        raise RegistryConfigError(f"--registry.config.file: not YAML: {exc}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict) or set(doc) - {"registries"}:
        raise RegistryConfigError("--registry.config.file: expected one key, registries")
    registries = doc.get("registries") or {}
    if not isinstance(registries, dict):
        raise RegistryConfigError("--registry.config.file: registries must be a mapping")
    out: dict[str, _Entry] = {}
    for key, raw in registries.items():
        where = f"registries[{key!r}]"
        if not isinstance(raw, dict):
            raise RegistryConfigError(f"{where} must be a mapping")
        unknown = set(raw) - KEYS
        if unknown:
            raise RegistryConfigError(f"{where}: unsupported keys {sorted(unknown)}")
        out[registry_key(str(key))] = _entry(file.parent, raw, where)
    return out


def _entry(base: Path, raw: Mapping[str, Any], where: str) -> _Entry:
    creds = None
    if "username" in raw or "password_file" in raw:
        username = raw.get("username", "")
        if not isinstance(username, str):
            raise RegistryConfigError(f"{where}.username must be a string")
        password = ""
        if "password_file" in raw:
            secret = _file(base, raw["password_file"], f"{where}.password_file")
            try:
                password = secret.read_text().rstrip("\r\n")
            except (OSError, UnicodeDecodeError):
                raise RegistryConfigError(f"{where}.password_file: unreadable") from None
        creds = Credentials(username=username, password=password)
    cas = (_file(base, raw["ca_file"], f"{where}.ca_file"),) if "ca_file" in raw else ()
    cert = None
    if ("cert_file" in raw) != ("key_file" in raw):
        raise RegistryConfigError(f"{where}: cert_file and key_file go together")
    if "cert_file" in raw:
        cert = (
            _file(base, raw["cert_file"], f"{where}.cert_file"),
            _file(base, raw["key_file"], f"{where}.key_file"),
        )
    insecure = raw.get("insecure_skip_verify", False)
    if not isinstance(insecure, bool):
        raise RegistryConfigError(f"{where}.insecure_skip_verify must be true or false")
    return _Entry(creds, cas, cert, insecure)


def certs_dir_entry(certs_dir: Path, name: str) -> _Entry:
    """Docker's `certs.d/<host:port>/`: `*.crt` CAs, `X.cert` + `X.key` client pairs."""
    folder = certs_dir / name
    if not folder.is_dir():
        return _Entry()
    files = sorted(p for p in folder.iterdir() if p.is_file())
    cas = tuple(p for p in files if p.suffix == ".crt")
    cert = None
    for p in files:
        if p.suffix == ".cert":
            key = p.with_suffix(".key")
            if not key.is_file():
                raise RegistryConfigError(f"{folder}: {p.name} has no {key.name}")
            cert = (p, key)
    return _Entry(ca_files=cas, client_cert=cert)


def tls_context(name: str, ca_files: Sequence[Path], cert: tuple[Path, Path] | None,
                insecure: bool) -> ssl.SSLContext:  # fmt: skip
    """System roots plus the given CAs (as Docker adds certs.d roots to the system's)."""
    ctx = ssl.create_default_context()
    try:
        for ca in ca_files:
            ctx.load_verify_locations(cafile=str(ca))
        if cert is not None:
            ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or "unreadable"
        raise RegistryConfigError(f"registry {name}: TLS files: {reason}") from None
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


DOCKER_HUB = "docker.io"
DOCKER_HUB_URL = "https://registry-1.docker.io"
DOCKER_HUB_KEYS = ("docker.io", "index.docker.io", "registry-1.docker.io")
"""`docker login` keys Docker Hub as https://index.docker.io/v1/."""


def registry_url(text: str) -> str:
    """An --registry.url value, checked (http(s)://host[:port], no credentials, no path)."""
    parse_registry_url(text)
    return text


URLS = repeated(
    "--registry.url",
    registry_url,
    "A registry to watch, http(s)://host[:port]; repeat for several (the environment "
    "variable takes them space-separated). Turns the registry collector on.",
    group="registry",
)
DOCKER_CONFIG = option(
    "--registry.docker-config",
    "",
    str,
    "A docker CLI config.json whose auths (what docker login writes) hold the registries' "
    "credentials; credential helpers are not run.",
    group="registry",
)
CONFIG_FILE = option(
    "--registry.config.file",
    "",
    str,
    "YAML with per-registry username, password_file, ca_file, cert_file, key_file, "
    "insecure_skip_verify; see README.",
    group="registry",
)
CERTS_DIR = option(
    "--host.docker-certs-dir",
    "/etc/docker/certs.d",
    str,
    "Docker's per-registry TLS directory (<dir>/<host:port>/: *.crt CAs, client.cert + "
    "client.key), trusted as Docker trusts it.",
    group="registry",
)


@dataclass(frozen=True, slots=True)
class RegistryAccess:
    """Credentials and TLS trust for any registry by name, as `load_targets` applies them
    to the --registry.url ones: the config file's entry, else docker config's auths, and
    certs.d. Used for the registries running containers name (--registry.check-running)."""

    entries: Mapping[str, _Entry] = field(default_factory=dict)
    docker_auths: Mapping[str, Credentials] = field(default_factory=dict, repr=False)
    certs_dir: str = ""

    def target(self, name: str, url: str, *, insecure: bool = False) -> RegistryTarget:
        """`name` reached at `url`; `insecure` (an engine's insecure registry, tried over
        https first as Docker does) skips TLS verification."""
        keys = DOCKER_HUB_KEYS if name == DOCKER_HUB else (name,)
        entry = next((self.entries[k] for k in keys if k in self.entries), _Entry())
        creds = entry.credentials or next(
            (self.docker_auths[k] for k in keys if k in self.docker_auths), None
        )
        tls = None
        skip = entry.insecure or insecure
        if url.startswith("https://"):
            certs = certs_dir_entry(Path(self.certs_dir), name) if self.certs_dir else _Entry()
            tls = tls_context(
                name,
                (*certs.ca_files, *entry.ca_files),
                entry.client_cert or certs.client_cert,
                skip,
            )
        return RegistryTarget(name, url, creds, tls, verified=not skip)


def registry_url_of(name: str) -> str:
    """Where a registry named in an image reference answers (https, as Docker tries first)."""
    return DOCKER_HUB_URL if name == DOCKER_HUB else f"https://{name}"


def load_access(
    *, config_file: str = "", docker_config: str = "", certs_dir: str = ""
) -> tuple[RegistryAccess, list[str]]:
    """The credential and trust sources, read once; and the warnings to log once."""
    warnings: list[str] = []
    entries = load_config_file(config_file) if config_file else {}
    docker_auths: Mapping[str, Credentials] = {}
    if docker_config:
        try:
            parsed = parse_docker_config(Path(docker_config).read_bytes())
        except OSError as exc:
            raise RegistryConfigError(
                f"--registry.docker-config: {exc.strerror}: {docker_config}"
            ) from None
        except AuthError as exc:
            raise RegistryConfigError(f"--registry.docker-config: {exc}") from None
        docker_auths = parsed.auths
        warnings.extend(f"--registry.docker-config: unsupported {u}" for u in parsed.unsupported)
    return RegistryAccess(entries, docker_auths, certs_dir), warnings


def load_targets(
    urls: Sequence[str],
    *,
    config_file: str = "",
    docker_config: str = "",
    certs_dir: str = "",
    unlisted: bool = False,
) -> tuple[list[RegistryTarget], list[str]]:
    """The registries to poll and the warnings to log once (unsupported credential helpers).
    `unlisted`: config-file entries without a --registry.url are allowed (they serve the
    registries running containers name).

    Raises RegistryConfigError for anything that cannot be used."""
    access, warnings = load_access(
        config_file=config_file, docker_config=docker_config, certs_dir=certs_dir
    )
    entries = access.entries
    targets: list[RegistryTarget] = []
    seen: set[str] = set()
    for text in urls:
        name, url = parse_registry_url(text)
        if name in seen:
            raise RegistryConfigError(f"--registry.url: {name} given twice")
        seen.add(name)
        entry = entries.get(name, _Entry())
        creds = entry.credentials or access.docker_auths.get(name)
        tls = None
        if url.startswith("https://"):
            certs = certs_dir_entry(Path(certs_dir), name) if certs_dir else _Entry()
            tls = tls_context(
                name,
                (*certs.ca_files, *entry.ca_files),
                entry.client_cert or certs.client_cert,
                entry.insecure,
            )
        targets.append(RegistryTarget(name, url, creds, tls, verified=not entry.insecure))
    stray = sorted(set(entries) - seen)
    if stray and not unlisted:
        raise RegistryConfigError(
            f"--registry.config.file: no --registry.url for {', '.join(stray)}"
        )
    return targets, warnings

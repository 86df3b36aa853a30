"""Where the engine is and how to reach it: the Docker CLI's environment contract, the
host's validation, and the API version rule. No aiohttp here: the command line validates
`--docker.host` without loading the HTTP stack."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_HOST = "unix:///var/run/docker.sock"
MAX_API_VERSION = (1, 55)
"""Newest API we request, the newest tested (Docker 29.6 to 29.7); every parser reads
both sides of the changes from 1.52 on (docs/engine-api-versions.md)."""

DEFAULT_STATS_CONCURRENCY = 8
"""`--stats.concurrency`'s default, for configurations built without settings (tests)."""

POOL_MARGIN = 12
"""Connections beyond stats and events: the watcher's 8 concurrent inspects, the top
poller, the disk-usage sampler and a spare, so a full stats fan-out never makes them wait."""


MAX_LABELS = 256
"""Labels kept per container (`--docker.max-labels`): each is a label of one series and
a copy in every event; thousands (a hostile or generated compose file) are cut, the
first ones by key kept, and counted."""

MAX_LABEL_LENGTH = 4096
"""Characters kept of one label value (`--docker.max-label-length`)."""

MAX_IMAGE_TAGS = 64
"""Tags (and digests) kept per image (`--docker.max-image-tags`): a CI host can hold an
image tagged thousands of times; each tag is a series."""


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Where and how to reach the engine."""

    host: str = DEFAULT_HOST
    timeout: float = 10.0
    tls_verify: bool = False
    cert_path: str = ""
    stats_concurrency: int = DEFAULT_STATS_CONCURRENCY
    max_labels: int = MAX_LABELS
    max_label_length: int = MAX_LABEL_LENGTH
    max_image_tags: int = MAX_IMAGE_TAGS

    @property
    def connections(self) -> int:
        """The pool's size: every stats request in flight, the event stream, a margin."""
        return self.stats_concurrency + 1 + POOL_MARGIN


def resolve_host(flag: str | None, environ: Mapping[str, str]) -> str:
    """`--docker.host`, else `DOCKER_HOST`, else the default socket; validated here."""
    host = flag or environ.get("DOCKER_HOST") or DEFAULT_HOST
    parts = urlsplit(host)
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError(f"invalid docker host {host!r}: unix:// needs a socket path")
    elif parts.scheme in ("tcp", "http", "https"):
        if not parts.hostname:
            raise ValueError(f"invalid docker host {host!r}: missing host name")
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError as exc:
            raise ValueError(f"invalid docker host {host!r}: {exc}") from None
    else:
        raise ValueError(f"invalid docker host {host!r}: use unix://, tcp://, http:// or https://")
    return host


def version_tuple(text: str) -> tuple[int, int]:
    major, _, minor = text.lstrip("v").partition(".")
    return int(major or 0), int(minor or 0)


def negotiate(server_max: str, server_min: str) -> str:
    """min(server max, ours), raised to the server's minimum (Docker 29.0 refuses < 1.44)."""
    use = min(version_tuple(server_max), MAX_API_VERSION) if server_max else MAX_API_VERSION
    if server_min and use < version_tuple(server_min):
        use = version_tuple(server_min)
    return f"{use[0]}.{use[1]}"


def tls_context(config: EngineConfig) -> ssl.SSLContext | None:
    if not config.tls_verify:
        return None
    if not config.cert_path:
        raise ValueError("DOCKER_TLS_VERIFY is set but DOCKER_CERT_PATH is not")
    base = Path(config.cert_path)
    ctx = ssl.create_default_context(cafile=str(base / "ca.pem"))
    ctx.load_cert_chain(str(base / "cert.pem"), str(base / "key.pem"))
    return ctx


def engine_config_from_env(
    host_flag: str | None,
    timeout: float,
    environ: Mapping[str, str] = os.environ,
    *,
    stats_concurrency: int = DEFAULT_STATS_CONCURRENCY,
    max_labels: int = MAX_LABELS,
    max_label_length: int = MAX_LABEL_LENGTH,
    max_image_tags: int = MAX_IMAGE_TAGS,
) -> EngineConfig:
    """The Docker CLI's environment contract: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH."""
    return EngineConfig(
        host=resolve_host(host_flag, environ),
        timeout=timeout,
        tls_verify=environ.get("DOCKER_TLS_VERIFY", "") not in ("", "0"),
        cert_path=environ.get("DOCKER_CERT_PATH", ""),
        stats_concurrency=stats_concurrency,
        max_labels=max_labels,
        max_label_length=max_label_length,
        max_image_tags=max_image_tags,
    )

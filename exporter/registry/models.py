"""What a registry poll found: frozen, secret-free values the inventory publishes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[Any, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Manifest:
    """One tag's manifest (only with --registry.manifests).

    `size_bytes` is what a pull of the tag downloads, the config and layer blobs the
    manifest lists; None for a manifest list / OCI index (one per platform, no one size).
    """

    digest: str
    media_type: str
    size_bytes: int | None


@dataclass(frozen=True, slots=True)
class Repository:
    """A repository of the catalog; `tags` is None when its tag list could not be read."""

    name: str
    tags: tuple[str, ...] | None = None
    manifests: Mapping[str, Manifest] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    """One registry as its latest poll left it. Never holds a credential.

    `name` is host:port as Docker names the registry (the metrics' `registry` label).
    `up` is whether the latest poll's probe (`GET /v2/`) and catalog both succeeded; a
    failed poll keeps the repositories of the last good one (`last_success_ts` tells
    their age). `error` is a short, fixed-vocabulary reason, for /inventory and logs only.
    """

    name: str
    url: str
    up: bool = False
    polled: bool = False
    auth: str = "anonymous"
    probe_seconds: float | None = None
    last_success_ts: float | None = None
    last_poll_ts: float | None = None
    repositories: tuple[Repository, ...] = ()
    catalog_truncated: bool = False
    requests: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    """Responses by HTTP status code, plus `timeout` and `error` (no answer at all)."""
    certificate_expiry_ts: float | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class PlatformManifest:
    """One entry of a manifest list / OCI index: a platform and its manifest's digest."""

    os: str
    architecture: str
    variant: str
    digest: str


CHECK_REASONS = ("not found", "unauthorized", "unreachable", "registry error")
"""Why a tag's digest is unknown: a fixed vocabulary, never a registry's own words."""


@dataclass(frozen=True, slots=True)
class TagCheck:
    """What the registry said a tag points to now (a HEAD on its manifest).

    `digest` is its Docker-Content-Digest; for a manifest list / OCI index, `platforms`
    lists the platform manifests it names (read once per index digest). `reason` (one of
    CHECK_REASONS) is set when the latest check got no digest; `digest` then keeps the
    last one known. Never holds a credential."""

    registry: str
    repository: str
    tag: str
    digest: str = ""
    media_type: str = ""
    platforms: tuple[PlatformManifest, ...] = ()
    checked_ts: float | None = None
    """When the latest check ended (answered or not), in Unix seconds."""
    reason: str = ""

    @property
    def key(self) -> str:
        return tag_key(self.registry, self.repository, self.tag)


def tag_key(registry: str, repository: str, tag: str) -> str:
    """`127.0.0.1:5000/team/app:latest`: the checks' key, one per (registry, repository, tag)."""
    return f"{registry}/{repository}:{tag}"

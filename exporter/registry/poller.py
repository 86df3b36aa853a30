"""One background task per registry: probe, crawl the catalog, publish a snapshot.

Each poll is sequential (one request at a time, see client.py) and starts a whole
interval after the previous one ended, so a slow registry slows only its own poll and
the scrape never waits on it: the collector reads the published RegistrySnapshot.

A poll: `GET /v2/` (the probe; its time is the probe duration), `/v2/_catalog?n=` paged
through `Link: <...>; rel="next"` until `max_repositories` (one more name is asked for,
so that reaching the bound exactly is not reported as truncated), then
`/v2/<name>/tags/list` per repository, and with `manifests` a `HEAD` per tag (its
digest) and a `GET` of the manifests whose digest is new (their sizes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from exporter.clock import Clock
from exporter.options import (
    ConfigError,
    option,
    parse_duration,
    parse_positive_int,
    switch,
)
from exporter.registry.client import RegistryClient, RegistryError, Response
from exporter.registry.models import Manifest, RegistrySnapshot, Repository

log = logging.getLogger(__name__)


def parse_registry_interval(text: str) -> float:
    """A registry poll interval: at least 5 s (each poll crawls the whole catalog)."""
    seconds = parse_duration(text)
    if seconds < 5.0:
        raise ConfigError(f"invalid interval {text!r}: at least 5s")
    return seconds


INTERVAL = option(
    "--registry.interval",
    "5m",
    parse_registry_interval,
    "The pause between two polls of a registry (>= 5s); a poll crawls the catalog and "
    "every repository's tags.",
    group="registry",
)
MAX_REPOSITORIES = option(
    "--registry.max-repositories",
    "1000",
    parse_positive_int,
    "Repositories crawled per registry at most (reported by docker_registry_catalog_truncated).",
    group="registry",
)
MANIFESTS = switch(
    "--registry.manifests",
    "Also read every tag's manifest (digest, size): one or two requests per tag and poll.",
    group="registry",
)

CATALOG_PAGE = 100
"""Repositories per catalog request (registry 2.8 caps n at 1000)."""
MAX_TAG_PAGES = 100
"""Tag-list pages followed per repository (registries that page tags send a Link)."""
MANIFEST_BUDGET = 10_000
"""Manifests read per poll and registry at most (one request per tag): a bound on the
requests and on docker_registry_manifest_size_bytes' series."""

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
INDEX_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    }
)

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
"""The Distribution spec's repository name grammar: nothing else is put in a path."""
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_LINK_RE = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")


class PollFailed(Exception):
    """The registry answered, but not what the API promises; the message is ours."""


def next_link(headers: Sequence[str], path: str) -> list[tuple[str, str]] | None:
    """The query of the `rel="next"` link (RFC 8288), when it points at `path` on the
    same registry; None when there is none (or it points elsewhere: not followed)."""
    for header in headers:
        for target, params in _LINK_RE.findall(header):
            rels = re.findall(r'rel\s*=\s*"?([^";]+)"?', params)
            if not any("next" in rel.split() for rel in rels):
                continue
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or parts.path != path:
                return None
            return parse_qsl(parts.query, keep_blank_values=True)
    return None


def _json(resp: Response, what: str) -> Mapping[str, Any]:
    try:
        doc = json.loads(resp.body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PollFailed(f"{what}: not JSON") from None
    if not isinstance(doc, dict):
        raise PollFailed(f"{what}: not a JSON object")
    return doc


def parse_manifest(resp: Response) -> Manifest:
    """Digest (the header, else the body's sha256) and the size a pull downloads."""
    digest = resp.headers.get("docker-content-digest", "")
    if not digest and resp.body:
        digest = "sha256:" + hashlib.sha256(resp.body).hexdigest()
    doc = _json(resp, "manifest")
    media = doc.get("mediaType") or resp.headers.get("content-type", "").split(";")[0]
    media = media if isinstance(media, str) else ""
    size: int | None = None
    if media not in INDEX_TYPES and "manifests" not in doc and doc.get("schemaVersion") == 2:
        blobs = [doc.get("config"), *(doc.get("layers") or ())]
        sizes = [b.get("size") for b in blobs if isinstance(b, dict)]
        counted = [s for s in sizes if isinstance(s, int) and s >= 0]
        if counted and len(counted) == len(blobs):
            size = sum(counted)
    return Manifest(digest, media, size)


class RegistryPoller:
    """Polls one registry every `interval` and hands each result to `publish`."""

    def __init__(
        self,
        client: RegistryClient,
        publish: Callable[[RegistrySnapshot], object],
        clock: Clock,
        *,
        interval: float = INTERVAL.value,
        max_repositories: int = MAX_REPOSITORIES.value,
        manifests: bool = MANIFESTS.value,
        page_size: int = CATALOG_PAGE,
    ) -> None:
        self._client = client
        self._publish = publish
        self._clock = clock
        self._interval = interval
        self._max = max_repositories
        self._manifests = manifests
        self._page = page_size
        target = client.target
        self._last = RegistrySnapshot(target.name, target.url)
        self._budget = 0

    @property
    def snapshot(self) -> RegistrySnapshot:
        return self._last

    async def run(self) -> None:
        """Run until cancelled: poll, then wait the whole interval (never overlapping)."""
        self._publish(self._last)
        try:
            while True:
                await self.poll()
                await self._clock.sleep(self._interval)
        finally:
            await self.close()

    async def close(self) -> None:
        await self._client.close()

    def _polled(
        self, prev: RegistrySnapshot, probe_seconds: float | None, **changes: Any
    ) -> RegistrySnapshot:
        """`prev` after a poll: what every poll records, plus its outcome's `changes`."""
        return replace(
            prev,
            polled=True,
            auth=self._client.auth,
            probe_seconds=probe_seconds,
            last_poll_ts=changes.get("last_success_ts", self._clock.time()),
            requests=MappingProxyType(dict(self._client.requests)),
            certificate_expiry_ts=self._client.certificate_expiry,
            **changes,
        )

    async def poll(self) -> RegistrySnapshot:
        """One poll; a failure keeps the last good repositories and marks the registry down."""
        prev = self._last
        started = self._clock.monotonic()
        probe_seconds: float | None = None
        try:
            probe = await self._client.get("/v2/")
            probe_seconds = self._clock.monotonic() - started
            if probe.status != 200:
                raise PollFailed(f"/v2/ answered {probe.status}")
            await self._client.read_certificate()
            names, truncated = await self._catalog()
            old = {r.name: r for r in prev.repositories}
            self._budget = MANIFEST_BUDGET
            repositories = [await self._repository(n, old.get(n)) for n in names]
        except (RegistryError, PollFailed) as exc:
            snapshot = self._polled(prev, probe_seconds, up=False, error=str(exc))
            if prev.up or not prev.polled:
                log.warning("registry %s: down: %s", prev.name, exc)
        else:
            snapshot = self._polled(
                prev,
                probe_seconds,
                up=True,
                error="",
                last_success_ts=self._clock.time(),
                repositories=tuple(repositories),
                catalog_truncated=truncated,
            )
            if not prev.up:
                log.info(
                    "registry %s: up, %d repositories%s",
                    prev.name,
                    len(repositories),
                    " (catalog truncated)" if truncated else "",
                )
        self._last = snapshot
        self._publish(snapshot)
        return snapshot

    async def _catalog(self) -> tuple[list[str], bool]:
        """Up to max_repositories names, and whether the catalog holds more."""
        names: list[str] = []
        seen: set[str] = set()
        query: list[tuple[str, str]] = []
        while True:
            want = min(self._page, self._max + 1 - len(names))
            params = [(k, v) for k, v in query if k != "n"] + [("n", str(want))]
            resp = await self._client.get("/v2/_catalog", scope="registry:catalog:*", params=params)
            if resp.status != 200:
                raise PollFailed(f"/v2/_catalog answered {resp.status}")
            raw = _json(resp, "/v2/_catalog").get("repositories")
            if raw is None:
                raw = []
            if not isinstance(raw, list):
                raise PollFailed("/v2/_catalog: repositories is not a list")
            fresh = [n for n in raw if isinstance(n, str) and n not in seen]
            bad = [n for n in fresh if not REPOSITORY_RE.match(n)]
            if bad:
                log.debug("registry %s: %d invalid repository names skipped", self._name, len(bad))
            for name in fresh:
                seen.add(name)
                if REPOSITORY_RE.match(name):
                    names.append(name)
            link = next_link(resp.links, "/v2/_catalog")
            if len(names) > self._max:
                return names[: self._max], True
            if link is None or not fresh:
                return names, False
            query = link

    @property
    def _name(self) -> str:
        return self._client.target.name

    async def _repository(self, name: str, old: Repository | None) -> Repository:
        """Its tags (None when they cannot be read: the repository then keeps no tags);
        with manifests, each tag's digest and size."""
        path = f"/v2/{name}/tags/list"
        scope = f"repository:{name}:pull"
        tags: list[str] = []
        query: list[tuple[str, str]] = []
        for _ in range(MAX_TAG_PAGES):
            resp = await self._client.get(path, scope=scope, params=query)
            if resp.status != 200:
                log.debug("registry %s: %s answered %d", self._name, path, resp.status)
                return Repository(name)
            try:
                raw = _json(resp, path).get("tags") or []
            except PollFailed:
                return Repository(name)
            if isinstance(raw, list):
                tags.extend(t for t in raw if isinstance(t, str) and TAG_RE.match(t))
            link = next_link(resp.links, path)
            if link is None:
                break
            query = link
        unique = tuple(sorted(set(tags)))
        if not self._manifests:
            return Repository(name, unique)
        known = old.manifests if old is not None else {}
        manifests: dict[str, Manifest] = {}
        for tag in unique:
            if self._budget <= 0:
                break
            self._budget -= 1
            manifest = await self._manifest(name, tag, known.get(tag), scope)
            if manifest is not None:
                manifests[tag] = manifest
        return Repository(name, unique, MappingProxyType(manifests))

    async def _manifest(
        self, name: str, tag: str, known: Manifest | None, scope: str
    ) -> Manifest | None:
        path = f"/v2/{name}/manifests/{tag}"
        head = await self._client.get(path, scope=scope, accept=MANIFEST_TYPES, method="HEAD")
        if head.status != 200:
            return None
        digest = head.headers.get("docker-content-digest", "")
        if known is not None and digest and digest == known.digest:
            return known
        resp = await self._client.get(path, scope=scope, accept=MANIFEST_TYPES)
        if resp.status != 200:
            return None
        try:
            return parse_manifest(resp)
        except PollFailed:
            return None

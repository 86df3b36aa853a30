"""Image freshness: a HEAD on each tag running containers use, per registry, rarely.

One task per registry, each request through that registry's client (whose lock keeps one
request in flight per registry, the catalog poller's included when both watch it). A tag
is asked about when a container starts using it and then once per `interval`; answers are
cached by (registry, repository, tag), so a hundred containers of one tag cost one
request. Only HEAD, with the Accept of every manifest kind (Docker Hub does not count a
HEAD as a pull); the one GET is of a manifest list / OCI index, once per index digest,
when the container's own digests do not match the index's and its platform entry must
be read.

The published checks carry a fixed-vocabulary reason when a tag's digest is unknown
(models.CHECK_REASONS), never a registry's words or a credential.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import replace
from types import MappingProxyType

from exporter.clock import Clock
from exporter.registry.client import RegistryClient, RegistryError, Response
from exporter.registry.models import PlatformManifest, TagCheck, tag_key
from exporter.registry.poller import INDEX_TYPES, MANIFEST_TYPES, REPOSITORY_RE, TAG_RE

log = logging.getLogger(__name__)

MAX_TAGS = 1000
"""Tags checked per registry at most (a bound on requests and series); the rest wait."""
MAX_INDEX_ENTRIES = 256
"""Platform entries read from one index (real ones have a dozen)."""
FALLBACK_ERRORS = ("TLS handshake failed", "the registry closed the connection",
                   "not an HTTP answer", "truncated or malformed answer")  # fmt: skip
"""Transport failures after which an insecure registry is tried over plain http."""

Clients = Callable[[str], Sequence[RegistryClient]]
"""A registry name to the clients to try, in order (https, then http for an engine's
insecure registry); the first that gets an HTTP answer is kept."""


def reason_of(status: int) -> str:
    if status in (401, 403):
        return "unauthorized"
    if status == 404:
        return "not found"
    return "registry error"


def parse_index(body: bytes) -> tuple[PlatformManifest, ...]:
    """A manifest list / OCI index's platform entries (attestation entries, platform
    unknown/unknown, are left out)."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ()
    entries = doc.get("manifests") if isinstance(doc, dict) else None
    out: list[PlatformManifest] = []
    for entry in entries[:MAX_INDEX_ENTRIES] if isinstance(entries, list) else ():
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            continue
        platform = entry.get("platform")
        if not isinstance(platform, dict):
            continue
        os_, arch = platform.get("os"), platform.get("architecture")
        if not isinstance(os_, str) or not isinstance(arch, str) or os_ == "unknown":
            continue
        variant = platform.get("variant")
        out.append(
            PlatformManifest(
                os_, arch, variant if isinstance(variant, str) else "", entry["digest"]
            )
        )
    return tuple(out)


class ImageChecker:
    """Keeps every wanted tag's check at most `interval` old; publishes all checks."""

    def __init__(
        self,
        clients: Clients,
        publish: Callable[[Mapping[str, TagCheck]], object],
        clock: Clock,
        *,
        interval: float,
    ) -> None:
        self._clients = clients
        self._publish = publish
        self._clock = clock
        self._interval = interval
        self._wanted: dict[str, frozenset[tuple[str, str]]] = {}
        self._checks: dict[str, TagCheck] = {}
        self._due: dict[str, float] = {}
        """Monotonic time each key is next due."""
        self._indexes: dict[str, tuple[PlatformManifest, ...]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        self._changed = asyncio.Event()
        self._used: dict[str, RegistryClient] = {}
        self._made: dict[str, Sequence[RegistryClient]] = {}
        """The clients made per registry, once (all closed at the end)."""
        self.requests = 0
        """HEADs and GETs sent (token requests not included), for the benchmark."""

    @property
    def checks(self) -> Mapping[str, TagCheck]:
        return MappingProxyType(dict(self._checks))

    def want(self, wanted: Mapping[str, frozenset[tuple[str, str]]]) -> None:
        """The tags running containers use now, per registry (cheap: called on publish)."""
        if dict(wanted) == self._wanted:
            return
        self._wanted = dict(wanted)
        self._changed.set()
        for event in self._wakes.values():
            event.set()

    async def run(self) -> None:
        """Run until cancelled: one worker per registry that has wanted tags."""
        try:
            while True:
                await self._changed.wait()
                self._changed.clear()
                for name in self._wanted:
                    task = self._workers.get(name)
                    if task is None or task.done():
                        self._wakes[name] = asyncio.Event()
                        self._workers[name] = asyncio.create_task(
                            self._worker(name), name=f"image-check {name}"
                        )
        finally:
            for task in self._workers.values():
                task.cancel()
            for task in self._workers.values():
                with suppress(asyncio.CancelledError, Exception):
                    await task
            for made in self._made.values():
                for client in made:
                    await client.close()

    async def _worker(self, name: str) -> None:
        wake = self._wakes[name]
        while True:
            wake.clear()
            now = self._clock.monotonic()
            keys = sorted(self._wanted.get(name, frozenset()))[:MAX_TAGS]
            for repository, tag in keys:
                key = tag_key(name, repository, tag)
                if self._due.get(key, 0.0) <= self._clock.monotonic():
                    await self.check(name, repository, tag)
            self._prune(now)
            dues = [self._due[tag_key(name, r, t)] for r, t in keys]
            delay = max(min(dues) - self._clock.monotonic(), 0.0) if dues else None
            await self._wait(wake, delay)

    async def _wait(self, wake: asyncio.Event, delay: float | None) -> None:
        """Until `wake` is set or `delay` seconds passed (on the injected clock)."""
        waiter = asyncio.create_task(wake.wait())
        timer = asyncio.create_task(self._clock.sleep(delay)) if delay is not None else None
        try:
            await asyncio.wait(
                [t for t in (waiter, timer) if t], return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (waiter, timer):
                if task is not None:
                    task.cancel()

    def _prune(self, now: float) -> None:
        """Checks no container wants are kept until due (a recreated container reuses
        them), then forgotten."""
        wanted = {tag_key(n, r, t) for n, pairs in self._wanted.items() for r, t in pairs}
        stale = [k for k in self._checks if k not in wanted and self._due.get(k, 0.0) <= now]
        for key in stale:
            self._checks.pop(key, None)
            self._due.pop(key, None)
        if stale:
            self._publish(self.checks)

    def _client_list(self, name: str) -> Sequence[RegistryClient]:
        kept = self._used.get(name)
        if kept is not None:
            return (kept,)
        if name not in self._made:
            self._made[name] = self._clients(name)
        return self._made[name]

    async def check(self, name: str, repository: str, tag: str) -> TagCheck:
        """One HEAD (and, for a new index digest, one GET); stored and published."""
        key = tag_key(name, repository, tag)
        prev = self._checks.get(key) or TagCheck(name, repository, tag)
        if not REPOSITORY_RE.match(repository) or not TAG_RE.match(tag):
            result = replace(prev, reason="not found", checked_ts=self._clock.time())
        else:
            result = await self._ask(name, prev)
        if result.reason and result.reason != prev.reason:
            log.info("image check %s: %s", key, result.reason)
        self._checks[key] = result
        self._due[key] = self._clock.monotonic() + self._interval
        self._publish(self.checks)
        return result

    async def _ask(self, name: str, prev: TagCheck) -> TagCheck:
        path = f"/v2/{prev.repository}/manifests/{prev.tag}"
        scope = f"repository:{prev.repository}:pull"
        clients = self._client_list(name)
        resp: Response | None = None
        for i, client in enumerate(clients):
            try:
                self.requests += 1
                resp = await client.get(path, scope=scope, accept=MANIFEST_TYPES, method="HEAD")
            except RegistryError as exc:
                message = str(exc)
                if i + 1 < len(clients) and message in FALLBACK_ERRORS:
                    continue
                reason = "unauthorized" if "token server answered 40" in message else "unreachable"
                return replace(prev, reason=reason, checked_ts=self._clock.time())
            self._used[name] = client
            break
        if resp is None:
            return replace(prev, reason="unreachable", checked_ts=self._clock.time())
        now = self._clock.time()
        if resp.status != 200:
            return replace(prev, reason=reason_of(resp.status), checked_ts=now)
        digest = resp.headers.get("docker-content-digest", "")
        media = resp.headers.get("content-type", "").split(";")[0].strip()
        if not digest.startswith("sha256:"):
            return replace(prev, reason="registry error", checked_ts=now)
        platforms: tuple[PlatformManifest, ...] = ()
        if media in INDEX_TYPES:
            platforms = await self._index(self._used[name], prev.repository, digest, scope)
        return replace(
            prev, digest=digest, media_type=media, platforms=platforms, checked_ts=now, reason=""
        )

    async def _index(
        self, client: RegistryClient, repository: str, digest: str, scope: str
    ) -> tuple[PlatformManifest, ...]:
        """An index's platform entries, read once per digest (content-addressed)."""
        known = self._indexes.get(digest)
        if known is not None:
            return known
        try:
            self.requests += 1
            resp = await client.get(
                f"/v2/{repository}/manifests/{digest}", scope=scope, accept=MANIFEST_TYPES
            )
        except RegistryError:
            return ()
        if resp.status != 200:
            return ()
        entries = parse_index(resp.body)
        if len(self._indexes) >= MAX_TAGS:
            self._indexes.pop(next(iter(self._indexes)))
        self._indexes[digest] = entries
        return entries

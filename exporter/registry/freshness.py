"""Is a container running the image its tag points to now? Pure functions, no I/O.

A container names its image by reference (`Config.Image`: `registry:5000/team/app:1`);
the registry says which manifest the tag points to now (a TagCheck, from checker.py).
What the container runs is known by digests:

- graph-driver store (overlay2 and friends): the image's `RepoDigests` for that
  repository, `repo@sha256:...`, written when the image was pulled from or pushed to it.
  An image built here and never pushed has none: not from the registry, no verdict.
- containerd image store (Docker 29's default on fresh installs): the image ID itself is
  the manifest or index digest the image was pulled (or built) as; RepoDigests too; and
  the platform manifest the container runs (inspect's `ImageManifestDescriptor`, 1.48+).

An update is available when the tag's digest is none of these. When the tag points to a
manifest list / OCI index, the index's entry for the container's platform is compared as
well (a graph-driver store records the platform manifest's digest when that was pushed
alone, and an index naming it is no update).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from exporter.engine.models import Container, EngineInfo
from exporter.engine.resources import Image
from exporter.registry.models import PlatformManifest, TagCheck, tag_key

DOCKER_HUB = "docker.io"
LIVE_STATES = frozenset({"running", "paused", "restarting"})
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_ID = re.compile(r"^(sha256:)?[0-9a-f]{12,64}$")


@dataclass(frozen=True, slots=True)
class Reference:
    """A normalized image reference: `busybox` is docker.io, library/busybox, latest."""

    registry: str
    repository: str
    tag: str
    digest: str = ""

    @property
    def key(self) -> str:
        return tag_key(self.registry, self.repository, self.tag)


def parse_reference(text: str) -> Reference | None:
    """Docker's reference normalization; None for an image ID or anything unparsable."""
    text = text.strip()
    if not text or _ID.match(text):
        return None
    name, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        return None
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first.lower(), rest
    else:
        registry, path = DOCKER_HUB, name
    if registry == "index.docker.io":
        registry = DOCKER_HUB
    tag = "latest"
    colon = path.rfind(":")
    if colon > path.rfind("/"):
        path, tag = path[:colon], path[colon + 1 :]
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not _REPOSITORY.match(path) or not _TAG.match(tag):
        return None
    return Reference(registry, path, tag, digest)


def running_digests(ref: Reference, image: Image | None, container: Container,
                    engine: EngineInfo | None) -> tuple[str, ...]:  # fmt: skip
    """The manifest (or index) digests the container's image is known by in `ref`'s
    repository: its RepoDigests there, and on the containerd store its ID."""
    digests: list[str] = []
    if image is not None:
        for entry in image.repo_digests:
            name, _, digest = entry.partition("@")
            other = parse_reference(name)
            if (
                digest
                and other
                and (other.registry, other.repository)
                == (
                    ref.registry,
                    ref.repository,
                )
            ):
                digests.append(digest)
    if engine is not None and engine.containerd_store and container.image_id.startswith("sha256:"):
        digests.append(container.image_id)
        if container.image_manifest.startswith("sha256:"):
            digests.append(container.image_manifest)
    return tuple(dict.fromkeys(digests))


@dataclass(frozen=True, slots=True)
class ImageUpdate:
    """A running container's verdict: `available` True/False, or None with a `reason`."""

    reference: Reference
    available: bool | None
    reason: str = ""
    running: tuple[str, ...] = ()
    latest: str = ""
    """The digest the tag points to (for an index: the index's), when known."""
    checked_ts: float | None = None


def image_update(
    container: Container,
    images: Mapping[str, Image],
    checks: Mapping[str, TagCheck],
    engine: EngineInfo | None,
) -> ImageUpdate | None:
    """The verdict for a running container named by a tag; None when there is nothing to
    check (not running, run by image ID). Unknown verdicts carry their reason."""
    if container.state not in LIVE_STATES:
        return None
    ref = parse_reference(container.image)
    if ref is None:
        return None
    if ref.digest:
        return ImageUpdate(ref, None, "pinned by digest")
    image = images.get(container.image_id)
    running = running_digests(ref, image, container, engine)
    if not running:
        return ImageUpdate(ref, None, "not pulled from the registry")
    check = checks.get(ref.key)
    if check is None or check.checked_ts is None:
        return ImageUpdate(ref, None, "not checked", running)
    if check.reason or not check.digest:
        reason = check.reason or "registry error"
        return ImageUpdate(ref, None, reason, running, check.digest, check.checked_ts)
    latest = check.digest
    if latest in running:
        return ImageUpdate(ref, False, "", running, latest, check.checked_ts)
    if check.platforms:
        mine = _platform_entries(check, image)
        if not mine:
            return ImageUpdate(
                ref, None, "platform not in index", running, latest, check.checked_ts
            )
        current = any(p.digest in running for p in mine)
        return ImageUpdate(ref, not current, "", running, latest, check.checked_ts)
    return ImageUpdate(ref, True, "", running, latest, check.checked_ts)


def _platform_entries(check: TagCheck, image: Image | None) -> list[PlatformManifest]:
    if image is None or not image.os or not image.architecture:
        return []
    return [
        p
        for p in check.platforms
        if p.os == image.os
        and p.architecture == image.architecture
        and (not p.variant or not image.variant or p.variant == image.variant)
    ]


def wanted_tags(
    containers: Iterable[Container],
    images: Mapping[str, Image],
    engine: EngineInfo | None,
) -> dict[str, frozenset[tuple[str, str]]]:
    """Per registry, the (repository, tag) pairs running containers use and whose images
    came from that registry: what the checker asks about."""
    out: dict[str, set[tuple[str, str]]] = {}
    for container in containers:
        if container.state not in LIVE_STATES:
            continue
        ref = parse_reference(container.image)
        if ref is None or ref.digest:
            continue
        if not running_digests(ref, images.get(container.image_id), container, engine):
            continue
        out.setdefault(ref.registry, set()).add((ref.repository, ref.tag))
    return {name: frozenset(pairs) for name, pairs in out.items()}

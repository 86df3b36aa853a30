"""Image freshness: is each running container on the image its tag points to now?

Reads the checks exporter/registry/checker.py publishes (a HEAD per tag and registry,
every --registry.check-interval) and compares them with the container's image digests
(exporter/registry/freshness.py); a scrape never talks to a registry. Enabled by
--registry.url (the watched registries) or --registry.check-running (the registries the
running containers' image references name).
"""

from __future__ import annotations

from collections.abc import Iterable

from exporter.collectors.base import Family, Options, add, declare, register
from exporter.inventory.store import Snapshot
from exporter.options import ConfigError, option, parse_duration, switch
from exporter.registry.config import URLS
from exporter.registry.freshness import image_update

IMAGE_UPDATES = "image_updates"
MIN_CHECK_INTERVAL = 300.0


def parse_check_interval(text: str) -> float:
    """How often a tag is asked about: at least 5m (a registry's rate limits are per day)."""
    seconds = parse_duration(text)
    if seconds < MIN_CHECK_INTERVAL:
        raise ConfigError(f"invalid interval {text!r}: at least 5m")
    return seconds


CHECK_RUNNING = switch(
    "--registry.check-running",
    "Also check the images of running containers against the registries their references "
    "name (Docker Hub included), with the credentials of --registry.config.file and "
    "--registry.docker-config and the trust of --host.docker-certs-dir.",
    group="registry",
)
CHECK_INTERVAL = option(
    "--registry.check-interval",
    "6h",
    parse_check_interval,
    "How often each tag running containers use is checked (one HEAD per tag and "
    "registry, whatever the number of containers; >= 5m).",
    group="registry",
)

UPDATE_AVAILABLE = declare(
    "docker_container_image_update_available",
    "gauge",
    "1 when the registry's tag now points to another image than the one the running "
    "container runs, 0 when it is the same; absent when unknown (/inventory tells why). "
    "image is the reference given to docker run.",
    ("id", "name", "image"),
    collector=IMAGE_UPDATES,
)
CHECKED = declare(
    "docker_image_registry_check_timestamp_seconds",
    "gauge",
    "When the registry was last asked which manifest the tag points to (answered or "
    "not), in Unix seconds.",
    ("registry", "repository", "tag"),
    collector=IMAGE_UPDATES,
)


@register(
    IMAGE_UPDATES,
    "Image freshness: a running container's image against its tag's current digest in the "
    "registry (a HEAD per tag every --registry.check-interval); enabled by --registry.url "
    "or --registry.check-running.",
    metrics=[UPDATE_AVAILABLE, CHECKED],
    inputs=("containers", "images", "image_checks", "engine"),
    default_enabled=False,
    enabled_by=(URLS, CHECK_RUNNING),
)
def collect(snapshot: Snapshot, _options: Options) -> Iterable[Family]:
    available, checked = UPDATE_AVAILABLE.new(), CHECKED.new()
    for container in sorted(snapshot.containers.values(), key=lambda c: (c.name, c.id)):
        verdict = image_update(container, snapshot.images, snapshot.image_checks, snapshot.engine)
        if verdict is not None and verdict.available is not None:
            add(available, (container.short_id, container.name, container.image),
                1.0 if verdict.available else 0.0)  # fmt: skip
    for key in sorted(snapshot.image_checks):
        check = snapshot.image_checks[key]
        if check.checked_ts is not None:
            add(checked, (check.registry, check.repository, check.tag), check.checked_ts)
    yield from (available, checked)

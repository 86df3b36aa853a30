"""Private registries (Distribution v2 API): reachability, catalog, tags, manifests.

Reads only the RegistrySnapshots the pollers publish (exporter/registry/poller.py); a
scrape never talks to a registry. Enabled by `--registry.url`.
"""

from __future__ import annotations

from exporter.collectors.base import Options, Row, declare, register_objects
from exporter.registry.config import URLS
from exporter.registry.models import RegistrySnapshot

REGISTRY = "registry"
LABELS = ("registry",)

UP = declare(
    "docker_registry_up",
    "gauge",
    "1 when the registry's latest poll succeeded (GET /v2/ answered 200, after "
    "authentication, and its catalog was read), else 0; registry is host:port.",
    LABELS,
    collector=REGISTRY,
)
PROBE = declare(
    "docker_registry_probe_duration_seconds",
    "gauge",
    "How long the latest GET /v2/ probe took, token request included; absent when it "
    "got no answer.",
    LABELS,
    collector=REGISTRY,
)
LAST_SUCCESS = declare(
    "docker_registry_last_success_timestamp_seconds",
    "gauge",
    "When the registry was last polled successfully (the repositories and tags are from "
    "then), in Unix seconds.",
    LABELS,
    collector=REGISTRY,
)
REPOSITORIES = declare(
    "docker_registry_repositories",
    "gauge",
    "Repositories in the catalog (/v2/_catalog), at most --registry.max-repositories.",
    LABELS,
    collector=REGISTRY,
)
TRUNCATED = declare(
    "docker_registry_catalog_truncated",
    "gauge",
    "1 when the catalog holds more repositories than --registry.max-repositories (the "
    "rest are not crawled), else 0.",
    LABELS,
    collector=REGISTRY,
)
TAGS = declare(
    "docker_registry_tags",
    "gauge",
    "Tags of a repository (/v2/<name>/tags/list); absent when its tag list could not be read.",
    ("registry", "repository"),
    collector=REGISTRY,
)
REQUESTS = declare(
    "docker_registry_requests_total",
    "counter",
    "Requests the exporter sent for this registry (its token server's included), by HTTP "
    "status code, or `timeout` / `error` when no answer came.",
    ("registry", "code"),
    collector=REGISTRY,
)
CERT_EXPIRY = declare(
    "docker_registry_certificate_expiry_timestamp_seconds",
    "gauge",
    "When the registry's TLS certificate expires, in Unix seconds (https registries whose "
    "certificate was verified).",
    LABELS,
    collector=REGISTRY,
)
MANIFEST_SIZE = declare(
    "docker_registry_manifest_size_bytes",
    "gauge",
    "What a pull of the tag downloads: the config and layer blobs its manifest lists "
    "(only with --registry.manifests; none for a multi-platform manifest list).",
    ("registry", "repository", "tag"),
    collector=REGISTRY,
)

METRICS = (UP, PROBE, LAST_SUCCESS, REPOSITORIES, TRUNCATED, TAGS, REQUESTS, CERT_EXPIRY)


_NONE: tuple[tuple[Row, ...], ...] = ((),) * len([*METRICS, MANIFEST_SIZE])
"""No rows in any family: one empty tuple per family, however many are declared."""


@register_objects(
    REGISTRY,
    "Private registries polled through the Distribution v2 API (enabled by --registry.url).",
    metrics=[*METRICS, MANIFEST_SIZE],
    source="registries",
    order=lambda registry: registry.name,
    default_enabled=False,
    enabled_by=URLS,
)
def rows(
    registry: RegistrySnapshot, _joined: tuple[()], _options: Options
) -> tuple[tuple[Row, ...], ...]:
    ids = (registry.name,)
    if not registry.polled:  # the first poll has not ended: nothing is known yet
        return _NONE
    seen = registry.last_success_ts is not None
    return (
        ((ids, 1.0 if registry.up else 0.0),),
        ((ids, registry.probe_seconds),) if registry.probe_seconds is not None else (),
        ((ids, registry.last_success_ts),) if registry.last_success_ts is not None else (),
        ((ids, len(registry.repositories)),) if seen else (),
        ((ids, 1.0 if registry.catalog_truncated else 0.0),) if seen else (),
        tuple(
            ((registry.name, r.name), len(r.tags))
            for r in registry.repositories
            if r.tags is not None
        ),
        tuple(((registry.name, code), n) for code, n in sorted(registry.requests.items())),
        ((ids, registry.certificate_expiry_ts),)
        if registry.certificate_expiry_ts is not None
        else (),
        tuple(
            ((registry.name, r.name, tag), m.size_bytes)
            for r in registry.repositories
            for tag, m in sorted(r.manifests.items())
            if m.size_bytes is not None
        ),
    )

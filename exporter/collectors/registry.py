"""Private registries (Distribution v2 API): reachability, catalog, tags, manifests.

Reads only the RegistrySnapshots the pollers publish (exporter/registry/poller.py); a
scrape never talks to a registry. Enabled by `--registry.url`.
"""

from __future__ import annotations

from exporter.collectors.base import Options, Row, declare, register_objects
from exporter.options import (
    ConfigError,
    option,
    parse_duration,
    parse_positive_int,
    repeated,
    switch,
)
from exporter.registry.config import parse_registry_url
from exporter.registry.models import RegistrySnapshot

REGISTRY = "registry"
LABELS = ("registry",)


def registry_url(text: str) -> str:
    """An --registry.url value, checked (http(s)://host[:port], no credentials, no path)."""
    parse_registry_url(text)
    return text


def parse_registry_interval(text: str) -> float:
    """A registry poll interval: at least 5 s (each poll crawls the whole catalog)."""
    seconds = parse_duration(text)
    if seconds < 5.0:
        raise ConfigError(f"invalid interval {text!r}: at least 5s")
    return seconds


URLS = repeated(
    "--registry.url",
    registry_url,
    "A registry to watch, http(s)://host[:port]; repeat for several (the environment "
    "variable takes them space-separated). Turns the registry collector on.",
    group="registry",
)
INTERVAL = option(
    "--registry.interval",
    "5m",
    parse_registry_interval,
    "The pause between two polls of a registry (>= 5s); a poll crawls the catalog and "
    "every repository's tags.",
    group="registry",
)
TIMEOUT = option(
    "--registry.timeout",
    "10s",
    parse_duration,
    "Timeout of each request to a registry (or its token server).",
    group="registry",
)
MAX_REPOSITORIES = option(
    "--registry.max-repositories",
    "1000",
    parse_positive_int,
    "Repositories crawled per registry at most (reported by docker_registry_catalog_truncated).",
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
MANIFESTS = switch(
    "--registry.manifests",
    "Also read every tag's manifest (digest, size): one or two requests per tag and poll.",
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
        return ((), (), (), (), (), (), (), (), ())
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

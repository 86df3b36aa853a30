"""Compose services as units: how many containers each service has, by state.

From the `com.docker.compose.project` and `com.docker.compose.service` labels that
Compose (v1 and v2) puts on every container it creates; containers without them are
not counted. Bounded by what exists: a service with no container left has no series
(`docker compose down` ends them), and only the states a service's containers are in,
plus `running` (0 when none runs), appear, so "fewer running than it had" stays a
comparison of one series with its own past (DockerComposeServiceDegraded).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from exporter.collectors.base import Family, Options, add, declare, register
from exporter.inventory.store import Snapshot

SERVICE_CONTAINERS = declare(
    "docker_compose_service_containers",
    "gauge",
    "Containers of a Compose service by state (from the com.docker.compose.* labels); "
    "state running is always present, 0 when none runs.",
    ["project", "service", "state"],
    collector="compose",
)


@register(
    "compose",
    "Compose projects and services: their containers by state.",
    metrics=[SERVICE_CONTAINERS],
    inputs=("containers",),
)
def collect(snapshot: Snapshot, _options: Options) -> Iterable[Family]:
    counts: Counter[tuple[str, str, str]] = Counter()
    services: set[tuple[str, str]] = set()
    for c in snapshot.containers.values():
        if c.compose_project and c.compose_service:
            services.add((c.compose_project, c.compose_service))
            counts[(c.compose_project, c.compose_service, c.state)] += 1
    family = SERVICE_CONTAINERS.new()
    for project, service in services:
        counts.setdefault((project, service, "running"), 0)
    for key in sorted(counts):
        add(family, key, counts[key])
    yield family

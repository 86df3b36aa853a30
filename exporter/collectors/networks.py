"""Network topology: networks, container endpoints (edges) and DNS aliases, as series.

What `docker network ls`, `docker network inspect` and the `Networks` part of
`docker inspect` show. Edges and aliases come from container inspect (kept current by
connect and disconnect events); networks from network inspect.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import Metric

from exporter.collectors.base import (
    CONTAINER_LABELS,
    Options,
    add,
    container_values,
    containers,
    declare,
    register,
)
from exporter.inventory import Snapshot

N = "networks"
NETWORK = declare(
    "docker_network_info",
    "info",
    "Network metadata; one series per address pool (subnet and gateway empty without one).",
    ["network_id", "network", "driver", "scope", "subnet", "gateway", "internal", "attachable"],
    collector=N,
)
ENDPOINT = declare(
    "docker_container_network_info",
    "info",
    "A container's endpoint on a network (an edge of the topology); ip is empty while stopped.",
    [*CONTAINER_LABELS, "network", "ip"],
    collector=N,
)
ALIAS = declare(
    "docker_container_network_alias",
    "gauge",
    "A DNS name the container answers to on a network (--net-alias, --alias, Compose "
    "service), without the automatic short-ID alias; value 1.",
    [*CONTAINER_LABELS, "network", "alias"],
    collector=N,
)


def _bool(value: bool) -> str:
    return "true" if value else "false"


@register(
    N,
    "Networks, container endpoints with their IPs, and DNS aliases (the topology).",
    metrics=[NETWORK, ENDPOINT, ALIAS],
    inputs=("containers", "networks"),
)
def collect(snapshot: Snapshot, _options: Options) -> Iterable[Metric]:
    networks, endpoints, aliases = NETWORK.new(), ENDPOINT.new(), ALIAS.new()
    for net in sorted(snapshot.networks.values(), key=lambda n: (n.name, n.id)):
        head = [net.short_id, net.name, net.driver, net.scope]
        tail = [_bool(net.internal), _bool(net.attachable)]
        for pool in net.ipam or ():
            add(networks, [*head, pool.subnet, pool.gateway, *tail], 1)
        if not net.ipam:
            add(networks, [*head, "", "", *tail], 1)
    for c in containers(snapshot):
        ids = container_values(c)
        for attachment in c.networks:
            add(endpoints, [*ids, attachment.network, attachment.ip or attachment.ipv6], 1)
            for alias in attachment.aliases:
                add(aliases, [*ids, attachment.network, alias], 1)
    yield from (networks, endpoints, aliases)

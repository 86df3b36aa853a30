"""Network topology: networks, container endpoints (edges) and DNS aliases, as series.

What `docker network ls`, `docker network inspect` and the `Networks` part of
`docker inspect` show. Edges and aliases come from container inspect (kept current by
connect and disconnect events); networks from network inspect.
"""

from __future__ import annotations

from exporter.collectors.base import (
    CONTAINER_LABELS,
    Options,
    Row,
    container_order,
    container_values,
    declare,
    register_objects,
)
from exporter.engine.models import Container
from exporter.engine.resources import Network

NETWORKS = "networks"
NETWORK = declare(
    "docker_network_info",
    "info",
    "Network metadata; one series per address pool (subnet and gateway empty without one).",
    ["network_id", "network", "driver", "scope", "subnet", "gateway", "internal", "attachable"],
    collector=NETWORKS,
)
ENDPOINT = declare(
    "docker_container_network_info",
    "info",
    "A container's endpoint on a network (an edge of the topology); ip is empty while stopped.",
    [*CONTAINER_LABELS, "network", "ip"],
    collector=NETWORKS,
)
ALIAS = declare(
    "docker_container_network_alias",
    "gauge",
    "A DNS name the container answers to on a network (--net-alias, --alias, Compose "
    "service), without the automatic short-ID alias; value 1.",
    [*CONTAINER_LABELS, "network", "alias"],
    collector=NETWORKS,
)


def _bool(value: bool) -> str:
    return "true" if value else "false"


@register_objects(
    NETWORKS,
    "Networks, container endpoints with their IPs, and DNS aliases (the topology).",
    metrics=[NETWORK],
    source="networks",
    order=lambda net: (net.name, net.id),
)
def network_rows(net: Network, _joined: tuple[()], _options: Options) -> tuple[tuple[Row, ...]]:
    head = (net.short_id, net.name, net.driver, net.scope)
    tail = (_bool(net.internal), _bool(net.attachable))
    pools = [(pool.subnet, pool.gateway) for pool in net.ipam or ()] or [("", "")]
    return (tuple(((*head, subnet, gateway, *tail), 1) for subnet, gateway in pools),)


@register_objects(NETWORKS, metrics=[ENDPOINT, ALIAS], source="containers", order=container_order)
def endpoint_rows(
    c: Container, _joined: tuple[()], _options: Options
) -> tuple[tuple[Row, ...], tuple[Row, ...]]:
    ids = container_values(c)
    endpoints = tuple(
        ((*ids, attachment.network, attachment.ip or attachment.ipv6), 1)
        for attachment in c.networks
    )
    aliases = tuple(
        ((*ids, attachment.network, alias), 1)
        for attachment in c.networks
        for alias in attachment.aliases
    )
    return endpoints, aliases

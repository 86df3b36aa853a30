"""The `/topology` document: networks and containers as nodes, endpoints as edges.

A pure function of the snapshot. Its shape is Grafana's node graph data frames (fields
`id`, `title`, `subtitle`, `mainstat`, `secondarystat`, `detail__*` on nodes and `id`,
`source`, `target`, `mainstat`, `secondarystat`, `detail__*` on edges), so a JSON
datasource can feed the panel with two queries, `nodes` and `edges`, and a script can
walk it as plain JSON. Edges come from each container's inspect (its `Networks`), so
they carry the IPs and DNS aliases; `--network container:X` becomes a container edge.
A network's member count comes from the same inspect (the inventory derives it), and an
edge finds its network by ID or, on Podman 4 (whose NetworkID is the name), by name.
"""

from __future__ import annotations

from typing import Any

from exporter.engine.models import Container
from exporter.engine.resources import attached_network, network_index
from exporter.inventory.store import Snapshot

NETWORK_NODE = "network/"
CONTAINER_NODE = "container/"
RUNNING_COLOR = "green"
STOPPED_COLOR = "grey"
NETWORK_COLOR = "blue"


def _network_nodes(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    nodes: dict[str, dict[str, Any]] = {}
    for net in sorted(snapshot.networks.values(), key=lambda n: (n.name, n.id)):
        subnets = ", ".join(pool.subnet for pool in net.ipam if pool.subnet)
        nodes[net.id] = {
            "id": NETWORK_NODE + net.id,
            "kind": "network",
            "title": net.name,
            "subtitle": net.driver,
            "mainstat": subnets,
            "secondarystat": f"{len(net.members)} container{'' if len(net.members) == 1 else 's'}",
            "color": NETWORK_COLOR,
            "detail__scope": net.scope,
            "detail__internal": net.internal,
            "detail__gateway": ", ".join(pool.gateway for pool in net.ipam if pool.gateway),
        }
    return nodes


def _host(ip: str) -> str:
    """As `docker port` prints it: `[::]` for IPv6, `0.0.0.0` when unset."""
    return f"[{ip}]" if ":" in ip else ip or "0.0.0.0"


def _container_node(c: Container) -> dict[str, Any]:
    return {
        "id": CONTAINER_NODE + c.id,
        "kind": "container",
        "title": c.name,
        "subtitle": c.image,
        "mainstat": c.state,
        "secondarystat": ", ".join(
            f"{_host(p.host_ip)}:{p.host_port}->{p.container_port}/{p.protocol}"
            for p in c.ports
            if p.host_port
        ),
        "color": RUNNING_COLOR if c.state == "running" else STOPPED_COLOR,
        "detail__short_id": c.short_id,
        "detail__network_mode": c.network_mode,
    }


def topology_view(snapshot: Snapshot) -> dict[str, Any]:
    """Every network and container as a node; one edge per endpoint, IP and aliases on it."""
    networks = _network_nodes(snapshot)
    index = network_index(snapshot.networks.values())
    containers = sorted(snapshot.containers.values(), key=lambda c: (c.name, c.id))
    nodes = [_container_node(c) for c in containers]
    edges = []
    for c in containers:
        for attachment in c.networks:
            key = attached_network(index, attachment) or attachment.network_id or attachment.network
            if key not in networks:  # not inspected yet (or gone): still draw it
                networks[key] = {
                    "id": NETWORK_NODE + key,
                    "kind": "network",
                    "title": attachment.network,
                    "subtitle": "",
                    "mainstat": "",
                    "secondarystat": "",
                    "color": NETWORK_COLOR,
                    "detail__scope": "",
                    "detail__internal": False,
                    "detail__gateway": attachment.gateway,
                }
            edges.append(
                {
                    "id": f"{c.id}/{key}",
                    "kind": "endpoint",
                    "source": CONTAINER_NODE + c.id,
                    "target": NETWORK_NODE + key,
                    "mainstat": attachment.ip or attachment.ipv6,
                    "secondarystat": ", ".join(attachment.aliases),
                    "detail__network": attachment.network,
                    "detail__mac": attachment.mac,
                    "detail__aliases": list(attachment.aliases),
                }
            )
        mode, _, other = c.network_mode.partition(":")
        if mode == "container" and other:
            target = snapshot.find_container(other)
            edges.append(
                {
                    "id": f"{c.id}/netns",
                    "kind": "netns",
                    "source": CONTAINER_NODE + c.id,
                    "target": CONTAINER_NODE + (target.id if target else other),
                    "mainstat": "shares network namespace",
                    "secondarystat": "",
                    "detail__network": "",
                    "detail__mac": "",
                    "detail__aliases": [],
                }
            )
    known = {n["id"] for n in nodes} | {n["id"] for n in networks.values()}
    edges = [e for e in edges if e["target"] in known]
    return {"nodes": [*networks.values(), *nodes], "edges": edges}

"""(c) Network topology: containers and networks as a node graph."""

from __future__ import annotations

import textwrap
from typing import Any

from dashboards.lib.layout import dashboard
from dashboards.lib.panels import by_name, panel, table, target
from dashboards.lib.promql import UID_TOPOLOGY, container_link, sel


def indent(expr: str) -> str:
    return textwrap.indent(expr, "  ")


def label_replace(expr: str, dst: str, replacement: str, src: str, regex: str = "(.+)") -> str:
    """label_replace(), laid out one call per level so nested calls stay readable."""
    return f'label_replace(\n{indent(expr)},\n  "{dst}", "{replacement}", "{src}", "{regex}"\n)'


def label_join(expr: str, dst: str, separator: str, *src: str) -> str:
    labels = ", ".join(f'"{label}"' for label in src)
    return f'label_join(\n{indent(expr)},\n  "{dst}", "{separator}", {labels}\n)'


def topology_nodes_expr() -> str:
    """Node-graph nodes: one row per container and per network (id, title, subtitle,
    mainstat, color), ids prefixed by kind and host so equal names on two hosts differ."""
    containers = (
        f"max by (instance, name, image) ({sel('docker_container_info')})\n"
        "* on (instance, name) group_left (state)\n"
        f"max by (instance, name, state) ({sel('docker_container_state')} == 1)"
    )
    c = label_join(containers, "id", "/", "instance", "name")
    c = label_replace(c, "id", "container/$1", "id")
    c = label_replace(c, "title", "$1", "name")
    c = label_replace(c, "subtitle", "$1", "image")
    c = label_replace(c, "mainstat", "$1", "state")
    for state, color in (
        ("running", "green"),
        ("paused|restarting|created|removing", "orange"),
        ("exited|dead", "red"),
    ):
        c = label_replace(c, "color", color, "state", state)

    n = label_join(
        f"max by (instance, network, driver, scope) ({sel('docker_network_info')})",
        "id",
        "/",
        "instance",
        "network",
    )
    n = label_replace(n, "id", "network/$1", "id")
    n = label_replace(n, "title", "$1", "network")
    n = label_replace(n, "subtitle", "$1 network", "driver")
    n = label_replace(n, "mainstat", "$1", "scope")
    n = label_replace(n, "color", "blue", "network", "(.*)")
    return f"max by (id, title, subtitle, mainstat, color) (\n{indent(c)}\nor\n{indent(n)}\n)"


def topology_edges_expr() -> str:
    """Node-graph edges: one row per container-to-network attachment
    (id, source, target, mainstat = the container's IP on that network)."""
    e = label_join(sel("docker_container_network_info"), "source", "/", "instance", "name")
    e = label_replace(e, "source", "container/$1", "source")
    e = label_join(e, "target", "/", "instance", "network")
    e = label_replace(e, "target", "network/$1", "target")
    e = label_join(e, "id", " -> ", "source", "target")
    e = label_replace(e, "mainstat", "$1", "ip", "(.*)")
    return f"max by (id, source, target, mainstat) (\n{indent(e)}\n)"


def topology() -> dict[str, Any]:
    graph = panel(
        "nodeGraph",
        "Containers and networks",
        "Containers (green running, orange transitional, red stopped; subtitle = image, "
        "main stat = state) linked to the networks they are attached to (blue; main "
        "stat = scope). Edge labels are the container's IP on that network. Built from "
        "docker_container_info, docker_container_state, docker_network_info and "
        "docker_container_network_info by two instant table queries named nodes and edges.",
        "none",
        [
            target(topology_nodes_expr(), ref="nodes", table=True),
            target(topology_edges_expr(), ref="edges", table=True),
        ],
        w=24,
        h=20,
        options={"nodes": {}, "edges": {}},
        transformations=[
            {
                "id": "organize",
                "options": {
                    "excludeByName": {
                        "Time": True,
                        "Value": True,
                        "Value #nodes": True,
                        "Value #edges": True,
                    },
                    "renameByName": {},
                    "indexByName": {},
                },
            }
        ],
    )
    tables = [
        table(
            "Networks",
            "Networks with driver, scope, subnet, gateway, internal/attachable flags and "
            "the number of attached containers.",
            "none",
            [
                target(
                    "max by (instance, network, network_id, driver, scope, subnet, gateway, "
                    f"internal, attachable) ({sel('docker_network_info')})"
                ),
                target(f"count by (instance, network) ({sel('docker_container_network_info')})"),
            ],
            h=9,
            hide=["Value #A"],
            rename={"Value #B": "containers"},
            order=[
                "network",
                "instance",
                "driver",
                "scope",
                "subnet",
                "gateway",
                "internal",
                "attachable",
                "Value #B",
                "network_id",
            ],
            overrides=[by_name("containers", decimals=0)],
            sort_by="network",
        ),
        table(
            "Container addresses",
            "Each container's IP address on each of its networks.",
            "none",
            [
                target(
                    f"max by (instance, name, network, ip) ({sel('docker_container_network_info')})"
                )
            ],
            w=12,
            h=10,
            hide=["Value"],
            order=["name", "network", "ip", "instance"],
            overrides=[by_name("name", links=[container_link()])],
            sort_by="name",
        ),
        table(
            "Network aliases",
            "DNS names under which containers are reachable on each network (container "
            "name, Compose service, --network-alias).",
            "none",
            [
                target(
                    "max by (instance, name, network, alias) "
                    f"({sel('docker_container_network_alias')})"
                )
            ],
            w=12,
            h=10,
            hide=["Value"],
            order=["alias", "network", "name", "instance"],
            overrides=[by_name("name", links=[container_link()])],
            sort_by="alias",
        ),
        table(
            "Published ports",
            "Container ports published on the host: host address and port to container "
            "port and protocol.",
            "none",
            [
                target(
                    "max by (instance, name, container_port, protocol, host_ip, host_port) "
                    f"({sel('docker_container_port_info')})"
                )
            ],
            h=10,
            hide=["Value"],
            order=["name", "host_ip", "host_port", "container_port", "protocol", "instance"],
            overrides=[by_name("name", links=[container_link()])],
            sort_by="host_port",
        ),
    ]
    return dashboard(
        UID_TOPOLOGY,
        "Network topology",
        "Which containers are attached to which Docker networks, with addresses, DNS "
        "aliases and published ports.",
        [("Topology", [graph]), ("Networks and addresses", tables)],
        time_from="now-15m",
    )

"""Published ports: what `docker port` lists, for `-p` and `-P` alike."""

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

PORTS = "ports"
PORT = declare(
    "docker_container_port_info",
    "info",
    "A published port, one series per host binding as docker port lists it (host_ip :: "
    "for IPv6 any); exposed but unpublished ports are in /inventory only.",
    [*CONTAINER_LABELS, "container_port", "protocol", "host_ip", "host_port"],
    collector=PORTS,
)


@register_objects(
    PORTS,
    "Ports published on the host with -p and -P.",
    metrics=[PORT],
    source="containers",
    order=container_order,
)
def rows(c: Container, _joined: tuple[()], _options: Options) -> tuple[tuple[Row, ...]]:
    ids = container_values(c)
    return (
        tuple(
            ((*ids, str(port.container_port), port.protocol, port.host_ip, port.host_port), 1)
            for port in c.ports
            if port.host_port
        ),
    )

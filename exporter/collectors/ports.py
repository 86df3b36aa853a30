"""Published ports: what `docker port` lists, for `-p` and `-P` alike."""

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

P = "ports"
PORT = declare(
    "docker_container_port_info",
    "info",
    "A published port, one series per host binding as docker port lists it (host_ip :: "
    "for IPv6 any); exposed but unpublished ports are in /inventory only.",
    [*CONTAINER_LABELS, "container_port", "protocol", "host_ip", "host_port"],
    collector=P,
)


@register(P, "Ports published on the host with -p and -P.", metrics=[PORT], inputs=("containers",))
def collect(snapshot: Snapshot, _options: Options) -> Iterable[Metric]:
    family = PORT.new()
    for c in containers(snapshot):
        ids = container_values(c)
        for port in c.ports:
            if port.host_port:
                add(
                    family,
                    [*ids, str(port.container_port), port.protocol, port.host_ip, port.host_port],
                    1,
                )
    yield family

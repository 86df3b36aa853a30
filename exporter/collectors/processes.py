"""Processes per container: the count `docker top` would list, from the latest process lists.

The lists come from the stats sampler's cgroup path (`cgroup.procs` and /proc, no
Engine call) or, opt-in, from the rationed `top` poller (`--collector.top`). The full
lists (pid, user, command, CPU time, RSS) are in /inventory, never in labels.
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
    register_switch,
)
from exporter.engine.models import Container
from exporter.engine.stats import ProcessInfo

PROCESSES = declare(
    "docker_container_processes",
    "gauge",
    "Processes in the container, from the latest process list sampled in the background "
    "(cgroup path, or the opt-in top poller); absent until one was read.",
    CONTAINER_LABELS,
    collector="processes",
)


@register_objects(
    "processes",
    "Process count per running container, from the background process lists.",
    metrics=[PROCESSES],
    source="containers",
    joins=("processes",),
    order=container_order,
)
def rows(
    c: Container, joined: tuple[tuple[ProcessInfo, ...] | None], _options: Options
) -> tuple[tuple[Row, ...]]:
    (listed,) = joined
    return (((container_values(c), len(listed)),) if listed is not None else (),)


register_switch(
    "top",
    "List processes through the Engine's /containers/{id}/top, one running container at a "
    "time, each about every --collector.top.interval: for engines whose cgroups the "
    "exporter cannot read. Every call logs a top event to every event subscriber; it "
    "exports no metric of its own.",
)

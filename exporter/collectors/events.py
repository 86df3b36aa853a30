"""Event counters: the Engine's activity, by object type and action."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import Metric

from exporter.collectors.base import Options, add, declare, register
from exporter.inventory import Snapshot

EVENTS = declare(
    "docker_events_total",
    "counter",
    "Engine events seen since the exporter started; action without its suffix.",
    ["type", "action"],
    collector="events",
)


@register("events", "Engine events by type and action.", metrics=[EVENTS], inputs=("status",))
def collect(snapshot: Snapshot, _options: Options) -> Iterable[Metric]:
    family = EVENTS.new()
    for (kind, action), count in sorted(snapshot.status.events.items()):
        add(family, [kind, action], count)
    yield family

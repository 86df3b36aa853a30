"""Event counters: the Engine's activity, by object type and action."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.collectors.base import Family, Options, add, declare, register
from exporter.inventory.store import Snapshot

EVENTS = declare(
    "docker_events_total",
    "counter",
    "Engine events seen since the exporter started; action without its suffix.",
    ["type", "action"],
    collector="events",
)


@register("events", "Engine events by type and action.", metrics=[EVENTS], inputs=("status",))
def collect(snapshot: Snapshot, _options: Options) -> Iterable[Family]:
    family = EVENTS.new()
    for (kind, action), count in sorted(snapshot.status.events.items()):
        add(family, [kind, action], count)
    yield family

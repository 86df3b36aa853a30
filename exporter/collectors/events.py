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


PUSHES = declare(
    "docker_image_pushes_total",
    "counter",
    "Image push events since the exporter started, by the registry pushed to (host[:port] "
    "of the reference; at most 32 registries, the rest as `other`).",
    ["registry"],
    collector="events",
)
PULLS = declare(
    "docker_image_pulls_total",
    "counter",
    "Image pull events since the exporter started, by the registry pulled from "
    "(`docker.io` for Docker Hub; at most 32 registries, the rest as `other`).",
    ["registry"],
    collector="events",
)


@register(
    "events",
    "Engine events by type and action; image pushes and pulls by registry.",
    metrics=[EVENTS, PUSHES, PULLS],
    inputs=("status",),
)
def collect(snapshot: Snapshot, _options: Options) -> Iterable[Family]:
    family = EVENTS.new()
    for (kind, action), count in sorted(snapshot.status.events.items()):
        add(family, [kind, action], count)
    yield family
    for spec, action in ((PUSHES, "push"), (PULLS, "pull")):
        transfers = spec.new()
        for (done, registry), count in sorted(snapshot.status.transfers.items()):
            if done == action:
                add(transfers, [registry], count)
        yield transfers

"""Engine events: the `/events` line parsed into an `Event`, and what the watcher reads of it.

Docker and Podman send different shapes for the same event (network connect names the
network or the container as the actor; `die` carries `exitCode` or `containerExitCode`);
the parser gives one shape to the watcher.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from exporter.engine.fields import Json, int_field, labels_field, map_field, str_field


@dataclass(frozen=True, slots=True)
class Event:
    """One Engine event, reduced to what the watcher acts on and counts."""

    type: str
    action: str
    detail: str
    actor_id: str
    attributes: Mapping[str, str]
    time_ns: int
    network: str = ""
    """Network events: the network's ID, or its name where only that is known."""
    container: str = ""
    """Network connect/disconnect events: the container's ID."""

    @property
    def key(self) -> tuple[int, str, str, str]:
        """Identity used to drop events replayed by an inclusive `since`."""
        return (self.time_ns, self.type, self.action + self.detail, self.actor_id)


def split_action(action: str) -> tuple[str, str]:
    """`health_status: unhealthy` -> (`health_status`, `unhealthy`); Podman sends no suffix."""
    head, _, tail = action.partition(":")
    return head.strip(), tail.strip()


def parse_event(raw: Json) -> Event | None:
    """An `/events` line to an Event; None when it lacks the fields every engine sends.

    Only `Type`, `Action` and `Actor` are read: the legacy `status`, `id` and `from`
    (deprecated since API 1.22) are gone from API 1.52 on; Podman sends all three shapes."""
    kind = str_field(raw.get("Type"))
    action, detail = split_action(str_field(raw.get("Action")))
    actor = map_field(raw.get("Actor"))
    time_ns = int_field(raw.get("timeNano")) or int_field(raw.get("time")) * 1_000_000_000
    if not kind or not action or not time_ns:
        return None
    attributes = labels_field(actor.get("Attributes"))
    actor_id = str_field(actor.get("ID"))
    if kind == "container" and action == "health_status" and not detail:
        detail = attributes.get("health_status", "") or str_field(raw.get("HealthStatus"))
    network = container = ""
    if kind == "network":
        network, container = _network_subject(action, actor_id, attributes)
    return Event(kind, action, detail, actor_id, attributes, time_ns, network, container)


def _network_subject(action: str, actor_id: str, attributes: Mapping[str, str]) -> tuple[str, str]:
    """(network, container) of a network event, from either engine's shape.

    Docker: the actor is the network (ID), `name` its name, `container` the container
    (connect and disconnect). Podman: connect and disconnect name the *container* as the
    actor with its name in `name`, no `container` attribute, and the network name in
    `network` (5.x only; 4.x does not say which network). Podman's other network events
    carry the network in `network` (or `name`) and no actor ID.
    """
    container = attributes.get("container", "")
    if action in ("connect", "disconnect") and not container:
        return attributes.get("network", ""), actor_id
    network = actor_id or attributes.get("network", "") or attributes.get("name", "")
    return network, container


def die_exit_code(event: Event) -> int | None:
    """The exit code a `die` event reports (Podman also sends it as `containerExitCode`)."""
    text = event.attributes.get("exitCode") or event.attributes.get("containerExitCode")
    if text is None:
        return None
    code = int_field(text, -1)
    return code if code >= 0 else None

"""The event history behind /events: a bounded ring of what happened to containers,
networks and images, for the operator who asks "what happened here in the last hour".

Only events an operator acts on are kept (KEPT): lifecycle, health, OOM, network
connect/disconnect and image events. Health probes are execs and send three events per
probe, which would push the lifecycle out of the ring, so exec_* events are left out of
it (they still count in docker_events_total). Attributes are an allow-list (ATTRIBUTES):
an event's other attributes are the container's labels, and no event ever carries the
environment; an action's suffix is kept only where it is a status (`health_status:
healthy`), never a command line (`exec_create: sh -c ...`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from exporter.engine.events import Event
from exporter.engine.models import COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL
from exporter.options import ConfigError, option, parse_count

MAX_CAPACITY = 1_000_000
"""A record is well under 1 KiB: at most a million are kept."""


def parse_capacity(text: str) -> int:
    """--events.history: 0 keeps none, at most MAX_CAPACITY."""
    count = parse_count(text)
    if count > MAX_CAPACITY:
        raise ConfigError(f"invalid number {text!r}: at most {MAX_CAPACITY}")
    return count


CAPACITY = option(
    "--events.history",
    "1000",
    parse_capacity,
    "Events kept for /events and `docker-exporter events` (lifecycle, health, OOM, "
    "network connect/disconnect, image); 0 keeps none.",
    group="inventory",
)

KEPT: Mapping[str, frozenset[str] | None] = MappingProxyType(
    {
        "container": frozenset(
            {
                "create",
                "start",
                "restart",
                "stop",
                "die",
                "kill",
                "pause",
                "unpause",
                "destroy",
                "remove",
                "rename",
                "update",
                "oom",
                "health_status",
                "init",
                "cleanup",
            }
        ),
        "network": frozenset({"connect", "disconnect"}),
        "image": None,  # every action: pull, push, tag, untag, delete, import, load, save, ...
    }
)
"""Kept event types and, per type, the actions kept (None: all)."""

ATTRIBUTES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "container": (
            "name",
            "image",
            "exitCode",
            "signal",
            "oldName",
            COMPOSE_PROJECT_LABEL,
            COMPOSE_SERVICE_LABEL,
        ),
        "network": ("name", "type", "container"),
        "image": ("name",),
    }
)
"""The attributes kept per type; everything else (labels, exec IDs) is dropped."""

DETAILED = frozenset({"health_status"})
"""Actions whose suffix (`health_status: healthy`) is a status worth keeping."""


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One kept event. `container_id`/`container_name` name the container it concerns
    (the actor of a container event, the attached container of a network event)."""

    seq: int
    time_ns: int
    type: str
    action: str
    status: str
    actor_id: str
    container_id: str
    container_name: str
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def full_action(self) -> str:
        """The action as `docker events` prints it (`health_status: healthy`)."""
        return f"{self.action}: {self.status}" if self.status else self.action


def sanitized_action(action: str, detail: str) -> tuple[str, str]:
    """(action, status): the suffix only for DETAILED actions; exec_* never keep theirs."""
    if action.startswith("exec_") or action not in DETAILED:
        return action, ""
    return action, detail


class EventHistory:
    """A ring of at most `capacity` records, oldest evicted first; `seq` grows by one
    per record, so a follower asking for `after=seq` learns of evicted ones by the gap."""

    def __init__(self, capacity: int = CAPACITY.value) -> None:
        self.capacity = capacity
        self._ring: deque[EventRecord] = deque(maxlen=capacity or None)
        self._seq = 0

    @property
    def last_seq(self) -> int:
        return self._seq

    def record(
        self,
        event: Event,
        *,
        container_name: Callable[[str], str | None],
        admitted: Callable[[str, Mapping[str, str]], bool],
    ) -> EventRecord | None:
        """Keep `event` if it is of a kept kind and concerns an admitted container.

        `container_name(id)` names a known container; `admitted(id, attributes)` is the
        container filter's verdict (on the inventory's container, else the attributes).
        """
        actions = KEPT.get(event.type, frozenset())
        if self.capacity == 0 or (actions is not None and event.action not in actions):
            return None
        cid = ""
        name = ""
        if event.type == "container":
            cid = event.actor_id
            name = event.attributes.get("name", "").lstrip("/") or (container_name(cid) or "")
            if not admitted(cid, event.attributes):
                return None
        elif event.type == "network":
            cid = event.container
            if cid:
                if not admitted(cid, {}):
                    return None
                name = container_name(cid) or ""
        action, status = sanitized_action(event.action, event.detail)
        keep = ATTRIBUTES.get(event.type, ())
        attributes = {k: event.attributes[k] for k in keep if k in event.attributes}
        self._seq += 1
        record = EventRecord(
            self._seq,
            event.time_ns,
            event.type,
            action,
            status,
            event.actor_id,
            cid,
            name,
            MappingProxyType(attributes),
        )
        self._ring.append(record)
        return record

    def records(self) -> list[EventRecord]:
        """Oldest first: a copy, safe to filter in another thread."""
        return list(self._ring)


@dataclass(frozen=True, slots=True)
class EventQuery:
    """/events filters; every given one must hold."""

    types: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    container: str = ""
    since_ns: int | None = None
    after: int | None = None
    limit: int | None = None

    def matches(self, r: EventRecord) -> bool:
        if self.types and r.type not in self.types:
            return False
        if self.actions and r.action not in self.actions and r.full_action not in self.actions:
            return False
        if self.container and not (
            r.container_name == self.container.lstrip("/")
            or (len(self.container) >= 4 and r.container_id.startswith(self.container))
        ):
            return False
        if self.since_ns is not None and r.time_ns < self.since_ns:
            return False
        return self.after is None or r.seq > self.after

    def select(self, records: Iterable[EventRecord]) -> list[EventRecord]:
        """The matching records, newest first, at most `limit`."""
        out: list[EventRecord] = []
        for r in reversed(list(records)):
            if self.matches(r):
                out.append(r)
                if self.limit is not None and len(out) >= self.limit:
                    break
        return out

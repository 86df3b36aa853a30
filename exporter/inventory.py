"""The in-memory inventory and the immutable snapshots it publishes.

Writers (the watcher, the samplers) mutate the Inventory; readers (collectors, HTTP
handlers) only ever see a Snapshot, which is never mutated after publication. A
scrape therefore reads a consistent view without locks and without the Engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from exporter.models import Container, EngineInfo

_EMPTY: Mapping[Any, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class WatcherStatus:
    """What the exporter knows about its own link to the engine."""

    engine_up: bool = False
    synced: bool = False
    stream_up: bool = False
    reconnects: int = 0
    last_event_ts: float | None = None
    last_sync_ts: float | None = None
    events: Mapping[tuple[str, str], int] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One consistent view of the engine; `version` grows with every publication."""

    version: int = 0
    engine: EngineInfo | None = None
    containers: Mapping[str, Container] = field(default_factory=lambda: _EMPTY)
    oom_events: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    status: WatcherStatus = field(default_factory=WatcherStatus)

    def find_container(self, ref: str) -> Container | None:
        """By full ID, unique ID prefix, or name (with or without the leading slash)."""
        if ref in self.containers:
            return self.containers[ref]
        name = ref.lstrip("/")
        for container in self.containers.values():
            if container.name == name:
                return container
        matches = [c for cid, c in self.containers.items() if len(ref) >= 4 and cid.startswith(ref)]
        return matches[0] if len(matches) == 1 else None


Listener = Callable[[Snapshot], None]


class Inventory:
    """The mutable working set behind the snapshots, and its publication point."""

    def __init__(self) -> None:
        self._containers: dict[str, Container] = {}
        self._generation: dict[str, int] = {}
        self._oom: dict[str, int] = {}
        self._events: dict[tuple[str, str], int] = {}
        self._snapshot = Snapshot()
        self._listeners: list[Listener] = []

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def subscribe(self, listener: Listener) -> None:
        """Called synchronously after each publication; keep it cheap (schedule, don't work)."""
        self._listeners.append(listener)

    def generation(self, container_id: str) -> int:
        """Bumped on removal, so an inspect that started before a destroy cannot resurrect it."""
        return self._generation.get(container_id, 0)

    def upsert(self, container: Container, generation: int | None = None) -> bool:
        if generation is not None and generation != self.generation(container.id):
            return False
        self._containers[container.id] = container
        return True

    def remove(self, container_id: str) -> None:
        self._generation[container_id] = self.generation(container_id) + 1
        self._containers.pop(container_id, None)
        self._oom.pop(container_id, None)

    def known_ids(self) -> set[str]:
        return set(self._containers)

    def count_oom(self, container_id: str) -> None:
        self._oom[container_id] = self._oom.get(container_id, 0) + 1

    def count_event(self, kind: str, action: str) -> None:
        key = (kind, action)
        self._events[key] = self._events.get(key, 0) + 1

    def publish(self, **changes: Any) -> Snapshot:
        """Freeze the working set (plus any `changes` to other fields) into a new snapshot."""
        status = changes.pop("status", self._snapshot.status)
        snapshot = replace(
            self._snapshot,
            version=self._snapshot.version + 1,
            containers=MappingProxyType(dict(self._containers)),
            oom_events=MappingProxyType(dict(self._oom)),
            status=replace(status, events=MappingProxyType(dict(self._events))),
            **changes,
        )
        self._snapshot = snapshot
        for listener in self._listeners:
            listener(snapshot)
        return snapshot

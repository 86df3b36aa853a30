"""JSON documents built from a snapshot: the inventory an operator reads instead of the CLI.

Pure functions of the snapshot. The environment of a container is never part of the
model, so it cannot leak here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from exporter.inventory import Snapshot
from exporter.models import CONTAINER_STATES, Container, EngineInfo


def engine_view(engine: EngineInfo | None) -> dict[str, Any] | None:
    if engine is None:
        return None
    view = asdict(engine)
    view["components"] = dict(engine.components)
    view["warnings"] = list(engine.warnings)
    return view


def container_view(_snapshot: Snapshot, c: Container) -> dict[str, Any]:
    """One container as `docker inspect` would summarise it, minus Config.Env."""
    return {
        "id": c.id,
        "short_id": c.short_id,
        "name": c.name,
        "image": c.image,
        "image_id": c.image_id,
        "command": list(c.command),
        "state": c.state,
        "health": {"status": c.health, "failing_streak": c.failing_streak},
        "restart_count": c.restart_count,
        "restart_policy": {"name": c.restart_policy, "maximum_retry_count": c.restart_max_retries},
        "exit_code": c.exit_code,
        "oom_killed": c.oom_killed,
        "oom_events": _snapshot.oom_events.get(c.id, 0),
        "error": c.error,
        "pid": c.pid,
        "created": c.created,
        "started_at": c.started_at,
        "finished_at": c.finished_at,
        "hostname": c.hostname,
        "network_mode": c.network_mode,
        "labels": dict(c.labels),
        "limits": asdict(c.limits),
        "mounts": [asdict(m) for m in c.mounts],
        "networks": [{**asdict(n), "aliases": list(n.aliases)} for n in c.networks],
        "ports": [asdict(p) for p in c.ports],
    }


def _label_filter(labels: Sequence[str]) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for spec in labels:
        key, sep, value = spec.partition("=")
        if not key:
            raise ValueError(f"bad label filter {spec!r}: use key or key=value")
        out.append((key, value if sep else None))
    return out


def inventory_view(
    snapshot: Snapshot,
    *,
    name: str | None = None,
    state: str | None = None,
    labels: Sequence[str] = (),
) -> dict[str, Any]:
    """Engine plus every container, filtered like `docker ps -a --filter`."""
    if state is not None and state not in CONTAINER_STATES:
        raise ValueError(f"bad state {state!r}: one of {', '.join(CONTAINER_STATES)}")
    wanted = _label_filter(labels)
    selected = []
    for c in sorted(snapshot.containers.values(), key=lambda c: c.name):
        if name is not None and name not in c.name:
            continue
        if state is not None and c.state != state:
            continue
        if any(
            key not in c.labels or (value is not None and c.labels[key] != value)
            for key, value in wanted
        ):
            continue
        selected.append(container_view(snapshot, c))
    status = snapshot.status
    return {
        "exporter": {
            "engine_up": status.engine_up,
            "synced": status.synced,
            "event_stream_up": status.stream_up,
            "last_sync": status.last_sync_ts,
            "last_event": status.last_event_ts,
        },
        "engine": engine_view(snapshot.engine),
        "containers": selected,
    }

"""JSON documents built from a snapshot: the inventory an operator reads instead of the CLI.

Pure functions of the snapshot. The environment of a container is never part of the
model, so it cannot leak here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from exporter.engine.models import CONTAINER_STATES, Container, EngineInfo
from exporter.engine.resources import Image, Network, Volume
from exporter.inventory.store import Snapshot


def engine_view(engine: EngineInfo | None) -> dict[str, Any] | None:
    if engine is None:
        return None
    view = asdict(engine)
    view["components"] = dict(engine.components)
    view["warnings"] = list(engine.warnings)
    return view


def container_view(snapshot: Snapshot, c: Container) -> dict[str, Any]:
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
        "oom_events": snapshot.oom_events.get(c.id, 0),
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
        "processes": _processes(snapshot, c),
        "stats": _stats(snapshot, c),
    }


def _stats(snapshot: Snapshot, c: Container) -> dict[str, Any] | None:
    """The latest background sample (what `docker stats` shows); None when not running."""
    sample = snapshot.stats.get(c.id)
    if sample is None or c.state not in ("running", "paused", "restarting"):
        return None
    return {**asdict(sample), "sampled_at": snapshot.sampler.last_sample_ts}


def _processes(snapshot: Snapshot, c: Container) -> list[dict[str, Any]] | None:
    """What `docker top` lists; None until a process list was read (or when not running)."""
    listed = snapshot.processes.get(c.id)
    return None if listed is None else [asdict(p) for p in listed]


def image_view(snapshot: Snapshot, image: Image) -> dict[str, Any]:
    """`docker image inspect` summarised, with `docker history` and the containers using it."""
    return {
        "id": image.id,
        "short_id": image.short_id,
        "tags": [{"repository": r, "tag": t} for r, t in image.tags],
        "repo_tags": list(image.repo_tags),
        "repo_digests": list(image.repo_digests),
        "parent": image.parent,
        "created": image.created,
        "size_bytes": image.size_bytes,
        "layers": image.layers,
        "architecture": image.architecture,
        "os": image.os,
        "author": image.author,
        "labels": dict(image.labels),
        "history": [asdict(layer) for layer in image.history],
        "containers": sorted(
            c.name for c in snapshot.containers.values() if c.image_id == image.id
        ),
    }


def network_view(snapshot: Snapshot, network: Network) -> dict[str, Any]:
    """`docker network inspect`, members with the DNS aliases their container inspect gives
    (the inventory derives the members from the same inspect)."""
    members = []
    for m in network.members:
        container = snapshot.containers.get(m.container_id)
        aliases: tuple[str, ...] = ()
        if container is not None:
            for attachment in container.networks:
                if network.joins(attachment):
                    aliases = attachment.aliases
        members.append(
            {
                "id": m.container_id,
                "name": m.name,
                "ipv4": m.ipv4,
                "ipv6": m.ipv6,
                "mac": m.mac,
                "endpoint_id": m.endpoint_id,
                "aliases": list(aliases),
            }
        )
    return {
        "id": network.id,
        "short_id": network.short_id,
        "name": network.name,
        "driver": network.driver,
        "scope": network.scope,
        "internal": network.internal,
        "attachable": network.attachable,
        "ingress": network.ingress,
        "ipv6": network.ipv6,
        "created": network.created,
        "bridge": network.bridge,
        "ipam": [asdict(pool) for pool in network.ipam],
        "labels": dict(network.labels),
        "members": members,
    }


def volume_view(snapshot: Snapshot, volume: Volume) -> dict[str, Any]:
    """`docker volume inspect`, the containers mounting it, and its size when sampled."""
    usage = snapshot.disk_usage.volumes.get(volume.name) if snapshot.disk_usage else None
    return {
        "name": volume.name,
        "driver": volume.driver,
        "scope": volume.scope,
        "mountpoint": volume.mountpoint,
        "created": volume.created,
        "labels": dict(volume.labels),
        "size_bytes": usage.size_bytes if usage else None,
        "ref_count": usage.ref_count if usage else None,
        "containers": sorted(
            c.name
            for c in snapshot.containers.values()
            if any(m.type == "volume" and m.name == volume.name for m in c.mounts)
        ),
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
    limit: int | None = None,
) -> dict[str, Any]:
    """Engine, containers (filtered like `docker ps -a --filter`, at most `limit` of them),
    images, networks, volumes."""
    if state is not None and state not in CONTAINER_STATES:
        raise ValueError(f"bad state {state!r}: one of {', '.join(CONTAINER_STATES)}")
    wanted = _label_filter(labels)
    selected: list[dict[str, Any]] = []
    omitted = 0
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
        if limit is not None and len(selected) >= limit:
            omitted += 1
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
            "volume_sizes_sampled": snapshot.disk_usage.time if snapshot.disk_usage else None,
            "ping_up": snapshot.liveness.up,
            "last_ping_ok": snapshot.liveness.last_ok_ts,
            "containers_omitted": omitted,
        },
        "engine": engine_view(snapshot.engine),
        "containers": selected,
        "images": [
            image_view(snapshot, i)
            for i in sorted(snapshot.images.values(), key=lambda i: (i.tags, i.id))
        ],
        "networks": [
            network_view(snapshot, n)
            for n in sorted(snapshot.networks.values(), key=lambda n: (n.name, n.id))
        ],
        "volumes": [
            volume_view(snapshot, v)
            for v in sorted(snapshot.volumes.values(), key=lambda v: v.name)
        ],
    }

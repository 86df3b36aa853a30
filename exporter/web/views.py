"""JSON documents built from a snapshot: the inventory an operator reads instead of the CLI.

Pure functions of the snapshot. The environment of a container is never part of the
model, so it cannot leak here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from exporter.engine.models import CONTAINER_STATES, Container, EngineInfo, parse_timestamp
from exporter.engine.resources import Image, Network, Volume, registry_domain
from exporter.inventory.history import EventQuery, EventRecord
from exporter.inventory.store import PROCESS_STATES, Snapshot
from exporter.options import duration_seconds
from exporter.registry.freshness import image_update
from exporter.registry.models import RegistrySnapshot, Repository


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
        "image_update": _image_update(snapshot, c),
        "log": _log(snapshot, c),
        "writable_layer_bytes": (
            snapshot.container_sizes.writable.get(c.id) if snapshot.container_sizes else None
        ),
    }


def _image_update(snapshot: Snapshot, c: Container) -> dict[str, Any] | None:
    """The freshness verdict of a running container named by a reference ("not checked"
    while the image_updates collector has not asked, or does not run)."""
    verdict = image_update(c, snapshot.images, snapshot.image_checks, snapshot.engine)
    if verdict is None:
        return None
    ref = verdict.reference
    return {
        "registry": ref.registry,
        "repository": ref.repository,
        "tag": ref.tag,
        "available": verdict.available,
        "reason": verdict.reason or None,
        "running_digests": list(verdict.running),
        "registry_digest": verdict.latest or None,
        "checked_at": verdict.checked_ts,
    }


def _log(snapshot: Snapshot, c: Container) -> dict[str, Any] | None:
    if c.log is None:
        return None
    file = snapshot.log_files.get(c.id)
    return {
        "driver": c.log.driver,
        "max_size": c.log.max_size or None,
        "max_file": c.log.max_file or None,
        "path": file.path if file else None,
        "size_bytes": file.size_bytes if file else None,
        "written_bytes": file.written_bytes if file and file.size_bytes is not None else None,
        "error": (file.error or None) if file else None,
    }


def _stats(snapshot: Snapshot, c: Container) -> dict[str, Any] | None:
    """The latest background sample (what `docker stats` shows); None when not running."""
    sample = snapshot.stats.get(c.id)
    if sample is None or c.state not in PROCESS_STATES:
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


def compose_view(snapshot: Snapshot) -> list[dict[str, Any]]:
    """Compose projects and their services, each with its containers (names) by state,
    from the com.docker.compose.* labels; all containers, whatever the filters."""
    projects: dict[str, dict[str, list[Container]]] = {}
    for c in snapshot.containers.values():
        if c.compose_project and c.compose_service:
            projects.setdefault(c.compose_project, {}).setdefault(c.compose_service, []).append(c)
    out = []
    for project in sorted(projects):
        services = []
        for service, members in sorted(projects[project].items()):
            states: dict[str, int] = {}
            for c in members:
                states[c.state] = states.get(c.state, 0) + 1
            services.append(
                {
                    "service": service,
                    "running": states.get("running", 0),
                    "states": dict(sorted(states.items())),
                    "containers": sorted(c.name for c in members),
                }
            )
        out.append({"project": project, "services": services})
    return out


def _repository_view(repository: Repository) -> dict[str, Any]:
    tags = None
    if repository.tags is not None:
        tags = []
        for tag in repository.tags:
            manifest = repository.manifests.get(tag)
            tags.append(
                {
                    "tag": tag,
                    "digest": manifest.digest if manifest else None,
                    "media_type": manifest.media_type if manifest else None,
                    "size_bytes": manifest.size_bytes if manifest else None,
                }
            )
    return {"name": repository.name, "tags": tags}


def registry_view(snapshot: Snapshot, registry: RegistrySnapshot) -> dict[str, Any]:
    """A registry as its latest poll saw it, and the local images with a reference there
    (a RepoTags or RepoDigests entry whose domain is the registry's host:port)."""
    local = []
    for image in sorted(snapshot.images.values(), key=lambda i: i.id):
        refs = [
            r
            for r in (*image.repo_tags, *image.repo_digests)
            if registry_domain(r) == registry.name
        ]
        if refs:
            local.append({"id": image.id, "short_id": image.short_id, "references": refs})
    return {
        "name": registry.name,
        "url": registry.url,
        "up": registry.up,
        "polled": registry.polled,
        "auth": registry.auth,
        "error": registry.error or None,
        "probe_seconds": registry.probe_seconds,
        "last_success": registry.last_success_ts,
        "last_poll": registry.last_poll_ts,
        "catalog_truncated": registry.catalog_truncated,
        "certificate_expiry": registry.certificate_expiry_ts,
        "requests": dict(sorted(registry.requests.items())),
        "repositories": [_repository_view(r) for r in registry.repositories],
        "local_images": local,
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
    images, networks, volumes and the watched registries."""
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
        "compose": compose_view(snapshot),
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
        "registries": [
            registry_view(snapshot, r)
            for r in sorted(snapshot.registries.values(), key=lambda r: r.name)
        ],
    }


MAX_EVENTS_LIMIT = 100_000


def parse_since(text: str, now: float) -> int:
    """`docker events --since` forms: Unix seconds (fractions allowed), RFC 3339, or a
    duration before now (`10m`, `1h`); in nanoseconds."""
    text = text.strip()
    ago = duration_seconds(text, unit_required=True)
    if ago is not None:
        return int((now - ago) * 1e9)
    try:
        return int(float(text) * 1e9)
    except ValueError:
        pass
    stamp = parse_timestamp(text)
    if stamp is None:
        raise ValueError(f"bad since {text!r}: Unix seconds, RFC 3339 or a duration like 10m")
    return int(stamp * 1e9)


def _whole(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    if not text.strip().isdigit():
        raise ValueError(f"bad {what} {text!r}: a whole number >= 0")
    return int(text)


def event_query(
    *,
    types: Sequence[str] = (),
    actions: Sequence[str] = (),
    container: str | None = None,
    since: str | None = None,
    after: str | None = None,
    limit: str | None = None,
    now: float,
) -> EventQuery:
    """/events' query parameters, checked; ValueError names the bad one."""
    bound = _whole(limit, "limit")
    if bound is not None and not 1 <= bound <= MAX_EVENTS_LIMIT:
        raise ValueError(f"bad limit {limit!r}: 1 to {MAX_EVENTS_LIMIT}")
    return EventQuery(
        types=tuple(types),
        actions=tuple(actions),
        container=container or "",
        since_ns=None if since is None else parse_since(since, now),
        after=_whole(after, "after"),
        limit=bound,
    )


def event_view(r: EventRecord) -> dict[str, Any]:
    return {
        "seq": r.seq,
        "time": r.time_ns / 1e9,
        "time_nano": r.time_ns,
        "type": r.type,
        "action": r.action,
        "status": r.status or None,
        "actor_id": r.actor_id,
        "container_id": r.container_id or None,
        "container_name": r.container_name or None,
        "attributes": dict(r.attributes),
    }


def events_view(
    records: Sequence[EventRecord], query: EventQuery, *, capacity: int, last_seq: int
) -> dict[str, Any]:
    """The history, newest first. `last_seq` is the latest record's seq (a follower asks
    for `after` it); a gap between a follower's `after` and `oldest_seq` was evicted."""
    return {
        "capacity": capacity,
        "last_seq": last_seq,
        "oldest_seq": records[0].seq if records else None,
        "events": [event_view(r) for r in query.select(records)],
    }

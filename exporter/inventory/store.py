"""The in-memory inventory and the immutable snapshots it publishes.

Writers (the watcher, the samplers) mutate the Inventory; readers (collectors, HTTP
handlers) only ever see a Snapshot, which is never mutated after publication. A
scrape therefore reads a consistent view without locks and without the Engine.

The container filter (`--container.include/exclude`, exporter.inventory.filters) cuts
here, where an inspect result is stored: an excluded container is kept apart from the
published set, so everything downstream (the stats sampler's targets, the top poller,
every collector, /inventory, /topology, network members, /events) reads one set and
does no work for it. The inventory still inspects it on its events (its state counts
in docker_engine_containers) but skips its health-probe re-inspects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

from exporter.engine.events import Event
from exporter.engine.models import CONTAINER_STATES, LIVE_STATES, Container, EngineInfo
from exporter.engine.resources import (
    DiskUsage,
    Image,
    Network,
    Volume,
    attached_network,
    memberships,
    network_index,
)
from exporter.engine.stats import ContainerSizes, ContainerStats, LogFile, ProcessInfo
from exporter.engine.telemetry import EngineTelemetry, Truncation
from exporter.inventory.filters import ContainerFilter
from exporter.inventory.history import EventHistory
from exporter.options import option, parse_positive_int
from exporter.registry.models import RegistrySnapshot, TagCheck

_EMPTY: Mapping[Any, Any] = MappingProxyType({})
T = TypeVar("T")

PROCESS_STATES = frozenset({"running", "paused", "restarting"})
"""Container states that can have processes; any other state drops its process list.
A `restarting` container has processes only while it has a PID (Docker reports the
state between a run's end and the restart policy's next start, PID 0)."""
NETWORK_KEY = "network/"
MAX_PROCESSES = option(
    "--inventory.max-processes",
    "256",
    parse_positive_int,
    "Processes kept per container (the lowest PIDs); more are cut and counted.",
    group="inventory",
)
"""Each process is a few series, and a fork bomb in one container must not grow the
exporter; the lowest PIDs are kept."""
MAX_EVENT_KINDS = option(
    "--inventory.max-event-kinds",
    "512",
    parse_positive_int,
    "Distinct (type, action) event counters; the engine names actions, so the rest are"
    " counted as type=other, action=other.",
    group="inventory",
)
"""Actions come from the engine, so a hostile one could invent them forever."""
OTHER_EVENTS = ("other", "other")
REMEMBERED_REMOVALS = 4096
"""Removals whose generation is remembered (`Inventory.generation`): only an inspect in
flight across one needs it, and an inspect lasts at most the request timeout, in which
no engine removes thousands of objects; a dict that kept every removed ID forever grew
by an entry per container a churning host ever removed (bench/soak.py)."""
FINISH_SLACK = 1.0
"""Seconds a `die` event may precede inspect's FinishedAt and still be that run's end
(the engine logs it just after recording the exit; clocks are the engine's own)."""


@dataclass(frozen=True, slots=True)
class RunEnd:
    """What a container's last `die` and `oom` events said, in the engine's time."""

    exit_code: int | None = None
    died_at: float | None = None
    oom_at: float | None = None


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
    refresh_high_water: int = 0
    """The most objects (containers plus networks) one refresh pass had to inspect: what
    an event storm queued up between two passes (the queue holds each object once)."""
    transfers: Mapping[tuple[str, str], int] = field(default_factory=lambda: _EMPTY)
    """Image `push` / `pull` events by (action, registry domain), at most
    MAX_TRANSFER_REGISTRIES domains, the rest as `other`."""
    repeated_exits: int = 0
    """Container `die` events that repeated an exit already seen (`Watcher._repeated_exit`)."""


@dataclass(frozen=True, slots=True)
class LivenessStatus:
    """The liveness probe's verdict; `up` is None until a probe ran (or none runs: --once)."""

    up: bool | None = None
    interval: float = 0.0
    last_ok_ts: float | None = None
    down_since: float | None = None
    failures: int = 0
    probes: int = 0


MAX_TRANSFER_REGISTRIES = 32
OTHER_REGISTRY = "other"


@dataclass(frozen=True, slots=True)
class SamplerStatus:
    """How the latest stats sweep went; `source` is empty until the sampler starts."""

    source: str = ""
    interval: float = 0.0
    sweep_seconds: float | None = None
    last_sample_ts: float | None = None
    errors: int = 0
    api_fallbacks: int = 0
    sweeps: int = 0
    samples: int = 0
    suspended: int = 0
    """Sweeps (or their API fallback) skipped because the engine did not answer."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One consistent view of the engine; `version` grows with every publication."""

    version: int = 0
    engine: EngineInfo | None = None
    containers: Mapping[str, Container] = field(default_factory=lambda: _EMPTY)
    oom_events: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    status: WatcherStatus = field(default_factory=WatcherStatus)
    images: Mapping[str, Image] = field(default_factory=lambda: _EMPTY)
    networks: Mapping[str, Network] = field(default_factory=lambda: _EMPTY)
    volumes: Mapping[str, Volume] = field(default_factory=lambda: _EMPTY)
    disk_usage: DiskUsage | None = None
    """The latest `/system/df` sample, only when the volume_sizes collector runs."""
    stats: Mapping[str, ContainerStats] = field(default_factory=lambda: _EMPTY)
    processes: Mapping[str, tuple[ProcessInfo, ...]] = field(default_factory=lambda: _EMPTY)
    """Per container ID, from the cgroup path or the opt-in `top` poller; running ones only."""
    sampler: SamplerStatus = field(default_factory=SamplerStatus)
    truncations: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    """What the inventory's own caps cut (processes, event kinds), counted."""
    liveness: LivenessStatus = field(default_factory=LivenessStatus)
    engine_requests: EngineTelemetry = field(default_factory=EngineTelemetry)
    """The adapter's request meter, frozen by the liveness probe on its timer."""

    @property
    def up(self) -> bool:
        """docker_up: the engine answers (its ping, when one runs) and the inventory is
        current (synced, and not marked down by a failed stream or ping since)."""
        status = self.status
        return status.engine_up and status.synced and self.liveness.up is not False

    container_counts: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    """Containers per state, the filtered-out ones included (`containers` holds only
    those the container filter keeps)."""
    excluded: int = 0
    """How many known containers the container filter leaves out."""
    health_transitions: Mapping[str, Mapping[str, int]] = field(default_factory=lambda: _EMPTY)
    """Per container ID: health_status events that changed its status, by new status."""
    registries: Mapping[str, RegistrySnapshot] = field(default_factory=lambda: _EMPTY)
    """Per registry name (host:port), the latest poll (exporter.registry.poller)."""
    host_stats: ContainerStats | None = None
    """The root cgroup's latest sample, read only for the cAdvisor-shaped exposition
    (`--compat.cadvisor.listen-address`, cgroup source)."""
    image_checks: Mapping[str, TagCheck] = field(default_factory=lambda: _EMPTY)
    """Per `registry/repository:tag`, what the registry said the tag points to now
    (exporter.registry.checker), for the tags running containers use."""
    log_files: Mapping[str, LogFile] = field(default_factory=lambda: _EMPTY)
    """Per container ID, its log file's size (exporter.stats.logfiles)."""
    container_sizes: ContainerSizes | None = None
    """The latest `docker ps --size` sample, only when the container_sizes collector runs."""

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

    def __init__(
        self,
        container_filter: ContainerFilter | None = None,
        history: EventHistory | None = None,
        *,
        max_processes: int = MAX_PROCESSES.value,
        max_event_kinds: int = MAX_EVENT_KINDS.value,
    ) -> None:
        self._max_processes = max_processes
        self._max_event_kinds = max_event_kinds
        self._truncations: dict[str, int] = {}
        self._filter = container_filter or ContainerFilter()
        self.history = history or EventHistory()
        """The /events ring; written on the event loop by the watcher, read there too."""
        self._health: dict[str, Mapping[str, int]] = {}
        self._state_counts: dict[str, int] | None = None
        """Containers per state, all of them; None when a container changed since."""
        self._last_health: dict[str, str] = {}
        self._containers: dict[str, Container] = {}
        self._excluded: dict[str, Container] = {}
        self._inspected: dict[str, Container] = {}
        self._ends: dict[str, RunEnd] = {}
        self._generation: dict[str, int] = {}
        self._oom: dict[str, int] = {}
        self._events: dict[tuple[str, str], int] = {}
        self._transfers: dict[tuple[str, str], int] = {}
        self._last_event_ts: float | None = None
        self._images: dict[str, Image] = {}
        self._networks: dict[str, Network] = {}
        self._members = _Members(None, None, _EMPTY)
        self._volumes: dict[str, Volume] = {}
        self._processes: dict[str, tuple[ProcessInfo, ...]] = {}
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
        """Store an inspect result, corrected by the events that inspect may have lost."""
        if generation is not None and generation != self.generation(container.id):
            return False
        self._inspected[container.id] = container
        self._reconcile(container.id)
        return True

    def set_health(self, container_id: str, health: str, failing_streak: int) -> bool:
        """Health and failing streak of a running container as the list reports them (API
        1.52+), without an inspect; True if that changed what is stored. A container not
        running is left to its inspect (the list says `none` for every stopped one)."""
        container = self._inspected.get(container_id)
        if container is None or container.state != "running" or container.healthcheck is None:
            return False
        if (container.health, container.failing_streak) == (health, failing_streak):
            return False
        self._inspected[container_id] = replace(
            container, health=health, failing_streak=failing_streak
        )
        self._reconcile(container_id)
        return True

    def remove(self, container_id: str) -> None:
        self._state_counts = None
        self._bump(container_id)
        self._containers.pop(container_id, None)
        self._excluded.pop(container_id, None)
        self._inspected.pop(container_id, None)
        self._ends.pop(container_id, None)
        self._oom.pop(container_id, None)
        self._processes.pop(container_id, None)
        self._health.pop(container_id, None)
        self._last_health.pop(container_id, None)

    def note_die(self, container_id: str, exit_code: int | None, time_ns: int) -> None:
        """A `die` event: the code of the run that ended (inspect resets it when the
        restart policy starts the next run, at once in a crash loop without back-off)."""
        end = self._ends.get(container_id, RunEnd())
        if exit_code is not None:
            end = replace(end, exit_code=exit_code, died_at=time_ns / 1e9)
        self._ends[container_id] = end
        self._reconcile(container_id)

    def note_oom(self, container_id: str, time_ns: int) -> None:
        """An `oom` event: counted, and it marks the current run OOM-killed."""
        self._oom[container_id] = self._oom.get(container_id, 0) + 1
        end = self._ends.get(container_id, RunEnd())
        self._ends[container_id] = replace(end, oom_at=time_ns / 1e9)
        self._reconcile(container_id)

    def _reconcile(self, container_id: str) -> None:
        """The stored container: the latest inspect, corrected by the `die` and `oom`
        events (their order against the inspect does not matter).

        - exit code: while a run is in progress (running, paused) inspect's ExitCode was
          reset to 0 at its start, so the last `die` event's exitCode is the last run's,
          unless inspect's FinishedAt is later than that die (by over FINISH_SLACK): a
          later run ended whose die was not seen, and inspect's 0 stands. In any other
          state inspect's code is that of the run that ended.
        - OOM: inspect's OOMKilled, or an `oom` event at or after the current (or last)
          run's StartedAt; a new start resets it. (Docker 20.10 sets OOMKilled only when
          containerd's OOM notice beats the exit; the `oom` event comes either way.)
        - processes: only while the state can have them and there is a live PID.
        """
        container = self._inspected.get(container_id)
        if container is None:
            return
        self._state_counts = None
        end = self._ends.get(container_id)
        if end is not None:
            changes: dict[str, Any] = {}
            if (
                container.state in LIVE_STATES
                and end.exit_code is not None
                and end.died_at is not None
                and (
                    container.finished_at is None
                    or end.died_at >= container.finished_at - FINISH_SLACK
                )
            ):
                changes["exit_code"] = end.exit_code
            if (
                not container.oom_killed
                and end.oom_at is not None
                and (container.started_at is None or end.oom_at >= container.started_at)
            ):
                changes["oom_killed"] = True
            if changes:
                container = replace(container, **changes)
        if not self._filter.admits(container):
            self._excluded[container_id] = container
            self._containers.pop(container_id, None)
            self._processes.pop(container_id, None)
            return
        self._excluded.pop(container_id, None)
        self._containers[container_id] = _kept(self._containers.get(container_id), container)
        if container.state not in PROCESS_STATES or container.pid <= 0:
            self._processes.pop(container_id, None)

    # -- images, networks, volumes, processes ---------------------------

    def images(self) -> Mapping[str, Image]:
        """The working set, read-only: the watcher inspects only IDs it has not seen."""
        return MappingProxyType(self._images)

    def replace_images(self, images: Mapping[str, Image]) -> None:
        self._images = _kept_all(self._images, images)

    def _bump(self, key: str) -> None:
        """A removal: the key's generation moves on, the oldest remembered is forgotten."""
        generations = self._generation
        generations[key] = generations.pop(key, 0) + 1
        if len(generations) > REMEMBERED_REMOVALS:
            del generations[next(iter(generations))]

    def network_generation(self, network_id: str) -> int:
        """Like `generation`, for networks: an inspect racing a destroy must not resurrect."""
        return self._generation.get(NETWORK_KEY + network_id, 0)

    def upsert_network(self, network: Network, generation: int | None = None) -> bool:
        if generation is not None and generation != self.network_generation(network.id):
            return False
        self._networks[network.id] = network
        return True

    def remove_network(self, ref: str) -> None:
        """By ID or name (Podman's network events name the network, not its ID)."""
        for network_id in [i for i, n in self._networks.items() if ref in (i, n.name)] or [ref]:
            self._bump(NETWORK_KEY + network_id)
            self._networks.pop(network_id, None)

    def known_network_ids(self) -> set[str]:
        return set(self._networks)

    def knows_network(self, ref: str) -> bool:
        """By ID or name (Podman's network events name the network, not its ID)."""
        return ref in self._networks or any(n.name == ref for n in self._networks.values())

    def unknown_networks(self, container_ids: Iterable[str]) -> list[str]:
        """Networks the containers are attached to that the inventory has not inspected."""
        refs: dict[str, None] = {}
        index = network_index(self._networks.values())
        for cid in container_ids:
            container = self._containers.get(cid)
            for attachment in container.networks if container else ():
                if attachment.connected and attached_network(index, attachment) is None:
                    refs[attachment.network_id or attachment.network] = None
        return list(refs)

    def container(self, container_id: str) -> Container | None:
        """The working set's container (published or not yet); None for one the container
        filter leaves out."""
        return self._containers.get(container_id)

    def replace_volumes(self, volumes: Mapping[str, Volume]) -> None:
        self._volumes = _kept_all(self._volumes, volumes)

    def set_processes(self, container_id: str, processes: tuple[ProcessInfo, ...] | None) -> None:
        """One container's process list (None forgets it); kept only while the container runs."""
        container = self._containers.get(container_id)
        if (
            processes is None
            or container is None
            or container.state not in PROCESS_STATES
            or container.pid <= 0
        ):
            self._processes.pop(container_id, None)
        else:
            if len(processes) > self._max_processes:
                processes = tuple(sorted(processes, key=lambda p: p.pid)[: self._max_processes])
                self._truncate("processes")
            self._processes[container_id] = processes

    def _truncate(self, what: Truncation) -> None:
        self._truncations[what] = self._truncations.get(what, 0) + 1

    def update_processes(self, processes: Mapping[str, tuple[ProcessInfo, ...]]) -> None:
        """The lists a sampler sweep read. Others stay (another source may have read them)
        until their container stops or goes."""
        for container_id, procs in processes.items():
            self.set_processes(container_id, procs)

    def known_ids(self) -> set[str]:
        """Every known container, the filtered-out ones included."""
        return set(self._containers) | set(self._excluded)

    def count_event(self, kind: str, action: str, time_ns: int) -> None:
        """Counted here, so any publication (a stats sweep too) carries the latest counts."""
        key = (kind, action)
        if key not in self._events and len(self._events) >= self._max_event_kinds:
            key = OTHER_EVENTS
            self._truncate("event_kinds")
        self._events[key] = self._events.get(key, 0) + 1
        self._last_event_ts = time_ns / 1e9

    def record_event(self, event: Event) -> None:
        """Into the history (when of a kept kind and an admitted container), and a
        health_status that changes the container's status into its transitions (Podman
        sends one per probe; Docker one per change)."""
        self.history.record(event, container_name=self._name_of, admitted=self._admitted)
        if event.type != "container" or event.action != "health_status" or not event.detail:
            return
        cid, status = event.actor_id, event.detail
        if self._last_health.get(cid) == status or not self._admitted(cid, event.attributes):
            return
        self._last_health[cid] = status
        counts = self._health.get(cid, {})
        self._health[cid] = {**counts, status: counts.get(status, 0) + 1}

    def _name_of(self, container_id: str) -> str | None:
        container = self._containers.get(container_id) or self._excluded.get(container_id)
        return container.name if container else None

    def _admitted(self, container_id: str, attributes: Mapping[str, str]) -> bool:
        if container_id in self._excluded:
            return False
        if container_id in self._containers or self._filter.everything:
            return True
        return not attributes or self._filter.admits_attributes(attributes)

    def count_transfer(self, action: str, registry: str) -> None:
        """An image push or pull to/from `registry`; past MAX_TRANSFER_REGISTRIES distinct
        registries the rest count as `other` (a label bound)."""
        known = {r for _, r in self._transfers}
        if registry not in known and len(known - {OTHER_REGISTRY}) >= MAX_TRANSFER_REGISTRIES:
            registry = OTHER_REGISTRY
        key = (action, registry)
        self._transfers[key] = self._transfers.get(key, 0) + 1

    def publish_registry(self, registry: RegistrySnapshot) -> Snapshot:
        """A registry poller's latest result (the poller owns it: no working copy here)."""
        current = self._snapshot.registries
        if current.get(registry.name) is registry:
            return self._snapshot
        registries = MappingProxyType({**current, registry.name: registry})
        return self.publish(registries=registries)

    def publish(self, **changes: Any) -> Snapshot:
        """Freeze the working set (plus any `changes` to other fields) into a new snapshot.

        A field whose content did not change keeps the previous snapshot's object, so a
        renderer can tell unchanged inputs apart by identity.
        """
        prev = self._snapshot
        status = changes.pop("status", prev.status)
        if "stats" in changes:  # a sweep of idle containers: the same samples, same object
            changes["stats"] = _frozen(prev.stats, changes["stats"])
        if "processes" in changes:  # a sampler sweep: merge it, so removals still prune it
            self.update_processes(changes.pop("processes"))
        status = replace(
            status,
            events=_frozen(prev.status.events, self._events),
            transfers=_frozen(prev.status.transfers, self._transfers),
            last_event_ts=self._last_event_ts,
        )
        containers = _frozen(prev.containers, self._containers)
        snapshot = replace(
            prev,
            version=prev.version + 1,
            containers=containers,
            oom_events=_frozen(prev.oom_events, self._oom),
            status=prev.status if status == prev.status else status,
            images=_frozen(prev.images, self._images),
            networks=self._with_members(prev.networks, containers),
            volumes=_frozen(prev.volumes, self._volumes),
            processes=_frozen(prev.processes, self._processes),
            truncations=_frozen(prev.truncations, self._truncations),
            container_counts=_frozen(prev.container_counts, self._counts()),
            excluded=len(self._excluded),
            health_transitions=_frozen(prev.health_transitions, self._health),
            **changes,
        )
        self._snapshot = snapshot
        for listener in self._listeners:
            listener(snapshot)
        return snapshot

    def _counts(self) -> dict[str, int]:
        """Recounted only after a container changed: a stats sweep publishes without."""
        if self._state_counts is None:
            counts = dict.fromkeys(CONTAINER_STATES, 0)
            for group in (self._containers, self._excluded):
                for container in group.values():
                    counts[container.state] = counts.get(container.state, 0) + 1
            self._state_counts = counts
        return self._state_counts

    def _with_members(
        self, previous: Mapping[str, Network], containers: Mapping[str, Container]
    ) -> Mapping[str, Network]:
        """The networks with their members derived from the containers' own inspect.

        One source of truth for the topology: a container's `NetworkSettings.Networks`,
        which both engines keep current on every container event, where Podman sends no
        network event when a container starts on a network (and 4.x none on create or
        remove). Network inspect supplies the network's own fields. Recomputed only
        when the containers or the networks changed; unchanged networks keep their object.
        """
        last = self._members
        networks = _frozen(last.networks or _EMPTY, self._networks)
        if containers is last.containers and networks is last.networks:
            return last.result
        derived = {}
        members_by_id = memberships(networks.values(), containers.values())
        for network_id, network in networks.items():
            members = members_by_id[network_id]
            old = previous.get(network_id)
            if old is not None and old.members == members and _same_network(old, network):
                derived[network_id] = old
            else:
                derived[network_id] = replace(network, members=members)
        result = _frozen(previous, derived)
        self._members = _Members(containers, networks, result)
        return result


class _Members(NamedTuple):
    """The last `_with_members`: its inputs (compared by identity) and its result."""

    containers: Mapping[str, Container] | None
    networks: Mapping[str, Network] | None
    result: Mapping[str, Network]


def _same_network(a: Network, b: Network) -> bool:
    """Equal but for the members (which the inventory derives)."""
    return replace(a, members=()) == replace(b, members=())


def _kept(old: T | None, new: T) -> T:
    """The identity contract: an object equal to the one stored stays that object.

    The byte store re-encodes an object that is not the very one it encoded, and a
    pass re-reads every object (a full resync inspects every container, each pass
    lists volumes, an image event rebuilds the image list): keeping the stored one
    where nothing changed lets the next event re-encode only what it changed."""
    return old if old is not None and old == new else new


def _kept_all(old: Mapping[str, T], new: Mapping[str, T]) -> dict[str, T]:
    """`new` as a dict, with `_kept` applied per key."""
    return {key: _kept(old.get(key), value) for key, value in new.items()}


def _frozen(previous: Mapping[Any, Any], current: Mapping[Any, Any]) -> Mapping[Any, Any]:
    """`previous` when equal to `current` (values compare by identity first: cheap), else
    a read-only copy of `current`."""
    return previous if previous == current else MappingProxyType(dict(current))

"""Keeps the inventory current: follow `/events`, re-list on every (re)connect, reconcile.

The docker CLI pattern: open the stream first, then list and inspect, then consume
the stream. Reconnects replay with an inclusive `since` and drop duplicates, and
re-list anyway because the Engine's replay buffer holds only 256 events and is empty
after a daemon restart. A periodic full reconcile covers silently dropped events.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Set
from contextlib import suppress
from dataclasses import replace
from functools import partial

from exporter.clock import Clock
from exporter.engine.api import (
    Engine,
    EngineError,
    EngineTimeout,
    EngineUnavailable,
    NotFound,
    RequestFailed,
    ServerError,
)
from exporter.engine.events import Event, die_exit_code
from exporter.engine.models import EngineInfo, ListedContainer
from exporter.engine.resources import Image, registry_domain
from exporter.inventory.store import Inventory, WatcherStatus

log = logging.getLogger(__name__)

IGNORED_CONTAINER_ACTIONS = frozenset(
    {
        "exec_create",
        "exec_start",
        "exec_die",
        "exec_detach",
        "exec",
        "exec_died",
        "top",
        "attach",
        "detach",
        "resize",
        "copy",
        "archive-path",
        "extract-to-dir",
        "export",
        "commit",
    }
)
"""Actions that change nothing we report; health probes alone send three per probe
(Podman's are `exec` and `exec_died`). The end of a probe is looked at (PROBE_ENDS)."""

PROBE_ENDS = frozenset({"exec_die", "exec_died"})
"""A health probe is an exec: its end is the only event a probe that changes no health
status sends, and the failing streak moves with every probe. A container with a
healthcheck is re-read on one, at most once per probe interval (engine time), and not
when a successful exec ends on a healthy container with no streak (nothing moves). On
Docker with API 1.52+ (`EngineInfo.health_in_list`) it is read from one container list for
every probe since, not an inspect per container; on Podman and older APIs, inspected."""

QUIET_EVENTS = 100
"""A light reconcile lists containers only after this many events since the last list.

What it looks for is an event the Engine dropped while the stream stayed up, and dockerd
drops one for a subscriber only while that subscriber's channel holds 1024 undelivered
events (daemon/events: a 1024-event buffer and a 100 ms send timeout). Those are then
delivered, so after a drop at least 1024 events arrive before the stream can end (an
end re-lists anyway). Fewer than QUIET_EVENTS received since the last list, with the
stream up throughout, means nothing was dropped; the pass still lists images (an untagged
`docker build` sends no event before API 1.46), networks and volumes. Podman's events
come from another implementation: its light passes always list."""

FULL_RESYNC_EVERY = 10
"""Every tenth periodic reconcile inspects everything (restart counts, limits changed by
`docker update` whose events were lost); the others inspect only what the list shows changed."""

COUNT_ONLY_DELAY = 1.0
"""Events that change nothing but counters (health probes send three per probe) are
published at most this often, so 100 containers probing every second cost no renders."""

REMOVED_ACTIONS = frozenset({"destroy", "remove"})
"""`remove` is Podman's name for Docker's `destroy` (and swarm's, for networks)."""

VOLUME_ACTIONS = frozenset({"create", "destroy", "remove", "prune"})
"""`mount`/`unmount` fire on every container start and stop and change no volume."""


class StreamEnded(Exception):
    """An established event stream ended or broke: reconnect (which re-lists). The engine
    is not down for that (proxies cut idle streams): opening the next one tells."""


TRANSFER_ACTIONS = frozenset({"push", "pull"})
"""Image events counted by registry (docker_image_pushes_total, docker_image_pulls_total)."""

NETWORK_POLL = 5.0
"""How often networks are listed on an engine that sends no network lifecycle events."""


def lacks_network_events(engine: EngineInfo) -> bool:
    """Podman before 5.0 sends `connect`/`disconnect` but no network `create` or `remove`."""
    major = engine.version.split(".", 1)[0]
    return engine.podman and major.isdigit() and int(major) < 5


class Watcher:
    """Owns the event stream, the resyncs and the per-container refreshes."""

    def __init__(
        self,
        engine: Engine,
        inventory: Inventory,
        clock: Clock,
        *,
        resync_interval: float = 60.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        concurrency: int = 8,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._engine = engine
        self._inventory = inventory
        self._clock = clock
        self._resync_interval = resync_interval
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._limit = asyncio.Semaphore(concurrency)
        self._jitter = jitter
        self._last_ns: int | None = None
        self._seen_at_last: set[tuple[int, str, str, str]] = set()
        self._pending: dict[str, None] = {}
        self._pending_networks: dict[str, None] = {}
        self._wake = asyncio.Event()
        self._network_poll_wanted = asyncio.Event()  # set once the engine is known to need it
        self._engine_dirty = False
        self._images_dirty = False
        self._networks_dirty = False
        self._volumes_dirty = False
        self._objects_lock = asyncio.Lock()
        self._refused: set[str] = set()
        self._outage = False
        self._status = WatcherStatus()
        self._published_at = 0.0
        self._removed = False
        self._signatures: dict[str, str] = {}
        self._probed: dict[str, float] = {}  # container -> engine time of the last probe inspect
        self._probes_pending = False  # probe ends to read from one list (API 1.52+)
        self._received = 0  # events read from the stream, replays included
        self._listed_at: tuple[int, int] | None = None  # (_received, reconnects) at a list
        self._reachable = asyncio.Event()  # cleared while the liveness probe gets no answer
        self._reachable.set()
        self._attempt: asyncio.Task[None] | None = None  # the stream being followed
        self._down_since: float | None = None

    # -- lifecycle -------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled: the stream loop, the refresher and the periodic reconcile."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._stream_loop(), name="watcher-stream")
            group.create_task(self._refresh_loop(), name="watcher-refresh")
            group.create_task(self._periodic_loop(), name="watcher-periodic")
            group.create_task(self._network_poll_loop(), name="watcher-networks")

    def reachable(self, up: bool, reason: str) -> None:
        """The liveness probe's verdict changed. No answer: cut the stream (its socket
        stays open on a hung engine, silent like an idle one) and whatever resync rides
        on it, serve docker_up 0 and the last inventory, and wait. An answer again:
        reconnect at once, which re-lists and reconciles."""
        if up:
            self._reachable.set()
            return
        self._reachable.clear()
        self._mark_down(EngineUnavailable(reason))
        if self._attempt is not None:
            self._attempt.cancel()

    async def _stream_loop(self) -> None:
        backoff = self._backoff_initial
        first = True
        while True:
            await self._reachable.wait()
            self._attempt = asyncio.create_task(self._follow(first), name="watcher-follow")
            first = False
            try:
                await self._attempt
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # shutdown (the attempt was cancelled with us)
                backoff = self._backoff_initial  # the probe cut it: wait for it, not a backoff
                continue
            except StreamEnded as exc:
                log.info("%s; reconnecting", exc)
                self._set_status(stream_up=False)
            except ServerError as exc:  # the engine answers, one request of the pass failed
                log.warning("resync failed, retrying: %s", exc)
                self._set_status(stream_up=False)
            except EngineError as exc:
                self._mark_down(exc)
            else:
                backoff = self._backoff_initial
            finally:
                self._attempt = None
            await self._clock.sleep(backoff * (0.5 + self._jitter() / 2))
            backoff = min(backoff * 2, self._backoff_max)

    async def _follow(self, first: bool) -> None:
        """Open the stream, resync, consume it; raises how it ended."""
        since = self._last_ns
        if since is None:
            since = int((self._clock.time() - 1.0) * 1e9)
        async with self._engine.events(since) as stream:
            if not first:
                self._set_status(reconnects=self._status.reconnects + 1)
            await self.resync()
            self._set_status(stream_up=True)
            try:
                async for event in stream:
                    self.handle(event)
            except EngineUnavailable as exc:
                raise StreamEnded(f"the event stream broke: {exc}") from exc
        raise StreamEnded("the event stream ended")

    async def _periodic_loop(self) -> None:
        passes = 0
        while True:
            await self._clock.sleep(self._resync_interval)
            if not self._status.stream_up or not self._reachable.is_set():
                continue
            passes += 1
            try:
                await self.resync(full=passes % FULL_RESYNC_EVERY == 0)
            except EngineError as exc:
                log.warning("periodic reconcile failed: %s", exc)

    async def _network_poll_loop(self) -> None:
        """Where the engine sends no network `create` or `destroy` event (Podman 4), list
        the networks every NETWORK_POLL seconds: one cheap request, and an inspect only of
        what is new, so that a network shows up and goes in seconds, not at the next pass."""
        await self._network_poll_wanted.wait()
        while True:
            await self._clock.sleep(NETWORK_POLL)
            if not self._status.stream_up:
                continue
            before = self._inventory.known_network_ids()
            try:
                await self._sync_networks(inspect_known=False)
            except EngineError as exc:
                log.debug("network poll failed; the next pass will catch up: %s", exc)
                continue
            if self._inventory.known_network_ids() != before:
                self._inventory.publish(status=self._status)

    async def _refresh_loop(self) -> None:
        while True:
            await self._wake.wait()
            await self._reachable.wait()  # a hung engine: pending work waits for its answer
            self._wake.clear()
            await self.refresh_pending()

    # -- reconciliation --------------------------------------------------

    async def resync(self, *, full: bool = True) -> None:
        """List and reconcile; marks the inventory synced and the engine up.

        A full resync inspects every container and network and re-reads /info and
        /version; a light one (the periodic pass between full ones) only lists, and
        inspects what is new or whose list signature changed: on a quiet host with 100
        containers that is about 8 ms of Engine CPU a minute instead of 15 (and 100
        inspects). Events keep the rest current; `daemon` events refresh the engine info.
        A light pass after fewer than QUIET_EVENTS events lists no containers: that list
        is nearly all of a light pass's Engine CPU (about 12 ms at 100 containers here).
        """
        engine = self._inventory.snapshot.engine
        if full or engine is None:
            engine = await self._engine.engine_info()
        if not full and self._quiet(engine):
            await self._sync_objects(full=False)
            self._synced(engine, len(self._signatures))
            return
        self._listed_at = (self._received, self._status.reconnects)
        # Only what was known before the list was asked for can be missing from it: a
        # container added while the answer travelled (by an event's inspect, or by an
        # overlapping resync whose list came later) was created after this listing.
        known = self._inventory.known_ids()
        listed = await self._engine.list_containers()
        for gone in known - set(listed):
            self._inventory.remove(gone)
            self._probed.pop(gone, None)
        for gone in set(self._signatures) - set(listed):  # removed: by event or unseen
            del self._signatures[gone]
        ids = [
            cid
            for cid, row in listed.items()
            if full
            or cid not in self._inventory.known_ids()
            or self._signatures.get(cid) != row.signature
        ]
        failed = await self._inspect_all(ids)
        self._signatures.update({cid: listed[cid].signature for cid in ids if cid not in failed})
        self._apply_listed_health(listed, skip=set(ids))
        if failed:
            self._listed_at = None  # the next light pass lists and inspects them again
        await self._sync_objects(full=full)
        if full:
            self._engine_dirty = False
        self._synced(engine, len(listed))

    def _apply_listed_health(
        self, listed: Mapping[str, ListedContainer], skip: Set[str] = frozenset()
    ) -> None:
        """Health and failing streak from the list (API 1.52+), for what was not just
        inspected: a probe's outcome costs no inspect."""
        for cid, row in listed.items():
            if row.health is not None and cid not in skip:
                self._inventory.set_health(cid, row.health, row.failing_streak)

    def _quiet(self, engine: EngineInfo) -> bool:
        """Whether a light pass may skip the container list (`QUIET_EVENTS`)."""
        if engine.podman or self._listed_at is None:
            return False
        received, reconnects = self._listed_at
        return self._received - received < QUIET_EVENTS and (
            reconnects == self._status.reconnects and self._status.stream_up
        )

    def _synced(self, engine: EngineInfo, containers: int) -> None:
        if self._outage:
            since = self._down_since
            took = f" after {self._clock.time() - since:.1f}s" if since is not None else ""
            log.info(
                "engine reachable again%s; inventory reconciled (%d containers)", took, containers
            )
        self._outage = False
        self._down_since = None
        if lacks_network_events(engine):
            self._network_poll_wanted.set()
        now = self._clock.time()
        self._status = replace(self._status, engine_up=True, synced=True, last_sync_ts=now)
        self._inventory.publish(engine=engine, status=self._status)

    async def _inspect_all(self, ids: Iterable[str]) -> set[str]:
        """Inspect with bounded concurrency; the first engine failure is raised after all end.

        A container whose own inspect failed (a 5xx, a malformed answer, or no answer in
        time: dockerd holds a container's lock while it removes or kills it, and a busy
        engine answers one inspect late) keeps its last state and is returned, to be
        inspected again by the next pass: one bad object is not an outage (the adapter
        counts it; one warning per pass here; a hung engine is the ping's to tell)."""
        failed: dict[str, EngineError] = {}

        async def one(container_id: str) -> None:
            generation = self._inventory.generation(container_id)
            async with self._limit:
                try:
                    container = await self._engine.inspect_container(container_id)
                except NotFound:
                    self._inventory.remove(container_id)
                    return
                except (ServerError, EngineTimeout) as exc:
                    failed[container_id] = exc
                    return
            self._inventory.upsert(container, generation)

        results = await asyncio.gather(*(one(i) for i in ids), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        if failed:
            cid, exc = next(iter(failed.items()))
            log.warning(
                "inspect failed for %d container(s), keeping their last state (%s: %s)",
                len(failed),
                cid[:12],
                exc,
            )
        return set(failed)

    # -- images, networks, volumes ---------------------------------------

    async def _sync_objects(self, *, full: bool = True) -> None:
        """Re-list images, networks and volumes. A 4xx (a proxy that forbids images, say)
        leaves that kind empty and logs once; an unavailable engine is raised."""
        for kind, sync in (
            ("images", self._sync_images),
            ("networks", partial(self._sync_networks, inspect_known=full)),
            ("volumes", self._sync_volumes),
        ):
            try:
                await sync()
            except RequestFailed as exc:
                if kind not in self._refused:
                    log.warning("cannot list %s, leaving them out: %s", kind, exc)
                self._refused.add(kind)
            except ServerError as exc:
                log.warning("cannot list %s this pass, keeping the last list: %s", kind, exc)

    async def _sync_images(self) -> None:
        """List; inspect (plus history) only IDs not seen before: an ID's content never
        changes, only its tags, which the list carries."""
        self._images_dirty = False
        async with self._objects_lock:
            summaries = await self._engine.list_images()
            known = self._inventory.images()
            fresh: dict[str, Image] = {}

            async def one(image_id: str) -> None:
                # NotFound: deleted since the list, its delete event follows; ServerError:
                # left out until a later pass inspects it (it is still not known then).
                with suppress(NotFound, ServerError, EngineTimeout):
                    fresh[image_id] = await self._engine.inspect_image(image_id)

            await self._bounded(one, [s.id for s in summaries if s.id not in known])
            images = {}
            for summary in summaries:
                image = known.get(summary.id) or fresh.get(summary.id)
                if image is not None:
                    images[summary.id] = replace(
                        image, repo_tags=summary.repo_tags, repo_digests=summary.repo_digests
                    )
            self._inventory.replace_images(images)

    async def _sync_networks(self, *, inspect_known: bool = True) -> None:
        """List, drop the vanished, inspect every listed one, or with `inspect_known`
        False only the new ones: a network's own fields do not change, and its members
        are derived from the containers' inspect (`Inventory.publish`)."""
        self._networks_dirty = False
        async with self._objects_lock:
            ids = await self._engine.list_network_ids()
            known = self._inventory.known_network_ids()
            for gone in known - set(ids):
                self._inventory.remove_network(gone)
        await self._inspect_networks(ids if inspect_known else [i for i in ids if i not in known])

    async def _inspect_networks(self, refs: Iterable[str]) -> None:
        async def one(ref: str) -> None:
            generation = self._inventory.network_generation(ref)
            try:
                network = await self._engine.inspect_network(ref)
            except NotFound:
                self._inventory.remove_network(ref)
                return
            except (ServerError, EngineTimeout) as exc:  # keeps its last state; asked again
                log.debug("network %s: inspect failed: %s", ref[:12], exc)
                return
            self._inventory.upsert_network(network, generation)

        await self._bounded(one, refs)

    async def _sync_volumes(self) -> None:
        self._volumes_dirty = False
        async with self._objects_lock:
            volumes = await self._engine.list_volumes()
            self._inventory.replace_volumes({v.name: v for v in volumes})

    async def _bounded(self, call: Callable[[str], Awaitable[None]], refs: Iterable[str]) -> None:
        """Run `call` per ref within the inspect concurrency limit; the first failure is
        raised after all end. Each coroutine is made only once its slot is taken, so a
        cancelled gather leaves none never awaited."""

        async def limited(ref: str) -> None:
            async with self._limit:
                await call(ref)

        results = await asyncio.gather(*(limited(r) for r in refs), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def refresh_pending(self) -> None:
        """Inspect every object an event touched since the last call, then publish once.

        A network that a re-inspected container is attached to and the inventory does
        not know is inspected too: Podman 4 sends no network `create` event."""
        ids, self._pending = list(self._pending), {}
        engine_dirty, self._engine_dirty = self._engine_dirty, False
        probes, self._probes_pending = self._probes_pending, False
        queued = len(ids) + len(self._pending_networks)
        if queued > self._status.refresh_high_water:
            self._status = replace(self._status, refresh_high_water=queued)
        changes = {}
        try:
            if engine_dirty:
                changes["engine"] = await self._engine.engine_info()
            if ids:
                for cid in await self._inspect_all(ids):
                    self._signatures.pop(cid, None)  # the next light pass inspects it again
                    self._listed_at = None  # and lists, quiet or not
            if probes:
                self._apply_listed_health(await self._engine.list_containers(), skip=set(ids))
        except EngineError as exc:
            log.debug("refresh failed; the next resync will catch up: %s", exc)
        for ref in self._inventory.unknown_networks(ids):
            self._pending_networks[ref] = None
        networks, self._pending_networks = list(self._pending_networks), {}
        syncs: tuple[tuple[bool, Callable[[], Awaitable[None]]], ...] = (
            (self._networks_dirty, self._sync_networks),
            (bool(networks), lambda: self._inspect_networks(networks)),
            (self._images_dirty, self._sync_images),
            (self._volumes_dirty, self._sync_volumes),
        )
        for dirty, sync in syncs:
            if dirty:
                try:
                    await sync()
                except EngineError as exc:
                    log.debug("refresh failed; the next resync will catch up: %s", exc)
        self._published_at = self._clock.monotonic()
        self._removed = False
        self._inventory.publish(status=self._status, **changes)

    # -- events ----------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Apply one event: count it, drop replays, schedule the inspect it calls for."""
        self._received += 1
        if event.time_ns == self._last_ns and event.key in self._seen_at_last:
            return  # the replay of an inclusive `since`
        # An event older than the newest one seen is no replay (a replay starts at the
        # newest: `since`), but dockerd stamping events before taking its publish lock:
        # concurrent actions (`docker pause a b c`) arrive out of timestamp order. Each is
        # applied; `since` stays the newest (bench/storm.py lost 1.7 % of a storm before).
        if self._last_ns is None or event.time_ns > self._last_ns:
            self._last_ns, self._seen_at_last = event.time_ns, set()
        if event.time_ns == self._last_ns:
            self._seen_at_last.add(event.key)
        self._inventory.count_event(event.type, event.action, event.time_ns)
        self._inventory.record_event(event)
        if event.type == "container":
            self._on_container(event)
        elif event.type == "network":
            self._on_network(event)
        elif event.type == "image":
            self._images_dirty = True
            if event.action in TRANSFER_ACTIONS:
                reference = event.attributes.get("name") or event.actor_id
                self._inventory.count_transfer(event.action, registry_domain(reference))
        elif event.type == "volume" and event.action in VOLUME_ACTIONS:
            self._volumes_dirty = True
        elif event.type == "daemon":
            self._engine_dirty = True
        if self._has_work() or self._clock.monotonic() - self._published_at >= COUNT_ONLY_DELAY:
            self._wake.set()

    def _has_work(self) -> bool:
        return bool(
            self._removed
            or self._pending
            or self._probes_pending
            or self._pending_networks
            or self._engine_dirty
            or self._networks_dirty
            or self._images_dirty
            or self._volumes_dirty
        )

    def _on_container(self, event: Event) -> None:
        cid = event.actor_id
        if event.action in REMOVED_ACTIONS:
            self._pending.pop(cid, None)
            self._probed.pop(cid, None)
            self._signatures.pop(cid, None)
            self._inventory.remove(cid)
            self._removed = True
        elif event.action in PROBE_ENDS:
            self._on_probe_end(event)
        elif event.action not in IGNORED_CONTAINER_ACTIONS:
            if event.action == "oom":
                self._inventory.note_oom(cid, event.time_ns)
            elif event.action == "die":
                self._inventory.note_die(cid, die_exit_code(event), event.time_ns)
            self._schedule(cid)

    def _on_probe_end(self, event: Event) -> None:
        """PROBE_ENDS: re-inspect for the failing streak, rationed."""
        cid = event.actor_id
        container = self._inventory.container(cid)
        if container is None or container.healthcheck is None:
            return
        if (
            event.attributes.get("exitCode") == "0"
            and container.health == "healthy"
            and container.failing_streak == 0
        ):
            return
        at = event.time_ns / 1e9
        last = self._probed.get(cid)
        if last is not None and at - last < container.healthcheck.probe_interval(container.health):
            return
        self._probed[cid] = at
        engine = self._inventory.snapshot.engine
        if engine is not None and engine.health_in_list:
            self._probes_pending = True  # one list for every probe since (refresh_pending)
        else:
            self._schedule(cid)

    def _on_network(self, event: Event) -> None:
        """Re-inspect the container on connect/disconnect (the members of a network are
        derived from its containers' inspect), and a network that was created or is not
        known yet; Podman's event shape is read by the parser (`Event.network`)."""
        network = event.network
        if event.action in ("connect", "disconnect"):
            self._schedule(event.container)
            if network and not self._inventory.knows_network(network):
                self._pending_networks[network] = None
        elif event.action in REMOVED_ACTIONS:
            self._pending_networks.pop(network, None)
            self._inventory.remove_network(network)
            self._removed = True
        elif event.action == "prune":
            self._networks_dirty = True
        elif network:
            self._pending_networks[network] = None

    def _schedule(self, container_id: str) -> None:
        if container_id:
            self._pending[container_id] = None

    # -- status ----------------------------------------------------------

    def _set_status(self, **changes: object) -> None:
        self._status = replace(self._status, **changes)  # type: ignore[arg-type]
        self._inventory.publish(status=self._status)

    def _mark_down(self, exc: Exception) -> None:
        if not self._outage:
            synced = self._status.last_sync_ts
            age = f" (synced {self._clock.time() - synced:.0f}s ago)" if synced else ""
            log.warning(
                "engine unreachable: %s; serving docker_up 0 and the last inventory%s, retrying",
                exc,
                age,
            )
            self._down_since = self._clock.time()
        else:
            log.debug("engine still unreachable: %s", exc)
        self._outage = True
        self._set_status(engine_up=False, stream_up=False)

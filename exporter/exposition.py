"""Turns snapshots into exposition bytes: runs the enabled collectors, renders once per snapshot.

Each collector is wrapped like node_exporter's `execute()`: timed, isolated (one that
raises never fails the scrape) and reported in `..._scrape_collector_*`. The rendered
body, in each format and compression, is cached per snapshot version, so a scrape of
an unchanged snapshot costs a memory copy.
"""

from __future__ import annotations

import gc
import gzip
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import Metric
from prometheus_client.openmetrics.exposition import (
    CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE,
)
from prometheus_client.openmetrics.exposition import (
    generate_latest as generate_openmetrics,
)

from exporter import __version__, textformat
from exporter.collectors import COLLECTORS, CollectorSpec, Options
from exporter.collectors.base import add, declare
from exporter.inventory import Snapshot

log = logging.getLogger(__name__)

UP = declare(
    "docker_up", "gauge", "1 when the engine answers and the inventory is current, else 0."
)
BUILD = declare("docker_exporter_build_info", "info", "The exporter's version.", ["version"])
DURATION = declare(
    "docker_exporter_scrape_collector_duration_seconds",
    "gauge",
    "Time a collector took on the latest snapshot render.",
    ["collector"],
)
SUCCESS = declare(
    "docker_exporter_scrape_collector_success",
    "gauge",
    "1 when the collector succeeded on the latest snapshot render, else 0.",
    ["collector"],
)
STREAM_UP = declare(
    "docker_exporter_event_stream_up", "gauge", "1 while the engine event stream is connected."
)
RECONNECTS = declare(
    "docker_exporter_event_stream_reconnects_total",
    "counter",
    "Times the event stream was reopened after it ended or failed.",
)
LAST_EVENT = declare(
    "docker_exporter_last_event_timestamp_seconds",
    "gauge",
    "Engine time of the latest event received, in Unix seconds.",
)
LAST_SYNC = declare(
    "docker_exporter_inventory_last_sync_timestamp_seconds",
    "gauge",
    "When the inventory was last fully re-listed and reconciled, in Unix seconds.",
)
PROCESS_METRICS = (
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
)
"""The exporter's own process metrics, from prometheus_client's ProcessCollector."""

TEXT = "text"
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Every Prometheus server since 1.x reads it; our names never need the 1.0.0 UTF-8 form."""
OPENMETRICS = "openmetrics"


def select_collectors(
    enabled: Iterable[str], collect: Sequence[str] = (), exclude: Sequence[str] = ()
) -> list[CollectorSpec]:
    """The enabled collectors, narrowed by `collect[]` or `exclude[]` (not both: caller checks)."""
    names = [n for n in enabled if n in COLLECTORS]
    if collect:
        unknown = set(collect) - set(names)
        if unknown:
            raise KeyError(", ".join(sorted(unknown)))
        names = [n for n in names if n in collect]
    elif exclude:
        names = [n for n in names if n not in exclude]
    return [COLLECTORS[n] for n in names]


class SnapshotCollector:
    """The prometheus_client Collector that renders one snapshot through our collectors."""

    def __init__(self, collectors: Sequence[CollectorSpec], options: Options) -> None:
        self._collectors = collectors
        self._options = options
        self.snapshot = Snapshot()

    def collect(self) -> Iterable[Metric]:
        snap = self.snapshot
        status = snap.status
        duration, success = DURATION.new(), SUCCESS.new()
        for spec in self._collectors:
            start = time.perf_counter()
            try:
                families = list(spec.fn(snap, self._options))
            except Exception:
                log.exception("collector %s failed", spec.name)
                families, ok = [], 0.0
            else:
                ok = 1.0
            yield from families
            add(duration, [spec.name], time.perf_counter() - start)
            add(success, [spec.name], ok)
        up, build = UP.new(), BUILD.new()
        add(up, [], 1.0 if status.engine_up and status.synced else 0.0)
        add(build, [__version__], 1)
        stream, reconnects = STREAM_UP.new(), RECONNECTS.new()
        add(stream, [], 1.0 if status.stream_up else 0.0)
        add(reconnects, [], status.reconnects)
        yield from (up, build, duration, success, stream, reconnects)
        if status.last_event_ts is not None:
            last_event = LAST_EVENT.new()
            add(last_event, [], status.last_event_ts)
            yield last_event
        if status.last_sync_ts is not None:
            last_sync = LAST_SYNC.new()
            add(last_sync, [], status.last_sync_ts)
            yield last_sync


_GC_LOCK = threading.Lock()
_gc_holders = 0
_gc_was_enabled = True


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """A render allocates one short-lived object per sample, all freed by reference
    counting; cyclic collections triggered meanwhile only rescan the young heap (about a
    fifth of the render time at 10 000 containers). Counted, because a background render
    (worker thread) and a scrape's render (event loop) may overlap."""
    global _gc_holders, _gc_was_enabled  # noqa: PLW0603 - the GC switch is process-wide
    with _GC_LOCK:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


@dataclass(frozen=True, slots=True)
class Body:
    """One rendered exposition and its content type."""

    data: bytes
    content_type: str


class Exposition:
    """Renders snapshots with our own registry; caches bodies per snapshot version."""

    def __init__(
        self, enabled: Sequence[str], options: Options, *, process_metrics: bool = True
    ) -> None:
        self._enabled = list(enabled)
        self._options = options
        self._process_metrics = process_metrics
        self._main = self._registry(select_collectors(enabled))
        self._detached = self._registry(select_collectors(enabled))
        self._cache: dict[tuple[str, bool], Body] = {}
        self._cached_version = -1

    @property
    def enabled(self) -> list[str]:
        return list(self._enabled)

    @property
    def cached_version(self) -> int:
        """The snapshot version whose bodies are cached (-1 before the first render)."""
        return self._cached_version

    def _registry(self, collectors: Sequence[CollectorSpec]) -> CollectorRegistry:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(SnapshotCollector(collectors, self._options))
        if self._process_metrics:
            ProcessCollector(namespace="", registry=registry)
        return registry

    @staticmethod
    def _point(registry: CollectorRegistry, snapshot: Snapshot) -> None:
        for collector in registry._collector_to_names:
            if isinstance(collector, SnapshotCollector):
                collector.snapshot = snapshot

    def render_detached(self, snapshot: Snapshot) -> Body:
        """The plain text body of `snapshot` on a registry of its own: safe in a worker
        thread beside the loop's renders, one detached render at a time (store the result
        with `store`)."""
        self._point(self._detached, snapshot)
        with _no_cyclic_gc():
            return self._encode(self._detached, TEXT, gzipped=False)

    def store(self, version: int, body: Body) -> None:
        """Keep a detached render, unless a newer snapshot was rendered meanwhile."""
        if version < self._cached_version:
            return
        if version > self._cached_version:
            self._cache.clear()
            self._cached_version = version
        self._cache.setdefault((TEXT, False), body)

    def render(
        self,
        snapshot: Snapshot,
        fmt: str = TEXT,
        *,
        gzipped: bool = False,
        collect: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> Body:
        """The body for this snapshot; filtered requests bypass the cache."""
        if collect or exclude:
            registry = self._registry(select_collectors(self._enabled, collect, exclude))
            self._point(registry, snapshot)
            return self._encode(registry, fmt, gzipped)
        if snapshot.version != self._cached_version:
            self._cache.clear()
            self._cached_version = snapshot.version
        key = (fmt, gzipped)
        body = self._cache.get(key)
        if body is None:
            if gzipped:
                plain = self.render(snapshot, fmt)
                body = Body(gzip.compress(plain.data, compresslevel=5), plain.content_type)
            else:
                self._point(self._main, snapshot)
                with _no_cyclic_gc():
                    body = self._encode(self._main, fmt, gzipped=False)
            self._cache[key] = body
        return body

    @staticmethod
    def _encode(registry: CollectorRegistry, fmt: str, gzipped: bool) -> Body:
        if fmt == OPENMETRICS:
            data = generate_openmetrics(registry)  # type: ignore[no-untyped-call]
            body = Body(data, OPENMETRICS_CONTENT_TYPE)
        else:
            body = Body(textformat.encode(registry.collect()), TEXT_CONTENT_TYPE)
        if gzipped:
            return Body(gzip.compress(body.data, compresslevel=5), body.content_type)
        return body

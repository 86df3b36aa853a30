"""Turns snapshots into exposition bytes: runs the enabled collectors, renders once per snapshot.

Each collector is wrapped like node_exporter's `execute()`: timed, isolated (one that
raises never fails the scrape) and reported in `..._scrape_collector_*`. The rendered
body, in each format and compression, is cached per snapshot version, so a scrape of
an unchanged snapshot costs a memory copy.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.openmetrics.exposition import (
    CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE,
)
from prometheus_client.openmetrics.exposition import (
    generate_latest as generate_openmetrics,
)

from exporter import __version__, textformat
from exporter.collectors import COLLECTORS, CollectorSpec, Options
from exporter.collectors.base import Family, Group, Row, add, declare
from exporter.inventory import Snapshot
from exporter.selfprocess import ProcessMetrics

log = logging.getLogger(__name__)

UP = declare(
    "docker_up", "gauge", "1 when the engine answers and the inventory is current, else 0."
)
BUILD = declare("docker_exporter_build_info", "info", "The exporter's version.", ["version"])
DURATION = declare(
    "docker_exporter_scrape_collector_duration_seconds",
    "gauge",
    "Time a collector took to collect and encode, the last time its inputs changed.",
    ["collector"],
)
SUCCESS = declare(
    "docker_exporter_scrape_collector_success",
    "gauge",
    "1 when the collector succeeded the last time its inputs changed, else 0.",
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
    "When the inventory was last reconciled with the Engine (periodic pass or re-list), "
    "in Unix seconds.",
)
PROCESS_METRICS = (
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
)
"""The exporter's own process metrics (exporter.selfprocess), named as prometheus_client does."""

TEXT = "text"
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Every Prometheus server since 1.x reads it; our names never need the 1.0.0 UTF-8 form."""
OPENMETRICS = "openmetrics"
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer around the deflate stream


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


def own_families(snapshot: Snapshot, duration: Family, success: Family) -> Iterator[Family]:
    """The exporter's own families, after the collectors' (`duration`/`success` filled in)."""
    status = snapshot.status
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


class SnapshotCollector:
    """The prometheus_client Collector that renders one snapshot through our collectors
    (OpenMetrics only: the text format is assembled from cached chunks instead)."""

    def __init__(self, collectors: Sequence[CollectorSpec], options: Options) -> None:
        self._collectors = collectors
        self._options = options
        self.snapshot = Snapshot()

    def collect(self) -> Iterable[Metric]:
        snap = self.snapshot
        duration, success = DURATION.new(), SUCCESS.new()
        for spec in self._collectors:
            start, ok = time.perf_counter(), True
            for part in spec.parts():
                families = run_collector(part, snap, self._options, _same)
                yield from families or ()
                ok = ok and families is not None
            add(duration, [spec.name], time.perf_counter() - start)
            add(success, [spec.name], 1.0 if ok else 0.0)
        yield from own_families(snap, duration, success)


T = TypeVar("T")


def run_collector(
    spec: CollectorSpec, snapshot: Snapshot, options: Options, then: Callable[[list[Metric]], T]
) -> T | None:
    """node_exporter's execute(): the collector on its view of the snapshot, and `then`
    on its families; a failure in either is logged and gives None, never a failed scrape."""
    try:
        return then(list(spec.fn(spec.view(snapshot), options)))
    except Exception:
        log.exception("collector %s failed", spec.name)
        return None


def _same(families: list[Metric]) -> list[Metric]:
    return families


@dataclass(frozen=True, slots=True)
class Chunk:
    """One collector's encoded text (one part per family, or per group of a grouped
    family), and the inputs and family rows it was computed from."""

    inputs: tuple[object, ...]
    parts: tuple[bytes, ...]
    seconds: float
    ok: bool
    rows: Mapping[str, tuple[list[Row], bytes]] = field(default_factory=dict)
    """Per family: its rows and their text, reused by the next run for an equal family."""
    groups: Mapping[str, GroupTexts] = field(default_factory=dict)
    """Per grouped family: the text of each group, by the group object's identity."""

    def current(self, inputs: tuple[object, ...]) -> bool:
        """Snapshots share unchanged fields by identity (Inventory.publish), so `is` suffices."""
        return len(inputs) == len(self.inputs) and all(
            a is b for a, b in zip(inputs, self.inputs, strict=True)
        )


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
    """One rendered exposition and its content type.

    Kept as the collectors' chunks, the very objects the chunk cache holds, so that the
    cached plain text costs no second copy of the exposition; joined per request.
    """

    parts: tuple[bytes, ...]
    content_type: str

    @property
    def data(self) -> bytes:
        return self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)


class Exposition:
    """Renders snapshots; caches bodies per snapshot version and each collector's text
    until its inputs change, so a stats sweep re-renders only the stats collector."""

    def __init__(
        self, enabled: Sequence[str], options: Options, *, process_metrics: bool = True
    ) -> None:
        self._enabled = list(enabled)
        self._options = options
        self._specs = select_collectors(enabled)
        self._process = ProcessMetrics() if process_metrics else None
        self._chunks: dict[str, Chunk] = {}
        self._cache: dict[tuple[str, bool], Body] = {}
        self._cached_version = -1

    @property
    def enabled(self) -> list[str]:
        return list(self._enabled)

    @property
    def cached_version(self) -> int:
        """The snapshot version whose bodies are cached (-1 before the first render)."""
        return self._cached_version

    def _registry(
        self, collectors: Sequence[CollectorSpec], snapshot: Snapshot
    ) -> CollectorRegistry:
        registry = CollectorRegistry(auto_describe=False)
        collector = SnapshotCollector(collectors, self._options)
        collector.snapshot = snapshot
        registry.register(collector)
        if self._process is not None:
            registry.register(self._process)
        return registry

    def render_detached(self, snapshot: Snapshot) -> Body:
        """The plain text body of `snapshot`, safe in a worker thread beside the loop's
        renders (chunks are replaced whole, never mutated); keep it with `store`."""
        with _no_cyclic_gc():
            return Body(self._text(snapshot, self._specs), TEXT_CONTENT_TYPE)

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
        """The body for this snapshot; filtered requests bypass the body cache."""
        if collect or exclude:
            specs = select_collectors(self._enabled, collect, exclude)
            return self._encode(snapshot, specs, fmt, gzipped)
        if snapshot.version != self._cached_version:
            self._cache.clear()
            self._cached_version = snapshot.version
        key = (fmt, gzipped)
        body = self._cache.get(key)
        if body is None:
            if gzipped:
                plain = self.render(snapshot, fmt)
                body = Body((_gzip(plain.parts),), plain.content_type)
            else:
                body = self._encode(snapshot, self._specs, fmt, gzipped=False)
            self._cache[key] = body
        return body

    def _encode(
        self, snapshot: Snapshot, specs: Sequence[CollectorSpec], fmt: str, gzipped: bool
    ) -> Body:
        with _no_cyclic_gc():
            if fmt == OPENMETRICS:
                data = generate_openmetrics(self._registry(specs, snapshot))  # type: ignore[no-untyped-call]
                body = Body((data,), OPENMETRICS_CONTENT_TYPE)
            else:
                body = Body(self._text(snapshot, specs), TEXT_CONTENT_TYPE)
        return Body((_gzip(body.parts),), body.content_type) if gzipped else body

    def _text(self, snapshot: Snapshot, specs: Sequence[CollectorSpec]) -> tuple[bytes, ...]:
        parts: list[bytes] = []
        duration, success = DURATION.new(), SUCCESS.new()
        for spec in specs:
            seconds, ok = 0.0, True
            for i, part in enumerate(spec.parts()):
                chunk = self._chunk(part, snapshot, f"{spec.name}#{i}" if i else spec.name)
                parts.extend(chunk.parts)
                seconds += chunk.seconds
                ok = ok and chunk.ok
            add(duration, [spec.name], seconds)
            add(success, [spec.name], 1.0 if ok else 0.0)
        parts.append(textformat.encode(own_families(snapshot, duration, success)))
        if self._process is not None:
            parts.append(textformat.encode(self._process.collect()))
        return tuple(parts)

    def _chunk(self, spec: CollectorSpec, snapshot: Snapshot, key: str) -> Chunk:
        """The collector part's text, recomputed only when one of its inputs changed. A
        failure is kept too: the same inputs would fail again, and log again."""
        inputs = tuple(getattr(snapshot, name) for name in spec.inputs)
        chunk = self._chunks.get(key)
        if chunk is not None and chunk.current(inputs):
            return chunk
        start = time.perf_counter()
        last = chunk if chunk is not None else Chunk((), (), 0.0, True)
        encoded = run_collector(
            spec, snapshot, self._options, lambda families: _encode_reusing(families, last)
        )
        parts, rows, groups = encoded if encoded is not None else ((), {}, {})
        seconds = time.perf_counter() - start
        chunk = Chunk(inputs, parts, seconds, encoded is not None, rows, groups)
        self._chunks[key] = chunk
        return chunk


def _encode_groups(
    family: Family, last: GroupTexts | None, memo: textformat.LabelMemo
) -> list[bytes]:
    """Each group's lines: the last run's text for a group that is the very same object,
    or an equal one (a container that ran moved its CPU counters, not its limits).

    Containers keep their order from one render to the next, so groups are matched by
    position; after a container came or went, by identity through a map of the last run's
    groups, built then and dropped after."""
    old, old_texts = last if last is not None else ([], [])
    texts: list[bytes] = []
    where: dict[int, int] | None = None
    for i, group in enumerate(family.groups):
        if i < len(old) and (old[i] is group or old[i] == group):
            texts.append(old_texts[i])  # the same, or equal: a value that did not move
            continue
        if where is None:
            where = {id(g): k for k, g in enumerate(old)}
        k = where.get(id(group), -1)
        reuse = k >= 0 and old[k] is group
        texts.append(old_texts[k] if reuse else textformat.encode_rows(family, group, memo))
    return texts


def _header(family: Family) -> bytes:
    """The family's HELP and TYPE lines, encoded once per family for the process's life
    (the families are declared, so this holds a few hundred short lines)."""
    key = (family.name, family.type, family.documentation)
    text = _HEADERS.get(key)
    if text is None:
        text = _HEADERS[key] = textformat.header(family).encode()
    return text


_HEADERS: dict[tuple[str, str, str], bytes] = {}

GroupTexts = tuple[list[Group], list[bytes]]
"""A grouped family's groups, in order, and the encoded lines of each (parallel lists:
two pointers per group kept, against about 110 bytes for a dict entry per group)."""


def _encode_reusing(
    families: Sequence[Metric], last: Chunk
) -> tuple[tuple[bytes, ...], dict[str, tuple[list[Row], bytes]], dict[str, GroupTexts]]:
    """Encode family by family; a family whose rows equal the previous run's keeps its text.

    A sweep of idle containers changes few values: limits, swap, errors and drops, and
    every counter of a container that did not run, stay equal (comparing rows costs about
    a fifth of encoding them). A grouped family (one group per container) is encoded group
    by group, and a group that is the very object of the last run keeps its text: a sweep
    encodes only the containers whose samples changed.
    """
    memo: textformat.LabelMemo = {}
    parts: list[bytes] = []
    rows: dict[str, tuple[list[Row], bytes]] = {}
    groups: dict[str, GroupTexts] = {}
    previous = last.rows
    for family in families:
        if not isinstance(family, Family):
            parts.append(textformat.encode([family], memo))
            continue
        if family.groups and not family.rows:
            texts = _encode_groups(family, last.groups.get(family.sample_name), memo)
            groups[family.sample_name] = family.groups, texts
            parts.append(_header(family))
            parts.extend(texts)
            continue
        current = family.all_rows()  # a family with rows and groups too compares whole
        before = previous.get(family.sample_name)
        if before is not None and before[0] == current:
            text = before[1]
        else:
            text = textformat.encode([family], memo)
        rows[family.sample_name] = (current, text)
        parts.append(text)
    return tuple(parts), rows, groups


def _gzip(parts: Sequence[bytes]) -> bytes:
    """Level 1: half the CPU of level 5 on an exposition body, for about 4 % more bytes."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, _GZIP_WBITS)
    return b"".join([*(compressor.compress(part) for part in parts), compressor.flush()])

"""Snapshots to response bodies: the collectors' byte stores, the exporter's own
families, both formats, gzip, and a cache of bodies per snapshot version.

Each collector is wrapped like node_exporter's `execute()`: timed, isolated (one that
raises never fails the scrape) and reported in `..._scrape_collector_*`. Rendering is
synchronous and thread-safe (one lock): the HTTP layer and the prewarm run it in a worker
thread, never on the event loop. A render only re-encodes the objects whose inputs
changed (`exporter.render.store`); the text and OpenMetrics bodies of one version share
those lines and differ only in their headers.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from exporter import __version__
from exporter.collectors import COLLECTORS, CollectorSpec, Options
from exporter.collectors.base import add, declare
from exporter.collectors.family import Family, histogram_rows
from exporter.engine import config as engine_config
from exporter.engine import telemetry
from exporter.engine.telemetry import BUCKETS, DiscardReason, Truncation
from exporter.inventory import store as inventory_store
from exporter.inventory.store import Snapshot
from exporter.render.formats import EOF_LINE, OPENMETRICS, TEXT, Head, syntax
from exporter.render.gcpause import no_cyclic_gc
from exporter.render.gzipbody import Folds, gzip_body, segment
from exporter.render.prewarm import Cadence
from exporter.render.selfprocess import ProcessMetrics
from exporter.render.store import Block, ObjectStore, Output, PartStore, family_blocks, store_for

UP = declare(
    "docker_up",
    "gauge",
    "1 when the engine answers its ping and the inventory is current, else 0 (the last "
    "inventory is still served: see docker_exporter_inventory_last_sync_timestamp_seconds).",
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
REFRESH_HIGH_WATER = declare(
    "docker_exporter_refresh_queue_high_water",
    "gauge",
    "The most objects one refresh pass had to inspect since start (events queue each "
    "object once between passes, so this stays at most the number of objects).",
)
PING_UP = declare(
    "docker_exporter_engine_ping_up",
    "gauge",
    "1 when the latest /_ping (every --docker.ping-interval) was answered in time, else 0.",
)
TRUNCATION_FLAGS: Mapping[Truncation, str] = {
    "labels": engine_config.MAX_LABELS.flag,
    "label_values": engine_config.MAX_LABEL_LENGTH.flag,
    "image_tags": engine_config.MAX_IMAGE_TAGS.flag,
    "processes": inventory_store.MAX_PROCESSES.flag,
    "event_kinds": inventory_store.MAX_EVENT_KINDS.flag,
}
"""The flag of each cap, for the help (typed: a new truncation must name its flag)."""
DISCARD_MEANINGS: Mapping[DiscardReason, str] = {
    "malformed": "not a JSON event",
    "oversized": "over the line cap",
    "repeated_exit": "a container's die with no start since its last one: one exit reported "
    "twice, as engines before Docker 29.2.1 and 29.4.0 can; not counted in "
    "docker_events_total, /events or the exit code",
}

PING_FAILURES = declare(
    "docker_exporter_engine_ping_failures_total",
    "counter",
    "Pings not answered in time or answered with an error.",
)
REQUEST_DURATION = declare(
    "docker_exporter_engine_request_duration_seconds",
    "histogram",
    f"Engine requests by endpoint class ({', '.join(telemetry.ENDPOINTS)}; events: until the "
    "headers), failed ones included.",
    ["endpoint"],
)
REQUEST_ERRORS = declare(
    "docker_exporter_engine_request_errors_total",
    "counter",
    "Engine requests that failed, by endpoint class and kind "
    f"({', '.join(telemetry.ERROR_KINDS)}); a 404 is an answer, not counted.",
    ["endpoint", "kind"],
)
TRUNCATIONS = declare(
    "docker_exporter_truncations_total",
    "counter",
    "Times a resource cap cut something: "
    + ", ".join(f"{what} ({TRUNCATION_FLAGS[what]})" for what in telemetry.TRUNCATIONS)
    + ".",
    ["what"],
)
DISCARDED_EVENTS = declare(
    "docker_exporter_event_lines_discarded_total",
    "counter",
    "Event stream lines skipped, by reason: "
    + ", ".join(f"{reason} ({DISCARD_MEANINGS[reason]})" for reason in telemetry.DISCARD_REASONS)
    + ".",
    ["reason"],
)
PROCESS_METRICS = (
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
)
"""The exporter's own process metrics (`exporter.render.selfprocess`), named as
prometheus_client does."""

EOF_SEGMENT = segment([EOF_LINE])
T = TypeVar("T")
Variant = tuple[str, bool]
"""A body's form (`exporter.render.formats.FORMS`: syntax and name escaping) and whether
it is gzipped."""
OWN_KEPT = 8
"""Selections whose own families are kept per version (the whole body, and a few
`collect[]`/`exclude[]` combinations a scraper repeats)."""
PROMETHEUS: Variant = (OPENMETRICS, True)
"""What Prometheus asks for on every scrape: prewarmed before anyone asks."""


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
    add(up, [], 1.0 if snapshot.up else 0.0)
    add(build, [__version__], 1)
    stream, reconnects = STREAM_UP.new(), RECONNECTS.new()
    add(stream, [], 1.0 if status.stream_up else 0.0)
    add(reconnects, [], status.reconnects)
    high_water = REFRESH_HIGH_WATER.new()
    add(high_water, [], status.refresh_high_water)
    yield from (up, build, duration, success, stream, reconnects, high_water)
    if status.last_event_ts is not None:
        last_event = LAST_EVENT.new()
        add(last_event, [], status.last_event_ts)
        yield last_event
    if status.last_sync_ts is not None:
        last_sync = LAST_SYNC.new()
        add(last_sync, [], status.last_sync_ts)
        yield last_sync
    yield from engine_families(snapshot)


def engine_families(snapshot: Snapshot) -> Iterator[Family]:
    """The liveness probe's verdict and the adapter's request meter."""
    liveness = snapshot.liveness
    if liveness.up is not None:
        up, failures = PING_UP.new(), PING_FAILURES.new()
        add(up, [], 1.0 if liveness.up else 0.0)
        add(failures, [], liveness.failures)
        yield from (up, failures)
    telemetry = snapshot.engine_requests
    if telemetry.requests:
        duration = REQUEST_DURATION.new()
        for endpoint in sorted(telemetry.requests):
            h = telemetry.requests[endpoint]
            duration.rows.extend(histogram_rows((endpoint,), BUCKETS, h.buckets, h.sum))
        yield duration
    if telemetry.errors:
        errors = REQUEST_ERRORS.new()
        for (endpoint, kind), count in sorted(telemetry.errors.items()):
            add(errors, [endpoint, kind], count)
        yield errors
    cut = dict(telemetry.truncations)
    for what, count in snapshot.truncations.items():
        cut[what] = cut.get(what, 0) + count
    if cut:
        truncations = TRUNCATIONS.new()
        for what, count in sorted(cut.items()):
            add(truncations, [what], count)
        yield truncations
    skipped = dict(telemetry.discarded_events)
    if snapshot.status.repeated_exits:
        skipped["repeated_exit"] = snapshot.status.repeated_exits
    if skipped:
        discarded = DISCARDED_EVENTS.new()
        for reason, count in sorted(skipped.items()):
            add(discarded, [reason], count)
        yield discarded


@dataclass(frozen=True, slots=True)
class Body:
    """One rendered exposition, built whole in the worker thread: a response never joins
    or compresses on the event loop. (An uncompressed body, which curl asks for and
    Prometheus does not, is one more copy of the exposition while its version is
    current.) Its Content-Type is the negotiation's (`formats.negotiate`): one body
    serves every Content-Type with the same bytes (text 0.0.4 and 1.0.0, any escaping
    but `dots`)."""

    data: bytes


class Exposition:
    """Renders snapshots through per-collector byte stores and caches each version's
    bodies; `render` blocks (a lock, a render) and belongs in a worker thread."""

    def __init__(
        self,
        enabled: Sequence[str],
        options: Options,
        *,
        process_metrics: bool = True,
        timer: Callable[[], float] = time.perf_counter,
        cadence: Cadence | None = None,
    ) -> None:
        """With a `cadence`, `prewarm` renders only the variants it has armed (scraped, and
        due soon); without, every variant asked for."""
        self._cadence = cadence
        self._enabled = [n for n in enabled if n in COLLECTORS]
        self._options = options
        self._timer = timer
        self._process = ProcessMetrics() if process_metrics else None
        self._stores: dict[str, tuple[PartStore | ObjectStore, ...]] = {
            name: tuple(store_for(part, options, timer) for part in COLLECTORS[name].parts())
            for name in self._enabled
        }
        self._outputs: dict[str, tuple[Output, ...]] = {}
        self._lock = threading.Lock()
        self._version = -1
        self._snapshot = Snapshot()
        self._bodies: dict[Variant, Body] = {}
        self._wanted: set[Variant] = {PROMETHEUS}
        self._worker: ThreadPoolExecutor | None = None
        self._own: dict[tuple[str, ...], tuple[Block, ...]] = {}
        self._folds: dict[str, Folds] = {}
        """Per format, the CRC folds of the last whole gzip body."""

    async def off_loop(self, fn: Callable[[], T]) -> T:
        """Run `fn` (a render) in the exposition's one worker thread. Renders take the
        lock one at a time anyway; one thread (not the loop's pool) also keeps glibc to
        one more malloc arena, whose freed pages malloc_trim returns."""
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="render")
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn)

    def close(self) -> None:
        """Stop the worker thread (a render in progress finishes first)."""
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)
            self._worker = None

    @property
    def enabled(self) -> list[str]:
        return list(self._enabled)

    def cached(self, version: int, fmt: str = TEXT, *, gzipped: bool = False) -> Body | None:
        """The cached body for `version` or a newer one, without waiting (on the loop)."""
        if self._version < version:
            return None
        return self._bodies.get((fmt, gzipped))

    def want(self, fmt: str, gzipped: bool, timeout: float | None = None) -> None:
        """Record a scrape of a variant (on every unfiltered scrape, with the scraper's
        timeout header), so the prewarm renders it before its next one."""
        self._wanted.add((fmt, gzipped))
        if self._cadence is not None:
            self._cadence.scraped(("metrics", fmt, gzipped), timeout)

    def prewarm(self, snapshot: Snapshot) -> int:
        """Render the variants due (all asked for so far, without a cadence); gives the
        version rendered last (unchanged when none was due)."""
        for fmt, gzipped in sorted(self._wanted):
            if self._cadence is None or self._cadence.armed(("metrics", fmt, gzipped)):
                self.render(snapshot, fmt, gzipped=gzipped)
        return self._version

    def render(
        self,
        snapshot: Snapshot,
        fmt: str = TEXT,
        *,
        gzipped: bool = False,
        collect: Sequence[str] = (),
        exclude: Sequence[str] = (),
        names: Sequence[str] = (),
    ) -> Body:
        """The body for this snapshot (or a newer one already rendered: never older
        data than a previous response) in form `fmt`; filtered requests (`collect[]`,
        `exclude[]`, `name[]`) bypass the body cache."""
        specs = select_collectors(self._enabled, collect, exclude) if collect or exclude else None
        with self._lock:
            self._advance(snapshot)
            if specs is not None or names:
                chosen = self._enabled if specs is None else [s.name for s in specs]
                return self._body(chosen, fmt, gzipped, frozenset(names))
            body = self._bodies.get((fmt, gzipped))
            if body is None:
                body = self._body(self._enabled, fmt, gzipped)
                self._bodies[(fmt, gzipped)] = body
            return body

    def _own_blocks(self, names: Sequence[str]) -> tuple[Block, ...]:
        """The exporter's own families after these collectors', once per version and
        selection: every format and compression of a version carries the same values."""
        key = tuple(names)
        blocks = self._own.get(key)
        if blocks is None:
            duration, success = DURATION.new(), SUCCESS.new()
            for name in names:
                outputs = self._outputs.get(name, ())
                add(duration, [name], sum(o.seconds for o in outputs))
                add(success, [name], 1.0 if all(o.ok for o in outputs) else 0.0)
            own = list(own_families(self._snapshot, duration, success))
            if self._process is not None:
                own.extend(self._process.collect())
            blocks = family_blocks(own)
            if len(self._own) < OWN_KEPT:
                self._own[key] = blocks
        return blocks

    def _advance(self, snapshot: Snapshot) -> None:
        if snapshot.version <= self._version:
            return
        orders: dict[object, list[str]] = {}  # the mappings are alive: ids stay unique
        with no_cyclic_gc():
            for name, stores in self._stores.items():
                self._outputs[name] = tuple(store.update(snapshot, orders) for store in stores)
        # In this order: `cached` (on the loop, unlocked) reads the version, then the
        # bodies; a new dict before the new version never pairs it with older bodies.
        self._bodies = {}
        self._own = {}
        self._snapshot = snapshot
        self._version = snapshot.version

    def _body(
        self, names: Sequence[str], fmt: str, gzipped: bool, only: frozenset[str] = frozenset()
    ) -> Body:
        """These collectors' blocks and the exporter's own, in form `fmt`; with `only`,
        just the families a `name[]` filter selects (`Head.names`)."""
        blocks: list[Block] = []
        for name in names:
            for output in self._outputs.get(name, ()):
                blocks.extend(output.blocks)
        blocks.extend(self._own_blocks(names))
        if only:
            blocks = [block for block in blocks if block.head.names & only]
        # filtered bodies vary too much to keep folds
        whole = names is self._enabled and not only
        folds = self._folds.setdefault(fmt, Folds()) if whole and gzipped else None
        return body_of(blocks, fmt, gzipped=gzipped, folds=folds)


def body_of(
    blocks: Sequence[Block], fmt: str, *, gzipped: bool, folds: Folds | None = None
) -> Body:
    """The blocks joined in form `fmt` (OpenMetrics ends with `# EOF`), gzipped from their
    cached deflate segments (`folds`: the previous body's, reused where unchanged)."""
    om = syntax(fmt) == OPENMETRICS
    if gzipped:
        segments = [block.segment(fmt) for block in blocks]
        if om:
            segments.append(EOF_SEGMENT)
        return Body(gzip_body(segments, folds))
    parts: list[bytes] = []
    for block in blocks:
        parts.append(block.head.of(fmt))
        parts.extend(block.pieces_of(fmt))
    if om:
        parts.append(EOF_LINE)
    return Body(b"".join(parts))


__all__ = ["OPENMETRICS", "TEXT", "Body", "Exposition", "Head", "body_of"]

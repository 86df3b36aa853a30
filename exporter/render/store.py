"""The byte store, kube-state-metrics' `metrics_store` in Python: each object's encoded
lines per family, kept under its ID, re-encoded when its inputs change, dropped when it
goes; a render writes each family's header and then every object's stored lines.

The one invalidation rule, for every part of every collector: output is re-encoded
exactly when one of its inputs is not the very object it was encoded from. Snapshots
share unchanged objects by identity (Inventory.publish), so after a stats sweep only the
containers whose sample moved are encoded again, and after an event only the object it
touched. A collector part that does not split by object is one entry whose inputs are
its declared Snapshot fields.

Not thread-safe: the Exposition updates its stores under its lock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exporter.collectors.base import CollectorSpec, Options, PerObject
from exporter.collectors.family import Family, Row
from exporter.inventory.store import Snapshot
from exporter.render.formats import Head, LabelMemo, dots, encode_rows, head_of, is_dots
from exporter.render.gzipbody import Segment, segment

log = logging.getLogger(__name__)

YIELD_EVERY = 32
"""Objects encoded between two voluntary releases of the GIL. A render runs in a worker
thread, but pure-Python work keeps the GIL, and the event loop would wait up to the
interpreter's switch interval (5 ms) at each of a request's system calls; a
`time.sleep(0)` every 32 objects (about 1 ms of encoding) lets it in at once."""


class Block:
    """One family in a body: its headers and its sample lines, as pieces (each object's
    own bytes, shared with the store and with both syntaxes: no joined copy); made the
    first time the block goes out in a form that needs them, its lines with names
    escaped by the `dots` scheme and, per form, its deflate segment."""

    __slots__ = ("_dots", "_segments", "head", "pieces")

    def __init__(self, head: Head, pieces: tuple[bytes, ...]) -> None:
        self.head = head
        self.pieces = pieces
        self._dots: tuple[bytes, ...] | None = None
        self._segments: dict[str, Segment] = {}

    def pieces_of(self, form: str) -> tuple[bytes, ...]:
        """The sample lines in this form (the same lines in both syntaxes)."""
        if not is_dots(form):
            return self.pieces
        if self._dots is None:
            self._dots = tuple(dots(piece) for piece in self.pieces)
        return self._dots

    def segment(self, form: str) -> Segment:
        made = self._segments.get(form)
        if made is None:
            made = self._segments[form] = segment((self.head.of(form), *self.pieces_of(form)))
        return made


def family_blocks(families: Iterable[Family]) -> tuple[Block, ...]:
    """Whole families as blocks (a part that does not split by object, own families)."""
    memo: LabelMemo = {}
    return tuple(Block(head_of(f), (encode_rows(f, f.rows, memo),)) for f in families)


@dataclass(frozen=True, slots=True)
class Output:
    """A part's blocks, whether its last update succeeded, and what that update cost."""

    blocks: tuple[Block, ...]
    ok: bool
    seconds: float


def _same(a: Sequence[object], b: Sequence[object]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


class PartStore:
    """A collector part that does not split by object: one entry, all its families."""

    def __init__(
        self, spec: CollectorSpec, options: Options, timer: Callable[[], float] = time.perf_counter
    ) -> None:
        self._spec = spec
        self._timer = timer
        self._options = options
        self._inputs: tuple[object, ...] | None = None
        self.output = Output((), True, 0.0)

    def update(self, snapshot: Snapshot, orders: dict[object, list[str]] | None = None) -> Output:
        del orders  # one entry: nothing to sort
        spec = self._spec
        inputs = tuple(getattr(snapshot, name) for name in spec.inputs)
        if self._inputs is not None and _same(inputs, self._inputs):
            return self.output
        start = self._timer()
        try:
            blocks = family_blocks(spec.fn(spec.view(snapshot), self._options))
            ok = True
        except Exception:
            log.exception("collector failed", extra={"collector": spec.name})
            blocks, ok = (), False
        self._inputs = inputs
        self.output = Output(blocks, ok, self._timer() - start)
        return self.output


@dataclass(frozen=True, slots=True)
class _Entry:
    obj: object
    joined: tuple[object, ...]
    rows: tuple[Sequence[Row], ...]
    lines: tuple[bytes, ...]
    """One per family; empty for a family in which the object has no series."""


_NO_ENTRY = _Entry(None, (), (), ())


class ObjectStore:
    """A per-object collector part: lines by object ID, in the collector's order."""

    def __init__(
        self, spec: CollectorSpec, options: Options, timer: Callable[[], float] = time.perf_counter
    ) -> None:
        assert spec.per is not None
        self._timer = timer
        self._name = spec.name
        self._per: PerObject = spec.per
        self._options = options
        self._templates = self._per.families(options)
        """Empty families: the names, label names and kind each object's rows encode with."""
        self._heads = tuple(head_of(f) for f in self._templates)
        self._joins: list[Mapping[str, Any]] = []
        self._entries: dict[str, _Entry] = {}
        self._failed: set[str] = set()
        self._mapping: Mapping[str, Any] | None = None
        self._order: list[str] = []
        self.output = Output(tuple(Block(h, ()) for h in self._heads), True, 0.0)

    def update(self, snapshot: Snapshot, orders: dict[object, list[str]] | None = None) -> Output:
        """`orders` is shared by the stores of one render: parts over the same mapping
        with the same sort key (five over the containers) sort it once."""
        per = self._per
        mapping: Mapping[str, Any] = getattr(snapshot, per.source)
        joins: list[Mapping[str, Any]] = [getattr(snapshot, name) for name in per.joins]
        if mapping is self._mapping and _same(joins, self._joins):
            return self.output  # no object and no joined entry can have changed
        start = self._timer()
        self._joins = joins
        changed = mapping is not self._mapping
        if changed:
            memo = {} if orders is None else orders
            sort = (id(mapping), per.order)
            order = memo.get(sort)
            if order is None:
                order = memo[sort] = per.ordered(mapping)
            self._order = order
            self._mapping = mapping
            for key in self._entries.keys() - mapping.keys():  # removed objects
                del self._entries[key]
                self._failed.discard(key)
        entries = self._entries
        dirty: set[int] = set(range(len(self._heads))) if changed else set()
        encoded = 0
        for key in self._order:
            obj = mapping[key]
            joined = tuple(m.get(key) for m in joins)
            entry = entries.get(key)
            if entry is not None and entry.obj is obj and _same(joined, entry.joined):
                continue
            entries[key] = self._encode(key, obj, joined, entry or _NO_ENTRY, dirty)
            encoded += 1
            if not encoded % YIELD_EVERY:
                time.sleep(0)  # hand the GIL to the event loop if it waits (see YIELD_EVERY)
        if not dirty:
            return self.output
        order, before = self._order, self.output.blocks
        blocks = tuple(
            Block(h, tuple(line for key in order if (line := entries[key].lines[i])))
            if i in dirty
            else before[i]  # no object's lines changed: the block, and its segment, stay
            for i, h in enumerate(self._heads)
        )
        self.output = Output(blocks, not self._failed, self._timer() - start)
        return self.output

    def _encode(
        self, key: str, obj: object, joined: tuple[object, ...], last: _Entry, dirty: set[int]
    ) -> _Entry:
        """An object's lines; a family whose rows equal the last encode's keeps its bytes
        (a container that ran moved its CPU counters, not its limits: comparing rows costs
        a fraction of encoding them). A failing object is logged once per change of its
        inputs and leaves no lines: one bad container never hides the others (success is
        0 while it fails). Families whose lines changed are added to `dirty`."""
        families = self._templates
        try:
            rows = tuple(self._per.rows(obj, joined, self._options))
            if len(rows) != len(families):
                msg = f"{len(rows)} row groups for {len(families)} families"
                raise ValueError(msg)
        except Exception:
            log.exception("collector failed", extra={"collector": self._name, "object": key})
            self._failed.add(key)
            rows = ((),) * len(families)
        else:
            self._failed.discard(key)
        memo: LabelMemo = {}
        lines: list[bytes] = []
        old_rows, old_lines = last.rows, last.lines
        for i, (family, some) in enumerate(zip(families, rows, strict=True)):
            if old_rows and old_rows[i] == some:
                lines.append(old_lines[i])
                continue
            lines.append(encode_rows(family, some, memo) if some else b"")
            if not old_lines or lines[i] != old_lines[i]:
                dirty.add(i)
        return _Entry(obj, joined, rows if self._per.keep_rows else (), tuple(lines))


def store_for(
    spec: CollectorSpec, options: Options, timer: Callable[[], float] = time.perf_counter
) -> PartStore | ObjectStore:
    """The store for one collector part: by object when it splits by object."""
    kind = ObjectStore if spec.per is not None else PartStore
    return kind(spec, options, timer)

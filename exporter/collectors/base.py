"""Metric declarations and the collector registry (node_exporter's pattern, in Python).

Every metric is declared once, here or in a collector module, with its name, type,
help and labels; `docs/metrics.md` is generated from these declarations. A collector
is a pure function from a Snapshot to metric families: no I/O, no state, fresh
families on every call, so removed containers vanish at the next scrape.

Most collectors' series split by object (a container, an image, a network, a volume),
as kube-state-metrics' family generators do: such a collector is registered with
`register_objects` and gives the rows of one object, so that the byte store
(`exporter.render.store`) encodes an object's lines only when that object changed. Its
snapshot-level function is derived from the same rows function.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from exporter.collectors.family import Family, Kind, MetricSpec, Row
from exporter.engine.models import Container
from exporter.inventory.store import Snapshot
from exporter.options import Option, Options

__all__ = ["Family", "Kind", "MetricSpec", "Options", "Row"]

NS = "docker"

CONTAINER_LABELS = ("id", "name")


CATALOGUE: dict[str, MetricSpec] = {}


def declare(
    name: str, kind: Kind, help_text: str, labels: Sequence[str] = (), *, collector: str = ""
) -> MetricSpec:
    """Declare a metric once; a second declaration of the same name is a programming error."""
    if name in CATALOGUE:
        raise ValueError(f"metric {name} declared twice")
    if not name.startswith(f"{NS}_") and not name.startswith("process_"):
        raise ValueError(f"metric {name} lacks the {NS}_ prefix")
    if kind == "counter" and not name.endswith("_total"):
        raise ValueError(f"counter {name} must end in _total")
    if kind == "info" and not name.endswith("_info"):
        raise ValueError(f"info metric {name} must end in _info")
    spec = MetricSpec(name, kind, help_text, tuple(labels), collector)
    CATALOGUE[name] = spec
    return spec


def add(family: Family, values: Sequence[str], value: float) -> None:
    """Add one series (an info family's value is ignored: it is always 1)."""
    family.rows.append((tuple(values), value))


def state_rows(values: tuple[str, ...], states: Sequence[str], current: str) -> tuple[Row, ...]:
    """One 0/1 row per possible state, so `== 1` selects and absent never means unknown."""
    return tuple(((*values, state), 1.0 if state == current else 0.0) for state in states)


_LABEL_RE = re.compile(r"[^a-zA-Z0-9_]")


def sanitize_label(key: str) -> str:
    """Docker label key `com.example.team` to Prometheus label `label_com_example_team`:
    Prometheus docker_sd's `__meta_docker_container_label_<key>` without its prefix
    (every character outside [a-zA-Z0-9_] becomes `_`)."""
    return "label_" + sanitize_name(key)


def sanitize_name(text: str) -> str:
    """Any text to a valid Prometheus label name, as Prometheus' SanitizeLabelName does
    (invalid characters to `_`), with `_` in front of a leading digit."""
    name = _LABEL_RE.sub("_", text)
    return "_" + name if name[:1].isdigit() else name


CollectFn = Callable[[Snapshot, Options], Iterable[Family]]

ObjectRows = Callable[[Any, tuple[Any, ...], Options], Sequence[Sequence[Row]]]
"""One object, its joined entries and the options -> its rows, one sequence per family."""


@dataclass(frozen=True, slots=True)
class PerObject:
    """How a collector's series split by object; the byte store keys lines by object ID.

    An object's inputs are its entry in `source` and its entries (or None) in each of
    `joins`, Snapshot mappings keyed by the same ID; its lines are re-encoded exactly when
    one of these is not the very object it was encoded from (Inventory.publish keeps
    unchanged ones by identity), and dropped when it leaves `source`.
    """

    source: str
    joins: tuple[str, ...]
    order: Callable[[Any], Any]
    """Sort key of an object: the exposition's stable order (golden tests, diffs)."""
    rows: ObjectRows
    families: Callable[[Options], tuple[Family, ...]]
    """The empty families, in exposition order (label allow-lists add label names)."""
    keep_rows: bool = False
    """Keep each object's rows, so that a changed object re-encodes only the families
    whose rows changed: worth its memory where objects change often and partly (a stats
    sample moves its CPU counters every sweep, rarely its limits)."""

    def ordered(self, mapping: Mapping[str, Any]) -> list[str]:
        order = self.order
        return sorted(mapping, key=lambda key: order(mapping[key]))

    def collect(self, snapshot: Snapshot, options: Options) -> tuple[Family, ...]:
        """The snapshot-level collector: every object's rows, in order."""
        families = self.families(options)
        mapping: Mapping[str, Any] = getattr(snapshot, self.source)
        joined: list[Mapping[str, Any]] = [getattr(snapshot, name) for name in self.joins]
        for key in self.ordered(mapping):
            rows = self.rows(mapping[key], tuple(m.get(key) for m in joined), options)
            for family, some in zip(families, rows, strict=True):
                family.rows.extend(some)
        return families


@dataclass(frozen=True, slots=True)
class CollectorSpec:
    """A registered collector: the unit `--collector.NAME` switches on and off."""

    name: str
    fn: CollectFn
    default_enabled: bool
    help: str
    metrics: tuple[MetricSpec, ...] = field(default_factory=tuple)
    inputs: tuple[str, ...] = ()
    """The Snapshot fields it reads. It is shown only those, and its output is reused
    while all of them are the same objects as at its last run."""
    other_parts: tuple[CollectorSpec, ...] = ()
    """Further parts of the same collector, each with its own inputs, so that a change in
    one (the sampler's status at every sweep) does not run the others again."""
    per: PerObject | None = None
    """Set when the part's series split by object (`register_objects`)."""
    enabled_by: Option[Any] | tuple[Option[Any], ...] | None = None
    """An option (or options) whose value (non-empty) turns the collector on unless it is
    switched off (`--registry.url` for `registry`); switched on without any of them is a
    config error."""

    def enabling(self) -> tuple[Option[Any], ...]:
        """The options of `enabled_by`, as a tuple."""
        by = self.enabled_by
        return () if by is None else by if isinstance(by, tuple) else (by,)

    def parts(self) -> tuple[CollectorSpec, ...]:
        """The collector's functions, each a spec of its own with the same name."""
        return (self, *self.other_parts)

    def view(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot with every undeclared field left empty, so that reading one shows
        up as missing series in tests instead of as stale cached output."""
        return Snapshot(**{name: getattr(snapshot, name) for name in self.inputs})


COLLECTORS: dict[str, CollectorSpec] = {}


def register(
    name: str,
    help_text: str,
    *,
    metrics: Sequence[MetricSpec],
    inputs: Sequence[str],
    default_enabled: bool = True,
    enabled_by: Option[Any] | tuple[Option[Any], ...] | None = None,
) -> Callable[[CollectFn], CollectFn]:
    """Decorator: add a collector to the registry, which also creates its CLI flags."""

    def wrap(fn: CollectFn) -> CollectFn:
        if name in COLLECTORS:
            raise ValueError(f"collector {name} registered twice")
        _check_inputs(name, inputs)
        COLLECTORS[name] = CollectorSpec(
            name,
            fn,
            default_enabled,
            help_text,
            tuple(metrics),
            tuple(inputs),
            enabled_by=enabled_by,
        )
        return fn

    return wrap


def _no_families(_snapshot: Snapshot, _options: Options) -> Iterable[Family]:
    return ()


def register_switch(name: str, help_text: str, *, default_enabled: bool = False) -> None:
    """A collector that switches a background producer on and exports nothing itself: its
    work shows in another collector's series (`--collector.top` runs the top poller, whose
    lists docker_container_processes counts)."""
    if name in COLLECTORS:
        raise ValueError(f"collector {name} registered twice")
    COLLECTORS[name] = CollectorSpec(name, _no_families, default_enabled, help_text)


def register_objects(
    name: str,
    help_text: str = "",
    *,
    metrics: Sequence[MetricSpec],
    source: str,
    order: Callable[[Any], Any],
    joins: Sequence[str] = (),
    families: Callable[[Options], tuple[Family, ...]] | None = None,
    default_enabled: bool = True,
    keep_rows: bool = False,
    enabled_by: Option[Any] | None = None,
) -> Callable[[ObjectRows], ObjectRows]:
    """Decorator: a per-object collector, or (when `name` is registered) one more part of
    it; `metrics` are this part's families, in order, unless `families` builds them."""

    def wrap(rows: ObjectRows) -> ObjectRows:
        inputs = (source, *joins)
        _check_inputs(name, inputs)
        make = families or (lambda _options: tuple(spec.new() for spec in metrics))
        per = PerObject(source, tuple(joins), order, rows, make, keep_rows)
        spec = CollectorSpec(
            name,
            per.collect,
            default_enabled,
            help_text,
            tuple(metrics),
            inputs,
            per=per,
            enabled_by=enabled_by,
        )
        first = COLLECTORS.get(name)
        if first is None:
            COLLECTORS[name] = spec
        else:
            part = replace(spec, default_enabled=first.default_enabled, help=first.help)
            COLLECTORS[name] = replace(
                first, metrics=(*first.metrics, *metrics), other_parts=(*first.other_parts, part)
            )
        return rows

    return wrap


def register_part(
    name: str, *, inputs: Sequence[str], metrics: Sequence[MetricSpec] = ()
) -> Callable[[CollectFn], CollectFn]:
    """Decorator: one more part of a registered collector, run and cached on its own
    inputs, with its own metrics."""

    def wrap(fn: CollectFn) -> CollectFn:
        spec = COLLECTORS[name]
        _check_inputs(name, inputs)
        part = CollectorSpec(name, fn, spec.default_enabled, spec.help, (), tuple(inputs))
        COLLECTORS[name] = replace(
            spec, metrics=(*spec.metrics, *metrics), other_parts=(*spec.other_parts, part)
        )
        return fn

    return wrap


def _check_inputs(name: str, inputs: Sequence[str]) -> None:
    unknown = set(inputs) - set(Snapshot.__dataclass_fields__) | ({"version"} & set(inputs))
    if unknown:
        raise ValueError(f"collector {name}: unknown snapshot inputs {sorted(unknown)}")


def container_values(container: Container) -> tuple[str, str]:
    """The two labels every container series carries."""
    return (container.short_id, container.name)


def container_order(container: Container) -> tuple[str, str]:
    """Containers in the exposition: by name, then ID."""
    return (container.name, container.id)

"""Metric declarations and the collector registry (node_exporter's pattern, in Python).

Every metric is declared once, here or in a collector module, with its name, type,
help and labels; `docs/metrics.md` is generated from these declarations. A collector
is a pure function from a Snapshot to metric families: no I/O, no state, fresh
families on every call, so removed containers vanish at the next scrape. (Two memos keyed
by the identity of immutable inputs, the sorted container order and the stats collector's
row groups, give back what a fresh call would build, and keep only the latest inputs.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

from exporter.inventory import Snapshot
from exporter.models import Container

NS = "docker"
Kind = Literal["gauge", "counter", "info", "stateset"]

CONTAINER_LABELS = ("id", "name")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric's contract: the single place its name, type, help and labels are written."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    collector: str = ""

    def new(self, extra_labels: Sequence[str] = ()) -> Family:
        """A fresh, empty family for one collect() call."""
        return Family(self, (*self.labels, *extra_labels))


_FAMILY_TYPES = {"counter": "counter", "info": "info"}

Row = tuple[tuple[str, ...], float]
"""One series of a Family: its label values (in the family's label order) and value."""

Group = tuple[Row, ...]
"""A Family's rows of one container, kept as one object while they stay the same."""


class Family(Metric):
    """A metric family that keeps (label values, value) rows.

    The text encoder reads the rows directly, which costs a fraction of building one
    prometheus_client `Sample` (a namedtuple holding a fresh label dict) per series;
    OpenMetrics and tests still see ordinary `samples`, built on demand.
    """

    def __init__(self, spec: MetricSpec, labelnames: tuple[str, ...]) -> None:
        base = spec.name
        if spec.kind == "counter":
            base = base.removesuffix("_total")
        elif spec.kind == "info":
            base = base.removesuffix("_info")
        Metric.__init__(self, base, spec.help, _FAMILY_TYPES.get(spec.kind, "gauge"))
        self.sample_name = spec.name
        self.labelnames = labelnames
        self.info = spec.kind == "info"
        self.rows: list[Row] = []
        self.groups: list[Group] = []
        """Rows in groups, after `rows`: a collector that hands out the same group object
        while a container's inputs stay the same objects lets the encoder reuse its text."""

    def all_rows(self) -> list[Row]:
        """`rows`, then every group's rows."""
        if not self.groups:
            return self.rows
        return [*self.rows, *(row for group in self.groups for row in group)]

    @property
    def samples(self) -> list[Sample]:
        names, info = self.labelnames, self.info
        return [
            Sample(self.sample_name, dict(zip(names, values, strict=True)), 1 if info else value)
            for values, value in self.all_rows()
        ]

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        if value:
            msg = "add rows to a Family, not samples"
            raise TypeError(msg)


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


def add_state_set(
    family: Family, values: Sequence[str], states: Sequence[str], current: str
) -> None:
    """One 0/1 sample per possible state, so `== 1` selects and absent never means unknown."""
    for state in states:
        add(family, [*values, state], 1.0 if state == current else 0.0)


_LABEL_RE = re.compile(r"[^a-zA-Z0-9_]")


def sanitize_label(key: str) -> str:
    """Docker label key `com.example.team` to Prometheus label `label_com_example_team`."""
    return "label_" + _LABEL_RE.sub("_", key)


@dataclass(frozen=True, slots=True)
class Options:
    """Per-collector options from the command line."""

    container_labels: tuple[str, ...] = ()


CollectFn = Callable[[Snapshot, Options], Iterable[Metric]]


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
    more: tuple[CollectorSpec, ...] = ()
    """Further parts of the same collector, each with its own inputs, so that a change in
    one (the sampler's status at every sweep) does not run the others again."""

    def parts(self) -> tuple[CollectorSpec, ...]:
        """The collector's functions, each a spec of its own with the same name."""
        return (self, *self.more)

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
) -> Callable[[CollectFn], CollectFn]:
    """Decorator: add a collector to the registry, which also creates its CLI flags."""

    def wrap(fn: CollectFn) -> CollectFn:
        if name in COLLECTORS:
            raise ValueError(f"collector {name} registered twice")
        _check_inputs(name, inputs)
        COLLECTORS[name] = CollectorSpec(
            name, fn, default_enabled, help_text, tuple(metrics), tuple(inputs)
        )
        return fn

    return wrap


def register_part(name: str, *, inputs: Sequence[str]) -> Callable[[CollectFn], CollectFn]:
    """Decorator: one more part of a registered collector, run and cached on its own
    inputs; its metrics are declared by the `register` call."""

    def wrap(fn: CollectFn) -> CollectFn:
        spec = COLLECTORS[name]
        _check_inputs(name, inputs)
        part = CollectorSpec(name, fn, spec.default_enabled, spec.help, (), tuple(inputs))
        COLLECTORS[name] = replace(spec, more=(*spec.more, part))
        return fn

    return wrap


def _check_inputs(name: str, inputs: Sequence[str]) -> None:
    unknown = set(inputs) - set(Snapshot.__dataclass_fields__) | ({"version"} & set(inputs))
    if unknown:
        raise ValueError(f"collector {name}: unknown snapshot inputs {sorted(unknown)}")


def container_values(container: Container) -> tuple[str, str]:
    """The two labels every container series carries."""
    return (container.short_id, container.name)


def containers(snapshot: Snapshot) -> Sequence[Container]:
    """Containers in a stable order, so the exposition is deterministic (golden tests).

    Memoised on the mapping's identity (snapshots share an unchanged one), so the sort,
    the n log n part of a render of 10 000 containers, runs once per change. Read-only.
    """
    global _sorted  # noqa: PLW0603 - an identity-keyed memo of a pure function
    mapping, ordered = _sorted
    if mapping is not snapshot.containers:
        ordered = tuple(sorted(snapshot.containers.values(), key=lambda c: (c.name, c.id)))
        _sorted = (snapshot.containers, ordered)
    return ordered


_sorted: tuple[object, tuple[Container, ...]] = (None, ())

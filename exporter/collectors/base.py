"""Metric declarations and the collector registry (node_exporter's pattern, in Python).

Every metric is declared once, here or in a collector module, with its name, type,
help and labels; `docs/metrics.md` is generated from these declarations. A collector
is a pure function from a Snapshot to metric families: no I/O, no state, fresh
families on every call, so removed containers vanish at the next scrape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)

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

    def new(self, extra_labels: Sequence[str] = ()) -> Metric:
        """A fresh, empty family for one collect() call."""
        labels = [*self.labels, *extra_labels]
        if self.kind == "counter":
            return CounterMetricFamily(self.name, self.help, labels=labels)
        if self.kind == "info":
            return InfoMetricFamily(self.name.removesuffix("_info"), self.help, labels=labels)
        return GaugeMetricFamily(self.name, self.help, labels=labels)


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


def add(family: Metric, values: Sequence[str], value: float) -> None:
    """Add one sample to any family kind (info families take an empty extra-label dict)."""
    if isinstance(family, InfoMetricFamily):
        family.add_metric(list(values), {})
    else:
        family.add_metric(list(values), value)  # type: ignore[attr-defined]


def add_state_set(
    family: Metric, values: Sequence[str], states: Sequence[str], current: str
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


COLLECTORS: dict[str, CollectorSpec] = {}


def register(
    name: str, help_text: str, *, metrics: Sequence[MetricSpec], default_enabled: bool = True
) -> Callable[[CollectFn], CollectFn]:
    """Decorator: add a collector to the registry, which also creates its CLI flags."""

    def wrap(fn: CollectFn) -> CollectFn:
        if name in COLLECTORS:
            raise ValueError(f"collector {name} registered twice")
        COLLECTORS[name] = CollectorSpec(name, fn, default_enabled, help_text, tuple(metrics))
        return fn

    return wrap


def container_values(container: Container) -> list[str]:
    """The two labels every container series carries."""
    return [container.short_id, container.name]


def containers(snapshot: Snapshot) -> Iterable[Container]:
    """Containers in a stable order, so the exposition is deterministic (golden tests)."""
    return sorted(snapshot.containers.values(), key=lambda c: (c.name, c.id))

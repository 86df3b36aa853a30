"""The metric family our collectors fill and our encoders read: rows, not Samples.

A row is (label values in the family's label order, value). Building one
prometheus_client `Sample` (a namedtuple with a fresh label dict) per series costs
several times more than the row; `as_metric` builds them only where prometheus_client
itself must read a family (the reference renders of the differential tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from prometheus_client.core import Metric

Kind = Literal["gauge", "counter", "info", "stateset", "histogram"]
"""Declared kinds; a stateset is a gauge with one 0/1 series per possible state. A
histogram's rows start with their sample's suffix (`_bucket`, `_sum`, `_count`), and a
bucket row ends with its `le` bound: `histogram_rows` builds them."""

Row = tuple[tuple[str, ...], float]
"""One series: its label values (in the family's label order) and its value."""

WIRE_TYPES: dict[str, str] = {"counter": "counter", "info": "info", "histogram": "histogram"}
"""The type a family carries in OpenMetrics (and prometheus_client); the rest are gauges."""
UNITS = ("seconds", "bytes")
"""Base units a family name may end in: such a family declares its unit (OpenMetrics'
`# UNIT` line, which Prometheus' `type-and-unit-labels` feature reads)."""


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric's contract: the single place its name, type, help and labels are written."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    collector: str = ""
    sparse: bool = False
    """Series leave out labels whose value is empty (the cAdvisor-shaped families, whose
    allow-listed `container_label_*` most containers lack)."""

    def new(self, extra_labels: Sequence[str] = ()) -> Family:
        """A fresh, empty family for one collect() call."""
        return Family(self, (*self.labels, *extra_labels))

    @property
    def family_name(self) -> str:
        """The name without the `_total`/`_info` suffix, as OpenMetrics' TYPE line has it."""
        if self.kind == "counter":
            return self.name.removesuffix("_total")
        if self.kind == "info":
            return self.name.removesuffix("_info")
        return self.name

    @property
    def unit(self) -> str:
        """The unit the family name ends in (`..._seconds`, `..._bytes`), else ''."""
        if self.kind == "info":
            return ""
        last = self.family_name.rpartition("_")[2]
        return last if last in UNITS else ""


class Family:
    """A metric family as rows; `labelnames` may extend the spec's (label allow-lists)."""

    __slots__ = ("labelnames", "rows", "spec")

    def __init__(self, spec: MetricSpec, labelnames: tuple[str, ...]) -> None:
        self.spec = spec
        self.labelnames = labelnames
        self.rows: list[Row] = []

    @property
    def name(self) -> str:
        return self.spec.family_name

    @property
    def sample_name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> str:
        return WIRE_TYPES.get(self.spec.kind, "gauge")

    @property
    def documentation(self) -> str:
        return self.spec.help

    @property
    def unit(self) -> str:
        return self.spec.unit

    @property
    def info(self) -> bool:
        return self.spec.kind == "info"

    def as_metric(self) -> Metric:
        """The same family as a prometheus_client Metric, for its own encoders (the
        differential tests); imported here, since the exporter itself never needs it."""
        from prometheus_client.core import Metric  # noqa: PLC0415 - see above
        from prometheus_client.samples import Sample  # noqa: PLC0415 - see above

        metric = Metric(self.name, self.documentation, self.type, self.unit)
        names, info = self.labelnames, self.info
        if self.spec.kind == "histogram":
            metric.samples = [
                Sample(
                    self.sample_name + values[0],
                    dict(zip((*names, "le"), values[1:], strict=False)),
                    value,
                )
                for values, value in self.rows
            ]
            return metric
        metric.samples = [
            Sample(self.sample_name, dict(zip(names, values, strict=True)), 1 if info else value)
            for values, value in self.rows
        ]
        return metric


def _le(bound: float) -> str:
    """A bucket bound as Go (and prometheus_client) writes it: `0.005`, `1.0`, `+Inf`
    (Python's repr agrees with Go's for the bounds we declare, all below 1e6)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


def histogram_rows(
    labels: tuple[str, ...], bounds: Sequence[float], cumulative: Sequence[int], total: float
) -> list[Row]:
    """One histogram series' rows: a bucket per bound plus +Inf (cumulative counts, the
    last being the count), the sum, the count."""
    rows: list[Row] = [
        (("_bucket", *labels, _le(bound)), count)
        for bound, count in zip((*bounds, float("inf")), cumulative, strict=True)
    ]
    rows.append((("_sum", *labels), total))
    rows.append((("_count", *labels), cumulative[-1] if cumulative else 0))
    return rows

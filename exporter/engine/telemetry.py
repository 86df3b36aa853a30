"""What the adapter measures of its own requests: durations by endpoint class, failures by
kind, event lines it had to throw away. A slow engine shows here before it is dead.

The adapter writes into a `RequestMeter` (plain counters, no locks: one event loop); the
liveness probe freezes it into the snapshot on its own timer, so the numbers are at most
one ping interval old and cost no publication of their own.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, get_args

# Each label's values are a Literal type, so that mypy refuses a value outside the bound at
# every call site, and the tuple the metric's help lists is made from that type.

Endpoint = Literal[
    "ping", "info", "list", "inspect", "stats", "top", "events", "df", "images", "networks",
    "volumes",
]  # fmt: skip
ENDPOINTS: tuple[Endpoint, ...] = get_args(Endpoint)
"""The bounded endpoint classes: `list`/`inspect` are containers'; `info` is /info and
/version; `images`, `networks`, `volumes` cover their lists and inspects (and history);
`events` is the time to the stream's headers."""

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Seconds; the top ones match the request timeout (10 s) and `/system/df`'s minutes."""

ErrorKind = Literal["timeout", "connect", "server_error", "refused", "malformed"]
ERROR_KINDS: tuple[ErrorKind, ...] = get_args(ErrorKind)
"""timeout: no answer in time; connect: no connection, reset, cut body; server_error: a
5xx; refused: a 4xx other than 404; malformed: an answer that is not what the API says."""

Truncation = Literal["labels", "label_values", "image_tags", "processes", "event_kinds"]
TRUNCATIONS: tuple[Truncation, ...] = get_args(Truncation)
"""What a resource cap cut (each `--*.max-*` flag): the self-metric's bounded label."""

DiscardReason = Literal["malformed", "oversized", "repeated_exit"]
DISCARD_REASONS: tuple[DiscardReason, ...] = get_args(DiscardReason)
"""Why an `/events` line was skipped: not a JSON object, longer than the line cap, or a
container's `die` repeating an exit already counted (the watcher counts those)."""


@dataclass(frozen=True, slots=True)
class Histogram:
    """Cumulative bucket counts (one per BUCKETS bound, then +Inf), sum and count."""

    buckets: tuple[int, ...]
    sum: float
    count: int


@dataclass(frozen=True, slots=True)
class EngineTelemetry:
    """A frozen copy of the meter, as the snapshot carries it."""

    requests: Mapping[str, Histogram] = field(default_factory=lambda: MappingProxyType({}))
    errors: Mapping[tuple[str, str], int] = field(default_factory=lambda: MappingProxyType({}))
    discarded_events: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    truncations: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


class RequestMeter:
    """Counts what the adapter sees; `freeze` returns the same object while nothing moved."""

    def __init__(self) -> None:
        self._counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}
        self._errors: dict[tuple[str, str], int] = {}
        self._discarded: dict[str, int] = {}
        self._truncations: dict[str, int] = {}
        self._changes = 0
        self._frozen: tuple[int, EngineTelemetry] = (0, EngineTelemetry())

    def observe(self, endpoint: Endpoint, seconds: float) -> None:
        counts = self._counts.get(endpoint)
        if counts is None:
            counts = self._counts[endpoint] = [0] * (len(BUCKETS) + 1)
        counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self._sums[endpoint] = self._sums.get(endpoint, 0.0) + seconds
        self._changes += 1

    def error(self, endpoint: Endpoint, kind: ErrorKind) -> None:
        key = (endpoint, kind)
        self._errors[key] = self._errors.get(key, 0) + 1
        self._changes += 1

    def discard(self, reason: DiscardReason) -> None:
        self._discarded[reason] = self._discarded.get(reason, 0) + 1
        self._changes += 1

    def truncate(self, what: Truncation) -> None:
        self._truncations[what] = self._truncations.get(what, 0) + 1
        self._changes += 1

    def freeze(self) -> EngineTelemetry:
        if self._frozen[0] == self._changes:
            return self._frozen[1]
        requests = {}
        for endpoint, counts in self._counts.items():
            running, cumulative = 0, []
            for n in counts:
                running += n
                cumulative.append(running)
            requests[endpoint] = Histogram(tuple(cumulative), self._sums[endpoint], running)
        telemetry = EngineTelemetry(
            MappingProxyType(requests),
            MappingProxyType(dict(self._errors)),
            MappingProxyType(dict(self._discarded)),
            MappingProxyType(dict(self._truncations)),
        )
        self._frozen = (self._changes, telemetry)
        return telemetry

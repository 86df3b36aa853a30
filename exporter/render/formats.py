"""The two exposition formats Prometheus reads, written for our own families.

Prometheus' text format 0.0.4 and OpenMetrics 1.0.0 differ, for the families we export
(gauges, counters, info and histograms; no units, exemplars or timestamps), only in the
HELP and TYPE lines and the closing `# EOF`: a sample line is the same bytes in both. So
the sample lines are encoded once and shared, and each format is a choice of headers
(`Head`). Both are byte-identical to prometheus_client's encoders (`generate_latest` of
`prometheus_client.exposition` and of `prometheus_client.openmetrics.exposition`), which
the differential tests check. Label names are declared and valid, so only label values
are escaped; a series' label block is memoised per label-name tuple within one encode (a
container's id and name recur in every family).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from exporter.collectors.family import Family, Row

TEXT = "text"
OPENMETRICS = "openmetrics"
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Every Prometheus server since 1.x reads it; our names never need the UTF-8 forms."""
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
CONTENT_TYPES = {TEXT: TEXT_CONTENT_TYPE, OPENMETRICS: OPENMETRICS_CONTENT_TYPE}
EOF_LINE = b"# EOF\n"

_TEXT_TYPES = {
    "counter": "counter", "gauge": "gauge", "info": "gauge", "stateset": "gauge",
    "histogram": "histogram",
}  # fmt: skip
_TEXT_SUFFIX = {"counter": "_total", "info": "_info"}
_INF = math.inf
_GO_EXPONENT = 1_000_000  # from 7 integer digits on, Go writes an exponent
_EXACT = 2**53
_INT_FLOOR = -(10**15)  # repr() of a float switches to an exponent at 1e16

LabelMemo = dict[tuple[str, ...], dict[tuple[str, ...], str]]
"""label names -> label values -> the rendered `{a="..",b=".."}` block."""


def number(value: float) -> str:
    """Go's float formatting (`1.0`, `2.5e+10`, `+Inf`), exactly as prometheus_client's
    `floatToGoString` writes it. Integers, most of our values, take a shortcut with the
    same result (below 2**53, where float(value) is exact)."""
    if value.__class__ is int:
        if _INT_FLOOR < value < _GO_EXPONENT:
            return f"{value}.0"
        if _GO_EXPONENT <= value < _EXACT:
            digits = str(value)
            return f"{(digits[0] + '.' + digits[1:]).rstrip('0.')}e+{len(digits) - 1:02d}"
    d = float(value)
    if d == _INF:
        return "+Inf"
    if d == -_INF:
        return "-Inf"
    if d != d:  # noqa: PLR0124 - NaN is the only float unequal to itself
        return "NaN"
    s = repr(d)
    dot = s.find(".")
    # Go switches to exponents sooner than Python (positive values only, like the client).
    if d > 0 and dot > 6:
        mantissa = f"{s[0]}.{s[1:dot]}{s[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return s


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label_block(names: tuple[str, ...], values: tuple[str, ...], sparse: bool = False) -> str:
    """`{a="..",b=".."}`, names sorted; `sparse` leaves out empty values (which
    Prometheus drops anyway: a label with an empty value is no label)."""
    pairs = sorted(zip(names, values, strict=True))
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs if v or not sparse) + "}"


@dataclass(frozen=True, slots=True)
class Head:
    """A family's HELP and TYPE lines in each format."""

    text: bytes
    openmetrics: bytes

    def of(self, fmt: str) -> bytes:
        return self.openmetrics if fmt == OPENMETRICS else self.text


@lru_cache(maxsize=4096)
def head(name: str, kind: str, documentation: str) -> Head:
    """`name` and `kind` as prometheus_client's Metric has them (`counter` named without
    `_total`). Bounded: families are declared, so there are a few hundred."""
    text_name = name + _TEXT_SUFFIX.get(kind, "")
    text_type = _TEXT_TYPES.get(kind, "untyped")
    text_doc = documentation.replace("\\", "\\\\").replace("\n", "\\n")
    om_type = "unknown" if kind == "untyped" else kind
    text = f"# HELP {text_name} {text_doc}\n# TYPE {text_name} {text_type}\n"
    om = f"# HELP {name} {_escape(documentation)}\n# TYPE {name} {om_type}\n"
    return Head(text.encode(), om.encode())


def head_of(family: Family) -> Head:
    return head(family.name, family.type, family.documentation)


def encode_rows(family: Family, rows: Iterable[Row], memo: LabelMemo | None = None) -> bytes:
    """The sample lines of these rows of the family (the same bytes in both formats)."""
    out: list[str] = []
    name, names, info = family.sample_name, family.labelnames, family.info
    append = out.append
    if family.spec.kind == "histogram":
        for values, value in rows:
            suffix, labels = values[0], values[1:]
            keys = (*names, "le") if suffix == "_bucket" else names
            sample = _label_block(keys, labels) if keys else ""
            append(f"{name}{suffix}{sample} {number(value)}\n")
        return "".join(out).encode()
    if not names:
        for _, value in rows:
            append(f"{name} {number(1 if info else value)}\n")
        return "".join(out).encode()
    memo = {} if memo is None else memo
    blocks = memo.get(names)
    if blocks is None:
        blocks = memo[names] = {}
    sparse = family.spec.sparse
    for values, value in rows:
        block = blocks.get(values)
        if block is None:
            block = blocks[values] = _label_block(names, values, sparse)
        append(f"{name}{block} {'1.0' if info else number(value)}\n")
    return "".join(out).encode()


def negotiate(accept: str) -> str:
    """The format for an Accept header, by its q-values, as client_golang's negotiation:
    OpenMetrics 1.0.0 (or unversioned, or 0.0.1) when it ranks above text, text/plain
    otherwise, including when nothing listed is served (text is the fallback)."""
    best, best_q = TEXT, 0.0
    for kind, params, quality in _media_ranges(accept):
        fmt = _format_of(kind, params)
        # A higher q wins; on a tie the earlier range does (the client's stated order).
        if fmt is not None and quality > best_q:
            best, best_q = fmt, quality
    return best


def _format_of(kind: str, params: dict[str, str]) -> str | None:
    version = params.get("version", "")
    if kind == "application/openmetrics-text":
        return OPENMETRICS if version in ("", "1.0.0", "0.0.1") else None
    if kind == "text/plain":
        return TEXT if version in ("", "0.0.4", "1.0.0") else None
    if kind in ("*/*", "text/*"):
        return TEXT
    return None


def _media_ranges(accept: str) -> Sequence[tuple[str, dict[str, str], float]]:
    ranges: list[tuple[str, dict[str, str], float]] = []
    for part in accept.split(","):
        kind, *raw = (piece.strip() for piece in part.split(";"))
        if not kind:
            continue
        params: dict[str, str] = {}
        for item in raw:
            key, _, value = item.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            quality = float(params.pop("q", "1"))
        except ValueError:
            quality = 0.0
        if not 0.0 <= quality <= 1.0 or quality != quality:  # noqa: PLR0124 - NaN
            quality = 0.0
        ranges.append((kind.lower(), params, quality))
    return ranges

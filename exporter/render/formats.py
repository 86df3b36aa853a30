"""The two exposition formats Prometheus reads, written for our own families.

Prometheus' text format 0.0.4 and OpenMetrics 1.0.0 differ, for the families we export
(gauges, counters, info and histograms; no exemplars or timestamps), only in the HELP,
TYPE and UNIT lines and the closing `# EOF`: a sample line is the same bytes in both. So
the sample lines are encoded once and shared, and each format is a choice of headers
(`Head`). Both are byte-identical to prometheus_client's encoders (`generate_latest` of
`prometheus_client.exposition` and of `prometheus_client.openmetrics.exposition`), which
the differential tests check. Label names are declared and valid, so only label values
are escaped; a series' label block is memoised per label-name tuple within one encode (a
container's id and name recur in every family).

Negotiation follows the content-negotiation spec (prometheus/docs `content_negotiation.md`):
the best Accept clause by q-value picks OpenMetrics 1.0.0, text 1.0.0 or text 0.0.4, and
a 1.0.0 reply names its escaping scheme (`escaping=` of the winning clause, `underscores`
when absent or unknown). Our names are legacy-valid, so `underscores`, `values` and
`allow-utf-8` leave every byte as it is; `dots` doubles every underscore of metric and
label names (`docker_up` -> `docker__up`), as prometheus/common's `EscapeName` and
client_python's `escape_metric_name` do. A body's bytes are therefore one of four forms:
a syntax (text or OpenMetrics), plain or dots-escaped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from exporter.collectors.family import Family, Row

TEXT = "text"
OPENMETRICS = "openmetrics"
TEXT_DOTS = "text+dots"
OPENMETRICS_DOTS = "openmetrics+dots"
FORMS = (TEXT, OPENMETRICS, TEXT_DOTS, OPENMETRICS_DOTS)
"""A body's bytes: its syntax, plain or with names escaped by the `dots` scheme."""
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Every Prometheus server since 1.x reads it; our names never need the UTF-8 forms."""
TEXT_1_CONTENT_TYPE = "text/plain; version=1.0.0; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
ALLOW_UTF8, UNDERSCORES, DOTS, VALUES = "allow-utf-8", "underscores", "dots", "values"
SCHEMES = (ALLOW_UTF8, UNDERSCORES, DOTS, VALUES)
"""The `escaping=` schemes of the spec; anything else (or none) means `underscores`."""
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
    """A family's HELP and TYPE (and in OpenMetrics UNIT) lines in each form, and the
    names a `name[]` filter selects the family by."""

    text: bytes
    openmetrics: bytes
    text_dots: bytes
    openmetrics_dots: bytes
    names: frozenset[str]

    def of(self, form: str) -> bytes:
        if form == OPENMETRICS:
            return self.openmetrics
        if form == TEXT:
            return self.text
        return self.openmetrics_dots if form == OPENMETRICS_DOTS else self.text_dots


@lru_cache(maxsize=4096)
def head(name: str, kind: str, documentation: str, unit: str = "") -> Head:
    """`name` and `kind` as prometheus_client's Metric has them (`counter` named without
    `_total`). Bounded: families are declared, so there are a few hundred."""
    text_name = name + _TEXT_SUFFIX.get(kind, "")
    text_type = _TEXT_TYPES.get(kind, "untyped")
    text_doc = documentation.replace("\\", "\\\\").replace("\n", "\\n")
    om_type = "unknown" if kind == "untyped" else kind
    text = f"# HELP {text_name} {text_doc}\n# TYPE {text_name} {text_type}\n"
    om = f"# HELP {name} {_escape(documentation)}\n# TYPE {name} {om_type}\n"
    if unit:
        om += f"# UNIT {name} {unit}\n"
    # name[] as client_golang matches it (the Go family name: `_total` for counters)
    # and as client_python does (sample names: a histogram's `_bucket`, `_sum`, `_count`).
    names = {text_name}
    if kind == "histogram":
        names.update(name + suffix for suffix in ("_bucket", "_sum", "_count"))
    text_b, om_b = text.encode(), om.encode()
    return Head(text_b, om_b, dots(text_b), dots(om_b), frozenset(names))


def head_of(family: Family) -> Head:
    return head(family.name, family.type, family.documentation, family.unit)


def syntax(form: str) -> str:
    """TEXT or OPENMETRICS: the syntax of a form's bytes."""
    return OPENMETRICS if form in (OPENMETRICS, OPENMETRICS_DOTS) else TEXT


def is_dots(form: str) -> bool:
    return form in (TEXT_DOTS, OPENMETRICS_DOTS)


def dots_name(name: str, *, label: bool = False) -> str:
    """A name escaped with the `dots` scheme, as prometheus/common's `EscapeName` and
    client_python's `escape_metric_name`/`escape_label_name` do: `_` -> `__`,
    `.` -> `_dot_`, any other character invalid in a legacy name -> `__`; legacy-valid
    names are escaped too (a leading digit is invalid; `:` only in metric names)."""
    out: list[str] = []
    for i, char in enumerate(name):
        if char == "_":
            out.append("__")
        elif char == ".":
            out.append("_dot_")
        elif (
            ("a" <= char <= "z")
            or ("A" <= char <= "Z")
            or ("0" <= char <= "9" and i > 0)
            or (char == ":" and not label)
        ):
            out.append(char)
        else:
            out.append("__")
    return "".join(out)


_PAIR = re.compile(r'([^=,{}"\s]+)="((?:[^"\\]|\\.)*)"(,?)')
_META = ("HELP", "TYPE", "UNIT")


def _dots_line(line: str) -> str:
    if line.startswith("#"):
        parts = line.split(" ", 3)
        if len(parts) >= 3 and parts[1] in _META:  # `# KEYWORD name ...`
            parts[2] = dots_name(parts[2])
        return " ".join(parts)
    brace, space = line.find("{"), line.find(" ")
    if brace == -1 or space < brace:
        return dots_name(line[:space]) + line[space:]
    out = [dots_name(line[:brace]), "{"]
    pos = brace + 1
    while line[pos] != "}":
        pair = _PAIR.match(line, pos)
        if pair is None:
            msg = f"not a label pair at {pos}: {line!r}"
            raise ValueError(msg)
        out.append(f'{dots_name(pair[1], label=True)}="{pair[2]}"{pair[3]}')
        pos = pair.end()
    out.append(line[pos:])
    return "".join(out)


def dots(data: bytes) -> bytes:
    """Exposition lines (ours: legacy names, escaped label values) with their metric and
    label names escaped by the `dots` scheme; HELP text and label values are unchanged."""
    if not data:
        return data
    lines = data.decode().split("\n")
    return "\n".join(_dots_line(line) if line else line for line in lines).encode()


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


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What a scrape gets: the form of the body's bytes and the reply's Content-Type."""

    form: str
    content_type: str


PLAIN_TEXT = Negotiated(TEXT, TEXT_CONTENT_TYPE)


def negotiate(accept: str) -> Negotiated:
    """The reply for an Accept header, by its q-values, as client_golang's negotiation
    ranks them: OpenMetrics (unversioned, 1.0.0 or 0.0.1: answered as 1.0.0), text
    1.0.0, or text 0.0.4, which is also the fallback when nothing listed is served. A
    1.0.0 reply carries the winning clause's `escaping=` (client_python's rule)."""
    best, best_q = PLAIN_TEXT, 0.0
    for kind, params, quality in _media_ranges(accept):
        # A higher q wins; on a tie the earlier range does (the client's stated order).
        if quality > best_q and (reply := _reply_to(kind, params)) is not None:
            best, best_q = reply, quality
    return best


def _reply_to(kind: str, params: dict[str, str]) -> Negotiated | None:
    version = params.get("version", "")
    scheme = params.get("escaping", UNDERSCORES)
    if scheme not in SCHEMES:
        scheme = UNDERSCORES
    if kind == "application/openmetrics-text":
        if version not in ("", "1.0.0", "0.0.1"):
            return None
        form = OPENMETRICS_DOTS if scheme == DOTS else OPENMETRICS
        return Negotiated(form, f"{OPENMETRICS_CONTENT_TYPE}; escaping={scheme}")
    if kind == "text/plain":
        if version == "1.0.0":
            form = TEXT_DOTS if scheme == DOTS else TEXT
            return Negotiated(form, f"{TEXT_1_CONTENT_TYPE}; escaping={scheme}")
        return PLAIN_TEXT if version in ("", "0.0.4") else None
    if kind in ("*/*", "text/*"):
        return PLAIN_TEXT
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

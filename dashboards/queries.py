"""The built dashboards, and tooling over them (tests, the live Prometheus check): every query,
Grafana variable substitution, and the metric names the queries read."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dashboards import container, engine, exporter, fleet, registry, topology


def dashboards() -> dict[str, dict[str, Any]]:
    """File name -> dashboard model, for every dashboard."""
    built = [
        engine.engine_overview(),
        container.container_detail(),
        topology.topology(),
        fleet.fleet(),
        exporter.exporter_health(),
        registry.registries(),
    ]
    return {f"{d['uid']}.json": d for d in built}


_LABEL_VALUES = re.compile(r"^label_values\((.+),\s*(\w+)\)$", re.DOTALL)


def _variable_promql(query: str) -> str:
    m = _LABEL_VALUES.match(query.strip())
    if not m:
        msg = f"unsupported variable query: {query}"
        raise ValueError(msg)
    return f"count by ({m.group(2)}) ({m.group(1)})"


def all_queries(*, include_variables: bool = False) -> list[tuple[str, str, str]]:
    """(dashboard title, panel title, PromQL) for every panel target and annotation.

    With include_variables, also every query variable, with label_values(m, l)
    turned into the PromQL `count by (l) (m)` (panel title "variable <name>").
    Expressions still contain Grafana variables; see substitute().
    """
    out: list[tuple[str, str, str]] = []
    for d in dashboards().values():
        title = d["title"]
        out.extend(
            (title, p["title"], t["expr"]) for p in d["panels"] for t in p.get("targets", [])
        )
        out.extend(
            (title, f"annotation {a['name']}", a["expr"])
            for a in d["annotations"]["list"]
            if "expr" in a
        )
        if include_variables:
            out.extend(
                (title, f"variable {v['name']}", _variable_promql(v["definition"]))
                for v in d["templating"]["list"]
                if v["type"] == "query"
            )
    return out


DEFAULT_VALUES: dict[str, str] = {
    "job": ".+",
    "instance": ".+",
    "container": ".+",
    "project": ".+",
    "registry": ".+",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
}


def substitute(expr: str, values: Mapping[str, str] | None = None) -> str:
    """Replace Grafana variables ($name, ${name}, ${name:format}) in a query.

    `values` overrides DEFAULT_VALUES, e.g. {"instance": "host1:9417",
    "container": "web", "__rate_interval": "2m"}. Unknown variables raise KeyError.
    """
    table = {**DEFAULT_VALUES, **(values or {})}

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return table[name]

    return re.sub(r"\$\{([A-Za-z_]\w*)(?::\w+)?\}|\$([A-Za-z_]\w*)", repl, expr)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
}


def expr_metrics(expr: str) -> set[str]:
    """Metric names read by a PromQL expression (selectors written name{...})."""
    stripped = _STRING.sub('""', expr)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{", stripped))
    return names - _KEYWORDS


def referenced_metrics(*, include_variables: bool = True) -> set[str]:
    """Every metric name any dashboard query reads (including SYNTHETIC_METRICS)."""
    return {
        m
        for _, _, expr in all_queries(include_variables=include_variables)
        for m in expr_metrics(expr)
    }

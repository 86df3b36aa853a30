"""Panel builders: one function per Grafana panel type, with the house defaults (units,
descriptions, `${datasource}`, refIds)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dashboards.lib.promql import DS, ONE_CONTAINER, rate


def target(
    expr: str,
    legend: str = "",
    *,
    ref: str = "",
    instant: bool = False,
    table: bool = False,
) -> dict[str, Any]:
    return {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "format": "table" if table else "time_series",
        "instant": instant or table,
        "legendFormat": legend or "__auto",
        "range": not (instant or table),
        "refId": ref,
    }


def panel(
    kind: str,
    title: str,
    description: str,
    unit: str,
    targets: list[dict[str, Any]],
    *,
    w: int,
    h: int,
    defaults: Mapping[str, Any] | None = None,
    overrides: list[dict[str, Any]] | None = None,
    options: Mapping[str, Any] | None = None,
    transformations: list[dict[str, Any]] | None = None,
    links: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    for i, t in enumerate(targets):
        if not t["refId"]:
            t["refId"] = chr(ord("A") + i)
    panel: dict[str, Any] = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": 0, "y": 0},
        "fieldConfig": {
            "defaults": {"unit": unit, **(defaults or {})},
            "overrides": overrides or [],
        },
        "options": dict(options or {}),
        "targets": targets,
    }
    if transformations:
        panel["transformations"] = transformations
    if links:
        panel["links"] = links
    return panel


def threshold_steps(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


GREEN = threshold_steps((None, "green"))


def timeseries(
    title: str,
    description: str,
    unit: str,
    targets: list[dict[str, Any]],
    *,
    w: int = 12,
    h: int = 8,
    stack: bool = False,
    overrides: list[dict[str, Any]] | None = None,
    min0: bool = True,
    axis_label: str = "",
    legend_calcs: Iterable[str] = ("mean", "max"),
) -> dict[str, Any]:
    custom: dict[str, Any] = {
        "drawStyle": "line",
        "lineWidth": 1,
        "fillOpacity": 10,
        "gradientMode": "none",
        "showPoints": "never",
        "spanNulls": False,
        "axisLabel": axis_label,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
    }
    if min0:
        custom["axisSoftMin"] = 0
    return panel(
        "timeseries",
        title,
        description,
        unit,
        targets,
        w=w,
        h=h,
        defaults={"color": {"mode": "palette-classic"}, "custom": custom, "thresholds": GREEN},
        overrides=overrides,
        options={
            "legend": {
                "showLegend": True,
                "displayMode": "table",
                "placement": "bottom",
                "calcs": list(legend_calcs),
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    )


def mirrored(
    title: str, description: str, unit: str, up: tuple[str, str], down: tuple[str, str]
) -> dict[str, Any]:
    """A container panel with one counter's rate above the axis and its twin's below
    (receive/transmit, read/write): the shape of every I/O panel of the detail dashboard."""
    return timeseries(
        title,
        description,
        unit,
        [target(rate(metric, base=ONE_CONTAINER), legend) for metric, legend in (up, down)],
        w=8,
        overrides=[by_regex(".* " + down[1].rsplit(" ", 1)[-1], **NEGATIVE_Y)],
        min0=False,
    )


def stat(
    title: str,
    description: str,
    unit: str,
    targets: list[dict[str, Any]],
    *,
    w: int = 4,
    h: int = 4,
    thresholds: dict[str, Any] | None = None,
    mappings: list[dict[str, Any]] | None = None,
    text_mode: str = "auto",
    color_mode: str = "value",
    graph: bool = False,
    decimals: int | None = None,
    overrides: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "color": {"mode": "thresholds"},
        "thresholds": thresholds or GREEN,
        "mappings": mappings or [],
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    return panel(
        "stat",
        title,
        description,
        unit,
        targets,
        w=w,
        h=h,
        defaults=defaults,
        overrides=overrides,
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": color_mode,
            "graphMode": "area" if graph else "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": text_mode,
            "wideLayout": True,
            "showPercentChange": False,
        },
    )


def table(
    title: str,
    description: str,
    unit: str,
    targets: list[dict[str, Any]],
    *,
    w: int = 24,
    h: int = 8,
    hide: Iterable[str] = (),
    rename: Mapping[str, str] | None = None,
    order: Iterable[str] = (),
    overrides: list[dict[str, Any]] | None = None,
    sort_by: str | None = None,
    desc: bool = False,
) -> dict[str, Any]:
    """A table of instant queries (format table), merged on their common labels."""
    hidden = {"Time": True, "__name__": True, "job": True}
    for name in hide:
        hidden[name] = True
    transformations: list[dict[str, Any]] = []
    if len(targets) > 1:
        transformations.append({"id": "merge", "options": {}})
    transformations.append(
        {
            "id": "organize",
            "options": {
                "excludeByName": hidden,
                "renameByName": dict(rename or {}),
                "indexByName": {name: i for i, name in enumerate(order)},
            },
        }
    )
    options: dict[str, Any] = {
        "showHeader": True,
        "cellHeight": "sm",
        "footer": {"show": False, "reducer": ["sum"], "fields": ""},
    }
    if sort_by:
        options["sortBy"] = [{"displayName": sort_by, "desc": desc}]
    return panel(
        "table",
        title,
        description,
        unit,
        [{**t, "format": "table", "instant": True, "range": False} for t in targets],
        w=w,
        h=h,
        defaults={
            "custom": {"align": "auto", "filterable": True, "cellOptions": {"type": "auto"}},
            "thresholds": GREEN,
        },
        overrides=overrides,
        options=options,
        transformations=transformations,
    )


def state_timeline(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    w: int = 24,
    h: int = 6,
    mappings: list[dict[str, Any]] | None = None,
    overrides: list[dict[str, Any]] | None = None,
    thresholds: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return panel(
        "state-timeline",
        title,
        description,
        "none",
        targets,
        w=w,
        h=h,
        defaults={
            "color": {"mode": "thresholds"},
            "thresholds": thresholds or GREEN,
            "mappings": mappings or [],
            "custom": {"fillOpacity": 80, "lineWidth": 0},
        },
        overrides=overrides,
        options={
            "mergeValues": True,
            "showValue": "never",
            "alignValue": "left",
            "rowHeight": 0.9,
            "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"},
            "tooltip": {"mode": "single", "sort": "none"},
        },
    )


def bargauge(
    title: str,
    description: str,
    unit: str,
    targets: list[dict[str, Any]],
    *,
    w: int = 12,
    h: int = 8,
    thresholds: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return panel(
        "bargauge",
        title,
        description,
        unit,
        targets,
        w=w,
        h=h,
        defaults={"color": {"mode": "thresholds"}, "thresholds": thresholds or GREEN, "min": 0},
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
            "displayMode": "gradient",
            "valueMode": "color",
            "showUnfilled": True,
            "namePlacement": "auto",
            "sizing": "auto",
            "minVizHeight": 16,
            "minVizWidth": 8,
            "maxVizHeight": 300,
        },
    )


def by_name(name: str, **props: Any) -> dict[str, Any]:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": k.replace("__", "."), "value": v} for k, v in props.items()],
    }


def by_regex(pattern: str, **props: Any) -> dict[str, Any]:
    return {
        "matcher": {"id": "byRegexp", "options": pattern},
        "properties": [{"id": k.replace("__", "."), "value": v} for k, v in props.items()],
    }


def by_ref(ref: str, **props: Any) -> dict[str, Any]:
    return {
        "matcher": {"id": "byFrameRefID", "options": ref},
        "properties": [{"id": k.replace("__", "."), "value": v} for k, v in props.items()],
    }


LIMIT_STYLE = {
    "color": {"mode": "fixed", "fixedColor": "red"},
    "custom__lineStyle": {"fill": "dash", "dash": [10, 10]},
    "custom__fillOpacity": 0,
}


NEGATIVE_Y = {"custom__transform": "negative-Y"}


def colored_text() -> dict[str, Any]:
    return {"type": "color-text"}

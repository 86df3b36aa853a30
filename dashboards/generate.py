#!/usr/bin/env python3
"""Generate the docker-exporter Grafana dashboards (Classic JSON, schemaVersion 39).

Standard library only. Each query is written once, here; the JSON files in this
directory are generated from it and committed:

    python dashboards/generate.py            # rewrite dashboards/*.json
    python dashboards/generate.py --check    # exit 1 if a committed file is out of date

Every dashboard has a stable uid (= its file name), the title prefix
"Docker Exporter / ", the tag "docker-exporter", and the variables `datasource`,
`job` and `instance` (multi-value, All); every panel and target uses
`${datasource}`, every PromQL selector carries `job=~"$job", instance=~"$instance"`,
every rate uses `$__rate_interval`.

Helpers for tests (for example a live test against a real Prometheus):
    dashboards() -> dict[str, dict]            file name -> dashboard model
    all_queries(include_variables=False) -> list[tuple[str, str, str]]
                                               (dashboard title, panel title, expr)
    substitute(expr, values=None) -> str       replace Grafana variables with values
    referenced_metrics() -> set[str]           every metric name the queries read
    SYNTHETIC_METRICS                          names Prometheus itself creates
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

TITLE_PREFIX = "Docker Exporter / "
TAG = "docker-exporter"
SCHEMA_VERSION = 39
DS = {"type": "prometheus", "uid": "${datasource}"}

# Label matchers shared by every query.
S = 'job=~"$job", instance=~"$instance"'
# ... plus the container picked on the container dashboard.
C = S + ', name=~"$container"'

UID_ENGINE = "docker-exporter-engine"
UID_CONTAINER = "docker-exporter-container"
UID_TOPOLOGY = "docker-exporter-topology"
UID_FLEET = "docker-exporter-fleet"
UID_EXPORTER = "docker-exporter-exporter"

# Series Prometheus creates itself (not exported by docker-exporter).
SYNTHETIC_METRICS = frozenset({"up", "ALERTS", "scrape_duration_seconds"})

# Container state (docker_container_state{state}) and health
# (docker_container_health_status{status}) encoded as one number per container,
# for stat and state-timeline panels: (label value, code, colour).
STATES = [
    ("created", 1, "purple"),
    ("running", 2, "green"),
    ("paused", 3, "blue"),
    ("restarting", 4, "orange"),
    ("removing", 5, "yellow"),
    ("exited", 6, "red"),
    ("dead", 7, "dark-red"),
]
HEALTH = [
    ("none", 1, "text"),
    ("starting", 2, "blue"),
    ("healthy", 3, "green"),
    ("unhealthy", 4, "red"),
]
STATE_COLORS = {name: color for name, _, color in STATES}


# --------------------------------------------------------------------------- #
# PromQL helpers
# --------------------------------------------------------------------------- #


def sel(metric: str, *matchers: str, base: str = S) -> str:
    """metric{job=~"$job", instance=~"$instance", extra...}."""
    return f"{metric}{{{', '.join([base, *matchers])}}}"


def eq(label: str, value: str) -> str:
    """An equality matcher: label="value"."""
    return f'{label}="{value}"'


RUNNING = eq("state", "running")
UNHEALTHY = eq("status", "unhealthy")


def rate(metric: str, *matchers: str, base: str = S) -> str:
    return f"rate({sel(metric, *matchers, base=base)}[$__rate_interval])"


def encoded(metric: str, label: str, table: list[tuple[str, int, str]], base: str) -> str:
    """One series per container whose value is the code of its current state."""
    terms = "\n  or ".join(
        f"({sel(metric, eq(label, value), base=base)} == 1) * {code}" for value, code, _ in table
    )
    return f"max by (instance, name) (\n  {terms}\n)"


def value_mappings(table: list[tuple[str, int, str]]) -> list[dict[str, Any]]:
    return [
        {
            "type": "value",
            "options": {
                str(code): {"text": value, "color": color, "index": i}
                for i, (value, code, color) in enumerate(table)
            },
        }
    ]


def text_mappings(table: Mapping[str, str]) -> list[dict[str, Any]]:
    """Colour table cells by their text (e.g. a state label)."""
    return [
        {
            "type": "value",
            "options": {
                text: {"color": color, "index": i} for i, (text, color) in enumerate(table.items())
            },
        }
    ]


def container_link(name_field: str = "name", instance_field: str = "instance") -> dict[str, Any]:
    return {
        "title": "Container details",
        "url": (
            f"/d/{UID_CONTAINER}?${{datasource:queryparam}}&var-job=$job"
            f"&var-instance=${{__data.fields.{instance_field}}}"
            f"&var-container=${{__data.fields.{name_field}}}&${{__url_time_range}}"
        ),
    }


def engine_link() -> dict[str, Any]:
    return {
        "title": "Engine overview",
        "url": (
            f"/d/{UID_ENGINE}?${{datasource:queryparam}}&var-job=$job"
            "&var-instance=${__data.fields.instance}&${__url_time_range}"
        ),
    }


# --------------------------------------------------------------------------- #
# Panel builders
# --------------------------------------------------------------------------- #


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


def _panel(
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


def _thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


GREEN = _thresholds((None, "green"))


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
    return _panel(
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
        [target(rate(metric, base=C), legend) for metric, legend in (up, down)],
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
    return _panel(
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
    return _panel(
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
    return _panel(
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
    return _panel(
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


# --------------------------------------------------------------------------- #
# Dashboard assembly
# --------------------------------------------------------------------------- #

Rows = list[tuple[str, list[dict[str, Any]]]]


def _layout(rows: Rows) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    y = 0
    next_id = 1
    for title, members in rows:
        panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "id": next_id,
                "panels": [],
            }
        )
        next_id += 1
        y += 1
        x, row_h = 0, 0
        for p in members:
            w, h = p["gridPos"]["w"], p["gridPos"]["h"]
            if x + w > 24:
                x, y, row_h = 0, y + row_h, 0
            p["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
            p["id"] = next_id
            next_id += 1
            x += w
            row_h = max(row_h, h)
            panels.append(p)
        y += row_h
    return panels


def _query_var(name: str, label: str, query: str, *, multi: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-variable"},
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "allValue": ".+" if multi else None,
        "current": {},
        "options": [],
        "hide": 0,
        "skipUrlSync": False,
    }


def _variables(extra: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "regex": "",
            "current": {},
            "options": [],
            "refresh": 1,
            "hide": 0,
            "includeAll": False,
            "multi": False,
            "skipUrlSync": False,
        },
        _query_var("job", "job", "label_values(docker_up, job)"),
        _query_var("instance", "instance", 'label_values(docker_up{job=~"$job"}, instance)'),
        *extra,
    ]


BUILTIN_ANNOTATION = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


def _alert_annotation(matchers: str) -> dict[str, Any]:
    return {
        "datasource": DS,
        "enable": True,
        "hide": False,
        "iconColor": "red",
        "name": "Docker alerts",
        "expr": f'ALERTS{{alertname=~"Docker.*", alertstate="firing", {matchers}}}',
        "step": "1m",
        "titleFormat": "{{alertname}}",
        "textFormat": "{{severity}} {{name}} on {{instance}}",
        "tagKeys": "severity",
        "useValueForTime": False,
    }


def _dashboard(
    uid: str,
    title: str,
    description: str,
    rows: Rows,
    *,
    variables: Iterable[dict[str, Any]] = (),
    annotations: Iterable[dict[str, Any]] = (),
    time_from: str = "now-1h",
) -> dict[str, Any]:
    return {
        "id": None,
        "uid": uid,
        "title": TITLE_PREFIX + title,
        "description": description,
        "tags": [TAG, "docker"],
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "weekStart": "",
        "links": [
            {
                "type": "dashboards",
                "title": "Docker Exporter",
                "tags": [TAG],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ],
        "annotations": {"list": [BUILTIN_ANNOTATION, *annotations]},
        "templating": {"list": _variables(variables)},
        "panels": _layout(rows),
    }


# --------------------------------------------------------------------------- #
# (a) Engine overview
# --------------------------------------------------------------------------- #

CPU_CORES = "Values are in CPU cores: 1 means one full core busy."


def engine_overview() -> dict[str, Any]:
    state_overrides = [
        by_name(name, color={"mode": "fixed", "fixedColor": color})
        for name, _, color in STATES
        if name != "running"
    ]
    engine = [
        stat(
            "Engine reachable",
            "Whether the exporter reached the Docker Engine API on its last attempt "
            "(docker_up), per host.",
            "none",
            [target(sel("docker_up"), "{{instance}}")],
            w=4,
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "Down", "color": "red", "index": 0},
                        "1": {"text": "Up", "color": "green", "index": 1},
                    },
                }
            ],
            color_mode="background",
        ),
        stat(
            "Engine version",
            "Docker Engine version reported by /version, per host.",
            "none",
            [target(sel("docker_engine_info"), "{{version}}")],
            w=4,
            text_mode="name",
        ),
        stat(
            "CPUs",
            "CPUs visible to the Docker Engine (docker info NCPU), summed over the selected hosts.",
            "short",
            [target(f"sum({sel('docker_engine_cpus')})", "CPUs")],
            w=3,
        ),
        stat(
            "Memory",
            "Memory visible to the Docker Engine (docker info MemTotal), summed over the "
            "selected hosts.",
            "bytes",
            [target(f"sum({sel('docker_engine_memory_bytes')})", "memory")],
            w=3,
        ),
        stat(
            "Swarm",
            "Local Swarm state of the Engine (inactive, pending, active, error, locked).",
            "none",
            [target(sel("docker_engine_swarm_info"), "{{state}}")],
            w=3,
            text_mode="name",
        ),
        stat(
            "Event stream",
            "Whether the exporter's Docker event stream is connected. When it is down, "
            "state changes arrive only with the periodic re-list.",
            "none",
            [target(sel("docker_exporter_event_stream_up"), "{{instance}}")],
            w=3,
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "Down", "color": "red", "index": 0},
                        "1": {"text": "Connected", "color": "green", "index": 1},
                    },
                }
            ],
            color_mode="background",
        ),
        stat(
            "Firing alerts",
            'Docker alerts (alertname=~"Docker.*") firing for the selected hosts.',
            "short",
            [
                target(
                    f'count(ALERTS{{alertname=~"Docker.*", alertstate="firing", {S}}}) '
                    "or vector(0)",
                    "alerts",
                )
            ],
            w=4,
            thresholds=_thresholds((None, "green"), (1, "red")),
            color_mode="background",
        ),
        table(
            "Engines",
            "Engine facts per host from docker_engine_info: version, API version, OS, "
            "architecture, kernel, storage driver and cgroup setup.",
            "none",
            [
                target(
                    "max by (instance, version, api_version, os, arch, kernel, storage_driver,"
                    f" cgroup_driver, cgroup_version) ({sel('docker_engine_info')})"
                )
            ],
            h=5,
            hide=["Value"],
            order=[
                "instance",
                "version",
                "api_version",
                "os",
                "arch",
                "kernel",
                "storage_driver",
                "cgroup_driver",
                "cgroup_version",
            ],
        ),
    ]

    containers = [
        stat(
            "Containers by state",
            "Number of containers in each Docker state (docker_container_state). Stopped "
            "containers count until they are removed.",
            "short",
            [
                target(
                    f"sum by (state) ({sel('docker_container_state')})",
                    "{{state}}",
                )
            ],
            w=12,
            overrides=state_overrides,
            color_mode="value",
            thresholds=_thresholds((None, "green")),
        ),
        stat(
            "Unhealthy",
            "Containers whose Docker health check currently reports unhealthy.",
            "short",
            [
                target(
                    f"sum({sel('docker_container_health_status', UNHEALTHY)}) or vector(0)",
                    "unhealthy",
                )
            ],
            w=4,
            thresholds=_thresholds((None, "green"), (1, "red")),
            color_mode="background",
        ),
        stat(
            "Restarts in range",
            "Restarts by restart policies within the selected time range, all containers.",
            "short",
            [
                target(
                    f"sum(increase({sel('docker_container_restarts_total')}[$__range]))"
                    " or vector(0)",
                    "restarts",
                )
            ],
            w=4,
            thresholds=_thresholds((None, "green"), (1, "orange")),
            decimals=0,
        ),
        stat(
            "OOM kills in range",
            "Out-of-memory kill events within the selected time range, all containers.",
            "short",
            [
                target(
                    f"sum(increase({sel('docker_container_oom_events_total')}[$__range]))"
                    " or vector(0)",
                    "OOM kills",
                )
            ],
            w=4,
            thresholds=_thresholds((None, "green"), (1, "red")),
            decimals=0,
        ),
        timeseries(
            "Containers by state over time",
            "Number of containers in each state over time, stacked.",
            "short",
            [target(f"sum by (state) ({sel('docker_container_state')})", "{{state}}")],
            w=24,
            h=7,
            stack=True,
            overrides=[
                by_name(name, color={"mode": "fixed", "fixedColor": color})
                for name, _, color in STATES
            ],
            legend_calcs=("lastNotNull", "max"),
        ),
        table(
            "Containers",
            "Every container with its image, Compose project/service, state, health, "
            "restarts, CPU (cores), memory working set and uptime. Click a name for the "
            "container dashboard.",
            "short",
            [
                target(
                    "max by (instance, name, image, compose_project, compose_service) "
                    f"({sel('docker_container_info')})"
                ),
                target(f"max by (instance, name, state) ({sel('docker_container_state')} == 1)"),
                target(
                    "max by (instance, name, status) "
                    f"({sel('docker_container_health_status')} == 1)"
                ),
                target(f"max by (instance, name) ({sel('docker_container_restarts_total')})"),
                target(
                    f"sum by (instance, name) ({rate('docker_container_cpu_usage_seconds_total')})"
                ),
                target(
                    f"max by (instance, name) ({sel('docker_container_memory_working_set_bytes')})"
                ),
                target(
                    "time() - max by (instance, name) "
                    f"({sel('docker_container_started_timestamp_seconds')})\n"
                    "and on (instance, name)\n"
                    "max by (instance, name) "
                    f"({sel('docker_container_state', RUNNING)}) == 1"
                ),
            ],
            h=10,
            hide=["Value #A", "Value #B", "Value #C"],
            rename={
                "status": "health",
                "Value #D": "restarts",
                "Value #E": "CPU",
                "Value #F": "memory",
                "Value #G": "uptime",
            },
            order=[
                "name",
                "instance",
                "state",
                "status",
                "image",
                "compose_project",
                "compose_service",
                "Value #D",
                "Value #E",
                "Value #F",
                "Value #G",
            ],
            sort_by="name",
            overrides=[
                by_name("name", links=[container_link()]),
                by_name("memory", unit="bytes"),
                by_name("CPU", unit="short", decimals=3),
                by_name("uptime", unit="s"),
                by_name("restarts", decimals=0),
                by_name(
                    "state",
                    mappings=text_mappings(STATE_COLORS),
                    custom__cellOptions=colored_text(),
                ),
                by_name(
                    "health",
                    mappings=text_mappings(
                        {"healthy": "green", "starting": "blue", "unhealthy": "red"}
                    ),
                    custom__cellOptions=colored_text(),
                ),
            ],
        ),
    ]

    top = "topk(10, {})"
    resources = [
        timeseries(
            "CPU by container (top 10)",
            "CPU used by the 10 busiest containers. " + CPU_CORES,
            "short",
            [
                target(
                    top.format(
                        "sum by (instance, name) "
                        f"({rate('docker_container_cpu_usage_seconds_total')})"
                    ),
                    "{{name}}",
                )
            ],
            axis_label="cores",
        ),
        timeseries(
            "Memory by container (top 10)",
            "Memory working set (usage minus inactive page cache: what the OOM killer "
            "looks at) of the 10 largest containers.",
            "bytes",
            [
                target(
                    top.format(
                        "max by (instance, name) "
                        f"({sel('docker_container_memory_working_set_bytes')})"
                    ),
                    "{{name}}",
                )
            ],
        ),
        timeseries(
            "Network by container (top 10)",
            "Network traffic of the 10 busiest containers, all interfaces; receive above "
            "the axis, transmit below.",
            "Bps",
            [
                target(
                    top.format(
                        "sum by (instance, name) "
                        f"({rate('docker_container_network_receive_bytes_total')})"
                    ),
                    "{{name}} receive",
                ),
                target(
                    top.format(
                        "sum by (instance, name) "
                        f"({rate('docker_container_network_transmit_bytes_total')})"
                    ),
                    "{{name}} transmit",
                ),
            ],
            overrides=[by_regex(".* transmit", **NEGATIVE_Y)],
            min0=False,
        ),
        timeseries(
            "Block I/O by container (top 10)",
            "Block device reads and writes of the 10 busiest containers; reads above the "
            "axis, writes below.",
            "Bps",
            [
                target(
                    top.format(
                        "sum by (instance, name) "
                        f"({rate('docker_container_block_read_bytes_total')})"
                    ),
                    "{{name}} read",
                ),
                target(
                    top.format(
                        "sum by (instance, name) "
                        f"({rate('docker_container_block_write_bytes_total')})"
                    ),
                    "{{name}} write",
                ),
            ],
            overrides=[by_regex(".* write", **NEGATIVE_Y)],
            min0=False,
        ),
        timeseries(
            "Container CPU share of the host",
            "CPU used by all containers divided by the CPUs the Engine sees, per host.",
            "percentunit",
            [
                target(
                    "sum by (job, instance) "
                    f"({rate('docker_container_cpu_usage_seconds_total')})\n"
                    f"  / on (job, instance)\n{sel('docker_engine_cpus')}",
                    "{{instance}}",
                )
            ],
        ),
        timeseries(
            "Container memory share of the host",
            "Working set of all containers divided by the memory the Engine sees, per host.",
            "percentunit",
            [
                target(
                    "sum by (job, instance) "
                    f"({sel('docker_container_memory_working_set_bytes')})\n"
                    f"  / on (job, instance)\n{sel('docker_engine_memory_bytes')}",
                    "{{instance}}",
                )
            ],
        ),
    ]

    events = [
        timeseries(
            "Docker events by type",
            "Events received on the Docker event stream per second, by object type.",
            "ops",
            [target(f"sum by (type) ({rate('docker_events_total')})", "{{type}}")],
        ),
        timeseries(
            "Container events by action",
            "Container events per second by action (start, die, kill, oom, health_status, ...).",
            "ops",
            [
                target(
                    f"sum by (action) ({rate('docker_events_total', eq('type', 'container'))})",
                    "{{action}}",
                )
            ],
        ),
    ]

    objects = [
        stat(
            "Images",
            "Number of images on the selected hosts.",
            "short",
            [target(f"count({sel('docker_image_info')}) or vector(0)", "images")],
            w=6,
        ),
        stat(
            "Image disk size",
            "Sum of image sizes (shared layers are counted once per image, as in docker images).",
            "bytes",
            [target(f"sum({sel('docker_image_size_bytes')})", "size")],
            w=6,
        ),
        stat(
            "Volumes",
            "Number of volumes on the selected hosts.",
            "short",
            [target(f"count({sel('docker_volume_info')}) or vector(0)", "volumes")],
            w=6,
        ),
        stat(
            "Networks",
            "Number of networks on the selected hosts, including the built-in bridge, "
            "host and none.",
            "short",
            [target(f"count({sel('docker_network_info')}) or vector(0)", "networks")],
            w=6,
        ),
        table(
            "Images",
            "Images with their tags, size, layer count and age, largest first. An image "
            "with several tags has one row per tag.",
            "short",
            [
                target(
                    "max by (instance, id, repository, tag) "
                    f"({sel('docker_image_info')})\n"
                    "* on (instance, id) group_left ()\n"
                    f"max by (instance, id) ({sel('docker_image_size_bytes')})"
                ),
                target(
                    "max by (instance, id, repository, tag) "
                    f"({sel('docker_image_info')})\n"
                    "* on (instance, id) group_left ()\n"
                    f"max by (instance, id) ({sel('docker_image_layers')})"
                ),
                target(
                    "max by (instance, id, repository, tag) "
                    f"({sel('docker_image_info')})\n"
                    "* on (instance, id) group_left ()\n"
                    "(time() - max by (instance, id) "
                    f"({sel('docker_image_created_timestamp_seconds')}))"
                ),
            ],
            w=14,
            h=9,
            rename={"Value #A": "size", "Value #B": "layers", "Value #C": "age"},
            order=["repository", "tag", "id", "instance", "Value #A", "Value #B", "Value #C"],
            overrides=[
                by_name("size", unit="bytes"),
                by_name("age", unit="s"),
                by_name("layers", decimals=0),
            ],
            sort_by="size",
            desc=True,
        ),
        table(
            "Volumes",
            "Volumes with their driver and scope.",
            "none",
            [target(f"max by (instance, volume, driver, scope) ({sel('docker_volume_info')})")],
            w=10,
            h=9,
            hide=["Value"],
            order=["volume", "driver", "scope", "instance"],
            sort_by="volume",
        ),
    ]

    return _dashboard(
        UID_ENGINE,
        "Engine overview",
        "Docker Engines seen by docker-exporter: engine facts, containers by state, "
        "health, restarts, top resource users, events, images, volumes and networks.",
        [
            ("Engine", engine),
            ("Containers", containers),
            ("Resource usage", resources),
            ("Events", events),
            ("Images, volumes and networks", objects),
        ],
        annotations=[_alert_annotation(S)],
    )


# --------------------------------------------------------------------------- #
# (b) Container detail
# --------------------------------------------------------------------------- #


def container_detail() -> dict[str, Any]:
    state_expr = encoded("docker_container_state", "state", STATES, C)
    health_expr = encoded("docker_container_health_status", "status", HEALTH, C)

    overview = [
        stat(
            "State",
            "Current Docker state of the container.",
            "none",
            [target(state_expr, "{{instance}}")],
            w=3,
            mappings=value_mappings(STATES),
            color_mode="background",
        ),
        stat(
            "Health",
            "Current health check status; 'none' means the image defines no HEALTHCHECK.",
            "none",
            [target(health_expr, "{{instance}}")],
            w=3,
            mappings=value_mappings(HEALTH),
            color_mode="background",
        ),
        stat(
            "Uptime",
            "Time since the current run started; empty while the container is not running.",
            "s",
            [
                target(
                    f"time() - {sel('docker_container_started_timestamp_seconds', base=C)}\n"
                    "and on (job, instance, id)\n"
                    f"{sel('docker_container_state', RUNNING, base=C)} == 1",
                    "{{instance}}",
                )
            ],
            w=3,
        ),
        stat(
            "Restarts",
            "Restarts by the restart policy (Docker's RestartCount; a manual restart resets it).",
            "short",
            [target(sel("docker_container_restarts_total", base=C), "{{instance}}")],
            w=3,
            thresholds=_thresholds((None, "green"), (1, "orange"), (3, "red")),
        ),
        stat(
            "Last exit code",
            "Exit code of the last run (0 if it never exited). 137 = SIGKILL (docker "
            "stop timeout or OOM kill), 143 = SIGTERM.",
            "none",
            [target(sel("docker_container_exit_code", base=C), "{{instance}}")],
            w=3,
            thresholds=_thresholds((None, "green"), (1, "red")),
        ),
        stat(
            "OOM killed",
            "Whether the last run was ended by the kernel OOM killer (State.OOMKilled).",
            "none",
            [target(sel("docker_container_oom_killed", base=C), "{{instance}}")],
            w=3,
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "no", "color": "green", "index": 0},
                        "1": {"text": "yes", "color": "red", "index": 1},
                    },
                }
            ],
            color_mode="background",
        ),
        stat(
            "Restart policy",
            "Docker restart policy of the container.",
            "none",
            [target(sel("docker_container_restart_policy_info", base=C), "{{policy}}")],
            w=3,
            text_mode="name",
        ),
        stat(
            "Image",
            "Image reference the container was created from.",
            "none",
            [target(sel("docker_container_info", base=C), "{{image}}")],
            w=3,
            text_mode="name",
        ),
        table(
            "Container",
            "Identity and lifecycle timestamps of the container.",
            "none",
            [
                target(
                    "max by (instance, id, name, image, image_id, compose_project, "
                    f"compose_service) ({sel('docker_container_info', base=C)})"
                ),
                target(
                    "max by (instance, id, name) "
                    f"({sel('docker_container_created_timestamp_seconds', base=C)}) * 1000"
                ),
                target(
                    "max by (instance, id, name) "
                    f"({sel('docker_container_started_timestamp_seconds', base=C)}) * 1000"
                ),
                target(
                    "max by (instance, id, name) "
                    f"({sel('docker_container_finished_timestamp_seconds', base=C)}) * 1000"
                ),
            ],
            h=4,
            hide=["Value #A"],
            rename={"Value #B": "created", "Value #C": "started", "Value #D": "finished"},
            order=[
                "name",
                "id",
                "instance",
                "image",
                "image_id",
                "compose_project",
                "compose_service",
                "Value #B",
                "Value #C",
                "Value #D",
            ],
            overrides=[
                by_name("created", unit="dateTimeAsIso"),
                by_name("started", unit="dateTimeAsIso"),
                by_name("finished", unit="dateTimeAsIso"),
            ],
        ),
    ]

    history = [
        state_timeline(
            "State and health",
            "Container state (top) and health check status (bottom) over time.",
            [target(state_expr, "state"), target(health_expr, "health")],
            w=16,
            h=6,
            overrides=[
                by_ref("A", mappings=value_mappings(STATES)),
                by_ref("B", mappings=value_mappings(HEALTH)),
            ],
        ),
        timeseries(
            "Restart and OOM counters",
            "Restarts by the restart policy and OOM events seen by the exporter, as counters.",
            "short",
            [
                target(sel("docker_container_restarts_total", base=C), "restarts"),
                target(sel("docker_container_oom_events_total", base=C), "OOM events"),
            ],
            w=8,
            h=6,
            legend_calcs=("lastNotNull",),
        ),
    ]

    on = "on (job, instance, id) group_left ()"
    cpu = [
        timeseries(
            "CPU usage",
            "CPU used by the container (total, user, system) and its CPU limit (dashed; "
            "absent when unlimited). " + CPU_CORES,
            "short",
            [
                target(rate("docker_container_cpu_usage_seconds_total", base=C), "total"),
                target(rate("docker_container_cpu_user_seconds_total", base=C), "user"),
                target(rate("docker_container_cpu_system_seconds_total", base=C), "system"),
                target(sel("docker_container_cpu_limit_cores", base=C), "limit"),
            ],
            w=8,
            overrides=[by_name("limit", **LIMIT_STYLE)],
            axis_label="cores",
        ),
        timeseries(
            "CPU throttling",
            "Share of CFS scheduling periods in which the container hit its CPU quota. "
            "Only containers with a CPU limit are throttled.",
            "percentunit",
            [
                target(
                    f"{rate('docker_container_cpu_throttled_periods_total', base=C)}\n"
                    f"  / {on}\n"
                    f"({rate('docker_container_cpu_periods_total', base=C)} > 0)",
                    "throttled periods",
                )
            ],
            w=8,
        ),
        timeseries(
            "Throttled time",
            "Time the container's threads were stopped by CPU throttling, in seconds per "
            "second (can exceed 1 with several threads).",
            "s",
            [
                target(
                    rate("docker_container_cpu_throttled_seconds_total", base=C),
                    "throttled",
                )
            ],
            w=8,
        ),
    ]

    memory = [
        timeseries(
            "Memory",
            "Working set (what the OOM killer compares with the limit), total usage "
            "including page cache, RSS, cache, swap, and the memory limit (dashed; absent "
            "when unlimited).",
            "bytes",
            [
                target(sel("docker_container_memory_working_set_bytes", base=C), "working set"),
                target(sel("docker_container_memory_usage_bytes", base=C), "usage"),
                target(sel("docker_container_memory_rss_bytes", base=C), "rss"),
                target(sel("docker_container_memory_cache_bytes", base=C), "cache"),
                target(sel("docker_container_memory_swap_bytes", base=C), "swap"),
                target(sel("docker_container_memory_limit_bytes", base=C), "limit"),
            ],
            w=12,
            overrides=[by_name("limit", **LIMIT_STYLE)],
        ),
        timeseries(
            "Memory use of limit",
            "Working set divided by the memory limit; empty for containers without a limit.",
            "percentunit",
            [
                target(
                    f"{sel('docker_container_memory_working_set_bytes', base=C)}\n"
                    f"  / {on}\n"
                    f"({sel('docker_container_memory_limit_bytes', base=C)} > 0)",
                    "working set / limit",
                )
            ],
            w=6,
        ),
        timeseries(
            "Memory limit hits",
            "How often per second the container's memory usage hit its limit "
            "(memory failures); frequent hits precede OOM kills.",
            "cps",
            [target(rate("docker_container_memory_failures_total", base=C), "failures")],
            w=6,
        ),
    ]

    network = [
        mirrored(
            "Network traffic",
            "Bytes per second by interface; receive above the axis, transmit below.",
            "Bps",
            ("docker_container_network_receive_bytes_total", "{{interface}} receive"),
            ("docker_container_network_transmit_bytes_total", "{{interface}} transmit"),
        ),
        mirrored(
            "Network packets",
            "Packets per second by interface; receive above the axis, transmit below.",
            "pps",
            ("docker_container_network_receive_packets_total", "{{interface}} receive"),
            ("docker_container_network_transmit_packets_total", "{{interface}} transmit"),
        ),
        timeseries(
            "Network errors and drops",
            "Receive and transmit errors and dropped packets per second by interface.",
            "pps",
            [
                target(
                    rate("docker_container_network_receive_errors_total", base=C),
                    "{{interface}} receive errors",
                ),
                target(
                    rate("docker_container_network_transmit_errors_total", base=C),
                    "{{interface}} transmit errors",
                ),
                target(
                    rate("docker_container_network_receive_dropped_total", base=C),
                    "{{interface}} receive dropped",
                ),
                target(
                    rate("docker_container_network_transmit_dropped_total", base=C),
                    "{{interface}} transmit dropped",
                ),
            ],
            w=8,
        ),
    ]

    block = [
        mirrored(
            "Block I/O throughput",
            "Bytes per second by block device; reads above the axis, writes below.",
            "Bps",
            ("docker_container_block_read_bytes_total", "{{device}} read"),
            ("docker_container_block_write_bytes_total", "{{device}} write"),
        ),
        mirrored(
            "Block I/O operations",
            "Read and write operations per second by block device; reads above the axis, "
            "writes below.",
            "iops",
            ("docker_container_block_reads_total", "{{device}} reads"),
            ("docker_container_block_writes_total", "{{device}} writes"),
        ),
        timeseries(
            "Processes",
            "PIDs (tasks, including threads) in the container's cgroup against the PIDs "
            "limit (dashed), and processes listed by the Engine.",
            "short",
            [
                target(sel("docker_container_pids", base=C), "pids"),
                target(sel("docker_container_pids_limit", base=C), "limit"),
                target(sel("docker_container_processes", base=C), "processes"),
            ],
            w=8,
            overrides=[by_name("limit", **LIMIT_STYLE)],
        ),
    ]

    attachments = [
        table(
            "Networks",
            "Networks the container is attached to, with its IP address on each.",
            "none",
            [
                target(
                    "max by (instance, network, ip) "
                    f"({sel('docker_container_network_info', base=C)})"
                )
            ],
            w=8,
            h=6,
            hide=["Value"],
            order=["network", "ip", "instance"],
        ),
        table(
            "Network aliases",
            "DNS aliases of the container on each network (Compose service names among them).",
            "none",
            [
                target(
                    "max by (instance, network, alias) "
                    f"({sel('docker_container_network_alias', base=C)})"
                )
            ],
            w=8,
            h=6,
            hide=["Value"],
            order=["network", "alias", "instance"],
        ),
        table(
            "Published ports",
            "Container ports and the host addresses they are published on.",
            "none",
            [
                target(
                    "max by (instance, container_port, protocol, host_ip, host_port) "
                    f"({sel('docker_container_port_info', base=C)})"
                )
            ],
            w=8,
            h=6,
            hide=["Value"],
            order=["container_port", "protocol", "host_ip", "host_port", "instance"],
        ),
    ]

    container_var = _query_var(
        "container",
        "container",
        'label_values(docker_container_info{job=~"$job", instance=~"$instance"}, name)',
        multi=False,
    )
    return _dashboard(
        UID_CONTAINER,
        "Container",
        "One container in detail: state and health history, restarts, exit code, OOM "
        "kills, CPU and memory against limits, throttling, network, block I/O, PIDs, "
        "networks and ports.",
        [
            ("Overview", overview),
            ("State history", history),
            ("CPU", cpu),
            ("Memory", memory),
            ("Network", network),
            ("Block I/O and processes", block),
            ("Networks and ports", attachments),
        ],
        variables=[container_var],
        annotations=[_alert_annotation(C)],
    )


# --------------------------------------------------------------------------- #
# (c) Network topology
# --------------------------------------------------------------------------- #


def _indent(expr: str) -> str:
    return textwrap.indent(expr, "  ")


def _lr(expr: str, dst: str, replacement: str, src: str, regex: str = "(.+)") -> str:
    """label_replace(), laid out one call per level so nested calls stay readable."""
    return f'label_replace(\n{_indent(expr)},\n  "{dst}", "{replacement}", "{src}", "{regex}"\n)'


def _lj(expr: str, dst: str, separator: str, *src: str) -> str:
    labels = ", ".join(f'"{label}"' for label in src)
    return f'label_join(\n{_indent(expr)},\n  "{dst}", "{separator}", {labels}\n)'


def topology_nodes_expr() -> str:
    """Node-graph nodes: one row per container and per network (id, title, subtitle,
    mainstat, color), ids prefixed by kind and host so equal names on two hosts differ."""
    containers = (
        f"max by (instance, name, image) ({sel('docker_container_info')})\n"
        "* on (instance, name) group_left (state)\n"
        f"max by (instance, name, state) ({sel('docker_container_state')} == 1)"
    )
    c = _lj(containers, "id", "/", "instance", "name")
    c = _lr(c, "id", "container/$1", "id")
    c = _lr(c, "title", "$1", "name")
    c = _lr(c, "subtitle", "$1", "image")
    c = _lr(c, "mainstat", "$1", "state")
    for state, color in (
        ("running", "green"),
        ("paused|restarting|created|removing", "orange"),
        ("exited|dead", "red"),
    ):
        c = _lr(c, "color", color, "state", state)

    n = _lj(
        f"max by (instance, network, driver, scope) ({sel('docker_network_info')})",
        "id",
        "/",
        "instance",
        "network",
    )
    n = _lr(n, "id", "network/$1", "id")
    n = _lr(n, "title", "$1", "network")
    n = _lr(n, "subtitle", "$1 network", "driver")
    n = _lr(n, "mainstat", "$1", "scope")
    n = _lr(n, "color", "blue", "network", "(.*)")
    return f"max by (id, title, subtitle, mainstat, color) (\n{_indent(c)}\nor\n{_indent(n)}\n)"


def topology_edges_expr() -> str:
    """Node-graph edges: one row per container-to-network attachment
    (id, source, target, mainstat = the container's IP on that network)."""
    e = _lj(sel("docker_container_network_info"), "source", "/", "instance", "name")
    e = _lr(e, "source", "container/$1", "source")
    e = _lj(e, "target", "/", "instance", "network")
    e = _lr(e, "target", "network/$1", "target")
    e = _lj(e, "id", " -> ", "source", "target")
    e = _lr(e, "mainstat", "$1", "ip", "(.*)")
    return f"max by (id, source, target, mainstat) (\n{_indent(e)}\n)"


def topology() -> dict[str, Any]:
    graph = _panel(
        "nodeGraph",
        "Containers and networks",
        "Containers (green running, orange transitional, red stopped; subtitle = image, "
        "main stat = state) linked to the networks they are attached to (blue; main "
        "stat = scope). Edge labels are the container's IP on that network. Built from "
        "docker_container_info, docker_container_state, docker_network_info and "
        "docker_container_network_info by two instant table queries named nodes and edges.",
        "none",
        [
            target(topology_nodes_expr(), ref="nodes", table=True),
            target(topology_edges_expr(), ref="edges", table=True),
        ],
        w=24,
        h=20,
        options={"nodes": {}, "edges": {}},
        transformations=[
            {
                "id": "organize",
                "options": {
                    "excludeByName": {
                        "Time": True,
                        "Value": True,
                        "Value #nodes": True,
                        "Value #edges": True,
                    },
                    "renameByName": {},
                    "indexByName": {},
                },
            }
        ],
    )
    tables = [
        table(
            "Networks",
            "Networks with driver, scope, subnet, gateway, internal/attachable flags and "
            "the number of attached containers.",
            "none",
            [
                target(
                    "max by (instance, network, network_id, driver, scope, subnet, gateway, "
                    f"internal, attachable) ({sel('docker_network_info')})"
                ),
                target(f"count by (instance, network) ({sel('docker_container_network_info')})"),
            ],
            h=9,
            hide=["Value #A"],
            rename={"Value #B": "containers"},
            order=[
                "network",
                "instance",
                "driver",
                "scope",
                "subnet",
                "gateway",
                "internal",
                "attachable",
                "Value #B",
                "network_id",
            ],
            overrides=[by_name("containers", decimals=0)],
            sort_by="network",
        ),
        table(
            "Container addresses",
            "Each container's IP address on each of its networks.",
            "none",
            [
                target(
                    f"max by (instance, name, network, ip) ({sel('docker_container_network_info')})"
                )
            ],
            w=12,
            h=10,
            hide=["Value"],
            order=["name", "network", "ip", "instance"],
            overrides=[by_name("name", links=[container_link()])],
            sort_by="name",
        ),
        table(
            "Network aliases",
            "DNS names under which containers are reachable on each network (container "
            "name, Compose service, --network-alias).",
            "none",
            [
                target(
                    "max by (instance, name, network, alias) "
                    f"({sel('docker_container_network_alias')})"
                )
            ],
            w=12,
            h=10,
            hide=["Value"],
            order=["alias", "network", "name", "instance"],
            overrides=[by_name("name", links=[container_link()])],
            sort_by="alias",
        ),
        table(
            "Published ports",
            "Container ports published on the host: host address and port to container "
            "port and protocol.",
            "none",
            [
                target(
                    "max by (instance, name, container_port, protocol, host_ip, host_port) "
                    f"({sel('docker_container_port_info')})"
                )
            ],
            h=10,
            hide=["Value"],
            order=["name", "host_ip", "host_port", "container_port", "protocol", "instance"],
            overrides=[by_name("name", links=[container_link()])],
            sort_by="host_port",
        ),
    ]
    return _dashboard(
        UID_TOPOLOGY,
        "Network topology",
        "Which containers are attached to which Docker networks, with addresses, DNS "
        "aliases and published ports.",
        [("Topology", [graph]), ("Networks and addresses", tables)],
        time_from="now-15m",
    )


# --------------------------------------------------------------------------- #
# (d) Fleet
# --------------------------------------------------------------------------- #


def fleet() -> dict[str, Any]:
    zero = f"max by (job, instance) ({sel('docker_up')}) * 0"
    # instance=~"$instance|" keeps DockerExporterAbsent, which has no instance label.
    alerts_sel = (
        'ALERTS{alertname=~"Docker.*", alertstate="firing", job=~"$job", instance=~"$instance|"}'
    )

    def per_host_state(state: str) -> str:
        return f"sum by (job, instance) ({sel('docker_container_state', eq('state', state))})"

    cpu_used = f"sum by (job, instance) ({rate('docker_container_cpu_usage_seconds_total')})"
    mem_used = f"sum by (job, instance) ({sel('docker_container_memory_working_set_bytes')})"
    hosts = table(
        "Hosts",
        "One row per Docker host: Engine and exporter versions, reachability, containers "
        "by state, unhealthy containers, CPU and memory used by containers against the "
        "host's, and firing Docker alerts. Click an instance for its Engine overview.",
        "short",
        [
            target(
                "max by (job, instance, version, kernel, storage_driver) "
                f"({sel('docker_engine_info')})"
            ),
            target(
                "max by (job, instance, exporter) (\n  "
                + _lr(sel("docker_exporter_build_info"), "exporter", "$1", "version", "(.*)")
                + "\n)"
            ),
            target(f"max by (job, instance) ({sel('docker_up')})"),
            target(f"count by (job, instance) ({sel('docker_container_info')}) or {zero}"),
            target(per_host_state("running")),
            target(per_host_state("restarting")),
            target(per_host_state("exited")),
            target(f"sum by (job, instance) ({sel('docker_container_health_status', UNHEALTHY)})"),
            target(cpu_used),
            target(f"{cpu_used}\n  / on (job, instance)\n{sel('docker_engine_cpus')}"),
            target(mem_used),
            target(f"{mem_used}\n  / on (job, instance)\n{sel('docker_engine_memory_bytes')}"),
            target(f"count by (job, instance) ({alerts_sel}) or {zero}"),
        ],
        h=10,
        hide=["Value #A", "Value #B"],
        rename={
            "version": "engine",
            "Value #C": "Engine up",
            "Value #D": "containers",
            "Value #E": "running",
            "Value #F": "restarting",
            "Value #G": "exited",
            "Value #H": "unhealthy",
            "Value #I": "CPU used",
            "Value #J": "CPU %",
            "Value #K": "memory used",
            "Value #L": "memory %",
            "Value #M": "alerts",
        },
        order=[
            "instance",
            "version",
            "exporter",
            "Value #C",
            "Value #D",
            "Value #E",
            "Value #F",
            "Value #G",
            "Value #H",
            "Value #I",
            "Value #J",
            "Value #K",
            "Value #L",
            "Value #M",
            "kernel",
            "storage_driver",
        ],
        sort_by="instance",
        overrides=[
            by_name("instance", links=[engine_link()]),
            by_name(
                "Engine up",
                mappings=[
                    {
                        "type": "value",
                        "options": {
                            "0": {"text": "down", "color": "red", "index": 0},
                            "1": {"text": "up", "color": "green", "index": 1},
                        },
                    }
                ],
                custom__cellOptions=colored_text(),
            ),
            by_name("CPU used", unit="short", decimals=2),
            by_name("memory used", unit="bytes"),
            by_name(
                "CPU %",
                unit="percentunit",
                min=0,
                max=1,
                thresholds=_thresholds((None, "green"), (0.7, "orange"), (0.9, "red")),
                custom__cellOptions={"type": "gauge", "mode": "basic"},
            ),
            by_name(
                "memory %",
                unit="percentunit",
                min=0,
                max=1,
                thresholds=_thresholds((None, "green"), (0.7, "orange"), (0.9, "red")),
                custom__cellOptions={"type": "gauge", "mode": "basic"},
            ),
            *[
                by_name(
                    col,
                    decimals=0,
                    thresholds=_thresholds((None, "green"), (1, color)),
                    custom__cellOptions=colored_text(),
                )
                for col, color in (
                    ("restarting", "orange"),
                    ("exited", "text"),
                    ("unhealthy", "red"),
                    ("alerts", "red"),
                )
            ],
            by_name("containers", decimals=0),
            by_name("running", decimals=0),
        ],
    )
    trends = [
        timeseries(
            "Running containers per host",
            "Containers in state running, per host.",
            "short",
            [
                target(
                    f"sum by (instance) ({sel('docker_container_state', RUNNING)})", "{{instance}}"
                )
            ],
            w=8,
            legend_calcs=("lastNotNull", "min", "max"),
        ),
        timeseries(
            "Container CPU per host",
            "CPU used by all containers of a host, as a share of the CPUs its Engine sees.",
            "percentunit",
            [
                target(
                    f"{cpu_used}\n  / on (job, instance)\n{sel('docker_engine_cpus')}",
                    "{{instance}}",
                )
            ],
            w=8,
        ),
        timeseries(
            "Container memory per host",
            "Working set of all containers of a host, as a share of the memory its Engine sees.",
            "percentunit",
            [
                target(
                    f"{mem_used}\n  / on (job, instance)\n{sel('docker_engine_memory_bytes')}",
                    "{{instance}}",
                )
            ],
            w=8,
        ),
    ]
    alerts = [
        bargauge(
            "Firing Docker alerts by name",
            'Number of firing alerts per alert name (alertname=~"Docker.*") on the selected '
            "hosts, including DockerExporterAbsent, which has no instance label.",
            "short",
            [target(f"count by (alertname) ({alerts_sel})", "{{alertname}}", instant=True)],
            w=8,
            h=9,
            thresholds=_thresholds((None, "orange"), (1, "red")),
        ),
        table(
            "Firing Docker alerts",
            "Every firing Docker alert with its severity, host and container.",
            "none",
            [target(alerts_sel)],
            w=16,
            h=9,
            hide=["Value", "alertstate"],
            order=["alertname", "severity", "instance", "name", "id"],
            overrides=[
                by_name(
                    "severity",
                    mappings=text_mappings(
                        {"critical": "red", "warning": "orange", "info": "blue"}
                    ),
                    custom__cellOptions=colored_text(),
                )
            ],
            sort_by="severity",
        ),
        table(
            "Engine versions",
            "How many hosts run each Docker Engine and API version.",
            "short",
            [target(f"count by (version, api_version) ({sel('docker_engine_info')})")],
            w=12,
            h=6,
            rename={"Value": "hosts"},
            sort_by="hosts",
            desc=True,
        ),
        table(
            "Kernels and cgroups",
            "How many hosts run each OS, kernel, storage driver and cgroup setup.",
            "short",
            [
                target(
                    "count by (os, arch, kernel, storage_driver, cgroup_driver, cgroup_version) "
                    f"({sel('docker_engine_info')})"
                )
            ],
            w=12,
            h=6,
            rename={"Value": "hosts"},
            sort_by="hosts",
            desc=True,
        ),
    ]
    return _dashboard(
        UID_FLEET,
        "Fleet",
        "All Docker hosts at a glance: one row per host with versions, containers by "
        "state, CPU and memory, and firing Docker alerts.",
        [("Fleet", [hosts]), ("Trends", trends), ("Alerts and versions", alerts)],
        annotations=[_alert_annotation(S)],
    )


# --------------------------------------------------------------------------- #
# (e) Exporter health
# --------------------------------------------------------------------------- #


def exporter_health() -> dict[str, Any]:
    up_mapping = [
        {
            "type": "value",
            "options": {
                "0": {"text": "down", "color": "red", "index": 0},
                "1": {"text": "up", "color": "green", "index": 1},
            },
        }
    ]
    status = [
        stat(
            "Exporter version",
            "docker-exporter version per target.",
            "none",
            [target(sel("docker_exporter_build_info"), "{{version}}")],
            w=4,
            text_mode="name",
        ),
        stat(
            "Scrape target",
            "Prometheus' up series for the exporter: 1 when the last scrape succeeded.",
            "none",
            [target(sel("up"), "{{instance}}")],
            w=4,
            mappings=up_mapping,
            color_mode="background",
        ),
        stat(
            "Stats source",
            "Where container resource statistics come from (docker_exporter_stats_source_info).",
            "none",
            [target(sel("docker_exporter_stats_source_info"), "{{source}}")],
            w=4,
            text_mode="name",
        ),
        stat(
            "Last event",
            "Time since the exporter last received a Docker event. Quiet hosts have "
            "few events; a growing value with the stream down means stale state.",
            "s",
            [
                target(
                    f"time() - {sel('docker_exporter_last_event_timestamp_seconds')}",
                    "{{instance}}",
                )
            ],
            w=4,
        ),
        stat(
            "Last stats sample",
            "Time since the last completed stats sweep.",
            "s",
            [
                target(
                    f"time() - {sel('docker_exporter_stats_last_sample_timestamp_seconds')}",
                    "{{instance}}",
                )
            ],
            w=4,
            thresholds=_thresholds((None, "green"), (120, "orange"), (300, "red")),
        ),
        stat(
            "Last inventory sync",
            "Time since the exporter last reconciled its inventory with the Engine.",
            "s",
            [
                target(
                    f"time() - {sel('docker_exporter_inventory_last_sync_timestamp_seconds')}",
                    "{{instance}}",
                )
            ],
            w=4,
        ),
        state_timeline(
            "Engine, event stream and collectors",
            "Engine reachability (docker_up), event stream connection and each "
            "collector's success on the last scrape, over time.",
            [
                target(sel("docker_up"), "engine {{instance}}"),
                target(sel("docker_exporter_event_stream_up"), "event stream {{instance}}"),
                target(
                    sel("docker_exporter_scrape_collector_success"),
                    "collector {{collector}} {{instance}}",
                ),
            ],
            h=8,
            mappings=up_mapping,
        ),
    ]
    perf = [
        timeseries(
            "Collector duration",
            "Time each collector took on the last scrape.",
            "s",
            [
                target(
                    sel("docker_exporter_scrape_collector_duration_seconds"),
                    "{{collector}} {{instance}}",
                )
            ],
            w=8,
        ),
        timeseries(
            "Scrape duration",
            "How long Prometheus' scrape of the exporter took (scrape_duration_seconds).",
            "s",
            [target(sel("scrape_duration_seconds"), "{{instance}}")],
            w=8,
        ),
        timeseries(
            "Stats sweep duration",
            "Duration of one stats sweep over all running containers; it should stay "
            "below the stats interval.",
            "s",
            [target(sel("docker_exporter_stats_sweep_duration_seconds"), "{{instance}}")],
            w=8,
        ),
        timeseries(
            "Stats errors",
            "Failed per-container stats requests per second. Occasional errors are "
            "containers exiting during a sweep.",
            "cps",
            [target(rate("docker_exporter_stats_errors_total"), "{{instance}}")],
            w=8,
        ),
        timeseries(
            "Event stream reconnects",
            "Reconnects of the Docker event stream per rate interval; each one triggers "
            "a full re-list.",
            "short",
            [
                target(
                    "increase("
                    f"{sel('docker_exporter_event_stream_reconnects_total')}[$__rate_interval])",
                    "{{instance}}",
                )
            ],
            w=8,
        ),
        timeseries(
            "Events received",
            "Docker events per second received by the exporter, per host.",
            "ops",
            [target(f"sum by (instance) ({rate('docker_events_total')})", "{{instance}}")],
            w=8,
        ),
    ]
    return _dashboard(
        UID_EXPORTER,
        "Exporter health",
        "The exporter itself: versions, Engine and event stream connectivity, collector "
        "success and duration, stats sampler health and data freshness.",
        [("Status", status), ("Performance", perf)],
    )


# --------------------------------------------------------------------------- #
# Output and helpers
# --------------------------------------------------------------------------- #


def dashboards() -> dict[str, dict[str, Any]]:
    """File name -> dashboard model, for every dashboard."""
    built = [engine_overview(), container_detail(), topology(), fleet(), exporter_health()]
    return {f"{d['uid']}.json": d for d in built}


def render(dashboard: Mapping[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", type=Path, default=HERE, help="default: %(default)s")
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if a file is out of date"
    )
    args = parser.parse_args(argv)
    stale = []
    for name, dashboard in dashboards().items():
        path = args.output_dir / name
        text = render(dashboard)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run dashboards/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

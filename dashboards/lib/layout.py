"""Dashboard assembly: grid layout by rows, the common variables and annotations, the
dashboard envelope (uid, title prefix, tag, schema version)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dashboards.lib.promql import DS, SCHEMA_VERSION, TAG, TITLE_PREFIX

Rows = list[tuple[str, list[dict[str, Any]]]]


def layout(rows: Rows, repeats: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Rows of panels on the 24-column grid; a row titled in `repeats` is repeated by
    Grafana once per value of that variable (keep such rows last: a repeated row takes
    every panel up to the next row)."""
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
                **({"repeat": repeats[title]} if repeats and title in repeats else {}),
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


def query_var(name: str, label: str, query: str, *, multi: bool = True) -> dict[str, Any]:
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


def common_variables(extra: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
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
        query_var("job", "job", "label_values(docker_up, job)"),
        query_var("instance", "instance", 'label_values(docker_up{job=~"$job"}, instance)'),
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


def alert_annotation(matchers: str) -> dict[str, Any]:
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


def dashboard(
    uid: str,
    title: str,
    description: str,
    rows: Rows,
    *,
    variables: Iterable[dict[str, Any]] = (),
    annotations: Iterable[dict[str, Any]] = (),
    time_from: str = "now-1h",
    repeats: Mapping[str, str] | None = None,
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
        "templating": {"list": common_variables(variables)},
        "panels": layout(rows, repeats),
    }

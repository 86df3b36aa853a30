"""Shared PromQL: label matchers, selectors, rates, state encodings, value mappings and links."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TITLE_PREFIX = "Docker Exporter / "


TAG = "docker-exporter"


SCHEMA_VERSION = 39


DS = {"type": "prometheus", "uid": "${datasource}"}


# Label matchers shared by every query.
SCOPE = 'job=~"$job", instance=~"$instance"'


# ... plus the container picked on the container dashboard.
ONE_CONTAINER = SCOPE + ', name=~"$container"'


UID_ENGINE = "docker-exporter-engine"


UID_CONTAINER = "docker-exporter-container"


UID_TOPOLOGY = "docker-exporter-topology"


UID_FLEET = "docker-exporter-fleet"


UID_EXPORTER = "docker-exporter-exporter"


UID_REGISTRY = "docker-exporter-registry"


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


def sel(metric: str, *matchers: str, base: str = SCOPE) -> str:
    """metric{job=~"$job", instance=~"$instance", extra...}."""
    return f"{metric}{{{', '.join([base, *matchers])}}}"


def eq(label: str, value: str) -> str:
    """An equality matcher: label="value"."""
    return f'{label}="{value}"'


RUNNING = eq("state", "running")


UNHEALTHY = eq("status", "unhealthy")


def rate(metric: str, *matchers: str, base: str = SCOPE) -> str:
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


CPU_CORES = "Values are in CPU cores: 1 means one full core busy."

"""Where the test bed's two Prometheus servers are.

Prometheus 3 is Debian sid's `prometheus`/`promtool` 3.5.x, fetched once by
`scripts/testbed --prometheus3` (the default `scripts/testbed` run fetches it too) into the
legs' cache; `PROMETHEUS3`/`PROMTOOL3` in the environment override the path. Prometheus 2 is
Debian 12's 2.42 on PATH.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import TESTBED_LIMIT, because

CACHE_BIN = Path("/var/cache/docker-exporter-legs/sid-prometheus/usr/bin")

FETCH = "scripts/testbed --prometheus3"
"""The command that fetches Prometheus 3 (named in skip reasons)."""


def _cached(variable: str, name: str) -> str | None:
    path = os.environ.get(variable) or str(CACHE_BIN / name)
    return path if os.access(path, os.X_OK) else None


def prometheus3() -> str | None:
    """Prometheus 3.5's server binary, or None when the test bed has not fetched it."""
    return _cached("PROMETHEUS3", "prometheus")


def promtool3() -> str | None:
    """Prometheus 3.5's promtool, or None when the test bed has not fetched it."""
    return _cached("PROMTOOL3", "promtool")


def prometheus2() -> str | None:
    """Debian 12's Prometheus 2.42 (the `prometheus` package), or None."""
    return shutil.which("prometheus")


def promtool2() -> str | None:
    """Debian 12's promtool 2.42, or None."""
    return shutil.which("promtool")


def _params(three: str | None, two: str | None, what: str) -> list[Any]:
    """pytest parameters over both Prometheus versions (3.5 first: what users run), each
    skipped, named for its cause, where the test bed lacks it."""
    return [
        pytest.param(
            three,
            id="prometheus-3.5",
            marks=pytest.mark.skipif(
                three is None, reason=because(TESTBED_LIMIT, f"{what} 3.5 not fetched: run {FETCH}")
            ),
        ),
        pytest.param(
            two,
            id="prometheus-2.42",
            marks=pytest.mark.skipif(
                two is None,
                reason=because(
                    TESTBED_LIMIT, f"Debian 12's {what} 2.42 not installed: run scripts/testbed"
                ),
            ),
        ),
    ]


def servers() -> list[Any]:
    """`prometheus` 3.5 and 2.42 as pytest parameters."""
    return _params(prometheus3(), prometheus2(), "prometheus")


def promtools() -> list[Any]:
    """`promtool` 3.5 and 2.42 as pytest parameters."""
    return _params(promtool3(), promtool2(), "promtool")


# The Accept headers Prometheus sends (field-2026.md §1.1; prometheus/prometheus
# scrape/scrape.go `acceptHeader` over config/config.go `ScrapeProtocolsHeaders`).
ACCEPT_2 = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
"""Prometheus 2.x (2.42 here)."""
ACCEPT_3_0 = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;escaping=allow-utf-8;q=0.5,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;escaping=allow-utf-8;q=0.4,"
    "text/plain;version=0.0.4;escaping=allow-utf-8;q=0.3,*/*;q=0.2"
)
"""Prometheus 3.0.0-3.2.0: `escaping` on every clause, twice on text 1.0.0."""
ACCEPT_3_3 = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;escaping=allow-utf-8;q=0.5,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
    "text/plain;version=0.0.4;escaping=allow-utf-8;q=0.3,*/*;q=0.2"
)
"""Prometheus 3.2.1-3.3.x: `escaping` on every clause, once."""
ACCEPT_3_4 = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)
"""Prometheus 3.4.0 onwards (3.5 LTS, ... 3.14): `escaping` on the 1.0.0 clauses only."""
ACCEPT_PROTO_FIRST = (
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
    "encoding=delimited;q=0.6,"
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
    "text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)
"""Prometheus 3.4+ with `scrape_native_histograms: true` or start-timestamp ingestion."""
OM_ALLOW_UTF8 = "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
"""What a Prometheus 3 scrape gets back."""

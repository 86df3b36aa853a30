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

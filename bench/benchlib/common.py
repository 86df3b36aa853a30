"""What every stats bench shares: paths, the exporter's defaults, the metric lines read
back, the targets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


ROOT = Path(__file__).resolve().parents[2]


EXPORTER_BIN = ROOT / ".venv" / "bin" / "docker-exporter"


FIXTURES = ROOT / "tests" / "fixtures" / "engine"


IMAGE = "busybox:local"


CLK_TCK = os.sysconf("SC_CLK_TCK")


DOCKER_PIDFILE = Path(os.environ.get("BENCH_DOCKER_PIDFILE", "/var/run/docker.pid"))
"""The engine under test's dockerd (BENCH_DOCKER_PIDFILE for another instance, which
DOCKER_HOST then names for the docker CLI and the exporter)."""


ENGINE_CONTAINERD = os.environ.get(
    "BENCH_ENGINE_CONTAINERD", "/var/run/docker/containerd/containerd.sock"
).encode()


"""The shims of the main engine name its containerd socket on their command line."""


INTERVAL = 5.0  # the exporter's default --stats.interval


RESYNC_INTERVAL = 60.0  # the exporter's default --inventory.resync-interval


SCRAPES = 300


POLL = 15.0  # seconds between /metrics polls inside a window: a common Prometheus interval


FINE_POLL = 0.1  # near a window boundary, to start and end the window on a sweep


START_WORKERS = 8


PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)


"""What Prometheus 3.4+ (3.5 LTS) sends on every scrape: the path production takes
(tests/prometheus3.py has every version's header)."""


CPU_SERIES = "docker_container_cpu_usage_seconds_total{"


SWEEP_METRIC = "docker_exporter_stats_sweep_duration_seconds "


LAST_SAMPLE_METRIC = "docker_exporter_stats_last_sample_timestamp_seconds "


ERRORS_METRIC = "docker_exporter_stats_errors_total "


SWEEPS_METRIC = "docker_exporter_stats_sweeps_total "


SAMPLES_METRIC = "docker_exporter_stats_samples_total "


EVENTS_SERIES = "docker_events_total{"


TARGET_SPEEDUP = 20.0


TARGET_SCRAPE_P50_MS = 5.0


TARGET_CPU_PER_SAMPLE_MS = 0.1


TARGET_RSS_MB = 45.0


TARGET_AT = 100  # the targets are stated for 100 containers


LINEAR_TOLERANCE = 1.5


"""Growth counts as linear when the per-container cost at the largest N stays within this
factor of the per-container cost at the smallest N of --simulate."""

"""The exporter's process_* metrics: prometheus_client's, with a cheaper descriptor count."""

from __future__ import annotations

import os

from prometheus_client import ProcessCollector

from exporter.exposition import PROCESS_METRICS
from exporter.selfprocess import OPEN_FDS_TTL, ProcessMetrics


def test_same_families_as_prometheus_client() -> None:
    ours = ProcessMetrics().collect()
    theirs = list(ProcessCollector(registry=None).collect())
    assert [(f.name, f.type, f.documentation) for f in ours] == [
        (f.name, f.type, f.documentation) for f in theirs
    ]
    assert {s.name for f in ours for s in f.samples} == set(PROCESS_METRICS)
    by_name = {f.name: f.samples[0].value for f in ours}
    reference = {f.name: f.samples[0].value for f in theirs}
    for name in ("process_start_time_seconds", "process_max_fds", "process_virtual_memory_bytes"):
        assert by_name[name] == reference[name], name


def test_open_fds_is_listed_at_most_once_per_ttl() -> None:
    now = [100.0]
    metrics = ProcessMetrics(monotonic=lambda: now[0])
    before = metrics.open_fds()
    extra = [os.open("/dev/null", os.O_RDONLY) for _ in range(5)]
    try:
        now[0] += OPEN_FDS_TTL - 0.1
        assert metrics.open_fds() == before  # cached
        now[0] += 0.2
        assert metrics.open_fds() == before + 5
    finally:
        for fd in extra:
            os.close(fd)

"""The exporter's process_* metrics: prometheus_client's, with a cheaper descriptor count."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import ProcessCollector

from exporter.render.exposition import PROCESS_METRICS
from exporter.render.selfprocess import OPEN_FDS_TTL, ProcessMetrics


def test_same_families_as_prometheus_client() -> None:
    ours = [f.as_metric() for f in ProcessMetrics().collect()]
    theirs = list(ProcessCollector(registry=None).collect())
    assert [(f.name, f.type, f.documentation) for f in ours] == [
        (f.name, f.type, f.documentation) for f in theirs
    ]
    assert {s.name for f in ours for s in f.samples} == set(PROCESS_METRICS)
    by_name = {f.name: f.samples[0].value for f in ours}
    reference = {f.name: f.samples[0].value for f in theirs}
    for name in ("process_start_time_seconds", "process_max_fds", "process_virtual_memory_bytes"):
        assert by_name[name] == reference[name], name


def test_open_fds_counts_the_descriptors_at_once() -> None:
    """Counted by one stat of /proc/self/fd on kernels since 6.2, by a listing before:
    either way every new descriptor shows at once (the TTL clock stands still here)."""
    metrics = ProcessMetrics(monotonic=lambda: 0.0)
    before = metrics.open_fds()
    assert before == len(os.listdir("/proc/self/fd")) - 1  # the listing holds one more
    extra = [os.open("/dev/null", os.O_RDONLY) for _ in range(5)]
    try:
        assert metrics.open_fds() == before + 5
    finally:
        for fd in extra:
            os.close(fd)


def test_open_fds_is_listed_at_most_once_per_ttl(tmp_path: Path) -> None:
    """Where the size is no count (a --host.proc that is no procfs here), the listing is
    cached."""
    (tmp_path / "self/fd").mkdir(parents=True)
    (tmp_path / "stat").write_text("btime 1700000000\n")
    now = [100.0]
    metrics = ProcessMetrics(str(tmp_path), monotonic=lambda: now[0])
    assert not metrics._size_counts
    before = metrics.open_fds()
    extra = [(tmp_path / "self/fd" / str(i)).touch() for i in range(5)]
    now[0] += OPEN_FDS_TTL - 0.1
    assert metrics.open_fds() == before  # cached
    now[0] += 0.2
    assert metrics.open_fds() == before + len(extra)


def test_open_fds_of_a_real_proc_is_listed_at_most_once_per_ttl() -> None:
    now = [100.0]
    metrics = ProcessMetrics(monotonic=lambda: now[0])
    metrics._size_counts = False  # as on a kernel before 6.2
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

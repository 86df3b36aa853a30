"""Incremental rendering: a publication re-renders only the collectors whose inputs changed."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
from conftest import inspect_payload
from prometheus_client.utils import floatToGoString

from exporter import textformat
from exporter.collectors import COLLECTORS, Options
from exporter.collectors.base import CollectorSpec
from exporter.exposition import OPENMETRICS, Exposition, GroupTexts
from exporter.inventory import Inventory, SamplerStatus
from exporter.models import parse_container
from exporter.stats import ContainerStats, NetworkIO

A, B = "a" * 64, "b" * 64


def stats(cpu: float) -> ContainerStats:
    return ContainerStats(
        cpu_usage_seconds=cpu, cpu_user_seconds=cpu / 2, cpu_system_seconds=cpu / 2,
        cpu_periods=None, cpu_throttled_periods=None, cpu_throttled_seconds=None,
        cpu_limit_cores=None, memory_usage_bytes=1 << 20, memory_working_set_bytes=1 << 19,
        memory_rss_bytes=None, memory_cache_bytes=None, memory_swap_bytes=None,
        memory_limit_bytes=None, memory_failures=None, oom_kills=None, pids=3, pids_limit=None,
        networks=(NetworkIO("eth0", 10, 1, 0, 0, 20, 2, 0, 0),), block=(),
    )  # fmt: skip


def inventory() -> Inventory:
    inv = Inventory()
    inv.upsert(parse_container(inspect_payload(cid=A, Name="/alpha")))
    inv.upsert(parse_container(inspect_payload(cid=B, Name="/beta")))
    inv.publish()
    return inv


def test_publish_keeps_unchanged_fields_by_identity() -> None:
    inv = inventory()
    first = inv.publish(stats={A: stats(1.0)})
    second = inv.publish(stats={A: stats(2.0)})
    assert second.containers is first.containers
    assert second.networks is first.networks
    assert second.status is first.status
    assert second.stats is not first.stats
    inv.upsert(parse_container(inspect_payload(cid=B, Name="/beta", State__Status="exited")))
    third = inv.publish()
    assert third.containers is not second.containers
    assert third.containers[B].state == "exited"
    inv.count_event("container", "start", 1_700_000_000_000_000_000)
    assert inv.publish().status is not third.status


def test_a_stats_sweep_rerenders_only_the_stats_collector() -> None:
    inv = inventory()
    exp = Exposition(list(COLLECTORS), Options(), process_metrics=False)
    exp.render(inv.publish(stats={A: stats(1.0)}))
    before = dict(exp._chunks)
    snap = inv.publish(stats={A: stats(2.0)})
    body = exp.render(snap).data
    after = exp._chunks
    changed = {name for name in after if after[name] is not before[name]}
    assert changed == {"stats"}
    assert b'docker_container_cpu_usage_seconds_total{id="aaaaaaaaaaaa",name="alpha"} 2.0' in body
    fresh = Exposition(list(COLLECTORS), Options(), process_metrics=False).render(snap).data
    assert _without_durations(body) == _without_durations(fresh)


def test_a_container_change_rerenders_its_collectors() -> None:
    inv = inventory()
    exp = Exposition(list(COLLECTORS), Options(), process_metrics=False)
    exp.render(inv.publish(stats={A: stats(1.0)}))
    before = dict(exp._chunks)
    inv.remove(B)
    body = exp.render(inv.publish()).data
    assert b'name="beta"' not in body
    unchanged = {name for name in before if exp._chunks[name] is before[name]}
    assert unchanged == {"engine", "events", "images", "volumes", "volume_sizes", "top", "stats#1"}


def test_a_sweep_of_idle_containers_reruns_only_the_samplers_part() -> None:
    """Samples that are the same objects keep the stats mapping, so the containers' part
    of the stats collector is reused; the sampler's own series (its own part) are not."""
    inv = inventory()
    exp = Exposition(list(COLLECTORS), Options(), process_metrics=False)
    idle = stats(1.0)
    first = inv.publish(stats={A: idle}, sampler=SamplerStatus("cgroup", 5.0, sweeps=1))
    exp.render(first)
    before = dict(exp._chunks)
    snap = inv.publish(stats={A: idle}, sampler=SamplerStatus("cgroup", 5.0, sweeps=2))
    assert snap.stats is first.stats
    body = exp.render(snap).data
    changed = {name for name in exp._chunks if exp._chunks[name] is not before[name]}
    assert changed == {"stats#1"}
    assert b"docker_exporter_stats_sweeps_total 2.0" in body
    fresh = Exposition(list(COLLECTORS), Options(), process_metrics=False).render(snap).data
    assert _without_durations(body) == _without_durations(fresh)


def test_a_collector_sees_only_its_declared_inputs() -> None:
    """Reading an undeclared field gives an empty one, never a stale cached output."""
    inv = inventory()
    snap = inv.publish(stats={A: stats(1.0)})
    spec = COLLECTORS["stats"]
    blind = CollectorSpec("blind", spec.fn, True, "", spec.metrics, ("containers", "sampler"))
    assert blind.view(snap).stats == {}
    assert spec.view(snap).stats is snap.stats
    assert len(next(iter(blind.fn(blind.view(snap), Options()))).rows) == 0


def test_a_failing_collector_is_isolated_and_reported() -> None:
    exp = Exposition(["engine", "containers"], Options(), process_metrics=False)
    broken = replace(COLLECTORS["containers"], fn=_boom)
    exp._specs = [COLLECTORS["engine"], broken]
    body = exp.render(inventory().publish()).data.decode()
    assert 'docker_exporter_scrape_collector_success{collector="containers"} 0.0' in body
    assert 'docker_exporter_scrape_collector_success{collector="engine"} 1.0' in body
    openmetrics = exp.render(inventory().publish(), OPENMETRICS).data.decode()
    assert 'docker_exporter_scrape_collector_success{collector="containers"} 0.0' in openmetrics
    assert 'docker_exporter_scrape_collector_success{collector="engine"} 1.0' in openmetrics


def _boom(*_: object) -> list[object]:
    raise RuntimeError("boom")


def _without_durations(body: bytes) -> list[bytes]:
    return [line for line in body.splitlines() if b"collector_duration_seconds{" not in line]


def test_number_formats_like_prometheus_client() -> None:
    rng = random.Random(7)
    values: list[float] = [0, 1, -1, 0.5, 1e6, 1e7, 123456.7, 1234567.8, 2**53, 2**63, -(2**63)]
    values += [math.inf, -math.inf, math.nan, 1e-9, 5e-324, 1.7976931348623157e308]
    edges = [999_999, 1_000_000, 1_000_001, 10**15, 2**53 - 1, 2**53, 2**53 + 1, 10**16]
    values += [*edges, *(-v for v in edges), 10**16 + 1, -(10**15) + 1, True, False]
    values += [rng.randrange(-(10**17), 10**17) for _ in range(2000)]
    values += [rng.uniform(-1e12, 1e12) for _ in range(2000)]
    values += [rng.randrange(0, 1 << 64) for _ in range(2000)]
    for v in values:
        assert textformat.number(v) == floatToGoString(v), v


def test_declared_inputs_must_be_snapshot_fields() -> None:
    from exporter.collectors.base import register, register_part

    with pytest.raises(ValueError, match="unknown snapshot inputs"):
        register("nope", "", metrics=[], inputs=("containerz",))(lambda s, o: ())
    with pytest.raises(ValueError, match="unknown snapshot inputs"):
        register("nope2", "", metrics=[], inputs=("version",))(lambda s, o: ())
    with pytest.raises(ValueError, match="unknown snapshot inputs"):
        register_part("stats", inputs=("statz",))(lambda s, o: ())
    assert len(COLLECTORS["stats"].more) == 1
    assert "nope" not in COLLECTORS
    assert "nope2" not in COLLECTORS


def test_families_with_equal_rows_keep_their_text() -> None:
    """Within a re-run collector, only the families whose rows changed are encoded again."""
    inv = inventory()
    exp = Exposition(["containers"], Options(), process_metrics=False)
    exp.render(inv.publish())
    before = exp._chunks["containers"].rows
    inv.upsert(parse_container(inspect_payload(cid=A, Name="/alpha", RestartCount=4)))
    snap = inv.publish()
    body = exp.render(snap).data
    after = exp._chunks["containers"].rows
    fresh = {name for name in after if after[name][1] is not before[name][1]}
    assert "docker_container_restarts_total" in fresh
    assert "docker_container_info" not in fresh
    assert b'docker_container_restarts_total{id="aaaaaaaaaaaa",name="alpha"} 4.0' in body
    reference = Exposition(["containers"], Options(), process_metrics=False).render(snap).data
    assert _without_durations(body) == _without_durations(reference)


def texts_by_container(texts: GroupTexts) -> dict[str, bytes]:
    """A grouped family's encoded groups by container name (the second label)."""
    return {group[0][0][1]: text for group, text in zip(*texts, strict=True)}


def test_only_the_containers_whose_samples_changed_are_encoded_again() -> None:
    """The stats families come in one group per container, the same object while the
    container's Container and ContainerStats are: a sweep in which only A's sample
    changed encodes A's lines and reuses B's, and the body is a fresh render's."""
    inv = inventory()
    exp = Exposition(["stats"], Options(), process_metrics=False)
    b = stats(5.0)
    exp.render(inv.publish(stats={A: stats(1.0), B: b}))
    before = exp._chunks["stats"].groups
    changed = replace(stats(1.0), cpu_usage_seconds=1.5)  # only A's usage moved
    snap = inv.publish(stats={A: changed, B: b})
    body = exp.render(snap).data
    after = exp._chunks["stats"].groups
    for name in ("docker_container_cpu_usage_seconds_total", "docker_container_pids"):
        old, new = texts_by_container(before[name]), texts_by_container(after[name])
        assert new["beta"] is old["beta"], name  # the same group: reused, not encoded again
        # alpha's usage moved (encoded again); its pids did not (an equal group: reused)
        moved = name == "docker_container_cpu_usage_seconds_total"
        assert (new["alpha"] is not old["alpha"]) == moved, name
    gone = exp.render(inv.publish(stats={B: b})).data  # alpha's gone: beta moves up one
    for name in ("docker_container_cpu_usage_seconds_total", "docker_container_pids"):
        moved = texts_by_container(exp._chunks["stats"].groups[name])
        assert list(moved) == ["beta"]
        assert moved["beta"] is texts_by_container(after[name])["beta"], name
    assert b'name="alpha"' not in gone
    assert b'cpu_usage_seconds_total{id="aaaaaaaaaaaa",name="alpha"} 1.5' in body
    reference = Exposition(["stats"], Options(), process_metrics=False).render(snap).data
    assert _without_durations(body) == _without_durations(reference)

"""Collectors and rendering: snapshot in, exposition text out."""

from __future__ import annotations

import gzip
from types import MappingProxyType

import pytest
from conftest import inspect_payload, load_json, parse_samples, value

from exporter.collectors import COLLECTORS, Options
from exporter.collectors.base import CollectorSpec
from exporter.collectors.containers import LABEL_KEYS
from exporter.engine.models import parse_container, parse_engine
from exporter.inventory.store import Snapshot, WatcherStatus
from exporter.render.exposition import OPENMETRICS, Exposition

A = "a" * 64


def snapshot(*docs: dict[str, object], version: int = 1, **status: object) -> Snapshot:
    containers = {str(d["Id"]): parse_container(d) for d in docs}
    return Snapshot(
        version=version,
        engine=parse_engine(load_json("info.json"), load_json("version.json"), "1.41"),
        containers=MappingProxyType(containers),
        oom_events=MappingProxyType({}),
        status=WatcherStatus(engine_up=True, synced=True, stream_up=True, **status),  # type: ignore[arg-type]
    )


@pytest.fixture(name="exposition")
def fixture_exposition() -> Exposition:
    return Exposition(list(COLLECTORS), Options(), process_metrics=False)


def test_container_series_carry_short_id_and_name(exposition: Exposition) -> None:
    body = exposition.render(snapshot(inspect_payload(cid=A, Name="/alpha"))).data
    assert value(body, "docker_container_info", id=A[:12], name="alpha", image="busybox:local") == 1
    assert value(body, "docker_container_info", compose_project="shop", compose_service="web") == 1


def test_state_is_a_state_set(exposition: Exposition) -> None:
    body = exposition.render(snapshot(inspect_payload(cid=A))).data
    assert value(body, "docker_container_state", state="running") == 1
    for other in ("created", "paused", "restarting", "removing", "exited", "dead"):
        assert value(body, "docker_container_state", state=other) == 0
    assert value(body, "docker_container_health_status", status="healthy") == 1
    assert value(body, "docker_container_health_status", status="unhealthy") == 0


def test_exited_container_stays_listed(exposition: Exposition) -> None:
    body = exposition.render(snapshot(load_json("inspect_exited.json"))).data
    assert value(body, "docker_container_state", state="exited") == 1
    assert value(body, "docker_container_exit_code") == 3
    assert value(body, "docker_container_finished_timestamp_seconds") is not None


def test_docker_up_follows_the_watcher_status(exposition: Exposition) -> None:
    snap = snapshot()
    down = Snapshot(version=2, status=WatcherStatus(engine_up=False, synced=True))
    assert value(exposition.render(snap).data, "docker_up") == 1
    assert value(exposition.render(down).data, "docker_up") == 0


def test_labels_are_allow_listed_and_escaped() -> None:
    """Quotes, backslashes, newlines and unicode survive a round trip through the parser."""
    odd = 'a"b\\c\nd é 日本'
    doc = inspect_payload(cid=A, Config__Labels={"team": odd, "secret.stuff": "x", "tier": "front"})
    exp = Exposition(
        list(COLLECTORS), Options({LABEL_KEYS: ("team", "tier")}), process_metrics=False
    )
    body = exp.render(snapshot(doc)).data
    assert value(body, "docker_container_labels", label_team=odd, label_tier="front") == 1
    assert b"secret" not in body


def test_odd_names_and_images_are_escaped(exposition: Exposition) -> None:
    doc = inspect_payload(
        cid=A, Name='/we"ird\\na\nme', Config__Image="reg:5000/img@sha256:" + "f" * 64
    )
    body = exposition.render(snapshot(doc)).data
    assert value(body, "docker_container_info", name='we"ird\\na\nme') == 1


def test_environment_never_reaches_the_exposition(exposition: Exposition) -> None:
    body = exposition.render(snapshot(load_json("inspect_running.json"))).data
    assert b"hunter2" not in body
    assert b"SECRET_TOKEN" not in body


def test_failing_collector_is_isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_snap: Snapshot, _opts: Options) -> list[object]:
        raise RuntimeError("boom")

    monkeypatch.setitem(COLLECTORS, "broken", CollectorSpec("broken", broken, True, "test"))  # type: ignore[arg-type]
    exp = Exposition([*COLLECTORS], Options(), process_metrics=False)
    body = exp.render(snapshot(inspect_payload(cid=A))).data
    assert value(body, "docker_exporter_scrape_collector_success", collector="broken") == 0
    assert value(body, "docker_exporter_scrape_collector_success", collector="containers") == 1
    assert value(body, "docker_container_state", state="running") == 1


def test_collect_and_exclude_filters(exposition: Exposition) -> None:
    snap = snapshot(inspect_payload(cid=A))
    only = exposition.render(snap, collect=["engine"]).data
    assert b"docker_engine_info" in only
    assert b"docker_container_info" not in only
    without = exposition.render(snap, exclude=["engine"]).data
    assert b"docker_engine_info" not in without
    assert b"docker_container_info" in without
    with pytest.raises(KeyError):
        exposition.render(snap, collect=["nope"])


def test_disabled_collector_is_absent() -> None:
    exp = Exposition(["engine"], Options(), process_metrics=False)
    body = exp.render(snapshot(inspect_payload(cid=A))).data
    assert b"docker_container_info" not in body
    assert value(body, "docker_exporter_scrape_collector_success", collector="containers") is None


def test_body_is_rendered_once_per_snapshot_version(exposition: Exposition) -> None:
    snap = snapshot(inspect_payload(cid=A))
    first = exposition.render(snap)
    assert exposition.render(snap) is first
    assert exposition.render(snapshot(inspect_payload(cid=A), version=2)) is not first


def test_gzip_and_openmetrics_variants(exposition: Exposition) -> None:
    snap = snapshot(inspect_payload(cid=A))
    plain = exposition.render(snap).data
    assert gzip.decompress(exposition.render(snap, gzipped=True).data) == plain
    om = exposition.render(snap, OPENMETRICS)
    assert gzip.decompress(exposition.render(snap, OPENMETRICS, gzipped=True).data) == om.data
    assert om.data.rstrip().endswith(b"# EOF")
    assert b"# TYPE docker_container info" in om.data


def test_counters_have_total_suffix_and_no_created(exposition: Exposition) -> None:
    body = exposition.render(
        snapshot(inspect_payload(cid=A), events=MappingProxyType({("container", "start"): 3}))
    ).data
    assert value(body, "docker_events_total", type="container", action="start") == 3
    assert not any(name.endswith("_created") for name, _ in parse_samples(body))

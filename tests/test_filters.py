"""Container filters: one cut in the inventory, so no stats, processes or series for the
left-out containers, which still count in docker_engine_containers; label maps."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import (
    FakeClock,
    FakeEngine,
    LiveDocker,
    inspect_payload,
    live_settings,
    until,
)
from prometheus_client.parser import text_string_to_metric_families

from exporter.cli.app import build_app
from exporter.cli.main import parse_settings
from exporter.cli.settings import Settings
from exporter.collectors import COLLECTORS, Options
from exporter.collectors.containers import LABEL_MAP
from exporter.engine.models import parse_container
from exporter.inventory.filters import ContainerFilter, FilterError, Rule
from exporter.inventory.store import Inventory, Snapshot
from exporter.render.exposition import Exposition
from exporter.stats.sampler import targets
from exporter.web.http import INVENTORY


def test_rules_parse_and_match() -> None:
    assert str(Rule.parse("label=com.x.team")) == "label=com.x.team"
    assert str(Rule.parse(" label=a=b*=c ")) == "label=a=b*=c"
    for bad in ("nme=x", "name=", "label==x", "x", ""):
        with pytest.raises(FilterError):
            Rule.parse(bad)
    f = ContainerFilter.from_texts(
        include=["name=web-*", "label=tier=front*"], exclude=["image=*:debug", "label=skip"]
    )
    assert f.admits_fields("web-1", "nginx:1", {})
    assert f.admits_fields("api", "nginx:1", {"tier": "frontend"})
    assert not f.admits_fields("api", "nginx:1", {"tier": "back"})
    assert not f.admits_fields("web-1", "nginx:debug", {})  # exclude wins
    assert not f.admits_fields("web-1", "nginx:1", {"skip": ""})
    assert not f.admits_fields("Web-1", "nginx:1", {})  # case-sensitive, whole value
    assert ContainerFilter().admits_fields("anything", "", {})
    assert f.admits_attributes({"name": "web-2", "image": "x"})
    assert not f.admits_attributes({"name": "web-2", "image": "x", "skip": "1"})


def test_flags_and_environment() -> None:
    s = parse_settings(
        [
            "--container.include=name=a*",
            "--container.include",
            "label=x",
            "--container.exclude=image=busybox:*",
            "--container.label-map=com.example.team=team",
            "--container.label-map=com.example.9=9x-y",
        ],
        {},
    )
    assert s.container_include == ("name=a*", "label=x")
    assert s.container_exclude == ("image=busybox:*",)
    assert s[LABEL_MAP] == (("com.example.team", "team"), ("com.example.9", "_9x_y"))
    env = {"DOCKER_EXPORTER_CONTAINER_EXCLUDE": "name=a label=b=c"}
    assert parse_settings([], env).container_exclude == ("name=a", "label=b=c")


@pytest.mark.parametrize(
    "argv",
    [
        ["--container.include=nope"],
        ["--container.label-map=team"],
        ["--container.label-map=a=__meta"],
        ["--container.label-map=a=name"],
        ["--container.labels=team", "--container.label-map=x=label_team"],
        ["--container.label-map=a=t", "--container.label-map=b=t"],
        [f"--container.label-map=k{i}=l{i}" for i in range(33)],
    ],
)
def test_bad_filter_flags_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_settings(argv, {})
    assert exc.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def _samples(body: bytes) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    ]


def test_the_cut_is_in_the_inventory() -> None:
    inventory = Inventory(ContainerFilter.from_texts(exclude=["name=skip-*"]))
    keep = inspect_payload(cid="a" * 64, Name="/keep", Config__Labels={"com.example.team": "ops"})
    skip = inspect_payload(cid="b" * 64, Name="/skip-me")
    for doc in (keep, skip):
        inventory.upsert(parse_container(doc))
    inventory.set_processes("b" * 64, ())
    snap = inventory.publish()
    assert set(snap.containers) == {"a" * 64}
    assert "b" * 64 not in snap.processes
    assert [t.container_id for t in targets(snap)] == ["a" * 64]
    assert snap.excluded == 1
    assert snap.container_counts["running"] == 2
    assert inventory.container("b" * 64) is None
    assert inventory.known_ids() == {"a" * 64, "b" * 64}
    body = (
        Exposition(
            list(COLLECTORS),
            Options({LABEL_MAP: (("com.example.team", "team"),)}),
            process_metrics=False,
        )
        .render(snap)
        .data
    )
    samples = _samples(body)
    assert not [s for s in samples if s[1].get("name") == "skip-me"]
    assert ("docker_engine_containers", {"state": "running"}, 2.0) in samples
    assert ("docker_engine_containers_excluded", {}, 1.0) in samples
    labels = [s for s in samples if s[0] == "docker_container_labels"]
    assert labels == [
        ("docker_container_labels", {"id": "a" * 12, "name": "keep", "team": "ops"}, 1)
    ]
    inventory.remove("b" * 64)
    assert inventory.publish().excluded == 0


async def test_watcher_skips_probe_inspects_of_excluded(clock: FakeClock) -> None:
    engine = FakeEngine()
    engine.add(inspect_payload(cid="c" * 64, Name="/skip-probe"))
    app = build_app(
        Settings(collectors=tuple(COLLECTORS), container_exclude=("name=skip-*",)),
        lambda: engine,
        clock,
    )
    async with TestClient(TestServer(app)) as client:
        snap = await until(app[INVENTORY], lambda s: s.status.synced)
        assert snap.containers == {}
        assert snap.excluded == 1
        resp = await client.get("/inventory")
        assert (await resp.json())["containers"] == []
        resp = await client.get("/inventory/containers/skip-probe")
        assert resp.status == 404


@pytest.mark.integration
@pytest.mark.engine_generic
async def test_excluded_container_never_appears(live: LiveDocker) -> None:
    keep = live.run("keep", "--label", "com.example.team=blue")
    skip = live.run("skip", "--label", "dxt.skip=yes")
    settings = live_settings(
        collectors=tuple(c for c in COLLECTORS if c not in ("top", "volume_sizes")),
        container_exclude=("label=dxt.skip",),
        options=Options({LABEL_MAP: (("com.example.team", "team"),)}),
        stats_interval=1.0,
    )
    app = build_app(settings)
    inventory = app[INVENTORY]
    async with TestClient(TestServer(app)) as client:
        # process lists come from the cgroup path only (the API source reads none)
        def sampled(s: Snapshot) -> bool:
            by_api = s.sampler.source == "api" or s.sampler.api_fallbacks > 0
            return keep in s.stats and (keep in s.processes or by_api)

        await until(inventory, sampled, 60)
        sweeps = inventory.snapshot.sampler.sweeps
        snap = await until(inventory, lambda s: s.sampler.sweeps >= sweeps + 2, 30)
        assert skip not in snap.containers
        assert skip not in snap.stats
        assert skip not in snap.processes
        assert skip[:12] not in {t.container_id[:12] for t in targets(snap)}
        assert snap.excluded >= 1
        assert sum(snap.container_counts.values()) >= len(snap.containers) + 1
        body = await (await client.get("/metrics")).read()
        samples = _samples(body)
        assert skip[:12] not in body.decode()
        assert keep[:12] in body.decode()
        assert (
            "docker_container_labels",
            {"id": keep[:12], "name": live.name("keep"), "team": "blue"},
            1.0,
        ) in samples
        excluded = [s for s in samples if s[0] == "docker_engine_containers_excluded"]
        assert excluded[0][2] >= 1
        inv = await (await client.get("/inventory")).json()
        assert skip not in {c["id"] for c in inv["containers"]}
        topology = (await (await client.get("/topology")).read()).decode()
        assert skip[:12] not in topology

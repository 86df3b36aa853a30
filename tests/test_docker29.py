"""API 1.52 to 1.55, as Docker 29.7.2 speaks it: the recorded payloads in
fixtures/engine/docker29 (see its README) through the parsers, and the watcher reading a
health probe's outcome from the list instead of an inspect."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import FIXTURES, FakeClock, FakeEngine, event, load_json, running_watcher, until

from exporter.engine.events import parse_event
from exporter.engine.models import parse_container, parse_engine, parse_listed
from exporter.engine.resources import parse_disk_usage, parse_image_summary
from exporter.engine.stats import parse_api_stats
from exporter.inventory.store import Inventory


def rows() -> dict[str, dict[str, Any]]:
    """The recorded `/containers/json?all=1` rows by name."""
    return {row["Names"][0].lstrip("/"): row for row in load_json("docker29/containers.json")}


def test_the_list_reports_health_and_failing_streak() -> None:
    """1.52+: `Health{Status, FailingStreak}` in every row; `none` for no healthcheck and
    for a stopped container."""
    listed = {name: parse_listed(row) for name, row in rows().items()}
    inspected = parse_container(load_json("docker29/inspect_health_failing.json"))
    probing = listed["d29-rec-health"]
    assert probing.health == inspected.health == "starting"
    assert probing.failing_streak >= 3  # listed just before the inspect
    assert inspected.failing_streak >= 3
    assert (listed["d29-rec-up"].health, listed["d29-rec-up"].failing_streak) == ("none", 0)
    assert listed["d29-rec-exited"].health == "none"


def test_a_list_without_health_says_so() -> None:
    """Before 1.52 (and on Podman) the row has no `Health`: None, not `none`."""
    row = {k: v for k, v in rows()["d29-rec-health"].items() if k != "Health"}
    assert parse_listed(row).health is None
    assert parse_listed(row).signature == parse_listed(rows()["d29-rec-health"]).signature


def test_inspect_without_the_top_level_network_fields() -> None:
    """1.52 removed `NetworkSettings.{IPAddress,Gateway,MacAddress,...}`: addresses come
    from `Networks.*`; the containerd store leaves `GraphDriver` out (it says
    `Storage.RootFS.Snapshot` instead)."""
    doc = load_json("docker29/inspect_running.json")
    assert "IPAddress" not in doc["NetworkSettings"]
    assert "GraphDriver" not in doc
    assert doc["Storage"]["RootFS"]["Snapshot"]["Name"] == "overlayfs"
    container = parse_container(doc)
    (bridge,) = container.networks
    endpoint = doc["NetworkSettings"]["Networks"]["bridge"]
    assert (bridge.network, bridge.ip, bridge.gateway, bridge.mac) == (
        "bridge",
        endpoint["IPAddress"],
        endpoint["Gateway"],
        endpoint["MacAddress"],
    )
    assert bridge.ip
    assert container.image_id == doc["Image"]
    assert container.labels == {"app": "rec"}


def test_exited_inspect() -> None:
    container = parse_container(load_json("docker29/inspect_exited.json"))
    assert (container.state, container.exit_code, container.health) == ("exited", 3, "none")


def test_events_are_read_from_type_action_and_actor() -> None:
    """1.52 dropped `status`, `id` and `from`: every recorded line parses from the rest."""
    lines = (FIXTURES / "engine" / "docker29" / "events.jsonl").read_text().splitlines()
    raw = [json.loads(line) for line in lines]
    assert raw
    assert not any({"status", "id", "from"} & set(r) for r in raw)
    parsed = [parse_event(r) for r in raw]
    assert all(e is not None for e in parsed)
    by_name = {
        (e.action, e.attributes.get("name")): e
        for e in parsed
        if e is not None and e.type == "container"
    }
    exited = by_name[("die", "d29-rec-exited")]
    assert exited.attributes["exitCode"] == "3"
    assert exited.actor_id == next(
        r["Id"] for r in load_json("docker29/containers.json") if r["Names"] == ["/d29-rec-exited"]
    )
    probes = [
        e
        for e in parsed
        if e is not None and e.action == "exec_die" and e.attributes["name"] == "d29-rec-health"
    ]
    assert probes
    assert all(e.attributes.get("exitCode") == "1" for e in probes)


@pytest.mark.parametrize("name", ["system_df.json", "system_df_volume_verbose.json"])
def test_disk_usage_in_both_shapes(name: str) -> None:
    """1.52+ with `verbose=1`: `VolumeUsage.Items` only (no legacy `Volumes`); without it,
    both. The same per-volume numbers either way."""
    doc = load_json(f"docker29/{name}")
    if name == "system_df_volume_verbose.json":
        assert "Volumes" not in doc
        assert doc["VolumeUsage"]["Items"]
    usage = parse_disk_usage(doc, 0.0).volumes["d29-rec-vol"]
    assert (usage.size_bytes, usage.ref_count) == (102400, 1)


def test_stats_carry_os_type() -> None:
    """1.52: `os_type` (and one-shot stats name their container): the Linux parser applies."""
    doc = load_json("docker29/stats_oneshot.json")
    assert doc["os_type"] == "linux"
    assert doc["name"] == "/d29-rec-up"
    stats = parse_api_stats(doc, cgroup_version="1")
    assert stats is not None
    assert stats.cpu_usage_seconds > 0
    assert stats.memory_usage_bytes


def test_engine_and_containerd_store_images() -> None:
    """/info says the containerd store; an image's ID is its manifest digest, which its
    `RepoDigests` repeats (what `docker images --digests` prints)."""
    engine = parse_engine(
        load_json("docker29/info.json"), load_json("docker29/version.json"), "1.55"
    )
    assert (engine.version, engine.storage_driver, engine.health_in_list) == (
        "29.7.2",
        "overlayfs",
        True,
    )
    assert not parse_engine(
        load_json("info.json"), load_json("version.json"), "1.41"
    ).health_in_list
    (image,) = [s for r in load_json("docker29/images.json") if (s := parse_image_summary(r))]
    assert image.repo_digests == (f"busybox@{image.id}",)


async def test_a_probe_is_read_from_the_list_not_an_inspect(
    fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """On API 1.52+ a health probe's end costs one list for every probe since, no inspect."""
    fake_engine.api_version = "1.55"
    doc = load_json("docker29/inspect_health_failing.json")
    cid = fake_engine.add(doc)
    async with running_watcher(fake_engine, inventory, clock):
        assert inventory.snapshot.containers[cid].failing_streak == 7
        calls = len(fake_engine.calls)
        doc["State"]["Health"].update(Status="unhealthy", FailingStreak=51)
        fake_engine.emit(
            event("container", "exec_die", cid, 2_000_000_000_000_000_000, exitCode="1")
        )
        snap = await until(inventory, lambda s: s.containers[cid].failing_streak == 51)
        assert snap.containers[cid].health == "unhealthy"
        assert "list" in fake_engine.calls[calls:]
        assert not [c for c in fake_engine.calls[calls:] if c.startswith("inspect")]


async def test_before_1_52_a_probe_is_inspected(
    fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    doc = load_json("docker29/inspect_health_failing.json")
    cid = fake_engine.add(doc)
    async with running_watcher(fake_engine, inventory, clock):
        calls = len(fake_engine.calls)
        doc["State"]["Health"].update(FailingStreak=8)
        fake_engine.emit(
            event("container", "exec_die", cid, 2_000_000_000_000_000_000, exitCode="1")
        )
        await until(inventory, lambda s: s.containers[cid].failing_streak == 8)
        assert f"inspect {cid[:12]}" in fake_engine.calls[calls:]

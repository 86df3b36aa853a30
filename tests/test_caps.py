"""Resource bounds: what a hostile or huge engine could grow without end is capped and
counted (docker_exporter_truncations_total), and the caps are flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from conftest import (
    FakeClock,
    FakeEngine,
    LiveDocker,
    event,
    inspect_payload,
    live_settings,
    load_json,
    running_watcher,
    until,
    value,
)
from test_engine import Scripted, serve

from exporter.cli.app import once
from exporter.cli.main import parse_settings
from exporter.collectors import Options
from exporter.engine.adapter import DockerEngine, EngineConfig
from exporter.engine.models import parse_container
from exporter.engine.stats import ProcessInfo
from exporter.inventory import store
from exporter.inventory.store import OTHER_EVENTS, Inventory
from exporter.render.exposition import Exposition
from exporter.web.views import inventory_view

A = "a" * 64


class Hostile(Scripted):
    """An engine whose container has 1 000 labels, one of them 1 MB, and whose image is
    tagged 500 times."""

    async def on_inspect(self, request: web.Request) -> web.Response:
        doc: dict[str, Any] = load_json("inspect_running.json")
        labels = {f"l{i:04}": "v" for i in range(1000)}
        labels["big"] = "x" * 1_000_000
        doc["Config"]["Labels"] = labels
        return web.json_response(doc)

    def on_fixture(self, name: str) -> Any:
        if name != "images.json":
            return super().on_fixture(name)

        async def handler(_r: web.Request) -> web.Response:
            rows = load_json("images.json")
            rows[0]["RepoTags"] = [f"ci:{i}" for i in range(500)]
            return web.json_response(rows)

        return handler


async def test_labels_and_tags_are_capped_in_the_adapter(tmp_path: Path) -> None:
    server = Hostile({"ApiVersion": "1.41", "MinAPIVersion": "1.12"})
    runner, sock = await serve(tmp_path, server)
    engine = DockerEngine(
        EngineConfig(host=f"unix://{sock}", max_labels=100, max_label_length=64, max_image_tags=10)
    )
    try:
        container = await engine.inspect_container("a" * 64)
        images = await engine.list_images()
    finally:
        await engine.close()
        await runner.cleanup()
    assert len(container.labels) == 100
    assert max(len(v) for v in container.labels.values()) <= 64
    assert max(len(i.repo_tags) for i in images) == 10
    cut = engine.meter.freeze().truncations
    assert cut == {"labels": 1, "label_values": 1, "image_tags": 1}


def test_processes_per_container_are_capped() -> None:
    inventory = Inventory(max_processes=5)
    inventory.upsert(parse_container(inspect_payload(cid=A)))
    many = tuple(
        ProcessInfo(pid=p, ppid=1, uid=0, user="root", command="x", cpu_seconds=0.0,
                    rss_bytes=0, state="S")
        for p in range(1000, 0, -1)
    )  # fmt: skip
    inventory.set_processes(A, many)
    snapshot = inventory.publish()
    assert [p.pid for p in snapshot.processes[A]] == [1, 2, 3, 4, 5]
    assert snapshot.truncations == {"processes": 1}


async def test_event_kinds_are_capped(fake_engine: FakeEngine, clock: FakeClock) -> None:
    """The engine names actions: invented ones beyond the cap count as other/other."""
    inventory = Inventory(max_event_kinds=4)
    fake_engine.add(inspect_payload(cid=A, Name="/alpha"))
    async with running_watcher(fake_engine, inventory, clock):
        for i in range(50):
            fake_engine.emit(event("container", f"invented{i}", A, 10 + i))
        await clock.advance(2.0)
        fake_engine.emit(event("container", "exec_start: x", A, 100))
        snapshot = await until(inventory, lambda s: s.status.events.get(OTHER_EVENTS, 0) >= 46)
    assert len(snapshot.status.events) == 5  # four kinds and other/other
    assert snapshot.truncations["event_kinds"] >= 46
    text = Exposition(["events"], Options()).render(snapshot).data.decode()
    assert 'docker_exporter_truncations_total{what="event_kinds"}' in text
    assert 'docker_events_total{action="other",type="other"}' in text


def test_inventory_document_is_capped() -> None:
    inventory = Inventory()
    for i in range(30):
        inventory.upsert(parse_container(inspect_payload(cid=f"{i:02}" * 32, Name=f"/c{i:02}")))
    doc = inventory_view(inventory.publish(), limit=10)
    assert len(doc["containers"]) == 10
    assert doc["exporter"]["containers_omitted"] == 20
    doc = inventory_view(inventory.snapshot, name="c2", limit=10)
    assert len(doc["containers"]) == 10
    assert doc["exporter"]["containers_omitted"] == 0


def test_caps_are_flags() -> None:
    settings = parse_settings(
        [
            "--docker.max-labels=10",
            "--docker.max-label-length=20",
            "--docker.max-image-tags=3",
            "--inventory.max-processes=7",
            "--inventory.max-event-kinds=9",
            "--web.inventory.max-containers=11",
        ],
        {},
    )
    assert (
        settings.max_labels,
        settings.max_label_length,
        settings.max_image_tags,
        settings.max_processes,
        settings.max_event_kinds,
        settings.inventory_max_containers,
    ) == (10, 20, 3, 7, 9, 11)


async def test_per_container_state_goes_with_the_container(
    fake_engine: FakeEngine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Churn leaves nothing behind: no list signature of a destroyed container, and the
    removal generations (needed only by an inspect in flight) stay bounded; a churning
    host used to keep an entry per container it ever removed (bench/soak.py)."""
    monkeypatch.setattr(store, "REMEMBERED_REMOVALS", 16)
    inventory = Inventory()
    async with running_watcher(fake_engine, inventory, clock) as watcher:
        for n in range(60):
            cid = f"{n:064x}"
            fake_engine.add(inspect_payload(cid=cid, Name=f"/churn{n}"))
            fake_engine.emit(event("container", "create", cid, 1000 + 2 * n))
            await until(inventory, lambda s, cid=cid: cid in s.containers)
            await clock.advance(60.0)  # a pass lists it: its signature is kept
            del fake_engine.containers[cid]
            fake_engine.emit(event("container", "destroy", cid, 1001 + 2 * n))
            await until(inventory, lambda s, cid=cid: cid not in s.containers)
        assert len(watcher._signatures) <= 1
        assert len(inventory._generation) <= 16


@pytest.mark.integration
async def test_once_honours_the_inventory_caps(live: LiveDocker) -> None:
    """`--once` builds the same inventory as the server: its caps apply to the one sweep."""
    cid = live.run("caps", cmd=("sh", "-c", "sleep 600 & sleep 600 & exec sleep 600"))[:12]
    settings = live_settings(
        collectors=("stats", "processes"), stats_source="cgroup", max_processes=1
    )
    text = await once(settings)
    assert value(text, "docker_container_processes", id=cid) == 1
    # one counter for every container: others on a shared engine may add to it
    assert (value(text, "docker_exporter_truncations_total", what="processes") or 0) >= 1

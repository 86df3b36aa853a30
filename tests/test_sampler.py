"""The stats sampler: sources, fallback, publication, concurrency; no live engine needed."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

import pytest
from conftest import FIXTURES, FakeClock, FakeEngine, inspect_payload, load_json
from test_cgroup import (
    CID,
    DOCKER_DIR,
    PID,
    V2_MOUNTINFO,
    make_host,
    open_fds,
    v2_files,
    write_processes,
)

from exporter.collectors import COLLECTORS, Options
from exporter.engine.models import Container, EngineInfo, parse_container, parse_engine
from exporter.inventory.store import Inventory
from exporter.render.exposition import Exposition
from exporter.stats.cgroup import CgroupError, Target, discover_layout
from exporter.stats.sampler import ApiSource, CgroupSource, Sampler, Sweep, choose_source, targets

pytestmark = pytest.mark.cgroup

A = "a" * 64
B = "b" * 64


def stats_doc(name: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads((FIXTURES / "stats" / name).read_text())
    return doc


def engine_info() -> EngineInfo:
    return parse_engine(load_json("info.json"), load_json("version.json"), "1.41")


def inventory_with(*containers: Container) -> Inventory:
    inventory = Inventory()
    for c in containers:
        inventory.upsert(c)
    inventory.publish(engine=engine_info())
    return inventory


class ScriptedSource:
    """A source that answers from a dict and reports the rest as missing."""

    name = "cgroup"

    def __init__(self, known: dict[str, object]) -> None:
        self.known = known
        self.asked: list[list[str]] = []

    async def sample(self, wanted: list[Target], engine: EngineInfo | None) -> Sweep:
        self.asked.append([t.container_id for t in wanted])
        from exporter.engine.stats import parse_api_stats

        stats = {
            t.container_id: parse_api_stats(self.known[t.container_id], cgroup_version="1")  # type: ignore[arg-type]
            for t in wanted
            if t.container_id in self.known
        }
        missing = tuple(t.container_id for t in wanted if t.container_id not in self.known)
        return Sweep({k: v for k, v in stats.items() if v}, {}, missing)

    async def close(self) -> None:
        """Nothing held open."""


def test_only_running_containers_with_a_pid_are_targets() -> None:
    running = parse_container(inspect_payload(cid=A))
    exited = parse_container(load_json("inspect_exited.json"))
    inventory = inventory_with(running, exited)
    assert [t.container_id for t in targets(inventory.snapshot)] == [A]


def test_targets_carry_the_inspected_limits() -> None:
    """The reader re-reads limit files when these change (`docker update`), and a
    container whose I/O Docker throttles has its I/O counters read on every sweep."""
    throttle = [{"Path": "/dev/vda", "Rate": 1048576}]
    plain = parse_container(inspect_payload(cid=A))
    throttled = parse_container(inspect_payload(cid=B, HostConfig__BlkioDeviceWriteBps=throttle))
    wanted = {t.container_id: t for t in targets(inventory_with(plain, throttled).snapshot)}
    assert (wanted[A].limits, wanted[A].throttled_io) == (plain.limits, False)
    assert (wanted[B].limits, wanted[B].throttled_io) == (throttled.limits, True)


def test_host_and_shared_network_modes_report_no_network() -> None:
    host = parse_container(inspect_payload(cid=A, HostConfig__NetworkMode="host"))
    shared = parse_container(inspect_payload(cid=B, HostConfig__NetworkMode="container:" + A))
    wanted = {t.container_id: t for t in targets(inventory_with(host, shared).snapshot)}
    assert wanted[A].host_network
    assert wanted[B].host_network


async def test_sweep_publishes_stats_and_status(clock: FakeClock) -> None:
    inventory = inventory_with(parse_container(inspect_payload(cid=A)))
    source = ScriptedSource({A: stats_doc("v1_limited_oneshot.json")})
    sampler = Sampler(inventory, clock, source, interval=5.0)
    await sampler.sweep()
    snap = inventory.snapshot
    assert snap.stats[A].memory_limit_bytes == 64 * 1024 * 1024
    assert snap.sampler.source == "cgroup"
    assert snap.sampler.last_sample_ts == clock.now
    assert snap.processes == {}


async def test_missing_containers_fall_back_to_the_api(
    clock: FakeClock, fake_engine: FakeEngine
) -> None:
    """auto mode: what the cgroup source could not resolve is asked from the Engine."""
    inventory = inventory_with(
        parse_container(inspect_payload(cid=A)), parse_container(inspect_payload(cid=B))
    )
    fake_engine.stats_docs[B] = stats_doc("v1_unlimited_io_oneshot.json")
    source = ScriptedSource({A: stats_doc("v1_limited_oneshot.json")})
    sampler = Sampler(inventory, clock, source, fallback=ApiSource(fake_engine))
    await sampler.sweep()
    snap = inventory.snapshot
    assert set(snap.stats) == {A, B}
    assert snap.sampler.api_fallbacks == 1
    assert fake_engine.calls == [f"stats {B[:12]}"]


async def test_api_source_bounds_concurrency_and_counts_errors(fake_engine: FakeEngine) -> None:
    ids = [f"{i:064x}" for i in range(20)]
    for cid in ids[:15]:
        fake_engine.stats_docs[cid] = stats_doc("v1_limited_oneshot.json")
    source = ApiSource(fake_engine, concurrency=3)
    sweep = await source.sample([Target(cid, 1) for cid in ids], engine_info())
    assert len(sweep.stats) == 15
    assert sweep.errors == 5
    assert fake_engine.max_stats_in_flight == 3


async def test_api_source_never_asks_twice_for_one_container(fake_engine: FakeEngine) -> None:
    fake_engine.stats_docs[A] = stats_doc("v1_limited_oneshot.json")
    source = ApiSource(fake_engine)
    sweep = await source.sample([Target(A, 1), Target(A, 1)], engine_info())
    assert len(sweep.stats) == 1
    assert fake_engine.calls.count(f"stats {A[:12]}") == 1


async def test_stopped_container_frame_is_no_sample(fake_engine: FakeEngine) -> None:
    fake_engine.stats_docs[A] = stats_doc("v1_stopped.json")
    sweep = await ApiSource(fake_engine).sample([Target(A, 1)], engine_info())
    assert sweep.stats == {}


async def test_stats_of_removed_containers_are_not_exported(clock: FakeClock) -> None:
    """A sweep that raced a destroy cannot bring the container's series back."""
    inventory = inventory_with(parse_container(inspect_payload(cid=A)))
    await Sampler(
        inventory, clock, ScriptedSource({A: stats_doc("v1_limited_oneshot.json")})
    ).sweep()
    inventory.remove(A)
    snap = inventory.publish()
    body = Exposition(list(COLLECTORS), Options(), process_metrics=False).render(snap).data
    assert b"docker_container_cpu_usage_seconds_total{" not in body
    assert A in snap.stats  # still in the snapshot, but never rendered without its container


async def test_stats_metrics_render(clock: FakeClock) -> None:
    inventory = inventory_with(parse_container(inspect_payload(cid=A, Name="/alpha")))
    await Sampler(
        inventory, clock, ScriptedSource({A: stats_doc("v1_limited_oneshot.json")})
    ).sweep()
    body = (
        Exposition(list(COLLECTORS), Options(), process_metrics=False)
        .render(inventory.snapshot)
        .data
    )
    text = body.decode()
    assert 'docker_container_cpu_limit_cores{id="aaaaaaaaaaaa",name="alpha"} 0.5' in text
    assert (
        'docker_container_memory_limit_bytes{id="aaaaaaaaaaaa",name="alpha"} 6.7108864e+07' in text
    )
    assert 'docker_container_network_receive_bytes_total{id="aaaaaaaaaaaa",interface="eth0"' in text
    assert 'docker_exporter_stats_source_info{source="cgroup"} 1.0' in text
    assert "docker_exporter_stats_sweep_duration_seconds" in text


def test_unlimited_limits_are_absent() -> None:
    from exporter.engine.stats import parse_api_stats

    sample = parse_api_stats(stats_doc("v1_unlimited_io_oneshot.json"), cgroup_version="1")
    assert sample is not None
    inventory = inventory_with(
        parse_container(
            inspect_payload(
                cid=A, HostConfig__Memory=0, HostConfig__NanoCpus=0, HostConfig__PidsLimit=None
            )
        )
    )
    snap = inventory.publish(stats=MappingProxyType({A: sample}))
    text = Exposition(["stats"], Options(), process_metrics=False).render(snap).data.decode()
    assert "docker_container_memory_limit_bytes{" not in text
    assert "docker_container_cpu_limit_cores{" not in text
    assert "docker_container_pids_limit{" not in text


def test_auto_chooses_cgroup_locally_and_api_remotely(tmp_path: Path, clock: FakeClock) -> None:
    engine = FakeEngine()
    proc, sys_root = Path("/proc"), Path("/sys")
    local, fallback = choose_source(
        "auto",
        docker_host="unix:///var/run/docker.sock",
        proc_root=proc,
        sys_root=sys_root,
        engine=engine,
        concurrency=4,
        clock=clock,
    )
    assert isinstance(local, CgroupSource)
    assert isinstance(fallback, ApiSource)
    remote, none = choose_source(
        "auto",
        docker_host="tcp://127.0.0.1:2375",
        proc_root=proc,
        sys_root=sys_root,
        engine=engine,
        concurrency=4,
        clock=clock,
    )
    assert isinstance(remote, ApiSource)
    assert none is None
    blind, _ = choose_source(
        "auto",
        docker_host="unix:///var/run/docker.sock",
        proc_root=tmp_path,
        sys_root=tmp_path,
        engine=engine,
        concurrency=4,
        clock=clock,
    )
    assert isinstance(blind, ApiSource)
    with pytest.raises(CgroupError):
        choose_source(
            "cgroup",
            docker_host="unix:///x",
            proc_root=tmp_path,
            sys_root=tmp_path,
            engine=engine,
            concurrency=4,
            clock=clock,
        )


async def test_cgroup_source_closes_files_of_containers_no_longer_targeted(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A container that leaves the targets (stopped, removed) has its kept files closed at
    the next sweep; close() releases the rest."""
    proc, sys_root = make_host(tmp_path, V2_MOUNTINFO, f"0::{DOCKER_DIR}\n", v2_files(DOCKER_DIR))
    write_processes(proc, {PID: 1})
    fds = open_fds()
    source = CgroupSource(discover_layout(proc, sys_root), proc, clock)
    sweep = await source.sample([Target(CID, PID)], None)
    assert [PID] == [p.pid for p in (sweep.processes or {})[CID]]
    assert sweep.stats[CID].pids_limit == 100
    assert source.open_files > 0
    assert fds + source.open_files == open_fds()
    await source.sample([], None)
    assert (0, fds) == (source.open_files, open_fds())
    await source.sample([Target(CID, PID)], None)
    await source.close()
    assert (0, fds) == (source.open_files, open_fds())


async def test_sweeps_and_samples_are_counted(clock: FakeClock) -> None:
    """Counters, so that a bench or an SRE gets exact sample counts from sparse scrapes."""
    inventory = inventory_with(
        parse_container(inspect_payload(cid=A)), parse_container(inspect_payload(cid=B))
    )
    sampler = Sampler(inventory, clock, ScriptedSource({A: stats_doc("v1_limited_oneshot.json")}))
    await sampler.sweep()
    await sampler.sweep()
    status = inventory.snapshot.sampler
    assert (status.sweeps, status.samples) == (2, 2)  # B had no sample: not counted
    body = Exposition(["stats"], Options(), process_metrics=False).render(inventory.snapshot)
    assert b"docker_exporter_stats_samples_total 2.0" in body.data
    assert b"docker_exporter_stats_sweeps_total 2.0" in body.data

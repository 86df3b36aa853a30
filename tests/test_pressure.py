"""cgroup v2 memory.events and PSI: parsed from the kernel's format, read only where the
kernel gives them (absent on v1, without PSI, or with PSI off), exported as counters."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import LiveDocker, inspect_payload, live_settings, until
from prometheus_client.parser import text_string_to_metric_families
from test_cgroup import (
    CID,
    DOCKER_DIR,
    NET_DEV,
    PID,
    V2_MOUNTINFO,
    V2_PRESSURE_STATS,
    make_host,
    v2_files,
)

from exporter.cli.app import build_app
from exporter.collectors import COLLECTORS, Options
from exporter.engine.models import parse_container
from exporter.inventory.store import Inventory
from exporter.render.exposition import Exposition
from exporter.stats.cgroup import CgroupReader, Target, discover_layout, sample
from exporter.stats.cgroup.pressure import parse_memory_events, parse_pressure
from exporter.web.http import INVENTORY


def test_parse_memory_events() -> None:
    text = b"low 1\nhigh 2\nmax 3\noom 4\noom_kill 5\noom_group_kill 6\n"
    assert parse_memory_events(text) == (
        ("low", 1), ("high", 2), ("max", 3), ("oom", 4), ("oom_kill", 5)
    )  # fmt: skip
    assert parse_memory_events(b"max 3\noom x\nhigh 2") == (("high", 2), ("max", 3))
    assert parse_memory_events(None) == ()
    assert parse_memory_events(b"") == ()


def test_parse_pressure() -> None:
    # cpu.pressure before 5.13: no `full` line
    assert parse_pressure("cpu", b"some avg10=0.00 avg60=0.00 avg300=0.00 total=1500000\n") == (
        ("cpu", "some", 1.5),
    )
    text = (
        b"some avg10=2.04 avg60=0.75 avg300=0.40 total=157656722\n"
        b"full avg10=1.00 avg60=0.25 avg300=0.10 total=58761459\n"
    )
    assert parse_pressure("io", text) == (("io", "some", 157.656722), ("io", "full", 58.761459))
    assert parse_pressure("io", b"weird total=1\nsome total=-1\n") == ()
    assert parse_pressure("memory", None) == ()


def _unsupported(real: Callable[..., Any]) -> Callable[..., Any]:
    """os.read/os.pread failing with EOPNOTSUPP on pressure files, as on a kernel before
    5.19 booted with psi=0 (the files exist; psi_show returns -EOPNOTSUPP)."""

    def call(fd: int, *args: Any) -> Any:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".pressure"):
            raise OSError(errno.EOPNOTSUPP, "Operation not supported")
        return real(fd, *args)

    return call


@pytest.mark.parametrize("budget", [4096, 0])
def test_psi_off_is_absent_and_the_rest_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, f"0::{DOCKER_DIR}\n", v2_files(DOCKER_DIR))
    layout = discover_layout(proc, sys)
    target = Target(CID, PID)
    with CgroupReader(layout, proc, max_open_files=budget) as reader:
        full = reader.read(target, processes=False, users={})
    assert full is not None
    assert full[0].pressure == V2_PRESSURE_STATS
    monkeypatch.setattr(os, "read", _unsupported(os.read))
    monkeypatch.setattr(os, "pread", _unsupported(os.pread))
    with CgroupReader(layout, proc, max_open_files=budget) as reader:
        kept = reader.read(target, processes=False, users={})
        again = reader.read(target, processes=False, users={})
        if budget:
            assert reader.open_files == 11  # 10 cgroup files and net/dev: no pressure file
    single = sample(layout, proc, target, processes=False, users={})
    for got in (kept, again, single):
        assert got is not None
        assert got[0].pressure == ()
        assert got[0] == full[0].__class__(**{**_fields(full[0]), "pressure": ()})


def _fields(stats: Any) -> dict[str, Any]:
    return {name: getattr(stats, name) for name in stats.__dataclass_fields__}


def test_exported_as_counters(tmp_path: Path) -> None:
    proc, sys = make_host(tmp_path, V2_MOUNTINFO, f"0::{DOCKER_DIR}\n", v2_files(DOCKER_DIR))
    (proc / str(PID) / "net/dev").write_text(NET_DEV)
    got = sample(discover_layout(proc, sys), proc, Target(CID, PID), processes=False, users={})
    assert got is not None
    inventory = Inventory()
    inventory.upsert(parse_container(inspect_payload(cid=CID, Name="/psi")))
    snap = inventory.publish(stats={CID: got[0]})
    body = Exposition(["stats"], Options(), process_metrics=False).render(snap).data.decode()
    samples = {
        (s.name, s.labels.get("event") or (s.labels.get("resource"), s.labels.get("kind"))): s.value
        for f in text_string_to_metric_families(body)
        for s in f.samples
        if s.name.startswith(("docker_container_memory_events", "docker_container_pressure"))
    }
    assert samples[("docker_container_memory_events_total", "oom_kill")] == 1
    assert samples[("docker_container_memory_events_total", "max")] == 17
    assert samples[("docker_container_pressure_stalled_seconds_total", ("memory", "full"))] == 0.2
    assert len(samples) == 5 + 6
    assert "# TYPE docker_container_pressure_stalled_seconds_total counter" in body


@pytest.mark.integration
async def test_absent_on_this_engine_without_them(live: LiveDocker) -> None:
    """On a cgroup v1 host (and through the API) a running container has its other
    stats series and none of these: absent, never zeros. On a v2 host with PSI, both are
    there for it (the cgroup v2 leg)."""
    cid = live.run("psi", cmd=("sh", "-c", "while :; do sleep 1; done"))
    app = build_app(live_settings(collectors=tuple(c for c in COLLECTORS if c != "top")))
    async with TestClient(TestServer(app)) as client:
        await until(app[INVENTORY], lambda s: cid in s.stats, 60)
        body = await (await client.get("/metrics")).text()
    mine = [line for line in body.splitlines() if f'id="{cid[:12]}"' in line]
    assert any(line.startswith("docker_container_cpu_usage_seconds_total") for line in mine)
    unified = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    psi = Path("/proc/pressure/cpu").exists()
    events = [line for line in mine if line.startswith("docker_container_memory_events_total")]
    stalls = [line for line in mine if line.startswith("docker_container_pressure_stalled")]
    if not unified:
        assert events == []
        assert stalls == []
    else:
        assert len(events) == 5
        assert (len(stalls) >= 4) == psi


FIXTURES = Path(__file__).parent / "fixtures" / "pressure"


@pytest.mark.parametrize("resource", ["cpu", "memory", "io"])
def test_recorded_psi_files(resource: str) -> None:
    """The host's own PSI files, recorded (same psi_show as a cgroup's): both lines, the
    totals in seconds, the averages ignored."""
    data = (FIXTURES / f"proc_pressure_{resource}").read_bytes()
    totals = {
        line.split()[0]: int(line.rsplit("total=", 1)[1]) / 1e6
        for line in data.decode().splitlines()
    }
    assert parse_pressure(resource, data) == tuple(
        (resource, kind, totals[kind]) for kind in ("some", "full")
    )

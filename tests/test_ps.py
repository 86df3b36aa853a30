"""`docker-exporter ps`: the table a user reads instead of `docker ps -a`, from /inventory."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import (
    TESTBED_LIMIT,
    FakeClock,
    FakeEngine,
    LiveDocker,
    because,
    docker,
    inspect_payload,
    live_settings,
    load_json,
    until,
)

from exporter.cli import ps
from exporter.cli.app import build_app
from exporter.cli.settings import Settings
from exporter.collectors import COLLECTORS
from exporter.web.http import INVENTORY


async def run_ps(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = await asyncio.to_thread(ps.main, list(args))
    return code, capsys.readouterr().out


async def test_table_from_a_fake_engine(capsys: pytest.CaptureFixture[str]) -> None:
    engine = FakeEngine()
    engine.add(inspect_payload(cid="a" * 64, Name="/alpha"))
    engine.add(load_json("inspect_exited.json"))
    app = build_app(Settings(collectors=tuple(COLLECTORS)), lambda: engine, FakeClock())
    async with TestClient(TestServer(app)) as client:
        await until(app[INVENTORY], lambda s: s.status.synced)
        code, out = await run_ps(capsys, "--url", str(client.make_url("/")))
        assert code == 0
        header, *lines = out.splitlines()
        assert header.split()[:4] == ["CONTAINER", "ID", "NAME", "IMAGE"]
        alpha = next(line for line in lines if " alpha " in line)
        assert alpha.startswith("aaaaaaaaaaaa")
        assert "healthy" in alpha
        assert "rec-net:" in alpha
        assert "(search)" in alpha
        assert "127.0.0.1:" in alpha
        exited = next(line for line in lines if "rec-exited" in line)
        assert " exited " in exited
        assert " 3 " in exited
        code, out = await run_ps(
            capsys, "--url", str(client.make_url("/")), "--filter", "state=exited"
        )
        assert [line.split()[1] for line in out.splitlines()[1:]] == ["rec-exited"]


def test_unreachable_exporter_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert ps.main(["--url", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot read" in err


@pytest.mark.integration
@pytest.mark.engine_generic
async def test_ps_matches_docker_ps(live: LiveDocker, capsys: pytest.CaptureFixture[str]) -> None:
    net = live.network("psnet")
    live.run("web", "--network", net, "--network-alias", "search", "-p", "127.0.0.1::80")
    app = build_app(live_settings(collectors=("containers", "engine")))
    async with TestClient(TestServer(app)) as client:
        await until(app[INVENTORY], lambda s: s.find_container(live.name("web")) is not None, 30)
        code, out = await run_ps(
            capsys, "--url", str(client.make_url("/")), "--filter", f"name={live.prefix}"
        )
    assert code == 0
    (line,) = out.splitlines()[1:]
    expected_id = docker("ps", "-a", "--filter", f"name={live.name('web')}", "--format", "{{.ID}}")
    ip = docker(
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        live.name("web"),
    )
    port = docker("port", live.name("web"), "80/tcp")
    assert line.split()[0] == expected_id
    assert f"{net}:{ip}(search)" in line
    assert f"{port}->80/tcp" in line


def _entry(  # noqa: PLR0917 - a row of test figures
    cid: str, name: str, at: float, cpu: float, rx: int, read: int, **extra: Any
) -> dict[str, Any]:
    return {
        "id": cid,
        "short_id": cid[:12],
        "name": name,
        "image": "busybox:local",
        "state": "running",
        "health": {"status": "none"},
        "restart_count": 0,
        "exit_code": 0,
        "started_at": 1000.0,
        "created": 900.0,
        "limits": {"cpu_cores": 0.5, "memory_bytes": None},
        "networks": [],
        "ports": [],
        "labels": {},
        "stats": {
            "sampled_at": at,
            "cpu_usage_seconds": cpu,
            "cpu_limit_cores": None,
            "memory_working_set_bytes": 3 * 1024 * 1024,
            "memory_usage_bytes": 5 * 1024 * 1024,
            "memory_limit_bytes": 64 * 1024 * 1024,
            "pids": 4,
            "networks": [{"interface": "eth0", "rx_bytes": rx, "tx_bytes": rx // 2}],
            "block": [{"device": "8:0", "read_bytes": read, "write_bytes": 0}],
        },
        **extra,
    }


def test_resources_from_two_samples() -> None:
    before = _entry("a" * 64, "busy", 1000.0, 10.0, 1000, 0)
    after = _entry("a" * 64, "busy", 1005.0, 12.0, 6120, 5 * 4096)
    r = ps.resources(after, before, {"cpus": 2}, now=1065.0)
    assert r.cpu_cores == pytest.approx(0.4)
    assert r.cpu_percent_of_limit == pytest.approx(80.0)  # of the 0.5-core limit
    assert (r.memory_used_bytes, r.memory_limit_bytes) == (3 * 1024 * 1024, 64 * 1024 * 1024)
    assert r.net_rx_bytes_per_second == pytest.approx(1024.0)
    assert r.block_read_bytes_per_second == pytest.approx(4096.0)
    assert r.pids == 4
    assert r.uptime_seconds == 65.0
    row = ps.row(after, r, 1065.0)
    assert row[ps.COLUMNS.index("CPU")] == "0.40 (80%)"
    assert row[ps.COLUMNS.index("MEM USED / LIMIT")] == "3.0MiB / 64.0MiB"
    assert row[ps.COLUMNS.index("NET RX / TX")] == "1.0KiB/s / 512B/s"
    assert row[ps.COLUMNS.index("BLOCK R / W")] == "4.0KiB/s / 0B/s"
    assert row[ps.COLUMNS.index("UPTIME")] == "1m"
    # one sample only, or a counter reset (a restart): no rates, never a negative one
    assert ps.resources(after, None, None, 1065.0).cpu_cores is None
    assert ps.resources(before, after, None, 1065.0).cpu_cores is None
    unlimited = _entry("b" * 64, "free", 1005.0, 12.0, 0, 0, limits={})
    r = ps.resources(
        unlimited,
        {
            **unlimited,
            "stats": {**unlimited["stats"], "sampled_at": 1000.0, "cpu_usage_seconds": 11.0},
        },
        {"cpus": 2},
        1065.0,
    )
    assert ps._cpu(r) == "0.20 (10% host)"
    stopped = {**after, "state": "exited", "stats": None}
    assert ps.row(stopped, ps.resources(stopped, None, None, 0), 0)[8:15] == ("-",) * 7


def test_sort_and_json() -> None:
    prev = {
        "a" * 64: _entry("a" * 64, "idle", 1000.0, 1.0, 0, 0),
        "b" * 64: _entry("b" * 64, "busy", 1000.0, 1.0, 0, 0),
    }
    inventory = {
        "engine": {"cpus": 2},
        "containers": [
            _entry("a" * 64, "idle", 1005.0, 1.01, 0, 0),
            _entry("b" * 64, "busy", 1005.0, 5.0, 0, 0),
            {**_entry("c" * 64, "stopped", 0, 0, 0, 0), "state": "exited", "stats": None},
        ],
    }
    text = ps.table(inventory, prev, 1065.0, sort="cpu")
    assert [line.split()[1] for line in text.splitlines()[1:]] == ["busy", "idle", "stopped"]
    text = ps.table(inventory, prev, 1065.0, sort="name")
    assert [line.split()[1] for line in text.splitlines()[1:]] == ["busy", "idle", "stopped"]
    rows = json.loads(ps.json_rows(inventory, prev, 1065.0, "cpu"))
    assert rows[0]["name"] == "busy"
    assert rows[0]["resources"]["cpu_cores"] == pytest.approx(0.8)
    assert rows[2]["resources"]["cpu_cores"] is None


BUSY = ("sh", "-c", "while :; do :; done")


@pytest.mark.integration
@pytest.mark.engine_generic
async def test_live_resources(live: LiveDocker, capsys: pytest.CaptureFixture[str]) -> None:
    busy = live.run("busy", "--cpus", "0.5", "--memory", "64m", cmd=BUSY)
    idle = live.run("idle")
    app = build_app(live_settings(collectors=("containers", "engine", "stats"), stats_interval=1.0))
    inventory = app[INVENTORY]
    async with TestClient(TestServer(app)) as client:
        await until(inventory, lambda s: busy in s.stats and idle in s.stats, 60)
        url = str(client.make_url("/"))
        code, out = await run_ps(
            capsys,
            "--url",
            url,
            "--filter",
            f"name={live.prefix}",
            "--format",
            "json",
            "--sort",
            "cpu",
        )
        assert code == 0
        rows = json.loads(out)
        assert [r["name"] for r in rows] == [live.name("busy"), live.name("idle")]
        res = rows[0]["resources"]
        assert 0.2 < res["cpu_cores"] <= 0.6  # limited to half a core
        assert 40 < res["cpu_percent_of_limit"] <= 120
        assert res["memory_limit_bytes"] == 64 * 1024 * 1024
        assert 0 < res["memory_used_bytes"] < 64 * 1024 * 1024
        assert res["pids"] >= 1
        assert res["uptime_seconds"] >= 0
        assert rows[1]["resources"]["cpu_cores"] < 0.1
        code, out = await run_ps(capsys, "--url", url, "--filter", f"name={live.prefix}")
        line = next(line for line in out.splitlines() if live.name("busy") in line)
        assert "/ 64.0MiB" in line
        assert "%)" in line


@pytest.mark.integration
@pytest.mark.skipif(
    shutil.which("tmux") is None, reason=because(TESTBED_LIMIT, "tmux is not installed")
)
async def test_watch_in_tmux(live: LiveDocker) -> None:
    """`ps --watch` in a real terminal: the table is redrawn in place (one screen, not a
    scroll of tables) and the busy container's CPU figure changes between refreshes."""
    busy = live.run(
        "wbusy",
        cmd=(
            "sh",
            "-c",
            "while :; do i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 0.3; done",
        ),
    )
    app = build_app(live_settings(collectors=("containers", "engine", "stats"), stats_interval=1.0))
    inventory = app[INVENTORY]
    session = f"{live.prefix}-watch"
    async with TestClient(TestServer(app)) as client:
        await until(inventory, lambda s: busy in s.stats, 60)
        command = (
            f"{sys.executable} -m exporter ps --watch --interval 1 --url {client.make_url('/')}"
            f" --filter name={live.name('wbusy')}"
        )
        subprocess.run(
            [
                "tmux",
                "new-session",
                "-d",
                "-s",
                session,
                "-x",
                "250",
                "-y",
                "20",
                "-c",
                str(Path(__file__).parent.parent),
                command,
            ],
            check=True,
        )
        try:
            figures: list[str] = []
            screens: list[str] = []
            deadline = time.monotonic() + 60
            while len(set(figures)) < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                screen = subprocess.run(
                    ["tmux", "capture-pane", "-p", "-t", session],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                screens.append(screen)
                rows = [line for line in screen.splitlines() if live.name("wbusy") in line]
                if rows:
                    cpu = rows[0].split()[ps.COLUMNS.index("CPU") + 1]  # "CONTAINER ID" is 2 words
                    if cpu != "-":
                        figures.append(cpu)
            assert len(set(figures)) >= 3, (figures, screens[-1])
            last = screens[-1].splitlines()
            assert last[0].startswith("CONTAINER ID")  # redrawn at the top: in place
            assert sum(1 for line in last if line.startswith("CONTAINER ID")) == 1
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], check=False)

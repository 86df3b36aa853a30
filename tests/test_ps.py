"""`docker-exporter ps`: the table a user reads instead of `docker ps -a`, from /inventory."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import (
    FakeClock,
    FakeEngine,
    LiveDocker,
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

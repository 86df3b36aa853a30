"""The engine going away and coming back: docker_up 0 while it is gone, a reconnect and a
reconciled inventory after, with no exporter restart. Restarts the live dockerd."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import LiveDocker, docker, until
from test_live import Scraper, find

from exporter.app import build_app
from exporter.collectors import COLLECTORS
from exporter.config import Settings
from exporter.http import INVENTORY

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parent.parent


def dockerd_pid() -> int:
    """The dockerd behind /var/run/docker.sock (other test engines have their own pidfiles)."""
    pidfile = Path("/var/run/docker.pid")
    if not pidfile.exists():
        pytest.skip("the engine is not a local dockerd with the default pidfile")
    return int(pidfile.read_text().strip())


def wait_gone(pid: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError("dockerd did not stop")


@pytest.fixture(name="exporter")
async def fixture_exporter(live: LiveDocker) -> AsyncIterator[Scraper]:
    app = build_app(Settings(collectors=tuple(COLLECTORS), docker_timeout=3.0))
    async with TestClient(TestServer(app)) as client:
        await until(app[INVENTORY], lambda s: s.status.synced, timeout=30)
        yield Scraper(client)


async def test_dockerd_restart_is_survived(live: LiveDocker, exporter: Scraper) -> None:
    before = live.run("before", "--restart", "no")
    await exporter.wait(lambda s: find(s, "docker_container_info", id=before[:12]) == 1)
    docker("rm", "-f", live.name("before"))
    pid = dockerd_pid()
    os.kill(pid, signal.SIGTERM)
    wait_gone(pid)
    samples = await exporter.wait(lambda s: find(s, "docker_up") == 0)
    assert find(samples, "docker_exporter_event_stream_up") == 0
    subprocess.run([str(ROOT / "scripts" / "testbed"), "--engine-only"], check=True, timeout=120)
    after = live.run("after")
    samples = await exporter.wait(
        lambda s: (
            find(s, "docker_up") == 1 and find(s, "docker_container_info", id=after[:12]) == 1
        ),
        timeout=90,
    )
    assert (find(samples, "docker_exporter_event_stream_reconnects_total") or 0) >= 1
    assert find(samples, "docker_container_info", id=before[:12]) is None

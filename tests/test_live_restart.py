"""The engine going away and coming back: docker_up 0 while it is gone, a reconnect and a
reconciled inventory after, with no exporter restart.

The engine restarted is a private dockerd (test_fleet's: its own socket, data root,
containerd and network namespace), never the machine's shared engine."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import Scraper, engine_answers, until, value
from test_fleet import Engine, _require, _unmount_under

from exporter.cli.app import build_app
from exporter.cli.settings import Settings
from exporter.collectors import COLLECTORS
from exporter.web.http import INVENTORY

pytestmark = pytest.mark.integration


@pytest.fixture(name="private_engine")
def fixture_private_engine() -> Iterator[Engine]:
    """A dockerd of our own with busybox:local loaded; stopped and removed afterwards."""
    _require(os.geteuid() == 0, "the restart test starts dockerd: run as root")
    for tool in ("dockerd", "docker", "unshare"):
        _require(shutil.which(tool) is not None, f"{tool} not installed (run scripts/testbed)")
    _require(engine_answers(), "no live Docker Engine with busybox:local (run scripts/testbed)")
    # Short paths: unix socket paths (containerd's under the exec root) are limited.
    base = Path(tempfile.mkdtemp(prefix="dxt-restart-", dir="/tmp"))
    engine = Engine(9, base / "engine")
    try:
        engine.start()
        image = base / "busybox.tar"
        subprocess.run(
            ["docker", "save", "--output", str(image), "busybox:local"], check=True, timeout=60
        )
        engine.wait_ready()
        engine.docker("load", "--quiet", "--input", str(image))
        yield engine
    finally:
        try:
            engine.stop()
        finally:
            _unmount_under(base)
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(name="exporter")
async def fixture_exporter(private_engine: Engine) -> AsyncIterator[Scraper]:
    settings = Settings(
        collectors=tuple(COLLECTORS), docker_timeout=3.0, docker_host=private_engine.host
    )
    app = build_app(settings)
    async with TestClient(TestServer(app)) as client:
        await until(app[INVENTORY], lambda s: s.status.synced, timeout=30)
        yield Scraper(client)


def run(engine: Engine, name: str) -> str:
    return engine.docker(
        "run", "-d", "--network", "none", "--name", name, "busybox:local", "sleep", "600"
    )


async def test_dockerd_restart_is_survived(private_engine: Engine, exporter: Scraper) -> None:
    """SIGTERM the engine, see docker_up 0, start it again: the exporter reconnects by
    itself and its inventory matches the restarted engine (a removed container is gone)."""
    before = run(private_engine, "dxt-restart-before")
    await exporter.wait(lambda s: value(s, "docker_container_info", id=before[:12]) == 1)
    private_engine.docker("rm", "-f", "dxt-restart-before")
    assert private_engine.process is not None
    private_engine.process.terminate()
    private_engine.process.wait(timeout=60)
    samples = await exporter.wait(lambda s: value(s, "docker_up") == 0)
    assert value(samples, "docker_exporter_event_stream_up") == 0
    private_engine.start()
    private_engine.wait_ready()
    after = run(private_engine, "dxt-restart-after")
    samples = await exporter.wait(
        lambda s: (
            value(s, "docker_up") == 1 and value(s, "docker_container_info", id=after[:12]) == 1
        ),
        timeout=90,
    )
    assert (value(samples, "docker_exporter_event_stream_reconnects_total") or 0) >= 1
    assert value(samples, "docker_container_info", id=before[:12]) is None

"""Compose services as units: docker_compose_service_containers, /inventory's compose
section and `docker-exporter ps --group-by compose`; live with Debian's docker-compose."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import LiveDocker, inspect_payload, live_settings, skip_testbed_limit, until
from prometheus_client.parser import text_string_to_metric_families
from test_openapi import validate_response

from exporter.cli import ps
from exporter.cli.app import build_app
from exporter.collectors import COLLECTORS, Options
from exporter.engine.models import parse_container
from exporter.inventory.store import Inventory
from exporter.render.exposition import Exposition
from exporter.web.http import INVENTORY
from exporter.web.views import inventory_view

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"


def _compose_samples(body: bytes) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["project"], s.labels["service"], s.labels["state"]): s.value
        for f in text_string_to_metric_families(body.decode())
        for s in f.samples
        if s.name == "docker_compose_service_containers"
    }


def _container(n: int, service: str, state: str = "running", project: str = "shop") -> object:
    labels = {PROJECT: project, SERVICE: service} if service else {}
    doc = inspect_payload(
        cid=f"{n:x}" * 64, Name=f"/{project}_{service}_{n}", Config__Labels=labels
    )
    if state != "running":
        doc["State"] = {**doc["State"], "Status": state, "Running": False, "Pid": 0}
    return parse_container(doc)


def test_counts_by_service_and_state() -> None:
    inventory = Inventory()
    for c in (
        _container(1, "web"),
        _container(2, "web"),
        _container(3, "web", "exited"),
        _container(4, "db", "exited"),
        _container(5, ""),  # not Compose
    ):
        inventory.upsert(c)  # type: ignore[arg-type]
    snap = inventory.publish()
    body = Exposition(["compose"], Options(), process_metrics=False).render(snap).data
    assert _compose_samples(body) == {
        ("shop", "web", "running"): 2,
        ("shop", "web", "exited"): 1,
        ("shop", "db", "running"): 0,
        ("shop", "db", "exited"): 1,
    }
    view = inventory_view(snap)
    assert view["compose"] == [
        {
            "project": "shop",
            "services": [
                {
                    "service": "db",
                    "running": 0,
                    "states": {"exited": 1},
                    "containers": ["shop_db_4"],
                },
                {
                    "service": "web",
                    "running": 2,
                    "states": {"exited": 1, "running": 2},
                    "containers": ["shop_web_1", "shop_web_2", "shop_web_3"],
                },
            ],
        }
    ]
    validate_response("/inventory", 200, view)
    text = ps.table(view, {}, 0.0, group_by="compose")
    headings = [line for line in text.splitlines() if line.endswith(" running")]
    assert headings == [
        "shop / db: 0 of 1 running",
        "shop / web: 2 of 3 running",
        "(not in a Compose project): 1 of 1 running",
    ]
    lines = text.splitlines()
    assert lines.index("shop / web: 2 of 3 running") < next(
        i for i, line in enumerate(lines) if "shop_web_1" in line
    )


COMPOSE_FILE = """\
version: "2.4"
services:
  web:
    build: .
    image: {image}
    scale: 2
  worker:
    image: {image}
"""


@pytest.mark.integration
async def test_docker_compose_project(
    live: LiveDocker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Debian's docker-compose (v1, installed by scripts/testbed) builds FROM busybox:local,
    nothing pulled; scaling web down drops its running series from 2 to 1."""
    if shutil.which("docker-compose") is None:
        skip_testbed_limit("docker-compose is not installed (scripts/testbed installs it)")
    project = live.prefix.replace("-", "")
    image = f"{live.prefix}-compose:1"
    (tmp_path / "Dockerfile").write_text('FROM busybox:local\nCMD ["sleep", "600"]\n')
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE.format(image=image))

    def compose(*args: str) -> None:
        subprocess.run(
            ["docker-compose", "-p", project, *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            timeout=180,
        )

    app = build_app(live_settings(collectors=tuple(c for c in COLLECTORS if c != "top")))
    inventory = app[INVENTORY]

    def running(snap: object, service: str) -> int:
        return sum(
            1
            for c in inventory.snapshot.containers.values()
            if c.compose_project == project
            and c.compose_service == service
            and c.state == "running"
        )

    try:
        async with TestClient(TestServer(app)) as client:
            await until(inventory, lambda s: s.status.synced, 30)
            await asyncio.to_thread(compose, "up", "-d", "--build")
            await until(
                inventory, lambda s: running(s, "web") == 2 and running(s, "worker") == 1, 60
            )
            body = await (await client.get("/metrics")).read()
            mine = {k: v for k, v in _compose_samples(body).items() if k[0] == project}
            assert mine == {(project, "web", "running"): 2, (project, "worker", "running"): 1}
            inv = await (await client.get("/inventory")).json()
            validate_response("/inventory", 200, inv)
            (entry,) = [p for p in inv["compose"] if p["project"] == project]
            assert [(s["service"], s["running"]) for s in entry["services"]] == [
                ("web", 2),
                ("worker", 1),
            ]
            code = await asyncio.to_thread(
                ps.main,
                [
                    "--url",
                    str(client.make_url("/")),
                    "--group-by",
                    "compose",
                    "--wait",
                    "0",
                    "--filter",
                    f"label={PROJECT}={project}",
                ],
            )
            out = capsys.readouterr().out
            assert code == 0
            assert f"{project} / web: 2 of 2 running" in out.splitlines()
            assert f"{project} / worker: 1 of 1 running" in out.splitlines()

            await asyncio.to_thread(compose, "up", "-d", "--scale", "web=1")
            await until(inventory, lambda s: running(s, "web") == 1, 60)
            body = await (await client.get("/metrics")).read()
            mine = {k: v for k, v in _compose_samples(body).items() if k[0] == project}
            assert mine == {(project, "web", "running"): 1, (project, "worker", "running"): 1}
    finally:
        subprocess.run(
            ["docker-compose", "-p", project, "down", "--rmi", "all", "-v"],
            cwd=tmp_path,
            capture_output=True,
            check=False,
            timeout=180,
        )

"""The scrape Prometheus makes, against the live engine: its Accept header and gzip get
OpenMetrics, parseable, with the live containers in it, and the same series as text."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import LiveDocker, docker, until
from prometheus3 import ACCEPT_3_4, OM_ALLOW_UTF8
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_families
from prometheus_client.parser import text_string_to_metric_families as text_families

from exporter.cli.app import build_app
from exporter.cli.settings import Settings
from exporter.collectors import COLLECTORS
from exporter.web.http import INVENTORY

pytestmark = pytest.mark.integration

PROMETHEUS_ACCEPT = ACCEPT_3_4
"""What Prometheus 3.4+ (3.5 LTS) sends on every scrape."""
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(name="client")
async def fixture_client(live: LiveDocker) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    del live  # the engine must be there
    app = build_app(Settings(collectors=tuple(COLLECTORS)))
    async with TestClient(TestServer(app)) as client:
        await until(app[INVENTORY], lambda s: s.status.synced, timeout=30)
        yield client


async def scrape(client: TestClient, accept: str) -> tuple[str, str]:  # type: ignore[type-arg]
    resp = await client.get("/metrics", headers={"Accept": accept, "Accept-Encoding": "gzip"})
    assert resp.status == 200
    assert resp.headers["Content-Encoding"] == "gzip"
    return resp.headers["Content-Type"], await resp.text()


def series(families: object) -> Series:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in families  # type: ignore[attr-defined]
        for s in family.samples
    }


async def test_prometheus_header_gets_parseable_openmetrics_with_live_containers(
    live: LiveDocker,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    running = live.run("om-running")[:12]
    exited = live.run("om-exited", cmd=("sh", "-c", "exit 3"))[:12]
    docker("wait", live.name("om-exited"))
    deadline = time.monotonic() + 30
    while True:
        content_type, body = await scrape(client, PROMETHEUS_ACCEPT)
        families = {f.name: f for f in om_families(body)}
        states = {
            (s.labels["id"], s.labels["state"])
            for s in families["docker_container_state"].samples
            if s.value == 1
        }
        if {(running, "running"), (exited, "exited")} <= states:
            break
        assert time.monotonic() < deadline, "containers not seen in OpenMetrics:\n" + body
        await asyncio.sleep(0.05)
    assert content_type == OM_ALLOW_UTF8
    assert body.endswith("# EOF\n")
    assert families["docker_container"].type == "info"
    assert families["docker_container_restarts"].type == "counter"
    exit_codes = {s.labels["id"]: s.value for s in families["docker_container_exit_code"].samples}
    assert exit_codes[exited] == 3
    assert families["docker_up"].samples[0].value == 1


async def test_both_formats_carry_the_same_series(client: TestClient) -> None:  # type: ignore[type-arg]
    """Sampled back to back from one snapshot version (the body cache serves both)."""
    tries = 50
    for _ in range(tries):  # a publication between the two scrapes changes values: retry
        _, om = await scrape(client, PROMETHEUS_ACCEPT)
        _, text = await scrape(client, "text/plain;version=0.0.4")
        _, again = await scrape(client, PROMETHEUS_ACCEPT)
        if om == again:  # the text scrape, between two equal ones, saw the same version
            break
    else:
        pytest.fail(
            f"no stable pair in {tries} tries: a publication landed between every two "
            "OpenMetrics scrapes, so the formats were never compared on one version"
        )
    ours, theirs = series(om_families(om)), series(text_families(text))
    assert ours.keys() == theirs.keys()
    differing = {k for k in ours if ours[k] != theirs[k] and "process_" not in k[0]}
    assert not differing

"""A real Prometheus scrapes the live exporter: Prometheus 3.5 (what users run) and
Debian 12's 2.42. Every scrape's request and reply are recorded at the exporter: the
exact Accept header each version sends, the reply's Content-Type with its `escaping=`,
and the samples served, which must equal Prometheus' own `scrape_samples_scraped` for
that scrape (nothing dropped or rejected) and the text body's sample count."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from conftest import TESTBED_LIMIT, LiveDocker, because, live_settings, until
from prometheus3 import ACCEPT_2, ACCEPT_3_4, OM_ALLOW_UTF8, prometheus2, prometheus3

from exporter.cli.app import build_app
from exporter.web.http import INVENTORY

pytestmark = pytest.mark.integration
OM = "application/openmetrics-text; version=1.0.0; charset=utf-8"
INTERVAL = 1.0


@dataclass(frozen=True)
class Scrape:
    at: float
    accept: str
    content_type: str
    encoding: str
    samples: int


def samples(body: bytes) -> int:
    return sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    def __init__(self, base: str) -> None:
        self.base = base

    def _get(self, expr: str) -> Any:
        url = f"{self.base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            doc = json.load(resp)
        assert doc["status"] == "success", doc
        return doc["data"]["result"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        try:
            return list(await asyncio.to_thread(self._get, expr))
        except OSError:  # not listening yet
            return []


@dataclass
class Bed:
    prom: Prometheus
    client: TestClient  # type: ignore[type-arg]
    scrapes: list[Scrape]


@pytest.fixture(name="bed")
async def fixture_bed(
    live: LiveDocker, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Bed]:
    """Two containers of this test, the exporter keeping only them (a series count other
    helpers' containers do not move), a recorder of every Prometheus scrape, and
    Prometheus (`request.param`: binary, extra scrape-config keys) every second."""
    binary, job_extra = request.param
    live.run("a")
    live.run("b")
    settings = live_settings(
        collectors=("containers", "stats"),
        stats_interval=INTERVAL,
        container_include=(f"name={live.prefix}-*",),
    )
    app = build_app(settings)
    scrapes: list[Scrape] = []

    async def record(request: Any, response: Any) -> None:
        if not request.headers.get("User-Agent", "").startswith("Prometheus/"):
            return
        body = response.body
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        scrapes.append(
            Scrape(
                time.time(),
                request.headers.get("Accept", ""),
                response.headers.get("Content-Type", ""),
                response.headers.get("Content-Encoding", ""),
                samples(body),
            )
        )

    app.on_response_prepare.append(record)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    async with TestClient(server) as client:
        await until(app[INVENTORY], lambda s: len(s.containers) == 2, timeout=30)
        job = {"job_name": "exp", "static_configs": [{"targets": [f"127.0.0.1:{server.port}"]}]}
        config = {
            "global": {"scrape_interval": f"{INTERVAL:g}s", "scrape_timeout": f"{INTERVAL:g}s"},
            "scrape_configs": [{**job, **job_extra}],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        with (tmp_path / "prometheus.log").open("w") as log:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            try:
                yield Bed(Prometheus(f"http://127.0.0.1:{port}"), client, scrapes)
            finally:
                process.terminate()
                process.wait(timeout=30)


async def wait_for(prom: Prometheus, expr: str, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while not (result := await prom.query(expr)):
        assert time.monotonic() < deadline, f"{expr} never returned data"
        await asyncio.sleep(0.2)
    return result


async def check_scrapes(bed: Bed, up_metric: str) -> list[Scrape]:
    """up == 1; then Prometheus' scrape_samples_scraped of each of its last scrapes
    equals the samples the exporter served to that scrape (matched by time)."""
    await wait_for(bed.prom, f"{up_metric} == 1")
    await wait_for(bed.prom, "count_over_time(scrape_samples_scraped[30s]) >= 4")
    (series,) = await bed.prom.query("scrape_samples_scraped[30s]")
    matched = 0
    for ts, value in series["values"]:
        near = [s for s in bed.scrapes if abs(s.at - float(ts)) < INTERVAL / 2]
        if len(near) != 1:
            continue  # a scrape whose reply time is ambiguous (a loaded machine)
        assert near[0].samples == int(value), (near[0], ts, value)
        matched += 1
    assert matched >= 3, (series["values"], bed.scrapes)
    return bed.scrapes


async def check_text_count(bed: Bed) -> None:
    """The text body (a client with no Accept header) carries as many samples as
    Prometheus ingests from its OpenMetrics scrape: once stats are in (every series
    present), the two agree at the next scrape."""
    deadline = time.monotonic() + 60
    while True:
        resp = await bed.client.get("/metrics")
        text = await resp.read()
        assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        before = len(bed.scrapes)
        while len(bed.scrapes) == before:
            await asyncio.sleep(0.05)
        if bed.scrapes[-1].samples == samples(text):
            break
        assert time.monotonic() < deadline, (samples(text), bed.scrapes[-3:])
    latest = await wait_for(bed.prom, "scrape_samples_scraped")
    assert int(latest[0]["value"][1]) > 0


@pytest.mark.parametrize(
    "bed",
    [
        pytest.param(
            (prometheus3(), {}),
            id="prometheus-3.5",
            marks=pytest.mark.skipif(
                prometheus3() is None,
                reason=because(TESTBED_LIMIT, "Prometheus 3.5 not fetched: scripts/testbed"),
            ),
        )
    ],
    indirect=True,
)
async def test_prometheus_3_5_ingests_every_sample_with_escaping_in_the_reply(bed: Bed) -> None:
    scrapes = await check_scrapes(bed, "up")
    for scrape in scrapes:
        assert scrape.accept == ACCEPT_3_4  # 3.5's exact header, as field-2026.md §1.1 has it
        assert scrape.content_type == OM_ALLOW_UTF8
        assert scrape.encoding == "gzip"
    await check_text_count(bed)
    # UNIT lines reach Prometheus' metadata
    meta = await asyncio.to_thread(
        urllib.request.urlopen,
        f"{bed.prom.base}/api/v1/metadata?metric=docker_container_cpu_usage_seconds",
    )
    doc = json.load(meta)
    assert doc["data"]["docker_container_cpu_usage_seconds"][0]["unit"] == "seconds"


@pytest.mark.parametrize(
    "bed",
    [
        pytest.param(
            (prometheus3(), {"metric_name_escaping_scheme": "dots"}),
            id="prometheus-3.5-dots",
            marks=pytest.mark.skipif(
                prometheus3() is None,
                reason=because(TESTBED_LIMIT, "Prometheus 3.5 not fetched: scripts/testbed"),
            ),
        )
    ],
    indirect=True,
)
async def test_prometheus_3_5_with_dots_escaping_gets_and_stores_dotted_names(bed: Bed) -> None:
    """`metric_name_escaping_scheme: dots`: Prometheus asks for `escaping=dots` and stores
    the names as served (`docker__container__info`), as from any client library."""
    scrapes = await check_scrapes(bed, "up")
    for scrape in scrapes:
        assert scrape.accept == ACCEPT_3_4.replace("allow-utf-8", "dots")
        assert scrape.content_type == f"{OM}; escaping=dots"
    await wait_for(bed.prom, "docker__container__info")
    assert not await bed.prom.query("docker_container_info")


@pytest.mark.parametrize(
    "bed",
    [
        pytest.param(
            (prometheus2(), {}),
            id="prometheus-2.42",
            marks=pytest.mark.skipif(
                prometheus2() is None,
                reason=because(TESTBED_LIMIT, "Debian 12's prometheus not installed"),
            ),
        )
    ],
    indirect=True,
)
async def test_prometheus_2_42_ingests_every_sample(bed: Bed) -> None:
    scrapes = await check_scrapes(bed, "up")
    for scrape in scrapes:
        assert scrape.accept == ACCEPT_2
        assert scrape.content_type == f"{OM}; escaping=underscores"
    await check_text_count(bed)

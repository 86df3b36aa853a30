"""HTTP endpoints of the whole app, wired to the fake engine."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import FakeClock, FakeEngine, inspect_payload, load_json, until

from exporter.cli.app import build_app
from exporter.cli.settings import Settings
from exporter.collectors import COLLECTORS, Options
from exporter.inventory.store import Inventory
from exporter.render.exposition import Exposition
from exporter.web import http, pages
from exporter.web.http import EXPOSITION, INVENTORY, make_app

A = "a" * 64
B = "b" * 64


@pytest.fixture(name="client")
async def fixture_client(fake_engine: FakeEngine, clock: FakeClock) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    fake_engine.add(inspect_payload(cid=A, Name="/alpha"))
    fake_engine.add(load_json("inspect_exited.json"))
    settings = Settings(collectors=tuple(COLLECTORS))
    app = build_app(settings, lambda: fake_engine, clock)
    async with TestClient(TestServer(app)) as client:
        await until(app[INVENTORY], lambda s: s.status.synced)
        yield client
    assert fake_engine.closed


async def test_metrics_text(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await resp.text()
    assert 'docker_container_state{id="aaaaaaaaaaaa",name="alpha",state="running"} 1.0' in text
    assert "docker_up 1.0" in text
    assert "process_cpu_seconds_total" in text


async def test_metrics_openmetrics_and_gzip(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get(
        "/metrics",
        headers={
            "Accept": "application/openmetrics-text; version=1.0.0",
            "Accept-Encoding": "gzip",
        },
    )
    assert resp.headers["Content-Encoding"] == "gzip"
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await resp.text()).rstrip().endswith("# EOF")


async def test_collect_and_exclude_together_is_400(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get("/metrics?collect[]=engine&exclude[]=events")
    assert resp.status == 400
    resp = await client.get("/metrics?collect[]=nosuch")
    assert resp.status == 400


async def test_inventory_document(client: TestClient) -> None:  # type: ignore[type-arg]
    doc = await (await client.get("/inventory")).json()
    assert doc["engine"]["version"].startswith("20.10")
    names = [c["name"] for c in doc["containers"]]
    assert names == ["alpha", "rec-exited"]
    alpha = doc["containers"][0]
    assert alpha["health"]["status"] == "healthy"
    assert alpha["limits"]["memory_bytes"] == 64 * 1024 * 1024
    assert alpha["mounts"][0]["type"] == "volume"
    assert alpha["networks"][0]["aliases"] == ["search"]


async def test_inventory_never_contains_environment(client: TestClient) -> None:  # type: ignore[type-arg]
    for path in ("/inventory", "/inventory/containers/alpha", "/metrics"):
        text = await (await client.get(path)).text()
        assert "hunter2" not in text
        assert "SECRET_TOKEN" not in text


async def test_inventory_filters(client: TestClient) -> None:  # type: ignore[type-arg]
    doc = await (await client.get("/inventory?state=exited")).json()
    assert [c["name"] for c in doc["containers"]] == ["rec-exited"]
    doc = await (await client.get("/inventory?label=com.docker.compose.service=web")).json()
    assert [c["name"] for c in doc["containers"]] == ["alpha"]
    doc = await (await client.get("/inventory?name=alp")).json()
    assert [c["name"] for c in doc["containers"]] == ["alpha"]
    assert (await client.get("/inventory?state=bogus")).status == 400


async def test_one_container_by_name_id_or_prefix(client: TestClient) -> None:  # type: ignore[type-arg]
    for ref in ("alpha", A, A[:12]):
        resp = await client.get(f"/inventory/containers/{ref}")
        assert resp.status == 200, ref
        assert (await resp.json())["id"] == A
    assert (await client.get("/inventory/containers/nope")).status == 404


async def test_health_ready_landing(client: TestClient) -> None:  # type: ignore[type-arg]
    assert (await client.get("/-/healthy")).status == 200
    assert (await client.get("/-/ready")).status == 200
    landing = await client.get("/")
    assert landing.status == 200
    assert 'href="/metrics"' in await landing.text()


async def test_unknown_path_and_wrong_method(client: TestClient) -> None:  # type: ignore[type-arg]
    assert (await client.get("/nope")).status == 404
    assert (await client.post("/metrics", data=b"x")).status == 405
    assert (await client.delete("/inventory")).status == 405
    assert (await client.head("/metrics")).status == 200


async def test_not_ready_and_up_zero_when_engine_down(clock: FakeClock) -> None:
    """The endpoint keeps serving with docker_up 0 when the engine never answered."""
    engine = FakeEngine()
    engine.down = True
    app = build_app(Settings(collectors=tuple(COLLECTORS)), lambda: engine, clock)
    async with TestClient(TestServer(app)) as client:
        await until(app[INVENTORY], lambda s: s.version > 0)
        assert (await client.get("/-/ready")).status == 503
        text = await (await client.get("/metrics")).text()
        assert "docker_up 0.0" in text
        assert "docker_exporter_event_stream_up 0.0" in text


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("gzip, deflate", True),
        ("deflate, gzip;q=0.5", True),
        ("GZIP;q=1.0", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0", False),
        ("gzip;q=nonsense", False),
        ("identity", False),
        ("", False),
    ],
)
def test_accept_encoding_q_values(header: str, expected: bool) -> None:
    from exporter.web.http import wants_gzip

    assert wants_gzip(header) is expected


async def test_a_crashing_background_loop_is_logged_and_restarted(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in a loop must not silently freeze the inventory: log it, restart it."""
    import asyncio

    from exporter.cli.app import RESTART_DELAY, supervise

    runs: list[int] = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("boom")
        await asyncio.Event().wait()  # the second run keeps going

    task = asyncio.create_task(supervise("flaky", flaky, clock))
    for _ in range(10_000):  # until the supervisor waits to restart it
        if clock.sleeps:
            break
        await asyncio.sleep(0)
    assert clock.sleeps == [RESTART_DELAY]
    assert len(runs) == 1
    (crash,) = [r for r in caplog.records if r.getMessage().startswith("loop crashed")]
    assert crash.loop == "flaky"  # type: ignore[attr-defined]  # context as a field
    assert crash.exc_info is not None  # the traceback goes with it
    await clock.advance(RESTART_DELAY)
    assert len(runs) == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_new_snapshots_are_rendered_in_the_background_only_when_a_scrape_is_due(
    client: TestClient,  # type: ignore[type-arg]
    clock: FakeClock,
) -> None:
    """Issue 25: after Prometheus' first scrape (its timeout header: 10 s, a lower bound of
    its interval) a publication long before the next scrape is not rendered; one within
    the lead before it is."""
    import asyncio

    from exporter.render.formats import OPENMETRICS
    from exporter.render.prewarm import DELAY, LEAD_MIN

    exposition = client.app[EXPOSITION]
    inventory = client.app[INVENTORY]
    headers = {
        "Accept": PROMETHEUS_ACCEPT,
        "Accept-Encoding": "gzip",
        "X-Prometheus-Scrape-Timeout-Seconds": "10",
    }
    assert (await client.get("/metrics", headers=headers)).status == 200
    start = clock.now

    async def rendered(version: int, steps: int = 100) -> bool:
        for _ in range(steps):  # the prewarm waits DELAY on the fake clock, then a thread renders
            if exposition.cached(version, OPENMETRICS, gzipped=True) is not None:
                return True
            await clock.advance(DELAY)
            await asyncio.sleep(0.005)
        return False

    early = inventory.publish()
    assert not await rendered(early.version, 10)  # 9.5 s before the scrape: nobody reads it
    await clock.advance(10 - LEAD_MIN - clock.now + start)
    due = inventory.publish()
    assert await rendered(due.version)


PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


async def test_prometheus_scrape_gets_openmetrics_gzipped(client: TestClient) -> None:  # type: ignore[type-arg]
    """Prometheus' own Accept header, as it sends it on every scrape."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    resp = await client.get(
        "/metrics", headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"] == (  # 2.x asks for no escaping: the default
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"
    )
    assert resp.headers["Content-Encoding"] == "gzip"
    families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
    assert families["docker_container"].type == "info"
    assert families["docker_up"].samples[0].value == 1


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("", "text/plain; version=0.0.4"),
        ("*/*", "text/plain; version=0.0.4"),
        ("text/plain;version=0.0.4", "text/plain; version=0.0.4"),
        ("application/openmetrics-text", "application/openmetrics-text; version=1.0.0"),
        ("application/openmetrics-text;version=1.0.0;q=0.2,text/plain;q=0.5", "text/plain"),
        ("application/openmetrics-text;version=2.0.0", "text/plain; version=0.0.4"),
        ("application/json", "text/plain; version=0.0.4"),
        ("application/openmetrics-text;q=bogus,,;;,text/plain", "text/plain"),
        (
            PROMETHEUS_ACCEPT.replace("version=1.0.0", "version=1.0.0;escaping=allow-utf-8"),
            "application/openmetrics-text; version=1.0.0",
        ),
    ],
)
async def test_format_follows_the_accept_headers_q_values(
    client: TestClient,  # type: ignore[type-arg]
    accept: str,
    content_type: str,
) -> None:
    resp = await client.get("/metrics", headers={"Accept": accept} if accept else {})
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith(content_type)


async def test_health_answers_while_a_render_runs(client: TestClient) -> None:  # type: ignore[type-arg]
    """A scrape whose body is not cached renders in a worker thread: the loop keeps
    serving /-/healthy (and /inventory) meanwhile."""
    import asyncio
    import threading

    exposition = client.app[EXPOSITION]
    started, release = threading.Event(), threading.Event()
    render = exposition.render

    def slow_render(*args: object, **kwargs: object) -> object:
        started.set()
        release.wait(timeout=30)
        return render(*args, **kwargs)  # type: ignore[arg-type]

    exposition.render = slow_render  # type: ignore[method-assign]
    client.app[INVENTORY].publish()  # a new version: nothing cached for it yet
    scrape = asyncio.create_task(client.get("/metrics?collect[]=engine"))
    try:
        while not started.is_set():
            await asyncio.sleep(0.005)
        assert (await client.get("/-/healthy")).status == 200
        assert (await client.get("/inventory")).status == 200
        assert not scrape.done()
    finally:
        release.set()
    assert (await scrape).status == 200


def test_the_pages_the_telemetry_path_is_checked_against_are_the_routed_ones() -> None:
    """exporter.web.pages lists what make_app routes: a new page there, not here, would be
    a path the telemetry path could silently hide."""
    assert tuple(http.PAGES) == pages.PAGES
    app = make_app(Inventory(), Exposition([], Options()), "/metrics")
    routed = {resource.canonical for resource in app.router.resources()}
    assert routed == {*pages.PAGES, pages.LANDING, "/metrics"}
    with pytest.raises(ValueError, match="would hide the /events page"):
        make_app(Inventory(), Exposition([], Options()), "/events")

"""Content negotiation per the spec (prometheus/docs content_negotiation.md): the exact
Accept headers Prometheus 2.x and 3.x send, the reply's Content-Type with `escaping=`,
text 1.0.0, every escaping scheme, `name[]`, and each form's body cached like the rest."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import FakeClock, FakeEngine, inspect_payload, until
from prometheus3 import (
    ACCEPT_2,
    ACCEPT_3_0,
    ACCEPT_3_3,
    ACCEPT_3_4,
    ACCEPT_PROTO_FIRST,
    OM_ALLOW_UTF8,
)
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse

from exporter.cli.app import build_app
from exporter.cli.settings import Settings
from exporter.collectors import COLLECTORS
from exporter.render.formats import (
    OPENMETRICS,
    OPENMETRICS_DOTS,
    TEXT,
    TEXT_DOTS,
    head,
    negotiate,
)
from exporter.web.http import EXPOSITION, INVENTORY

OM = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT_0 = "text/plain; version=0.0.4; charset=utf-8"
TEXT_1 = "text/plain; version=1.0.0; charset=utf-8"
A = "a" * 64


@pytest.mark.parametrize(
    ("accept", "form", "content_type"),
    [
        pytest.param(ACCEPT_3_4, OPENMETRICS, OM_ALLOW_UTF8, id="prometheus-3.4+"),
        pytest.param(ACCEPT_3_3, OPENMETRICS, OM_ALLOW_UTF8, id="prometheus-3.2.1-3.3"),
        pytest.param(ACCEPT_3_0, OPENMETRICS, OM_ALLOW_UTF8, id="prometheus-3.0-3.2.0"),
        pytest.param(ACCEPT_PROTO_FIRST, OPENMETRICS, OM_ALLOW_UTF8, id="proto-first"),
        pytest.param(ACCEPT_2, OPENMETRICS, f"{OM}; escaping=underscores", id="prometheus-2"),
        # scrape_protocols: [PrometheusText1.0.0, PrometheusText0.0.4] (3.4+)
        pytest.param(
            "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=0.0.4;q=0.5,"
            "*/*;q=0.4",
            TEXT,
            f"{TEXT_1}; escaping=allow-utf-8",
            id="text-1.0.0-first",
        ),
        # scrape_protocols: [PrometheusText0.0.4] on 3.0-3.3 (escaping on every clause)
        pytest.param(
            "text/plain;version=0.0.4;escaping=allow-utf-8;q=0.6,*/*;q=0.5",
            TEXT,
            TEXT_0,
            id="text-0.0.4-with-escaping",
        ),
        # metric_name_escaping_scheme: dots / values / underscores (3.4+)
        pytest.param(
            ACCEPT_3_4.replace("allow-utf-8", "dots"),
            OPENMETRICS_DOTS,
            f"{OM}; escaping=dots",
            id="om-dots",
        ),
        pytest.param(
            ACCEPT_3_4.replace("allow-utf-8", "values"),
            OPENMETRICS,
            f"{OM}; escaping=values",
            id="om-values",
        ),
        pytest.param(
            ACCEPT_3_4.replace("allow-utf-8", "underscores"),
            OPENMETRICS,
            f"{OM}; escaping=underscores",
            id="om-underscores",
        ),
        pytest.param(
            "text/plain;version=1.0.0;escaping=dots",
            TEXT_DOTS,
            f"{TEXT_1}; escaping=dots",
            id="text-dots",
        ),
        pytest.param(
            "text/plain;version=1.0.0;escaping=bogus",
            TEXT,
            f"{TEXT_1}; escaping=underscores",
            id="unknown-scheme-is-underscores",
        ),
        pytest.param(
            "text/plain;version=1.0.0",
            TEXT,
            f"{TEXT_1}; escaping=underscores",
            id="text-1.0.0-no-escaping",
        ),
        pytest.param(
            "application/openmetrics-text",
            OPENMETRICS,
            f"{OM}; escaping=underscores",
            id="om-unversioned",
        ),
        pytest.param(
            "application/openmetrics-text;version=2.0.0", TEXT, TEXT_0, id="om-2-not-served"
        ),
        pytest.param("", TEXT, TEXT_0, id="no-accept"),
        pytest.param("*/*", TEXT, TEXT_0, id="anything"),
        pytest.param("text/plain", TEXT, TEXT_0, id="text-unversioned"),
        pytest.param(
            "application/openmetrics-text;version=1.0.0;escaping=dots;q=0,text/plain",
            TEXT,
            TEXT_0,
            id="q0-refused",
        ),
    ],
)
def test_reply_for_each_accept_header(accept: str, form: str, content_type: str) -> None:
    reply = negotiate(accept)
    assert (reply.form, reply.content_type) == (form, content_type)


@pytest.fixture(name="client")
async def fixture_client(fake_engine: FakeEngine, clock: FakeClock) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    fake_engine.add(inspect_payload(cid=A, Name="/alpha"))
    app = build_app(Settings(collectors=tuple(COLLECTORS)), lambda: fake_engine, clock)
    async with TestClient(TestServer(app)) as client:
        await until(app[INVENTORY], lambda s: s.status.synced)
        yield client


async def get(
    client: TestClient,  # type: ignore[type-arg]
    accept: str,
    query: str = "",
    gz: bool = True,
    timeout: str = "",
) -> tuple[str, str]:
    headers = {"Accept": accept, "Accept-Encoding": "gzip" if gz else "identity"}
    if timeout:  # Prometheus' own header: the prewarm's cadence learns from it
        headers["X-Prometheus-Scrape-Timeout-Seconds"] = timeout
    resp = await client.get(f"/metrics{query}", headers=headers)
    assert resp.status == 200
    assert resp.headers.get("Content-Encoding") == ("gzip" if gz else None)
    return resp.headers["Content-Type"], await resp.text()


async def test_prometheus_3_gets_openmetrics_with_its_escaping(client: TestClient) -> None:  # type: ignore[type-arg]
    content_type, body = await get(client, ACCEPT_3_4)
    assert content_type == OM_ALLOW_UTF8
    families = {f.name: f for f in om_parse(body)}
    assert families["docker_up"].samples[0].value == 1
    assert families["docker_container_cpu_usage_seconds"].unit == "seconds"
    assert "# UNIT docker_container_memory_usage_bytes bytes\n" in body


async def test_text_1_0_0_is_the_text_body_under_its_own_content_type(client: TestClient) -> None:  # type: ignore[type-arg]
    ct_0, text_0 = await get(client, "text/plain;version=0.0.4")
    ct_1, text_1 = await get(client, "text/plain;version=1.0.0;escaping=allow-utf-8")
    assert (ct_0, ct_1) == (TEXT_0, f"{TEXT_1}; escaping=allow-utf-8")
    assert _without_volatile(text_1) == _without_volatile(text_0)
    assert "# UNIT" not in text_1  # text formats have no UNIT line


async def test_dots_escapes_every_name_in_both_syntaxes(client: TestClient) -> None:  # type: ignore[type-arg]
    ct, om = await get(client, ACCEPT_3_4.replace("allow-utf-8", "dots"))
    assert ct == f"{OM}; escaping=dots"
    names = {f.name for f in om_parse(om)}
    assert "docker__up" in names
    assert not any("_" in n.replace("__", "") for n in names), names
    labels = {k for f in om_parse(om) for s in f.samples for k in s.labels}
    assert "id" in labels
    assert not any("_" in k.replace("__", "") for k in labels), labels
    ct, text = await get(client, "text/plain;version=1.0.0;escaping=dots", gz=False)
    assert ct == f"{TEXT_1}; escaping=dots"
    assert {f.name for f in text_parse(text)} >= {"docker__up", "docker__container__info"}


@pytest.mark.parametrize("query", ["?name[]=docker_up", "?name[]=docker_up&collect[]=engine"])
async def test_name_filter_selects_families_by_name(client: TestClient, query: str) -> None:  # type: ignore[type-arg]
    _, body = await get(client, ACCEPT_3_4, query)
    assert [f.name for f in om_parse(body)] == ["docker_up"]


async def test_name_filter_takes_go_and_python_names(client: TestClient) -> None:  # type: ignore[type-arg]
    """client_golang matches the Go family name (`..._total`, `..._info`), client_python
    sample names (the same for these): either selects the whole family; OpenMetrics'
    family name (without `_total`) is neither library's; an unknown name selects nothing
    (no error)."""
    names = [
        "docker_events_total",
        "docker_container_info",
        "docker_container_cpu_usage_seconds",
        "no_such_metric",
    ]
    query = "?" + "&".join(f"name[]={n}" for n in names)
    _, body = await get(client, ACCEPT_3_4, query)
    assert {f.name for f in om_parse(body)} == {"docker_events", "docker_container"}
    _, text = await get(client, "text/plain", "?name[]=docker_container_info", gz=False)
    assert [f.name for f in text_parse(text)] == ["docker_container_info"]


def test_a_histogram_is_selected_whole_by_its_go_or_any_python_name() -> None:
    """client_golang names a histogram family by its own name, client_python by its
    samples' (`_bucket`, `_sum`, `_count`): any of them selects all of it."""
    names = head("docker_x_seconds", "histogram", "doc", "seconds").names
    assert names == {f"docker_x_seconds{s}" for s in ("", "_bucket", "_sum", "_count")}
    assert head("docker_x", "counter", "doc").names == {"docker_x_total"}
    assert head("docker_x", "info", "doc").names == {"docker_x_info"}


async def test_each_form_is_cached_and_prewarmed_like_the_others(client: TestClient) -> None:  # type: ignore[type-arg]
    exposition = client.app[EXPOSITION]
    inventory = client.app[INVENTORY]
    snap = inventory.snapshot
    # a scrape timeout within the prewarm's lead: the next one is due at once
    await get(client, ACCEPT_3_4.replace("allow-utf-8", "dots"), timeout="0.5")
    cached = exposition.cached(snap.version, OPENMETRICS_DOTS, gzipped=True)
    assert cached is not None
    assert exposition.cached(snap.version, OPENMETRICS_DOTS, gzipped=True) is cached
    assert b"docker__up" in gzip.decompress(cached.data)
    # a filtered scrape is neither cached nor remembered for the prewarm
    await get(client, "text/plain;version=1.0.0;escaping=dots", "?name[]=docker_up")
    # the next version's prewarm renders the form a client asked for, and only those
    later = inventory.publish()
    assert exposition.prewarm(later) == later.version
    assert exposition.cached(later.version, OPENMETRICS_DOTS, gzipped=True) is not None
    assert exposition.cached(later.version, TEXT_DOTS, gzipped=True) is None


def _without_volatile(body: str) -> list[str]:
    """Lines that do not move between two scrapes (process CPU and memory do)."""
    return [line for line in body.splitlines() if not line.startswith("process_")]

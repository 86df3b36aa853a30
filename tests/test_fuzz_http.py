"""Junk requests to every route of /openapi.json (and off it), hypothesis-driven: odd
methods, paths, query parameters and headers. No request may get a 5xx, kill the server
or reach the engine with anything but GET; a documented route answers in its documented
content type when it answers 200.

(schemathesis installs cleanly here, but runs against a URL through `requests` with a
sync server; this covers the same ground, every documented path and parameter plus junk,
inside the test process and its time budget.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import FakeEngine, inspect_payload, load_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.cli.app import build_app
from exporter.cli.settings import Settings
from exporter.collectors import COLLECTORS
from exporter.web.http import INVENTORY

SPEC = json.loads((Path(__file__).parent.parent / "exporter/web/openapi.json").read_text())
A = "a" * 64


@pytest.fixture(name="served", scope="module")
def fixture_served() -> Iterator[tuple[asyncio.AbstractEventLoop, TestClient, FakeEngine]]:  # type: ignore[type-arg]
    """One app for every example (a fresh one per example would be most of the time):
    its own loop, driven by run_until_complete from the sync hypothesis test."""
    loop = asyncio.new_event_loop()
    engine = FakeEngine()
    engine.add(inspect_payload(cid=A, Name="/alpha"))
    engine.add(load_json("inspect_exited.json"))
    engine.add_recorded_objects()
    app = build_app(Settings(collectors=tuple(COLLECTORS)), lambda: engine)
    client: TestClient = TestClient(TestServer(app), loop=loop)  # type: ignore[type-arg]
    loop.run_until_complete(client.start_server())

    async def synced() -> None:
        while not app[INVENTORY].snapshot.status.synced:
            await asyncio.sleep(0.01)

    loop.run_until_complete(asyncio.wait_for(synced(), 30))
    try:
        yield loop, client, engine
    finally:
        loop.run_until_complete(client.close())
        loop.close()


def _param_values(param: dict[str, Any]) -> st.SearchStrategy[str]:
    schema = param.get("schema", {})
    junk = st.text(max_size=30)
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) | junk
    items = schema.get("items", {})
    if "enum" in items:
        return st.sampled_from(items["enum"]) | junk
    return junk | st.sampled_from(["alpha", "a" * 12, "key=value", "=", "running"])


def _documented() -> st.SearchStrategy[tuple[str, list[tuple[str, str]]]]:
    """A documented path (parameters filled in) with documented and junk query params."""
    options = []
    for path, methods in SPEC["paths"].items():
        params = methods.get("get", {}).get("parameters", [])
        query = [p for p in params if p.get("in") == "query"]
        segments = [p for p in params if p.get("in") == "path"]
        fill = st.fixed_dictionaries({p["name"]: _param_values(p) for p in segments})
        pairs = st.lists(
            st.one_of(
                *(st.tuples(st.just(p["name"]), _param_values(p)) for p in query),
                st.tuples(st.text(max_size=8), st.text(max_size=12)),
            )
            if query
            else st.tuples(st.text(max_size=8), st.text(max_size=12)),
            max_size=4,
        )
        options.append(
            st.tuples(
                fill.map(
                    lambda f, path=path: path.format(**{k: quote(v, safe="") for k, v in f.items()})
                ),
                pairs,
            )
        )
    return st.one_of(*options)


junk_paths = st.one_of(
    st.sampled_from(["/", "/metrics/", "/inventory/", "/inventory/containers/", "/-/", "//"]),
    st.text(alphabet=st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=40).map(
        lambda t: "/" + quote(t, safe="/?&=%[]")
    ),
)
methods = st.sampled_from(
    ["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO"]
)
header_names = st.sampled_from(
    [
        "Accept",
        "Accept-Encoding",
        "Authorization",
        "X-Forwarded-For",
        "If-None-Match",
        "Range",
        "X-Junk",
    ]
)
header_values = st.one_of(
    st.sampled_from(
        [
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            "application/openmetrics-text; version=9",
            "text/plain;q=nan",
            "gzip, deflate, br",
            "gzip;q=0",
            "*/*;q=2",
            "bytes=0-1",
        ]
    ),
    st.text(alphabet=st.characters(codec="latin-1", exclude_categories=("Cc",)), max_size=60),
)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(_documented(), st.tuples(junk_paths, st.just([]))),
    methods,
    st.dictionaries(header_names, header_values, max_size=4),
)
def test_junk_requests_never_get_a_5xx(
    served: tuple[asyncio.AbstractEventLoop, TestClient, FakeEngine],  # type: ignore[type-arg]
    target: tuple[str, list[tuple[str, str]]],
    method: str,
    headers: dict[str, str],
) -> None:
    loop, client, engine = served
    path, query = target
    calls = len(engine.calls)

    async def send() -> tuple[int, str, bytes]:
        resp = await client.request(
            method, path, params=query, headers=headers, allow_redirects=False
        )
        body = await resp.read()
        return resp.status, resp.headers.get("Content-Type", ""), body

    status, content_type, _ = loop.run_until_complete(send())
    assert status < 500, (method, path, query, headers, status)
    documented = SPEC["paths"].get(path.split("?")[0])
    if status == 200 and method == "GET" and documented:
        kinds = documented["get"]["responses"]["200"].get("content", {})
        assert not kinds or any(content_type.startswith(k.split(";")[0]) for k in kinds), (
            path,
            content_type,
        )
    assert all(not c.startswith(("POST", "PUT", "DELETE")) for c in engine.calls[calls:])

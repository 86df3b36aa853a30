"""/openapi.json describes every JSON document, and the documents served match it exactly.

The schemas are strict (`additionalProperties: false`, every field required), so a
field added to a view without its description fails here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import FakeClock, FakeEngine, load_json, until
from jsonschema import Draft202012Validator, ValidationError

from exporter.cli.app import build_app
from exporter.cli.settings import Settings
from exporter.collectors import COLLECTORS
from exporter.web.http import INVENTORY

DOC: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "exporter" / "web" / "openapi.json").read_text()
)
ES2 = "bb0e8f8f880b807511b197be1a0a697f8cac173c20fb094fe6e79d549d81ff6d"


def response_schema(path: str, status: int) -> dict[str, Any]:
    """The documented JSON schema of one response, with the components it refers to."""
    response = DOC["paths"][path]["get"]["responses"][str(status)]
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return {**schema, "components": DOC["components"]}


def validate_response(path: str, status: int, body: Any) -> None:
    """Raise ValidationError when `body` is not what /openapi.json promises for it."""
    Draft202012Validator(response_schema(path, status)).validate(body)


@pytest.fixture(name="client")
async def fixture_client(fake_engine: FakeEngine, clock: FakeClock) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    """The whole app on the recorded objects, with the opt-in top poller and disk-usage
    sampler wired in by the app (`--collector.top`, `--collector.volume_sizes`)."""
    fake_engine.add_recorded_objects()
    for name in ("inspect_alias.json", "inspect_ports.json", "inspect_exited.json"):
        fake_engine.add(load_json(name))
    fake_engine.add(load_json("inspect_running.json"))
    fake_engine.top_docs = {ES2: load_json("top.json")}
    assert {"top", "volume_sizes"} <= set(COLLECTORS)
    app = build_app(Settings(collectors=tuple(COLLECTORS)), lambda: fake_engine, clock)
    async with TestClient(TestServer(app)) as client:
        inventory = app[INVENTORY]
        await until(inventory, lambda s: s.status.synced)
        for _ in range(10):  # the poller lists one container per step, every 60 s / 3
            if ES2 in inventory.snapshot.processes:
                break
            await clock.advance(20.0)
        assert ES2 in inventory.snapshot.processes
        assert inventory.snapshot.disk_usage is not None
        yield client


def test_document_is_openapi_3_1_with_valid_schemas() -> None:
    assert DOC["openapi"] == "3.1.0"
    for schema in DOC["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    refs = {m for m in json.dumps(DOC).split('"') if m.startswith("#/components/schemas/")}
    assert {r.rsplit("/", 1)[1] for r in refs} <= set(DOC["components"]["schemas"])


def test_every_route_is_described(fake_engine: FakeEngine, clock: FakeClock) -> None:
    """Nothing served by the app is missing from the description, and nothing extra is in it."""
    app = build_app(Settings(collectors=tuple(COLLECTORS)), lambda: fake_engine, clock)
    served = {
        route.resource.canonical
        for route in app.router.routes()
        if route.method == "GET" and route.resource is not None
    }
    assert served - {"/"} == set(DOC["paths"])


async def test_inventory_matches_its_schema(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get("/inventory")
    body = await resp.json()
    validate_response("/inventory", 200, body)
    assert {"containers", "images", "networks", "volumes", "engine"} <= set(body)
    assert any(c["processes"] for c in body["containers"])
    assert any(v["size_bytes"] is not None for v in body["volumes"])


async def test_filtered_inventory_and_bad_filter(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get("/inventory", params=[("state", "running"), ("label", "team")])
    validate_response("/inventory", 200, await resp.json())
    resp = await client.get("/inventory?state=sleeping")
    assert resp.status == 400
    validate_response("/inventory", 400, await resp.json())


async def test_one_container_matches_its_schema(client: TestClient) -> None:  # type: ignore[type-arg]
    for ref in ("dxt-rec-es2", "dxt-rec-web", "rec-exited", ES2[:12]):
        resp = await client.get(f"/inventory/containers/{ref}")
        assert resp.status == 200, ref
        validate_response("/inventory/containers/{ref}", 200, await resp.json())
    resp = await client.get("/inventory/containers/nosuch")
    assert resp.status == 404
    validate_response("/inventory/containers/{ref}", 404, await resp.json())


async def test_topology_matches_its_schema(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get("/topology")
    body = await resp.json()
    validate_response("/topology", 200, body)
    assert body["nodes"]
    assert body["edges"]


async def test_openapi_is_served(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert await resp.json() == DOC


def test_schemas_are_strict() -> None:
    """An undocumented field is an error: the description cannot drift from the code."""
    volume = {
        "name": "v",
        "driver": "local",
        "scope": "local",
        "mountpoint": "/x",
        "created": None,
        "labels": {},
        "size_bytes": None,
        "ref_count": None,
        "containers": [],
    }
    schema = {"$ref": "#/components/schemas/Volume", "components": DOC["components"]}
    Draft202012Validator(schema).validate(volume)
    with pytest.raises(ValidationError):
        Draft202012Validator(schema).validate({**volume, "options": {"password": "x"}})
    with pytest.raises(ValidationError):
        Draft202012Validator(schema).validate({k: v for k, v in volume.items() if k != "driver"})

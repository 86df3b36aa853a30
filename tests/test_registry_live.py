"""The registry collector against real registries (Debian's docker-registry 2.8) on
loopback, images pushed through the live engine: anonymous, htpasswd after `docker
login`, TLS trusted through a certs.d directory, and a token server; a registry that
stops, answers garbage or hangs. No credential appears in any output."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import LiveDocker, docker, live_settings, until
from prometheus_client.parser import text_string_to_metric_families
from registryd import (
    Registry,
    TokenServer,
    basic,
    catalog,
    docker_login,
    htpasswd,
    make_ca,
    not_after,
    push,
    read_api,
    registry,
    require_registry_binary,
    server_cert,
)
from test_openapi import validate_response

from exporter.cli.app import build_app
from exporter.clock import SystemClock
from exporter.inventory.store import Inventory, Snapshot
from exporter.registry.client import RegistryClient
from exporter.registry.config import RegistryTarget
from exporter.registry.models import RegistrySnapshot
from exporter.registry.poller import RegistryPoller
from exporter.web.http import INVENTORY

pytestmark = [pytest.mark.integration, pytest.mark.registry]

COLLECTORS = ("engine", "events", "images", "registry", "image_updates")


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_registry_binary()


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, metric: str, **labels: str) -> float | None:
    for (name, labelset), got in samples.items():
        if name == metric and set(labels.items()) <= labelset:
            return got
    return None


class Exporter:
    """The whole app on the live engine, watching registries."""

    def __init__(self, client: TestClient, inventory: Inventory) -> None:  # type: ignore[type-arg]
        self.client = client
        self.inventory = inventory
        self.texts: list[str] = []

    async def text(self, path: str = "/metrics") -> str:
        resp = await self.client.get(path)
        assert resp.status == 200
        text = await resp.text()
        self.texts.append(text)
        return text

    async def samples(self) -> Samples:
        return parse(await self.text())

    async def inventory_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(await self.text("/inventory"))
        validate_response("/inventory", 200, doc)
        return doc

    async def registry(
        self, name: str, predicate: Callable[[RegistrySnapshot], bool], timeout: float = 30.0
    ) -> RegistrySnapshot:
        def ready(s: Snapshot) -> bool:
            return name in s.registries and predicate(s.registries[name])

        snapshot = await until(self.inventory, ready, timeout)
        return snapshot.registries[name]


def registry_settings(**chosen: Any) -> dict[str, Any]:
    """The registry settings (Settings fields: registry_urls=..., ...), with a test's
    interval and timeout unless given."""
    chosen.setdefault("registry_interval", 1.0)  # below the flag's 5 s floor: tests only
    chosen.setdefault("registry_timeout", 3.0)
    return chosen


@asynccontextmanager
async def exporter(**chosen: Any) -> AsyncIterator[Exporter]:
    settings = live_settings(collectors=COLLECTORS, **registry_settings(**chosen))
    app = build_app(settings)
    async with TestClient(TestServer(app)) as client:
        await until(app[INVENTORY], lambda s: s.status.synced, timeout=30)
        yield Exporter(client, app[INVENTORY])


def assert_matches_the_api(samples: Samples, name: str, truth: dict[str, list[str]]) -> None:
    """Repository and tag counts equal what /v2/_catalog and /tags/list say."""
    assert value(samples, "docker_registry_up", registry=name) == 1
    assert value(samples, "docker_registry_repositories", registry=name) == len(truth)
    for repository, tags in truth.items():
        got = value(samples, "docker_registry_tags", registry=name, repository=repository)
        assert got == len(tags), repository
    listed = {
        dict(labels)["repository"]
        for (metric, labels) in samples
        if metric == "docker_registry_tags" and dict(labels)["registry"] == name
    }
    assert listed == set(truth)


def assert_no_secret(secrets: Iterable[str], outputs: Iterable[str]) -> None:
    """No secret (nor its base64, as a basic Authorization header has it) in any output."""
    forms = set()
    for secret in secrets:
        forms.add(secret)
        forms.add(base64.b64encode(secret.encode()).decode().rstrip("="))
    for output in outputs:
        for form in forms:
            assert form not in output, "a secret leaked"


async def test_anonymous_registry_paging_new_pushes_and_local_images(
    live: LiveDocker, tmp_path: Path
) -> None:
    with registry(tmp_path / "reg") as reg:
        push(reg, "dxt/alpha", "v1")
        push(reg, "dxt/alpha", "v2")
        push(reg, "dxt/beta", "1.0")
        async with exporter(registry_urls=(reg.url,)) as ex:
            await ex.registry(reg.name, lambda r: r.up)
            samples = await ex.samples()
            assert_matches_the_api(samples, reg.name, catalog(reg))
            probe = value(samples, "docker_registry_probe_duration_seconds", registry=reg.name)
            assert probe is not None
            assert probe > 0
            assert value(samples, "docker_registry_catalog_truncated", registry=reg.name) == 0
            assert value(samples, "docker_registry_requests_total", registry=reg.name, code="200")
            assert value(samples, "docker_registry_certificate_expiry_timestamp_seconds") is None

            # a new push appears within an interval; the engine's push event is counted
            reference = live.tag("busybox:local", f"{reg.name}/dxt/gamma:new")
            docker("push", "-q", reference)
            seen = await ex.registry(
                reg.name, lambda r: "dxt/gamma" in {x.name for x in r.repositories}, 15
            )
            assert seen.up
            samples = await ex.samples()
            assert_matches_the_api(samples, reg.name, catalog(reg))
            deadline = time.monotonic() + 15
            while not value(samples, "docker_image_pushes_total", registry=reg.name):
                assert time.monotonic() < deadline, "push event not counted"
                await asyncio.sleep(0.05)
                samples = await ex.samples()

            # /inventory: repositories with their tags, and the local image carrying a tag
            # (the watcher re-lists images on the tag event, in the background)
            try:
                await until(
                    ex.inventory,
                    lambda s: any(reference in i.repo_tags for i in s.images.values()),
                    timeout=30,
                )
            except TimeoutError:
                tags = sorted(t for i in ex.inventory.snapshot.images.values() for t in i.repo_tags)
                raise AssertionError(f"{reference} not among the listed tags {tags}") from None
            doc = await ex.inventory_doc()
            (entry,) = [r for r in doc["registries"] if r["name"] == reg.name]
            assert entry["auth"] == "anonymous"
            assert {r["name"]: [t["tag"] for t in r["tags"]] for r in entry["repositories"]} == (
                catalog(reg)
            )
            local = {ref for image in entry["local_images"] for ref in image["references"]}
            assert reference in local

        # paging: more repositories than n, the Link header followed to the end
        for name in ("dxt/p1", "dxt/p2", "dxt/p3"):
            push(reg, name, "t")
        truth = catalog(reg)
        assert len(truth) == 6
        for page, bound, truncated in ((2, 1000, False), (4, 6, False), (2, 4, True)):
            poller = poller_for(reg, page_size=page, max_repositories=bound)
            try:
                got = await poller.poll()
            finally:
                await poller.close()
            assert got.up
            assert got.catalog_truncated is truncated
            names = [r.name for r in got.repositories]
            assert names == sorted(truth)[: min(bound, len(truth))]
            assert {r.name: list(r.tags or ()) for r in got.repositories} == {
                n: truth[n] for n in names
            }
            if page == 2 and not truncated:  # 6 names, 2 a page: three catalog pages
                assert got.requests["200"] >= 1 + 3 + 6


def poller_for(reg: Registry, **kwargs: Any) -> RegistryPoller:
    target = RegistryTarget(reg.name, reg.url)
    client = RegistryClient(target, SystemClock(), timeout=5.0)
    return RegistryPoller(client, lambda _s: None, SystemClock(), **kwargs)


async def test_htpasswd_registry_through_docker_login_and_no_password_anywhere(
    live: LiveDocker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "pw-" + base64.b32encode(tmp_path.name.encode()).decode()[:16]
    users = htpasswd(tmp_path / "htpasswd", "alice", password)
    auth = {"htpasswd": {"realm": "dxt", "path": str(users)}}
    with registry(tmp_path / "reg", auth=auth) as reg:
        config = docker_login(tmp_path / "docker-config", reg, "alice", password)
        stored = json.loads(config.read_text())["auths"][reg.name]["auth"]
        push(reg, "dxt/private", "v1", tmp_path / "docker-config")
        push(reg, "dxt/private", "v2", tmp_path / "docker-config")
        truth = catalog(reg, basic("alice", password))
        async with exporter(registry_urls=(reg.url,), registry_docker_config=str(config),
                            registry_manifests=True) as ex:  # fmt: skip
            got = await ex.registry(reg.name, lambda r: r.up)
            assert got.auth == "basic"
            samples = await ex.samples()
            assert_matches_the_api(samples, reg.name, truth)
            size = value(samples, "docker_registry_manifest_size_bytes", registry=reg.name,
                         repository="dxt/private", tag="v1")  # fmt: skip
            manifest = read_api(f"{reg.url}/v2/dxt/private/manifests/v1",
                                basic("alice", password), accept=True)  # fmt: skip
            assert size == manifest["config"]["size"] + sum(x["size"] for x in manifest["layers"])
            await ex.inventory_doc()

        # a wrong password: down, the 401 counted, and still nothing secret anywhere
        wrong = tmp_path / "wrong.yml"
        (tmp_path / "wrong-pw").write_text("not-" + password)
        wrong.write_text(
            f"registries:\n  '{reg.name}':\n    username: alice\n    password_file: wrong-pw\n"
        )
        async with exporter(registry_urls=(reg.url,), registry_config_file=str(wrong)) as bad:
            got = await bad.registry(reg.name, lambda r: r.polled)
            assert not got.up
            assert got.error == "/v2/ answered 401"
            samples = await bad.samples()
            assert value(samples, "docker_registry_up", registry=reg.name) == 0
            assert value(samples, "docker_registry_requests_total", registry=reg.name, code="401")
            await bad.inventory_doc()
    outputs = [*ex.texts, *bad.texts, caplog.text, repr(got)]
    assert_no_secret([password, "not-" + password, stored], outputs)


async def test_tls_registry_trusted_through_a_certs_dir(live: LiveDocker, tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    cert = server_cert(tmp_path / "server", ca)
    with registry(tmp_path / "reg", tls=cert) as reg:
        push(reg, "dxt/secure", "v1")  # the engine skips verification on 127.0.0.0/8
        certs = tmp_path / "certs.d"
        (certs / reg.name).mkdir(parents=True)
        shutil.copy(ca[0], certs / reg.name / "ca.crt")
        async with exporter(registry_urls=(reg.url,), registry_certs_dir=str(certs)) as ex:
            await ex.registry(reg.name, lambda r: r.up)
            samples = await ex.samples()
            assert_matches_the_api(samples, reg.name, catalog(reg, cafile=str(ca[0])))
            expiry = value(
                samples, "docker_registry_certificate_expiry_timestamp_seconds", registry=reg.name
            )
            assert expiry == not_after(cert[0])
        # without the CA, the registry is not trusted: down, with the reason
        async with exporter(registry_urls=(reg.url,), registry_certs_dir=str(tmp_path)) as ex:
            got = await ex.registry(reg.name, lambda r: r.polled)
            assert not got.up
            assert got.error.startswith("TLS certificate not trusted")
            assert got.requests == {"error": 1}


async def test_token_auth_registry_with_the_identity_token_docker_login_stored(
    live: LiveDocker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "tok-pw-" + tmp_path.name[-8:]
    tokens = await TokenServer(tmp_path, "bob", password).start()
    try:
        with registry(tmp_path / "reg", auth=tokens.registry_auth()) as reg:
            # the engine asks our token server (in this loop): CLI calls run in a thread
            config = await asyncio.to_thread(
                docker_login, tmp_path / "docker-config", reg, "bob", password
            )
            assert "identitytoken" in json.loads(config.read_text())["auths"][reg.name]
            for repository, tag in (("dxt/tokened", "v1"), ("dxt/tokened", "v2"), ("dxt/x", "1")):
                await asyncio.to_thread(push, reg, repository, tag, tmp_path / "docker-config")
            truth = await asyncio.to_thread(token_catalog, reg, tokens)
            posts = len([m for m, _ in tokens.requests if m == "POST"])
            async with exporter(registry_urls=(reg.url,), registry_docker_config=str(config)) as ex:
                got = await ex.registry(reg.name, lambda r: r.up)
                assert got.auth == "bearer"
                assert_matches_the_api(await ex.samples(), reg.name, truth)
                await ex.inventory_doc()
                # the refresh token was exchanged (OAuth POST), for the catalog's scope too
                scopes = [s for m, s in tokens.requests[posts:] if m == "POST"]
                assert "registry:catalog:*" in scopes
                assert "repository:dxt/tokened:pull" in scopes
                # a second poll reuses the tokens: no new token request
                count = len(tokens.requests)
                polls = got.last_poll_ts
                await ex.registry(reg.name, lambda r: r.last_poll_ts != polls)
                assert len(tokens.requests) == count
    finally:
        await tokens.stop()
    assert_no_secret(tokens.secrets(), [*ex.texts, caplog.text])


def token_catalog(reg: Registry, tokens: TokenServer) -> dict[str, list[str]]:
    """The catalog read directly, with a token for every scope."""

    def token(scope: str) -> str:
        url = f"{tokens.realm}?service={tokens.SERVICE}&scope={scope}"
        return "Bearer " + str(read_api(url, basic(tokens.user, tokens.password))["token"])

    names = read_api(f"{reg.url}/v2/_catalog", token("registry:catalog:*"))["repositories"]
    return {
        n: sorted(read_api(f"{reg.url}/v2/{n}/tags/list", token(f"repository:{n}:pull"))["tags"])
        for n in names
    }


async def test_a_stopped_registry_is_down_and_the_rest_keeps_serving(
    live: LiveDocker, tmp_path: Path
) -> None:
    with registry(tmp_path / "reg") as reg:
        push(reg, "dxt/stops", "v1")
        async with exporter(registry_urls=(reg.url,)) as ex:
            await ex.registry(reg.name, lambda r: r.up)
            reg.stop()
            got = await ex.registry(reg.name, lambda r: not r.up)
            assert got.error.startswith("cannot connect")
            samples = await ex.samples()
            assert value(samples, "docker_registry_up", registry=reg.name) == 0
            assert value(samples, "docker_up") == 1  # the engine side is untouched
            # the last known repositories stay (no lost series), their age is visible
            assert value(samples, "docker_registry_tags", registry=reg.name, repository="dxt/stops")
            assert value(samples, "docker_registry_requests_total", registry=reg.name, code="error")
            reg.start()
            await ex.registry(reg.name, lambda r: r.up)

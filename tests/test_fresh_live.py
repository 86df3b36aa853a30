"""Issue 22 on the live engine: image freshness against real registries (Debian's
docker-registry on loopback: plain, htpasswd after `docker login`, token server over TLS
trusted through certs.d), a hand-built multi-platform index, the alert in a real
Prometheus; log files by stat against a container printing ~10 MB/s, with and without
rotation. No credential in /metrics, /inventory or the logs."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import shutil
import subprocess
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from conftest import LiveDocker, docker, free_port, live_settings, skip_testbed_limit, until, value
from conftest import parse_samples as parse
from prometheus3 import prometheus2, prometheus3
from registryd import (
    Registry,
    TokenServer,
    docker_login,
    htpasswd,
    make_ca,
    registry,
    require_registry_binary,
    server_cert,
)
from test_openapi import validate_response
from test_pack_live import Prometheus, fast_rules, wait_for
from test_registry_live import assert_no_secret

from exporter.cli.app import build_app
from exporter.collectors import image_updates, logs
from exporter.engine.stats import LogFile
from exporter.inventory.store import Inventory, Snapshot
from exporter.options import Options
from exporter.registry.freshness import ImageUpdate, image_update
from exporter.registry.poller import INDEX_TYPES, MANIFEST_TYPES
from exporter.web.http import INVENTORY

pytestmark = [pytest.mark.integration]
registry_test = pytest.mark.registry
"""The registry runs on the loopback of the test's network namespace: on an engine leg
(its own netns) run these inside it (`ip netns exec dxl-LEG`, see the report of issue 22)."""

COLLECTORS = ("engine", "images", "containers", "registry", "image_updates", "logs")
CHECK_INTERVAL = 2.0
"""Below the flag's 5m floor: tests only (the option is injected, not parsed)."""
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ACCEPT = ", ".join(MANIFEST_TYPES)


@asynccontextmanager
async def exporter(live: LiveDocker, **options: Any) -> AsyncIterator[Any]:
    """The whole app on the live engine, seeing only this test's containers."""
    chosen: dict[Any, Any] = {
        image_updates.CHECK_INTERVAL: CHECK_INTERVAL,
        logs.LOGS_INTERVAL: 1.0,
    }
    fields = {"registry_interval": 1.0, "registry_timeout": 3.0}
    names = {
        "urls": "registry_urls",
        "docker_config": "registry_docker_config",
        "config_file": "registry_config_file",
        "certs_dir": "registry_certs_dir",
    }
    sizes = bool(options.pop("container_sizes", False))
    if "check_running" in options:
        chosen[image_updates.CHECK_RUNNING] = options.pop("check_running")
    fields.update({names[k]: v for k, v in options.items()})
    watched = bool(fields.get("registry_urls"))
    collectors = COLLECTORS if watched else tuple(c for c in COLLECTORS if c != "registry")
    if sizes:  # the opt-in writable-layer sampler, every second (tests only)
        collectors = (*collectors, "container_sizes")
        chosen[logs.SIZES_INTERVAL] = 1.0
    settings = live_settings(
        collectors=collectors,
        options=Options(chosen),
        container_include=(f"name={live.prefix}-*",),
        **fields,
    )
    app = build_app(settings)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    async with TestClient(server) as client:
        await until(app[INVENTORY], lambda s: s.status.synced, timeout=30)
        yield Exported(client, app[INVENTORY], server.port)


class Exported:
    def __init__(self, client: Any, inventory: Inventory, port: int) -> None:
        self.client = client
        self.inventory = inventory
        self.port = port
        self.texts: list[str] = []

    async def text(self, path: str = "/metrics") -> str:
        resp = await self.client.get(path)
        assert resp.status == 200
        text = str(await resp.text())
        self.texts.append(text)
        return text

    async def inventory_doc(self, name: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(await self.text("/inventory"))
        validate_response("/inventory", 200, doc)
        (entry,) = [c for c in doc["containers"] if c["name"] == name]
        return entry

    async def verdict(
        self, name: str, predicate: Callable[[ImageUpdate], bool], timeout: float = 60
    ) -> ImageUpdate:
        def find(s: Snapshot) -> ImageUpdate | None:
            for c in s.containers.values():
                if c.name == name:
                    return image_update(c, s.images, s.image_checks, s.engine)
            return None

        def ready(s: Snapshot) -> bool:
            got = find(s)
            return got is not None and predicate(got)

        snapshot = await until(self.inventory, ready, timeout)
        found = find(snapshot)
        assert found is not None
        return found


def build(live: LiveDocker, suffix: str) -> str:
    """A distinct image (its own layer), FROM busybox:local: nothing is pulled. Removed by
    ID on cleanup too (once its tag moves on, it stays as `<none>` with its digests)."""
    tag = live.build(suffix, f"FROM busybox:local\nRUN echo {uuid.uuid4().hex} > /version\n")
    live.images.append(docker("image", "inspect", "-f", "{{.Id}}", tag))
    return tag


def push_as(live: LiveDocker, image: str, reference: str, config: Path | None = None) -> str:
    """Tag `image` as `reference` and push it; its manifest digest."""
    live.tag(image, reference)
    args = ["--config", str(config)] if config else []
    docker(*args, "push", "-q", reference, timeout=120)
    digests = json.loads(docker("image", "inspect", "-f", "{{json .RepoDigests}}", reference))
    repository = reference.rsplit(":", 1)[0]
    (digest,) = [d.split("@")[1] for d in digests if d.split("@")[0] == repository]
    return str(digest)


def check_times(inventory: Inventory, key: str) -> list[float]:
    """Every checked_ts the checker publishes for `key`, from now on."""
    seen: list[float] = []

    def note(s: Snapshot) -> None:
        check = s.image_checks.get(key)
        if check is not None and check.checked_ts is not None and check.checked_ts not in seen:
            seen.append(check.checked_ts)

    inventory.subscribe(note)
    return seen


def registry_api(
    reg: Registry, method: str, path: str, body: bytes | None = None, headers: Any = None
) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(
        f"{reg.url}{path}", data=body, method=method, headers=headers or {}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.status, resp.read(), dict(resp.headers)


def platform_manifest(reg: Registry, repository: str, digest: str, arch: str) -> dict[str, Any]:
    """The descriptor of the manifest `digest` is for linux/`arch`: itself, or its entry when
    it is an index (the containerd image store pushes an index with attestations)."""
    _status, body, headers = registry_api(
        reg, "GET", f"/v2/{repository}/manifests/{digest}", headers={"Accept": ACCEPT}
    )
    media = headers["Content-Type"]
    if media not in INDEX_TYPES:
        return {"mediaType": media, "digest": digest, "size": len(body)}
    entries = json.loads(body)["manifests"]
    (entry,) = [
        m for m in entries if m.get("platform", {}) == {"architecture": arch, "os": "linux"}
    ]
    return {k: entry[k] for k in ("mediaType", "digest", "size")}


def put_index(
    reg: Registry, repository: str, tag: str, entries: list[tuple[str, dict[str, Any]]]
) -> str:
    """A hand-built OCI index (platform architecture -> manifest descriptor), pushed with
    the registry API as `tag`; its digest."""
    manifests = [
        {**descriptor, "platform": {"architecture": arch, "os": "linux"}}
        for arch, descriptor in entries
    ]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    _status, _body, headers = registry_api(
        reg,
        "PUT",
        f"/v2/{repository}/manifests/{tag}",
        json.dumps(index).encode(),
        {"Content-Type": OCI_INDEX},
    )
    return str(headers["Docker-Content-Digest"])


@asynccontextmanager
async def prometheus(tmp_path: Path, port: int) -> AsyncIterator[Prometheus]:
    binary = prometheus3() or prometheus2()
    if binary is None:
        skip_testbed_limit("no Prometheus (run scripts/testbed)")
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(fast_rules(tmp_path))],
        "scrape_configs": [
            {"job_name": "docker-exporter", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    listen = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{listen}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        prom = Prometheus(f"http://127.0.0.1:{listen}")
        await wait_for(prom, "up == 1", 60)
        yield prom
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@registry_test
async def test_tag_moves_update_available_alert_fires_recreate_and_multi_platform_index(
    live: LiveDocker, tmp_path: Path
) -> None:
    require_registry_binary()
    v1, v2 = build(live, "v1"), build(live, "v2")
    with registry(tmp_path / "reg") as reg:
        reference = f"{reg.name}/fresh/app:latest"
        m1 = push_as(live, v1, reference)
        live.run("app", image=reference)
        name = live.name("app")
        async with exporter(live, urls=(reg.url,)) as ex:
            got = await ex.verdict(name, lambda v: v.available is not None)
            assert got.available is False
            assert m1 in got.running  # (and on the containerd store the platform manifest)
            assert got.latest == m1
            key = got.reference.key
            samples = parse(await ex.text())
            assert value(samples, "docker_container_image_update_available", name=name) == 0
            checked = value(
                samples,
                "docker_image_registry_check_timestamp_seconds",
                registry=reg.name,
                repository="fresh/app",
                tag="latest",
            )
            assert checked == ex.inventory.snapshot.image_checks[key].checked_ts

            # a different build pushed as latest: 1 at the first check after the push
            times = check_times(ex.inventory, key)
            m2 = await asyncio.to_thread(push_as, live, v2, reference)
            assert m2 != m1
            before = list(times)
            got = await ex.verdict(name, lambda v: v.available is True)
            assert got.latest == m2
            after_push = [t for t in times if t not in before]
            assert after_push[0] == got.checked_ts, "not the first check after the push"
            entry = await ex.inventory_doc(name)
            assert entry["image_update"]["available"] is True
            assert entry["image_update"]["registry_digest"] == m2
            assert entry["image_update"]["running_digests"][0] == m1

            # the alert's expression fires in a real Prometheus (rules with for: 0s)
            async with prometheus(tmp_path / "prom", ex.port) as prom:
                await wait_for(
                    prom,
                    f'ALERTS{{alertname="DockerContainerImageOutdated", name="{name}", '
                    'alertstate="firing"}',
                    60,
                )

                # pull and recreate: 0 without a new request
                docker("pull", "-q", reference, timeout=120)
                docker("rm", "-f", name)
                live.run("app", image=reference)
                got = await ex.verdict(name, lambda v: v.available is False)
                assert got.running[0] == m2
                samples = parse(await ex.text())
                assert value(samples, "docker_container_image_update_available", name=name) == 0
                await wait_for(
                    prom, f'docker_container_image_update_available{{name="{name}"}} == 0', 60
                )

            # a multi-platform index whose entry for this platform is the running manifest
            arch = docker("version", "-f", "{{.Server.Arch}}")
            other = "arm64" if arch != "arm64" else "amd64"
            p1 = await asyncio.to_thread(platform_manifest, reg, "fresh/app", m1, arch)
            p2 = await asyncio.to_thread(platform_manifest, reg, "fresh/app", m2, arch)
            index = await asyncio.to_thread(
                put_index, reg, "fresh/app", "latest", [(arch, p2), (other, p1)]
            )
            got = await ex.verdict(name, lambda v: v.latest == index)
            assert got.available is False
            assert ex.inventory.snapshot.image_checks[key].media_type == OCI_INDEX
            # ... and one naming another manifest for it: an update
            moved = await asyncio.to_thread(
                put_index, reg, "fresh/app", "latest", [(arch, p1), (other, p2)]
            )
            got = await ex.verdict(name, lambda v: v.latest == moved)
            assert got.available is True
            samples = parse(await ex.text())
            assert value(samples, "docker_container_image_update_available", name=name) == 1

            # the tag deleted: not found; the registry stopped: unreachable (no series)
            await asyncio.to_thread(registry_api, reg, "DELETE", f"/v2/fresh/app/manifests/{moved}")
            got = await ex.verdict(name, lambda v: v.reason == "not found")
            assert got.available is None
            reg.stop()
            await ex.verdict(name, lambda v: v.reason == "unreachable")
            samples = parse(await ex.text())
            assert value(samples, "docker_container_image_update_available", name=name) is None
            entry = await ex.inventory_doc(name)
            assert entry["image_update"]["reason"] == "unreachable"


@registry_test
async def test_check_running_with_docker_login_credentials_and_no_secret_anywhere(
    live: LiveDocker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No --registry.url: the registry a running container names, reached as Docker
    does (https first, http for the engine's insecure 127.0.0.0/8), with the auths docker
    login wrote; a wrong password gives `unauthorized`, never the password."""
    require_registry_binary()
    caplog.set_level(logging.DEBUG)
    password = "fresh-pw-" + uuid.uuid4().hex[:12]
    users = htpasswd(tmp_path / "htpasswd", "carol", password)
    v1, v2 = build(live, "v1"), build(live, "v2")
    with registry(tmp_path / "reg", auth={"htpasswd": {"realm": "dxt", "path": str(users)}}) as reg:
        config = docker_login(tmp_path / "docker-config", reg, "carol", password)
        stored = json.loads(config.read_text())["auths"][reg.name]["auth"]
        reference = f"{reg.name}/fresh/private:1.0"
        m1 = push_as(live, v1, reference, tmp_path / "docker-config")
        live.run("private", image=reference)
        name = live.name("private")
        async with exporter(live, check_running=True, docker_config=str(config)) as ex:
            got = await ex.verdict(name, lambda v: v.available is not None)
            assert got.available is False
            assert got.running[0] == m1
            await asyncio.to_thread(push_as, live, v2, reference, tmp_path / "docker-config")
            got = await ex.verdict(name, lambda v: v.available is True)
            samples = parse(await ex.text())
            assert value(samples, "docker_container_image_update_available", name=name) == 1
            entry = await ex.inventory_doc(name)
            assert entry["image_update"]["reason"] is None
        wrong = tmp_path / "wrong.yml"
        (tmp_path / "wrong-pw").write_text("not-" + password)
        wrong.write_text(
            f"registries:\n  '{reg.name}':\n    username: carol\n    password_file: wrong-pw\n"
        )
        async with exporter(live, check_running=True, config_file=str(wrong)) as bad:
            got = await bad.verdict(name, lambda v: v.reason == "unauthorized")
            samples = parse(await bad.text())
            assert value(samples, "docker_container_image_update_available", name=name) is None
            entry = await bad.inventory_doc(name)
            assert entry["image_update"]["reason"] == "unauthorized"
            assert entry["image_update"]["available"] is None
    assert_no_secret([password, "not-" + password, stored], [*ex.texts, *bad.texts, caplog.text])


@registry_test
async def test_token_server_over_tls_trusted_through_certs_d(
    live: LiveDocker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    require_registry_binary()
    caplog.set_level(logging.DEBUG)
    password = "fresh-tok-" + uuid.uuid4().hex[:8]
    tokens = await TokenServer(tmp_path, "dave", password).start()
    ca = make_ca(tmp_path / "ca")
    cert = server_cert(tmp_path / "server", ca)
    v1, v2 = build(live, "v1"), build(live, "v2")
    try:
        with registry(tmp_path / "reg", auth=tokens.registry_auth(), tls=cert) as reg:
            config = await asyncio.to_thread(
                docker_login, tmp_path / "docker-config", reg, "dave", password
            )
            certs = tmp_path / "certs.d"
            (certs / reg.name).mkdir(parents=True)
            shutil.copy(ca[0], certs / reg.name / "ca.crt")
            reference = f"{reg.name}/fresh/tokened:stable"
            m1 = await asyncio.to_thread(push_as, live, v1, reference, tmp_path / "docker-config")
            live.run("tokened", image=reference)
            name = live.name("tokened")
            async with exporter(
                live, urls=(reg.url,), docker_config=str(config), certs_dir=str(certs)
            ) as ex:
                got = await ex.verdict(name, lambda v: v.available is not None)
                assert got.available is False
                assert got.running[0] == m1
                await until(  # the catalog poller, on the same client, polls too
                    ex.inventory,
                    lambda s: reg.name in s.registries and s.registries[reg.name].auth == "bearer",
                    30,
                )
                await asyncio.to_thread(push_as, live, v2, reference, tmp_path / "docker-config")
                await ex.verdict(name, lambda v: v.available is True)
                samples = parse(await ex.text())
                assert value(samples, "docker_container_image_update_available", name=name) == 1
                await ex.inventory_doc(name)
    finally:
        await tokens.stop()
    assert_no_secret(tokens.secrets(), [*ex.texts, caplog.text])


WRITER = (
    "line=$(head -c 1000 /dev/zero | tr '\\0' x); "
    'while :; do yes "$line" | head -c 1048576; usleep 100000; done'
)
"""About 10 MB/s of 1000-character lines (1 MiB, then a tenth of a second's pause)."""


async def log_samples(
    inventory: Inventory, cid: str, count: int, timeout: float = 60
) -> list[tuple[LogFile, int]]:
    """The next `count` published samples of the container's log file, each with the
    size of the files `stat` shows at that very moment (the file and its rotations)."""
    out: list[tuple[LogFile, int]] = []
    done = asyncio.Event()
    # sampled before now: its truth would be read late (any publication calls `note`)
    stale = inventory.snapshot.log_files.get(cid)

    def note(s: Snapshot) -> None:
        file = s.log_files.get(cid)
        if done.is_set() or file is None or file.size_bytes is None or file is stale:
            return
        if out and out[-1][0] is file:
            return
        out.append((file, all_files(file.path)))
        if len(out) >= count:
            done.set()

    inventory.subscribe(note)
    await asyncio.wait_for(done.wait(), timeout)
    return out


def all_files(path: str) -> int:
    """The active log file and its rotated copies, by stat."""
    total = os.stat(path).st_size
    for n in range(1, 100):
        try:
            total += os.stat(f"{path}.{n}").st_size
        except FileNotFoundError:
            break
    return total


@pytest.mark.engine_generic
@pytest.mark.needs("log-files")
async def test_log_size_and_growth_by_stat_with_and_without_rotation(
    live: LiveDocker, tmp_path: Path
) -> None:
    plain = live.run("chatty", cmd=("sh", "-c", WRITER))
    writer = live.run("layer", cmd=("sh", "-c", "head -c 123456 /dev/zero > /big; sleep 600"))
    rotated = live.run(
        "rotated",
        "--log-opt", "max-size=20m", "--log-opt", "max-file=100",
        cmd=("sh", "-c", WRITER),
    )  # fmt: skip
    try:
        async with exporter(live, container_sizes=True) as ex:
            # the writable layer (opt-in docker ps --size): the file the container wrote
            def sized(s: Snapshot) -> bool:
                return s.container_sizes is not None and writer in s.container_sizes.writable

            snapshot = await until(ex.inventory, sized, 60)
            assert snapshot.container_sizes is not None
            layer = snapshot.container_sizes.writable[writer]
            assert 123456 <= layer <= 123456 + 65536, layer
            rows = parse(await ex.text())
            assert value(
                rows, "docker_container_writable_layer_bytes", name=live.name("layer")
            ) == float(layer)
            assert (await ex.inventory_doc(live.name("layer")))["writable_layer_bytes"] == layer

            # without rotation: the size is stat's, the growth stat's growth
            samples = await log_samples(ex.inventory, plain, 6)
            for file, truth in samples:
                assert file.size_bytes is not None
                assert abs(file.size_bytes - truth) <= 0.1 * truth
            (first, first_truth), (last, last_truth) = samples[1], samples[-1]
            grown = last.written_bytes - first.written_bytes
            assert grown > 5_000_000, "the writer is not writing ~10 MB/s"
            assert abs(grown - (last_truth - first_truth)) <= 0.1 * (last_truth - first_truth)
            text = await ex.text()
            got = value(parse(text), "docker_container_log_bytes", name=live.name("chatty"))
            assert got == ex.inventory.snapshot.log_files[plain].size_bytes
            info = value(
                parse(text), "docker_container_log_info", name=live.name("chatty"),
                driver="json-file", max_size="", max_file="",
            )  # fmt: skip
            assert info == 1

            # with max-size: the gauge drops at each rotation, the counter keeps growing
            # by what was written (the files' total, as long as none was deleted: 100 files)
            samples = await log_samples(ex.inventory, rotated, 8)
            sizes = [f.size_bytes or 0 for f, _ in samples]
            written = [f.written_bytes for f, _ in samples]
            assert any(b < a for a, b in itertools.pairwise(sizes)), "no rotation seen"
            assert written == sorted(written), "the counter went down"
            (first, first_truth), (last, last_truth) = samples[0], samples[-1]
            assert not Path(f"{last.path}.99").exists(), "a rotated file was deleted: no truth"
            truth = last_truth - first_truth
            assert abs((last.written_bytes - first.written_bytes) - truth) <= 0.1 * truth
            entry = await ex.inventory_doc(live.name("rotated"))
            assert entry["log"]["max_size"] == "20m"
            assert entry["log"]["max_file"] == "100"
            text = await ex.text()
            rows = parse(text)
            assert value(rows, "docker_container_log_info", name=live.name("rotated"),
                         max_size="20m", max_file="100") == 1  # fmt: skip
    finally:
        docker("rm", "-f", live.name("chatty"), live.name("rotated"), check=False)

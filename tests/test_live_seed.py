"""The user's Docker notes, replayed on the live engine and compared with the docker CLI.

Each test runs one example of /work/shared/seed/docker-notes.txt (the `--net-alias
search` group, `network connect`/`disconnect`, `-p`/`-P` with `EXPOSE`, `docker top`,
`docker history`, a named volume, `docker info`) and checks that the exporter's
metrics and JSON documents say what the docker CLI says at the same moment.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import LiveDocker, Scraper, docker, live_settings, series, until, value, wait_for
from test_openapi import validate_response

from exporter.cli.app import build_app
from exporter.clock import SystemClock
from exporter.collectors import COLLECTORS
from exporter.engine.adapter import DockerEngine
from exporter.engine.config import engine_config_from_env
from exporter.registry.models import RegistrySnapshot
from exporter.stats.diskusage import DiskUsageSampler
from exporter.stats.top import TopPoller
from exporter.web.http import INVENTORY
from exporter.web.views import registry_view

pytestmark = [pytest.mark.integration, pytest.mark.engine_generic]

IMAGE_DOCKERFILE = """FROM busybox:local
LABEL version="777"
RUN mkdir -p /var/www && echo hello > /var/www/index.html \\
    && dd if=/dev/zero of=/blob bs=1024 count=64
VOLUME /var/www/
EXPOSE 9000
CMD ["sleep", "600"]
"""
"""The notes' `testo` image, FROM busybox: LABEL, RUN, VOLUME, EXPOSE 9000 and CMD."""


@pytest.fixture(name="exporter")
async def fixture_exporter(live: LiveDocker) -> AsyncIterator[Scraper]:
    """Every collector but stats (so process lists come from the API `top` poller alone),
    with a top poller fast enough for a test instead of the app's 60 s one."""
    # A long periodic pass: these tests prove the event path, and a pass landing mid-test
    # would hide (or, for a declared gap, reveal at random) a missed event.
    settings = live_settings(
        collectors=tuple(c for c in COLLECTORS if c not in ("stats", "top")),
        resync_interval=3600.0,
    )
    app = build_app(settings)
    async with TestClient(TestServer(app)) as client:
        inventory = app[INVENTORY]
        await until(inventory, lambda s: s.status.synced, timeout=30)
        engine = DockerEngine(engine_config_from_env(None, 10.0))
        poller = TopPoller(engine, inventory, SystemClock(), interval=1.0, min_gap=0.1)
        task = asyncio.create_task(poller.run())
        try:
            yield Scraper(client, inventory)
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            await engine.close()


def inspect(name: str, template: str) -> Any:
    return json.loads(docker("inspect", "-f", "{{json " + template + "}}", name))


async def test_net_alias_search_group(live: LiveDocker, exporter: Scraper) -> None:
    """Two containers with `--net-alias search` on a user network: both aliases, both edges,
    the network's members as `docker network inspect` lists them, and `nslookup search`
    from a third container answering with exactly their two addresses."""
    lan = live.network("search_lan")
    for n in ("es1", "es2", "probe"):
        alias = () if n == "probe" else ("--net-alias", "search")
        live.run(n, "--network", lan, *alias)
    members = {live.name("es1"), live.name("es2")}
    # The network's own series comes from its inspect, the members' from theirs: wait for
    # both (on a loaded engine the network's inspect can land after the containers').
    samples = await exporter.wait(
        lambda s: (
            {a["name"] for a in series(s, "docker_container_network_alias", network=lan)} == members
            and len(series(s, "docker_container_network_info", network=lan)) == 3
            and bool(series(s, "docker_network_info", network=lan))
        )
    )
    assert {a["alias"] for a in series(samples, "docker_container_network_alias")} >= {"search"}
    ips = {
        e["name"]: e["ip"] for e in series(samples, "docker_container_network_info", network=lan)
    }
    cli_members = inspect(lan, ".Containers")
    assert {m["Name"]: m["IPv4Address"].split("/")[0] for m in cli_members.values()} == ips
    for name in members:
        cli_aliases = inspect(name, ".NetworkSettings.Networks")[lan]["Aliases"]
        assert "search" in cli_aliases
    subnet = inspect(lan, ".IPAM.Config")[0]
    assert value(
        samples, "docker_network_info", network=lan, subnet=subnet["Subnet"], driver="bridge"
    )
    answer = docker("exec", live.name("probe"), "nslookup", "search")
    resolved = set(re.findall(r"Address:\s*(\d+\.\d+\.\d+\.\d+)\s*$", answer, re.MULTILINE))
    assert resolved - {"127.0.0.11"} == {ips[name] for name in members}
    doc = await exporter.get("/inventory")
    network = next(n for n in doc["networks"] if n["name"] == lan)
    assert {m["name"]: m["aliases"] for m in network["members"]} == {
        live.name("es1"): ["search"],
        live.name("es2"): ["search"],
        live.name("probe"): [],
    }
    topology = await exporter.get("/topology")
    edges = [e for e in topology["edges"] if e["detail__network"] == lan]
    assert sorted(e["secondarystat"] for e in edges) == ["", "search", "search"]


@pytest.mark.needs("network-create-event")
async def test_network_create_and_rm_are_seen_through_their_events(
    live: LiveDocker, exporter: Scraper
) -> None:
    """`docker network create my_net` then `network rm`: each seen through its event (the
    periodic pass is an hour away; the 5 s deadlines only guard a hang); the subnet is
    `docker network inspect`'s."""
    net = live.network("lonely_net")
    samples = await exporter.wait(
        lambda s: bool(series(s, "docker_network_info", network=net)), timeout=5.0
    )
    (info,) = series(samples, "docker_network_info", network=net)
    assert info["subnet"] == inspect(net, ".IPAM.Config")[0]["Subnet"]
    docker("network", "rm", net)
    await exporter.wait(lambda s: not series(s, "docker_network_info", network=net), timeout=5.0)


async def test_network_connect_and_disconnect_are_seen_through_events(
    live: LiveDocker, exporter: Scraper
) -> None:
    """`docker network create my_net`, at once `docker network connect --alias db my_net c`,
    then disconnect and `network rm`: each is seen through an event, the new network through
    the container's connect even where the engine sends no `create` (Podman 4.3); the IP is
    `docker inspect`'s and the subnet `docker network inspect`'s."""
    live.run("thirsty")
    name = live.name("thirsty")
    net = live.network("my_net")
    await exporter.wait(lambda s: bool(series(s, "docker_container_network_info", name=name)))

    docker("network", "connect", "--alias", "db", net, name)
    samples = await exporter.wait(
        lambda s: bool(series(s, "docker_container_network_alias", name=name, network=net)),
        timeout=5.0,
    )
    cli_ip = inspect(name, ".NetworkSettings.Networks")[net]["IPAddress"]
    (edge,) = series(samples, "docker_container_network_info", name=name, network=net)
    assert edge["ip"] == cli_ip
    (alias,) = series(samples, "docker_container_network_alias", name=name, network=net)
    assert alias["alias"] == "db"
    samples = await exporter.wait(
        lambda s: bool(series(s, "docker_network_info", network=net)), timeout=5.0
    )
    (info,) = series(samples, "docker_network_info", network=net)
    assert info["subnet"] == inspect(net, ".IPAM.Config")[0]["Subnet"]
    doc = await exporter.wait_doc(
        "/inventory",
        lambda d: any(
            n["name"] == net and [m["name"] for m in n["members"]] == [name] for n in d["networks"]
        ),
        timeout=5.0,
    )
    assert doc

    docker("network", "disconnect", net, name)
    await exporter.wait(
        lambda s: not series(s, "docker_container_network_info", name=name, network=net),
        timeout=5.0,
    )
    assert net not in inspect(name, ".NetworkSettings.Networks")
    await exporter.wait_doc(
        "/inventory",
        lambda d: any(n["name"] == net and not n["members"] for n in d["networks"]),
        timeout=5.0,
    )

    docker("network", "rm", net)
    await exporter.wait(lambda s: not series(s, "docker_network_info", network=net), timeout=5.0)


def docker_port(name: str) -> set[tuple[str, str, str, str]]:
    """`docker port NAME` as (container_port, protocol, host_ip, host_port)."""
    out = set()
    for line in docker("port", name).splitlines():
        spec, _, binding = line.partition(" -> ")
        port, _, proto = spec.partition("/")
        host, _, host_port = binding.rpartition(":")
        # Podman leaves HostIp empty for "every address", which the CLI prints as ":port";
        # the exporter says 0.0.0.0 there, as Docker does.
        out.add((port, proto, host.strip("[]") or "0.0.0.0", host_port))
    return out


async def test_published_ports_match_docker_port(live: LiveDocker, exporter: Scraper) -> None:
    """`-p 127.0.0.1::80` and `-P` on an image with `EXPOSE 9000`: what `docker port` lists."""
    image = live.build("testo", IMAGE_DOCKERFILE)
    live.run("ports", "-p", "127.0.0.1::80", "-P", image=image, cmd=())
    name = live.name("ports")
    samples = await exporter.wait(
        lambda s: len(series(s, "docker_container_port_info", name=name)) >= 2
    )
    ours = {
        (p["container_port"], p["protocol"], p["host_ip"], p["host_port"])
        for p in series(samples, "docker_container_port_info", name=name)
    }
    cli = docker_port(name)
    assert ours == cli
    assert {p[0] for p in cli} == {"80", "9000"}
    assert ("80", "tcp", "127.0.0.1") in {p[:3] for p in cli}
    container = await exporter.get(f"/inventory/containers/{name}")
    assert {(str(p["container_port"]), p["host_port"]) for p in container["ports"]} == {
        (p[0], p[3]) for p in cli
    }


async def test_three_processes_match_docker_top(live: LiveDocker, exporter: Scraper) -> None:
    """A container running three processes: pids, users and commands as `docker top` says."""
    live.run("top", cmd=("sh", "-c", "sleep 601 & sleep 602 & exec sleep 603"))
    name = live.name("top")
    container = await exporter.wait_doc(
        f"/inventory/containers/{name}",
        lambda c: c["processes"] is not None and len(c["processes"]) == 3,
    )
    top = docker("top", name, "-o", "pid,user,args").splitlines()[1:]
    cli = {int(pid): (user, " ".join(args)) for pid, user, *args in (r.split() for r in top)}
    ours = {p["pid"]: (p["user"], p["command"]) for p in container["processes"]}
    assert ours == cli
    assert sorted(cmd for _, cmd in ours.values()) == ["sleep 601", "sleep 602", "sleep 603"]
    assert all(p["rss_bytes"] > 0 for p in container["processes"])
    samples = await exporter.samples()
    assert value(samples, "docker_container_processes", name=name) == 3


async def test_image_size_layers_and_history(live: LiveDocker, exporter: Scraper) -> None:
    """`docker build`, then `docker tag` for a private registry and `docker rmi`: size and
    layers as `docker image inspect`, history rows as `docker history`, tags as events go."""
    image = live.build("histo", IMAGE_DOCKERFILE)
    image_id = docker("image", "inspect", "-f", "{{.Id}}", image)
    short = image_id.removeprefix("sha256:")[:12]
    repository, tag = image.rsplit(":", 1)
    samples = await exporter.wait(
        lambda s: bool(series(s, "docker_image_info", id=short, repository=repository, tag=tag))
    )
    assert value(samples, "docker_image_size_bytes", id=short) == int(
        docker("image", "inspect", "-f", "{{.Size}}", image)
    )
    assert value(samples, "docker_image_layers", id=short) == int(
        docker("image", "inspect", "-f", "{{len .RootFS.Layers}}", image)
    )
    cli_history = [
        tuple(line.split("\t"))
        for line in docker(
            "history", "--no-trunc", "-H=false", "--format", "{{.CreatedBy}}\t{{.Size}}", image
        ).splitlines()
    ]
    doc = await exporter.get("/inventory")
    (ours,) = (i for i in doc["images"] if i["id"] == image_id)
    assert [(row["created_by"], str(row["size_bytes"])) for row in ours["history"]] == cli_history
    assert ours["labels"] == json.loads(
        docker("image", "inspect", "-f", "{{json .Config.Labels}}", image)
    )  # the Dockerfile's version=777, and on Podman buildah's own io.buildah.version
    assert ours["labels"]["version"] == "777"

    private = live.tag(image, f"localhost:5000/{live.name('myfirstimage')}")
    await exporter.wait(
        lambda s: bool(series(s, "docker_image_info", id=short, repository=private, tag="latest")),
        timeout=5.0,
    )
    docker("rmi", private)
    await exporter.wait(lambda s: len(series(s, "docker_image_info", id=short)) == 1, timeout=5.0)
    docker("rmi", image)
    await exporter.wait(lambda s: not series(s, "docker_image_info", id=short), timeout=5.0)


async def test_named_volume(live: LiveDocker, exporter: Scraper) -> None:
    """`docker volume create` and `-v vol:/data`: listed as `docker volume inspect` says,
    mounted by its container, and sized by the opt-in /system/df sampler."""
    volume = live.volume("data")
    live.run(
        "vol",
        "-v",
        f"{volume}:/data",
        cmd=(
            "sh",
            "-c",
            "dd if=/dev/zero of=/data/blob bs=1024 count=100 2>/dev/null; exec sleep 600",
        ),
    )
    samples = await exporter.wait(lambda s: bool(series(s, "docker_volume_info", volume=volume)))
    cli = json.loads(docker("volume", "inspect", volume))[0]
    assert value(
        samples, "docker_volume_info", volume=volume, driver=cli["Driver"], scope=cli["Scope"]
    )
    doc = await exporter.wait_doc(
        "/inventory",
        lambda d: any(v["name"] == volume and v["containers"] for v in d["volumes"]),
    )
    (ours,) = (v for v in doc["volumes"] if v["name"] == volume)
    assert ours["mountpoint"] == cli["Mountpoint"]
    assert ours["containers"] == [live.name("vol")]
    await exporter.wait_doc(
        f"/inventory/containers/{live.name('vol')}", lambda c: c["state"] == "running"
    )

    async def blob_written() -> bool:  # the app sampled df at start: sample again once dd is done
        size = docker("exec", live.name("vol"), "stat", "-c", "%s", "/data/blob", check=False)
        return size.strip() == str(100 * 1024)

    await wait_for(blob_written, "dd wrote the 100 KiB blob")
    engine = DockerEngine(engine_config_from_env(None, 10.0))
    try:
        assert await DiskUsageSampler(
            engine, exporter.inventory, SystemClock(), interval=900.0
        ).sample()
    finally:
        await engine.close()
    samples = await exporter.samples()
    size = value(samples, "docker_volume_size_bytes", volume=volume)
    assert size is not None
    assert 100 * 1024 <= size < 1024 * 1024


async def test_engine_facts_match_docker_info(live: LiveDocker, exporter: Scraper) -> None:
    """`docker info`'s CPUs, memory and warnings, and `docker version`'s server version."""
    del live
    samples = await exporter.samples()
    assert value(samples, "docker_engine_cpus") == int(docker("info", "-f", "{{.NCPU}}"))
    assert value(samples, "docker_engine_memory_bytes") == int(
        docker("info", "-f", "{{.MemTotal}}")
    )
    version = docker("version", "-f", "{{.Server.Version}}")
    assert value(samples, "docker_engine_info", version=version) == 1
    doc = await exporter.get("/inventory")
    assert doc["engine"]["cpus"] == int(docker("info", "-f", "{{.NCPU}}"))
    assert doc["engine"]["warnings"] == (
        json.loads(docker("info", "-f", "{{json .Warnings}}")) or []
    )


async def test_live_documents_match_the_openapi_description(
    live: LiveDocker, exporter: Scraper
) -> None:
    """Real payloads (whatever else runs on this engine) fit /openapi.json too."""
    live.run("doc", "-p", "127.0.0.1::80")
    await exporter.wait_doc(
        f"/inventory/containers/{live.name('doc')}", lambda c: c["processes"] is not None
    )
    validate_response("/inventory", 200, await exporter.get("/inventory"))
    validate_response("/topology", 200, await exporter.get("/topology"))
    validate_response(
        "/inventory/containers/{ref}",
        200,
        await exporter.get(f"/inventory/containers/{live.name('doc')}"),
    )


async def test_image_identity_as_docker_images_digests(live: LiveDocker, exporter: Scraper) -> None:
    """`docker images --digests` on either image store: the containerd store's ID is the
    manifest digest and every repository gets a `name@<that digest>`; the graph driver's is
    the config digest, with no digest before a push. /inventory, docker_image_info and the
    registry view's local images (matched by a reference's domain) say the same."""
    image = live.build("ident", IMAGE_DOCKERFILE)
    private = live.tag(image, f"localhost:5999/{live.name('ident')}:v1")
    repositories = {image.rsplit(":", 1)[0], private.rsplit(":", 1)[0]}
    listing = docker(
        "images", "--digests", "--no-trunc", "--format",
        "{{.ID}}\t{{.Repository}}\t{{.Tag}}\t{{.Digest}}",
    )  # fmt: skip
    cli = [
        row for row in (line.split("\t") for line in listing.splitlines()) if row[1] in repositories
    ]
    assert len(cli) == 2
    ((image_id,),) = {(row[0],) for row in cli}
    tags = {f"{repo}:{tag}" for _, repo, tag, _ in cli}
    digests = {f"{repo}@{digest}" for _, repo, _, digest in cli if digest != "<none>"}
    assert exporter.inventory is not None
    await until(
        exporter.inventory,
        lambda s: image_id in s.images and tags <= set(s.images[image_id].repo_tags),
        timeout=15,
    )
    doc = await exporter.get("/inventory")
    (ours,) = [i for i in doc["images"] if i["id"] == image_id]
    assert {t for t in ours["repo_tags"] if t.rsplit(":", 1)[0] in repositories} == tags
    assert {d for d in ours["repo_digests"] if d.split("@")[0] in repositories} == digests
    samples = await exporter.samples()
    short = image_id.removeprefix("sha256:")[:12]
    for _, repo, tag, _ in cli:
        assert series(samples, "docker_image_info", id=short, repository=repo, tag=tag)
    view = registry_view(
        exporter.inventory.snapshot, RegistrySnapshot(name="localhost:5999", url="http://x")
    )
    (local,) = [i for i in view["local_images"] if i["id"] == image_id]
    wanted = {private} | {d for d in digests if d.startswith("localhost:5999/")}
    assert set(local["references"]) == wanted

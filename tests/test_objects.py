"""Images, networks, volumes, ports and processes: parsers, watcher, pollers and collectors.

Recorded Engine 20.10 payloads (tests/fixtures/engine/) replayed through the fake
engine: the two `--net-alias search` containers on a user network, a container with
`-p 127.0.0.1::80 -P` on an image with `EXPOSE 9000`, an image built with a LABEL,
a RUN, a VOLUME, an EXPOSE and a CMD, a named volume, `top` and `/system/df`.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import (
    FakeClock,
    FakeEngine,
    Samples,
    event,
    inspect_payload,
    load_json,
    parse_samples,
    running_watcher,
    series,
    until,
    value,
)

from exporter.cli.app import build_app
from exporter.cli.settings import Settings
from exporter.collectors import COLLECTORS, Options
from exporter.engine.api import Engine, RequestFailed
from exporter.engine.models import parse_container
from exporter.engine.resources import (
    NONE_TAG,
    image_tags,
    parse_cpu_time,
    parse_disk_usage,
    parse_history,
    parse_image,
    parse_image_summary,
    parse_network,
    parse_network_ids,
    parse_top,
    parse_volumes,
    split_reference,
)
from exporter.engine.stats import ProcessInfo
from exporter.inventory.store import Inventory, Snapshot
from exporter.inventory.watcher import Watcher
from exporter.render.exposition import Exposition
from exporter.stats.diskusage import DiskUsageSampler
from exporter.stats.top import PS_ARGS, PSGO_ARGS, TopPoller
from exporter.web.http import INVENTORY
from exporter.web.views import inventory_view

IMAGE = "sha256:1e98eef649162adccc3ac837273330b8f5b75802c1803b2a8d748a09f9dfd1d2"
BUSYBOX = "sha256:686530322b93ba7ec269ebf2ae050c132f0c897e975758a956323714b0056577"
LAN = "637fc6dfcd96df44c10fd767d6ef63f77d81406038a4b70662ecaeb7fce9d69b"
ES2 = "bb0e8f8f880b807511b197be1a0a697f8cac173c20fb094fe6e79d549d81ff6d"
WEB = "402ee90b12df8478659c8925bedd3d114598764e6297aa0c9036205c1ea86472"
A = "a" * 64
FIRST, SECOND = WEB, ES2  # the top poller goes round the running containers in ID order


def render(snapshot: Snapshot) -> Samples:
    body = Exposition(list(COLLECTORS), Options(), process_metrics=False).render(snapshot).data
    return parse_samples(body)


# -- parsers ---------------------------------------------------------------------------


def test_image_from_recorded_inspect_and_history() -> None:
    """Size and layers as `docker image inspect`, history rows as `docker history`."""
    image = parse_image(load_json("image_inspect.json"), load_json("image_history.json"))
    assert image.id == IMAGE
    assert image.short_id == "1e98eef64916"
    assert image.tags == (("dxt-rec-img", "1.0"), ("localhost:5000/dxt-rec-img", "latest"))
    assert image.size_bytes == 2049714
    assert image.layers == 2
    assert image.labels == {"org.example.team": "core", "version": "777"}
    assert [row.created_by.split("#(nop)")[-1].strip() for row in image.history[:3]] == [
        'CMD ["sleep" "600"]',
        "EXPOSE 9000",
        "VOLUME [/var/www/]",
    ]
    assert len(image.history) == 6
    assert sum(row.size_bytes for row in image.history) == image.size_bytes
    assert image.history[3].size_bytes == 65542  # the RUN step; metadata steps add 0 B


def test_image_never_reads_its_environment() -> None:
    """`Config.Env` of an image (build-time secrets end up there) is not part of the model."""
    doc = load_json("image_inspect.json")
    doc["Config"]["Env"] = ["API_KEY=hunter2"]
    assert "hunter2" not in repr(parse_image(doc, load_json("image_history.json")))


def test_references_split_like_docker_images() -> None:
    """Registry ports, digests and dangling images give docker images' REPOSITORY and TAG."""
    assert split_reference("localhost:5000/myfirstimage:latest") == (
        "localhost:5000/myfirstimage",
        "latest",
    )
    assert split_reference("localhost:5000/bob") == ("localhost:5000/bob", NONE_TAG)
    assert split_reference("nginx@sha256:dd2d") == ("nginx", NONE_TAG)
    assert split_reference("<none>:<none>") == (NONE_TAG, NONE_TAG)
    assert image_tags([], []) == ((NONE_TAG, NONE_TAG),)
    assert image_tags(["<none>:<none>"], ["<none>@<none>"]) == ((NONE_TAG, NONE_TAG),)
    assert image_tags([], ["nginx@sha256:dd2d"]) == (("nginx", NONE_TAG),)
    assert image_tags(["nginx:latest"], ["nginx@sha256:dd2d"]) == (("nginx", "latest"),)


def test_image_list_rows() -> None:
    rows = [parse_image_summary(r) for r in load_json("images.json")]
    assert [r.id for r in rows if r] == [s.id for s in rows if s]
    first = rows[0]
    assert first is not None
    assert first.repo_tags == ("dxt-rec-img:1.0", "localhost:5000/dxt-rec-img:latest")
    assert parse_image_summary({"RepoTags": None}) is None
    assert parse_history(None) == ()


def test_network_from_recorded_inspect() -> None:
    """Members with bare IPs, the address pool, and both search containers."""
    net = parse_network(load_json("network_inspect.json"))
    assert (net.id, net.name, net.driver, net.scope) == (LAN, "dxt-rec-lan", "bridge", "local")
    assert [(p.subnet, p.gateway) for p in net.ipam] == [("172.18.0.0/16", "172.18.0.1")]
    assert [(m.name, m.ipv4) for m in net.members] == [
        ("dxt-rec-es1", "172.18.0.2"),
        ("dxt-rec-es2", "172.18.0.3"),
        ("dxt-rec-web", "172.18.0.4"),
    ]
    assert not net.internal
    assert not net.attachable
    assert parse_network(load_json("network_inspect_bridge.json")).bridge == "docker0"
    host = parse_network(load_json("network_inspect_host.json"))
    assert host.ipam == ()
    assert host.members == ()


def test_swarm_load_balancer_endpoints_are_not_members() -> None:
    """Overlay `Containers` maps hold `lb-<net>` and `<net>-sbox` sandboxes: left out."""
    doc = load_json("network_inspect.json")
    doc["Containers"]["lb-dxt-rec-lan"] = {"Name": "dxt-rec-lan-endpoint", "IPv4Address": "1.2.3.4"}
    doc["Containers"]["ingress-sbox"] = {"Name": "ingress-endpoint", "IPv4Address": "1.2.3.5"}
    names = {m.name for m in parse_network(doc).members}
    assert names == {"dxt-rec-es1", "dxt-rec-es2", "dxt-rec-web"}


def test_network_list_gives_ids_only() -> None:
    ids = parse_network_ids(load_json("networks.json"))
    assert LAN in ids
    assert len(ids) == 4
    assert parse_network_ids({"oops": 1}) == []


def test_volumes_never_read_options() -> None:
    """CIFS volumes keep their password in Options: it must not reach the model."""
    doc = load_json("volumes.json")
    doc["Volumes"][0]["Options"] = {"type": "cifs", "o": "username=u,password=hunter2"}
    volumes = parse_volumes(doc)
    assert volumes[0].name == "dxt-rec-vol"
    assert volumes[0].driver == "local"
    assert volumes[0].scope == "local"
    assert "hunter2" not in repr(volumes)
    assert parse_volumes({"Volumes": None, "Warnings": None}) == []


def test_disk_usage_sizes_and_unknowns() -> None:
    """`UsageData` -1 (a driver that cannot tell) is None, not a size of -1."""
    usage = parse_disk_usage(load_json("system_df.json"), 42.0)
    assert usage.time == 42.0
    assert usage.volumes["dxt-rec-vol"].ref_count == 1
    assert usage.volumes["dxt-rec-vol"].size_bytes == 0
    unknown = parse_disk_usage(
        {"Volumes": [{"Name": "nfs", "UsageData": {"Size": -1, "RefCount": -1}}]}, 0.0
    )
    assert unknown.volumes["nfs"].size_bytes is None
    assert unknown.volumes["nfs"].ref_count is None


def test_top_with_our_ps_columns() -> None:
    """The recorded answer to our `-o` list: three processes with user, CPU time and RSS."""
    processes = parse_top(load_json("top.json"))
    assert [p.pid for p in processes] == [12192, 12237, 12238]
    first = processes[0]
    assert (first.ppid, first.uid, first.user, first.command) == (12171, 0, "root", "sleep 600")
    assert first.state == "S"
    assert first.rss_bytes == 1372 * 1024
    assert first.cpu_seconds == 0.0


def test_top_with_the_default_ps_columns() -> None:
    """`-ef` puts the user name in a column titled UID; RSS is unknown there."""
    processes = parse_top(load_json("top_default.json"))
    first = processes[0]
    assert (first.pid, first.user, first.uid, first.rss_bytes) == (12192, "root", -1, 0)
    aux = parse_top(
        {
            "Titles": ["USER", "PID", "%CPU", "RSS", "STAT", "TIME", "COMMAND"],
            "Processes": [["1000", "7", "0.0", "12", "R+", "1:02", "top -b"]],
        }
    )
    assert aux == (
        ProcessInfo(7, 0, -1, None, "top -b", 62.0, 12 * 1024, "R"),
    )  # a numeric USER is a uid without a name
    assert parse_top({"Titles": ["USER"], "Processes": [["root"]]}) == ()


def test_cpu_time_formats() -> None:
    assert parse_cpu_time("00:00:07") == 7.0
    assert parse_cpu_time("01:02:03") == 3723.0
    assert parse_cpu_time("2-00:00:01") == 2 * 86400 + 1.0
    assert parse_cpu_time("1:05") == 65.0
    assert parse_cpu_time("0:00.50") == 0.5
    assert parse_cpu_time("?") == 0.0


# -- watcher ---------------------------------------------------------------------------


@pytest.fixture(name="recorded")
def fixture_recorded(fake_engine: FakeEngine) -> FakeEngine:
    fake_engine.add_recorded_objects()
    fake_engine.add(load_json("inspect_alias.json"))
    fake_engine.add(load_json("inspect_ports.json"))
    return fake_engine


@pytest.fixture(name="running")
async def fixture_running(
    recorded: FakeEngine, inventory: Inventory, clock: FakeClock
) -> AsyncIterator[Watcher]:
    async with running_watcher(recorded, inventory, clock) as watcher:
        yield watcher


async def test_resync_fills_images_networks_and_volumes(
    running: Watcher, inventory: Inventory
) -> None:
    snap = inventory.snapshot
    assert set(snap.images) == {IMAGE, BUSYBOX}
    assert len(snap.images[IMAGE].history) == 6
    assert {n.name for n in snap.networks.values()} == {"bridge", "dxt-rec-lan"}
    assert set(snap.volumes) == {
        "dxt-rec-vol",
        "4f1dd0f0427af0a476500719ff052addd42a28e5d53e38ac7fa663c515a65de1",
    }


async def test_known_images_are_not_inspected_again(
    running: Watcher, recorded: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """Image content never changes under an ID: a reconcile lists, and inspects only new IDs."""
    calls = len(recorded.calls)
    await clock.advance(60.0)
    await until(inventory, lambda s: "images" in recorded.calls[calls:] and s.status.synced)
    await running.refresh_pending()
    assert not [c for c in recorded.calls[calls:] if c.startswith("image ")]


async def test_tag_and_untag_events_update_the_tags(
    running: Watcher, recorded: FakeEngine, inventory: Inventory
) -> None:
    """`docker tag`/`rmi` of one tag: the list carries the new tags, no inspect needed."""
    doc, history = recorded.images[BUSYBOX]
    recorded.images[BUSYBOX] = (
        {**doc, "RepoTags": ["busybox:local", "registry:5000/bb:v1"]},
        history,
    )
    recorded.emit(event("image", "tag", BUSYBOX, 10, name="registry:5000/bb:v1"))
    snap = await until(inventory, lambda s: len(s.images[BUSYBOX].tags) == 2)
    assert ("registry:5000/bb", "v1") in snap.images[BUSYBOX].tags
    recorded.images[BUSYBOX] = ({**doc, "RepoTags": []}, history)
    recorded.emit(event("image", "untag", BUSYBOX, 11, name=BUSYBOX))
    snap = await until(inventory, lambda s: s.images[BUSYBOX].tags == ((NONE_TAG, NONE_TAG),))


async def test_image_delete_and_pull_events(
    running: Watcher, recorded: FakeEngine, inventory: Inventory
) -> None:
    """A delete drops the image; a pull (actor: the reference) brings the new ID in."""
    del recorded.images[IMAGE]
    recorded.emit(event("image", "delete", IMAGE, 10, name=IMAGE))
    await until(inventory, lambda s: IMAGE not in s.images)
    pulled = {**load_json("image_inspect.json"), "Id": "sha256:" + "c" * 64, "RepoTags": ["x:1"]}
    recorded.add_image(pulled, [])
    recorded.emit(event("image", "pull", "x:1", 11, name="x:1"))
    snap = await until(inventory, lambda s: "sha256:" + "c" * 64 in s.images)
    assert snap.images["sha256:" + "c" * 64].tags == (("x", "1"),)


async def test_network_connect_refreshes_the_container_and_its_membership(
    running: Watcher, recorded: FakeEngine, inventory: Inventory
) -> None:
    """`docker network connect --alias db`: the container's aliases, and the network's
    members, which follow the containers' inspect (es2 and web are on it in the fake)."""
    assert {m.name for m in inventory.snapshot.networks[LAN].members} == {
        "dxt-rec-es2",
        "dxt-rec-web",
    }
    alpha = inspect_payload(cid=A, Name="/alpha")
    nets = alpha["NetworkSettings"]["Networks"]
    nets["dxt-rec-lan"] = {**next(iter(nets.values())), "NetworkID": LAN, "Aliases": ["db", A[:12]]}
    recorded.add(alpha)
    recorded.emit(event("network", "connect", LAN, 10, container=A, name="dxt-rec-lan"))
    snap = await until(inventory, lambda s: A in s.containers and len(s.networks[LAN].members) == 3)
    attachment = next(n for n in snap.containers[A].networks if n.network == "dxt-rec-lan")
    assert attachment.aliases == ("db",)
    member = next(m for m in snap.networks[LAN].members if m.container_id == A)
    assert (member.name, member.ipv4) == ("alpha", attachment.ip)
    del nets["dxt-rec-lan"]
    recorded.emit(event("network", "disconnect", LAN, 11, container=A, name="dxt-rec-lan"))
    await until(inventory, lambda s: len(s.networks[LAN].members) == 2)


async def test_network_create_and_destroy(
    running: Watcher, recorded: FakeEngine, inventory: Inventory
) -> None:
    new = {**load_json("network_inspect.json"), "Id": "d" * 64, "Name": "my_net", "Containers": {}}
    recorded.add_network(new)
    recorded.emit(event("network", "create", "d" * 64, 10, name="my_net", type="bridge"))
    await until(inventory, lambda s: "d" * 64 in s.networks)
    del recorded.networks["d" * 64]
    recorded.emit(event("network", "destroy", "d" * 64, 11, name="my_net", type="bridge"))
    await until(inventory, lambda s: "d" * 64 not in s.networks)


async def test_podman_network_connect_refreshes_the_container(
    running: Watcher, recorded: FakeEngine, inventory: Inventory
) -> None:
    """Podman 5's connect: the actor is the container, `name` its name, `network` the
    network, no `container` attribute. The container is re-inspected; the network is
    known, so not inspected again: its members follow the container. (alpha's other
    network, from the recorded payload, is unknown here, so that one is inspected.)"""
    alpha = inspect_payload(cid=A, Name="/alpha")
    recorded.add(alpha)
    recorded.emit(event("container", "create", A, 10))
    await until(inventory, lambda s: A in s.containers)
    nets = alpha["NetworkSettings"]["Networks"]
    nets["dxt-rec-lan"] = {**next(iter(nets.values())), "NetworkID": LAN, "IPAddress": "10.1.0.9"}
    calls = len(recorded.calls)
    recorded.emit(event("network", "connect", A, 11, name="alpha", network="dxt-rec-lan"))
    snap = await until(inventory, lambda s: A in {m.container_id for m in s.networks[LAN].members})
    assert f"inspect {A[:12]}" in recorded.calls[calls:]
    assert f"network {LAN[:12]}" not in recorded.calls[calls:]
    assert "dxt-rec-lan" in {n.network for n in snap.containers[A].networks}


async def test_podman4_network_connect_without_a_network_name(
    running: Watcher, recorded: FakeEngine, inventory: Inventory
) -> None:
    """Podman 4 does not say which network: the container's inspect does, and a network
    it names that the inventory does not know (4.x sends no `create`) is inspected."""
    alpha = inspect_payload(cid=A, Name="/alpha")
    recorded.add(alpha)
    new = {**load_json("network_inspect.json"), "Id": "d" * 64, "Name": "late", "Containers": {}}
    recorded.add_network(new)  # created with no event
    nets = alpha["NetworkSettings"]["Networks"]
    nets["late"] = {**next(iter(nets.values())), "NetworkID": "late", "IPAddress": "10.2.0.2"}
    recorded.emit(event("network", "connect", A, 10, name="alpha"))
    snap = await until(inventory, lambda s: "d" * 64 in s.networks and A in s.containers)
    assert [m.container_id for m in snap.networks["d" * 64].members] == [A]


async def test_volume_events_relist_but_mounts_do_not(
    running: Watcher, recorded: FakeEngine, inventory: Inventory
) -> None:
    calls = len(recorded.calls)
    recorded.emit(event("volume", "mount", "dxt-rec-vol", 10, container=ES2, driver="local"))
    await until(inventory, lambda s: ("volume", "mount") in s.status.events)
    assert "volumes" not in recorded.calls[calls:]
    recorded.volumes = recorded.volumes[:1]
    recorded.emit(event("volume", "destroy", recorded.volumes[0]["Name"], 11, driver="local"))
    await until(inventory, lambda s: len(s.volumes) == 1)


async def test_a_refused_kind_does_not_take_the_engine_down(
    recorded: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """A socket proxy that forbids /images (403) leaves images out; containers still sync."""

    async def forbidden() -> list[Any]:
        raise RequestFailed("HTTP 403: forbidden")

    recorded.list_images = forbidden  # type: ignore[method-assign]
    watcher = Watcher(recorded, inventory, clock)
    await watcher.resync()
    assert inventory.snapshot.status.engine_up
    assert inventory.snapshot.images == {}
    assert ES2 in inventory.snapshot.containers


# -- processes: the rationed top poller -----------------------------------------------


@pytest.fixture(name="synced")
async def fixture_synced(recorded: FakeEngine, inventory: Inventory, clock: FakeClock) -> Watcher:
    recorded.top_docs = {ES2: load_json("top.json"), WEB: load_json("top.json")}
    watcher = Watcher(recorded, inventory, clock)
    await watcher.resync()
    return watcher


async def test_top_poller_lists_one_container_per_step(
    synced: Watcher, recorded: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """Never all at once: each step makes one `top` call, spaced interval / containers."""
    poller = TopPoller(recorded, inventory, clock, interval=60.0, min_gap=1.0)
    assert await poller.step() == 30.0
    assert await poller.step() == 30.0
    tops = [c for c in recorded.calls if c.startswith("top ")]
    assert tops == [f"top {FIRST[:12]} {PS_ARGS}", f"top {SECOND[:12]} {PS_ARGS}"]
    assert len(inventory.snapshot.processes[ES2]) == 3
    assert await poller.step() == 30.0  # both listed: wait, no call
    assert len([c for c in recorded.calls if c.startswith("top ")]) == 2
    await clock.advance(60.0)
    await poller.step()
    assert len([c for c in recorded.calls if c.startswith("top ")]) == 3


async def test_top_poller_respects_its_minimum_gap(
    synced: Watcher, recorded: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """Many containers stretch the cycle rather than raise the rate of `top` events."""
    poller = TopPoller(recorded, inventory, clock, interval=1.0, min_gap=5.0)
    assert await poller.step() == 5.0


async def test_top_poller_falls_back_to_default_ps_args(
    synced: Watcher, recorded: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """A host whose ps refuses our `-o` list (500) still gets `-ef` lists, from then on."""
    recorded.top_docs = {}
    poller = TopPoller(recorded, inventory, clock, interval=60.0)
    await poller.step()
    await poller.step()
    tops = [c for c in recorded.calls if c.startswith("top ")]
    assert tops == [
        f"top {FIRST[:12]} {PS_ARGS}",
        f"top {FIRST[:12]} {PSGO_ARGS}",
        f"top {FIRST[:12]} ",
        f"top {SECOND[:12]} ",
    ]
    assert inventory.snapshot.processes[SECOND][0].user == "root"


async def test_processes_go_when_the_container_stops(
    synced: Watcher, recorded: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    poller = TopPoller(recorded, inventory, clock, interval=60.0)
    await poller.step()
    assert FIRST in inventory.snapshot.processes
    recorded.containers[FIRST]["State"].update(Status="exited", Running=False)
    synced.handle(event("container", "die", FIRST, 10, exitCode="0"))
    await synced.refresh_pending()
    assert FIRST not in inventory.snapshot.processes


async def test_processes_of_a_sampler_sweep_are_pruned_too(inventory: Inventory) -> None:
    """`publish(processes=...)` (the stats sampler) keeps only running containers' lists."""
    inventory.upsert(parse_container(load_json("inspect_alias.json")))
    inventory.upsert(parse_container(load_json("inspect_exited.json")))
    exited = parse_container(load_json("inspect_exited.json")).id
    proc = ProcessInfo(1, 0, 0, "root", "sleep", 0.0, 0, "S")
    snap = inventory.publish(processes={ES2: (proc,), exited: (proc,), A: (proc,)})
    assert set(snap.processes) == {ES2}
    inventory.remove(ES2)
    assert inventory.publish().processes == {}


# -- volume sizes: the opt-in /system/df sampler ---------------------------------------


async def test_disk_usage_sampler_publishes_with_its_time(
    recorded: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    assert await DiskUsageSampler(recorded, inventory, clock, interval=900.0).sample()
    usage = inventory.snapshot.disk_usage
    assert usage is not None
    assert usage.time == clock.time()
    assert usage.volumes["dxt-rec-vol"].ref_count == 1


async def test_disk_usage_failure_keeps_the_last_sample(
    recorded: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """20.10 refuses a concurrent df; the previous sample stays until the next interval."""
    sampler = DiskUsageSampler(recorded, inventory, clock, interval=900.0)
    await sampler.sample()
    before = inventory.snapshot.disk_usage
    recorded.down = True
    assert not await sampler.sample()
    assert inventory.snapshot.disk_usage == before


async def test_watcher_never_calls_disk_usage(running: Watcher, recorded: FakeEngine) -> None:
    await running.resync()
    assert "df" not in recorded.calls


# -- collectors ------------------------------------------------------------------------


@pytest.fixture(name="snap")
async def fixture_snap(synced: Watcher, recorded: FakeEngine, inventory: Inventory) -> Snapshot:
    poller = TopPoller(recorded, inventory, FakeClock(), interval=60.0)
    await poller.step()
    await poller.step()
    await DiskUsageSampler(recorded, inventory, FakeClock(), interval=900.0).sample()
    return inventory.snapshot


def test_network_info_and_edges(snap: Snapshot) -> None:
    samples = render(snap)
    assert value(
        samples,
        "docker_network_info",
        network_id=LAN[:12],
        network="dxt-rec-lan",
        driver="bridge",
        scope="local",
        subnet="172.18.0.0/16",
        gateway="172.18.0.1",
        internal="false",
        attachable="false",
    )
    assert value(
        samples,
        "docker_container_network_info",
        id=ES2[:12],
        name="dxt-rec-es2",
        network="dxt-rec-lan",
        ip="172.18.0.3",
    )


def test_aliases_are_user_given_only(snap: Snapshot) -> None:
    """`--net-alias search` and `--alias db`; never the automatic short-ID alias."""
    aliases = series(render(snap), "docker_container_network_alias")
    assert {(a["name"], a["alias"]) for a in aliases} == {
        ("dxt-rec-es2", "search"),
        ("dxt-rec-web", "db"),
    }


def test_published_ports_as_docker_port_lists_them(snap: Snapshot) -> None:
    """`-p 127.0.0.1::80 -P` on EXPOSE 9000: three bindings, as `docker port` prints."""
    ports = series(render(snap), "docker_container_port_info", name="dxt-rec-web")
    assert {(p["container_port"], p["protocol"], p["host_ip"], p["host_port"]) for p in ports} == {
        ("80", "tcp", "127.0.0.1", "32769"),
        ("9000", "tcp", "0.0.0.0", "32768"),
        ("9000", "tcp", "::", "32768"),
    }


def test_image_series(snap: Snapshot) -> None:
    """One info series per tag; size, layers and build time per image ID."""
    samples = render(snap)
    tags = series(samples, "docker_image_info", id="1e98eef64916")
    assert {(t["repository"], t["tag"]) for t in tags} == {
        ("dxt-rec-img", "1.0"),
        ("localhost:5000/dxt-rec-img", "latest"),
    }
    assert value(samples, "docker_image_size_bytes", id="1e98eef64916") == 2049714
    assert value(samples, "docker_image_layers", id="1e98eef64916") == 2
    assert value(samples, "docker_image_created_timestamp_seconds", id="686530322b93") == (
        snap.images[BUSYBOX].created
    )


def test_dangling_image_series(snap: Snapshot) -> None:
    dangling = replace(snap.images[BUSYBOX], repo_tags=(), repo_digests=())
    samples = render(replace(snap, images={BUSYBOX: dangling}))
    assert value(samples, "docker_image_info", id="686530322b93", repository=NONE_TAG, tag=NONE_TAG)


def test_volume_series_and_opt_in_sizes(snap: Snapshot) -> None:
    samples = render(snap)
    assert value(samples, "docker_volume_info", volume="dxt-rec-vol", driver="local", scope="local")
    assert value(samples, "docker_volume_size_bytes", volume="dxt-rec-vol") == 0
    assert value(samples, "docker_volume_sizes_last_sample_timestamp_seconds") is not None
    assert not COLLECTORS["volume_sizes"].default_enabled
    assert not COLLECTORS["top"].default_enabled


def test_process_count_series(snap: Snapshot) -> None:
    samples = render(snap)
    assert value(samples, "docker_container_processes", id=ES2[:12], name="dxt-rec-es2") == 3
    assert value(samples, "docker_container_processes", name="dxt-rec-web") == 3
    stopped = replace(snap, processes={})
    assert value(render(stopped), "docker_container_processes", name="dxt-rec-es2") is None


# -- inventory document ----------------------------------------------------------------


def test_inventory_sections(snap: Snapshot) -> None:
    """Processes in containers, history in images, members in networks, sizes in volumes."""
    doc = inventory_view(snap)
    es2 = next(c for c in doc["containers"] if c["name"] == "dxt-rec-es2")
    assert [p["pid"] for p in es2["processes"]] == [12192, 12237, 12238]
    assert es2["processes"][0]["rss_bytes"] == 1372 * 1024
    image = next(i for i in doc["images"] if i["id"] == IMAGE)
    assert [row["size_bytes"] for row in image["history"]] == [0, 0, 0, 65542, 0, 1984172]
    assert image["containers"] == ["dxt-rec-web"]
    lan = next(n for n in doc["networks"] if n["name"] == "dxt-rec-lan")
    members = {m["name"]: (m["ipv4"], m["aliases"]) for m in lan["members"]}
    assert members["dxt-rec-es2"] == ("172.18.0.3", ["search"])
    assert members["dxt-rec-web"] == ("172.18.0.4", ["db"])
    volume = next(v for v in doc["volumes"] if v["name"] == "dxt-rec-vol")
    assert (volume["size_bytes"], volume["ref_count"]) == (0, 1)
    assert doc["exporter"]["volume_sizes_sampled"] is not None


def test_fake_engine_implements_the_whole_protocol() -> None:
    """Every Engine method the exporter may call exists on the fake, with the same parameters."""
    wanted = {
        name: inspect.signature(member)
        for name, member in vars(Engine).items()
        if callable(member) and not name.startswith("_")
    }
    for name, signature in wanted.items():
        fake = getattr(FakeEngine, name, None)
        assert fake is not None, name
        assert list(inspect.signature(fake).parameters) == list(signature.parameters), name


async def test_costly_pollers_run_only_when_switched_on(
    recorded: FakeEngine, clock: FakeClock
) -> None:
    """Without `--collector.top`, `--collector.volume_sizes` and
    `--collector.container_sizes`: no `top`, no `/system/df`, no `docker ps --size`."""
    off = tuple(c for c in COLLECTORS if c not in ("top", "volume_sizes", "container_sizes"))
    app = build_app(Settings(collectors=off), lambda: recorded, clock)
    async with TestClient(TestServer(app)):
        await until(app[INVENTORY], lambda s: s.status.synced)
        for _ in range(5):
            await clock.advance(30.0)
    assert not [c for c in recorded.calls if c.startswith("top ") or c == "df"]

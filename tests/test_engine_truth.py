"""What the engine legs found (issue 12): the exporter must say what the engine says.

Recorded Docker 20.10 payloads (tests/fixtures/engine/README.md: a crash loop, an OOM
kill, a failing healthcheck, a network with a running and a stopped container) and
Podman payloads constructed from what was measured on Podman 4.3 and 5.4.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import (
    FIXTURES,
    FakeClock,
    FakeEngine,
    event,
    inspect_payload,
    load_json,
    running_watcher,
    until,
    value,
)

from exporter.collectors import Options
from exporter.engine.events import Event, die_exit_code, parse_event
from exporter.engine.models import parse_container
from exporter.engine.resources import (
    familiar_reference,
    memberships,
    parse_cpu_time,
    parse_image,
    parse_image_summary,
    parse_network,
    parse_top,
)
from exporter.engine.stats import ProcessInfo
from exporter.inventory.store import Inventory
from exporter.inventory.watcher import Watcher
from exporter.render.exposition import Exposition
from exporter.stats.top import PS_ARGS, PSGO_ARGS, TopPoller
from exporter.web.topology import topology_view

LOOP = "858ff662eb387972fcbcf46ffb7d6bbcf54cb15c90d6420ee5a1b6b441067ebc"
PODMAN_CID = "5c3f0e1f8a2b4d6e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6"


def recorded_events(name: str, action: str | None = None) -> list[Event]:
    lines = (FIXTURES / "engine" / name).read_text().splitlines()
    events = [parse_event(json.loads(line)) for line in lines if line.strip()]
    return [e for e in events if e is not None and (action is None or e.action == action)]


def loop_doc(**changes: Any) -> dict[str, Any]:
    return inspect_payload("inspect_crashloop_running.json", **changes)


def oom_doc(**changes: Any) -> dict[str, Any]:
    """The recorded OOM kill as Docker 20.10 reports it when containerd's OOM notice
    loses the race with the exit: OOMKilled false, exit 137 (what CI once saw)."""
    return inspect_payload("inspect_oom_exited.json", State__OOMKilled=False, **changes)


# -- parsers -----------------------------------------------------------------------------


def test_podman_network_events_name_the_container_as_actor() -> None:
    """Podman: actor = container, no `container` attribute; 5.x names the network, 4.x
    does not. Docker's recorded connect: actor = network, `container` attribute."""
    four, five, gone, _ = recorded_events("events_podman.jsonl")
    assert (four.network, four.container) == ("", PODMAN_CID)
    assert (five.network, five.container) == ("podlan", PODMAN_CID)
    assert (gone.action, gone.network, gone.container) == ("disconnect", "podlan", PODMAN_CID)
    docker = next(e for e in recorded_events("events.jsonl") if e.action == "connect")
    assert docker.network == docker.actor_id != docker.container
    assert docker.container == docker.attributes["container"]


def test_die_events_carry_the_exit_code() -> None:
    (die,) = recorded_events("events_podman.jsonl", "die")
    assert die_exit_code(die) == 3
    assert {die_exit_code(e) for e in recorded_events("events_crashloop.jsonl", "die")} == {3}
    assert die_exit_code(event("container", "die", LOOP, 1)) is None


def test_podman_states_map_to_dockers_model() -> None:
    """Podman 5's transient `stopped` (process gone, cleanup pending) is Docker's
    `exited`, not `dead`; `configured` is `created`; `stopping` still runs."""
    states = {
        podman: parse_container(inspect_payload(State__Status=podman)).state
        for podman in ("stopped", "configured", "initialized", "stopping", "exited", "unknown")
    }
    assert states == {
        "stopped": "exited",
        "configured": "created",
        "initialized": "created",
        "stopping": "running",
        "exited": "exited",
        "unknown": "dead",
    }


def test_healthcheck_is_parsed_from_the_config() -> None:
    check = parse_container(load_json("inspect_health_failing.json")).healthcheck
    assert check is not None
    assert (check.interval, check.retries) == (1.0, 50)
    assert check.probe_interval("unhealthy") == 1.0
    assert parse_container(load_json("inspect_exited.json")).healthcheck is None
    disabled = inspect_payload(Config__Healthcheck={"Test": ["NONE"]})
    assert parse_container(disabled).healthcheck is None
    starting = inspect_payload(
        Config__Healthcheck={"Test": ["CMD", "true"], "StartPeriod": 60_000_000_000}
    )
    check = parse_container(starting).healthcheck
    assert check is not None
    assert (check.interval, check.probe_interval("starting")) == (30.0, 5.0)


def test_network_members_derived_from_container_inspect_match_network_inspect() -> None:
    """Recorded at one moment: the stopped container keeps the network in its inspect
    (endpoint and addresses cleared) and the engine's network inspect does not list it."""
    network = parse_network(load_json("network_inspect_members.json"))
    up = parse_container(load_json("inspect_member_up.json"))
    down = parse_container(load_json("inspect_member_down.json"))
    assert [a.connected for a in up.networks] == [True]
    assert [a.connected for a in down.networks] == [False]
    assert memberships([network], [up, down])[network.id] == network.members
    assert len(network.members) == 1


def test_podman_published_ports_bound_to_every_address() -> None:
    """Podman's `-P` leaves HostIp empty; Docker writes 0.0.0.0 (and ::) for the same."""
    doc = inspect_payload(NetworkSettings__Ports={"80/tcp": [{"HostIp": "", "HostPort": "40001"}]})
    (port,) = parse_container(doc).ports
    assert (port.host_ip, port.host_port) == ("0.0.0.0", "40001")


def test_podman4_top_rows_are_split() -> None:
    """Podman 4.3 without ps_args: one title string and one unsplit cell per process."""
    processes = parse_top(load_json("top_podman4_default.json"))
    assert processes == (
        ProcessInfo(1, 0, -1, "root", "sleep 603", 0.0, 0, ""),
        ProcessInfo(7, 0, -1, "root", "sh -c while true; do sleep 1; done", 0.0, 0, ""),
    )
    assert parse_top({"Titles": None, "Processes": None}) == ()


def test_podman_psgo_top_rows_carry_rss_state_and_go_durations() -> None:
    """Podman's own descriptors (recorded on 4.3): RSS in KiB, STATE, TIME as `1m2.5s`."""
    processes = parse_top(load_json("top_podman4_psgo.json"))
    assert [(p.pid, p.ppid, p.user, p.state, p.command) for p in processes] == [
        (1, 0, "root", "S", "sleep 603"),
        (7, 1, "root", "S", "sleep 601"),
        (8, 1, "root", "S", "sleep 602"),
    ]
    assert [p.rss_bytes for p in processes] == [1372 * 1024, 1376 * 1024, 1368 * 1024]
    assert parse_cpu_time("1m2.5s") == 62.5
    assert parse_cpu_time("2h0m1s") == 7201.0
    assert parse_cpu_time("1.2.3s") == 0.0


def test_image_names_as_docker_images_prints_them() -> None:
    """Podman lists Docker Hub images fully qualified; Docker drops `docker.io/` and
    `library/`. `localhost/` and other registries keep their domain, as in Docker."""
    assert familiar_reference("docker.io/library/busybox:latest") == "busybox:latest"
    assert familiar_reference("docker.io/library/busybox@sha256:" + "a" * 64) == (
        "busybox@sha256:" + "a" * 64
    )
    assert familiar_reference("docker.io/grafana/grafana:11") == "grafana/grafana:11"
    assert familiar_reference("localhost/app:1") == "localhost/app:1"
    assert familiar_reference("quay.io/podman/stable:v5") == "quay.io/podman/stable:v5"
    assert familiar_reference("registry:5000/library/x:1") == "registry:5000/library/x:1"
    row = {
        "Id": "sha256:" + "b" * 64,
        "RepoTags": ["docker.io/library/busybox:latest", "localhost/busybox:mine"],
        "RepoDigests": ["docker.io/library/busybox@sha256:" + "c" * 64],
    }
    summary = parse_image_summary(row)
    assert summary is not None
    assert summary.repo_tags == ("busybox:latest", "localhost/busybox:mine")
    assert summary.repo_digests == ("busybox@sha256:" + "c" * 64,)
    assert parse_image(row).repo_tags == summary.repo_tags


def test_api_144_to_151_fields() -> None:
    """Shapes from API 1.44-1.51 (constructed from the version history): per-endpoint
    MacAddress only (Config.MacAddress deprecated at 1.44), DNSNames (1.44), GwPriority
    (1.48), no short-ID alias (1.45), ImageManifestDescriptor (1.48); image inspect
    without VirtualSize (1.44), Container/ContainerConfig (1.45), with Descriptor (1.48).
    Under the containerd image store the image ID is the index digest, and a container's
    `Image` names the same digest, so the join by ID still holds."""
    index = "sha256:" + "d" * 64
    doc = inspect_payload(Image=index, ImageManifestDescriptor={"digest": "sha256:" + "e" * 64})
    doc["Config"].pop("MacAddress", None)
    for endpoint in doc["NetworkSettings"]["Networks"].values():
        endpoint.update(DNSNames=["rec-web", "search"], Aliases=["search"], GwPriority=0)
    c = parse_container(doc)
    assert c.image_id == index
    (attachment,) = c.networks
    assert (attachment.mac, attachment.aliases) == ("02:42:ac:12:00:02", ("search",))
    image = dict(load_json("image_inspect_busybox.json"), Id=index)
    for gone in ("VirtualSize", "Container", "ContainerConfig", "Parent", "DockerVersion"):
        image.pop(gone, None)
    image["Descriptor"] = {"mediaType": "application/vnd.oci.image.index.v1+json"}
    parsed = parse_image(image)
    assert (parsed.id, parsed.repo_tags) == (index, ("busybox:local",))
    assert parsed.size_bytes > 0


# -- the inventory: inspect corrected by events ------------------------------------------


def test_crash_loop_exit_code_die_then_inspect() -> None:
    """A restart resets inspect's ExitCode to 0 at once; the `die` before it keeps 3."""
    inventory = Inventory()
    die = recorded_events("events_crashloop.jsonl", "die")[-1]
    inventory.note_die(LOOP, die_exit_code(die), die.time_ns)
    inventory.upsert(parse_container(loop_doc()))
    assert inventory.publish().containers[LOOP].exit_code == 3


def test_crash_loop_exit_code_inspect_then_die() -> None:
    inventory = Inventory()
    inventory.upsert(parse_container(loop_doc()))
    assert inventory.publish().containers[LOOP].exit_code == 0
    die = recorded_events("events_crashloop.jsonl", "die")[-1]
    inventory.note_die(LOOP, die_exit_code(die), die.time_ns)
    assert inventory.publish().containers[LOOP].exit_code == 3


def test_a_die_older_than_the_last_finish_does_not_override() -> None:
    """A die long before inspect's FinishedAt ended an earlier run: a later run ended
    without its die being seen, so its code is unknown and inspect's stands."""
    inventory = Inventory()
    first = recorded_events("events_crashloop.jsonl", "die")[0]
    inventory.note_die(LOOP, 7, first.time_ns)
    inventory.upsert(parse_container(loop_doc()))
    assert inventory.publish().containers[LOOP].exit_code == 0


def test_a_finished_container_reports_inspects_exit_code() -> None:
    inventory = Inventory()
    die = recorded_events("events_crashloop.jsonl", "die")[-1]
    inventory.note_die(LOOP, 3, die.time_ns)
    inventory.upsert(parse_container(loop_doc(State__Status="exited", State__ExitCode=9)))
    assert inventory.publish().containers[LOOP].exit_code == 9


def test_oom_event_then_die_marks_the_run_oom_killed() -> None:
    (oom,) = recorded_events("events_oom.jsonl", "oom")
    container = parse_container(oom_doc())
    inventory = Inventory()
    inventory.note_oom(container.id, oom.time_ns)
    inventory.upsert(container)
    snap = inventory.publish()
    assert snap.containers[container.id].oom_killed
    assert snap.oom_events[container.id] == 1


def test_die_then_oom_event_marks_the_run_oom_killed() -> None:
    (oom,) = recorded_events("events_oom.jsonl", "oom")
    container = parse_container(oom_doc())
    inventory = Inventory()
    inventory.upsert(container)
    assert not inventory.publish().containers[container.id].oom_killed
    inventory.note_oom(container.id, oom.time_ns)
    assert inventory.publish().containers[container.id].oom_killed


def test_a_new_start_resets_the_oom_mark() -> None:
    (oom,) = recorded_events("events_oom.jsonl", "oom")
    inventory = Inventory()
    container = parse_container(oom_doc())
    inventory.note_oom(container.id, oom.time_ns)
    restarted = oom_doc(
        State__Status="running", State__Pid=4242, State__StartedAt="2026-12-01T23:30:00Z"
    )
    inventory.upsert(parse_container(restarted))
    snap = inventory.publish()
    assert not snap.containers[container.id].oom_killed
    assert snap.oom_events[container.id] == 1  # the counter stays


def test_a_restarting_container_has_no_process_list() -> None:
    """Between two runs (restarting, PID 0) the last run's PIDs are dead: dropped."""
    inventory = Inventory()
    inventory.upsert(parse_container(loop_doc()))
    listed = (ProcessInfo(21850, 0, 0, "root", "sleep 1", 0.0, 0, "S"),)
    inventory.set_processes(LOOP, listed)
    assert inventory.publish().processes[LOOP] == listed
    inventory.upsert(parse_container(loop_doc(State__Status="restarting", State__Pid=0)))
    assert LOOP not in inventory.publish().processes
    inventory.set_processes(LOOP, listed)  # a sweep that read it just before
    assert LOOP not in inventory.publish().processes


def test_network_members_follow_container_inspect() -> None:
    """No network re-inspect: a container that starts on a network (Podman sends no
    connect then) is a member as soon as its own inspect says so."""
    doc = load_json("network_inspect_members.json")
    inventory = Inventory()
    inventory.upsert_network(parse_network(doc))
    down = load_json("inspect_member_down.json")
    inventory.upsert(parse_container(down))
    inventory.upsert(parse_container(load_json("inspect_member_up.json")))
    snap = inventory.publish()
    assert snap.networks[doc["Id"]].members == parse_network(doc).members
    assert inventory.publish().networks is snap.networks  # nothing changed: same object
    endpoint = next(iter(down["NetworkSettings"]["Networks"].values()))
    endpoint.update(EndpointID="f" * 64, IPAddress="172.23.0.3", MacAddress="02:42:ac:17:00:03")
    down["State"].update(Status="running", Running=True, Pid=777)
    inventory.upsert(parse_container(down))
    members = inventory.publish().networks[doc["Id"]].members
    assert [(m.name, m.ipv4) for m in members] == [
        ("dxt-fixrec-13811-down", "172.23.0.3"),
        ("dxt-fixrec-13811-up", "172.23.0.2"),
    ]


def test_podman4_endpoints_join_their_network_by_name() -> None:
    """Podman 4's NetworkID is the network's name: the edge targets the inspected
    network node (no phantom node), and the network counts the member."""
    doc = load_json("network_inspect_members.json")
    up = load_json("inspect_member_up.json")
    for name, endpoint in up["NetworkSettings"]["Networks"].items():
        endpoint.update(NetworkID=name, EndpointID="")
    inventory = Inventory()
    inventory.upsert_network(parse_network(doc))
    inventory.upsert(parse_container(up))
    view = topology_view(inventory.publish())
    networks = [n for n in view["nodes"] if n["kind"] == "network"]
    assert [(n["id"], n["secondarystat"]) for n in networks] == [
        ("network/" + doc["Id"], "1 container")
    ]
    assert [e["target"] for e in view["edges"]] == ["network/" + doc["Id"]]


# -- the watcher -------------------------------------------------------------------------


@pytest.fixture(name="watching")
async def fixture_watching(
    fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> AsyncIterator[Watcher]:
    async with running_watcher(fake_engine, inventory, clock) as watcher:
        yield watcher


async def add_container(fake_engine: FakeEngine, inventory: Inventory, doc: dict[str, Any]) -> str:
    cid = fake_engine.add(doc)
    fake_engine.emit(event("container", "create", cid, 1_796_167_500_000_000_000))
    await until(inventory, lambda s: cid in s.containers)
    return cid


def inspects(fake_engine: FakeEngine, cid: str, since: int) -> int:
    return fake_engine.calls[since:].count(f"inspect {cid[:12]}")


async def test_each_failing_probe_reinspects_once_per_interval(
    watching: Watcher, fake_engine: FakeEngine, inventory: Inventory
) -> None:
    """The recorded probes (1 s interval, about 1.07 s apart) each re-inspect, so the
    streak follows the engine; a second exec ending within the interval does not."""
    doc = load_json("inspect_health_failing.json")
    cid = await add_container(fake_engine, inventory, doc)
    probes = recorded_events("events_health.jsonl", "exec_die")
    calls = len(fake_engine.calls)
    for streak, probe in enumerate(probes[:3], start=7):
        doc["State"]["Health"]["FailingStreak"] = streak
        fake_engine.emit(probe)
        await until(inventory, lambda s, n=streak: s.containers[cid].failing_streak == n)
    assert inspects(fake_engine, cid, calls) == 3
    doc["State"]["Health"]["FailingStreak"] = 99
    soon = replace(probes[2], time_ns=probes[2].time_ns + 300_000_000)
    fake_engine.emit(soon)  # 0.3 s after the last: within the interval
    fake_engine.emit(event("container", "kill", cid, soon.time_ns + 1))  # then a real change
    await until(inventory, lambda s: s.containers[cid].failing_streak == 99)
    assert inspects(fake_engine, cid, calls) == 4  # the kill's, not the early exec's


async def test_probes_of_healthy_or_unchecked_containers_cost_no_inspect(
    watching: Watcher, fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """A passing probe on a healthy container with no streak changes nothing; an exec in
    a container without a healthcheck is no probe."""
    healthy = await add_container(fake_engine, inventory, inspect_payload(cid="1" * 64))
    plain = await add_container(
        fake_engine, inventory, inspect_payload("inspect_exited.json", cid="2" * 64)
    )
    calls = len(fake_engine.calls)
    t = 1_796_167_600_000_000_000
    fake_engine.emit(event("container", "exec_die", healthy, t, exitCode="0"))
    fake_engine.emit(event("container", "exec_die", plain, t + 1, exitCode="1"))
    await clock.advance(1.0)
    fake_engine.emit(event("container", "kill", "3" * 64, t + 2))  # a marker: work to do
    await until(inventory, lambda s: fake_engine.calls[calls:].count("inspect 333333333333") == 1)
    assert inspects(fake_engine, healthy, calls) == inspects(fake_engine, plain, calls) == 0


async def test_crash_loop_die_event_gives_the_exit_code(
    watching: Watcher, fake_engine: FakeEngine, inventory: Inventory
) -> None:
    """The engine already runs the next run when the exporter inspects: ExitCode 0."""
    cid = await add_container(fake_engine, inventory, loop_doc())
    assert inventory.snapshot.containers[cid].exit_code == 0
    fake_engine.emit(recorded_events("events_crashloop.jsonl", "die")[-1])
    snap = await until(inventory, lambda s: s.containers[cid].exit_code == 3)
    assert snap.containers[cid].state == "running"


EXIT_LOOP = "f20e1d0ae867d279bfb9ed5ac2865658f0adba8593718e6c0b21b1d9ae9760c2"


def iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def test_an_exit_reported_twice_counts_once(
    watching: Watcher, fake_engine: FakeEngine, inventory: Inventory
) -> None:
    """Recorded on Docker 20.10 (`--restart on-failure:2`, exit 3) with two `die` events
    repeated as engines before 29.2.1 and 29.4.0 send them (tests/fixtures/engine/README.md),
    one with exitCode 137: each exit counts once in docker_events_total and /events, the
    repeats are counted apart, and the restarted run keeps the exit code 3, not 137."""
    create, start1, die1, again137, start2, die2, start3, die3, again3 = recorded_events(
        "events_repeated_exit.jsonl"
    )
    assert (again137.action, die_exit_code(again137), again3.action) == ("die", 137, "die")
    fake_engine.add(  # what inspect says once the policy restarted it
        inspect_payload(
            "inspect_exit_loop_exited.json",
            State__Status="running", State__Running=True, State__Pid=4242, State__ExitCode=0,
            State__StartedAt=iso(start2.time_ns), State__FinishedAt=iso(die1.time_ns),
        )
    )  # fmt: skip
    for e in (create, start1, die1, again137, start2):
        fake_engine.emit(e)
    snap = await until(
        inventory,
        lambda s: s.status.events.get(("container", "start")) == 2 and EXIT_LOOP in s.containers,
    )
    assert snap.containers[EXIT_LOOP].state == "running"
    assert snap.containers[EXIT_LOOP].exit_code == 3
    fake_engine.containers[EXIT_LOOP] = load_json("inspect_exit_loop_exited.json")
    for e in (die2, start3, die3, again3):
        fake_engine.emit(e)
    snap = await until(
        inventory,
        lambda s: (
            s.status.events.get(("container", "die"), 0) + s.status.repeated_exits == 5
            and s.containers[EXIT_LOOP].state == "exited"
        ),
    )
    assert snap.status.events[("container", "die")] == 3
    assert [r.action for r in inventory.history.records() if r.action == "die"] == ["die"] * 3
    body = Exposition(["events"], Options(), process_metrics=False).render(snap).data
    assert value(body, "docker_events_total", type="container", action="die") == 3
    assert value(body, "docker_exporter_event_lines_discarded_total", reason="repeated_exit") == 2
    assert snap.containers[EXIT_LOOP].exit_code == 3


async def test_a_die_after_a_reconnect_is_a_new_exit(
    watching: Watcher, fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock
) -> None:
    """A `start` may have been lost between two streams: the first `die` on a new stream
    is never taken for a repeat."""
    create, start1, die1, *_ = recorded_events("events_repeated_exit.jsonl")
    fake_engine.add(load_json("inspect_exit_loop_exited.json"))
    for e in (create, start1, die1):
        fake_engine.emit(e)
    await until(inventory, lambda s: s.status.events.get(("container", "die")) == 1)
    fake_engine.end_stream()
    await until(inventory, lambda s: not s.status.stream_up)
    await clock.advance(1.0)
    await until(inventory, lambda s: s.status.stream_up)
    fake_engine.emit(replace(die1, time_ns=die1.time_ns + 5_000_000_000))
    snap = await until(inventory, lambda s: s.status.events.get(("container", "die")) == 2)
    assert snap.status.repeated_exits == 0


@pytest.mark.parametrize("order", [("oom", "die"), ("die", "oom")])
async def test_oom_killed_whatever_the_order_of_oom_and_die(
    watching: Watcher, fake_engine: FakeEngine, inventory: Inventory, order: tuple[str, ...]
) -> None:
    """Inspect says OOMKilled false (20.10 when the OOM notice loses the race with the
    exit); the `oom` event of the run marks it, before or after the `die`."""
    running = oom_doc(State__Status="running", State__Pid=99, State__ExitCode=0)
    cid = await add_container(fake_engine, inventory, running)
    recorded = {e.action: e for e in recorded_events("events_oom.jsonl")}
    if order == ("die", "oom"):  # the race: containerd's OOM notice comes after the exit
        oom = recorded["oom"]
        recorded["oom"] = replace(oom, time_ns=recorded["die"].time_ns + 1_000_000)
    fake_engine.containers[cid] = oom_doc()  # what inspect says after the kill
    fake_engine.emit(recorded[order[0]])
    fake_engine.emit(recorded[order[1]])
    snap = await until(
        inventory, lambda s: s.containers[cid].state == "exited" and s.oom_events.get(cid) == 1
    )
    assert snap.containers[cid].oom_killed
    assert snap.containers[cid].exit_code == 137


class EmptyTopEngine(FakeEngine):
    """Podman 4.3's `top`: ps_args answered with nothing, the default with unsplit rows."""

    async def top(self, container_id: str, ps_args: str) -> tuple[ProcessInfo, ...]:
        self.calls.append(f"top {container_id[:12]} {ps_args}")
        await asyncio.sleep(0)
        return () if ps_args else parse_top(load_json("top_podman4_default.json"))


async def test_top_falls_back_when_ps_args_get_an_empty_answer(clock: FakeClock) -> None:
    engine = EmptyTopEngine()
    inventory = Inventory()
    engine.add(inspect_payload(cid=PODMAN_CID))
    watcher = Watcher(engine, inventory, clock)
    await watcher.resync()
    poller = TopPoller(engine, inventory, clock, interval=60.0)
    await poller.step()
    assert [p.command for p in inventory.snapshot.processes[PODMAN_CID]] == [
        "sleep 603",
        "sh -c while true; do sleep 1; done",
    ]
    await clock.advance(60.0)
    await poller.step()
    assert [c for c in engine.calls if c.startswith("top ")] == [
        f"top {PODMAN_CID[:12]} {PS_ARGS}",
        f"top {PODMAN_CID[:12]} {PSGO_ARGS}",
        f"top {PODMAN_CID[:12]} ",
        f"top {PODMAN_CID[:12]} ",  # from then on, the default only
    ]

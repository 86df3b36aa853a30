"""Shared fixtures: a fake engine replaying recorded payloads, a fake clock, live helpers."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

from exporter.cli.settings import Settings
from exporter.engine.api import EngineUnavailable, NotFound, RequestFailed, ServerError
from exporter.engine.config import EngineConfig, version_tuple
from exporter.engine.events import Event, parse_event
from exporter.engine.models import (
    HEALTH_IN_LIST_API,
    Container,
    EngineInfo,
    ListedContainer,
    parse_container,
    parse_engine,
    parse_listed,
)
from exporter.engine.resources import (
    DiskUsage,
    Image,
    ImageSummary,
    Network,
    Volume,
    parse_disk_usage,
    parse_image,
    parse_image_summary,
    parse_network,
    parse_top,
    parse_volumes,
)
from exporter.engine.stats import (
    ContainerSizes,
    ContainerStats,
    ProcessInfo,
    parse_api_stats,
    parse_container_sizes,
)
from exporter.inventory.store import Inventory, Snapshot

FIXTURES = Path(__file__).parent / "fixtures"
DEFAULT_HOST = "unix:///var/run/docker.sock"
HANG_SCALE = float(os.environ.get("DXT_HANG_SCALE") or 1)
"""Multiplies the bounds that only guard a hang (the CLI's timeout, `until`'s): an emulated
host (the guest leg under TCG) is several times slower at everything."""


def load_json(name: str) -> Any:
    return json.loads((FIXTURES / "engine" / name).read_text())


def inspect_payload(
    name: str = "inspect_running.json", *, cid: str | None = None, **changes: Any
) -> dict[str, Any]:
    """A recorded inspect document, optionally with another ID/name and nested changes."""
    doc: dict[str, Any] = copy.deepcopy(load_json(name))
    if cid is not None:
        old = doc["Id"]
        doc = json.loads(json.dumps(doc).replace(old, cid).replace(old[:12], cid[:12]))
    for path, value in changes.items():
        target = doc
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return doc


class FakeClock:
    """Time moves only when a test calls `advance`; sleepers wake when their deadline passes."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        await future

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [(d, f) for d, f in self._sleepers if d <= self.now]
        self._sleepers = [(d, f) for d, f in self._sleepers if d > self.now]
        for _, future in due:
            if not future.done():
                future.set_result(None)
        for _ in range(5):  # let the woken sleepers run; tests await outcomes with `until`
            await asyncio.sleep(0)


def list_row(doc: dict[str, Any], with_health: bool = False) -> dict[str, Any]:
    """The `/containers/json` row the Engine lists for a container with this inspect
    document (its uptime fixed: the signature must not depend on it); `with_health`: the
    `Health` object of API 1.52+ (`none` for a stopped container)."""
    state = doc.get("State") or {}
    health = (state.get("Health") or {}).get("Status")
    extra: dict[str, Any] = {}
    if with_health:
        running = bool(state.get("Running"))
        extra["Health"] = {
            "Status": (health or "none") if running else "none",
            "FailingStreak": (state.get("Health") or {}).get("FailingStreak", 0) if running else 0,
        }
    status = "Up 5 minutes" if state.get("Running") else f"Exited ({state.get('ExitCode', 0)})"
    if health:
        status += f" ({'health: starting' if health == 'starting' else health})"
    settings = doc.get("NetworkSettings") or {}
    ports = []
    for key, bindings in (settings.get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        for binding in bindings or [{}]:
            row: dict[str, Any] = {"PrivatePort": int(port), "Type": proto}
            if binding:
                row.update(IP=binding.get("HostIp"), PublicPort=int(binding["HostPort"]))
            ports.append(row)
    return {
        "Id": doc["Id"],
        "Names": [doc.get("Name", "")],
        "ImageID": doc.get("Image", ""),
        "Labels": (doc.get("Config") or {}).get("Labels") or {},
        "State": state.get("Status", ""),
        "Status": status,
        "Ports": ports,
        "NetworkSettings": {
            "Networks": {
                name: {"IPAddress": net.get("IPAddress", "")}
                for name, net in (settings.get("Networks") or {}).items()
            }
        },
        "Mounts": [
            {"Name": m.get("Name", ""), "Type": m.get("Type")} for m in doc.get("Mounts") or []
        ],
        **extra,
    }


class FakeEngine:
    """Implements the adapter's Engine protocol over recorded payloads and a scripted stream."""

    def __init__(self) -> None:
        self.containers: dict[str, dict[str, Any]] = {}
        self.info_doc = load_json("info.json")
        self.version_doc = load_json("version.json")
        self.down = False
        self.streams: list[asyncio.Queue[Event | None]] = []
        self.since: list[int | None] = []
        self.calls: list[str] = []
        self.replay: list[Event] = []
        self.closed = False
        self.stats_docs: dict[str, dict[str, Any]] = {}
        self.stats_in_flight = 0
        self.max_stats_in_flight = 0
        self.images: dict[str, tuple[dict[str, Any], list[Any]]] = {}
        self.networks: dict[str, dict[str, Any]] = {}
        self.volumes: list[dict[str, Any]] = []
        self.top_docs: dict[str, dict[str, Any]] = {}
        self.df_doc: dict[str, Any] = {}
        self.thawed = asyncio.Event()  # cleared by freeze(): every request hangs, as on STOP
        self.thawed.set()
        self.failing: dict[str, Exception] = {}  # call name -> what it raises (one object)
        self.list_gate: asyncio.Event | None = None
        self.api_version = "1.41"  # the negotiated one: "1.55" lists health (Docker 29)
        """Holds the answer of the next list_containers call (taken, not yet answered)."""

    def add(self, doc: dict[str, Any]) -> str:
        self.containers[doc["Id"]] = doc
        return str(doc["Id"])

    def add_image(self, inspect: dict[str, Any], history: list[Any] | None = None) -> str:
        self.images[inspect["Id"]] = (inspect, history or [])
        return str(inspect["Id"])

    def add_network(self, doc: dict[str, Any]) -> str:
        self.networks[doc["Id"]] = doc
        return str(doc["Id"])

    def add_recorded_objects(self) -> None:
        """The images, networks, volumes, top and df payloads recorded on the 20.10 engine."""
        self.add_image(load_json("image_inspect.json"), load_json("image_history.json"))
        self.add_image(
            load_json("image_inspect_busybox.json"), load_json("image_history_busybox.json")
        )
        for name in ("network_inspect.json", "network_inspect_bridge.json"):
            self.add_network(load_json(name))
        self.volumes = list(load_json("volumes.json")["Volumes"])
        self.df_doc = load_json("system_df.json")

    def _check(self, what: str) -> None:
        self.calls.append(what)
        if self.down:
            raise EngineUnavailable(f"{what}: fake engine is down")
        if what in self.failing:
            raise self.failing[what]

    async def _gate(self) -> None:
        """A frozen engine (`kill -STOP`): the request is sent and never answered."""
        await self.thawed.wait()

    def freeze(self) -> None:
        self.thawed.clear()

    def thaw(self) -> None:
        self.thawed.set()

    async def ping(self) -> None:
        self._check("ping")
        await self._gate()

    async def engine_info(self) -> EngineInfo:
        self._check("info")
        await self._gate()
        return parse_engine(self.info_doc, self.version_doc, self.api_version)

    async def list_containers(self) -> dict[str, ListedContainer]:
        """The adapter's answer: each container's list signature (and health, where the
        row has it), from the row `/containers/json` would give for its inspect document
        (the real function)."""
        self._check("list")
        await self._gate()
        with_health = version_tuple(self.api_version) >= HEALTH_IN_LIST_API
        listed = {
            cid: parse_listed(list_row(doc, with_health)) for cid, doc in self.containers.items()
        }
        gate, self.list_gate = self.list_gate, None
        if gate is not None:  # this listing is taken now; its answer arrives when set
            await gate.wait()
        return listed

    async def list_health(self, container_ids: Sequence[str]) -> dict[str, ListedContainer]:
        """The list rows of these containers (the adapter's `id` filter)."""
        self._check("list health")
        await self._gate()
        with_health = version_tuple(self.api_version) >= HEALTH_IN_LIST_API
        return {
            cid: parse_listed(list_row(self.containers[cid], with_health))
            for cid in container_ids
            if cid in self.containers
        }

    async def inspect_container(self, container_id: str) -> Container:
        self._check(f"inspect {container_id[:12]}")
        await self._gate()
        await asyncio.sleep(0)
        if container_id not in self.containers:
            raise NotFound(container_id)
        return parse_container(self.containers[container_id])

    async def container_stats(
        self, container_id: str, engine: EngineInfo | None
    ) -> ContainerStats | None:
        self._check(f"stats {container_id[:12]}")
        await self._gate()
        self.stats_in_flight += 1
        self.max_stats_in_flight = max(self.max_stats_in_flight, self.stats_in_flight)
        try:
            await asyncio.sleep(0)
            if container_id not in self.stats_docs:
                raise NotFound(container_id)
            version = engine.cgroup_version if engine else ""
            return parse_api_stats(self.stats_docs[container_id], cgroup_version=version)
        finally:
            self.stats_in_flight -= 1

    async def list_images(self) -> list[ImageSummary]:
        self._check("images")
        await self._gate()
        rows = [parse_image_summary(doc) for doc, _ in self.images.values()]
        return [r for r in rows if r is not None]

    async def inspect_image(self, image_id: str) -> Image:
        self._check(f"image {image_id.removeprefix('sha256:')[:12]}")
        await self._gate()
        await asyncio.sleep(0)
        if image_id not in self.images:
            raise NotFound(image_id)
        doc, history = self.images[image_id]
        return parse_image(doc, history)

    async def list_network_ids(self) -> list[str]:
        self._check("networks")
        await self._gate()
        return list(self.networks)

    async def inspect_network(self, network_id: str) -> Network:
        self._check(f"network {network_id[:12]}")
        await self._gate()
        await asyncio.sleep(0)
        for nid, doc in self.networks.items():
            if network_id in (nid, doc.get("Name")):
                return parse_network(doc)
        raise NotFound(network_id)

    async def list_volumes(self) -> list[Volume]:
        self._check("volumes")
        await self._gate()
        return parse_volumes({"Volumes": self.volumes})

    async def top(self, container_id: str, ps_args: str) -> tuple[ProcessInfo, ...]:
        self._check(f"top {container_id[:12]} {ps_args}")
        await self._gate()
        await asyncio.sleep(0)
        if container_id not in self.containers:
            raise NotFound(container_id)
        if self.containers[container_id]["State"]["Status"] != "running":
            raise RequestFailed(f"HTTP 409: container {container_id} is not running")
        if ps_args and container_id not in self.top_docs:
            raise ServerError("Couldn't find PID field in ps output")
        return parse_top(self.top_docs.get(container_id, load_json("top_default.json")))

    async def disk_usage(self) -> DiskUsage:
        self._check("df")
        await self._gate()
        await asyncio.sleep(0)
        return parse_disk_usage(self.df_doc, 0.0)

    async def container_sizes(self) -> ContainerSizes:
        self._check("df")
        await self._gate()
        await asyncio.sleep(0)
        return parse_container_sizes(load_json("containers_size.json"), 0.0)

    @asynccontextmanager
    async def events(self, since_ns: int | None) -> AsyncIterator[AsyncIterator[Event]]:
        self._check("events")
        await self._gate()
        self.since.append(since_ns)
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        for event in self.replay:
            queue.put_nowait(event)
        self.streams.append(queue)

        async def lines() -> AsyncIterator[Event]:
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield event

        yield lines()

    def emit(self, event: Event) -> None:
        self.streams[-1].put_nowait(event)

    def end_stream(self) -> None:
        self.streams[-1].put_nowait(None)

    async def drained(self) -> None:
        """Until the watcher took every emitted event. It handles an event in the step
        that takes it, so after this each one has been handled: a negative assertion
        ("not published yet") then tests something."""
        for _ in range(10_000):
            if self.streams[-1].empty():
                return
            await asyncio.sleep(0)
        raise AssertionError("the watcher never took the emitted events")

    async def close(self) -> None:
        self.closed = True


def event(kind: str, action: str, actor: str, time_ns: int, **attributes: str) -> Event:
    parsed = parse_event(
        {
            "Type": kind,
            "Action": action,
            "Actor": {"ID": actor, "Attributes": attributes},
            "timeNano": time_ns,
        }
    )
    assert parsed is not None
    return parsed


async def until(
    inventory: Inventory, predicate: Callable[[Snapshot], bool], timeout: float = 5.0
) -> Snapshot:
    """Wait for a publication that satisfies `predicate` (the timeout only guards a hang)."""
    if predicate(inventory.snapshot):
        return inventory.snapshot
    timeout *= HANG_SCALE
    ready = asyncio.Event()

    def check(snapshot: Snapshot) -> None:
        if predicate(snapshot):
            ready.set()

    inventory.subscribe(check)
    await asyncio.wait_for(ready.wait(), timeout)
    return inventory.snapshot


# -- scrapes -----------------------------------------------------------------------------
#
# One set of helpers for every test that reads an exposition: parsed by prometheus_client
# (the format oracle), looked up by metric name and a subset of labels.

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_samples(text: str | bytes) -> Samples:
    """Every sample of an exposition (text format), by (name, label set)."""
    from prometheus_client.parser import text_string_to_metric_families

    body = text.decode() if isinstance(text, bytes) else text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def value(samples: Samples | str | bytes, metric: str, **labels: str) -> float | None:
    """The value of the first sample of `metric` whose labels include `labels`."""
    parsed = samples if isinstance(samples, dict) else parse_samples(samples)
    for (name, labelset), v in parsed.items():
        if name == metric and set(labels.items()) <= labelset:
            return v
    return None


def series(samples: Samples | str | bytes, metric: str, **labels: str) -> list[dict[str, str]]:
    """The label sets of every sample of `metric` whose labels include `labels`."""
    parsed = samples if isinstance(samples, dict) else parse_samples(samples)
    return [
        dict(labelset)
        for (name, labelset), _ in parsed.items()
        if name == metric and set(labels.items()) <= labelset
    ]


async def wait_for(
    check: Callable[[], Awaitable[Any]], what: str, timeout: float = 30.0, pause: float = 0.05
) -> Any:
    """Await `check()` until it returns something truthy, and return that; the deadline
    only guards against a hang (AssertionError naming `what`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout * HANG_SCALE
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:g}s")
        await asyncio.sleep(pause)


class Scraper:
    """An app under test, scraped over HTTP like Prometheus and an operator would."""

    def __init__(self, client: Any, inventory: Inventory | None = None) -> None:
        self.client = client
        self.inventory = inventory

    async def text(self, path: str = "/metrics") -> str:
        resp = await self.client.get(path)
        assert resp.status == 200, path
        return str(await resp.text())

    async def samples(self) -> Samples:
        return parse_samples(await self.text())

    async def get(self, path: str) -> Any:
        resp = await self.client.get(path)
        assert resp.status == 200, path
        return await resp.json()

    async def wait(self, predicate: Callable[[Samples], bool], timeout: float = 30.0) -> Samples:
        """Scrape until `predicate` holds; the last scrape is in the error."""
        last: list[Samples] = [{}]

        async def check() -> Samples | None:
            last[0] = await self.samples()
            return last[0] if predicate(last[0]) else None

        try:
            result: Samples = await wait_for(check, "scrape condition", timeout)
        except AssertionError:
            raise AssertionError(
                "condition not reached; last scrape:\n" + await self.text()
            ) from None
        return result

    async def wait_doc(
        self, path: str, predicate: Callable[[Any], bool], timeout: float = 30.0
    ) -> Any:
        """GET `path` until its JSON satisfies `predicate`."""
        last: list[Any] = [None]

        async def check() -> Any:
            resp = await self.client.get(path)
            if resp.status != 200:
                return None
            last[0] = await resp.json()
            return [last[0]] if predicate(last[0]) else None

        try:
            return (await wait_for(check, path, timeout))[0]
        except AssertionError:
            raise AssertionError(f"{path}: condition not reached; last: {last[0]}") from None


# -- skips, named for their cause ------------------------------------------------------
#
# Every skip says why, as a prefix of its reason: an engine limit (a documented trait of the
# engine under test, ENGINE_LIMITS), a test-bed limit (something this machine does not
# provide: a tool, an image, an engine; a debt, since scripts/testbed should provide it),
# or not applicable here (a test of another place: the guest leg). Under CI (`CI` set, as
# .ci/run sets it for every run) a test-bed limit and a skip that names no cause are
# failures: CI cannot be green with its live tests skipped. Skips are counted by cause in
# the terminal summary's `skips by cause:` line, which .ci/run reads.

ENGINE_LIMIT = "engine limit"
TESTBED_LIMIT = "test-bed limit"
NOT_APPLICABLE = "not applicable here"
UNNAMED = "unnamed"
SKIP_CAUSES = (ENGINE_LIMIT, TESTBED_LIMIT, NOT_APPLICABLE)


def because(cause: str, reason: str) -> str:
    """A skip reason that names its cause (for `skipif(..., reason=because(...))`)."""
    assert cause in SKIP_CAUSES, cause
    return f"{cause}: {reason}"


def skip_engine_limit(reason: str) -> NoReturn:
    pytest.skip(because(ENGINE_LIMIT, reason))


def skip_testbed_limit(reason: str) -> NoReturn:
    """A failure under CI (see pytest_runtest_makereport), a skip elsewhere."""
    pytest.skip(because(TESTBED_LIMIT, reason))


def skip_not_applicable(reason: str) -> NoReturn:
    pytest.skip(because(NOT_APPLICABLE, reason))


def skip_cause(reason: str) -> str:
    """The cause a skip reason names, else UNNAMED."""
    return next((c for c in SKIP_CAUSES if reason.startswith(f"{c}: ")), UNNAMED)


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


SKIPS: dict[str, list[str]] = {}
"""This session's skips: cause -> "nodeid: reason"."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    del call
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)
    reason = reason.removeprefix("Skipped: ")
    cause = skip_cause(reason)
    if in_ci() and cause in (TESTBED_LIMIT, UNNAMED):
        report.outcome = "failed"
        report.longrepr = (
            f"CI must not skip this ({cause}): {reason}\n"
            "a test-bed limit is something scripts/testbed must provide; a skip must name "
            f"its cause ({', '.join(SKIP_CAUSES)}: tests/conftest.py)"
        )
        return
    SKIPS.setdefault(cause, []).append(f"{item.nodeid}: {reason}")


def skip_counts() -> dict[str, int]:
    return {cause: len(SKIPS.get(cause, ())) for cause in (*SKIP_CAUSES, UNNAMED)}


FINDINGS: list[str] = []
"""Figures live tests measured (`found`), printed at the end of the run: a passing test's
own output is captured, and CI's log must still say what it found."""


def found(line: str) -> None:
    """Keep `line` for the run's summary (and print it, for `-s`)."""
    FINDINGS.append(line)
    print(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """What live tests measured (`found`), then one line, always (.ci/run reads it, and
    fails a run that lacks it): the skips by cause, or "none" (`-rs` lists each skip with
    its reason)."""
    for line in FINDINGS:
        terminalreporter.write_line(line)
    counts = {cause: n for cause, n in skip_counts().items() if n}
    text = ", ".join(f"{n} {cause}" for cause, n in counts.items())
    terminalreporter.write_line(f"skips by cause: {text or 'none'}")


@pytest.fixture(name="fake_engine")
def fixture_fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture(name="clock")
def fixture_clock() -> FakeClock:
    return FakeClock()


# -- live engine --------------------------------------------------------------
#
# The engine under test is the one the docker CLI talks to: $DOCKER_HOST, else the default
# socket (scripts/testbed --leg LEG prints the DOCKER_HOST of each engine leg). The live
# tests compare the exporter with that engine's own answer (docker inspect, ...), so no test
# names an engine version. What an engine cannot do, or where the exporter is known to
# differ from it, is declared with the `needs` and `gap` markers below.


def engine_host() -> str:
    """The engine under test, as the docker CLI and `--docker.host` spell it."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def live_settings(**changes: Any) -> Settings:
    """The exporter's settings, pointed at the engine under test."""
    return replace(Settings(**changes), docker_host=engine_host())


def live_engine_config(**changes: Any) -> EngineConfig:
    return EngineConfig(host=engine_host(), **changes)


def engine_socket() -> str | None:
    """The unix socket path of the engine under test (None for tcp:// engines)."""
    parts = urlsplit(engine_host())
    return parts.path if parts.scheme == "unix" else None


def _load_tested_on() -> ModuleType:
    """scripts/tested_on.py (a script, not a package): the engine facts parser."""
    path = Path(__file__).parent.parent / "scripts" / "tested_on.py"
    spec = importlib.util.spec_from_file_location("tested_on", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tested_on"] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


tested_on = _load_tested_on()
EngineFacts = tested_on.EngineFacts


@functools.cache
def engine_facts() -> EngineFacts | None:
    """The engine under test, asked once per session; None when no engine answers."""
    if shutil.which("docker") is None:
        return None
    facts: EngineFacts | None = tested_on.ask_engine()
    return facts


# What some engines cannot do at all: `@pytest.mark.needs("name")` skips a test there, with
# the reason. These are engine limits, not exporter faults (see engine-legs.md).
ENGINE_LIMITS: dict[str, tuple[str, str]] = {
    "oom-killed": ("podman4", "Podman 4 never sets State.OOMKilled (the kernel's kill is unseen)"),
    "oom-event": ("podman", "Podman sends no container `oom` event"),
    "kill-signal": ("podman", "Podman's container `kill` event names no signal"),
    "restarting-state": (
        "podman",
        "Podman restarts a container at once, without Docker's back-off: it is never "
        "`restarting`, so there is no state between two runs to see",
    ),
    "running-network-members": (
        "podman4",
        "Podman 4's `network inspect` lists a network's stopped containers too (Docker and "
        "Podman 5 list the running ones)",
    ),
    "update-cpus": ("podman", "`docker update --cpus` is 404 on Podman 4 and ignored on 5"),
    "api-memory-working-set": (
        "podman",
        "Podman's stats API sends no memory_stats.stats (no inactive_file to subtract): 4.3's "
        "usage is the cgroup's coarse usage_in_bytes (1 MiB against 560 KiB), 5.4's about the "
        "RSS (60 KiB against 780 KiB) for a busybox loop",
    ),
    "log-files": (
        "podman",
        "Podman logs through k8s-file (or journald), neither json-file nor local: no log file "
        "the exporter stats",
    ),
    "api-interface-names": (
        "podman4",
        "Podman 4's stats API names the one interface `network` (and swaps rx and tx)",
    ),
}


def engine_lacks(capability: str) -> bool:
    """Whether the engine under test is known to lack `capability` (ENGINE_LIMITS)."""
    facts = engine_facts()
    return facts is not None and ENGINE_LIMITS[capability][0] in facts.traits


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`gap(trait, reason=...)`: the exporter is known to differ from this engine; the test
    must fail there (strict xfail) until the gap is fixed, and pass everywhere else.
    `gap(..., race=True)` for a gap that shows only when the engine's timing exposes it:
    a non-strict xfail there, since a strict one would fail CI whenever the race is won."""
    del config
    facts: EngineFacts | None = None
    for item in items:
        for mark in item.iter_markers("gap"):
            facts = facts or engine_facts()
            if facts is not None and set(mark.args) & facts.traits:
                reason = f"exporter gap on {facts.label}: {mark.kwargs['reason']}"
                race = bool(mark.kwargs.get("race", False))
                item.add_marker(pytest.mark.xfail(reason=reason, strict=not race))


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs"):
        for capability in mark.args:
            if engine_lacks(capability):
                facts = engine_facts()
                assert facts is not None
                skip_engine_limit(
                    f"{facts.label} lacks {capability}: {ENGINE_LIMITS[capability][1]}"
                )


@asynccontextmanager
async def health_checks_run(container: str, interval: float = 1.0) -> AsyncIterator[None]:
    """While the test waits, `container`'s health checks run as its engine schedules them.
    Docker runs them itself. Podman runs them from a systemd timer per container, and the
    legs' `podman system service` has no systemd: here the test is that timer, and asks
    the engine to run the check (the libpod API's GET /libpod/containers/NAME/healthcheck,
    what `podman healthcheck run` does) every `interval` seconds."""
    facts = engine_facts()
    socket_path = engine_socket()
    if facts is None or facts.product != "podman" or socket_path is None:
        yield
        return
    import aiohttp  # the client only (tests may; the exporter's web layer is apart)

    url = f"http://podman/v4.0.0/libpod/containers/{container}/healthcheck"

    async def timer() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(socket_path)) as session:
            while True:
                async with session.get(url) as response:  # 409 once it stopped: no check
                    await response.read()
                await asyncio.sleep(interval)  # the timer's period, not a wait for a result

    task = asyncio.create_task(timer())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def engine_answers() -> bool:
    socket_path = engine_socket()
    if (socket_path is not None and not os.path.exists(socket_path)) or shutil.which(
        "docker"
    ) is None:
        return False
    result = subprocess.run(
        ["docker", "image", "inspect", "busybox:local"], capture_output=True, check=False
    )
    return result.returncode == 0


# `docker run` flags for a container the kernel's OOM killer must end (with `tail /dev/zero`,
# which buffers one endless line). The limit leaves room for the runtime's own start: `runc
# init` waits in the container's cgroup between create and start, its Go heap charged there
# (opencontainers/runc#4021; runc#1980 and #4427 saw 10-15 MiB limits OOM-kill `runc init`).
# With 8 MiB, on a slow machine (qemu's TCG), where `runc init` waits longest, the OOM killer
# can end `runc init` before the start: the shim records its init as exited and the start
# fails with containerd's `cannot start a stopped process` (its stopped state's Start), as it
# would for a user with so small a limit. tail reaches any limit alike: 64 MiB loses nothing.
OOM_RUN = ("--memory", "64m", "--memory-swap", "64m")


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(check: Callable[[], Any], what: str, timeout: float, pause: float = 0.5) -> Any:
    """Call `check` until it returns something truthy, and return that (an OSError counts
    as not yet: a server still starting); the deadline only guards against a hang."""
    deadline = time.monotonic() + timeout * HANG_SCALE
    while True:
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout * HANG_SCALE:g}s")
        time.sleep(pause)  # a poll interval, not a wait for time to pass


def docker(*args: str, check: bool = True, timeout: float = 60) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False, timeout=timeout * HANG_SCALE
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


class LiveDocker:
    """Creates uniquely named objects on the live engine and removes them afterwards."""

    def __init__(self) -> None:
        self.prefix = f"dxt-{uuid.uuid4().hex[:8]}"
        self.containers: list[str] = []
        self.networks: list[str] = []
        self.volumes: list[str] = []
        self.images: list[str] = []

    def name(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"

    def run(
        self,
        suffix: str,
        *args: str,
        cmd: tuple[str, ...] = ("sleep", "600"),
        image: str = "busybox:local",
    ) -> str:
        name = self.name(suffix)
        self.containers.append(name)
        return docker("run", "-d", "--name", name, *args, image, *cmd)

    def build(self, suffix: str, dockerfile: str) -> str:
        """Build `dockerfile` (FROM busybox:local: nothing is pulled) as `<prefix>-<suffix>:1`."""
        tag = f"{self.name(suffix)}:1"
        self.images.append(tag)
        result = subprocess.run(
            ["docker", "build", "-q", "-t", tag, "-"],
            input=dockerfile,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise AssertionError(f"docker build failed: {result.stderr.strip()}")
        return tag

    def tag(self, image: str, reference: str) -> str:
        """`docker tag`; the new reference is removed on cleanup."""
        self.images.append(reference)
        docker("tag", image, reference)
        return reference

    def network(self, suffix: str, *args: str) -> str:
        name = self.name(suffix)
        self.networks.append(name)
        docker("network", "create", *args, name)
        return name

    def volume(self, suffix: str) -> str:
        name = self.name(suffix)
        self.volumes.append(name)
        docker("volume", "create", name)
        return name

    def cleanup(self) -> None:
        if self.containers:
            docker("rm", "-f", "-v", *self.containers, check=False)
        for net in self.networks:
            docker("network", "rm", net, check=False)
        if self.volumes:
            docker("volume", "rm", "-f", *self.volumes, check=False)
        if self.images:
            docker("rmi", "-f", *self.images, check=False)


@pytest.fixture(name="live")
def fixture_live() -> Iterator[LiveDocker]:
    if not engine_answers():
        skip_testbed_limit(  # a failure in CI, which must run the integration tests
            f"no live engine with busybox:local on {engine_host()} (run scripts/testbed)"
        )
    live = LiveDocker()
    try:
        yield live
    finally:
        live.cleanup()


@pytest.fixture(name="inventory")
def fixture_inventory() -> Inventory:
    """An empty inventory, for the watcher and inventory tests."""
    return Inventory()


@asynccontextmanager
async def running_watcher(
    engine: Any, inventory: Inventory, clock: FakeClock
) -> AsyncIterator[Any]:
    """A Watcher on `engine`, synced and streaming; cancelled on exit."""
    from exporter.inventory.watcher import Watcher

    watcher = Watcher(engine, inventory, clock, jitter=lambda: 1.0)
    task = asyncio.create_task(watcher.run())
    await until(inventory, lambda s: s.status.synced and s.status.stream_up)
    try:
        yield watcher
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

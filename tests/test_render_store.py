"""The byte store and both formats: differential tests against prometheus_client's own
encoders, and a property test that incremental renders equal fresh full renders."""

from __future__ import annotations

import gzip
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest
from conftest import (
    FakeClock,
    FakeEngine,
    event,
    inspect_payload,
    load_json,
    running_watcher,
    until,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest as text_latest
from prometheus_client.openmetrics.exposition import escape_metric_name
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.utils import floatToGoString

from exporter.collectors import COLLECTORS, Options
from exporter.collectors.base import CATALOGUE, add, register, register_objects, register_part
from exporter.collectors.containers import LABEL_KEYS
from exporter.collectors.family import Family, MetricSpec
from exporter.engine.models import (
    Container,
    NetworkAttachment,
    PortBinding,
    parse_container,
    parse_engine,
)
from exporter.engine.resources import parse_image, parse_network, parse_volumes
from exporter.engine.stats import BlockIO, ContainerStats, NetworkIO
from exporter.inventory.store import Inventory, SamplerStatus, Snapshot, WatcherStatus
from exporter.render.exposition import DURATION, SUCCESS, Exposition, own_families
from exporter.render.formats import (
    ALLOW_UTF8,
    DOTS,
    OPENMETRICS,
    OPENMETRICS_DOTS,
    TEXT,
    TEXT_DOTS,
    UNDERSCORES,
    is_dots,
    number,
    syntax,
)
from exporter.render.formats import VALUES as VALUE_ESCAPING
from exporter.render.selfprocess import ProcessMetrics
from exporter.render.store import ObjectStore, family_blocks

HOSTILE = ['a"b', "back\\slash", "new\nline", "é 日本", "", " ", "{}", 'x="y",z', "\\n"]
LABELS = ("team", "com.example.odd-key")
OPTIONS = Options({LABEL_KEYS: LABELS})


def zero() -> float:
    return 0.0


class Fixed:
    """A prometheus_client collector that hands out given families."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = families

    def collect(self) -> Sequence[Metric]:
        return self.families


def reference(snapshot: Snapshot, enabled: Iterable[str], options: Options) -> list[Metric]:
    """A fresh full render's families, from each collector's snapshot-level function,
    as prometheus_client Metrics (durations 0, as a zero timer gives)."""
    out: list[Family] = []
    duration, success = DURATION.new(), SUCCESS.new()
    for name in enabled:
        for part in COLLECTORS[name].parts():
            out.extend(part.fn(part.view(snapshot), options))
        add(duration, [name], 0.0)
        add(success, [name], 1.0)
    out.extend(own_families(snapshot, duration, success))
    return [f.as_metric() for f in out]


def expected(
    snapshot: Snapshot, fmt: str, enabled: Iterable[str], options: Options, escaping: str = ""
) -> bytes:
    """prometheus_client's body in form `fmt` (escaping `dots` for a dots form, else
    `escaping` when given: the same bytes for our names)."""
    encoder = openmetrics_latest if syntax(fmt) == OPENMETRICS else text_latest
    scheme = DOTS if is_dots(fmt) else escaping or UNDERSCORES
    return encoder(Fixed(reference(snapshot, enabled, options)), escaping=scheme)  # type: ignore[arg-type]


def base_container() -> Container:
    return parse_container(inspect_payload())


BASE = base_container()
ALL = tuple(COLLECTORS)


def container(
    cid: str, name: str, *, labels: dict[str, str] | None = None, **fields: Any
) -> Container:
    return replace(BASE, id=cid, name=name, labels=labels or {}, **fields)


def sample(cpu: float, **fields: Any) -> ContainerStats:
    base = ContainerStats(
        cpu_usage_seconds=cpu, cpu_user_seconds=cpu / 2, cpu_system_seconds=cpu / 2,
        cpu_periods=7, cpu_throttled_periods=1, cpu_throttled_seconds=0.25,
        cpu_limit_cores=None, memory_usage_bytes=1 << 20, memory_working_set_bytes=1 << 19,
        memory_rss_bytes=None, memory_cache_bytes=12, memory_swap_bytes=None,
        memory_limit_bytes=None, memory_failures=None, oom_kills=None, pids=3, pids_limit=None,
        networks=(NetworkIO("eth0", 10, 1, 0, 0, 20, 2, 0, 0),),
        block=(BlockIO("8:0", 4096, 8192, 1, 2),),
    )  # fmt: skip
    return replace(base, **fields)


def hostile_snapshot() -> Snapshot:
    """Every collector with something to say, and label values that need escaping."""
    inv = Inventory()
    for i, odd in enumerate(HOSTILE):
        inv.upsert(
            container(
                f"{i:x}" * 64,
                f"c{i}{odd}",
                labels={"team": odd, "com.example.odd-key": odd[::-1]},
                health=("healthy", "unhealthy", "none", "starting")[i % 4],
                failing_streak=i,
                oom_killed=i % 2 == 0,
                started_at=None if i == 3 else 1_700_000_000.5 + i,
                finished_at=None if i % 3 else 1.7e9,
                networks=(
                    NetworkAttachment(f"net{odd}", "n" * 64, f"10.0.0.{i}", 24, "", "", "", (odd,)),
                ),
                ports=(PortBinding(80 + i, "tcp", "0.0.0.0", str(8000 + i)),),
            )
        )
    inv.replace_images({img.id: img for img in [parse_image(load_json("image_inspect.json"))]})
    for network in (parse_network(d) for d in load_json("networks.json")):
        inv.upsert_network(network)
    inv.replace_volumes({v.name: v for v in parse_volumes(load_json("volumes.json"))})
    inv.count_event("container", 'we"ird\naction', 1_700_000_000_000_000_000)
    inv.note_oom(f"{0:x}" * 64, 1_700_000_000_000_000_000)
    samples = {
        f"{i:x}" * 64: sample(1e16 + i, memory_limit_bytes=2**63, pids=None, cpu_periods=math.inf)
        for i in range(0, len(HOSTILE), 2)
    }
    return inv.publish(
        engine=parse_engine(load_json("info.json"), load_json("version.json"), "1.41"),
        stats=samples,
        sampler=SamplerStatus("cgroup", 5.0, 0.004, 1.7e9, 1, 2, 3, 4),
        status=WatcherStatus(True, True, True, reconnects=2, last_sync_ts=1.7e9),
    )


@pytest.mark.parametrize("fmt", [TEXT, OPENMETRICS, TEXT_DOTS, OPENMETRICS_DOTS])
def test_body_is_byte_identical_to_prometheus_clients_encoder(fmt: str) -> None:
    """# EOF, counters' _total handling, info and state-set families, UNIT lines,
    label value escaping; names escaped by `dots` as client_python escapes them."""
    snap = hostile_snapshot()
    exp = Exposition(ALL, OPTIONS, process_metrics=False, timer=zero)
    body = exp.render(snap, fmt).data
    assert body == expected(snap, fmt, ALL, OPTIONS)
    assert gzip.decompress(exp.render(snap, fmt, gzipped=True).data) == body


@pytest.mark.parametrize("escaping", [ALLOW_UTF8, UNDERSCORES, VALUE_ESCAPING])
@pytest.mark.parametrize("fmt", [TEXT, OPENMETRICS])
def test_legacy_names_are_unchanged_by_every_other_escaping(fmt: str, escaping: str) -> None:
    """prometheus/common's `EscapeName` and client_python's `escape_metric_name` leave
    legacy-valid names alone under `allow-utf-8`, `underscores` and `values`: one plain
    body serves all three. (client_python's OpenMetrics encoder, 0.25 and 0.26, writes
    sample names through its raw `_escape` instead, so under `values` its sample lines
    read `U__docker__up` below a `# TYPE docker_up` line: a family whose samples do not
    carry its name. Its text encoder and the spec's rule agree with ours: reference it.)"""
    snap = hostile_snapshot()
    body = Exposition(ALL, OPTIONS, process_metrics=False, timer=zero).render(snap, fmt).data
    if fmt == OPENMETRICS and escaping == VALUE_ESCAPING:
        assert body == expected(snap, fmt, ALL, OPTIONS, UNDERSCORES)
        assert escape_metric_name("docker_up", VALUE_ESCAPING) == "docker_up"
        return
    assert body == expected(snap, fmt, ALL, OPTIONS, escaping)


def test_dots_doubles_the_underscores_of_metric_and_label_names() -> None:
    body = Exposition(ALL, OPTIONS, process_metrics=False).render(hostile_snapshot(), TEXT_DOTS)
    assert b"# TYPE docker__up gauge\n" in body.data
    assert b"docker__container__info{" in body.data
    assert b'label__com__example__odd__key="' in body.data
    assert b"docker_up " not in body.data


def test_openmetrics_body_parses_with_its_families_typed() -> None:
    snap = hostile_snapshot()
    body = Exposition(ALL, OPTIONS, process_metrics=False).render(snap, OPENMETRICS).data
    families = {f.name: f for f in om_parse(body.decode())}
    assert families["docker_container"].type == "info"
    assert families["docker_events"].type == "counter"
    assert families["docker_container_state"].type == "gauge"
    names = {s.labels["name"] for s in families["docker_container"].samples}
    assert names == {f"c{i}{odd}" for i, odd in enumerate(HOSTILE)}


@pytest.mark.parametrize("fmt", [TEXT, OPENMETRICS])
def test_process_families_match_prometheus_client(fmt: str) -> None:
    families = ProcessMetrics().collect()
    encoder = openmetrics_latest if fmt == OPENMETRICS else text_latest
    blocks = family_blocks(families)
    ours = b"".join(b.head.of(fmt) + b"".join(b.pieces) for b in blocks)
    ours += b"# EOF\n" if fmt == OPENMETRICS else b""
    assert ours == encoder(Fixed([f.as_metric() for f in families]))  # type: ignore[arg-type]


def test_number_formats_like_prometheus_client() -> None:
    rng = random.Random(7)
    values: list[float] = [0, 1, -1, 0.5, 1e6, 1e7, 123456.7, 1234567.8, 2**53, 2**63, -(2**63)]
    values += [math.inf, -math.inf, math.nan, 1e-9, 5e-324, 1.7976931348623157e308]
    edges = [999_999, 1_000_000, 1_000_001, 10**15, 2**53 - 1, 2**53, 2**53 + 1, 10**16]
    values += [*edges, *(-v for v in edges), 10**16 + 1, -(10**15) + 1, True, False]
    values += [rng.randrange(-(10**17), 10**17) for _ in range(2000)]
    values += [rng.uniform(-1e12, 1e12) for _ in range(2000)]
    values += [rng.randrange(0, 1 << 64) for _ in range(2000)]
    for v in values:
        assert number(v) == floatToGoString(v), v


# -- the property: incremental == fresh ---------------------------------------------

NAMES = st.sampled_from(["a", "b", "c", "d", *HOSTILE[:4]])
IDS = st.sampled_from([c * 64 for c in "0123456789ab"])
VALUES = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
)
OPS = st.one_of(
    st.tuples(st.just("create"), IDS, NAMES, st.sampled_from(HOSTILE)),
    st.tuples(st.just("state"), IDS, st.sampled_from(["running", "exited", "paused", "dead"])),
    st.tuples(st.just("restarts"), IDS, st.integers(min_value=0, max_value=10**6)),
    st.tuples(st.just("label"), IDS, st.sampled_from(HOSTILE)),
    st.tuples(st.just("remove"), IDS),
    st.tuples(st.just("stats"), IDS, VALUES),
    st.tuples(st.just("idle"), IDS),
    st.tuples(st.just("drop_stats"), IDS),
    st.tuples(st.just("oom"), IDS),
    st.tuples(st.just("event"), st.sampled_from(["start", "die", 'x"y'])),
    st.tuples(st.just("sweep"), st.integers(min_value=0, max_value=10**9)),
)


def apply(inv: Inventory, stats: dict[str, ContainerStats], op: tuple[Any, ...]) -> None:
    kind, *args = op
    current = inv.snapshot.containers
    if kind == "create":
        cid, name, label = args
        inv.upsert(container(cid, name + cid[:2], labels={"team": label}))
        return
    if kind == "event":
        inv.count_event("container", args[0], 1_700_000_000_000_000_000)
        return
    if kind == "sweep":
        return
    cid = args[0]
    if cid not in current:
        return
    c = current[cid]
    if kind == "state":
        inv.upsert(replace(c, state=args[1]))
    elif kind == "restarts":
        inv.upsert(replace(c, restart_count=args[1]))
    elif kind == "label":
        inv.upsert(replace(c, labels={**c.labels, "com.example.odd-key": args[1]}))
    elif kind == "remove":
        inv.remove(cid)
        stats.pop(cid, None)
    elif kind == "stats":
        stats[cid] = sample(args[1])
    elif kind == "idle" and cid in stats:
        stats[cid] = stats[cid]  # the same object: an idle container's sample
    elif kind == "drop_stats":
        stats.pop(cid, None)
    elif kind == "oom":
        inv.note_oom(cid, 1_700_000_000_000_000_000)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(OPS, min_size=1, max_size=6), min_size=1, max_size=8))
def test_incremental_body_equals_a_fresh_full_render(batches: list[list[tuple[Any, ...]]]) -> None:
    """Random create/change/remove/stats sequences, hostile labels: after every
    publication the incremental body of each format is the fresh one, byte for byte."""
    inv = Inventory()
    inv.publish(status=WatcherStatus(engine_up=True, synced=True))
    exp = Exposition(ALL, OPTIONS, process_metrics=False, timer=zero)
    stats: dict[str, ContainerStats] = {}
    for sweep, batch in enumerate(batches):
        for op in batch:
            apply(inv, stats, op)
        snap = inv.publish(stats=dict(stats), sampler=SamplerStatus("cgroup", 5.0, sweeps=sweep))
        for fmt in (OPENMETRICS, TEXT, OPENMETRICS_DOTS):
            fresh = expected(snap, fmt, ALL, OPTIONS)
            assert exp.render(snap, fmt).data == fresh
            assert gzip.decompress(exp.render(snap, fmt, gzipped=True).data) == fresh


# -- the store's one rule -------------------------------------------------------------

COUNTED = MetricSpec("docker_test_counted", "gauge", "test", ("id",))


@pytest.fixture(name="calls")
def fixture_calls() -> Iterator[list[str]]:
    """A per-object collector `test_counted` that records which objects it encodes
    (and fails on one named `bad`), registered for one test only."""
    calls: list[str] = []

    def rows(c: Container, joined: tuple[ContainerStats | None], _o: Options) -> Any:
        calls.append(c.name)
        if c.name == "bad":
            raise RuntimeError("boom")
        (s,) = joined
        return ((((c.short_id,), s.cpu_usage_seconds if s else -1),),)

    register_objects(
        "test_counted", "test", metrics=[COUNTED], source="containers", joins=("stats",),
        order=lambda c: c.name,
    )(rows)  # fmt: skip
    try:
        yield calls
    finally:
        del COLLECTORS["test_counted"]


def test_only_objects_whose_inputs_changed_are_encoded_again(calls: list[str]) -> None:
    inv = Inventory()
    a, b = container("a" * 64, "alpha"), container("b" * 64, "beta")
    inv.upsert(a)
    inv.upsert(b)
    idle = sample(5.0)
    exp = Exposition(["test_counted"], Options(), process_metrics=False)
    calls.clear()
    exp.render(inv.publish(stats={a.id: sample(1.0), b.id: idle}))
    assert sorted(calls) == ["alpha", "beta"]
    calls.clear()
    body = exp.render(inv.publish(stats={a.id: sample(2.0), b.id: idle})).data
    assert calls == ["alpha"]  # beta's sample is the same object
    assert b'docker_test_counted{id="aaaaaaaaaaaa"} 2.0' in body
    calls.clear()
    exp.render(inv.publish(stats={a.id: sample(2.0), b.id: idle}, sampler=SamplerStatus("x")))
    assert calls == []  # equal samples: publish keeps the mapping, nothing is encoded
    calls.clear()
    inv.remove(a.id)
    body = exp.render(inv.publish(stats={b.id: idle})).data
    assert calls == []  # removal drops alpha's lines, encodes nothing
    assert b"aaaaaaaaaaaa" not in body
    assert b'docker_test_counted{id="bbbbbbbbbbbb"} 5.0' in body


def test_a_failing_object_is_isolated_logged_and_reported(
    calls: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    inv = Inventory()
    good, bad = container("a" * 64, "good"), container("b" * 64, "bad")
    inv.upsert(good)
    inv.upsert(bad)
    exp = Exposition(["test_counted", "engine"], Options(), process_metrics=False)
    for fmt in (TEXT, OPENMETRICS):
        body = exp.render(inv.publish(), fmt).data.decode()
        assert 'docker_test_counted{id="aaaaaaaaaaaa"} -1.0' in body
        assert 'docker_exporter_scrape_collector_success{collector="test_counted"} 0.0' in body
        assert 'docker_exporter_scrape_collector_success{collector="engine"} 1.0' in body
    assert sum("collector failed" in r.message for r in caplog.records) == 1
    inv.remove(bad.id)
    body = exp.render(inv.publish()).data.decode()
    assert 'docker_exporter_scrape_collector_success{collector="test_counted"} 1.0' in body


def test_a_render_never_goes_back_to_an_older_snapshot() -> None:
    inv = Inventory()
    inv.upsert(container("a" * 64, "alpha"))
    old = inv.publish()
    inv.remove("a" * 64)
    new = inv.publish()
    exp = Exposition(["containers"], Options(), process_metrics=False)
    gone = exp.render(new).data
    assert exp.render(old).data == gone
    assert exp.cached(old.version) is not None
    assert exp.cached(new.version + 1) is None


def test_filtered_renders_select_collectors_from_the_same_store() -> None:
    snap = hostile_snapshot()
    exp = Exposition(ALL, OPTIONS, process_metrics=False, timer=zero)
    body = exp.render(snap, OPENMETRICS, collect=["images", "engine"]).data
    assert body == expected(snap, OPENMETRICS, ["engine", "images"], OPTIONS)
    body = exp.render(snap, TEXT, exclude=["stats"]).data
    assert body == expected(snap, TEXT, [n for n in ALL if n != "stats"], OPTIONS)
    with pytest.raises(KeyError):
        exp.render(snap, collect=["nope"])


def test_every_declared_metric_reaches_the_reference_render() -> None:
    """The differential test covers every family kind we declare."""
    snap = hostile_snapshot()
    names = {m.name for m in reference(snap, ALL, OPTIONS)}
    kinds = {spec.kind for spec in CATALOGUE.values() if spec.collector in ALL}
    assert kinds == {"gauge", "counter", "info", "stateset"}
    assert "docker_container_state" in names


def test_declared_inputs_must_be_snapshot_fields() -> None:
    with pytest.raises(ValueError, match="unknown snapshot inputs"):
        register("nope", "", metrics=[], inputs=("containerz",))(lambda s, o: ())
    with pytest.raises(ValueError, match="unknown snapshot inputs"):
        register("nope2", "", metrics=[], inputs=("version",))(lambda s, o: ())
    with pytest.raises(ValueError, match="unknown snapshot inputs"):
        register_part("stats", inputs=("statz",))(lambda s, o: ())
    with pytest.raises(ValueError, match="unknown snapshot inputs"):
        register_objects("nope3", metrics=[], source="containerz", order=str)(lambda *a: ())
    assert "nope" not in COLLECTORS
    assert "nope2" not in COLLECTORS
    assert "nope3" not in COLLECTORS


# -- the identity contract: an unchanged object stays the very object ------------------


@pytest.fixture(name="encodes")
def fixture_encodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every object the real byte stores encode, as (collector, object key): a spy that
    records and calls the real `ObjectStore._encode`."""
    encodes: list[tuple[str, str]] = []
    real = ObjectStore._encode

    def spy(self: ObjectStore, key: str, *args: Any) -> Any:
        encodes.append((self._name, key))
        return real(self, key, *args)

    monkeypatch.setattr(ObjectStore, "_encode", spy)
    return encodes


def encoded_by(encodes: list[tuple[str, str]], collectors: set[str]) -> set[str]:
    return {key for name, key in encodes if name in collectors}


CONTAINER_PARTS = {
    part.name
    for spec in COLLECTORS.values()
    for part in spec.parts()
    if part.per and part.per.source == "containers"
}


async def test_an_unchanged_full_resync_then_one_event_encodes_one_container(
    fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock, encodes: list[tuple[str, str]]
) -> None:
    """A full resync inspects every container again (new, equal objects); the inventory
    keeps the objects it had, so the next event re-encodes only the container it changed
    (it re-encoded every container: 300 encodes instead of 6 at 50 containers)."""
    ids = [c * 64 for c in "abcde"]
    for n, cid in enumerate(ids):
        fake_engine.add(inspect_payload(cid=cid, Name=f"/c{n}"))
    exp = Exposition(list(COLLECTORS), Options(), process_metrics=False)
    async with running_watcher(fake_engine, inventory, clock) as watcher:
        exp.render(inventory.snapshot)
        assert len(CONTAINER_PARTS) >= 5  # containers, stats, networks, ports, processes
        assert encoded_by(encodes, CONTAINER_PARTS) == set(ids)
        before = inventory.snapshot.containers
        await watcher.resync(full=True)
        assert fake_engine.calls.count(f"inspect {ids[1][:12]}") == 2  # inspected again
        encodes.clear()
        exp.render(inventory.snapshot)
        assert encodes == []
        fake_engine.containers[ids[0]]["State"].update(
            Status="exited", Running=False, Pid=0, ExitCode=3
        )
        fake_engine.emit(event("container", "die", ids[0], 10, exitCode="3"))
        snap = await until(inventory, lambda s: s.containers[ids[0]].state == "exited")
        encodes.clear()
        body = exp.render(snap).data
    assert encoded_by(encodes, CONTAINER_PARTS) == {ids[0]}
    assert all(snap.containers[cid] is before[cid] for cid in ids[1:])
    assert b'docker_container_exit_code{id="aaaaaaaaaaaa"' in body


async def test_a_new_volume_encodes_only_that_volume(
    fake_engine: FakeEngine, inventory: Inventory, clock: FakeClock, encodes: list[tuple[str, str]]
) -> None:
    """Every pass and volume event re-lists the volumes (new, equal objects): the
    inventory keeps those it had, so a new volume is the only one encoded."""
    fake_engine.add_recorded_objects()
    exp = Exposition(["volumes"], Options(), process_metrics=False)
    async with running_watcher(fake_engine, inventory, clock):
        exp.render(inventory.snapshot)
        assert len(encodes) == len(fake_engine.volumes) == 2
        fake_engine.volumes.append({**fake_engine.volumes[0], "Name": "dxt-ident-new"})
        fake_engine.emit(event("volume", "create", "dxt-ident-new", 10))
        snap = await until(inventory, lambda s: "dxt-ident-new" in s.volumes)
        encodes.clear()
        exp.render(snap)
    assert encodes == [("volumes", "dxt-ident-new")]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.lists(OPS, min_size=1, max_size=6), st.booleans()), min_size=1, max_size=8
    )
)
def test_a_body_rendered_after_skipped_publications_equals_a_fresh_one(
    batches: list[tuple[list[tuple[Any, ...]], bool]],
) -> None:
    """The prewarm renders only publications that will be read (issue 25): the stores then
    jump over versions never rendered. Whenever a render does run, each format's body is
    the fresh one, byte for byte, gzipped or not."""
    inv = Inventory()
    inv.publish(status=WatcherStatus(engine_up=True, synced=True))
    exp = Exposition(ALL, OPTIONS, process_metrics=False, timer=zero)
    stats: dict[str, ContainerStats] = {}
    for sweep, (batch, read) in enumerate(batches):
        for op in batch:
            apply(inv, stats, op)
        snap = inv.publish(stats=dict(stats), sampler=SamplerStatus("cgroup", 5.0, sweeps=sweep))
        if not read and sweep < len(batches) - 1:
            continue  # nobody scrapes this one: never rendered
        for fmt in (OPENMETRICS, TEXT):
            fresh = expected(snap, fmt, ALL, OPTIONS)
            assert gzip.decompress(exp.render(snap, fmt, gzipped=True).data) == fresh
            assert exp.render(snap, fmt).data == fresh

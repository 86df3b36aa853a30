"""Fuzzing every parser of untrusted bytes with hypothesis: Engine JSON (containers,
images, networks, volumes, events, stats, top, df, info), event stream lines, the
cgroup and /proc files, passwd, and the web config YAML.

The contract: a parser returns its model (or its documented "nothing": None, an empty
tuple) or raises only its documented error; never anything else. Inputs are both pure
junk and the recorded payloads with random parts replaced (the shapes that get past the
first `isinstance`). Each finding is pinned with `@example` as a regression. Bounded:
FUZZ examples each (the whole module runs in well under 60 s on the test machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from types import UnionType
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import pytest
import yaml
from cgroup_helpers import (  # the package's parsers (kv, num, parse_stat, ...) on text
    keyed_value,
    parse_int,
    parse_net_dev,
    parse_proc_stat,
    read_cgroup_stats,
)
from conftest import load_json
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exporter.collectors import COLLECTORS, Options
from exporter.engine.adapter import parse_event_line, split_lines
from exporter.engine.events import parse_event
from exporter.engine.fields import int_field, json_int
from exporter.engine.models import (
    Container,
    container_signature,
    is_container_id,
    parse_container,
    parse_engine,
    parse_listed,
    parse_timestamp,
)
from exporter.engine.resources import (
    Volume,
    parse_disk_usage,
    parse_image,
    parse_image_summary,
    parse_network,
    parse_network_ids,
    parse_top,
    parse_volumes,
)
from exporter.engine.stats import parse_api_stats, parse_container_sizes
from exporter.inventory.store import Inventory
from exporter.render.exposition import Exposition
from exporter.stats.cgroup import (
    UNIFIED,
    CgroupError,
    layout_from_mountinfo,
    parse_blkio_throttle,
    parse_cpu_max,
    parse_io_stat,
    parse_mountinfo,
    paths_from_proc_cgroup,
)
from exporter.stats.cgroup.layout import parse_proc_cgroup
from exporter.stats.cgroup.parse import parse_passwd
from exporter.web.webconfig import WebConfigError, load

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(FUZZ, max_examples=40)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn, doc: Any, depth: int = 0) -> Any:
    """`doc` with a few random parts replaced by any JSON value, mutated further, or
    dropped; the rest kept as recorded (a few draws per level, not one per key)."""
    if depth > 5 or not isinstance(doc, dict | list) or not doc:
        return draw(json_values) if draw(st.booleans()) else doc
    if draw(st.integers(0, 7)) == 0:
        return draw(json_values)
    if isinstance(doc, list):
        items = list(doc[:4])
        if items:
            i = draw(st.integers(0, len(items) - 1))
            items[i] = draw(mutated(items[i], depth + 1))
        return items
    out = dict(doc)
    keys = sorted(out)
    for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
        if draw(st.integers(0, 4)) == 0:
            del out[key]
        else:
            out[key] = draw(mutated(out[key], depth + 1))
    return out


def conforms(value: object, hint: Any) -> bool:
    """`value` is what the annotation `hint` says, all the way down: a frozen model's
    fields against their own annotations, a tuple's items, a mapping's keys and values.
    `bool` is no `int` or `float` here (JSON's `true` is not a count)."""
    if hint is Any or isinstance(hint, TypeVar):
        return True
    if hint is None or hint is type(None):
        return value is None
    if get_origin(hint) is not None:
        return _conforms_generic(value, get_origin(hint), get_args(hint))
    if hint in (int, float) and isinstance(value, bool):
        return False
    if hint is float:
        return isinstance(value, int | float)
    if not isinstance(value, hint):
        return False
    if dataclasses.is_dataclass(hint):
        hints = get_type_hints(hint)
        return all(
            conforms(getattr(value, f.name), hints[f.name]) for f in dataclasses.fields(hint)
        )
    return True


def _conforms_generic(value: object, origin: Any, args: tuple[Any, ...]) -> bool:
    if origin in (Union, UnionType):
        return any(conforms(value, arg) for arg in args)
    if origin is Literal:
        return value in args
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(conforms(item, args[0]) for item in value)
        return len(value) == len(args) and all(map(conforms, value, args))
    if origin in (list, Sequence, frozenset, set, AbstractSet):
        return isinstance(value, origin) and all(conforms(item, args[0]) for item in value)
    if origin in (dict, Mapping):
        return isinstance(value, Mapping) and all(
            conforms(k, args[0]) and conforms(v, args[1]) for k, v in value.items()
        )
    return isinstance(value, origin)  # Callable and the like: the container type only


def returns_its_model(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a parser and check its answer against its return annotation."""
    result = fn(*args, **kwargs)
    assert conforms(result, get_type_hints(fn)["return"]), (fn.__name__, result)
    return result


def test_conforms_sees_a_wrong_type_deep_down() -> None:
    assert conforms(parse_volumes({}), list[Volume])
    wrong = dataclasses.replace(parse_volumes(load_json("volumes.json"))[0], created="x")
    assert not conforms([wrong], list[Volume])
    assert not conforms((1, True), tuple[int, ...])
    assert not conforms({"a": 1}, Mapping[str, str])
    assert conforms(None, int | None)


def recorded(name: str) -> st.SearchStrategy[Any]:
    return mutated(load_json(name)) | json_values


def objects(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """What the adapter hands a parser: a JSON object (it refuses anything else)."""
    return recorded(name).filter(lambda d: isinstance(d, dict))


# -- Engine JSON ----------------------------------------------------------------------------

CONTAINER_DOCS = [
    "inspect_running.json",
    "inspect_exited.json",
    "inspect_ports.json",
    "inspect_health_failing.json",
    "inspect_crashloop_running.json",
    "docker29/inspect_health_failing.json",
    "docker29/inspect_running.json",
]


@FUZZ
@given(st.sampled_from(CONTAINER_DOCS).flatmap(objects))
@example({"Args": "not a list"})
@example({"Args": 1})  # finding: `raw.get("Args") or []` iterated an int
@example({"NetworkSettings": {"Networks": {"bridge": {"Aliases": 7}}}})  # finding: same
@example({"Config": {"Healthcheck": {"Test": [["nested"]]}}})
@example({"NetworkSettings": {"Ports": {"80/tcp": [{"HostPort": 5}]}}})
def test_parse_container(doc: dict[str, Any]) -> None:
    container = returns_its_model(parse_container, doc)
    assert isinstance(container, Container)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in container.labels.items())


@FEW
@given(st.sampled_from(CONTAINER_DOCS).flatmap(objects))
def test_a_parsed_container_renders_in_every_collector(doc: dict[str, Any]) -> None:
    """Whatever a parser accepted, every collector must encode (none fails its scrape)."""
    doc = {**doc, "Id": "f" * 64}
    inventory = Inventory()
    inventory.upsert(parse_container(doc))
    snapshot = inventory.publish()
    body = Exposition(list(COLLECTORS), Options()).render(snapshot).data.decode()
    failed = [
        line for line in body.splitlines()
        if line.startswith("docker_exporter_scrape_collector_success") and line.endswith(" 0.0")
    ]  # fmt: skip
    assert not failed, failed


@FUZZ
@given(objects("info.json"), objects("version.json"), st.text(max_size=6))
@example({"SecurityOptions": 5}, {}, "1.41")  # finding: iterated an int
@example({}, {"Components": 7}, "1.41")  # finding: iterated an int
@example({"Warnings": {"a": 1}}, {}, "1.41")
def test_parse_engine(info: dict[str, Any], version: dict[str, Any], api: str) -> None:
    engine = returns_its_model(parse_engine, info, version, api)
    assert isinstance(engine.version, str)


@FUZZ
@given(st.sampled_from(["images.json"]).flatmap(recorded))
def test_parse_image_summary(doc: Any) -> None:
    rows = doc if isinstance(doc, list) else [doc]
    for row in rows:
        if isinstance(row, dict):
            summary = returns_its_model(parse_image_summary, row)
            assert summary is None or summary.id  # no ID, no image: None


@FUZZ
@given(
    st.sampled_from(["image_inspect.json", "image_inspect_busybox.json"]).flatmap(objects),
    st.sampled_from(["image_history.json", "image_history_busybox.json"]).flatmap(recorded),
)
def test_parse_image(doc: dict[str, Any], history: Any) -> None:
    returns_its_model(parse_image, doc, history)


@FUZZ
@given(
    st.sampled_from(
        [
            "network_inspect.json",
            "network_inspect_bridge.json",
            "network_inspect_host.json",
            "network_inspect_members.json",
        ]
    ).flatmap(objects)
)
def test_parse_network(doc: dict[str, Any]) -> None:
    network = returns_its_model(parse_network, doc)
    assert all(is_container_id(m.container_id) for m in network.members)  # no lb-*/-sbox
    assert list(network.members) == sorted(network.members, key=lambda m: (m.name, m.container_id))


@FUZZ
@given(recorded("networks.json"))
def test_parse_network_ids(doc: Any) -> None:
    assert all(isinstance(i, str) for i in parse_network_ids(doc))


@FUZZ
@given(objects("volumes.json"))
@example({"Volumes": 5})
def test_parse_volumes(doc: dict[str, Any]) -> None:
    assert all(volume.name for volume in returns_its_model(parse_volumes, doc))


@FUZZ
@given(recorded("containers_size.json"), st.floats(allow_nan=False))
def test_parse_container_sizes(doc: Any, time: float) -> None:
    sizes = parse_container_sizes(doc, time)
    assert all(type(v) is int and v >= 0 for v in sizes.writable.values())


@FUZZ
@given(objects("system_df.json"), st.floats(allow_nan=False))
@example({"Volumes": True}, 0.0)  # finding: `raw.get("Volumes") or []` iterated a bool
def test_parse_disk_usage(doc: dict[str, Any], time: float) -> None:
    usage = returns_its_model(parse_disk_usage, doc, time)
    assert usage.time == time


@FUZZ
@given(
    st.sampled_from(["top.json", "top_default.json", "top_podman4_default.json"]).flatmap(objects)
)
@example({"Titles": ["PID", "TIME"], "Processes": [["1"]]})
@example({"Titles": ["PID"], "Processes": [[5]]})
@example({"Titles": "PID", "Processes": "x"})
def test_parse_top(doc: dict[str, Any]) -> None:
    for process in returns_its_model(parse_top, doc):
        assert process.pid > 0  # a row without a usable PID is left out
        assert len(process.state) <= 1


STATS_SAMPLE = {
    "read": "2026-11-28T06:00:00.1Z",
    "cpu_stats": {
        "cpu_usage": {"total_usage": 100, "usage_in_usermode": 50},
        "system_cpu_usage": 9,
    },
    "memory_stats": {"usage": 1000, "limit": 2000, "stats": {"inactive_file": 10, "rss": 5}},
    "networks": {"eth0": {"rx_bytes": 1, "tx_bytes": 2}},
    "blkio_stats": {
        "io_service_bytes_recursive": [{"major": 8, "minor": 0, "op": "Read", "value": 1}]
    },
    "pids_stats": {"current": 1, "limit": 10},
}


@FUZZ
@given(
    mutated(STATS_SAMPLE).filter(lambda d: isinstance(d, dict)),
    st.sampled_from(["", "1", "2"]),
    st.booleans(),
    st.none() | st.integers(),
)
@example({"read": "x", "networks": [1]}, "1", False, None)
@example({"read": "2026-01-01T00:00:00Z", "memory_stats": {"usage": "x"}}, "2", False, None)
def test_parse_api_stats(
    doc: dict[str, Any], version: str, podman: bool, total: int | None
) -> None:
    returns_its_model(parse_api_stats, doc, cgroup_version=version, podman=podman, mem_total=total)


@FUZZ
@given(st.one_of(st.text(max_size=40), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))))
def test_parse_timestamp(text: str) -> None:
    value = parse_timestamp(text)
    assert value is None or isinstance(value, float)


@FUZZ
@given(scalars | json_values)
@example(True)
@example(1.5)
@example("1_000")
@example("٣")
@example("-05")
def test_the_one_json_integer_reader(value: object) -> None:
    """`json_int` is every parser's integer reader (int_field is it with a default): an
    int, a whole float or decimal ASCII text, else None; never a bool as a number."""
    number = json_int(value)
    assert number is None or type(number) is int
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        assert number is None
    if isinstance(value, str) and number is not None:
        digits = value.removeprefix("-")
        assert digits.isascii()
        assert digits.isdigit()
        assert number == int(value)
    assert int_field(value, -7) == (-7 if number is None else number)


# -- events ---------------------------------------------------------------------------------

EVENT_LINES = [
    line for name in ("events.jsonl", "events_health.jsonl", "events_podman.jsonl")
    for line in (Path(__file__).parent / "fixtures" / "engine" / name).read_text().splitlines()
    if line.strip()
]  # fmt: skip


@FUZZ
@given(st.sampled_from(EVENT_LINES).map(json.loads).flatmap(mutated))
@example({"Type": "container", "Action": "start", "timeNano": "1e30"})
@example({"Type": "network", "Action": "connect", "Actor": {"Attributes": []}, "time": 1})
def test_parse_event(doc: Any) -> None:
    if isinstance(doc, dict):
        parsed = returns_its_model(parse_event, doc)
        assert parsed is None or (parsed.type and parsed.action and parsed.time_ns)
    line = json.dumps(doc).encode()
    event = parse_event_line(line)
    assert event is None or event.type


@FUZZ
@given(st.binary(max_size=200))
@example(b'{"Type":"container","Action":"sta')
@example(b"\xff\xfe{}")
@example(b"[" * 10_000)  # finding: a nesting bomb, RecursionError out of json.loads
def test_parse_event_line_junk(line: bytes) -> None:
    event = returns_its_model(parse_event_line, line)
    assert event is None or (event.type and event.action)


@FUZZ
@given(
    st.lists(st.binary(max_size=30), max_size=8),
    st.integers(min_value=1, max_value=20),
)
def test_split_lines_never_holds_more_than_its_limit(chunks: list[bytes], limit: int) -> None:
    """Lines are the input's, split at newlines; none longer than `limit` comes out, each
    longer one is counted once."""
    oversized = []

    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def collect() -> list[bytes]:
        return [line async for line in split_lines(source(), limit, lambda: oversized.append(1))]

    lines = asyncio.run(collect())
    whole = b"".join(chunks).split(b"\n")
    if whole and whole[-1] == b"":
        whole = whole[:-1]
    assert lines == [line for line in whole if len(line) <= limit]
    assert len(oversized) == sum(1 for line in whole if len(line) > limit)


# -- container signature (list rows) --------------------------------------------------------


@FUZZ
@given(objects("images.json") | json_values.filter(lambda d: isinstance(d, dict)))
@example({"Status": 5, "Mounts": "x", "NetworkSettings": {"Networks": []}})
@example({"Mounts": [1, None]})
def test_container_signature(row: dict[str, Any]) -> None:
    assert isinstance(container_signature(row), str)


@FUZZ
@given(
    st.sampled_from(load_json("docker29/containers.json"))
    .flatmap(mutated)
    .filter(lambda d: isinstance(d, dict))
)
@example({"Health": {"Status": 3, "FailingStreak": "x"}})
@example({"Health": None})
def test_parse_listed(row: dict[str, Any]) -> None:
    listed = parse_listed(row)
    assert listed.signature == container_signature(row)
    assert listed.health is None or isinstance(listed.health, str)


# -- cgroup and /proc files ------------------------------------------------------------------

MOUNTINFO = (
    "25 30 0:22 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n"
    "26 30 0:23 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
    "27 30 0:24 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
)
text = st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1"))


def lines_of(sample: str) -> st.SearchStrategy[str]:
    """`sample` with lines dropped, duplicated, cut or replaced by junk."""
    return (
        st.lists(st.sampled_from(sample.splitlines()) | st.text(max_size=60), max_size=8).map(
            "\n".join
        )
        | text
    )


@FUZZ
@given(lines_of(MOUNTINFO))
@example("1 2 3 4 5 6 - cgroup")
@example("1 2 3 \\777 /x 6 - cgroup2 c r")
def test_mountinfo(content: str) -> None:
    returns_its_model(parse_mountinfo, content)
    with contextlib.suppress(CgroupError):
        layout = returns_its_model(layout_from_mountinfo, content, Path("/sys"))
        assert layout.version in ("1", "2")
        assert (layout.version == "2") == (not layout.v1)


PROC_CGROUP = "12:memory:/docker/" + "c" * 64 + "\n11:cpu,cpuacct:/docker/" + "c" * 64 + "\n0::/\n"


@FUZZ
@given(lines_of(PROC_CGROUP))
def test_proc_cgroup(content: str) -> None:
    returns_its_model(parse_proc_cgroup, content)
    layout = layout_from_mountinfo(MOUNTINFO, Path("/sys"))
    paths = returns_its_model(paths_from_proc_cgroup, layout, content, "c" * 64)
    assert paths is None or all(path.startswith("/sys/fs/cgroup/") for path in paths.values())


KEYED = "cache 4096\nrss 8192\ntotal_inactive_file 12\nthrottled_time 5\nnr_periods 2\n"


@FUZZ
@given(lines_of(KEYED), st.sampled_from([b"rss", b"total_inactive_file", b"x", b""]))
def test_keyed_files(content: str, key: bytes) -> None:
    value = keyed_value(content.encode(errors="surrogateescape"), key)
    assert value is None or isinstance(value, int)


@FUZZ
@given(text)
def test_single_value_files(content: str) -> None:
    returns_its_model(parse_int, content)
    cores = parse_cpu_max(content)
    assert cores is None or (cores > 0 and not math.isnan(cores))


NET_DEV = (
    "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n"
    "    lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
    "  eth0: 100 2 0 0 0 0 0 0 200 3 0 0 0 0 0 0\n"
)
IO_STAT = "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n"
BLKIO = "8:0 Read 100\n8:0 Write 200\n8:0 Total 300\nTotal 300\n"


@FUZZ
@given(lines_of(NET_DEV), lines_of(IO_STAT), lines_of(BLKIO), st.none() | lines_of(BLKIO))
@example("a\nb\nx: 1 2", "8:0 rbytes=x", "8:x Read 1", None)  # finding: io.stat int("x")
@example("", "", "8:0 Read", "8:0 Read 99999999999999999999999")
def test_device_files(net: str, io: str, sizes: str, ops: str | None) -> None:
    interfaces = [i.interface for i in returns_its_model(parse_net_dev, net)]
    assert "lo" not in interfaces
    returns_its_model(parse_io_stat, io)
    returns_its_model(parse_blkio_throttle, sizes, ops)


PROC_STAT = "1234 (sh (x)) S 1 1234 1234 0 -1 4194560 500 0 0 0 7 3 0 0 20 0 1 0 100 1000 50 0"


@FUZZ
@given(lines_of(PROC_STAT) | st.just(PROC_STAT).map(lambda s: s[: len(s) // 2]))
@example("1 (x) S")  # finding: IndexError, now the documented ValueError
@example("1 (x) S a b c d e f g h i j k l m n o p q r s t u v")
def test_proc_stat(content: str) -> None:
    """Documented: ValueError for a line that is not /proc/<pid>/stat."""
    with contextlib.suppress(ValueError):
        returns_its_model(parse_proc_stat, content)


@FUZZ
@given(lines_of("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/sbin/nologin\n"))
@example("a:x:١٢:0::/:/bin/sh")  # Unicode digits: isdigit() but not what uid means
def test_passwd(content: str) -> None:
    assert all(isinstance(uid, int) for uid in parse_passwd(content))


V1_FILES = (
    "cpuacct.usage", "cpuacct.stat", "cpu.stat", "cpu.cfs_quota_us", "cpu.cfs_period_us",
    "memory.usage_in_bytes", "memory.stat", "memory.oom_control", "memory.failcnt",
    "memory.limit_in_bytes", "memory.memsw.usage_in_bytes", "pids.current", "pids.max",
    "blkio.throttle.io_service_bytes", "blkio.throttle.io_serviced",
)  # fmt: skip
V2_FILES = (
    "cpu.stat", "cpu.max", "memory.current", "memory.stat", "memory.events", "memory.max",
    "memory.swap.current", "pids.current", "pids.max", "io.stat",
)  # fmt: skip
numbers = st.integers(-5, 2**66).map(lambda n: f"{n}\n")


@FUZZ
@given(
    st.sampled_from(["1", "2"]).flatmap(
        lambda v: st.tuples(
            st.just(v),
            st.dictionaries(
                st.sampled_from(V1_FILES if v == "1" else V2_FILES),
                numbers | lines_of(KEYED) | text | st.just("max\n"),
                max_size=15,
            ),
        )
    ),
    lines_of(NET_DEV),
    st.booleans(),
)
def test_cgroup_stats_files(
    version_files: tuple[str, dict[str, str]], net: str, host: bool
) -> None:
    """A whole container's cgroup directory of junk: a sample, or CgroupError."""
    version, files = version_files
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "cg").mkdir()
        for name, content in files.items():
            (base / "cg" / name).write_text(content, errors="surrogateescape")
        (base / "7" / "net").mkdir(parents=True)
        (base / "7" / "net" / "dev").write_text(net, errors="surrogateescape")
        controllers = (
            (UNIFIED,) if version == "2" else ("cpu", "cpuacct", "memory", "pids", "blkio")
        )
        paths = dict.fromkeys(controllers, base / "cg")
        with contextlib.suppress(CgroupError):
            stats = returns_its_model(read_cgroup_stats, paths, version, base, 7, host_network=host)
            if host:  # the host's interfaces are not the container's
                assert stats.networks == ()


# -- web config YAML ------------------------------------------------------------------------

web_docs = st.fixed_dictionaries(
    {},
    optional={
        "tls_server_config": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                "cert_file": json_values,
                "key_file": json_values,
                "client_auth_type": st.sampled_from(["RequireAndVerifyClientCert", "x", ""])
                | json_values,
                "client_ca_file": json_values,
                "min_version": json_values,
                "cert": json_values | st.just("-----BEGIN CERTIFICATE-----\nx\n"),
                "client_ca": json_values,
                "client_allowed_sans": json_values,
                "cipher_suites": json_values
                | st.lists(
                    st.sampled_from(["TLS_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA", "x"])
                ),
                "curve_preferences": json_values | st.lists(st.sampled_from(["X25519", "y"])),
                "prefer_server_cipher_suites": json_values,
            },
        ),
        "basic_auth_users": json_values
        | st.dictionaries(st.text(max_size=5), json_values, max_size=3),
        "http_server_config": json_values,
        "rate_limit": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                "interval": json_values | st.sampled_from(["1s", "0", "1.5m", "ms"]),
                "burst": json_values,
            },
        ),
    },
)


@FUZZ
@given(web_docs.map(yaml.safe_dump) | text)
@example("basic_auth_users: [1, 2]")  # finding: .items() of a list
@example("tls_server_config: 1\n")  # finding: set() of an int
@example("tls_server_config: {cert_file: a, key_file: b, min_version: []}")  # finding: unhashable
@example("tls_server_config: {cert_file: [], key_file: {}}")
@example("rate_limit: {interval: .5s, burst: 1}")
@example("tls_server_config: {cert: [], client_allowed_sans: [[]], cipher_suites: [{}]}")
@example("basic_auth_users: {? [a] : $2y$x}")
@example("&a [*a]")
@example("!!python/object:os.system x")
def test_web_config(content: str) -> None:
    """Documented: WebConfigError for anything it cannot use."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "web.yml"
        path.write_text(content, errors="surrogateescape")
        with contextlib.suppress(WebConfigError):
            returns_its_model(load, str(path))


def test_fuzz_targets_cover_every_public_parser() -> None:
    """A new parser in these modules gets a fuzz target here (or a reason it needs none)."""
    from exporter.engine import events, models, resources, stats

    covered = {name for name in globals() if name.startswith("parse_")}
    for module in (events, models, resources, stats):
        for name in dir(module):
            if name.startswith("parse_") and callable(getattr(module, name)):
                assert name in covered or name in NOT_FUZZED, f"{module.__name__}.{name}"


NOT_FUZZED = {
    "parse_history": "reached through parse_image",
    "parse_volume": "reached through parse_volumes",
    "parse_cpu_time": "reached through parse_top",
}
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")

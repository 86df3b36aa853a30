"""The cAdvisor-shaped exposition on recorded inspect payloads: names, labels, spec
values as cAdvisor writes them, the root cgroup, the last-seen linger, both formats
parseable, and an incremental render equal to a fresh one. The comparison with cAdvisor
itself is tests/test_cadvisor_live.py."""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path
from typing import Any

from conftest import inspect_payload, load_json, skip_testbed_limit
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse

from exporter.collectors import Options, cadvisor
from exporter.engine.models import Container, parse_container, parse_engine
from exporter.engine.stats import BlockIO, ContainerStats, NetworkIO
from exporter.inventory.store import Inventory, SamplerStatus, Snapshot
from exporter.render.compat import CompatExposition
from exporter.render.formats import OPENMETRICS, TEXT
from exporter.stats.cgroup import CgroupError, discover_layout, host_stats

BASE = parse_container(inspect_payload())
ENGINE = parse_engine(load_json("info.json"), load_json("version.json"), "1.41")
OPTIONS = Options({cadvisor.GRACE: 300.0})


def container(cid: str, name: str, **fields: Any) -> Container:
    return replace(BASE, id=cid, name=name, state="running", **fields)


def sample(cpu: float, **fields: Any) -> ContainerStats:
    base = ContainerStats(
        cpu_usage_seconds=cpu, cpu_user_seconds=cpu / 2, cpu_system_seconds=cpu / 4,
        cpu_periods=7, cpu_throttled_periods=1, cpu_throttled_seconds=0.25,
        cpu_limit_cores=None, memory_usage_bytes=1 << 20, memory_working_set_bytes=1 << 19,
        memory_rss_bytes=4096, memory_cache_bytes=12, memory_swap_bytes=0,
        memory_limit_bytes=None, memory_failures=2, oom_kills=None, pids=3, pids_limit=None,
        networks=(
            NetworkIO("eth0", 10, 1, 0, 0, 20, 2, 0, 0),
            NetworkIO("veth12", 99, 9, 0, 0, 99, 9, 0, 0),
        ),
        block=(BlockIO("8:0", 4096, 8192, 1, 2),),
        memory_mapped_file_bytes=8192, memory_page_faults=(100, 3),
    )  # fmt: skip
    return replace(base, **fields)


def samples(body: bytes | str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = body.decode() if isinstance(body, bytes) else body
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_parse(text)
        for s in family.samples
    }


def find(body: bytes, metric: str, **labels: str) -> list[float]:
    return [v for (n, ls), v in samples(body).items() if n == metric and set(labels.items()) <= ls]


def publish(inv: Inventory, at: float, **changes: Any) -> Snapshot:
    return inv.publish(engine=ENGINE, sampler=SamplerStatus("cgroup", 5.0, 0.01, at), **changes)


def render(compat: CompatExposition, snapshot: Snapshot, fmt: str = TEXT) -> bytes:
    return compat.render(snapshot, fmt, gzipped=False).data


def new_compat(options: Options = OPTIONS) -> CompatExposition:
    return CompatExposition(options, off_loop=lambda fn: fn())


CID = "a" * 64
LIMITED = "b" * 64


def fleet(inv: Inventory) -> None:
    limits = replace(
        BASE.limits,
        cpu_cores=0.25,
        memory_bytes=64 << 20,
        memory_swap_bytes=128 << 20,
        memory_reservation_bytes=32 << 20,
        cpu_shares=512,
    )
    unlimited = replace(
        BASE.limits,
        cpu_cores=None,
        memory_bytes=None,
        memory_swap_bytes=-1,
        memory_reservation_bytes=None,
        cpu_shares=None,
    )
    labels = {
        "com.docker.compose.project": "shop",
        "com.docker.compose.service": "web",
        "secret.env": "x",
    }
    inv.upsert(container(CID, "web", labels=labels, limits=unlimited, started_at=1.7e9))
    inv.upsert(container(LIMITED, "db", labels={}, limits=limits, started_at=1.7e9 + 1))


def test_names_labels_and_values_are_cadvisors() -> None:
    inv = Inventory()
    fleet(inv)
    stats = {CID: sample(10.0), LIMITED: sample(2.0, memory_limit_bytes=64 << 20)}
    body = render(new_compat(), publish(inv, 1.8e9, stats=stats))
    ident = {"id": f"/docker/{CID}", "name": "web", "image": BASE.image}
    compose = {
        "container_label_com_docker_compose_project": "shop",
        "container_label_com_docker_compose_service": "web",
    }
    assert find(body, "container_cpu_usage_seconds_total", cpu="total", **ident, **compose) == [10]
    assert len(find(body, "container_cpu_usage_seconds_total", name="web")) == 1  # no per-CPU
    assert find(body, "container_cpu_user_seconds_total", **ident) == [5]
    assert find(body, "container_memory_rss", **ident) == [4096]
    assert find(body, "container_memory_mapped_file", **ident) == [8192]
    assert find(body, "container_memory_failcnt", **ident) == [2]
    assert find(body, "container_memory_failures_total", failure_type="pgmajfault", **ident) == [
        3,
        3,
    ]  # scope container and hierarchy
    assert find(body, "container_network_receive_bytes_total", **ident) == [10]  # veth skipped
    assert find(body, "container_network_transmit_packets_dropped_total", interface="eth0")
    assert find(body, "container_fs_writes_bytes_total", device="8:0", **ident) == [8192]
    # Unlimited: 0, as cAdvisor writes it; no quota series; cgroup defaults.
    assert find(body, "container_spec_memory_limit_bytes", **ident) == [0]
    assert find(body, "container_spec_memory_swap_limit_bytes", **ident) == [0]
    assert find(body, "container_spec_memory_reservation_limit_bytes", **ident) == [0]
    assert find(body, "container_spec_cpu_quota", **ident) == []
    assert find(body, "container_spec_cpu_shares", **ident) == [1024]
    assert find(body, "container_cpu_cfs_periods_total", **ident) == []  # no quota, none
    db = {"name": "db", "id": f"/docker/{LIMITED}"}
    assert find(body, "container_spec_memory_limit_bytes", **db) == [64 << 20]
    assert find(body, "container_spec_memory_swap_limit_bytes", **db) == [128 << 20]
    assert find(body, "container_spec_memory_reservation_limit_bytes", **db) == [32 << 20]
    assert find(body, "container_spec_cpu_quota", **db) == [25000]
    assert find(body, "container_spec_cpu_period", **db) == [100000]
    assert find(body, "container_spec_cpu_shares", **db) == [512]
    assert find(body, "container_cpu_cfs_throttled_periods_total", **db) == [1]
    assert find(body, "container_start_time_seconds", **db) == [1.7e9 + 1]
    assert find(body, "container_last_seen", **db) == [1.8e9]
    assert find(body, "machine_cpu_cores") == [ENGINE.cpus]
    assert find(body, "machine_memory_bytes") == [ENGINE.memory_bytes]
    (version,) = [ls for (n, ls), _ in samples(body).items() if n == "cadvisor_version_info"]
    assert ("dockerVersion", ENGINE.version) in version
    text = body.decode()
    assert "secret" not in text
    assert "restartcount" not in text
    assert "container_env_" not in text
    assert "inodes" not in text
    assert 'id="/"' not in text  # no root sample: no root series


def test_systemd_driver_gives_the_scope_path() -> None:
    inv = Inventory()
    fleet(inv)
    systemd = replace(ENGINE, cgroup_driver="systemd")
    snap = inv.publish(engine=systemd, stats={CID: sample(1.0)}, sampler=SamplerStatus(
        "cgroup", 5.0, 0.01, 1.8e9
    ))  # fmt: skip
    body = render(new_compat(), snap)
    assert find(body, "container_memory_usage_bytes", id=f"/system.slice/docker-{CID}.scope")


def test_root_cgroup_joins_the_containers_families_in_one_block() -> None:
    inv = Inventory()
    fleet(inv)
    root = sample(500.0, networks=(NetworkIO("eth0", 7, 1, 0, 0, 8, 1, 0, 0),))
    snap = publish(inv, 1.8e9, stats={CID: sample(1.0)}, host_stats=root)
    compat = new_compat()
    for fmt in (TEXT, OPENMETRICS):
        body = render(compat, snap, fmt)
        text = body.decode()
        if fmt == OPENMETRICS:  # a second TYPE line for a family would fail here
            families = {f.name: f for f in om_parse(text)}
        else:
            families = {f.name: f for f in text_parse(text)}
        usage = families["container_cpu_usage_seconds"]
        assert {s.labels["id"] for s in usage.samples} == {"/", f"/docker/{CID}"}
        assert text.count("# TYPE container_cpu_usage_seconds") == 1
    body = render(compat, snap)
    assert find(body, "container_cpu_system_seconds_total", id="/") == [125]
    assert find(body, "container_network_receive_bytes_total", id="/", interface="eth0") == [7]
    assert find(body, "container_spec_memory_limit_bytes", id="/") == [ENGINE.memory_bytes]
    assert find(body, "container_last_seen", id="/") == [1.8e9]


def test_last_seen_lingers_frozen_for_the_grace_then_goes() -> None:
    inv = Inventory()
    fleet(inv)
    compat = new_compat(Options({cadvisor.GRACE: 60.0}))
    both = {CID: sample(1.0), LIMITED: sample(1.0)}
    body = render(compat, publish(inv, 1000.0, stats=both))
    assert len(find(body, "container_last_seen")) == 2
    inv.upsert(replace(inv.snapshot.containers[LIMITED], state="exited"))
    body = render(compat, publish(inv, 1005.0, stats={CID: sample(2.0)}))
    assert find(body, "container_last_seen", name="db") == [1000.0]  # frozen
    assert find(body, "container_last_seen", name="web") == [1005.0]
    assert find(body, "container_memory_usage_bytes", name="db") == []  # only last_seen stays
    inv.remove(LIMITED)
    body = render(compat, publish(inv, 1060.0, stats={CID: sample(3.0)}))
    assert find(body, "container_last_seen", name="db") == [1000.0]  # removed: still there
    body = render(compat, publish(inv, 1061.0, stats={CID: sample(4.0)}))
    assert find(body, "container_last_seen", name="db") == []  # 61 s > 60 s grace
    for i in range(200):  # churn: the kept label blocks stay bounded by what is seen
        other = f"{i:064x}"
        inv.upsert(container(other, f"churn-{i}", labels={}))
        render(compat, publish(inv, 1062.0 + i, stats={CID: sample(5.0), other: sample(1.0)}))
        inv.remove(other)
    assert sum(map(len, compat._memo.values())) <= 2 * len(compat._seen) + 64


def test_allow_list_picks_labels_and_sanitizes_like_cadvisor() -> None:
    inv = Inventory()
    fleet(inv)
    options = Options({cadvisor.LABELS: ("secret.env", "secret_env")})  # first one wins
    body = render(new_compat(options), publish(inv, 1.8e9, stats={CID: sample(1.0)}))
    assert find(body, "container_memory_usage_bytes", container_label_secret_env="x")
    assert "com_docker_compose" not in body.decode()


def test_incremental_renders_equal_fresh_ones_and_gzip_agrees() -> None:
    inv = Inventory()
    fleet(inv)
    compat = new_compat()
    for step in range(4):
        stats = {CID: sample(1.0 + step)} | ({LIMITED: sample(5.0)} if step % 2 else {})
        snap = publish(inv, 1000.0 + step, stats=stats, host_stats=sample(100.0 + step))
        fresh = new_compat()
        fresh._seen = dict(compat._seen)  # the linger: the one state
        for fmt in (TEXT, OPENMETRICS):
            body = compat.render(snap, fmt, gzipped=False).data
            zipped = compat.render(snap, fmt, gzipped=True).data
            assert gzip.decompress(zipped) == body
        assert samples(render(compat, snap)).keys() == samples(render(fresh, snap)).keys()


def test_unscraped_compat_renders_nothing_on_prewarm() -> None:
    inv = Inventory()
    fleet(inv)
    compat = new_compat()
    snap = publish(inv, 1.0, stats={CID: sample(1.0)})
    compat.prewarm(snap)
    assert compat.cached(snap.version, TEXT, gzipped=False) is None
    compat.want(TEXT, False)
    compat.prewarm(snap)
    assert compat.cached(snap.version, TEXT, gzipped=False) is not None


def test_root_cgroup_is_read_like_a_container_from_the_host() -> None:
    """The sampler's root read on this host: the root cgroup's CPU and memory, PID 1's
    network (what cAdvisor's id="/" shows)."""
    try:
        layout = discover_layout(Path("/proc"), Path("/sys"))
    except CgroupError as exc:
        skip_testbed_limit(f"no cgroup hierarchy visible ({exc})")
    root = host_stats(layout, Path("/proc"))
    if root is None:
        skip_testbed_limit("the cgroup mounts are not the hierarchy's root")
    assert root.cpu_usage_seconds > 0
    assert root.cpu_user_seconds + root.cpu_system_seconds > 0
    assert [n.interface for n in root.networks]  # PID 1's namespace: the host's interfaces
    if layout.version == "1":
        assert root.memory_usage_bytes
        assert root.memory_rss_bytes is not None

"""parse_api_stats on recorded (v1) and constructed (v2, Podman) stats payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exporter.engine.stats import (
    BlockIO,
    ContainerStats,
    NetworkIO,
    limit_or_none,
    parse_api_stats,
    working_set,
)

FIXTURES = Path(__file__).parent / "fixtures" / "stats"
MIB = 1024 * 1024


def load(name: str) -> dict[str, Any]:
    """Load one payload from tests/fixtures/stats (see its README)."""
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return payload


def eth0(rx_bytes: int, rx_packets: int) -> NetworkIO:
    """An interface that only received (what a fresh busybox container shows)."""
    return NetworkIO("eth0", rx_bytes, rx_packets, 0, 0, 0, 0, 0, 0)


def test_v1_limited_one_shot_parses_every_field() -> None:
    """A recorded v1 one-shot maps to base units; quota and OOM kills are not in the API."""
    expected = ContainerStats(
        cpu_usage_seconds=1.57039838,
        cpu_user_seconds=1.54,
        cpu_system_seconds=0.02,
        cpu_periods=32,
        cpu_throttled_periods=30,
        cpu_throttled_seconds=1.4960087,
        cpu_limit_cores=None,
        memory_usage_bytes=606208,
        memory_working_set_bytes=606208,  # total_inactive_file is 0
        memory_rss_bytes=65536,
        memory_cache_bytes=86016,
        memory_swap_bytes=None,
        memory_limit_bytes=64 * MIB,
        memory_failures=0,  # omitted by the daemon (omitempty) = 0
        oom_kills=None,
        pids=1,
        pids_limit=None,
        networks=(eth0(736, 8),),
        block=(),
    )
    actual = parse_api_stats(load("v1_limited_oneshot.json"), cgroup_version="1")
    assert expected == actual


def test_v1_stream_false_reads_current_sample_not_precpu() -> None:
    """Counters come from cpu_stats; precpu_stats (the earlier sample) is ignored."""
    actual = parse_api_stats(load("v1_limited_stream_false.json"), cgroup_version="1")
    assert actual is not None
    assert (
        actual.cpu_usage_seconds,
        actual.cpu_periods,
        actual.cpu_throttled_periods,
    ) == (2.580502911, 52, 50)


def test_empty_frame_of_stopped_container_is_none() -> None:
    """The recorded frame of a stopped container (zero `read`) is no sample at all."""
    assert parse_api_stats(load("v1_stopped.json"), cgroup_version="1") is None


def test_payload_without_cpu_stats_is_none() -> None:
    """A frame without cpu_stats carries nothing worth exporting."""
    payload = load("v1_limited_oneshot.json")
    del payload["cpu_stats"]
    assert parse_api_stats(payload, cgroup_version="1") is None


def test_v1_unlimited_memory_and_pids_are_none() -> None:
    """v1 "no limit" shows as hierarchical_memory_limit 2^63 page-rounded; pids limit omitted."""
    actual = parse_api_stats(load("v1_unlimited_io_oneshot.json"), cgroup_version="1")
    assert actual is not None
    assert (actual.memory_limit_bytes, actual.pids_limit, actual.pids) == (None, None, 3)


def test_v1_working_set_subtracts_total_inactive_file() -> None:
    """Working set = usage - total_inactive_file (CLI >= 20.10), not usage - cache."""
    actual = parse_api_stats(load("v1_unlimited_io_oneshot.json"), cgroup_version="1")
    assert actual is not None
    assert actual.memory_working_set_bytes == 9469952 - 8392704


def test_v1_blkio_sums_read_write_per_device_and_counts_ops() -> None:
    """Read/Write are summed per device; Sync/Async/Discard/Total are skipped."""
    payload = load("v1_unlimited_io_oneshot.json")

    def entries(read: int, write: int) -> list[dict[str, object]]:
        ops = {"Read": read, "Write": write, "Sync": read + write, "Async": 0, "Discard": 0}
        rows: list[dict[str, object]] = [
            {"major": major, "minor": minor, "op": op, "value": value * major}
            for major, minor in ((259, 0), (8, 0))
            for op, value in ops.items()
        ]
        rows.append({"major": 259, "minor": 0, "op": "Total", "value": 999})
        return rows

    payload["blkio_stats"]["io_service_bytes_recursive"] = entries(4096, 8192)
    payload["blkio_stats"]["io_serviced_recursive"] = entries(1, 2)
    actual = parse_api_stats(payload, cgroup_version="1")
    assert actual is not None
    expected = (
        BlockIO("8:0", 4096 * 8, 8192 * 8, 8, 16),
        BlockIO("259:0", 4096 * 259, 8192 * 259, 259, 518),
    )
    assert expected == actual.block


def test_v2_limited_parses_every_field() -> None:
    """v2 keys: anon/file, inactive_file; failcnt (memory.events oom) is not our failures."""
    expected = ContainerStats(
        cpu_usage_seconds=60.123456,
        cpu_user_seconds=60.0,
        cpu_system_seconds=0.123456,
        cpu_periods=1203,
        cpu_throttled_periods=1198,
        cpu_throttled_seconds=59.876543,
        cpu_limit_cores=None,
        memory_usage_bytes=3145728,
        memory_working_set_bytes=3145728 - 1269760,
        memory_rss_bytes=532480,
        memory_cache_bytes=2375680,
        memory_swap_bytes=None,
        memory_limit_bytes=64 * MIB,
        memory_failures=None,
        oom_kills=None,
        pids=1,
        pids_limit=None,  # 2^64-1
        networks=(
            eth0(1296, 16),
            NetworkIO("eth1", 5180, 42, 1, 3, 2240, 21, 0, 0),
        ),
        block=(
            BlockIO("8:16", 12288, 0, None, None),
            BlockIO("259:0", 4096000, 8388608, None, None),
        ),
    )
    actual = parse_api_stats(load("v2_limited_oneshot.json"), cgroup_version="2")
    assert expected == actual


def test_v2_limit_clamped_to_mem_total_is_unlimited() -> None:
    """The daemon reports a v2 "max" limit as MemTotal; knowing MemTotal undoes that."""
    payload = load("v2_unlimited_oneshot.json")
    unknown = parse_api_stats(payload, cgroup_version="2")
    known = parse_api_stats(payload, cgroup_version="2", mem_total=16389296128)
    assert unknown is not None
    assert known is not None
    assert (unknown.memory_limit_bytes, known.memory_limit_bytes) == (16389296128, None)


def test_v2_working_set_is_usage_when_inactive_file_not_below_usage() -> None:
    """inactive_file >= usage leaves usage unchanged (never negative)."""
    actual = parse_api_stats(load("v2_unlimited_oneshot.json"), cgroup_version="2")
    assert actual is not None
    assert actual.memory_working_set_bytes == 1048576


def test_v2_null_blkio_and_no_networks_are_empty() -> None:
    """Null blkio lists and an empty networks map (host network) give empty tuples."""
    actual = parse_api_stats(load("v2_unlimited_oneshot.json"), cgroup_version="2")
    assert actual is not None
    assert (actual.block, actual.networks) == ((), ())


def test_v2_zero_throttling_is_a_real_zero_on_docker() -> None:
    """Docker's zero throttling on an unlimited container is a true count, kept as 0."""
    actual = parse_api_stats(load("v2_unlimited_oneshot.json"), cgroup_version="2")
    assert actual is not None
    assert (
        actual.cpu_periods,
        actual.cpu_throttled_periods,
        actual.cpu_throttled_seconds,
    ) == (0, 0, 0.0)


def test_podman_parses_every_field() -> None:
    """Podman: stats null (working set = usage), fake-zero throttling and failcnt dropped."""
    expected = ContainerStats(
        cpu_usage_seconds=31.504211,
        cpu_user_seconds=30.3,
        cpu_system_seconds=1.204211,
        cpu_periods=None,
        cpu_throttled_periods=None,
        cpu_throttled_seconds=None,
        cpu_limit_cores=None,
        memory_usage_bytes=5242880,
        memory_working_set_bytes=5242880,
        memory_rss_bytes=None,
        memory_cache_bytes=None,
        memory_swap_bytes=None,
        memory_limit_bytes=64 * MIB,
        memory_failures=None,
        oom_kills=None,
        pids=2,
        pids_limit=None,
        networks=(NetworkIO("eth0", 8824, 70, 0, 0, 1562, 19, 0, 0),),
        block=(BlockIO("259:0", 1654784, 4096, None, None),),
    )
    actual = parse_api_stats(load("podman5_v2_stream_false.json"), cgroup_version="2", podman=True)
    assert expected == actual


def test_podman_without_stats_key_behaves_like_null() -> None:
    """An omitted memory_stats.stats (omitempty encoders) parses like an explicit null."""
    payload = load("podman5_v2_stream_false.json")
    del payload["memory_stats"]["stats"]
    with_null = parse_api_stats(load("podman5_v2_stream_false.json"), cgroup_version="2")
    without = parse_api_stats(payload, cgroup_version="2")
    assert with_null == without


def test_loopback_interface_is_skipped() -> None:
    """`lo` never counts as container traffic (the daemon drops it too)."""
    payload = load("v1_limited_oneshot.json")
    payload["networks"]["lo"] = dict(payload["networks"]["eth0"])
    actual = parse_api_stats(payload, cgroup_version="1")
    assert actual is not None
    assert tuple(n.interface for n in actual.networks) == ("eth0",)


def test_unknown_cgroup_version_is_rejected() -> None:
    """A typo in the version must not silently pick the wrong key set."""
    with pytest.raises(ValueError, match="cgroup version"):
        parse_api_stats(load("v1_limited_oneshot.json"), cgroup_version="v1")


@pytest.mark.parametrize(
    ("name", "expected_rss"),
    [("v1_limited_oneshot.json", 65536), ("v2_limited_oneshot.json", 532480)],
)
def test_empty_cgroup_version_is_guessed_from_memory_keys(name: str, expected_rss: int) -> None:
    """Old engines report no CgroupVersion; v1 payloads have total_* keys and max_usage."""
    actual = parse_api_stats(load(name), cgroup_version="")
    assert actual is not None
    assert expected_rss == actual.memory_rss_bytes


@pytest.mark.parametrize(
    ("usage", "stats", "expected"),
    [
        (1000, {"total_inactive_file": 300, "inactive_file": 100}, 700),
        (1000, {"total_inactive_file": 1000, "inactive_file": 100}, 900),  # falls to v2 key
        (1000, {"inactive_file": 400}, 600),
        (1000, {"inactive_file": 1000}, 1000),
        (1000, {}, 1000),
        (1000, None, 1000),
        (0, {"inactive_file": 0}, 0),
    ],
)
def test_working_set_matches_docker_cli(
    usage: int, stats: dict[str, object] | None, expected: int
) -> None:
    """A faithful port of calculateMemUsageUnixNoCache, including its fall-through."""
    assert expected == working_set(usage, stats)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (0, None),
        (-1, None),
        (9223372036854771712, None),  # v1 page-rounded 2^63-1
        (1 << 62, None),
        ((1 << 64) - 1, None),  # v2 "max" via containerd
        (64 * MIB, 64 * MIB),
        (4096, 4096),
    ],
)
def test_limit_or_none_treats_huge_and_zero_as_unlimited(
    value: int | None, expected: int | None
) -> None:
    """Every spelling of "unlimited" becomes None; real limits pass through."""
    assert expected == limit_or_none(value)

"""Parsers: recorded Engine payloads (20.10) and constructed ones for newer engines and Podman."""

from __future__ import annotations

from dataclasses import fields

import pytest
from conftest import inspect_payload, load_json

from exporter.engine.events import parse_event
from exporter.engine.models import (
    container_signature,
    is_container_id,
    parse_container,
    parse_engine,
)


def test_running_container_from_recorded_inspect() -> None:
    """Every monitored field of a recorded inspect document is read."""
    c = parse_container(load_json("inspect_running.json"))
    assert c.name == "rec-web"
    assert len(c.short_id) == 12
    assert c.id.startswith(c.short_id)
    assert c.image == "busybox:local"
    assert c.image_id.startswith("sha256:")
    assert c.state == "running"
    assert c.health == "healthy"
    assert c.restart_policy == "unless-stopped"
    assert c.compose_project == "shop"
    assert c.compose_service == "web"
    assert c.labels["team"] == 'a"b\\c'
    assert c.limits.memory_bytes == 64 * 1024 * 1024
    assert c.limits.cpu_cores == 0.5
    assert c.limits.pids == 100
    assert not c.limits.block_io_throttled  # recorded with empty BlkioDevice* lists
    assert c.pid > 0
    assert c.started_at is not None
    assert c.finished_at is None
    assert c.command == ("sleep", "3600")


def test_network_aliases_exclude_the_automatic_short_id() -> None:
    """`--net-alias search` is kept; the short-ID alias Docker adds at API <= 1.44 is not."""
    c = parse_container(load_json("inspect_running.json"))
    (net,) = c.networks
    assert net.network == "rec-net"
    assert net.aliases == ("search",)
    assert net.ip.count(".") == 3


def test_published_and_exposed_ports() -> None:
    """`-p 127.0.0.1::80` yields the host binding; `docker port` shows the same."""
    c = parse_container(load_json("inspect_running.json"))
    (port,) = c.ports
    assert (port.container_port, port.protocol, port.host_ip) == (80, "tcp", "127.0.0.1")
    assert port.host_port.isdigit()


def test_exited_container() -> None:
    c = parse_container(load_json("inspect_exited.json"))
    assert c.state == "exited"
    assert c.exit_code == 3
    assert c.health == "none"
    assert c.finished_at is not None
    assert c.pid == 0


def test_environment_is_not_part_of_the_model() -> None:
    """Env values cannot leak through any view because the model never holds them."""
    doc = load_json("inspect_running.json")
    assert any("SECRET_TOKEN" in e for e in doc["Config"]["Env"])
    c = parse_container(doc)
    assert "env" not in {f.name for f in fields(c)}
    assert "hunter2" not in repr(c)


def test_api_152_inspect_without_legacy_fields() -> None:
    """API >= 1.52 drops top-level NetworkSettings.IPAddress and adds DNSNames: still parsed."""
    doc = inspect_payload()
    settings = doc["NetworkSettings"]
    for legacy in ("IPAddress", "Gateway", "MacAddress", "Bridge", "IPPrefixLen"):
        settings.pop(legacy, None)
    for endpoint in settings["Networks"].values():
        endpoint["DNSNames"] = ["rec-web", "search"]
        endpoint["Aliases"] = ["search"]
    c = parse_container(doc)
    assert c.networks[0].aliases == ("search",)
    assert c.networks[0].ip


def test_missing_and_odd_fields_degrade_safely() -> None:
    """A minimal document (Podman, very old engines) parses without KeyError."""
    c = parse_container({"Id": "a" * 64, "Name": "/x", "State": {"Status": "weird"}})
    assert c.state == "dead"
    assert c.networks == ()
    assert c.limits.memory_bytes is None


def test_engine_info_from_recorded_payloads() -> None:
    e = parse_engine(load_json("info.json"), load_json("version.json"), "1.41")
    assert e.version.startswith("20.10")
    assert e.cgroup_version == "1"
    assert e.cgroup_driver == "cgroupfs"
    assert e.cpus >= 1
    assert e.memory_bytes > 0
    assert not e.podman
    assert e.swarm_state == "inactive"


def test_podman_engine_detected_from_components() -> None:
    version = {
        **load_json("version.json"),
        "Components": [{"Name": "Podman Engine", "Version": "5.8.2"}],
    }
    assert parse_engine(load_json("info.json"), version, "1.44").podman


def test_event_suffixes_are_split() -> None:
    """`health_status: unhealthy` counts as action health_status with detail unhealthy."""
    ev = parse_event(
        {
            "Type": "container",
            "Action": "health_status: unhealthy",
            "Actor": {"ID": "x"},
            "timeNano": 5,
        }
    )
    assert ev is not None
    assert (ev.action, ev.detail) == ("health_status", "unhealthy")
    ev = parse_event({"Type": "container", "Action": "exec_start: sh -c true", "time": 3})
    assert ev is not None
    assert (ev.action, ev.time_ns) == ("exec_start", 3_000_000_000)


def test_podman_health_event_has_no_suffix() -> None:
    ev = parse_event(
        {
            "Type": "container",
            "Action": "health_status",
            "HealthStatus": "healthy",
            "Actor": {"ID": "x", "Attributes": {"podId": ""}},
            "timeNano": 1,
        }
    )
    assert ev is not None
    assert (ev.action, ev.detail) == ("health_status", "healthy")


def test_recorded_event_stream_parses() -> None:
    from conftest import FIXTURES

    lines = (FIXTURES / "engine" / "events.jsonl").read_text().splitlines()
    import json

    events = [parse_event(json.loads(line)) for line in lines if line.strip()]
    assert all(e is not None for e in events)
    assert {e.type for e in events if e} >= {"container", "network"}


def test_lb_sandboxes_are_not_containers() -> None:
    assert is_container_id("f" * 64)
    assert not is_container_id("lb-ingress")
    assert not is_container_id("ingress-sbox")


def test_a_block_io_throttle_is_seen_in_the_limits() -> None:
    """`--device-write-bps` and the like fill one of four lists; the sampler then reads the
    container's I/O counters on every sweep (a throttled bio is counted while it waits)."""
    throttle = [{"Path": "/dev/vda", "Rate": 1048576}]
    for key in ("BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceWriteIOps"):
        c = parse_container(inspect_payload(**{f"HostConfig__{key}": throttle}))
        assert c.limits.block_io_throttled, key
    assert not parse_container(
        inspect_payload(HostConfig__BlkioDeviceReadBps=None)
    ).limits.block_io_throttled


ROW = {
    "Id": "a" * 64,
    "Names": ["/alpha"],
    "ImageID": "sha256:" + "b" * 64,
    "Labels": {"app": "web"},
    "State": "running",
    "Status": "Up 5 minutes (healthy)",
    "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
    "Mounts": [{"Name": "data", "Type": "volume"}],
}


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({"Status": "Up About an hour (healthy)"}, True),  # the uptime moves every minute
        ({"Command": "sleep 61", "Created": 1}, True),  # not what the model reads
        ({"Status": "Up 5 minutes (unhealthy)"}, False),
        ({"Status": "Up 5 minutes"}, False),
        ({"State": "paused"}, False),
        ({"Names": ["/renamed"]}, False),
        ({"ImageID": "sha256:" + "c" * 64}, False),
        ({"Labels": {"app": "web", "tier": "front"}}, False),
        ({"Ports": []}, False),
        ({"Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 90, "Type": "tcp"}]}, False),
        ({"NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.3"}}}}, False),
        ({"NetworkSettings": {"Networks": {}}}, False),
        ({"Mounts": []}, False),
    ],
)  # fmt: skip
def test_container_signature_moves_exactly_when_a_re_inspect_is_needed(
    change: dict[str, object], same: bool
) -> None:
    """The light reconcile inspects a listed container only when its signature changed:
    never for its uptime, always for what the inventory shows of it."""
    assert (container_signature({**ROW, **change}) == container_signature(ROW)) is same

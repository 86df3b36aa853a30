"""The /topology document: networks and containers as nodes, endpoints as edges."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from conftest import inspect_payload, load_json

from exporter.engine.models import parse_container
from exporter.engine.resources import parse_network
from exporter.inventory.store import Snapshot
from exporter.web.topology import topology_view

LAN = "637fc6dfcd96df44c10fd767d6ef63f77d81406038a4b70662ecaeb7fce9d69b"
ES2 = "bb0e8f8f880b807511b197be1a0a697f8cac173c20fb094fe6e79d549d81ff6d"
WEB = "402ee90b12df8478659c8925bedd3d114598764e6297aa0c9036205c1ea86472"
SIDE = "5" * 64


def snapshot(*container_docs: dict[str, Any], networks: tuple[str, ...] = ()) -> Snapshot:
    containers = [parse_container(d) for d in container_docs]
    nets = [parse_network(load_json(n)) for n in networks]
    return Snapshot(
        containers=MappingProxyType({c.id: c for c in containers}),
        networks=MappingProxyType({n.id: n for n in nets}),
    )


def recorded() -> Snapshot:
    return snapshot(
        load_json("inspect_alias.json"),
        load_json("inspect_ports.json"),
        networks=("network_inspect.json", "network_inspect_bridge.json"),
    )


def test_every_network_and_container_is_a_node() -> None:
    doc = topology_view(recorded())
    kinds = {(n["kind"], n["title"]) for n in doc["nodes"]}
    assert kinds == {
        ("network", "bridge"),
        ("network", "dxt-rec-lan"),
        ("container", "dxt-rec-es2"),
        ("container", "dxt-rec-web"),
    }
    lan = next(n for n in doc["nodes"] if n["title"] == "dxt-rec-lan")
    assert (lan["id"], lan["subtitle"], lan["mainstat"]) == (
        f"network/{LAN}",
        "bridge",
        "172.18.0.0/16",
    )
    assert lan["secondarystat"] == "3 containers"


def test_edges_carry_ip_and_aliases() -> None:
    """One edge per endpoint: the search group's alias and the web container's two networks."""
    edges = topology_view(recorded())["edges"]
    by_pair = {(e["source"], e["target"]): e for e in edges}
    es2 = by_pair[(f"container/{ES2}", f"network/{LAN}")]
    assert (es2["mainstat"], es2["secondarystat"], es2["detail__aliases"]) == (
        "172.18.0.3",
        "search",
        ["search"],
    )
    web_targets = {e["detail__network"] for e in edges if e["source"] == f"container/{WEB}"}
    assert web_targets == {"bridge", "dxt-rec-lan"}
    assert len({e["id"] for e in edges}) == len(edges)


def test_container_node_shows_state_and_published_ports() -> None:
    web = next(n for n in topology_view(recorded())["nodes"] if n["title"] == "dxt-rec-web")
    assert web["mainstat"] == "running"
    assert web["secondarystat"] == (
        "127.0.0.1:32769->80/tcp, 0.0.0.0:32768->9000/tcp, [::]:32768->9000/tcp"
    )
    assert web["color"] == "green"


def test_a_network_not_inspected_yet_is_still_drawn() -> None:
    """Edges come from container inspect; a network the watcher has not inspected gets a node."""
    doc = topology_view(snapshot(load_json("inspect_alias.json")))
    (net,) = (n for n in doc["nodes"] if n["kind"] == "network")
    assert (net["id"], net["title"]) == (f"network/{LAN}", "dxt-rec-lan")
    assert [e["target"] for e in doc["edges"]] == [f"network/{LAN}"]


def test_shared_network_namespace_is_a_container_edge() -> None:
    """`--network container:X` has no endpoint of its own: an edge to X says where it lives."""
    side = inspect_payload(cid=SIDE, Name="/side")
    side["HostConfig"]["NetworkMode"] = f"container:{ES2}"
    side["NetworkSettings"]["Networks"] = {}
    doc = topology_view(snapshot(load_json("inspect_alias.json"), side))
    (edge,) = (e for e in doc["edges"] if e["kind"] == "netns")
    assert (edge["source"], edge["target"]) == (f"container/{SIDE}", f"container/{ES2}")


def test_every_edge_joins_two_nodes() -> None:
    """Grafana's node graph drops edges whose ends are unknown: we never emit any."""
    side = inspect_payload(cid=SIDE, Name="/side")
    side["HostConfig"]["NetworkMode"] = "container:gone"
    side["NetworkSettings"]["Networks"] = {}
    doc = topology_view(snapshot(load_json("inspect_alias.json"), side))
    ids = {n["id"] for n in doc["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in doc["edges"])
    assert not [e for e in doc["edges"] if e["kind"] == "netns"]


def test_empty_snapshot() -> None:
    assert topology_view(Snapshot()) == {"nodes": [], "edges": []}

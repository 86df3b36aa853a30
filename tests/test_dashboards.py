"""Grafana dashboards: generated, Classic schema 39, variables, units, descriptions, PromQL."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pack import dashboards as gen
from prometheus3 import promtools

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "dashboards"

DS = {"type": "prometheus", "uid": "${datasource}"}
ALLOWED_PANELS = {"timeseries", "stat", "table", "state-timeline", "nodeGraph", "bargauge", "text"}
ANGULAR_PANELS = {
    "graph",
    "singlestat",
    "table-old",
    "grafana-piechart-panel",
    "grafana-worldmap-panel",
}
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
SELECTOR = re.compile(r"\b([a-zA-Z_:][\w:]*)\{([^}]*)\}")


BUILT: dict[str, dict[str, Any]] = gen.dashboards()
COMMITTED: dict[str, dict[str, Any]] = {
    path.name: json.loads(path.read_text(encoding="utf-8"))
    for path in sorted(DASHBOARDS.glob("*.json"))
}


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def _exprs() -> list[tuple[str, str, str]]:
    return gen.all_queries()


def test_committed_json_equals_generator_output() -> None:
    """dashboards/*.json are exactly what dashboards/generate.py writes, no more, no less."""
    assert set(COMMITTED) == set(BUILT), "run: python dashboards/generate.py"
    for name, dashboard in BUILT.items():
        text = (DASHBOARDS / name).read_text(encoding="utf-8")
        assert text == gen.render(dashboard), f"{name} is stale; run dashboards/generate.py"


def test_at_least_the_four_required_dashboards() -> None:
    """Engine overview, container detail, network topology and fleet exist."""
    uids = {d["uid"] for d in COMMITTED.values()}
    assert {
        "docker-exporter-engine",
        "docker-exporter-container",
        "docker-exporter-topology",
        "docker-exporter-fleet",
    } <= uids


def test_identity_schema_title_and_tags() -> None:
    """schemaVersion 39, stable unique uid = file name, common prefix and tag."""
    uids, titles = set(), set()
    for name, d in COMMITTED.items():
        assert d["schemaVersion"] == 39
        assert d["id"] is None
        assert d["uid"] == name.removesuffix(".json")
        assert re.fullmatch(r"[a-z0-9-]{8,40}", d["uid"])
        assert d["title"].startswith("Docker Exporter / ")
        assert "docker-exporter" in d["tags"]
        assert d["description"]
        uids.add(d["uid"])
        titles.add(d["title"])
    assert len(uids) == len(COMMITTED)
    assert len(titles) == len(COMMITTED)


def test_template_variables() -> None:
    """datasource (prometheus), job and instance (multi, All) on every dashboard."""
    for name, d in COMMITTED.items():
        variables = {v["name"]: v for v in d["templating"]["list"]}
        ds = variables["datasource"]
        assert (ds["type"], ds["query"]) == ("datasource", "prometheus"), name
        for var in ("job", "instance"):
            v = variables[var]
            assert v["type"] == "query", name
            assert v["datasource"] == DS, name
            assert v["refresh"] == 2, name
        assert variables["instance"]["multi"] is True, name
        assert variables["instance"]["includeAll"] is True, name
        assert '{job=~"$job"}' in variables["instance"]["definition"], name
    container = {
        v["name"]: v for v in COMMITTED["docker-exporter-container.json"]["templating"]["list"]
    }
    assert "docker_container_info" in container["container"]["definition"]
    assert container["container"]["definition"].endswith(", name)")


def test_no_angular_panel_types() -> None:
    """Only React panels; graph, singlestat and table-old never appear."""
    for name, d in COMMITTED.items():
        for p in _panels(d):
            assert p["type"] in ALLOWED_PANELS, f"{name}: {p['title']}: {p['type']}"
            assert p["type"] not in ANGULAR_PANELS


def test_every_panel_has_description_unit_and_datasource() -> None:
    """Each panel: description, fieldConfig.defaults.unit, ${datasource} on panel and targets."""
    for name, d in COMMITTED.items():
        for p in _panels(d):
            where = f"{name}: {p['title']}"
            assert p["title"], where
            assert p.get("description", "").strip(), where
            assert p["fieldConfig"]["defaults"].get("unit"), where
            if p["type"] == "text":
                continue
            assert p["datasource"] == DS, where
            assert p["targets"], where
            refs = [t["refId"] for t in p["targets"]]
            assert len(refs) == len(set(refs)), where
            for t in p["targets"]:
                assert t["datasource"] == DS, where
                assert t["expr"].strip(), where


def test_annotations_use_the_datasource_variable() -> None:
    """Prometheus annotations query through ${datasource} too."""
    for d in COMMITTED.values():
        for a in d["annotations"]["list"]:
            if "expr" in a:
                assert a["datasource"] == DS


def test_layout_fits_and_does_not_overlap() -> None:
    """Unique panel ids; every gridPos inside 24 columns; no two panels overlap."""
    for name, d in COMMITTED.items():
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), name
        cells: set[tuple[int, int]] = set()
        for p in d["panels"]:
            g = p["gridPos"]
            assert g["w"] > 0, name
            assert g["h"] > 0, name
            assert 0 <= g["x"], name
            assert g["x"] + g["w"] <= 24, name
            mine = {
                (x, y)
                for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])
            }
            assert not cells & mine, f"{name}: {p['title']} overlaps"
            cells |= mine


def test_every_query_is_scoped_by_job_and_instance() -> None:
    """Every series selector carries job=~"$job" and instance=~"$instance"."""
    for dashboard, panel, expr in _exprs():
        selectors = SELECTOR.findall(expr)
        assert selectors, f"{dashboard}: {panel}: no selector"
        for metric, matchers in selectors:
            where = f"{dashboard}: {panel}: {metric}"
            assert 'job=~"$job"' in matchers, where
            assert 'instance=~"$instance' in matchers, where


def test_rates_use_rate_interval() -> None:
    """rate() uses [$__rate_interval]; no irate(); no fixed range anywhere."""
    for dashboard, panel, expr in _exprs():
        code = STRING.sub('""', expr)
        where = f"{dashboard}: {panel}"
        assert "irate(" not in code, where
        for fn, window in re.findall(r"\b(\w+)\(\s*[\w:]+\{[^}]*\}\[([^\]]+)\]", code):
            allowed = {"$__rate_interval", "$__range"} if fn == "increase" else {"$__rate_interval"}
            assert window in allowed, f"{where}: {fn}[{window}]"
        for window in re.findall(r"\[([^\]]*)\]", code):
            assert window in {"$__rate_interval", "$__range"}, f"{where}: [{window}]"
        if "rate(" in code:
            assert "$__rate_interval" in code, where


def test_links_point_to_generated_dashboards() -> None:
    """Data links (/d/<uid>) target dashboards that exist."""
    uids = {d["uid"] for d in COMMITTED.values()}
    text = json.dumps(COMMITTED)
    linked = set(re.findall(r"/d/([a-z0-9-]+)", text))
    assert linked
    assert linked <= uids


def test_topology_panel_is_a_node_graph_of_nodes_and_edges() -> None:
    """The topology dashboard has a nodeGraph fed by table queries named nodes and edges."""
    d = COMMITTED["docker-exporter-topology.json"]
    graphs = [p for p in _panels(d) if p["type"] == "nodeGraph"]
    assert len(graphs) == 1
    targets = {t["refId"]: t for t in graphs[0]["targets"]}
    assert set(targets) == {"nodes", "edges"}
    for t in targets.values():
        assert t["format"] == "table"
        assert t["instant"] is True
    titles = {p["title"] for p in _panels(d)}
    assert {"Network aliases", "Published ports"} <= titles


def test_fleet_has_one_row_per_host_and_firing_alerts() -> None:
    """The fleet dashboard's host table is keyed by instance and counts Docker alerts."""
    d = COMMITTED["docker-exporter-fleet.json"]
    exprs = [t["expr"] for p in _panels(d) for t in p["targets"]]
    assert any('ALERTS{alertname=~"Docker.*"' in e for e in exprs)
    hosts = next(p for p in _panels(d) if p["title"] == "Hosts")
    assert any(t["id"] == "merge" for t in hosts["transformations"])
    assert all("by (job, instance" in t["expr"] for t in hosts["targets"])


def test_substitute_replaces_grafana_variables_only() -> None:
    """$var, ${var} and ${var:fmt} are replaced; label_replace's $1 is left alone."""
    expr = (
        'label_replace(rate(x{job=~"$job", instance=~"${instance}"}[$__rate_interval]),'
        ' "a", "$1", "b", "(.*)")'
    )
    assert gen.substitute(expr, {"instance": "h1:9417"}) == (
        'label_replace(rate(x{job=~".+", instance=~"h1:9417"}[1m]), "a", "$1", "b", "(.*)")'
    )
    assert gen.substitute("${container:regex} $__range") == ".+ 1h"
    with pytest.raises(KeyError):
        gen.substitute("$unknown")


def test_all_queries_lists_every_target() -> None:
    """all_queries() returns each panel target once, with its dashboard and panel title."""
    targets = sum(len(p["targets"]) for d in BUILT.values() for p in _panels(d))
    annotations = sum(1 for d in BUILT.values() for a in d["annotations"]["list"] if "expr" in a)
    assert len(gen.all_queries()) == targets + annotations
    variables = gen.all_queries(include_variables=True)
    assert any(panel == "variable container" for _, panel, _ in variables)


def test_referenced_metrics() -> None:
    """The dashboards read docker_* series plus Prometheus' own synthetic series."""
    metrics = gen.referenced_metrics()
    assert {"docker_up", "docker_container_state", "docker_network_info"} <= metrics
    assert all(m.startswith("docker_") or m in gen.SYNTHETIC_METRICS for m in metrics), metrics


@pytest.mark.parametrize("promtool", promtools())
def test_every_query_parses(promtool: str, tmp_path: Path) -> None:
    """Every query, with Grafana variables substituted, is valid PromQL for promtool
    3.5 and 2.42."""
    rules = [
        {"record": f"dashboard:query_{i}", "expr": gen.substitute(expr)}
        for i, (_, _, expr) in enumerate(gen.all_queries(include_variables=True))
    ]
    path = tmp_path / "queries.rules.json"  # JSON is valid YAML for promtool
    path.write_text(json.dumps({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _braces(**labels: str) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


@pytest.mark.parametrize("promtool", promtools())
def test_topology_queries_produce_node_graph_frames(promtool: str, tmp_path: Path) -> None:
    """Evaluated by promtool, nodes/edges yield the id/title/source/target columns Grafana needs."""
    host = {"job": "docker-exporter", "instance": "h1:9417"}
    web = {**host, "id": "aaaaaaaaaaaa", "name": "web"}
    network = {"network_id": "n1", "network": "front", "driver": "bridge", "scope": "local"}
    series = {
        "docker_container_info": _braces(
            **web, image="nginx:1", image_id="sha256:1", compose_project="p", compose_service="web"
        ),
        "docker_container_state": _braces(**web, state="running"),
        "docker_network_info": _braces(
            **host, **network, subnet="10.0.0.0/24", gateway="", internal="false", attachable="true"
        ),
        "docker_container_network_info": _braces(**web, network="front", ip="10.0.0.2"),
    }
    inputs = [{"series": name + labels, "values": "1x3"} for name, labels in series.items()]
    inputs.append(
        {"series": "docker_container_state" + _braces(**web, state="exited"), "values": "0x3"}
    )
    graph = next(p for p in gen.topology()["panels"] if p["type"] == "nodeGraph")
    exprs = {t["refId"]: gen.substitute(t["expr"]) for t in graph["targets"]}
    container_node = _braces(
        id="container/h1:9417/web",
        title="web",
        subtitle="nginx:1",
        mainstat="running",
        color="green",
    )
    network_node = _braces(
        id="network/h1:9417/front",
        title="front",
        subtitle="bridge network",
        mainstat="local",
        color="blue",
    )
    edge = _braces(
        id="container/h1:9417/web -> network/h1:9417/front",
        source="container/h1:9417/web",
        target="network/h1:9417/front",
        mainstat="10.0.0.2",
    )
    rules = tmp_path / "empty.rules.json"
    rules.write_text(json.dumps({"groups": []}))
    case = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": inputs,
                "promql_expr_test": [
                    {
                        "expr": exprs["nodes"],
                        "eval_time": "2m",
                        "exp_samples": [
                            {"labels": container_node, "value": 1},
                            {"labels": network_node, "value": 1},
                        ],
                    },
                    {
                        "expr": exprs["edges"],
                        "eval_time": "2m",
                        "exp_samples": [{"labels": edge, "value": 1}],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "topology.test.json"
    path.write_text(json.dumps(case))
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"


def test_grafana_provisioning_examples() -> None:
    """The provisioning examples declare a Prometheus datasource and a file provider."""
    sources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())
    assert sources["apiVersion"] == 1
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus"
    assert source["jsonData"]["timeInterval"]
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "docker-exporter.yaml").read_text())
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].endswith("/docker-exporter")


def test_engine_has_a_row_per_compose_project() -> None:
    """A row repeated by the `project` variable (Compose projects of the chosen hosts),
    last on the dashboard, whose panels read only that project's services."""
    d = COMMITTED["docker-exporter-engine.json"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["project"]["definition"].startswith(
        'label_values(docker_compose_service_containers{job=~"$job", instance=~"$instance"}'
    )
    rows = [p for p in d["panels"] if p["type"] == "row"]
    compose = rows[-1]
    assert compose["repeat"] == "project"
    assert "$project" in compose["title"]
    after = d["panels"][d["panels"].index(compose) + 1 :]
    assert after
    assert all('project="$project"' in t["expr"] for p in after for t in p["targets"])

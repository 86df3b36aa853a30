"""Alert rules: generated from alerts/config.yaml, valid for promtool, tested, documented."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import TESTBED_LIMIT, because
from pack import alerts as gen
from prometheus3 import promtools

ROOT = Path(__file__).resolve().parents[1]
ALERTS = ROOT / "alerts"
RULES = ALERTS / "docker-exporter.rules.yaml"
RUNBOOK = ALERTS / "runbook.md"
TEST_FILES = sorted((ALERTS / "tests").glob("*.yaml"))
RUNBOOK_BASE = "https://github.com/docker-exporter/docker-exporter/blob/main/alerts/runbook.md"


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _github_slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, drop everything but letters, marks,
    numbers, connector punctuation, hyphens and spaces, then spaces to hyphens
    (html-pipeline's /[^\\p{Word}\\- ]/u)."""
    kept = "".join(
        ch
        for ch in heading.strip().lower()
        if ch in "- " or unicodedata.category(ch)[0] in "LMN" or unicodedata.category(ch) == "Pc"
    )
    return kept.replace(" ", "-")


def _runbook_anchors() -> list[str]:
    text = RUNBOOK.read_text(encoding="utf-8")
    return [_github_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M)]


def test_committed_rules_equal_generator_output() -> None:
    """alerts/docker-exporter.rules.yaml is exactly what alerts/generate.py writes."""
    assert RULES.read_text(encoding="utf-8") == gen.render(), "run: python alerts/generate.py"


@pytest.mark.parametrize("promtool", promtools())
def test_promtool_check_rules(promtool: str) -> None:
    """promtool 3.5 and 2.42 accept the rule file with every lint enabled and fatal."""
    result = subprocess.run(
        [promtool, "check", "rules", "--lint=all", "--lint-fatal", str(RULES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("promtool", promtools())
def test_promtool_test_rules(promtool: str) -> None:
    """Every promtool unit test in alerts/tests passes: the alerts evaluated by
    Prometheus 3.5's rule engine and by 2.42's."""
    assert TEST_FILES
    result = subprocess.run(
        [promtool, "test", "rules", *map(str, TEST_FILES)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_names_follow_house_style() -> None:
    """Alert names are unique CamelCase with the Docker prefix."""
    names = [rule["alert"] for rule in _rules()]
    assert len(names) == len(set(names))
    for name in names:
        assert re.fullmatch(r"Docker(?:[A-Z][a-z0-9]*)+", name), name


def test_every_alert_has_severity_and_annotations() -> None:
    """severity, summary, description and runbook_url are set on every alert."""
    for rule in _rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        assert annotations["summary"].strip().endswith("."), name
        assert "{{" not in annotations["summary"], f"{name}: summary should be static"
        assert annotations["description"].strip(), name
        assert annotations["runbook_url"] == f"{RUNBOOK_BASE}#alert-name-{name.lower()}"


def test_descriptions_name_the_host_and_container() -> None:
    """Per-target alerts name the instance; container alerts also name the container."""
    for rule in _rules():
        name, description = rule["alert"], rule["annotations"]["description"]
        if name == "DockerExporterAbsent":  # absent() has no instance to name
            continue
        assert "{{ $labels.instance }}" in description, name
        if name.startswith("DockerContainer"):
            assert "{{ $labels.name }}" in description, name


def test_runbook_has_a_section_per_alert() -> None:
    """Each runbook_url anchor is produced by a runbook heading, and vice versa."""
    anchors = [a for a in _runbook_anchors() if a.startswith("alert-name-")]
    assert len(anchors) == len(set(anchors))
    expected = {f"alert-name-{rule['alert'].lower()}" for rule in _rules()}
    assert set(anchors) == expected


def test_github_slug_matches_known_examples() -> None:
    """The slug helper behaves like GitHub's renderer on the shapes used here."""
    assert _github_slug("Alert Name DockerUp") == "alert-name-dockerup"
    assert _github_slug("Alert Name: DockerUp") == "alert-name-dockerup"
    assert _github_slug("Foo (bar) baz_qux") == "foo-bar-baz_qux"


def _unit_test_outcomes() -> dict[str, set[str]]:
    outcomes: dict[str, set[str]] = {}
    for path in TEST_FILES:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                kind = "fires" if check.get("exp_alerts") else "quiet"
                outcomes.setdefault(check["alertname"], set()).add(kind)
    return outcomes


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    """alerts/tests has, per alert, a case expecting alerts and one expecting none."""
    outcomes = _unit_test_outcomes()
    for name in gen.alert_names():
        assert outcomes.get(name) == {"fires", "quiet"}, f"{name}: {outcomes.get(name)}"
    assert set(outcomes) <= set(gen.alert_names()), "tests for unknown alerts"


def test_referenced_metrics_are_exporter_or_prometheus_series() -> None:
    """The rules read docker_* series and Prometheus' up, nothing else."""
    metrics = gen.referenced_metrics()
    assert "up" in metrics
    assert "docker_container_state" in metrics
    assert all(m == "up" or m.startswith("docker_") for m in metrics), metrics


def test_thresholds_come_from_the_config() -> None:
    """Changing a value in the configuration changes the generated rules."""
    config = copy.deepcopy(gen.load_config())
    config["alerts"]["DockerContainerMemoryNearLimit"]["ratio"] = 0.75
    config["alerts"]["DockerContainerMemoryNearLimit"]["severity"] = "critical"
    config["alerts"]["DockerEngineUnreachable"]["for"] = "7m"
    config["selectors"]["job"] = 'job="docker"'
    rules = {r["alert"]: r for g in gen.build_groups(config) for r in g["rules"]}
    memory = rules["DockerContainerMemoryNearLimit"]
    assert memory["expr"].endswith("> 0.75")
    assert "threshold 75%" in memory["annotations"]["description"]
    assert memory["labels"]["severity"] == "critical"
    assert rules["DockerEngineUnreachable"]["for"] == "7m"
    assert rules["DockerExporterAbsent"]["expr"] == 'absent(up{job="docker"})'


def test_filter_selector_reaches_every_docker_series() -> None:
    """selectors.filter is added to every docker_* selector in every rule."""
    config = copy.deepcopy(gen.load_config())
    config["selectors"]["filter"] = 'env="prod"'
    for group in gen.build_groups(config):
        for rule in group["rules"]:
            for metric, braces in re.findall(r"\b(docker_\w+)(\{[^}]*\})?", rule["expr"]):
                assert 'env="prod"' in braces, f"{rule['alert']}: {metric}"


def test_config_and_generator_define_the_same_alerts() -> None:
    """An alert missing from config.yaml (or unknown to the generator) is an error."""
    config = copy.deepcopy(gen.load_config())
    del config["alerts"]["DockerStatsSweepSlow"]
    with pytest.raises(ValueError, match="DockerStatsSweepSlow"):
        gen.build_groups(config)


ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
AMTOOL = shutil.which("amtool")
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason=because(TESTBED_LIMIT, "amtool is not installed")
)


@needs_amtool
def test_alertmanager_example_is_valid() -> None:
    """amtool accepts deploy/alertmanager/alertmanager.yml."""
    result = subprocess.run(
        [AMTOOL, "check-config", str(ALERTMANAGER)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_amtool
@pytest.mark.parametrize(
    ("severity", "receiver"),
    [("critical", "pager"), ("warning", "team-chat"), ("info", "blackhole")],
)
def test_alertmanager_routes_by_severity(severity: str, receiver: str) -> None:
    """Each severity reaches the receiver the example documents."""
    result = subprocess.run(
        [
            AMTOOL,
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER}",
            f"severity={severity}",
            "alertname=DockerContainerUnhealthy",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_alertmanager_inhibitions_name_existing_alerts() -> None:
    """Every alertname matcher in the inhibit rules matches at least one of our alerts."""
    config = yaml.safe_load(ALERTMANAGER.read_text(encoding="utf-8"))
    names = gen.alert_names()
    matchers = [
        m
        for rule in config["inhibit_rules"]
        for m in rule["source_matchers"] + rule["target_matchers"]
    ]
    assert matchers
    for matcher in matchers:
        m = re.fullmatch(r'alertname(=~|=)"(.+)"', matcher)
        assert m, matcher
        op, value = m.groups()
        pattern = value if op == "=~" else re.escape(value)
        for alternative in pattern.split("|"):
            assert any(re.fullmatch(alternative, n) for n in names), matcher


def test_readme_alert_table_is_generated() -> None:
    """The alert table in alerts/README.md is what alerts/generate.py writes."""
    current = (ALERTS / "README.md").read_text(encoding="utf-8")
    assert gen.render_readme(current) == current, "run: python alerts/generate.py"
    for name in gen.alert_names():
        assert f"[{name}](runbook.md#alert-name-{name.lower()})" in current


def test_runbook_names_existing_dashboards() -> None:
    """Dashboards the runbook refers to (*Docker Exporter / ...*) exist in dashboards/."""
    titles = {
        json.loads(p.read_text(encoding="utf-8"))["title"]
        for p in (ROOT / "dashboards").glob("*.json")
    }
    text = " ".join(RUNBOOK.read_text(encoding="utf-8").split())
    mentioned = set(re.findall(r"\*(Docker Exporter / [^*]+)\*", text))
    assert mentioned
    assert mentioned <= titles

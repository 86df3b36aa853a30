"""deploy/: Prometheus configs pass promtool, the stacks reference files that exist and agree.

Compose and Swarm cannot run here (no image can be pulled), so their files are parsed
and checked for what would break at `up`: missing files, a Prometheus that scrapes
another name or port than the exporter's, a Grafana provider path that is not mounted.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import skip_testbed_limit
from prometheus3 import promtools

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
CONFIGS = sorted(PROMETHEUS.glob("*.yml"))
JOB = "docker-exporter"  # alerts/config.yaml selectors.job
PORT = 9417
RULE_DIRS = ("/etc/prometheus/alerts/", "/etc/prometheus/rules/")
"""Where the configs expect the rule files of alerts/ (mounted or copied)."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        skip_testbed_limit(f"{name} not installed (run scripts/testbed)")
    return path


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _service_volumes(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of every short-syntax volume."""
    pairs = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        pairs.append((source, target))
    return pairs


def _jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in config.get("scrape_configs", [])}


def test_at_least_the_documented_prometheus_examples_exist() -> None:
    """Compose's config and the static, file_sd, dockerswarm_sd and docker_sd examples."""
    expected = {"prometheus", "static", "file_sd", "dockerswarm_sd", "docker_sd"}
    assert expected <= {path.stem for path in CONFIGS}


@pytest.mark.parametrize("promtool", promtools())
@pytest.mark.parametrize("config", CONFIGS, ids=[path.name for path in CONFIGS])
def test_prometheus_config_passes_promtool(config: Path, promtool: str, tmp_path: Path) -> None:
    """promtool 3.5 and 2.42 check config passes, with the rule files of alerts/ where
    they are mounted."""
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, copy)
    text = config.read_text()
    for rule_dir in RULE_DIRS:
        text = text.replace(rule_dir, f"{ROOT / 'alerts'}/")
    (copy / config.name).write_text(text)
    result = subprocess.run(
        [promtool, "check", "config", config.name],
        cwd=copy,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    if _load(config).get("rule_files"):
        assert re.search(r"SUCCESS: [1-9]\d* rules found", output), output


@pytest.mark.parametrize("config", CONFIGS, ids=[path.name for path in CONFIGS])
def test_prometheus_config_names_the_job_the_alerts_expect(config: Path) -> None:
    """Each config scrapes the exporter under job="docker-exporter" (the alerts' selector)."""
    assert JOB in _jobs(_load(config))


def test_compose_files_exist() -> None:
    """Every relative path in compose.yaml (build context, Dockerfile, mounts) exists."""
    compose = _load(DEPLOY / "compose.yaml")
    build = compose["services"]["docker-exporter"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    for name, service in compose["services"].items():
        for source, _ in _service_volumes(service):
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"


@pytest.mark.parametrize("name", ["compose.yaml", "swarm-stack.yaml"])
def test_stack_passes_docker_compose_config(name: str) -> None:
    """docker-compose validates the file against its schema (when docker-compose is installed)."""
    compose = shutil.which("docker-compose")
    if compose is None:
        skip_testbed_limit("docker-compose not installed (run scripts/testbed)")
    result = subprocess.run(
        [compose, "--file", name, "config", "--quiet"],
        cwd=DEPLOY,
        env={**os.environ, "DOCKER_GID": "999"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_exporter_runs_read_only_with_the_socket_group() -> None:
    """The exporter service: read-only root, socket read-only, the socket's group, /proc, /sys."""
    exporter = _load(DEPLOY / "compose.yaml")["services"]["docker-exporter"]
    assert exporter["read_only"] is True
    assert exporter["group_add"]
    assert exporter["pid"] == "host"
    volumes = exporter["volumes"]
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in volumes
    assert "/proc:/host/proc:ro" in volumes
    assert "/sys:/host/sys:ro" in volumes
    assert all(port.startswith("127.0.0.1:") for port in exporter["ports"])


def test_compose_prometheus_wiring() -> None:
    """Prometheus scrapes the exporter service, loads the mounted alerts, knows Alertmanager."""
    compose = _load(DEPLOY / "compose.yaml")
    services = compose["services"]
    prometheus = services["prometheus"]
    mounts = dict(_service_volumes(prometheus))
    config_target = mounts["./prometheus/prometheus.yml"]
    assert f"--config.file={config_target}" in prometheus["command"]
    config = _load(PROMETHEUS / "prometheus.yml")
    [targets] = [sc["targets"] for sc in _jobs(config)[JOB]["static_configs"]]
    assert targets == [f"docker-exporter:{PORT}"]
    [rules] = config["rule_files"]
    assert rules.startswith(mounts["../alerts"] + "/")
    assert list((ROOT / "alerts").glob(Path(rules).name)), f"no alerts/{Path(rules).name}"
    [alertmanagers] = config["alerting"]["alertmanagers"]
    [am_target] = alertmanagers["static_configs"][0]["targets"]
    assert am_target.split(":")[0] in services


def test_compose_grafana_wiring() -> None:
    """Grafana's datasource is the prometheus service; the dashboards sit at the provider path."""
    services = _load(DEPLOY / "compose.yaml")["services"]
    grafana = dict(_service_volumes(services["grafana"]))
    provisioning = DEPLOY / "grafana" / "provisioning"
    assert grafana["./grafana/provisioning"] == "/etc/grafana/provisioning"
    datasources = [
        source
        for path in sorted((provisioning / "datasources").glob("*.y*ml"))
        for source in _load(path)["datasources"]
    ]
    urls = [source["url"] for source in datasources if source["type"] == "prometheus"]
    assert "http://prometheus:9090" in urls
    assert "prometheus" in services
    providers = [
        provider
        for path in sorted((provisioning / "dashboards").glob("*.y*ml"))
        for provider in _load(path)["providers"]
    ]
    assert grafana["../dashboards"] in [p["options"]["path"] for p in providers]
    assert list((ROOT / "dashboards").glob("*.json"))


def test_alertmanager_config_passes_amtool() -> None:
    """amtool check-config accepts the Alertmanager config that compose mounts."""
    amtool = _tool("amtool")
    result = subprocess.run(
        [amtool, "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_swarm_stack() -> None:
    """Global exporter with the socket; Prometheus config and alerts exist; labels agree."""
    stack = _load(DEPLOY / "swarm-stack.yaml")
    exporter = stack["services"]["docker-exporter"]
    assert exporter["deploy"]["mode"] == "global"
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in exporter["volumes"]
    assert exporter["read_only"] is True
    for config in stack["configs"].values():
        assert (DEPLOY / config["file"]).is_file(), config["file"]
    prometheus_file = DEPLOY / stack["configs"]["prometheus"]["file"]
    job = _jobs(_load(prometheus_file))[JOB]
    [sd] = job["dockerswarm_sd_configs"]
    assert sd["role"] == "tasks"
    relabel = job["relabel_configs"]

    def keeps(meta: str, value: str) -> bool:
        rules = [r for r in relabel if r.get("action") == "keep" and r["source_labels"] == [meta]]
        return bool(rules) and all(re.fullmatch(r["regex"], value) for r in rules)

    label, value = next(iter(exporter["deploy"]["labels"].items()))
    meta_label = "__meta_dockerswarm_service_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", label)
    assert keeps(meta_label, value)
    [network] = exporter["networks"]
    assert keeps("__meta_dockerswarm_network_name", f"docker-exporter_{network}")
    assert keeps("__meta_dockerswarm_task_desired_state", "running")
    [address] = [r for r in relabel if r.get("target_label") == "__address__"]
    assert address["replacement"].endswith(f":{PORT}")


def test_docker_sd_selects_a_label_the_image_sets() -> None:
    """docker_sd filters on a label that deploy/Dockerfile puts on the image."""
    job = _jobs(_load(PROMETHEUS / "docker_sd.yml"))[JOB]
    [sd] = job["docker_sd_configs"]
    [label_filter] = [f for f in sd["filters"] if f["name"] == "label"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for value in label_filter["values"]:
        key, _, expected = value.partition("=")
        assert re.search(rf'{re.escape(key)}="{re.escape(expected)}"', dockerfile), value
    assert sd["port"] == PORT


def test_dockerfile_conventions() -> None:
    """BASE argument, non-root user, /-/healthy probe, entrypoint, no bytecode writes."""
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "ARG BASE=python:3.11-slim" in dockerfile
    assert re.search(r"^USER 10001:10001$", dockerfile, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n?.*/-/healthy", dockerfile, re.MULTILINE)
    assert 'ENTRYPOINT ["docker-exporter"]' in dockerfile
    assert "PYTHONDONTWRITEBYTECODE=1" in dockerfile
    assert f"EXPOSE {PORT}" in dockerfile
    assert "org.opencontainers.image.source" in dockerfile


SYSTEMD_UNIT = DEPLOY / "systemd" / "docker-exporter.service"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "Restart": "on-failure",
    "EnvironmentFile": "-/etc/default/docker-exporter",
}


def _unit_settings(text: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_systemd_unit_is_hardened() -> None:
    """The unit sets the hardening of docs/deploy.md and gives the socket's group."""
    settings = _unit_settings(SYSTEMD_UNIT.read_text())
    for key, value in HARDENING.items():
        assert value in settings.get(key, []), f"{key}={value} missing"
    assert settings.get("DynamicUser") == ["yes"] or settings.get("User")
    assert "docker" in settings["SupplementaryGroups"]
    assert settings["MemoryMax"]
    [exec_start] = settings["ExecStart"]
    assert exec_start.split()[0].endswith("/docker-exporter")
    assert (DEPLOY / "systemd" / "docker-exporter.default").is_file()


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd-analyze verify finds nothing to say (ExecStart pointed at this venv's binary)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        skip_testbed_limit("systemd-analyze not installed (apt-get install systemd)")
    binary = Path(sys.executable).parent / "docker-exporter"
    unit = tmp_path / SYSTEMD_UNIT.name
    unit.write_text(
        re.sub(r"^ExecStart=\S+", f"ExecStart={binary}", SYSTEMD_UNIT.read_text(), flags=re.M)
    )
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 and "Failed to" in output and str(unit) not in output:
        skip_testbed_limit(f"systemd-analyze cannot run in this sandbox: {output}")
    assert result.returncode == 0, output
    assert output == "", output

"""deploy/Dockerfile: the image builds, runs read-only as non-root, scrapes and turns healthy.

Nothing can be pulled here, so the base is a minimal Debian made with debootstrap and
imported as `dxt-debian:local`. That image is cached between runs (delete it to rebuild);
everything else the tests create (image, containers, build leftovers) is removed.
The images are built by tests/localimages.py.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator

import pytest
from conftest import LiveDocker, docker, engine_answers, engine_socket, skip_testbed_limit
from localimages import BASE_IMAGE, build_exporter_image, stage_leftovers
from prometheus_client.parser import text_string_to_metric_families

import exporter

pytestmark = pytest.mark.integration

SOCKET = engine_socket() or "/var/run/docker.sock"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(name="image", scope="module")
def fixture_image() -> Iterator[str]:
    """deploy/Dockerfile built on the Debian base; removed with its build leftovers."""
    if not engine_answers():
        skip_testbed_limit("no live Docker Engine with busybox:local (run scripts/testbed)")
    tag = f"dxt-exporter-{uuid.uuid4().hex[:8]}:test"
    before = stage_leftovers()
    try:
        build_exporter_image(tag)
        yield tag
    finally:
        docker("rmi", "--force", tag, check=False)
        leftovers = stage_leftovers() - before
        if leftovers:
            docker("rmi", "--force", *leftovers, check=False)


def _run_exporter(image: str, name: str) -> str:
    """The documented production run line, published on 127.0.0.1 only; returns host:port."""
    group = str(os.stat(SOCKET).st_gid)
    docker(
        "run",
        "--detach",
        "--name",
        name,
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--group-add",
        group,
        "--volume",
        f"{SOCKET}:{SOCKET}:ro",
        "--volume",
        "/proc:/host/proc:ro",
        "--volume",
        "/sys:/host/sys:ro",
        "--pid",
        "host",
        "--cgroupns",
        "host",
        "--publish",
        "127.0.0.1::9417",
        "--health-interval",
        "1s",  # the image's 30 s probe, more often, so the test need not wait
        image,
    )
    port = docker("port", name, "9417/tcp").splitlines()[0]
    assert port.startswith("127.0.0.1:"), port
    return port


@pytest.fixture(name="running", scope="module")
def fixture_running(image: str) -> Iterator[tuple[str, str]]:
    """The image running with the run line of docs/deploy.md: (container name, host:port)."""
    name = f"dxt-{uuid.uuid4().hex[:8]}-exporter-image"
    try:
        address = _run_exporter(image, name)
        yield name, address
    finally:
        docker("rm", "--force", name, check=False)


def _scrape(address: str) -> Samples:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_image_metadata(image: str) -> None:
    """Non-root numeric user, docker-exporter entrypoint, /-/healthy probe and OCI labels."""
    config = json.loads(docker("image", "inspect", "--format", "{{json .Config}}", image))
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["docker-exporter"]
    assert "/-/healthy" in " ".join(config["Healthcheck"]["Test"])
    assert "PYTHONDONTWRITEBYTECODE=1" in config["Env"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "docker-exporter"
    assert labels["org.opencontainers.image.version"] == exporter.__version__
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.base.name"] == BASE_IMAGE
    assert labels["org.opencontainers.image.source"].startswith("https://")


def _wait_for(name: str, address: str, what: str, predicate: Callable[[Samples], bool]) -> None:
    """Scrape until `predicate` holds; the deadline only guards against a hang."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if predicate(_scrape(address)):
                return
        except OSError:
            pass
        time.sleep(0.5)
    logs = docker("logs", "--tail", "30", name, check=False)
    raise AssertionError(f"not seen: {what}; exporter logs:\n{logs}")


def _has(samples: Samples, metric: str, **labels: str) -> bool:
    return any(name == metric and set(labels.items()) <= labelset for name, labelset in samples)


def test_read_only_non_root_container_sees_the_engine(
    running: tuple[str, str], live: LiveDocker
) -> None:
    """Read-only root, uid 10001 with the socket's group: docker_up 1 and a new container seen."""
    name, address = running
    live.run("seen-by-image")
    seen = live.name("seen-by-image")
    _wait_for(
        name,
        address,
        f"docker_up 1 and {seen}",
        lambda s: (
            s.get(("docker_up", frozenset())) == 1 and _has(s, "docker_container_info", name=seen)
        ),
    )
    assert docker("exec", name, "id", "-u") == "10001"
    host_config = json.loads(docker("inspect", "--format", "{{json .HostConfig}}", name))
    assert host_config["ReadonlyRootfs"] is True


def test_host_proc_and_sys_mounts_feed_cgroup_stats(
    running: tuple[str, str], live: LiveDocker
) -> None:
    """With host /proc and /sys mounted read-only, stats come from cgroup files, as non-root."""
    name, address = running
    live.run("stats-by-image")
    seen = live.name("stats-by-image")
    _wait_for(
        name,
        address,
        f"cgroup stats of {seen}",
        lambda s: (
            s.get(("docker_exporter_stats_source_info", frozenset({("source", "cgroup")}))) == 1
            and _has(s, "docker_container_cpu_usage_seconds_total", name=seen)
        ),
    )


def test_healthcheck_turns_healthy(running: tuple[str, str]) -> None:
    """The image's HEALTHCHECK (python urllib on /-/healthy) reports the container healthy."""
    name, _ = running
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        status = docker("inspect", "--format", "{{.State.Health.Status}}", name)
        if status == "healthy":
            return
        time.sleep(0.5)
    log = docker("inspect", "--format", "{{json .State.Health.Log}}", name, check=False)
    raise AssertionError(f"health status {status!r}, probe log: {log}")

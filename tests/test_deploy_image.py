"""deploy/Dockerfile: the image builds, runs read-only as non-root, scrapes and turns healthy.

Nothing can be pulled here, so the base is a minimal Debian made with debootstrap and
imported as `dxt-debian:local`. That image is cached between runs (delete it to rebuild);
everything else the tests create (image, containers, build leftovers) is removed.
The build container cannot reach PyPI either, so the tests use the wheelhouse path of
the Dockerfile: `pip wheel` on the host fills `deploy/wheels` of a temporary context.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import LiveDocker, docker, engine_answers, engine_socket, skip_testbed_limit
from prometheus_client.parser import text_string_to_metric_families

import exporter

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
BASE_IMAGE = "dxt-debian:local"
SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
SOCKET = engine_socket() or "/var/run/docker.sock"
STAGE_LABEL = "docker-exporter.stage=build"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _mirror() -> str:
    """The Debian mirror apt uses here (its first non-security URI), else deb.debian.org."""
    if SOURCES.exists():
        for stanza in SOURCES.read_text().split("\n\n"):
            fields = dict(
                line.split(":", 1) for line in stanza.splitlines() if re.match(r"^\w[\w-]*:", line)
            )
            uri = fields.get("URIs", "").split()
            if uri and "security" not in fields.get("Suites", ""):
                return uri[0]
    return "http://deb.debian.org/debian"


def _unmount_under(path: Path) -> None:
    """Unmount whatever an interrupted debootstrap left mounted below `path`, deepest first."""
    prefix = str(path.resolve()) + "/"
    mounts = [
        line.split()[4].replace("\\040", " ")
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    ]
    for mount in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def _debian_base() -> str:
    """`dxt-debian:local`: debootstrap minbase bookworm with python3, venv and pip; cached."""
    cached = subprocess.run(
        ["docker", "image", "inspect", BASE_IMAGE], capture_output=True, check=False
    )
    if cached.returncode == 0:
        return BASE_IMAGE
    if shutil.which("debootstrap") is None:
        skip_testbed_limit("debootstrap is not installed (run scripts/testbed)")
    rootfs = Path(tempfile.mkdtemp(prefix="dxt-debootstrap-", dir="/var/tmp"))
    try:
        result = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,python3-pip",
                "bookworm",
                str(rootfs),
                _mirror(),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-5:])
            skip_testbed_limit(f"debootstrap cannot build the Debian base here:\n{tail}")
        for cache in ("var/cache/apt", "var/lib/apt/lists"):
            for entry in (rootfs / cache).glob("**/*"):
                if entry.is_file() and entry.name != "lock":
                    entry.unlink()
        with subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE) as tar:
            imported = subprocess.run(
                ["docker", "import", "-", BASE_IMAGE],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
        assert imported.returncode == 0, f"docker import failed: {imported.stderr}"
    finally:
        _unmount_under(rootfs)
        shutil.rmtree(rootfs, ignore_errors=True)
    return BASE_IMAGE


def _context(into: Path) -> Path:
    """A build context with what the Dockerfile copies, and a wheelhouse built on the host."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, into / name)
    shutil.copytree(
        ROOT / "exporter", into / "exporter", ignore=shutil.ignore_patterns("__pycache__")
    )
    (into / "deploy" / "wheels").mkdir(parents=True)
    shutil.copy2(DOCKERFILE, into / "deploy" / "Dockerfile")
    wheels = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--wheel-dir",
            str(into / "deploy" / "wheels"),
            str(into),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert wheels.returncode == 0, f"pip wheel failed: {wheels.stderr}"
    return into


def _stage_leftovers() -> set[str]:
    return set(
        docker(
            "images", "-q", "--filter", "dangling=true", "--filter", f"label={STAGE_LABEL}"
        ).split()
    )


@pytest.fixture(name="image", scope="module")
def fixture_image() -> Iterator[str]:
    """deploy/Dockerfile built on the Debian base; removed with its build leftovers."""
    if not engine_answers():
        skip_testbed_limit("no live Docker Engine with busybox:local (run scripts/testbed)")
    base = _debian_base()
    tag = f"dxt-exporter-{uuid.uuid4().hex[:8]}:test"
    revision = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    before = _stage_leftovers()
    try:
        with tempfile.TemporaryDirectory(prefix="dxt-context-") as tmp:
            context = _context(Path(tmp))
            docker(
                "build",
                "--quiet",
                "--force-rm",  # no intermediate container left behind, even on failure
                "--file",
                str(context / "deploy" / "Dockerfile"),
                "--build-arg",
                f"BASE={base}",
                "--build-arg",
                f"VERSION={exporter.__version__}",
                "--build-arg",
                f"REVISION={revision or 'unknown'}",
                "--build-arg",
                "CREATED=" + datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "--tag",
                tag,
                str(context),
                timeout=600,
            )
        yield tag
    finally:
        docker("rmi", "--force", tag, check=False)
        leftovers = _stage_leftovers() - before
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

"""Bench containers through the docker CLI: start N busybox sleepers, always remove them."""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from benchlib.common import DOCKER_PIDFILE, IMAGE, START_WORKERS
from benchlib.report import log, revision


def docker(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False, timeout=timeout
    )
    if result.returncode != 0:
        msg = f"docker {' '.join(args[:3])} ... failed: {result.stderr.strip()}"
        raise RuntimeError(msg)
    return result.stdout.strip()


def dockerd_pid() -> int:
    return int(DOCKER_PIDFILE.read_text().strip())


def choose_network(prefix: str, label: str) -> str:
    """The default bridge; a bridge of our own when docker0 is unusable (seen on this shared
    machine while other tests manipulated it)."""
    probe = f"{prefix}-probe"
    try:
        docker("run", "-d", "--name", probe, "--label", label, IMAGE, "sleep", "1")
    except RuntimeError as exc:
        if "docker0" not in str(exc):
            raise
        log(f"default bridge unusable ({exc}); using a user-defined bridge {prefix}-net")
        docker("network", "create", "--label", label, f"{prefix}-net")
        return f"{prefix}-net"
    finally:
        subprocess.run(["docker", "rm", "-f", probe], capture_output=True, check=False)
    return "bridge"


def start_containers(prefix: str, label: str, count: int, network: str) -> float:
    """`docker run -d` N sleepers on `network`, START_WORKERS at a time."""

    def one(i: int) -> None:
        docker(
            "run", "-d", "--name", f"{prefix}-{i}", "--label", label, "--network", network,
            IMAGE, "sleep", "3600",
        )  # fmt: skip

    start = time.perf_counter()
    with ThreadPoolExecutor(START_WORKERS) as pool:
        list(pool.map(one, range(count)))
    return time.perf_counter() - start


def remove_containers(prefix: str, label: str) -> None:
    """Remove every container of this run, by label and by name prefix (best effort)."""
    ids = set()
    for flt in (f"label={label}", f"name={prefix}-"):
        result = subprocess.run(
            ["docker", "ps", "-aq", "--filter", flt],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        ids.update(result.stdout.split())
    batches = [sorted(ids)[i : i + 50] for i in range(0, len(ids), 50)]

    def rm(batch: list[str]) -> None:
        subprocess.run(["docker", "rm", "-f", *batch], capture_output=True, check=False)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(rm, batches))
    networks = subprocess.run(
        ["docker", "network", "ls", "-q", "--filter", f"label={label}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    ).stdout.split()
    if networks:
        subprocess.run(["docker", "network", "rm", *networks], capture_output=True, check=False)
    log(f"removed {len(ids)} bench containers and {len(networks)} bench networks")


def machine() -> str:
    kernel = os.uname().release
    commit = revision()
    docker_version = docker(
        "version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"
    )
    cgroup = docker("info", "--format", "cgroup v{{.CgroupVersion}}, {{.CgroupDriver}} driver")
    return (
        f"exporter {commit or '?'}; {os.cpu_count()} CPUs, kernel {kernel}, "
        f"Docker {docker_version}, {cgroup}"
    )

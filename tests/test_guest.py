"""The guest leg (scripts/testbed --guest): the exporter as deploy/systemd installs it.

In the Debian 12 guest (systemd as init, cgroup v2, Docker on the systemd cgroup driver)
docker-exporter.service runs from /opt/docker-exporter with every hardening directive of
the unit. Two views of it:
  * inside the guest (`DXT_GUEST=1`, set by the leg's in-guest run): the unit is active,
    its process is unprivileged and confined the way the unit says, and it reads the
    cgroup fast path, not the API;
  * from this machine, over the guest's loopback port forward (`GUEST_METRICS_URL`, with
    DOCKER_HOST pointing at the guest's engine through its own forward): a container
    started in the guest shows up with real resource series.
Skipped outside the guest leg.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import NOT_APPLICABLE, LiveDocker, because, docker

pytestmark = [pytest.mark.integration, pytest.mark.guest]

UNIT = "docker-exporter.service"
METRICS_URL = os.environ.get("GUEST_METRICS_URL", "")
INSIDE = os.environ.get("DXT_GUEST") == "1"


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


def value(text: str, metric: str, cid: str) -> float | None:
    """The sample of `metric` for container `cid` (its 12-character id label), or None."""
    match = re.search(rf'^{metric}{{id="{cid[:12]}"[^}}]*}} (\S+)$', text, re.MULTILINE)
    return None if match is None else float(match.group(1))


def systemctl_show(*properties: str) -> dict[str, str]:
    out = subprocess.run(
        ["systemctl", "show", UNIT, *(f"--property={p}" for p in properties)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


async def until_series(url: str, cid: str, want: dict[str, float | None]) -> str:
    """Scrape until every metric in `want` has a sample for `cid` (equal to the value when
    one is given); the deadline guards a hang only (the guest may run emulated)."""
    deadline = time.monotonic() + 120
    while True:
        text = scrape(url)
        got = {m: value(text, m, cid) for m in want}
        if all(got[m] is not None and want[m] in (None, got[m]) for m in want):
            return text
        assert time.monotonic() < deadline, f"series never appeared: {got}"
        await asyncio.sleep(1.0)


@pytest.mark.skipif(
    not INSIDE, reason=because(NOT_APPLICABLE, "inside the guest leg only (DXT_GUEST=1)")
)
async def test_the_hardened_unit_runs_unprivileged_and_reads_cgroups(live: LiveDocker) -> None:
    """The unit as shipped: a dynamic user in the socket's group, no capabilities, no new
    privileges, a read-only /sys/fs/cgroup, and still the cgroup fast path for stats."""
    shown = systemctl_show("ActiveState", "MainPID", "DynamicUser", "ProtectControlGroups")
    assert (shown["ActiveState"], shown["DynamicUser"], shown["ProtectControlGroups"]) == (
        "active",
        "yes",
        "yes",
    )
    status = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{shown['MainPID']}/status").read_text().splitlines()
    )
    uids = status["Uid"].split()
    assert uids[0] != "0"
    assert int(status["CapEff"].strip(), 16) == 0
    assert status["NoNewPrivs"].strip() == "1"
    docker_gid = str(os.stat("/var/run/docker.sock").st_gid)
    assert docker_gid in status["Groups"].split()
    cid = live.run("unit", "--memory", "64m", "--pids-limit", "40", cmd=("sh", "-c", "sleep 600"))
    text = await until_series(
        "http://127.0.0.1:9417/metrics",
        cid,
        {
            "docker_container_memory_limit_bytes": 64 * 2**20,
            "docker_container_pids_limit": 40,
            "docker_container_processes": 1,
        },
    )
    assert 'docker_exporter_stats_source_info{source="cgroup"} 1' in text


@pytest.mark.skipif(
    not METRICS_URL, reason=because(NOT_APPLICABLE, "guest leg only (GUEST_METRICS_URL)")
)
async def test_a_guest_container_has_real_series_over_the_port_forward(live: LiveDocker) -> None:
    """From this machine: a `--cpus 0.5 --memory 64m` busy loop started on the guest's
    engine shows its limits, CPU time, working set, PIDs and process count, read by the
    unit from the guest's cgroup v2 files, through the loopback port forward."""
    cid = live.run(
        "scrape", "--cpus", "0.5", "--memory", "64m", cmd=("sh", "-c", "while :; do :; done")
    )
    text = await until_series(
        METRICS_URL,
        cid,
        {
            "docker_container_cpu_limit_cores": 0.5,
            "docker_container_memory_limit_bytes": 64 * 2**20,
            "docker_container_pids": 1,
            "docker_container_processes": 1,
            "docker_container_memory_working_set_bytes": None,
            "docker_container_cpu_usage_seconds_total": None,
        },
    )
    assert 'docker_exporter_stats_source_info{source="cgroup"} 1' in text
    assert "docker_up 1" in text
    first = value(text, "docker_container_cpu_usage_seconds_total", cid)
    assert first is not None
    deadline = time.monotonic() + 60
    while (
        value(scrape(METRICS_URL), "docker_container_cpu_usage_seconds_total", cid) or 0
    ) <= first:
        assert time.monotonic() < deadline, "the CPU counter never moved"
        await asyncio.sleep(1.0)
    cgroup = docker("info", "--format", "{{.CgroupVersion}} {{.CgroupDriver}}")
    assert cgroup == "2 systemd"

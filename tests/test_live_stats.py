"""Resource stats on the live engine: true to the cgroup's own files and to the Engine API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import (
    LiveDocker,
    docker,
    engine_lacks,
    live_engine_config,
    live_settings,
    skip_testbed_limit,
    until,
    wait_for,
)
from test_cgroup import open_fds

from exporter.cli.app import build_app
from exporter.clock import SystemClock
from exporter.collectors import COLLECTORS
from exporter.engine.adapter import DockerEngine
from exporter.engine.stats import ContainerStats
from exporter.stats.cgroup import CLK_TCK, Target, discover_layout
from exporter.stats.cgroup.statsfiles import REPROBE_READS
from exporter.stats.sampler import PROCESSES_INTERVAL, ApiSource, CgroupSource
from exporter.web.http import INVENTORY

pytestmark = [pytest.mark.integration, pytest.mark.engine_generic]

PROC = Path("/proc")


def pid_of(name: str) -> int:
    return int(docker("inspect", "-f", "{{.State.Pid}}", name))


def cgroup_source(processes_interval: float = PROCESSES_INTERVAL) -> CgroupSource:
    return CgroupSource(
        discover_layout(PROC, Path("/sys")),
        PROC,
        SystemClock(),
        processes_interval=processes_interval,
    )


async def sample(name: str) -> ContainerStats:
    cid = docker("inspect", "-f", "{{.Id}}", name)
    sweep = await cgroup_source().sample([Target(cid, pid_of(name))], None)
    return sweep.stats[cid]


LAYOUT_VERSION = discover_layout(PROC, Path("/sys")).version


class Cgroup:
    """The container's own cgroup files, found the way an operator would (/proc/<pid>/cgroup)
    and read by hand, on v1 (a directory per controller) or v2 (one unified directory)."""

    def __init__(self, name: str) -> None:
        self.v2 = LAYOUT_VERSION == "2"
        self.dirs: dict[str, Path] = {}
        for line in (PROC / str(pid_of(name)) / "cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if self.v2 and not controllers:
                self.dirs["unified"] = Path("/sys/fs/cgroup") / path.lstrip("/")
            for controller in controllers.split(",") if controllers else ():
                self.dirs[controller] = Path("/sys/fs/cgroup") / controller / path.lstrip("/")

    def file(self, controller: str, name: str) -> Path:
        key = "unified" if self.v2 else controller
        if key not in self.dirs:
            skip_testbed_limit(f"no {controller} controller for this container's cgroup")
        return self.dirs[key] / name

    def keyed(self, controller: str, name: str) -> dict[str, int]:
        lines = self.file(controller, name).read_text().splitlines()
        return {k: int(v) for k, v in (line.split()[:2] for line in lines if line.strip())}

    def cpu_usage_seconds(self) -> float:
        if self.v2:
            return self.keyed("cpu", "cpu.stat")["usage_usec"] / 1e6
        return int(self.file("cpuacct", "cpuacct.usage").read_text()) / 1e9

    def cpu_times(self) -> tuple[float, float]:
        """User and system seconds, in the unit the kernel keeps them in."""
        if self.v2:
            stat = self.keyed("cpu", "cpu.stat")
            return stat["user_usec"] / 1e6, stat["system_usec"] / 1e6
        ticks = self.keyed("cpuacct", "cpuacct.stat")
        return ticks["user"] / CLK_TCK, ticks["system"] / CLK_TCK

    def memory_usage(self) -> int:
        name = "memory.current" if self.v2 else "memory.usage_in_bytes"
        return int(self.file("memory", name).read_text())

    def inactive_file(self) -> int:
        return self.keyed("memory", "memory.stat")[
            "inactive_file" if self.v2 else "total_inactive_file"
        ]

    def pids(self) -> int:
        return int(self.file("pids", "pids.current").read_text())


async def test_cpu_limit_and_rate_of_a_busy_loop(live: LiveDocker) -> None:
    """`--cpus 0.5` busy loop: the counter is the kernel's (read by hand around each
    sample), its rate stays under the quota and throttling grows. On a loaded machine the
    loop may get less than its half core, so no lower bound but "it ran"."""
    name = live.name("cpu")
    live.run("cpu", "--cpus", "0.5", cmd=("sh", "-c", "while :; do :; done"))
    cgroup = Cgroup(name)

    async def bracketed() -> tuple[ContainerStats, float]:
        before = cgroup.cpu_usage_seconds()
        stats = await sample(name)
        after = cgroup.cpu_usage_seconds()
        assert before <= stats.cpu_usage_seconds <= after
        return stats, time.monotonic()

    first, t0 = await bracketed()
    while True:  # until the loop has been throttled at least twice more
        await asyncio.sleep(0.2)
        second, t1 = await bracketed()
        more_periods = (second.cpu_throttled_periods or 0) >= (first.cpu_throttled_periods or 0) + 2
        # throttled time is added when the kernel unthrottles: on a loaded host the count
        # can lead it by a few periods, so wait for both rather than assume their order
        more_time = (second.cpu_throttled_seconds or 0) > (first.cpu_throttled_seconds or 0)
        if more_periods and more_time:
            break
        assert t1 - t0 < 60, "never throttled"  # a hang guard, not a timing assertion
    rate = (second.cpu_usage_seconds - first.cpu_usage_seconds) / (t1 - t0)
    assert 0 < rate <= 0.6, rate
    assert second.cpu_limit_cores == 0.5


async def test_working_set_of_64_mib_in_shm(live: LiveDocker) -> None:
    """Working set within 10 % of the cgroup's usage minus inactive file, read by hand."""
    name = live.name("shm")
    live.run(
        "shm",
        "--shm-size", "128m",
        cmd=("sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=64 && exec sleep 600"),
    )  # fmt: skip
    cgroup = Cgroup(name)
    deadline = time.monotonic() + 20
    while cgroup.memory_usage() < 60 * 2**20:
        assert time.monotonic() < deadline, "the container never filled /dev/shm"
        await asyncio.sleep(0.2)
    stats = await sample(name)
    expected = cgroup.memory_usage() - cgroup.inactive_file()
    assert stats.memory_working_set_bytes is not None
    assert abs(stats.memory_working_set_bytes - expected) <= 0.1 * expected
    assert stats.memory_working_set_bytes >= 64 * 2**20 * 0.9


async def test_rx_bytes_grow_by_a_download(live: LiveDocker) -> None:
    """A 2 MiB download from another container on a user network shows in eth0's rx bytes."""
    net = live.network("net")
    live.run(
        "srv",
        "--network", net,
        cmd=(
            "sh", "-c",
            "mkdir -p /www && dd if=/dev/urandom of=/www/blob bs=1024 count=2048"
            " && exec httpd -f -p 8080 -h /www",
        ),
    )  # fmt: skip
    client = live.name("cli")
    live.run("cli", "--network", net)
    url = f"http://{live.name('srv')}:8080/blob"

    async def serving() -> bool:
        probe = ["docker", "exec", client, "wget", "-q", "--spider", url]
        return subprocess.run(probe, capture_output=True, check=False, timeout=30).returncode == 0

    await wait_for(serving, "httpd answers")
    before = await sample(client)
    docker("exec", client, "wget", "-q", "-O", "/dev/null", url)
    after = await sample(client)

    def rx(s: ContainerStats) -> int:
        return sum(n.rx_bytes for n in s.networks if n.interface == "eth0")

    assert rx(after) - rx(before) >= 2 * 1024 * 1024
    assert all(n.interface != "lo" for n in after.networks)


async def test_pids_match_the_cgroup(live: LiveDocker) -> None:
    name = live.name("pids")
    live.run(
        "pids", "--pids-limit", "50", cmd=("sh", "-c", "sleep 600 & sleep 600 & exec sleep 600")
    )
    cgroup = Cgroup(name)

    async def forked() -> bool:  # the shell forks its two sleepers after it started
        return cgroup.pids() == 3

    await wait_for(forked, "the shell's three processes")
    stats = await sample(name)
    assert stats.pids == cgroup.pids()
    assert stats.pids == 3
    assert stats.pids_limit == 50


def data_root_disk() -> str:
    """The disk (/dev/NAME) under the engine's data root, where a container's writes go."""
    root = docker("info", "--format", "{{.DockerRootDir}}")
    device = os.stat(root).st_dev
    sysfs = Path(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}")
    if not sysfs.exists():
        skip_testbed_limit(f"the engine's data root {root} is on no block device")
    disk = sysfs.resolve().parent if (sysfs / "partition").exists() else sysfs.resolve()
    uevent = dict(
        line.split("=", 1) for line in (disk / "uevent").read_text().splitlines() if "=" in line
    )
    return f"/dev/{uevent['DEVNAME']}"


async def test_block_io_of_a_direct_write(live: LiveDocker) -> None:
    """An 8 MiB O_DIRECT write (the page cache cannot absorb it) shows in the written bytes
    and operations, equal to the cgroup's own I/O files read by hand after the sample
    (nothing more is written). The container gets a write limit it never reaches: on
    cgroup v1 the kernel counts a container's I/O in blkio.throttle.* only on a disk that
    has had a throttle rule since boot (measured on 6.18, docs/cgroup.md), on v2 always."""
    name = live.name("io")
    live.run(
        "io",
        "--device-write-bps",
        f"{data_root_disk()}:1gb",
        cmd=("sh", "-c", "dd if=/dev/zero of=/f bs=1M count=8 oflag=direct 2>&1; exec sleep 600"),
    )
    cgroup = Cgroup(name)
    deadline = time.monotonic() + 30
    while "8+0 records out" not in docker("logs", name, check=False):
        assert time.monotonic() < deadline, "dd never finished"
        await asyncio.sleep(0.2)
    stats = await sample(name)
    written = sum(b.write_bytes for b in stats.block)
    writes = sum(b.writes or 0 for b in stats.block)
    assert written >= 8 * 2**20
    assert writes >= 8
    if cgroup.v2:
        by_hand = [
            int(item.split("=")[1])
            for line in cgroup.file("io", "io.stat").read_text().splitlines()
            for item in line.split()[1:]
            if item.startswith(("wbytes=", "wios="))
        ]
        assert [written, writes] == [sum(by_hand[0::2]), sum(by_hand[1::2])]
    else:
        by_hand = [
            sum(
                int(fields[2])
                for fields in (
                    line.split() for line in cgroup.file("blkio", file).read_text().splitlines()
                )
                if len(fields) == 3 and fields[1] == "Write"
            )
            for file in (
                "blkio.throttle.io_service_bytes_recursive",
                "blkio.throttle.io_serviced_recursive",
            )
        ]
        assert [written, writes] == by_hand


async def test_cgroup_and_api_sources_agree(live: LiveDocker) -> None:
    """The same container through both sources: memory within 10 %, PIDs equal, CPU bracketed."""
    name = live.name("both")
    live.run(
        "both",
        "--memory", "128m",
        "--shm-size", "64m",
        cmd=("sh", "-c", "dd if=/dev/zero of=/dev/shm/f bs=1M count=32; while :; do :; done"),
    )  # fmt: skip
    cgroup = Cgroup(name)

    async def filled() -> bool:  # dd has written its 32 MiB to /dev/shm
        return cgroup.memory_usage() >= 32 * 2**20

    await wait_for(filled, "dd filled /dev/shm")
    cid = docker("inspect", "-f", "{{.Id}}", name)
    target = Target(cid, pid_of(name))
    engine = DockerEngine(live_engine_config())
    try:
        info = await engine.engine_info()
        before = (await cgroup_source().sample([target], info)).stats[cid]
        api = (await ApiSource(engine).sample([target], info)).stats[cid]
        after = (await cgroup_source().sample([target], info)).stats[cid]
    finally:
        await engine.close()
    assert before.cpu_usage_seconds <= api.cpu_usage_seconds <= after.cpu_usage_seconds
    assert api.memory_working_set_bytes is not None
    assert after.memory_working_set_bytes is not None
    assert abs(api.memory_working_set_bytes - after.memory_working_set_bytes) <= (
        0.1 * after.memory_working_set_bytes
    )
    assert api.pids == after.pids
    assert api.memory_limit_bytes == after.memory_limit_bytes == 128 * 2**20
    if not engine_lacks("api-interface-names"):
        assert {n.interface for n in api.networks} == {n.interface for n in after.networks}


async def test_stats_reach_metrics_and_processes_reach_inventory(live: LiveDocker) -> None:
    live.run("app", "--memory", "64m", cmd=("sh", "-c", "sleep 600 & exec sleep 601"))
    app = build_app(live_settings(collectors=tuple(COLLECTORS), stats_interval=1.0))
    async with TestClient(TestServer(app)) as client:
        inventory = app[INVENTORY]
        cid = docker("inspect", "-f", "{{.Id}}", live.name("app"))
        snap = await until(inventory, lambda s: cid in s.stats and cid in s.processes, timeout=15)
        text = await (await client.get("/metrics")).text()
        assert f'docker_container_memory_limit_bytes{{id="{cid[:12]}"' in text
        assert 'docker_exporter_stats_source_info{source="cgroup"} 1.0' in text
        commands = sorted(p.command for p in snap.processes[cid])
        assert commands == ["sleep 600", "sleep 601"]
        doc = await (await client.get(f"/inventory/containers/{cid[:12]}")).json()
        assert doc["stats"]["memory_limit_bytes"] == 64 * 2**20
        assert doc["stats"]["pids"] == 2
        assert sorted(p["command"] for p in doc["processes"]) == commands


def target_of(name: str) -> Target:
    return Target(docker("inspect", "-f", "{{.Id}}", name), pid_of(name))


async def test_stopped_container_is_dropped_and_its_files_closed(live: LiveDocker) -> None:
    """A container stopped under kept files: its next read fails (ENODEV) and it is dropped
    with its descriptors closed, the other keeps its files; leaving the targets closes all."""
    live.run("keep")
    live.run("stop")
    keep, stop = target_of(live.name("keep")), target_of(live.name("stop"))
    fds = open_fds()
    source = cgroup_source()
    try:
        sweep = await source.sample([keep, stop], None)
        assert {keep.container_id, stop.container_id} == set(sweep.stats)
        both = source.open_files
        assert both > 0
        assert fds + both == open_fds()
        docker("stop", "-t", "0", live.name("stop"))
        sweep = await source.sample([keep, stop], None)  # the inventory has not caught up
        assert (stop.container_id,) == sweep.missing
        assert [keep.container_id] == list(sweep.stats)
        assert 0 < source.open_files < both
        assert fds + source.open_files == open_fds()
        await source.sample([], None)
        assert (0, fds) == (source.open_files, open_fds())
    finally:
        await source.close()


async def test_restart_reads_the_new_incarnation(live: LiveDocker) -> None:
    """`docker restart` gives a new init PID: the old files (its process's too) are closed,
    the new cgroup's are read, and the CPU counter starts low again."""
    name = live.name("restart")
    live.run("restart", cmd=("sh", "-c", "while :; do :; done"))
    first = target_of(name)
    source = cgroup_source(processes_interval=0.0)  # the process list on both sweeps
    try:
        deadline = time.monotonic() + 60.0  # guards a hang only: CPU time on a busy host
        while True:
            before = (await source.sample([first], None)).stats[first.container_id]
            if before.cpu_usage_seconds > 0.5 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        kept, fds = source.open_files, open_fds()
        docker("restart", "-t", "0", name)
        second = target_of(name)
        cgroup = Cgroup(name)  # the new incarnation's, read by hand around the sample
        low = cgroup.cpu_usage_seconds()
        after = (await source.sample([second], None)).stats[second.container_id]
        high = cgroup.cpu_usage_seconds()
        assert (kept, fds) == (source.open_files, open_fds())
    finally:
        await source.close()
    assert second.pid != first.pid
    assert before.cpu_usage_seconds > 0.5
    # The new cgroup's counter, not the old one's: on a slow host the new loop may have run
    # longer than the old one by the time it is sampled, so no "lower than before".
    assert low <= after.cpu_usage_seconds <= high


async def test_stop_and_rm_succeed_while_files_are_held(live: LiveDocker) -> None:
    """Kept cgroup and /proc files never block `docker stop` or `docker rm`."""
    name = live.name("held")
    live.run("held", "--memory", "64m", "--pids-limit", "50")
    held = target_of(name)
    fds = open_fds()
    source = cgroup_source()
    try:
        assert held.container_id in (await source.sample([held], None)).stats
        assert source.open_files > 0
        docker("stop", "-t", "0", name)
        docker("rm", name)
        assert docker("ps", "-aq", "--filter", f"id={held.container_id}") == ""
        sweep = await source.sample([held], None)
        assert (held.container_id,) == sweep.missing
        assert (0, fds) == (source.open_files, open_fds())
    finally:
        await source.close()


async def test_pids_and_cpu_times_stay_exact_after_an_exec(live: LiveDocker) -> None:
    """A sleeping container's cpuacct.stat is reused while its CPU usage stands still; a
    `docker exec` (a busy loop, after a `sleep` left running) moves the usage, so the next
    sweep reads everything: pids, user and system time equal the cgroup's own files, then
    and on the quiet sweep after, and the process list shows the new process."""
    name = live.name("exec")
    live.run("exec")
    target = target_of(name)
    cgroup = Cgroup(name)

    def by_hand() -> tuple[int, float, float]:
        return cgroup.pids(), *cgroup.cpu_times()

    def ours(stats: ContainerStats) -> tuple[int | None, float, float]:
        return stats.pids, stats.cpu_user_seconds, stats.cpu_system_seconds

    source = cgroup_source(processes_interval=0.0)  # the process list on every sweep
    try:
        await source.sample([target], None)
        quiet = (await source.sample([target], None)).stats[target.container_id]
        assert by_hand() == ours(quiet)
        docker("exec", "-d", name, "sleep", "601")
        docker("exec", name, "sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
        after = await source.sample([target], None)
        hand = by_hand()
        again = (await source.sample([target], None)).stats[target.container_id]
    finally:
        await source.close()
    stats = after.stats[target.container_id]
    assert (2, hand, hand) == (stats.pids, ours(stats), ours(again))
    assert stats.cpu_user_seconds + stats.cpu_system_seconds > (
        quiet.cpu_user_seconds + quiet.cpu_system_seconds
    )
    assert ["sleep 600", "sleep 601"] == sorted(
        p.command for p in (after.processes or {})[target.container_id]
    )


@pytest.mark.needs("update-cpus")
async def test_docker_update_shows_at_the_next_sweep(live: LiveDocker) -> None:
    """Limit files are read again when the Engine's view of the limits changes: `docker
    update` is seen by the first sweep with the re-inspected limits (whether a sweep
    before it saw them is the reader's business), and through the app (the `update`
    event, then a re-inspect) within a few sweeps, not at the recheck 12 sweeps later."""
    name = live.name("update")
    live.run("update", cmd=("sh", "-c", "while :; do :; done"))
    cid = docker("inspect", "-f", "{{.Id}}", name)
    pids_max = Cgroup(name).file("pids", "pids.max").read_text().strip()
    pids_max_before = None if pids_max == "max" else int(pids_max)
    engine = DockerEngine(live_engine_config())
    source = cgroup_source()
    try:
        before = await engine.inspect_container(cid)
        old = Target(cid, before.pid, limits=before.limits)
        first = (await source.sample([old], None)).stats[cid]
        docker("update", "--cpus", "0.5", "--pids-limit", "77", name)
        await source.sample([old], None)  # a sweep before the watcher's re-inspect
        after = await engine.inspect_container(cid)
        new = Target(cid, after.pid, limits=after.limits)
        fresh = (await source.sample([new], None)).stats[cid]
    finally:
        await source.close()
        await engine.close()
    assert before.limits != after.limits
    # Without --pids-limit the cgroup may still have one: systemd's DefaultTasksMax for the
    # container's scope (cgroup v2, systemd driver). The kernel enforces it: it is reported.
    assert (None, pids_max_before) == (first.cpu_limit_cores, first.pids_limit)
    assert (0.5, 77) == (fresh.cpu_limit_cores, fresh.pids_limit)
    assert fresh.cpu_periods is not None
    fresh_periods = fresh.cpu_periods

    async def periods_grew() -> bool:  # read on every sweep once there is a quota
        periods = (await cgroup_source().sample([new], None)).stats[cid].cpu_periods
        return periods is not None and periods > fresh_periods

    await wait_for(periods_grew, "cpu.stat nr_periods read again")

    app = build_app(live_settings(collectors=tuple(COLLECTORS), stats_interval=1.0))
    async with TestClient(TestServer(app)):
        inventory = app[INVENTORY]
        await until(inventory, lambda s: cid in s.stats, timeout=15)
        sweeps = inventory.snapshot.sampler.sweeps
        docker("update", "--cpus", "0.25", "--pids-limit", "66", name)
        seen = await until(
            inventory,
            lambda s: (s.stats[cid].cpu_limit_cores, s.stats[cid].pids_limit) == (0.25, 66),
            timeout=30,
        )
        # read at the sweep after the update event's re-inspect; the recheck takes 12
        assert seen.sampler.sweeps - sweeps <= REPROBE_READS // 2

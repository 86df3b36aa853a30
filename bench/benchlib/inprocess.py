"""In-process measurement: sweeps timed in this process, and the simulated host: a
synthetic cgroup v2 tree and /proc, and an Inventory of N containers parsed from a
recorded inspect payload (a fake engine)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchlib.common import FIXTURES
from benchlib.procfs import cpu_seconds
from benchlib.report import timed
from exporter.collectors import COLLECTORS, Options
from exporter.engine.models import Container, parse_container, parse_engine
from exporter.inventory.store import Inventory, WatcherStatus
from exporter.render.exposition import Exposition
from exporter.stats.cgroup import Target
from exporter.stats.sampler import CgroupSource, Sweep


def busy(stats: dict[str, Any], step: int) -> dict[str, Any]:
    """`stats` as after a sweep in which every container ran: each sample a new object,
    its CPU usage moved."""
    return {
        cid: dataclasses.replace(s, cpu_usage_seconds=s.cpu_usage_seconds + step + 1)
        for cid, s in stats.items()
    }


SIM_NET_DEV = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|"
    "bytes    packets errs drop fifo colls carrier compressed\n"
    "    lo:       0       0    0    0    0     0          0         0"
    "        0       0    0    0    0     0       0          0\n"
    "  eth0:    5180      42    0    0    0     0          0         0"
    "     2240      21    0    0    0     0       0          0\n"
)


SIM_CGROUP_FILES = {
    "cpu.stat": "usage_usec 60123456\nuser_usec 60000000\nsystem_usec 123456\n"
    "nr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n",
    "cpu.max": "max 100000\n",
    "memory.current": "3145728\n",
    "memory.max": "max\n",
    "memory.swap.current": "0\n",
    "memory.stat": "anon 532480\nfile 2375680\nkernel 348160\nkernel_stack 16384\n"
    "pagetables 45056\nsec_pagetables 0\npercpu 480\nsock 0\nvmalloc 0\nshmem 0\n"
    "zswap 0\nzswapped 0\nfile_mapped 1478656\nfile_dirty 0\nfile_writeback 0\n"
    "swapcached 0\nanon_thp 0\nfile_thp 0\nshmem_thp 0\ninactive_anon 520192\n"
    "active_anon 12288\ninactive_file 1269760\nactive_file 1105920\nunevictable 0\n"
    "slab_reclaimable 129024\nslab_unreclaimable 102400\nslab 231424\n"
    "workingset_refault_anon 0\nworkingset_refault_file 0\nworkingset_activate_anon 0\n"
    "workingset_activate_file 0\nworkingset_restore_anon 0\nworkingset_restore_file 0\n"
    "workingset_nodereclaim 0\npgscan 0\npgsteal 0\npgscan_kswapd 0\npgscan_direct 0\n"
    "pgsteal_kswapd 0\npgsteal_direct 0\npgfault 1320\npgmajfault 2\npgrefill 0\n"
    "pgactivate 0\npgdeactivate 0\npglazyfree 0\npglazyfreed 0\nthp_fault_alloc 0\n"
    "thp_collapse_alloc 0\n",
    "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
    "pids.current": "1\n",
    "pids.max": "max\n",
    "io.stat": "254:0 rbytes=4096000 wbytes=8192 rios=120 wios=2 dbytes=0 dios=0\n",
}


SIM_STATUS = (
    "Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\n"
    "PPid:\t{ppid}\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t64\n"
    "Groups:\t10 \nVmPeak:\t    1320 kB\nVmSize:\t    1320 kB\nVmRSS:\t       4 kB\n"
    "Threads:\t1\n"
)


def sim_id(i: int) -> str:
    return hashlib.sha256(f"bench-sim-{i}".encode()).hexdigest()


def sim_pid(i: int) -> int:
    return 100_000 + i


def write_file(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def build_tree(root: Path, count: int) -> None:
    """A cgroup v2 host (systemd driver) with `count` containers, one process each."""
    proc, cgroup = root / "proc", root / "sys" / "fs" / "cgroup"
    os.makedirs(proc / "self")
    os.makedirs(root / "etc")
    write_file(
        str(proc / "self" / "mountinfo"),
        f"24 30 0:22 / {root}/sys rw,relatime shared:7 - sysfs sysfs rw\n"
        f"30 24 0:26 / {cgroup} rw,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n",
    )
    write_file(str(root / "etc" / "passwd"), "root:x:0:0:root:/root:/bin/sh\n")
    for i in range(count):
        cid, pid = sim_id(i), sim_pid(i)
        scope = f"/system.slice/docker-{cid}.scope"
        directory = f"{cgroup}{scope}"
        os.makedirs(directory)
        for name, text in SIM_CGROUP_FILES.items():
            write_file(f"{directory}/{name}", text)
        write_file(f"{directory}/cgroup.procs", f"{pid}\n")
        base = f"{proc}/{pid}"
        os.makedirs(f"{base}/net")
        write_file(f"{base}/cgroup", f"0::{scope}\n")
        write_file(f"{base}/net/dev", SIM_NET_DEV)
        write_file(
            f"{base}/stat",
            f"{pid} (sleep) S 90000 {pid} {pid} 0 -1 4194560 110 0 0 0 3 5 0 0 20 0 1 0 "
            "123456 1351680 1 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
        )
        write_file(f"{base}/status", SIM_STATUS.format(pid=pid, ppid=90000))
        write_file(f"{base}/cmdline", "sleep\x003600\x00")


def fake_inventory(count: int) -> Inventory:
    """A fake engine's inventory: `count` running containers from a recorded inspect."""
    text = (FIXTURES / "inspect_running.json").read_text()
    engine = parse_engine(
        json.loads((FIXTURES / "info.json").read_text()),
        json.loads((FIXTURES / "version.json").read_text()),
        "1.41",
    )
    inventory = Inventory()
    for i in range(count):
        raw: dict[str, Any] = json.loads(text)
        raw["Id"], raw["Name"] = sim_id(i), f"/bench-sim-{i}"
        raw["State"]["Pid"] = sim_pid(i)
        container: Container = parse_container(raw)
        inventory.upsert(container)
    inventory.publish(
        engine=engine,
        status=WatcherStatus(engine_up=True, synced=True, stream_up=True, last_sync_ts=time.time()),
    )
    return inventory


def default_exposition() -> Exposition:
    enabled = [name for name, spec in COLLECTORS.items() if spec.default_enabled]
    return Exposition(enabled, Options())


def checked_sweep(sweep: Sweep, count: int) -> Sweep:
    if len(sweep.stats) != count or sweep.missing:
        msg = f"simulated sweep read {len(sweep.stats)} of {count} ({len(sweep.missing)} missing)"
        raise RuntimeError(msg)
    return sweep


async def sweeps(
    source: CgroupSource, wanted: Sequence[Target], count: int | None = None, reps: int = 5
) -> tuple[list[float], list[float], Sweep]:
    """Wall and CPU seconds of `reps` warm sweeps (after one discarded), and the last sweep.

    The discarded first sweep also reads every process list; after it, a default source
    sweeps stats only (process lists are due again in 15 s), while a source built with
    `processes_interval=0` reads them on every sweep. `count` checks completeness.
    """
    await source.sample(wanted, None)
    walls, cpus = [], []
    for _ in range(reps):
        cpu0 = cpu_seconds()
        seconds, sweep = await timed(source.sample(wanted, None))
        cpus.append(cpu_seconds() - cpu0)
        walls.append(seconds)
        if count is not None:
            checked_sweep(sweep, count)
    return walls, cpus, sweep

"""Stats truth on this host's engine: what the cgroup fast path reads against the kernel's
own files, read by hand around each sample, as figures (the live tests assert the bounds).

Why: the guest leg (scripts/testbed --guest) is the one systemd + cgroup v2 host of CI; its
closing note gives these figures. Two containers on the engine the docker CLI talks to:
  * `--cpus 0.5` busy loop: cores over `--window` seconds from two fast-path samples, with
    the kernel's cpu.stat (v2) or cpuacct.usage (v1) rate over the same span beside it, and
    the ratio to the 0.5 quota;
  * 64 MiB written to /dev/shm: the working set against memory.current - inactive_file
    (v2; v1: usage_in_bytes - total_inactive_file), and their ratio.

Usage: python bench/stats_truth.py [--window 10]   (from the repository root, as root)
Containers are named truth-<random>-* and removed on exit.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.engine.stats import ContainerStats
from exporter.stats.cgroup import CgroupLayout, Target, discover_layout, sample

PROC, SYS = Path("/proc"), Path("/sys")


def read_one(layout: CgroupLayout, target: Target) -> ContainerStats:
    """The container's stats by the per-file path (every file opened, read, closed)."""
    got = sample(layout, PROC, target, processes=False, users={})
    if got is None:
        raise SystemExit(f"{target.container_id}: its PID left the container")
    return got[0]


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()


def own_dirs(pid: int, v2: bool) -> dict[str, Path]:
    dirs = {}
    for line in (PROC / str(pid) / "cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if v2 and not controllers:
            dirs["unified"] = SYS / "fs/cgroup" / path.lstrip("/")
        for name in controllers.split(",") if controllers else ():
            dirs[name] = SYS / "fs/cgroup" / name / path.lstrip("/")
    return dirs


def keyed(path: Path) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split()[:2] for line in path.read_text().splitlines())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=10.0)
    args = parser.parse_args()
    layout = discover_layout(PROC, SYS)
    v2 = layout.version == "2"
    prefix = f"truth-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-cpu", f"{prefix}-shm"]
    try:
        cpu = docker(
            "run", "-d", "--name", names[0], "--cpus", "0.5", "busybox:local",
            "sh", "-c", "while :; do :; done",
        )  # fmt: skip
        shm = docker(
            "run", "-d", "--name", names[1], "--shm-size", "128m", "busybox:local",
            "sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=64 && exec sleep 600",
        )  # fmt: skip
        cpu_target = Target(cpu, int(docker("inspect", "-f", "{{.State.Pid}}", cpu)))
        shm_target = Target(shm, int(docker("inspect", "-f", "{{.State.Pid}}", shm)))
        cpu_dirs = own_dirs(cpu_target.pid, v2)

        def kernel_cpu() -> float:
            if v2:
                return keyed(cpu_dirs["unified"] / "cpu.stat")["usage_usec"] / 1e6
            return int((cpu_dirs["cpuacct"] / "cpuacct.usage").read_text()) / 1e9

        time.sleep(2.0)  # the loop settles into its quota; dd fills /dev/shm
        k0, t0 = kernel_cpu(), time.monotonic()
        first = read_one(layout, cpu_target)
        time.sleep(args.window)
        k1, t1 = kernel_cpu(), time.monotonic()
        second = read_one(layout, cpu_target)
        cores = (second.cpu_usage_seconds - first.cpu_usage_seconds) / (t1 - t0)
        kernel_cores = (k1 - k0) / (t1 - t0)

        shm_dirs = own_dirs(shm_target.pid, v2)
        memory = shm_dirs["unified" if v2 else "memory"]
        stats = read_one(layout, shm_target)
        usage_file = "memory.current" if v2 else "memory.usage_in_bytes"
        usage = int((memory / usage_file).read_text())
        inactive = keyed(memory / "memory.stat")["inactive_file" if v2 else "total_inactive_file"]
        expected = usage - inactive
        working_set = stats.memory_working_set_bytes or 0
    finally:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True, check=False)
    print(f"stats truth (cgroup v{layout.version}, {args.window:.0f} s window)")
    print(
        f"  --cpus 0.5 loop: {cores:.3f} cores by the fast path, {kernel_cores:.3f} by the "
        f"kernel's counter; {cores / 0.5:.2f}x the quota; limit read {second.cpu_limit_cores}"
    )
    print(
        f"  64 MiB in /dev/shm: working set {working_set / 2**20:.1f} MiB, {usage_file} - "
        f"inactive_file {expected / 2**20:.1f} MiB; ratio {working_set / expected:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

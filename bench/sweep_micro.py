"""CPU of one cgroup stats sweep: files opened per sweep (`sample()`) against CgroupReader.

Why: the sweep runs every 5 s for every running container, and opening and closing each
cgroupfs and /proc file (plus the first read that allocates its seq_file buffer) is most of
its cost. CgroupReader keeps the files open and re-reads them with pread at offset 0.

What it measures, in this one process, on the running containers with the label (default
`perf=1`) of the local engine, read-only:
  * old: the per-container `sample()` loop that `_sweep_cgroup` ran before CgroupReader:
    /proc/<pid>/cgroup resolved and every file opened, read and closed on each sweep;
  * new: `_sweep_cgroup` over a CgroupReader (files kept open, read with pread). It parses
    again only what changed since the last sweep, and skips the files (v1 cpuacct.stat) and
    the cgroup.procs listing that cannot change while a container's CPU usage stands
    still; the perf containers are idle, so this is the best case;
  * new, all changed: the same reader made to read and parse every file, container and
    process again, the worst case (every container busy);
  * new, 0 kept: a reader with a budget of 0 (paths resolved once, bytes parsing, but
    every file opened, read and closed): what containers beyond the budget cost;
  * with `--baseline-rev REV`, also `sample()` and `CgroupReader` (idle and all changed) of
    exporter/stats/cgroup as of git REV (its own parsing too), e.g. HEAD to compare a change
    with the committed code in the same run, or the commit before CgroupReader.
Each in two modes: stats only, and with process lists (what a sweep does for a container
every 15 s). The variants alternate sweep by sweep so that drift on the machine hits them
alike; after 2 warm-up sweeps each, the median of `--sweeps` is printed with the ratio.
CPU is user + system time of this process (resource.getrusage), all of it syscalls and
Python on this thread.

Usage: .venv/bin/python bench/sweep_micro.py [--label perf=1] [--sweeps 20]
       [--max-open-files 4096] [--baseline-rev REV]
Needs root (cgroupfs and /proc of other users' processes) and the local engine.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from exporter.stats.cgroup import (
    CgroupReader,
    Target,
    discover_layout,
    fit_open_files,
    passwd_users,
    sample,
)
from exporter.stats.sampler import _sweep_cgroup

ROOT = Path(__file__).resolve().parent.parent

PROC = Path("/proc")
SYS = Path("/sys")
SEQ_BUFFER = 4096  # bytes of kernel memory a kept-open seq_file holds (kmalloc-cg-4k)

Sweeper = Callable[[bool], int]  # with process lists? -> containers sampled


def cpu_times() -> tuple[float, float]:
    """User and system CPU seconds of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], check=True, capture_output=True, text=True, timeout=120
    ).stdout


def live_targets(label: str) -> list[Target]:
    ids = docker("ps", "-q", "--no-trunc", "--filter", f"label={label}").split()
    if not ids:
        sys.exit(f"no running container with label {label}")
    rows = docker(
        "inspect", "-f", "{{.Id}} {{.State.Pid}} {{.HostConfig.NetworkMode}}", *ids
    ).splitlines()
    out = []
    for row in rows:
        cid, pid, mode = row.split()
        out.append(
            Target(cid, int(pid), host_network=mode == "host" or mode.startswith("container:"))
        )
    return out


def module_at(rev: str) -> ModuleType:
    """exporter/stats/cgroup (a module, or since the split a package) as of git `rev`,
    imported under another name, so that both run in this process."""
    name = f"cgroup_at_{rev}".replace("-", "_").replace("~", "_").replace("^", "_")
    files = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{rev}:exporter/stats/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    if "cgroup.py" in files:
        spec = importlib.util.spec_from_loader(name, loader=None)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        exec(compile(git_show(rev, "cgroup.py"), f"{rev}:cgroup.py", "exec"), module.__dict__)
        return module
    directory = Path(tempfile.mkdtemp(prefix="sweep-micro-")) / name
    directory.mkdir()
    listing = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{rev}:exporter/stats/cgroup/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for file in listing:
        if file.endswith(".py"):
            text = git_show(rev, f"cgroup/{file}").replace("exporter.stats.cgroup", name)
            (directory / file).write_text(text)
    sys.path.insert(0, str(directory.parent))
    return importlib.import_module(name)


def git_show(rev: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:exporter/stats/{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def per_file(sample_fn: Callable[..., object], targets: list[Target]) -> Sweeper:
    """The loop `_sweep_cgroup` ran before CgroupReader, with a given `sample()`."""
    layout = discover_layout(PROC, SYS)

    def sweep(processes: bool) -> int:
        users = passwd_users(PROC) if processes else {}
        done = 0
        for target in targets:
            if sample_fn(layout, PROC, target, processes=processes, users=users) is not None:
                done += 1
        return done

    return sweep


def kept(reader: CgroupReader, targets: list[Target]) -> Sweeper:
    ids = frozenset(t.container_id for t in targets)

    def sweep(processes: bool) -> int:
        result = _sweep_cgroup(reader, PROC, targets, None, ids if processes else frozenset())
        return len(result.stats)

    return sweep


def all_changed(reader: CgroupReader, targets: list[Target]) -> Sweeper:
    """`kept`, the reader's memory of the last sweep wiped first: every file is read and every
    container and process parsed again, as when all of them ran since the last sweep (busy
    containers). Works on a baseline revision's reader too."""
    sweep = kept(reader, targets)

    def run(processes: bool) -> int:
        for entry in reader._kept.values():
            stats = getattr(entry, "stats", entry)  # since the split: stats and process files
            procs = getattr(entry, "procs", entry)
            if callable(stats):  # before it: one object with a stats() method
                stats = procs = entry
            stats.last_data = []
            procs.described.clear()
            if hasattr(procs, "list_key"):
                procs.list_key = None
        return sweep(processes)

    return run


def slab_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Slab:"):
            return int(line.split()[1])
    return 0


def measure(
    variants: dict[str, Sweeper], processes: bool, sweeps: int
) -> dict[str, tuple[float, float, float]]:
    """Median CPU seconds per sweep of each variant (user + sys, user, sys), interleaved."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for i in range(sweeps + 2):
        for name, sweep in variants.items():
            user0, sys0 = cpu_times()
            sweep(processes)
            user1, sys1 = cpu_times()
            if i >= 2:
                times[name].append((user1 - user0, sys1 - sys0))
    return {
        name: (
            statistics.median(u + s for u, s in values),
            statistics.median(u for u, _ in values),
            statistics.median(s for _, s in values),
        )
        for name, values in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="perf=1")
    parser.add_argument("--sweeps", type=int, default=20)
    parser.add_argument("--max-open-files", type=int, default=4096)
    parser.add_argument(
        "--baseline-rev",
        help="also time sample() and CgroupReader of exporter/stats/cgroup at REV",
    )
    args = parser.parse_args()

    targets = live_targets(args.label)
    budget = fit_open_files(args.max_open_files)
    variants: dict[str, Sweeper] = {}
    layout = discover_layout(PROC, SYS)
    with contextlib.ExitStack() as stack:
        if args.baseline_rev:
            old = module_at(args.baseline_rev)
            variants[f"sample() @ {args.baseline_rev}"] = per_file(old.sample, targets)
            old_reader = stack.enter_context(old.CgroupReader(layout, PROC, max_open_files=budget))
            variants[f"CgroupReader @ {args.baseline_rev}"] = kept(old_reader, targets)
            variants[f"all changed @ {args.baseline_rev}"] = all_changed(old_reader, targets)
        variants["old: sample() per file"] = per_file(sample, targets)
        reader = stack.enter_context(CgroupReader(layout, PROC, max_open_files=budget))
        unkept = stack.enter_context(CgroupReader(layout, PROC, max_open_files=0))
        variants["new, 0 kept"] = kept(unkept, targets)
        variants["new: CgroupReader"] = new = kept(reader, targets)
        variants["new, all changed"] = all_changed(reader, targets)
        slab_before = slab_kib()
        first = new(False), new(True)  # before the others: the Slab delta is the reader's
        open_files, slab_after = reader.open_files, slab_kib()
        counts = {name: (sweep(False), sweep(True)) for name, sweep in variants.items()}
        counts["new: CgroupReader"] = first
        stats_only = measure(variants, processes=False, sweeps=args.sweeps)
        with_procs = measure(variants, processes=True, sweeps=args.sweeps)

    print(f"{len(targets)} containers (label {args.label}), median of {args.sweeps} sweeps each")
    for name, (n_stats, n_procs) in counts.items():
        print(f"  {name}: sampled {n_stats} (stats), {n_procs} (with process lists)")
    print(
        f"kept open: {open_files} files (budget {budget}), at most"
        f" {open_files * SEQ_BUFFER // 1024} KiB of seq_file buffers;"
        f" Slab +{slab_after - slab_before} KiB (whole machine)"
    )
    new_name = "new: CgroupReader"
    print(f"{'CPU per sweep':<28}{'stats only (user/sys)':>30}{'with processes (user/sys)':>32}")
    for name in variants:
        print(f"{name:<28}{ms(stats_only[name]):>30}{ms(with_procs[name]):>32}")
    for name in variants:
        if name != new_name:
            print(
                f"{name + ' / new':<28}{stats_only[name][0] / stats_only[new_name][0]:>29.1f}x"
                f"{with_procs[name][0] / with_procs[new_name][0]:>31.1f}x"
            )


def ms(cpu: tuple[float, float, float]) -> str:
    total, user, system = (x * 1e3 for x in cpu)
    return f"{total:.2f} ms ({user:.2f} / {system:.2f})"


if __name__ == "__main__":
    main()

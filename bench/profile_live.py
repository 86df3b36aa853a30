"""Where a live exporter's CPU goes, per sweep (issue 25, "find the other half").

Starts the exporter (.venv's, or whatever PYTHONPATH puts first) against the default
engine with `--stats.interval`, a real Prometheus 3.5 scraping it every --scrape-interval
(its own Accept header, gzip), waits for two scrapes, then records it with py-spy (from
PyPI: `pip install py-spy`; it reads the process from outside, without changing it) for
--duration seconds, and prints the split: each sample is charged to the innermost frame
that belongs to a known part (leaf first: a file read under the sampler is "cgroup reads",
a collector called from a byte store is "collectors"), scaled to the process's own CPU
(/proc, measured over the same window) and divided by the sweeps in the window.

py-spy counts samples of threads that are not idle; a thread waiting for the GIL counts,
so the split is a share of samples, calibrated by the CPU the kernel charged. With
--native (when the interpreter has symbols), the cyclic GC shows as its own part.

Usage: .venv/bin/python bench/profile_live.py [--interval 1] [--scrape-interval 15]
    [--duration 60] [--native] [--raw out.txt]
The containers are whatever runs on the engine (bench/peers.py --keep starts N of them).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib.common import CLK_TCK, EXPORTER_BIN
from benchlib.exporter_proc import free_port
from benchlib.report import log, table
from peers import Peer, Prometheus, running_containers, started, tree_ticks, wait

IDLE = ("EpollSelector.select", "_worker (concurrent/futures/thread.py")
"""The event loop waiting in epoll_wait, a pool thread waiting for work: py-spy takes a
thread in a system call for active when the kernel shows it runnable (on a loaded machine,
often), so these samples are left out of the split (the kernel's CPU count includes the
little that the waits cost)."""
GC_EXIT = "_GeneratorContextManager.__exit__"
"""Leaving `no_cyclic_gc` at the end of `_advance`: the first allocation after the GC is
enabled again runs the collection the render deferred, charged to this frame."""
PARTS: list[tuple[str, str]] = [
    # (substring of a frame's file, part), checked in this order on each frame, leaf first
    ("_write_to_self", "thread hand-offs"),
    ("gc_collect", "GC (cyclic collector)"),
    ("exporter/stats/cgroup/parse.py", "parse"),
    ("exporter/stats/cgroup/", "cgroup reads"),
    ("exporter/stats/sampler.py", "sweep glue (sampler)"),
    ("exporter/stats/", "stats (other: top, disk usage)"),
    ("exporter/inventory/liveness.py", "liveness pings"),
    ("exporter/engine/telemetry.py", "engine telemetry"),
    ("exporter/inventory/store.py", "publish"),
    ("exporter/inventory/", "inventory (watcher, events)"),
    ("exporter/engine/", "engine adapter (events, inspect, lists)"),
    ("exporter/collectors/", "collectors"),
    ("exporter/render/gzipbody.py", "gzip"),
    ("zlib", "gzip"),
    ("exporter/render/store.py", "encode"),
    ("exporter/render/formats.py", "encode"),
    ("exporter/render/selfprocess.py", "own process metrics"),
    ("exporter/render/memory.py", "malloc_trim"),
    ("exporter/render/", "render glue (exposition, prewarm)"),
    ("exporter/web/", "HTTP handler"),
    ("aiohttp/web", "HTTP serving (aiohttp server)"),
    ("aiohttp/", "engine client (aiohttp, aiodocker)"),
    ("aiodocker/", "engine client (aiohttp, aiodocker)"),
    ("concurrent/futures", "thread hand-offs"),
    ("asyncio/threads.py", "thread hand-offs"),
    ("threading.py", "thread hand-offs"),
    ("asyncio/", "event loop overhead"),
    ("selectors.py", "event loop overhead"),
]


def part_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for needle, part in PARTS:
            if needle in frame:
                return part
    return "other (startup, logging, stdlib)"


def summarise(raw: str) -> Counter[str]:
    parts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if frames and frames[0].startswith("process "):
            frames = frames[1:]
        if frames and frames[0].startswith("thread "):
            frames = frames[1:]
        if frames and any(idle in frames[-1] for idle in IDLE):
            continue
        if len(frames) > 1 and GC_EXIT in frames[-1] and "._advance " in frames[-2]:
            parts["GC (deferred past the render)"] += int(count)
            continue
        parts[part_of(frames)] += int(count)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=1.0, help="--stats.interval, seconds")
    parser.add_argument("--scrape-interval", type=float, default=15.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--native", action="store_true")
    parser.add_argument("--raw", default="")
    parser.add_argument(
        "--from-raw",
        default="",
        help="only summarise a recorded file, scaled to --cpu-ms-per-sweep (a past run's total)",
    )
    parser.add_argument("--cpu-ms-per-sweep", type=float, default=0.0)
    args = parser.parse_args()
    if args.from_raw:
        print_split(summarise(Path(args.from_raw).read_text()), args.cpu_ms_per_sweep)
        return
    pyspy = Path(sys.executable).parent / "py-spy"
    port = free_port()
    peer = Peer(
        "docker-exporter",
        port,
        args.interval,
        [
            str(EXPORTER_BIN),
            "--web.listen-address",
            f"127.0.0.1:{port}",
            "--log.level",
            "warn",
            "--stats.interval",
            f"{args.interval:g}s",
        ],
        "/metrics",
        {},
    )
    with tempfile.TemporaryDirectory(prefix="perf-profile-") as tmp:
        prom = Prometheus(Path(tmp), f"127.0.0.1:{port}", peer, args.scrape_interval)
        raw_path = Path(args.raw or Path(tmp) / "raw.txt")
        with started(peer.command) as pid, started(prom.command):
            wait(lambda: prom.healthy_scrapes() >= 2, 240, "two scrapes")
            containers = running_containers()
            start, t0 = tree_ticks(pid), time.monotonic()
            command = [
                str(pyspy), "record", "--pid", str(pid), "--duration", f"{args.duration:g}",
                "--rate", str(args.rate), "--format", "raw", "--output", str(raw_path),
                "--nonblocking",
            ]  # fmt: skip
            if args.native:
                command.append("--native")
            done = subprocess.run(
                command, check=False, capture_output=True, text=True, timeout=args.duration + 120
            )
            if done.returncode != 0:
                sys.exit(f"py-spy failed: {done.stderr.strip()[-500:]}")
            cpu = (tree_ticks(pid) - start) / CLK_TCK
            wall = time.monotonic() - t0
        parts = summarise(raw_path.read_text())
    sweeps = wall / args.interval
    total = sum(parts.values()) or 1
    cpu_ms_per_sweep = cpu * 1000 / sweeps
    log(
        f"{containers} running containers, --stats.interval {args.interval:g}s, Prometheus 3.5 "
        f"every {args.scrape_interval:g}s; {wall:.0f} s recorded, {total} samples, CPU "
        f"{cpu:.2f} s ({cpu * 1000 / (containers * sweeps):.3f} ms per container-sample)"
    )
    print_split(parts, cpu_ms_per_sweep)


def print_split(parts: Counter[str], cpu_ms_per_sweep: float) -> None:
    total = sum(parts.values()) or 1
    rows = [["part", f"share of {total} samples", "CPU ms per sweep"]]
    for part, count in parts.most_common():
        rows.append([part, f"{count / total:.1%}", f"{cpu_ms_per_sweep * count / total:.2f}"])
    rows.append(["total (kernel's count)", "100%", f"{cpu_ms_per_sweep:.2f}"])
    print(table(rows))


if __name__ == "__main__":
    main()

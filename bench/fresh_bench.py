"""Issue 22's costs, measured on the live engine with a real registry on loopback.

- CPU added per sweep: the log-file pass (one stat per container) and the two new
  collectors (image_updates, logs) over the snapshot, each against the stats sweep over
  the same running containers (the cgroup source), in this process, same run.
- Registry requests per container per day: the checker's requests for one check round
  (HEAD per tag; containers sharing a tag share it), scaled to the default 6h interval.
- `docker ps --size` (the opt-in container_sizes sampler) against a plain list.

Usage: .venv/bin/python bench/fresh_bench.py [--containers 20] [--tags 2] [--rounds 30]
Needs docker-registry (scripts/testbed) and the engine with busybox:local. Creates
`fresh-bench-*` containers and removes them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from benchlib.dockercli import docker  # noqa: E402
from registryd import registry  # noqa: E402

from exporter.clock import SystemClock  # noqa: E402
from exporter.collectors import image_updates, logs  # noqa: E402
from exporter.engine.adapter import DockerEngine  # noqa: E402
from exporter.engine.config import engine_config_from_env, resolve_host  # noqa: E402
from exporter.inventory.filters import ContainerFilter  # noqa: E402
from exporter.inventory.store import Inventory  # noqa: E402
from exporter.inventory.watcher import Watcher  # noqa: E402
from exporter.options import Options  # noqa: E402
from exporter.registry.checker import ImageChecker  # noqa: E402
from exporter.registry.client import RegistryClient  # noqa: E402
from exporter.registry.config import RegistryTarget  # noqa: E402
from exporter.registry.freshness import wanted_tags  # noqa: E402
from exporter.stats.logfiles import LogFileSampler  # noqa: E402
from exporter.stats.sampler import Sampler, choose_source  # noqa: E402

DAY = 86400.0
DEFAULT_INTERVAL = 6 * 3600.0


async def cpu_of(rounds: int, step: Callable[[], Awaitable[object]]) -> float:
    """Process CPU seconds (every thread) per call of `step`."""
    await step()  # warm
    start = time.process_time()
    for _ in range(rounds):
        await step()
    return (time.process_time() - start) / rounds


async def wall_of(rounds: int, step: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        await step()
    return (time.perf_counter() - start) / rounds


async def measure(args: argparse.Namespace, reg_name: str, reg_url: str, prefix: str) -> None:
    clock = SystemClock()
    engine = DockerEngine(engine_config_from_env("", 30.0, os.environ))
    inventory = Inventory(ContainerFilter.from_texts((f"name={prefix}-*",), ()))
    try:
        await Watcher(engine, inventory, clock).resync()
        snapshot = inventory.snapshot
        running = [c for c in snapshot.containers.values() if c.state == "running"]
        n = len(running)
        source, fallback = choose_source(
            "auto", docker_host=resolve_host(None, os.environ), proc_root=Path("/proc"),
            sys_root=Path("/sys"), engine=engine, concurrency=8, clock=clock, open_files=4096,
        )  # fmt: skip
        sampler = Sampler(inventory, clock, source, interval=1.0, fallback=fallback)
        sweep = await cpu_of(args.rounds, sampler.sweep)
        await sampler.close()
        files = LogFileSampler(inventory, clock, interval=1.0)
        look = await cpu_of(args.rounds, files.sample)
        snapshot = inventory.snapshot

        async def collect() -> None:
            list(image_updates.collect(snapshot, Options()))
            for c in snapshot.containers.values():
                logs.rows(c, (snapshot.log_files.get(c.id),), Options())

        collectors = await cpu_of(args.rounds, collect)
        print(f"running containers: {n}, stats source: {source.name}")
        print(f"stats sweep (baseline): {sweep * 1e3:.3f} ms CPU")
        print(f"log files pass: {look * 1e3:.3f} ms CPU = {look / sweep:.3f} x the sweep")
        print(
            f"new collectors: {collectors * 1e3:.3f} ms CPU = {collectors / sweep:.3f} x the sweep"
        )

        # registry requests: one check round over the tags the containers use
        target = RegistryTarget(reg_name, reg_url)
        client = RegistryClient(target, clock, timeout=10.0)
        checker = ImageChecker(lambda _n: [client], lambda _c: None, clock, interval=1.0)
        wanted = wanted_tags(snapshot.containers.values(), snapshot.images, snapshot.engine)
        pairs = sorted(wanted.get(reg_name, frozenset()))

        async def round_() -> None:
            for repository, tag in pairs:
                await checker.check(reg_name, repository, tag)

        per_round_cpu = await cpu_of(args.rounds, round_)
        sent = sum(client.requests.values())
        per_round = sent / (args.rounds + 1)
        await client.close()
        per_day = per_round * DAY / DEFAULT_INTERVAL
        print(
            f"check round: {len(pairs)} tags, {per_round:.1f} requests "
            f"({dict(client.requests)} over {args.rounds + 1} rounds), "
            f"{per_round_cpu * 1e3:.3f} ms CPU"
        )
        print(
            f"requests per container per day at the default 6h: {per_day / max(n, 1):.3f} "
            f"({per_day:.0f} for the host; worst case, every container its own tag: 4)"
        )

        # docker ps --size against a plain list
        plain = await wall_of(3, engine.list_containers)
        sized = await wall_of(3, engine.container_sizes)
        print(
            f"docker ps --size: {sized * 1e3:.1f} ms, plain list {plain * 1e3:.1f} ms: "
            f"{sized / plain:.1f} x (all {len((await engine.container_sizes()).writable)} "
            "containers of the engine)"
        )
    finally:
        await engine.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--tags", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--files", type=int, default=20000, help="small files one container writes (ps --size)"
    )
    args = parser.parse_args()
    prefix = f"fresh-bench-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp, registry(Path(tmp) / "reg") as reg:
        refs = [f"{reg.name}/fresh/bench:t{i}" for i in range(args.tags)]
        for ref in refs:
            docker("tag", "busybox:local", ref)
            docker("push", "-q", ref)
        try:
            for i in range(args.containers):
                docker("run", "-d", "--name", f"{prefix}-{i}", refs[i % len(refs)], "sleep", "600")
            writer = f"mkdir /d && cd /d && seq {args.files} | xargs touch && sleep 600"
            docker("run", "-d", "--name", f"{prefix}-files", "busybox:local", "sh", "-c", writer)
            docker(
                "exec",
                f"{prefix}-files",
                "sh",
                "-c",
                f"while [ $(ls /d | wc -l) -lt {args.files} ]; do sleep 0.2; done",
            )
            asyncio.run(measure(args, reg.name, reg.url, prefix))
        finally:
            names = [f"{prefix}-{i}" for i in range(args.containers)] + [f"{prefix}-files"]
            docker("rm", "-f", *names)
            docker("rmi", *refs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

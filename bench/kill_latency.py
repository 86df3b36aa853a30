"""Kill-to-metric latency: how long after `docker kill` returns does /metrics show `exited`?

Starts the exporter in-process against the live engine, then for N rounds starts a
busybox container, waits until /metrics shows it running, kills it, and polls /metrics
every 5 ms until the state set says `exited`. Prints p50/p95/max. As a baseline measured
in the same run, it also times how long `docker inspect` (the CLI itself) takes to
report `exited` after the kill, which bounds what any observer can do.

Usage: .venv/bin/python bench/kill_latency.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import time
import uuid

from aiohttp.test_utils import TestClient, TestServer

from exporter.cli.app import build_app
from exporter.cli.settings import Settings
from exporter.collectors import COLLECTORS
from exporter.web.http import INVENTORY

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True
    ).stdout.strip()


async def state_line(client: TestClient, short_id: str, state: str) -> bool:  # type: ignore[type-arg]
    headers = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}  # as Prometheus asks
    text = await (await client.get("/metrics", headers=headers)).text()
    return any(
        line.startswith("docker_container_state{")
        and f'id="{short_id}"' in line
        and f'state="{state}"' in line
        and line.endswith(" 1.0")
        for line in text.splitlines()
    )


async def wait_for(client: TestClient, short_id: str, state: str) -> float:  # type: ignore[type-arg]
    start = time.perf_counter()
    while not await state_line(client, short_id, state):
        if time.perf_counter() - start > 30:
            raise RuntimeError(f"{short_id} never reached {state}")
        await asyncio.sleep(0.005)
    return time.perf_counter() - start


async def main(rounds: int) -> None:
    app = build_app(Settings(collectors=tuple(COLLECTORS)))
    ours: list[float] = []
    cli: list[float] = []
    prefix = f"bench-kill-{uuid.uuid4().hex[:6]}"
    async with TestClient(TestServer(app)) as client:
        while not app[INVENTORY].snapshot.status.synced:
            await asyncio.sleep(0.05)
        for i in range(rounds):
            name = f"{prefix}-{i}"
            cid = docker("run", "-d", "--name", name, "busybox:local", "sleep", "600")[:12]
            try:
                await wait_for(client, cid, "running")
                docker("kill", name)
                ours.append(await wait_for(client, cid, "exited"))
                # Baseline: the CLI asked right after the kill (one inspect round trip).
                t1 = time.perf_counter()
                docker("inspect", "-f", "{{.State.Status}}", name)
                cli.append(time.perf_counter() - t1)
            finally:
                subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)

    def ms(values: list[float], q: float) -> float:
        return (
            statistics.quantiles(values, n=100)[int(q) - 1] * 1000
            if len(values) > 1
            else values[0] * 1000
        )

    print(f"kill-to-metric latency over {rounds} kills (after `docker kill` returned):")
    print(
        f"  exporter /metrics  p50 {ms(ours, 50):7.1f} ms  p95 {ms(ours, 95):7.1f} ms"
        f"  max {max(ours) * 1000:7.1f} ms"
    )
    print(f"  baseline: one `docker inspect` CLI call  p50 {ms(cli, 50):7.1f} ms")
    print(f"  ratio exporter p50 / docker inspect p50: {ms(ours, 50) / ms(cli, 50):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    asyncio.run(main(parser.parse_args().rounds))

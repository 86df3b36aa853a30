"""Kill-to-metric latency: how long after `docker kill` returns does /metrics show `exited`?

Starts the exporter in-process against the live engine, then for N rounds starts a
busybox container, waits until /metrics shows it running, kills it, and polls /metrics
every 5 ms until the state set says `exited`. Prints p50/p95/max.

The baseline, measured on the same kills: an in-process client that polls the engine's
own inspect endpoint (`GET /containers/{id}/json` on its socket) every 5 ms from the same
moment until it says `exited`, the fastest any observer of the engine can know; the
ratio of the two is the headline. One `docker inspect` CLI call right after the kill is
also printed, labelled as what it is (a process start and one round trip, not like for
like).

Usage: .venv/bin/python bench/kill_latency.py [--rounds 20] [--prefix bench-kill]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import time
import uuid

import aiohttp
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


def engine_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        raise SystemExit(f"kill_latency polls the engine over its unix socket, not {host}")
    return host.removeprefix("unix://")


async def engine_exited(engine: aiohttp.ClientSession, name: str) -> float:
    """Seconds until the engine's own inspect says `exited`, polled every 5 ms."""
    start = time.perf_counter()
    while True:
        async with engine.get(f"http://docker/containers/{name}/json") as response:
            doc = await response.json()
        if doc["State"]["Status"] == "exited":
            return time.perf_counter() - start
        if time.perf_counter() - start > 30:
            raise RuntimeError(f"{name} never exited")
        await asyncio.sleep(0.005)


async def main(rounds: int, prefix: str) -> None:
    app = build_app(Settings(collectors=tuple(COLLECTORS)))
    ours: list[float] = []
    direct: list[float] = []
    cli: list[float] = []
    prefix = f"{prefix}-{uuid.uuid4().hex[:6]}"
    connector = aiohttp.UnixConnector(path=engine_socket())
    async with (
        TestClient(TestServer(app)) as client,
        aiohttp.ClientSession(connector=connector) as engine,
    ):
        while not app[INVENTORY].snapshot.status.synced:
            await asyncio.sleep(0.05)
        for i in range(rounds):
            name = f"{prefix}-{i}"
            cid = docker("run", "-d", "--name", name, "busybox:local", "sleep", "600")[:12]
            try:
                await wait_for(client, cid, "running")
                docker("kill", name)
                seen, known = await asyncio.gather(
                    wait_for(client, cid, "exited"), engine_exited(engine, name)
                )
                ours.append(seen)
                direct.append(known)
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
    print(
        f"  baseline: the engine's inspect polled in-process every 5 ms  p50 "
        f"{ms(direct, 50):7.1f} ms  p95 {ms(direct, 95):7.1f} ms  max {max(direct) * 1000:7.1f} ms"
    )
    print(
        f"  like for like, exporter p50 / engine inspect p50: {ms(ours, 50) / ms(direct, 50):.2f}"
        f" (the exporter adds {ms(ours, 50) - ms(direct, 50):.1f} ms)"
    )
    print(
        f"  not like for like: one `docker inspect` CLI call (a process start and one round "
        f"trip) p50 {ms(cli, 50):7.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--prefix", default="bench-kill", help="container name prefix")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.prefix))

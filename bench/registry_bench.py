"""The registry poller's cost against a direct crawl, on a real registry 2.8 on loopback.

Why: a poll is one request per repository (plus one per tag with --registry.manifests),
sequential by design; this shows what that costs against the plainest client doing the
same requests (urllib, one after another) in the same run, and how many requests a poll
sends. The catalog is made fast through the registry's own API: one image pushed with
the docker CLI, then N repositories mounting its blobs (no docker per repository).

Usage: .venv/bin/python bench/registry_bench.py [--repositories 300] [--rounds 3]
Needs docker-registry (scripts/testbed) and the engine with busybox:local.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from registryd import MANIFEST_V2, Registry, push, registry  # noqa: E402

from exporter.clock import SystemClock  # noqa: E402
from exporter.registry.client import RegistryClient  # noqa: E402
from exporter.registry.config import RegistryTarget  # noqa: E402
from exporter.registry.poller import RegistryPoller  # noqa: E402


def request(
    url: str, method: str = "GET", data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, dict(resp.headers), resp.read()


def fill(reg: Registry, count: int) -> None:
    """`count` repositories dxt/r0000..., each a tag of the pushed image (blob mounts)."""
    _, _, body = request(f"{reg.url}/v2/dxt/base/manifests/v1", headers={"Accept": MANIFEST_V2})
    manifest = json.loads(body)
    digests = [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]
    for i in range(count):
        name = f"dxt/r{i:04d}"
        for digest in digests:
            request(f"{reg.url}/v2/{name}/blobs/uploads/?mount={digest}&from=dxt/base", "POST")
        request(f"{reg.url}/v2/{name}/manifests/v1", "PUT", body, {"Content-Type": MANIFEST_V2})


def direct_crawl(reg: Registry, manifests: bool) -> int:
    """The baseline: the same requests with urllib, one after another; returns their count."""
    _, _, body = request(f"{reg.url}/v2/_catalog?n=1000")
    names = json.loads(body)["repositories"]
    sent = 2
    for name in names:
        _, _, tags = request(f"{reg.url}/v2/{name}/tags/list")
        sent += 1
        if manifests:
            for tag in json.loads(tags)["tags"]:
                request(f"{reg.url}/v2/{name}/manifests/{tag}", headers={"Accept": MANIFEST_V2})
                sent += 1
    request(f"{reg.url}/v2/")
    return sent


async def poll(reg: Registry, manifests: bool) -> tuple[float, int, int]:
    """One poll from a fresh poller: seconds, requests sent, repositories."""
    client = RegistryClient(RegistryTarget(reg.name, reg.url), SystemClock(), timeout=30)
    poller = RegistryPoller(client, lambda _s: None, SystemClock(), manifests=manifests,
                            max_repositories=100_000)  # fmt: skip
    try:
        started = time.perf_counter()
        snapshot = await poller.poll()
        seconds = time.perf_counter() - started
    finally:
        await poller.close()
    assert snapshot.up, snapshot.error
    return seconds, sum(snapshot.requests.values()), len(snapshot.repositories)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repositories", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, registry(Path(tmp) / "reg") as reg:
        push(reg, "dxt/base", "v1")
        started = time.perf_counter()
        fill(reg, args.repositories)
        print(f"registry {reg.name}: {args.repositories + 1} repositories made in "
              f"{time.perf_counter() - started:.1f}s")  # fmt: skip
        print("| poll | exporter s (median) | direct urllib s | ratio | requests |")
        print("| --- | --- | --- | --- | --- |")
        for manifests in (False, True):
            ours, theirs, sent = [], [], 0
            for _ in range(args.rounds):
                seconds, sent, repos = asyncio.run(poll(reg, manifests))
                ours.append(seconds)
                started = time.perf_counter()
                direct_crawl(reg, manifests)
                theirs.append(time.perf_counter() - started)
            a, b = statistics.median(ours), statistics.median(theirs)
            kind = "with manifests" if manifests else "catalog + tags"
            print(f"| {kind}, {repos} repos | {a:.3f} | {b:.3f} | {a / b:.2f} | {sent} |")


if __name__ == "__main__":
    main()

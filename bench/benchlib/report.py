"""Printing: log lines, verdicts, medians, tables, and the revision and machine a run is on."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Sequence

from benchlib.common import ROOT, T


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def quantile(values: Sequence[float], q: int) -> float:
    """The q-th percentile (1..99) by the exclusive method, like kill_latency.py."""
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def timed(awaitable: Awaitable[T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = await awaitable
    return time.perf_counter() - start, result


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def revision() -> str:
    """`git describe --always --dirty` of this tree: the code a run measured."""
    return subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


def parse_sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]

"""malloc_trim after renders: it must really give pages back on this (glibc) system."""

from __future__ import annotations

import os
import platform

import pytest
from conftest import NOT_APPLICABLE, because

from exporter.render import memory

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or any(k.startswith("MALLOC_") for k in os.environ),
    reason=because(
        NOT_APPLICABLE, "malloc_trim gives pages back on glibc with its default tunables only"
    ),
)


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon")


def test_trim_returns_freed_heap_pages() -> None:
    # Many mid-sized blocks (glibc heap, not mmap, not pymalloc), all freed but the last:
    # the heap top stays in use, so only trim's madvise of inner free pages can help.
    blocks = [bytearray(100_000) for _ in range(300)]
    for block in blocks:
        block[::4096] = b"x" * len(block[::4096])  # touch every page
    keep = bytearray(1000)
    del blocks
    before = _rss_kb()
    memory.trim()
    after = _rss_kb()
    assert before - after > 10_000, (before, after)
    del keep

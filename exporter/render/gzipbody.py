"""gzip bodies spliced from cached deflate segments.

Each block of a body (a family's header, its sample lines) is compressed on its own into
a raw deflate segment that ends on a sync flush: byte-aligned, not final, referring to no
earlier data. Such segments concatenate into one valid deflate stream, so a gzip body is
the gzip header, the segments of its blocks, an empty final block and the CRC-32 and
length of the whole: one gzip member, which every client reads (unlike concatenated
members). The CRC-32 of the whole is combined from the blocks' own (zlib's
`crc32_combine`, which Python's zlib does not expose, ported below), so a body costs the
compression of its changed blocks only: after a stats sweep in which most containers
idled, a few families.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

LEVEL = 1
"""Half the CPU of level 5 on an exposition body, for about 4 % more bytes."""
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"  # deflate, no name, mtime 0, fastest, OS ?
_FINAL = b"\x03\x00"  # an empty final fixed-Huffman block
_POLY = 0xEDB88320  # CRC-32, reflected


@dataclass(frozen=True, slots=True)
class Segment:
    """Some bytes as a deflate segment, with their CRC-32 and length."""

    deflated: bytes
    crc: int
    length: int
    shift: int
    """x^(8 * length) modulo the CRC polynomial: what combining a CRC before it takes."""


EMPTY = Segment(b"", 0, 0, 1 << 31)


def segment(pieces: Iterable[bytes]) -> Segment:
    """The pieces, joined, as a raw deflate segment ending on a sync flush (one join and
    one compress call: thousands of small calls cost more than the copy)."""
    data = b"".join(pieces)
    if not data:
        return EMPTY
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return Segment(deflated, zlib.crc32(data), len(data), _x8nmodp(len(data)))


class Folds:
    """The running CRC-32 after each segment of the last body of one variant: the next
    body refolds only from its first segment that is not the very same object (after an
    idle sweep, the sampler's and the exporter's own families, near the end)."""

    __slots__ = ("crcs", "segments")

    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self.crcs: list[tuple[int, int]] = []


def gzip_body(segments: Sequence[Segment], folds: Folds | None = None) -> bytes:
    """One gzip member whose content is the segments' bytes, in order."""
    folds = folds or Folds()
    same = 0
    for old, new in zip(folds.segments, segments, strict=False):
        if old is not new:
            break
        same += 1
    crcs = folds.crcs[:same]
    crc, length = crcs[-1] if crcs else (0, 0)
    for part in segments[same:]:
        if part.length:
            crc = crc32_combine(crc, part.crc, part.length, part.shift)
            length += part.length
        crcs.append((crc, length))
    folds.segments, folds.crcs = list(segments), crcs
    trailer = struct.pack("<II", crc, length & 0xFFFFFFFF)
    return b"".join([_HEADER, *(s.deflated for s in segments), _FINAL, trailer])


def _multmodp(a: int, b: int) -> int:
    """a * b modulo the CRC-32 polynomial (zlib's multmodp)."""
    m, p = 1 << 31, 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _x2n_table() -> tuple[int, ...]:
    p = 1 << 30  # x^1
    table = [p]
    for _ in range(1, 32):
        p = _multmodp(p, p)
        table.append(p)
    return tuple(table)


_X2N = _x2n_table()


@lru_cache(maxsize=4096)
def _x8nmodp(n: int) -> int:
    """x^(8n) modulo the polynomial: the shift of a CRC by n bytes (memoized: a sweep's
    re-encoded blocks repeat a few hundred lengths, and this is a loop of loops in Python,
    a quarter of a body's gzip cost in a live profile, issue 25)."""
    p, k = 1 << 31, 3
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return p


def crc32_combine(crc1: int, crc2: int, length2: int, shift: int | None = None) -> int:
    """The CRC-32 of A + B from those of A and B and the length of B (zlib's); `shift`,
    B's `_x8nmodp(length2)` when the caller kept it (a Segment does), saves its cost."""
    return _multmodp(_x8nmodp(length2) if shift is None else shift, crc1) ^ crc2

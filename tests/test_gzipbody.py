"""gzip bodies spliced from deflate segments: one valid member, the right CRC."""

from __future__ import annotations

import gzip
import random
import zlib

from exporter.render.gzipbody import crc32_combine, gzip_body, segment


def test_crc32_combine_is_zlibs() -> None:
    rng = random.Random(3)
    for _ in range(200):
        a, b = rng.randbytes(rng.randrange(0, 5000)), rng.randbytes(rng.randrange(0, 5000))
        assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_spliced_segments_are_one_gzip_member_of_the_joined_bytes() -> None:
    rng = random.Random(4)
    blocks = [
        [b"# HELP x y\n", b"x 1.0\n" * 100],
        [],
        [b"", rng.randbytes(70_000), b"tail\n"],
        [b'z{a="\\n"} 2.0\n'],
    ]
    body = gzip_body([segment(pieces) for pieces in blocks])
    joined = b"".join(b"".join(pieces) for pieces in blocks)
    assert gzip.decompress(body) == joined
    stream = zlib.decompressobj(16 + zlib.MAX_WBITS)  # what aiohttp's client does
    assert stream.decompress(body) == joined
    assert stream.eof
    assert stream.unused_data == b""  # one member, not several


def test_an_empty_body_is_valid_gzip() -> None:
    assert gzip.decompress(gzip_body([])) == b""
    assert gzip.decompress(gzip_body([segment([]), segment([b""])])) == b""


def test_folds_reuse_the_common_prefix_and_stay_correct() -> None:
    from exporter.render.gzipbody import Folds

    rng = random.Random(5)
    same = [segment([rng.randbytes(3000)]) for _ in range(5)]
    folds = Folds()
    for _ in range(4):
        tail = [segment([rng.randbytes(rng.randrange(0, 2000))]) for _ in range(3)]
        body = gzip_body([*same, *tail], folds)  # gzip.decompress checks the CRC
        assert gzip.decompress(body) == b"".join(
            zlib.decompress(s.deflated + b"\x03\x00", -zlib.MAX_WBITS) for s in [*same, *tail]
        )
    gzip.decompress(gzip_body(tail, folds))  # a shorter body after a longer one: CRC checked

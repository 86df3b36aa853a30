"""Small-file I/O on cgroupfs and /proc: whole reads, preads of kept descriptors, and
telling a missing file from a vanished cgroup or process (`CgroupGone`)."""

from __future__ import annotations

import errno
import os

READ_CHUNK = 65536
SHORT_READ = 2048
"""A shorter read is EOF for regular files, and for seq_file ones unless its page buffer
filled up, so only long files pay an extra read."""
GONE_ERRNOS = frozenset({errno.ENODEV, errno.ESRCH})
UNSUPPORTED_ERRNOS = frozenset({errno.EOPNOTSUPP, errno.ENOTSUP})
"""A read failing so is an absent file: a pressure file when PSI is off (psi=0 on
kernels before 5.19 keeps the files and fails their reads)."""
PROBED_SUFFIX = ".pressure"
"""Files the kept reader reads once before keeping them, to mark them missing when their
reads fail (UNSUPPORTED_ERRNOS)."""
O_READ = os.O_RDONLY | os.O_CLOEXEC
O_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class CgroupError(Exception):
    """The fast path cannot serve this host or container; fall back to the stats API."""


class CgroupGone(CgroupError):
    """The container's cgroup or init process vanished while it was read (it stopped)."""


def read_text(path: str, *, check_gone: bool = True) -> str | None:
    """read_bytes, decoded."""
    data = read_bytes(path, check_gone=check_gone)
    return None if data is None else data.decode(errors="surrogateescape")


def read_bytes(path: str, *, check_gone: bool = True) -> bytes | None:
    """Open, read whole and close a small file; None if it does not exist.

    With `check_gone`, a missing file whose directory is missing too, or a read failing
    with ENODEV/ESRCH (the cgroup or process was removed under us), raises CgroupGone.
    """
    try:
        fd = os.open(path, O_READ)
    except FileNotFoundError:
        if check_gone:
            raise_if_gone(path)
        return None
    try:
        chunks = [os.read(fd, READ_CHUNK)]
        # A short read is EOF for regular files, and for seq_file ones unless its page
        # buffer filled up (> 2 KiB returned), so only long files pay the extra read.
        if len(chunks[0]) >= SHORT_READ:
            while chunk := os.read(fd, READ_CHUNK):
                chunks.append(chunk)
    except OSError as exc:
        if exc.errno in GONE_ERRNOS:
            raise CgroupGone(path) from exc
        if exc.errno in UNSUPPORTED_ERRNOS:
            return None
        raise
    finally:
        os.close(fd)
    return b"".join(chunks)


def readable(fd: int) -> bool:
    """Whether a read of `fd` works (False for UNSUPPORTED_ERRNOS; others raise)."""
    try:
        os.pread(fd, 1, 0)
    except OSError as exc:
        if exc.errno in UNSUPPORTED_ERRNOS:
            return False
        raise
    return True


def pread_rest(fd: int, data: bytes) -> bytes:
    """`data` (read at offset 0) and the rest of the file up to EOF, as read_bytes reads."""
    chunks = [data]
    offset = len(data)
    while chunk := os.pread(fd, READ_CHUNK, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def read_on(fd: int, path: str | None, more_after: int, first: bytes | None = None) -> bytes:
    """pread a kept file whole: `first` (read at offset 0 already) or a read at 0, and the
    rest when that read was at least `more_after` long. ENODEV/ESRCH raise CgroupGone."""
    try:
        data = os.pread(fd, READ_CHUNK, 0) if first is None else first
        return data if len(data) < more_after else pread_rest(fd, data)
    except OSError as exc:
        if exc.errno in GONE_ERRNOS:
            raise CgroupGone(path) from exc
        raise


def raise_if_gone(path: str) -> None:
    """A file missing with its directory means the cgroup or process went away."""
    if not os.path.isdir(os.path.dirname(path)):
        raise CgroupGone(path)

"""Container log files by `stat`: their size and growth, never their contents.

Reading logs through the API costs the engine dearly (it decodes and re-frames every
line); a `stat` of the file the `json-file` or `local` driver writes costs a system call.
The path is inspect's `LogPath` (json-file), or `<DockerRootDir>/containers/<id>/
local-logs/container.log` for the `local` driver (inspect gives none). In a container,
the host's Docker root is mounted read-only and named by `--host.docker-root`: the
engine's DockerRootDir prefix is replaced by it.

Each look compares with the previous one: the active file's growth is added to
`written_bytes`; after a rotation (another inode at the path) the renamed file
`<path>.1`, found by the old inode, supplies the old file's last growth (a compressed
rotation, `.1.gz`, is a new inode: that tail, at most one interval's, is not counted).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from types import MappingProxyType

from exporter.clock import Clock
from exporter.engine.models import Container, EngineInfo
from exporter.engine.stats import LogFile
from exporter.inventory.store import Inventory

log = logging.getLogger(__name__)

FILE_DRIVERS = frozenset({"json-file", "local"})


def log_path(container: Container, engine: EngineInfo | None, docker_root: str) -> str:
    """Where the container's log file is seen from here; empty when its driver writes none."""
    config = container.log
    if config is None or config.driver not in FILE_DRIVERS:
        return ""
    root = engine.docker_root_dir if engine is not None else ""
    if config.driver == "local":
        if not root:
            return ""
        path = f"{root}/containers/{container.id}/local-logs/container.log"
    else:
        path = config.path
    if path and docker_root and root and path.startswith(root + "/"):
        path = docker_root.rstrip("/") + path[len(root) :]
    return path


def _stat(path: str) -> tuple[os.stat_result | None, str]:
    try:
        return os.stat(path), ""
    except FileNotFoundError:
        return None, "no log file"
    except PermissionError:
        return None, "permission denied"
    except OSError:
        return None, "cannot stat"


def look(path: str, prev: LogFile | None) -> LogFile:
    """The file now, its growth since `prev` added to `written_bytes`."""
    written = prev.written_bytes if prev is not None and prev.path == path else 0
    st, error = _stat(path)
    if st is None:
        return LogFile(path, None, written, 0, error)
    size, inode = st.st_size, st.st_ino
    if prev is None or prev.path != path or prev.size_bytes is None:
        return LogFile(path, size, written, inode)
    if inode == prev.inode:
        grown = size - prev.size_bytes if size >= prev.size_bytes else size
        return LogFile(path, size, written + grown, inode)
    tail = 0
    rotated, _ = _stat(path + ".1")
    if rotated is not None and rotated.st_ino == prev.inode:
        tail = max(rotated.st_size - prev.size_bytes, 0)
    return LogFile(path, size, written + tail + size, inode)


def look_all(paths: Mapping[str, str], previous: Mapping[str, LogFile]) -> dict[str, LogFile]:
    """Every container's file (runs in a worker thread); unchanged ones keep their object."""
    out: dict[str, LogFile] = {}
    for cid, path in paths.items():
        prev = previous.get(cid)
        now = look(path, prev)
        out[cid] = prev if prev is not None and now == prev else now
    return out


class LogFileSampler:
    """Looks at every container's log file every `interval`; publishes `log_files`."""

    def __init__(
        self, inventory: Inventory, clock: Clock, *, interval: float, docker_root: str = ""
    ) -> None:
        self._inventory = inventory
        self._clock = clock
        self._interval = interval
        self._docker_root = docker_root
        self._warned = False

    async def run(self) -> None:
        while True:
            await self.sample()
            await self._clock.sleep(self._interval)

    def paths(self) -> dict[str, str]:
        snapshot = self._inventory.snapshot
        found = {
            cid: log_path(c, snapshot.engine, self._docker_root)
            for cid, c in snapshot.containers.items()
        }
        return {cid: path for cid, path in found.items() if path}

    async def sample(self) -> Mapping[str, LogFile]:
        previous = self._inventory.snapshot.log_files
        files = await asyncio.to_thread(look_all, self.paths(), previous)
        denied = [f for f in files.values() if f.error == "permission denied"]
        if denied and not self._warned:
            self._warned = True
            log.warning(
                "log sizes: permission denied on %d log files (the exporter needs to traverse "
                "the Docker root: run as root or mount it, see --host.docker-root)",
                len(denied),
            )
        published: Mapping[str, LogFile] = MappingProxyType(files)
        if dict(previous) != files:
            self._inventory.publish(log_files=published)
        return published

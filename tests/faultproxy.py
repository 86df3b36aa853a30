"""A fault-injecting HTTP proxy on a unix socket, in front of a real engine's socket.

It forwards one request per connection (it answers `Connection: close`, so the client
opens a new one for the next) and can, per request, delay the answer, cut its body in
half, drop the connection, replace the body with garbage, answer a 500 with an HTML page,
or, on the event stream, inject lines (a 10 MB one, garbage) or stop in the middle of an
event. `freeze()` stops every byte in both directions, as a `kill -STOP`ped engine does
(connections are still accepted by the kernel and never answered).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HEAD_END = b"\r\n\r\n"


@dataclass
class Fault:
    """What to do to one answer; every field is optional."""

    delay: float = 0.0
    """Seconds to wait before the answer (after the engine's)."""
    truncate: bool = False
    """Send the headers and half the body, then close."""
    drop: bool = False
    """Close the connection without an answer."""
    garble: bytes | None = None
    """Send this instead of the body (Content-Length adjusted)."""
    html_500: bool = False
    """Answer 500 with an HTML page, never asking the engine."""
    inject: list[bytes] = field(default_factory=list)
    """Event stream: lines sent before the engine's first bytes."""
    cut_mid_event: bool = False
    """Event stream: send half an event line, then close."""


Rule = Callable[[str], Fault | None]
"""The request path (with the query) -> the fault for it, or None to forward as is."""


class FaultProxy:
    def __init__(self, upstream: str, path: Path) -> None:
        self.upstream = upstream
        self.path = path
        self.rules: list[Rule] = []
        self.thawed = asyncio.Event()
        self.thawed.set()
        self.requests: list[str] = []
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._streams: set[asyncio.StreamWriter] = set()

    @property
    def host(self) -> str:
        return f"unix://{self.path}"

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._accept, path=str(self.path))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    def cut_streams(self) -> None:
        """End every event stream now open (the client sees the engine close it)."""
        for writer in list(self._streams):
            writer.close()

    def freeze(self) -> None:
        self.thawed.clear()

    def thaw(self) -> None:
        self.thawed.set()

    def fault_for(self, path: str) -> Fault | None:
        for rule in self.rules:
            fault = rule(path)
            if fault is not None:
                return fault
        return None

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.ensure_future(self._serve(reader, writer))
        self._tasks.add(handler)
        handler.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            await self.thawed.wait()
            head = await reader.readuntil(HEAD_END)
            await self.thawed.wait()
            request_line = head.split(b"\r\n", 1)[0].decode()
            path = request_line.split(" ")[1]
            self.requests.append(path)
            fault = self.fault_for(path) or Fault()
            if fault.html_500:
                body = b"<html>\n<body><h1>500 Internal Server Error</h1></body></html>\n"
                writer.write(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
                return
            if fault.drop:
                return
            up_reader, upstream_writer = await asyncio.open_unix_connection(self.upstream)
            head = re.sub(rb"(?im)^connection:.*\r\n", b"", head)
            head = head[: -len(HEAD_END)] + b"\r\nConnection: close" + HEAD_END
            upstream_writer.write(head)
            await upstream_writer.drain()
            status_head = await up_reader.readuntil(HEAD_END)
            await self.thawed.wait()
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if re.search(rb"(?im)^transfer-encoding:\s*chunked", status_head):
                if "/events" in path:
                    await self._stream(status_head, up_reader, writer, fault)
                    return
                body = await _dechunk(up_reader)
                status_head = re.sub(rb"(?im)^transfer-encoding:.*\r\n", b"", status_head)
            else:
                length = re.search(rb"(?im)^content-length:\s*(\d+)", status_head)
                body = await up_reader.readexactly(int(length.group(1))) if length else b""
                status_head = re.sub(rb"(?im)^content-length:.*\r\n", b"", status_head)
            if fault.garble is not None:
                body = fault.garble
            status_head = re.sub(rb"(?im)^connection:.*\r\n", b"", status_head)
            extra = f"Content-Length: {len(body)}\r\nConnection: close".encode()
            status_head = status_head[: -len(HEAD_END)] + b"\r\n" + extra + HEAD_END
            if fault.truncate:
                writer.write(status_head + body[: len(body) // 2])
                await writer.drain()
                return
            writer.write(status_head + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            if upstream_writer is not None:
                upstream_writer.close()
            writer.close()

    async def _stream(
        self,
        status_head: bytes,
        up_reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        fault: Fault,
    ) -> None:
        """The event stream, chunk by chunk as the engine sends it, faults first."""
        self._streams.add(writer)
        try:
            await self._relay(status_head, up_reader, writer, fault)
        finally:
            self._streams.discard(writer)

    async def _relay(
        self,
        status_head: bytes,
        up_reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        fault: Fault,
    ) -> None:
        writer.write(status_head)
        for line in fault.inject:
            writer.write(_chunk(line))
        await writer.drain()
        if fault.cut_mid_event:
            writer.write(_chunk(b'{"Type":"container","Action":"sta'))
            await writer.drain()
            return
        while True:
            data = await up_reader.read(65536)
            if not data:
                return
            await self.thawed.wait()
            if writer.is_closing():
                return
            writer.write(data)  # already chunked by the engine
            await writer.drain()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _dechunk(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return bytes(out)
        out += await reader.readexactly(size)
        await reader.readexactly(2)

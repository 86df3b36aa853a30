"""What the watcher and samplers need from an engine, and the failures it reports.

Kept apart from the aiodocker adapter so that nothing above the engine imports aiodocker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from exporter.engine.events import Event
from exporter.engine.models import Container, EngineInfo, ListedContainer
from exporter.engine.resources import DiskUsage, Image, ImageSummary, Network, Volume
from exporter.engine.stats import ContainerSizes, ContainerStats, ProcessInfo


class EngineError(Exception):
    """Base of every failure the adapter reports."""


class EngineUnavailable(EngineError):
    """The engine did not answer (connection refused or reset, timeout)."""


class EngineTimeout(EngineUnavailable):
    """No answer within the request's timeout: a hung or overloaded engine."""


class ServerError(EngineError):
    """One request failed while the engine answers: a 5xx, a body cut short or not the
    JSON the API describes. The object concerned keeps its last state; the engine is not
    down for it (the liveness probe says when it is)."""


class MalformedAnswer(ServerError):
    """An answer that is not what the API describes: not JSON, cut short, the wrong shape."""


class NotFound(EngineError):
    """The object is gone (HTTP 404): usually a container removed between event and inspect."""


class RequestFailed(EngineError):
    """The engine refused the request (4xx other than 404)."""


class ReadOnlyViolation(EngineError):
    """Something tried to send a request other than GET through the adapter."""


class Engine(Protocol):
    """What the watcher and samplers need from an engine; tests implement it with a fake."""

    async def ping(self) -> None:
        """`/_ping`: returns once the engine answered OK, else raises an EngineError."""

    async def engine_info(self) -> EngineInfo: ...

    async def list_containers(self) -> dict[str, ListedContainer]: ...

    async def list_health(self, container_ids: Sequence[str]) -> dict[str, ListedContainer]: ...

    async def inspect_container(self, container_id: str) -> Container: ...

    async def container_stats(
        self, container_id: str, engine: EngineInfo | None
    ) -> ContainerStats | None: ...

    def events(self, since_ns: int | None) -> AbstractAsyncContextManager[AsyncIterator[Event]]: ...

    async def list_images(self) -> list[ImageSummary]: ...

    async def inspect_image(self, image_id: str) -> Image: ...

    async def list_network_ids(self) -> list[str]: ...

    async def inspect_network(self, network_id: str) -> Network: ...

    async def list_volumes(self) -> list[Volume]: ...

    async def top(self, container_id: str, ps_args: str) -> tuple[ProcessInfo, ...]: ...

    async def disk_usage(self) -> DiskUsage: ...

    async def container_sizes(self) -> ContainerSizes: ...

    async def close(self) -> None: ...


EngineFactory = Callable[[], Engine]
"""Makes the engine client inside the running loop (the composition root's; tests pass a
fake)."""

"""The Engine adapter: the only module that talks to the Docker API.

It is read-only by construction: every request passes a guard on the HTTP session
that refuses any method but GET before a byte leaves the process. It negotiates the
API version from `/version`, puts a timeout on every request except the event
stream, maps client errors to our own exception tree and returns typed models.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from exporter.models import (
    Container,
    EngineInfo,
    Event,
    container_signature,
    parse_container,
    parse_engine,
    parse_event,
)
from exporter.objects import (
    DiskUsage,
    Image,
    ImageSummary,
    Network,
    Volume,
    parse_disk_usage,
    parse_image,
    parse_image_summary,
    parse_network,
    parse_network_ids,
    parse_top,
    parse_volumes,
)
from exporter.stats import ContainerStats, ProcessInfo, parse_api_stats

DEFAULT_HOST = "unix:///var/run/docker.sock"
MAX_API_VERSION = (1, 51)
"""Newest API we request: parsers accept both sides of the 1.52 removals."""

EVENT_LINE_LIMIT = 4 * 1024 * 1024
"""An event carries every container label; a large label set must not kill the stream."""

DISK_USAGE_TIMEOUT = 300.0
"""`/system/df` walks every volume and layer: minutes on a large host, so its own timeout."""


class EngineError(Exception):
    """Base of every failure the adapter reports."""


class EngineUnavailable(EngineError):
    """The engine did not answer (connection refused, reset, timeout, 5xx)."""


class NotFound(EngineError):
    """The object is gone (HTTP 404): usually a container removed between event and inspect."""


class RequestFailed(EngineError):
    """The engine refused the request (4xx other than 404)."""


class ReadOnlyViolation(EngineError):
    """Something tried to send a request other than GET through the adapter."""


class Engine(Protocol):
    """What the watcher and samplers need from an engine; tests implement it with a fake."""

    async def engine_info(self) -> EngineInfo: ...

    async def list_containers(self) -> dict[str, str]: ...

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

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Where and how to reach the engine."""

    host: str = DEFAULT_HOST
    timeout: float = 10.0
    tls_verify: bool = False
    cert_path: str = ""


def resolve_host(flag: str | None, environ: Mapping[str, str]) -> str:
    """`--docker.host`, else `DOCKER_HOST`, else the default socket; validated here."""
    host = flag or environ.get("DOCKER_HOST") or DEFAULT_HOST
    parts = urlsplit(host)
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError(f"invalid docker host {host!r}: unix:// needs a socket path")
    elif parts.scheme in ("tcp", "http", "https"):
        if not parts.hostname:
            raise ValueError(f"invalid docker host {host!r}: missing host name")
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError as exc:
            raise ValueError(f"invalid docker host {host!r}: {exc}") from None
    else:
        raise ValueError(f"invalid docker host {host!r}: use unix://, tcp://, http:// or https://")
    return host


def _version_tuple(text: str) -> tuple[int, int]:
    major, _, minor = text.lstrip("v").partition(".")
    return int(major or 0), int(minor or 0)


def negotiate(server_max: str, server_min: str) -> str:
    """min(server max, ours), raised to the server's minimum (Docker 29.0 refuses < 1.44)."""
    use = min(_version_tuple(server_max), MAX_API_VERSION) if server_max else MAX_API_VERSION
    if server_min and use < _version_tuple(server_min):
        use = _version_tuple(server_min)
    return f"{use[0]}.{use[1]}"


async def _refuse_writes(
    _session: aiohttp.ClientSession, _ctx: SimpleNamespace, params: aiohttp.TraceRequestStartParams
) -> None:
    if params.method.upper() != "GET":
        raise ReadOnlyViolation(
            f"refused {params.method} {params.url.path}: the exporter only reads"
        )


def read_only_trace() -> aiohttp.TraceConfig:
    """A trace hook that aborts any non-GET request before it is sent."""
    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(_refuse_writes)
    return trace


def _tls_context(config: EngineConfig) -> ssl.SSLContext | None:
    if not config.tls_verify:
        return None
    if not config.cert_path:
        raise ValueError("DOCKER_TLS_VERIFY is set but DOCKER_CERT_PATH is not")
    base = Path(config.cert_path)
    ctx = ssl.create_default_context(cafile=str(base / "ca.pem"))
    ctx.load_cert_chain(str(base / "cert.pem"), str(base / "key.pem"))
    return ctx


def _connector(host: str, tls: ssl.SSLContext | None) -> tuple[aiohttp.BaseConnector, str]:
    parts = urlsplit(host)
    if parts.scheme == "unix":
        return aiohttp.UnixConnector(path=parts.path, limit=0), "unix://localhost"
    if tls is None and parts.scheme == "https":
        tls = ssl.create_default_context()  # aiohttp's own default holds no CAs (sslguard)
    scheme = "https" if tls is not None else "http"
    connector = aiohttp.TCPConnector(limit=0, ssl=tls if tls is not None else False)
    return connector, f"{scheme}://{parts.netloc}"


class DockerEngine:
    """The Engine over aiohttp. Create it inside the running loop; close it on shutdown.

    Plain GETs on one session: aiodocker offered no more than that here (through private
    methods), for 1.7 MiB of RSS, about 4 % of the exporter's.
    """

    def __init__(
        self, config: EngineConfig, trace_configs: Sequence[aiohttp.TraceConfig] = ()
    ) -> None:
        self._config = config
        connector, url = _connector(config.host, _tls_context(config))
        self._session = aiohttp.ClientSession(
            connector=connector,
            trace_configs=[read_only_trace(), *trace_configs],
            timeout=aiohttp.ClientTimeout(total=None, connect=config.timeout),
            read_bufsize=EVENT_LINE_LIMIT // 2,
        )
        self._url = url
        self._api_version = ""
        self._lock = asyncio.Lock()

    @property
    def api_version(self) -> str:
        return self._api_version

    async def close(self) -> None:
        await self._session.close()

    async def _get(
        self,
        path: str,
        *,
        versioned: bool,
        params: Mapping[str, str] | None,
        read_timeout: aiohttp.ClientTimeout | None = None,
    ) -> aiohttp.ClientResponse:
        """GET and check the status: a 4xx/5xx becomes our error, its Engine message kept."""
        prefix = f"/v{self._api_version}" if versioned else ""
        response = await self._session.get(
            f"{self._url}{prefix}/{path}",
            params=dict(params) if params else None,
            timeout=read_timeout or self._session.timeout,
        )
        if response.status < 400:
            return response
        try:
            body = await response.read()
        finally:
            response.release()
        raise _status_error(response.status, _engine_message(body))

    async def _call(
        self,
        path: str,
        *,
        versioned: bool = True,
        params: Mapping[str, str] | None = None,
        time_limit: float | None = None,
    ) -> Any:
        """One bounded GET; the only place besides `events` where a request starts."""
        if versioned:
            await self._ensure_version()
        timeout = time_limit or self._config.timeout
        try:
            async with asyncio.timeout(timeout):
                response = await self._get(path, versioned=versioned, params=params)
                try:
                    data = await response.read()
                finally:
                    response.release()
            return json.loads(data)
        except TimeoutError as exc:
            raise EngineUnavailable(f"GET /{path}: no answer within {timeout}s") from exc
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise EngineUnavailable(f"GET /{path}: {exc}") from exc

    async def _ensure_version(self) -> None:
        if self._api_version:
            return
        async with self._lock:
            if not self._api_version:
                version = await self._call("version", versioned=False)
                self._api_version = negotiate(
                    str(version.get("ApiVersion", "")), str(version.get("MinAPIVersion", ""))
                )

    async def engine_info(self) -> EngineInfo:
        version = await self._call("version", versioned=False)
        if not self._api_version:
            await self._ensure_version()
        info = await self._call("info")
        return parse_engine(info, version, self._api_version)

    async def list_containers(self) -> dict[str, str]:
        """Every container (running or not) by ID, with its list signature."""
        listing = await self._call("containers/json", params={"all": "1"})
        return {
            str(item["Id"]): container_signature(item)
            for item in listing
            if isinstance(item, dict) and "Id" in item
        }

    async def inspect_container(self, container_id: str) -> Container:
        return parse_container(await self._call(f"containers/{container_id}/json"))

    async def container_stats(
        self, container_id: str, engine: EngineInfo | None
    ) -> ContainerStats | None:
        """One sample; `one-shot` (API >= 1.41) skips the priming tick. None when stopped."""
        params = {"stream": "0"}
        if _version_tuple(self._api_version or "1.41") >= (1, 41):
            params["one-shot"] = "1"
        payload = await self._call(f"containers/{container_id}/stats", params=params)
        if not isinstance(payload, dict):
            return None
        if engine is None:
            return parse_api_stats(payload, cgroup_version="")
        return parse_api_stats(
            payload,
            cgroup_version=engine.cgroup_version if engine.cgroup_version in ("1", "2") else "",
            podman=engine.podman,
            mem_total=engine.memory_bytes or None,
        )

    async def list_images(self) -> list[ImageSummary]:
        """`docker images`: top-level images (dangling ones included), no intermediates."""
        listing = await self._call("images/json")
        rows = listing if isinstance(listing, list) else []
        return [s for r in rows if isinstance(r, dict) and (s := parse_image_summary(r))]

    async def inspect_image(self, image_id: str) -> Image:
        """`docker image inspect` plus `docker history`: two GETs, once per image ID."""
        raw = await self._call(f"images/{image_id}/json")
        history = await self._call(f"images/{image_id}/history")
        return parse_image(raw if isinstance(raw, dict) else {}, history)

    async def list_network_ids(self) -> list[str]:
        return parse_network_ids(await self._call("networks"))

    async def inspect_network(self, network_id: str) -> Network:
        raw = await self._call(f"networks/{network_id}")
        return parse_network(raw if isinstance(raw, dict) else {})

    async def list_volumes(self) -> list[Volume]:
        raw = await self._call("volumes")
        return parse_volumes(raw if isinstance(raw, dict) else {})

    async def top(self, container_id: str, ps_args: str) -> tuple[ProcessInfo, ...]:
        """`docker top`. Every successful call logs a `top` event: callers must ration it."""
        params = {"ps_args": ps_args} if ps_args else None
        raw = await self._call(f"containers/{container_id}/top", params=params)
        return parse_top(raw if isinstance(raw, dict) else {})

    async def disk_usage(self) -> DiskUsage:
        """`/system/df`, volumes only where the API allows it (1.42+); `time` is left 0."""
        await self._ensure_version()
        params = {"type": "volume"} if _version_tuple(self._api_version) >= (1, 42) else None
        raw = await self._call("system/df", params=params, time_limit=DISK_USAGE_TIMEOUT)
        return parse_disk_usage(raw if isinstance(raw, dict) else {}, 0.0)

    @asynccontextmanager
    async def events(self, since_ns: int | None) -> AsyncIterator[AsyncIterator[Event]]:
        """Open `/events`; entering returns once the headers arrived, so a list can follow."""
        await self._ensure_version()
        params: dict[str, Any] = {}
        if since_ns is not None:
            params["since"] = f"{since_ns // 1_000_000_000}.{since_ns % 1_000_000_000:09d}"
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None, connect=self._config.timeout)
        try:
            async with asyncio.timeout(self._config.timeout):
                response = await self._get(
                    "events", versioned=True, params=params, read_timeout=timeout
                )
        except TimeoutError as exc:
            raise EngineUnavailable("GET /events: no headers within the timeout") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise EngineUnavailable(f"GET /events: {exc}") from exc
        try:
            yield _event_lines(response)
        finally:
            response.close()


async def _event_lines(response: aiohttp.ClientResponse) -> AsyncIterator[Event]:
    try:
        async for line in response.content:
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError:
                continue
            event = parse_event(raw) if isinstance(raw, dict) else None
            if event is not None:
                yield event
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise EngineUnavailable(f"event stream broke: {exc}") from exc


def _engine_message(body: bytes) -> str:
    """The Engine's `{"message": ...}`, else the body's first line (a proxy's HTML, say)."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        return str(doc["message"])
    text = body.decode(errors="replace").strip()
    return text.splitlines()[0][:200] if text else "(empty body)"


def _status_error(status: int, message: str) -> EngineError:
    if status == 404:
        return NotFound(message)
    if status >= 500:
        return EngineUnavailable(message)
    return RequestFailed(f"HTTP {status}: {message}")


def engine_config_from_env(
    host_flag: str | None, timeout: float, environ: Mapping[str, str] = os.environ
) -> EngineConfig:
    """The Docker CLI's environment contract: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH."""
    return EngineConfig(
        host=resolve_host(host_flag, environ),
        timeout=timeout,
        tls_verify=environ.get("DOCKER_TLS_VERIFY", "") not in ("", "0"),
        cert_path=environ.get("DOCKER_CERT_PATH", ""),
    )


EngineFactory = Callable[[], Engine]

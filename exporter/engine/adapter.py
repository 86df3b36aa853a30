"""The Engine adapter: the only module that talks to the Docker API.

It is built on aiodocker's public API (`aiodocker.Docker` and its `containers`, `images`,
`networks`, `volumes` and `system` collections) over an aiohttp session of our own, passed
in through aiodocker's constructor, so that every request, aiodocker's or ours:
- passes a trace hook that refuses any method but GET before a byte leaves the process;
- goes to the API version negotiated from `/version` (aiodocker's "auto" takes the daemon's
  newest, which our parsers were never written for);
- has a timeout (aiodocker has none by default), except the event stream, which is idle
  for as long as nothing happens;
- draws on a connection pool that stats requests cannot drain (aiodocker's holds 100).
Failures become our own exception tree and answers become typed models. The five calls
aiodocker lacks or gets wrong are plain GETs through the same session (`DockerEngine._get`),
each with its reason where it is made.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from types import MappingProxyType, SimpleNamespace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiodocker
import aiohttp
from aiodocker.containers import DockerContainer
from aiodocker.networks import DockerNetwork

from exporter.engine.api import (
    EngineError,
    EngineTimeout,
    EngineUnavailable,
    MalformedAnswer,
    NotFound,
    ReadOnlyViolation,
    RequestFailed,
    ServerError,
)
from exporter.engine.config import EngineConfig, negotiate, tls_context, version_tuple
from exporter.engine.events import Event, parse_event
from exporter.engine.fields import str_field
from exporter.engine.models import (
    Container,
    EngineInfo,
    ListedContainer,
    parse_container,
    parse_engine,
    parse_listed,
)
from exporter.engine.resources import (
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
from exporter.engine.stats import (
    ContainerSizes,
    ContainerStats,
    ProcessInfo,
    parse_api_stats,
    parse_container_sizes,
)
from exporter.engine.telemetry import Endpoint, ErrorKind, RequestMeter

EVENT_LINE_LIMIT = 4 * 1024 * 1024
"""An event carries every container label; a large label set must not kill the stream.
A longer line is skipped (and counted), never buffered whole: the stream goes on."""

PARSE_ERRORS = (TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError)
"""What a parser could still raise on an answer of the wrong shape (the fuzz tests look
for these and each one found is fixed in the parser); the adapter turns any of them into
a ServerError, so no half-parsed object gets past it."""

DISK_USAGE_TIMEOUT = 300.0
"""`/system/df` walks every volume and layer: minutes on a large host, so its own timeout."""

SUMMARY_KEYS = (
    "Id", "Names", "Image", "ImageID", "ImageManifestDescriptor", "Command", "Created",
    "Ports", "SizeRw", "SizeRootFs", "Labels", "State", "Status", "Health", "HostConfig",
    "NetworkSettings", "Mounts",
)  # fmt: skip
"""Every top-level key of the Engine's ContainerSummary (API 1.41 to 1.55; `Health` from
1.52). aiodocker hands list rows back as `DockerContainer`, which answers item access
only; the row is rebuilt from these keys for `parse_listed`."""

CONNECT_FAILED = 900
"""The status aiodocker gives a connection it could not make (`DockerError(900, ...)`)."""

T = TypeVar("T")


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


def _connector(
    host: str, tls: ssl.SSLContext | None, limit: int = 0
) -> tuple[aiohttp.BaseConnector, str]:
    """The connector and the base URL aiodocker composes request URLs from (a connector
    of our own needs a composable URL: `unix://localhost` for a socket)."""
    parts = urlsplit(host)
    if parts.scheme == "unix":
        return aiohttp.UnixConnector(path=parts.path, limit=limit), "unix://localhost"
    if tls is None and parts.scheme == "https":
        tls = ssl.create_default_context()  # aiohttp's own default holds no CAs (sslguard)
    scheme = "https" if tls is not None else "http"
    connector = aiohttp.TCPConnector(limit=limit, ssl=tls if tls is not None else False)
    return connector, f"{scheme}://{parts.netloc}"


class DockerEngine:
    """The Engine over aiodocker. Create it inside the running loop; close it on shutdown.

    The aiodocker client is made on first use, once `/version` has told which API version
    to speak; until then only that unversioned GET is sent.
    """

    def __init__(
        self,
        config: EngineConfig,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        meter: RequestMeter | None = None,
    ) -> None:
        self._config = config
        self._meter = meter or RequestMeter()
        self._connector, self._url = _connector(
            config.host, tls_context(config), config.connections
        )
        self._timeout = aiohttp.ClientTimeout(total=None, connect=config.timeout)
        self._session = aiohttp.ClientSession(
            connector=self._connector,
            trace_configs=[read_only_trace(), *trace_configs],
            timeout=self._timeout,
            read_bufsize=EVENT_LINE_LIMIT // 2,
        )
        self._docker: aiodocker.Docker | None = None
        self._api_version = ""
        self._lock = asyncio.Lock()

    @property
    def api_version(self) -> str:
        return self._api_version

    @property
    def meter(self) -> RequestMeter:
        return self._meter

    @contextmanager
    def _metered(self, endpoint: Endpoint) -> Iterator[None]:
        """Time one request of an endpoint class, and count how it failed; a request
        cancelled from outside (shutdown, the liveness guard) is not counted."""
        started = time.monotonic()
        try:
            yield
        except NotFound:
            self._meter.observe(endpoint, time.monotonic() - started)
            raise
        except EngineError as exc:
            self._meter.observe(endpoint, time.monotonic() - started)
            self._meter.error(endpoint, _error_kind(exc))
            raise
        self._meter.observe(endpoint, time.monotonic() - started)

    async def close(self) -> None:
        if self._docker is not None:
            await self._docker.close()  # its events helper only: session and pool are ours
        await self._session.close()

    async def _client(self) -> aiodocker.Docker:
        """The aiodocker client, pinned to the negotiated version; negotiates on first use."""
        if self._docker is not None:
            return self._docker
        async with self._lock:
            if self._docker is None:
                # A direct GET: aiodocker's `version()` is versioned, and a version below the
                # engine's minimum is refused (Docker 29.0-29.2 refuse < 1.44), so the one
                # request that tells the version must carry none.
                version = await self._get_json("version", "info", versioned=False)
                if not isinstance(version, dict):
                    raise MalformedAnswer(f"GET /version: not a JSON object: {version!r:.80}")
                self._api_version = negotiate(
                    str(version.get("ApiVersion", "")), str(version.get("MinAPIVersion", ""))
                )
                self._docker = aiodocker.Docker(
                    url=self._url,
                    connector=self._connector,
                    session=self._session,
                    timeout=self._timeout,
                    api_version=f"v{self._api_version}",
                )
        return self._docker

    async def _call(
        self,
        what: str,
        endpoint: Endpoint,
        request: Callable[[aiodocker.Docker], Awaitable[T]],
        *,
        time_limit: float | None = None,
    ) -> T:
        """One aiodocker call, bounded in time, metered, its failures mapped to our errors."""
        timeout = time_limit or self._config.timeout
        with self._metered(endpoint):
            try:
                async with asyncio.timeout(timeout):
                    return await request(await self._client())
            except TimeoutError as exc:
                raise EngineTimeout(f"GET /{what}: no answer within {timeout}s") from exc
            except aiodocker.DockerError as exc:
                raise self._docker_error(what, exc) from exc
            # aiodocker lets these through: a body cut short (ClientPayloadError) or not
            # JSON (ValueError), an error body without "message" (KeyError), an answer
            # without a Content-Type (TypeError): one bad answer, not a dead engine.
            except (
                aiohttp.ClientPayloadError,
                ValueError,
                KeyError,
                TypeError,
                RecursionError,
            ) as exc:
                raise MalformedAnswer(f"GET /{what}: malformed answer: {exc!r:.200}") from exc
            except (aiohttp.ClientError, OSError) as exc:
                raise EngineUnavailable(f"GET /{what}: {exc!r}") from exc

    def _parsed(self, what: str, endpoint: Endpoint, parse: Callable[[], T]) -> T:
        """A parser's result; an answer of a shape no parser expects is a ServerError."""
        try:
            return parse()
        except PARSE_ERRORS as exc:
            self._meter.error(endpoint, "malformed")
            raise MalformedAnswer(f"GET /{what}: unexpected answer: {exc!r:.200}") from exc

    def _docker_error(self, what: str, exc: aiodocker.DockerError) -> EngineError:
        if exc.status == CONNECT_FAILED:
            cause = exc.__context__ or exc.message
            return EngineUnavailable(f"GET /{what}: cannot connect to {self._config.host}: {cause}")
        # aiodocker decodes the JSON only for a bare `application/json`; with a charset
        # (aiohttp servers, some proxies) the message is the raw body.
        return _status_error(exc.status, _engine_message(str(exc.message).encode()))

    async def _get(
        self,
        path: str,
        *,
        versioned: bool,
        params: Mapping[str, str] | None,
        client_timeout: aiohttp.ClientTimeout | None = None,
    ) -> aiohttp.ClientResponse:
        """The adapter's own GET, for what aiodocker lacks; a 4xx/5xx becomes our error."""
        prefix = f"/v{self._api_version}" if versioned else ""
        response = await self._session.get(
            f"{self._url}{prefix}/{path}",
            params=dict(params) if params else None,
            timeout=client_timeout or self._timeout,
        )
        if response.status < 400:
            return response
        try:
            body = await response.read()
        finally:
            response.release()
        raise _status_error(response.status, _engine_message(body))

    async def _get_body(
        self,
        path: str,
        endpoint: Endpoint,
        *,
        versioned: bool = True,
        params: Mapping[str, str] | None = None,
        time_limit: float | None = None,
    ) -> bytes:
        """One bounded, metered direct GET; the whole body."""
        if versioned:
            await self._client()
        timeout = time_limit or self._config.timeout
        with self._metered(endpoint):
            try:
                async with asyncio.timeout(timeout):
                    response = await self._get(path, versioned=versioned, params=params)
                    try:
                        return await response.read()
                    finally:
                        response.release()
            except TimeoutError as exc:
                raise EngineTimeout(f"GET /{path}: no answer within {timeout}s") from exc
            except aiohttp.ClientPayloadError as exc:
                raise MalformedAnswer(f"GET /{path}: body cut short: {exc!r:.200}") from exc
            except (aiohttp.ClientError, OSError) as exc:
                raise EngineUnavailable(f"GET /{path}: {exc!r}") from exc

    async def _get_json(
        self,
        path: str,
        endpoint: Endpoint,
        *,
        versioned: bool = True,
        params: Mapping[str, str] | None = None,
        time_limit: float | None = None,
    ) -> Any:
        """One bounded direct GET of a JSON document; a body that is not JSON is a
        ServerError (a proxy's HTML page, half a document)."""
        data = await self._get_body(
            path, endpoint, versioned=versioned, params=params, time_limit=time_limit
        )
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:
            self._meter.error(endpoint, "malformed")
            raise MalformedAnswer(f"GET /{path}: not JSON: {exc}") from exc

    async def _ensure_version(self) -> None:
        await self._client()

    async def ping(self) -> None:
        """`/_ping`: the cheapest request there is (no daemon lock, a two-byte body); an
        engine that answers it but nothing else is busy, not hung."""
        body = await self._get_body("_ping", "ping", versioned=False)
        if body.strip() != b"OK":
            self._meter.error("ping", "malformed")
            raise MalformedAnswer(f"GET /_ping: answered {body[:40]!r}, not OK")

    async def engine_info(self) -> EngineInfo:
        async def both(docker: aiodocker.Docker) -> tuple[Any, Any]:
            return await docker.version(), await docker.system.info()

        version, info = await self._call("version, /info", "info", both)
        return self._parsed(
            "info",
            "info",
            lambda: parse_engine(_object(info), _object(version), self._api_version),
        )

    async def list_containers(self) -> dict[str, ListedContainer]:
        """Every container (running or not) by ID: its list signature, and its health and
        failing streak where the list has them (API 1.52+)."""
        listing = await self._call("containers/json", "list", lambda d: d.containers.list(all=True))
        return self._parsed(
            "containers/json",
            "list",
            lambda: {row.id: parse_listed(_summary(row)) for row in listing},
        )

    async def list_health(self, container_ids: Sequence[str]) -> dict[str, ListedContainer]:
        """The list rows of these containers only (an `id` filter: the engine skips the
        rest before building any row), for their health (API 1.52+)."""
        await self._ensure_version()
        params = {"all": "1", "filters": json.dumps({"id": sorted(container_ids)})}
        raw = await self._get_json("containers/json", "list", params=params)
        rows = raw if isinstance(raw, list) else []
        return self._parsed(
            "containers/json",
            "list",
            lambda: {
                str_field(r.get("Id")): parse_listed(r)
                for r in rows
                if isinstance(r, dict) and str_field(r.get("Id"))
            },
        )

    async def inspect_container(self, container_id: str) -> Container:
        what = f"containers/{container_id}/json"
        raw = await self._call(
            what, "inspect", lambda d: d.containers.container(container_id).show()
        )
        container = self._parsed(what, "inspect", lambda: parse_container(_object(raw)))
        if not container.id:
            self._meter.error("inspect", "malformed")
            raise MalformedAnswer(f"GET /{what}: an answer without an Id")
        labels = self._capped_labels(container.labels)
        return container if labels is container.labels else replace(container, labels=labels)

    def _capped_labels(self, labels: Mapping[str, str]) -> Mapping[str, str]:
        """The labels within `max_labels` and `max_label_length`; the same object if so."""
        limit, length = self._config.max_labels, self._config.max_label_length
        long_values = any(len(v) > length for v in labels.values())
        if len(labels) <= limit and not long_values:
            return labels
        if len(labels) > limit:
            self._meter.truncate("labels")
        if long_values:
            self._meter.truncate("label_values")
        kept = sorted(labels)[:limit]
        return MappingProxyType({k: labels[k][:length] for k in kept})

    async def container_stats(
        self, container_id: str, engine: EngineInfo | None
    ) -> ContainerStats | None:
        """One sample; `one-shot` (API >= 1.41) skips the priming tick. None when stopped."""
        # A direct GET: aiodocker 0.27's `stats(stream=False)` cannot ask for `one-shot`
        # (aio-libs/aiodocker PR #1054 is open), so each sample would wait one more Engine
        # collection tick, a second or two on Docker 20.10.
        await self._ensure_version()
        params = {"stream": "0"}
        if version_tuple(self._api_version) >= (1, 41):
            params["one-shot"] = "1"
        what = f"containers/{container_id}/stats"
        payload = await self._get_json(what, "stats", params=params)
        if not isinstance(payload, dict):
            return None
        if engine is None:
            return self._parsed(what, "stats", lambda: parse_api_stats(payload, cgroup_version=""))
        version = engine.cgroup_version if engine.cgroup_version in ("1", "2") else ""
        return self._parsed(
            what,
            "stats",
            lambda: parse_api_stats(
                payload,
                cgroup_version=version,
                podman=engine.podman,
                mem_total=engine.memory_bytes or None,
            ),
        )

    async def list_images(self) -> list[ImageSummary]:
        """`docker images`: top-level images (dangling ones included), no intermediates."""
        listing = await self._call("images/json", "images", lambda d: d.images.list())
        rows = listing if isinstance(listing, list) else []
        summaries = self._parsed(
            "images/json",
            "images",
            lambda: [s for r in rows if isinstance(r, dict) and (s := parse_image_summary(r))],
        )
        limit = self._config.max_image_tags
        for i, summary in enumerate(summaries):
            if len(summary.repo_tags) > limit or len(summary.repo_digests) > limit:
                self._meter.truncate("image_tags")
                summaries[i] = replace(
                    summary,
                    repo_tags=summary.repo_tags[:limit],
                    repo_digests=summary.repo_digests[:limit],
                )
        return summaries

    async def inspect_image(self, image_id: str) -> Image:
        """`docker image inspect` plus `docker history`: two GETs, once per image ID."""
        what = f"images/{image_id}/json"
        raw = await self._call(what, "images", lambda d: d.images.inspect(image_id))
        history = await self._call(
            f"images/{image_id}/history", "images", lambda d: d.images.history(image_id)
        )
        image = self._parsed(what, "images", lambda: parse_image(_object(raw), history))
        if not image.id:
            self._meter.error("images", "malformed")
            raise MalformedAnswer(f"GET /{what}: an answer without an Id")
        return image

    async def list_network_ids(self) -> list[str]:
        raw = await self._call("networks", "networks", lambda d: d.networks.list())
        return self._parsed("networks", "networks", lambda: parse_network_ids(raw))

    async def inspect_network(self, network_id: str) -> Network:
        # DockerNetwork(...).show() is one GET; `networks.get(id)` would add another.
        what = f"networks/{network_id}"
        raw = await self._call(what, "networks", lambda d: DockerNetwork(d, network_id).show())
        network = self._parsed(what, "networks", lambda: parse_network(_object(raw)))
        if not network.id:
            self._meter.error("networks", "malformed")
            raise MalformedAnswer(f"GET /{what}: an answer without an Id")
        return network

    async def list_volumes(self) -> list[Volume]:
        raw = await self._call("volumes", "volumes", lambda d: d.volumes.list())
        return self._parsed("volumes", "volumes", lambda: parse_volumes(_object(raw)))

    async def top(self, container_id: str, ps_args: str) -> tuple[ProcessInfo, ...]:
        """`docker top`. Every successful call logs a `top` event: callers must ration it."""
        # A direct GET: Podman 4.3 answers `top` chunked with no Content-Type, which
        # aiodocker's `top()` turns into "" (leaving the body unread on the connection).
        await self._ensure_version()
        what = f"containers/{container_id}/top"
        params = {"ps_args": ps_args} if ps_args else None
        raw = await self._get_json(what, "top", params=params)
        return self._parsed(what, "top", lambda: parse_top(_object(raw)))

    async def disk_usage(self) -> DiskUsage:
        """`/system/df`, volumes only where the API allows it (1.42+); `time` is left 0."""
        # A direct GET: aiodocker has no `/system/df` call at all, and `type=` (1.42+)
        # spares the engine sizing every layer and build cache entry for volume sizes.
        # From 1.52 the volumes are `VolumeUsage.Items`, listed with `verbose=1` (the
        # legacy `Volumes` is then left out).
        await self._ensure_version()
        version = version_tuple(self._api_version)
        params = {"type": "volume"} if version >= (1, 42) else None
        if params is not None and version >= (1, 52):
            params["verbose"] = "1"
        raw = await self._get_json("system/df", "df", params=params, time_limit=DISK_USAGE_TIMEOUT)
        return self._parsed("system/df", "df", lambda: parse_disk_usage(_object(raw), 0.0))

    async def container_sizes(self) -> ContainerSizes:
        """`docker ps -a --size`: the engine walks every container's writable layer, so the
        opt-in container_sizes sampler calls it rarely, with /system/df's long timeout."""
        raw = await self._get_json(
            "containers/json",
            "df",
            params={"all": "1", "size": "1"},
            time_limit=DISK_USAGE_TIMEOUT,
        )
        return self._parsed("containers/json", "df", lambda: parse_container_sizes(raw, 0.0))

    @asynccontextmanager
    async def events(self, since_ns: int | None) -> AsyncIterator[AsyncIterator[Event]]:
        """Open `/events`; entering returns once the headers arrived, so a list can follow.

        A direct GET: aiodocker's `events` helper streams from a background task into an
        unbounded queue, so nobody learns when the stream is open (list after subscribe
        cannot be ordered); it turns `time` into a local naive datetime; one line that is
        not JSON ends it; and after an end it never streams again until `stop()`.
        """
        await self._ensure_version()
        params: dict[str, str] = {}
        if since_ns is not None:
            params["since"] = f"{since_ns // 1_000_000_000}.{since_ns % 1_000_000_000:09d}"
        # No read timeout: an idle engine sends no bytes on this stream, for hours maybe.
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None, connect=self._config.timeout)
        with self._metered("events"):
            try:
                async with asyncio.timeout(self._config.timeout):
                    response = await self._get(
                        "events", versioned=True, params=params, client_timeout=timeout
                    )
            except TimeoutError as exc:
                raise EngineTimeout("GET /events: no headers within the timeout") from exc
            except (aiohttp.ClientError, OSError) as exc:
                raise EngineUnavailable(f"GET /events: {exc!r}") from exc
        try:
            yield _event_lines(response, self._meter)
        finally:
            response.close()


def _summary(row: DockerContainer) -> dict[str, Any]:
    return {key: row[key] for key in SUMMARY_KEYS if key in row}


def _object(raw: object) -> dict[str, Any]:
    """A JSON object as the API describes; anything else is a malformed answer."""
    if not isinstance(raw, dict):
        raise TypeError(f"not a JSON object: {type(raw).__name__}")
    return raw


def _error_kind(exc: EngineError) -> ErrorKind:
    """The `ERROR_KINDS` entry for a failure (a 404 is an answer, never counted)."""
    if isinstance(exc, RequestFailed):
        return "refused"
    if isinstance(exc, MalformedAnswer):
        return "malformed"
    if isinstance(exc, ServerError):
        return "server_error"
    if isinstance(exc, EngineTimeout):
        return "timeout"
    return "connect"


async def split_lines(
    chunks: AsyncIterator[bytes], limit: int, on_oversized: Callable[[], None]
) -> AsyncIterator[bytes]:
    """Newline-separated lines of a byte stream, at most `limit` bytes held at once: a
    longer line is dropped as it streams by (`on_oversized` once per line), the stream goes
    on. A last line without its newline (a stream cut mid-event) is yielded too: its
    parser rejects it."""
    pending = bytearray()
    skipping = False
    async for chunk in chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                if not skipping:
                    pending += chunk[start:]
                    if len(pending) > limit:
                        pending.clear()
                        skipping = True
                        on_oversized()
                break
            if skipping:
                skipping = False
            else:
                pending += chunk[start:end]
                if len(pending) > limit:
                    on_oversized()
                else:
                    yield bytes(pending)
                pending.clear()
            start = end + 1
    if pending and not skipping:
        yield bytes(pending)


async def _event_lines(
    response: aiohttp.ClientResponse, meter: RequestMeter
) -> AsyncIterator[Event]:
    lines = split_lines(
        response.content.iter_any(), EVENT_LINE_LIMIT, lambda: meter.discard("oversized")
    )
    try:
        async for line in lines:
            if not line.strip():
                continue
            event = parse_event_line(line)
            if event is None:
                meter.discard("malformed")
            else:
                yield event
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise EngineUnavailable(f"event stream broke: {exc!r}") from exc


def parse_event_line(line: bytes) -> Event | None:
    """One `/events` line to an Event; None for anything that is not a usable event."""
    try:
        raw = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: a nesting bomb (fuzzing)
        return None
    if not isinstance(raw, dict):
        return None
    try:
        return parse_event(raw)
    except PARSE_ERRORS:
        return None


def _first_line(text: str) -> str:
    """A message fit for a log line: a proxy's HTML page keeps only its first line."""
    text = text.strip()
    return text.splitlines()[0][:200] if text else "(empty body)"


def _engine_message(body: bytes) -> str:
    """The Engine's `{"message": ...}`, else the body's first line (a proxy's HTML, say)."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        return str(doc["message"])
    return _first_line(body.decode(errors="replace"))


def _status_error(status: int, message: str) -> EngineError:
    """404: gone; other 4xx: refused; 5xx: this request failed (the engine answered)."""
    if status == 404:
        return NotFound(message)
    if status >= 500:
        return ServerError(message)
    return RequestFailed(f"HTTP {status}: {message}")

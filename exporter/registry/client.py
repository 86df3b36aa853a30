"""HTTP to one registry: its own session, one request at a time, the auth flows.

The only client session besides the engine adapter's. Every request goes through one
lock, so a registry never sees two requests of ours in flight (the token server's
included), and each has a total timeout, so a hanging registry costs one timeout per
request and nothing else. Redirects are not followed: a redirect to another host would
carry the Authorization header there. Answers are read up to MAX_BODY bytes.

Failures become RegistryError with a message built here from the failure's kind, never
from headers or bodies, so no credential can reach a log line or /inventory.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

import aiohttp

from exporter import __version__
from exporter.clock import Clock
from exporter.options import option, parse_duration
from exporter.registry.auth import (
    AuthError,
    Challenge,
    Credentials,
    Token,
    basic_authorization,
    parse_challenges,
    parse_token,
    token_request,
)
from exporter.registry.config import RegistryTarget

log = logging.getLogger(__name__)

TIMEOUT = option(
    "--registry.timeout",
    "10s",
    parse_duration,
    "Timeout of each request to a registry (or its token server).",
    group="registry",
)

MAX_BODY = 8 * 1024 * 1024
"""A catalog page of 1000 long names is ~100 KiB; more is not a registry's answer."""
USER_AGENT = f"docker-exporter/{__version__}"


class RegistryError(Exception):
    """No usable answer. `kind` is the requests_total code: `timeout` or `error`."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Lower-cased names; only those the poller reads (secret-free ones)."""
    links: tuple[str, ...] = ()
    challenges: tuple[str, ...] = ()
    """WWW-Authenticate values (realm, service, scope: no secret)."""


KEPT_HEADERS = ("content-type", "docker-content-digest", "content-length")


def describe(exc: BaseException) -> str:
    """A short reason for a transport failure, from its kind (never its request)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert_error = exc.certificate_error
        reason = getattr(cert_error, "verify_message", "") or type(cert_error).__name__
        return f"TLS certificate not trusted: {reason}"
    if isinstance(exc, aiohttp.ClientConnectorSSLError | ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect: {exc.os_error.strerror or type(exc.os_error).__name__}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the registry closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "truncated or malformed answer"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "not an HTTP answer"
    return f"request failed ({type(exc).__name__})"


class RegistryClient:
    """Requests to one registry, authenticated as its challenges ask. Create it inside
    the running loop; close it on shutdown."""

    def __init__(
        self, target: RegistryTarget, clock: Clock, *, timeout: float = TIMEOUT.value
    ) -> None:
        self.target = target
        self._clock = clock
        self._creds: Credentials | None = target.credentials
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._timeout_seconds = timeout
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()
        self._basic = False
        self._bearer: Challenge | None = None
        self._tokens: dict[str, Token] = {}
        self.requests: dict[str, int] = {}
        """Answers by status code, and `timeout` / `error`, since the start."""
        self.certificate_expiry: float | None = None

    @property
    def auth(self) -> str:
        """The scheme the registry asked for: anonymous, basic or bearer."""
        return "bearer" if self._bearer else "basic" if self._basic else "anonymous"

    def _session_(self) -> aiohttp.ClientSession:
        if self._session is None:
            tls = self.target.tls
            connector = aiohttp.TCPConnector(ssl=tls if tls is not None else False)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _count(self, code: str) -> None:
        self.requests[code] = self.requests.get(code, 0) + 1

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        form: Sequence[tuple[str, str]] = (),
    ) -> Response:
        """One request under the lock; its status counted; the body read in full."""
        async with self._lock:
            try:
                async with self._session_().request(
                    method,
                    url,
                    params=list(params),
                    headers=dict(headers or {}),
                    data=list(form) if form else None,
                    allow_redirects=False,
                ) as resp:
                    body = await self._read(resp) if method != "HEAD" else b""
                    kept = {k: resp.headers[k] for k in KEPT_HEADERS if k in resp.headers}
                    answer = Response(
                        resp.status,
                        body,
                        MappingProxyType(kept),
                        tuple(resp.headers.getall("Link", ())),
                        tuple(resp.headers.getall("WWW-Authenticate", ())),
                    )
            except TimeoutError:
                self._count("timeout")
                raise RegistryError(
                    f"no answer within {self._timeout_seconds:g}s", "timeout"
                ) from None
            except (aiohttp.ClientError, ssl.SSLError, OSError, ValueError) as exc:
                self._count("error")
                raise RegistryError(describe(exc)) from None
        self._count(str(answer.status))
        return answer

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > MAX_BODY:
                raise RegistryError(f"answer larger than {MAX_BODY} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def read_certificate(self) -> float | None:
        """The expiry of the certificate the registry presents, when TLS verified it, from
        a handshake of its own (under the lock, like a request): aiohttp hands a small
        answer's connection back to its pool before the caller could look at it."""
        if self.target.tls is None or not self.target.verified:
            return None
        parts = urlsplit(self.target.url)
        async with self._lock:
            try:
                async with asyncio.timeout(self._timeout_seconds):
                    _reader, writer = await asyncio.open_connection(
                        parts.hostname, parts.port or 443, ssl=self.target.tls
                    )
            except (TimeoutError, OSError, ssl.SSLError):
                return self.certificate_expiry  # the request itself reports the failure
            try:
                ssl_object = writer.get_extra_info("ssl_object")
                cert = ssl_object.getpeercert() if ssl_object is not None else None
            finally:
                writer.close()
                with suppress(OSError, ssl.SSLError):
                    await writer.wait_closed()
        if cert and isinstance(cert.get("notAfter"), str):
            self.certificate_expiry = float(ssl.cert_time_to_seconds(cert["notAfter"]))
        return self.certificate_expiry

    async def get(
        self,
        path: str,
        *,
        scope: str = "",
        params: Sequence[tuple[str, str]] = (),
        accept: Sequence[str] = (),
        method: str = "GET",
    ) -> Response:
        """`path` on the registry, authenticated: a 401 with a Bearer challenge fetches a
        token for its scope and retries once; with Basic, retries once with credentials.
        Tokens are kept per `scope` (what the request needs: `registry:catalog:*`,
        `repository:NAME:pull`) until they expire, and fetched before the request once the
        registry is known to want them, so that a crawl costs no 401 per repository."""
        url = self.target.url + path
        headers: dict[str, str] = {}
        if accept:
            headers["Accept"] = ", ".join(accept)
        auth = await self._authorization(scope)
        if auth:
            headers["Authorization"] = auth
        resp = await self._send(method, url, params=params, headers=headers)
        if resp.status != 401:
            return resp
        challenges = _parsed_challenges(resp.challenges)
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if bearer is not None:
            self._bearer = bearer
            token = await self._fetch_token(bearer)
            self._tokens[scope] = token
            headers["Authorization"] = f"Bearer {token.value}"
        elif basic is not None and self._creds is not None and not self._basic:
            self._basic = True
            headers["Authorization"] = basic_authorization(self._creds)
        else:
            return resp
        return await self._send(method, url, params=params, headers=headers)

    async def _authorization(self, scope: str) -> str:
        if self._bearer is not None:
            token = self._tokens.get(scope)
            if token is None or token.expires_at <= self._clock.monotonic():
                params = dict(self._bearer.params)
                params.pop("error", None)
                if scope:
                    params["scope"] = scope
                else:
                    params.pop("scope", None)
                token = await self._fetch_token(Challenge("bearer", params))
                self._tokens[scope] = token
            return f"Bearer {token.value}"
        if self._basic and self._creds is not None:
            return basic_authorization(self._creds)
        return ""

    async def _fetch_token(self, challenge: Challenge) -> Token:
        try:
            request = token_request(challenge, self._creds)
        except AuthError as exc:
            raise RegistryError(str(exc)) from None
        headers = {"Authorization": request.authorization} if request.authorization else {}
        resp = await self._send(
            request.method, request.url, params=request.params, headers=headers, form=request.form
        )
        if resp.status != 200:
            raise RegistryError(f"the token server answered {resp.status}")
        try:
            return parse_token(resp.body, self._clock.monotonic())
        except AuthError as exc:
            raise RegistryError(str(exc)) from None


def _parsed_challenges(headers: Sequence[str]) -> list[Challenge]:
    out: list[Challenge] = []
    for header in headers:
        try:
            out.extend(parse_challenges(header))
        except AuthError:
            continue
    return out

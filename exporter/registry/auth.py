"""Registry credentials and the Distribution auth flows, without I/O.

- `parse_docker_config`: the `auths` that `docker login` writes to config.json (base64
  `user:password` in `auth`, or an OAuth `identitytoken`). Credential helpers
  (`credsStore`, `credHelpers`) would mean running external programs: reported as
  unsupported, once, and otherwise ignored.
- `parse_challenges`: `WWW-Authenticate` (RFC 7235) as registries send it, e.g.
  `Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"`.
- `token_request` / `parse_token`: the token spec's request (GET with basic credentials,
  or the OAuth POST with a refresh token) and its answer.

Secrets stay inside `Credentials` and `Token`, whose reprs hide them; nothing here puts
one in an exception message.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

CLIENT_ID = "docker-exporter"
DEFAULT_TOKEN_SECONDS = 60.0
"""The token spec: a token without `expires_in` is good for 60 seconds."""
TOKEN_SLACK = 5.0
"""A token is renewed this long before it expires (clock skew, a slow request)."""


class AuthError(ValueError):
    """Unusable credentials or auth answers; the message never holds a secret."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """A username and password, or an identity token (`docker login` to an OAuth server)."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token)

    def secrets(self) -> tuple[str, ...]:
        """What must never leave the process (the tests scan every output for these)."""
        return tuple(s for s in (self.password, self.identity_token) if s)


@dataclass(frozen=True, slots=True)
class DockerConfig:
    """The usable `auths` of a docker CLI config, by registry name, and what was skipped."""

    auths: Mapping[str, Credentials]
    unsupported: tuple[str, ...] = ()


def registry_key(server: str) -> str:
    """A registry as `docker login` keys it (`https://index.docker.io/v1/`, `http://h:5000`,
    `h:5000`) to host[:port], the name the metrics use."""
    text = server.strip()
    if "://" not in text:
        text = "//" + text
    netloc = urlsplit(text).netloc.rsplit("@", 1)[-1]
    return netloc.lower()


def _decode_auth(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value.strip() + "=" * (-len(value.strip()) % 4), validate=True)
        user, sep, password = decoded.decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise AuthError("its auth is not base64 of user:password") from None
    if not sep:
        raise AuthError("its auth is not base64 of user:password")
    return user, password


def parse_docker_config(data: bytes) -> DockerConfig:
    """config.json bytes to credentials; an entry that cannot be read is skipped and named
    in `unsupported` (with the reason, never the value)."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AuthError(f"not JSON: {exc.msg if hasattr(exc, 'msg') else 'bad encoding'}") from None
    if not isinstance(doc, dict):
        raise AuthError("not a JSON object")
    unsupported: list[str] = []
    store = doc.get("credsStore")
    if isinstance(store, str) and store:
        unsupported.append(f"credsStore {store!r} (credential helpers are not run)")
    helpers = doc.get("credHelpers")
    if isinstance(helpers, dict) and helpers:
        names = ", ".join(sorted(str(k) for k in helpers))
        unsupported.append(f"credHelpers for {names} (credential helpers are not run)")
    auths: dict[str, Credentials] = {}
    raw_auths = doc.get("auths")
    for server, entry in raw_auths.items() if isinstance(raw_auths, dict) else ():
        if not isinstance(entry, dict):
            continue
        try:
            creds = _entry(entry)
        except AuthError as exc:
            unsupported.append(f"auths[{server!r}]: {exc}")
            continue
        if not creds.empty:  # `{}`: written by docker login when a helper holds the secret
            auths[registry_key(str(server))] = creds
    return DockerConfig(auths, tuple(unsupported))


def _entry(entry: Mapping[str, Any]) -> Credentials:
    token = entry.get("identitytoken")
    auth = entry.get("auth")
    username, password = entry.get("username"), entry.get("password")
    user = ""
    if isinstance(auth, str) and auth:
        user, secret = _decode_auth(auth)
    elif isinstance(username, str) and isinstance(password, str):
        user, secret = username, password
    else:
        secret = ""
    if isinstance(token, str) and token:
        return Credentials(username=user, identity_token=token)
    return Credentials(username=user, password=secret)


@dataclass(frozen=True, slots=True)
class Challenge:
    """One WWW-Authenticate challenge: scheme (lower case) and its parameters."""

    scheme: str
    params: Mapping[str, str]

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def _token(text: str, i: int) -> tuple[str, int]:
    start = i
    while i < len(text) and text[i] not in ' \t,="':
        i += 1
    return text[start:i], i


def _quoted(text: str, i: int) -> tuple[str, int]:
    """A quoted-string starting at text[i] == '"'; backslash escapes the next character."""
    out: list[str] = []
    i += 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if char == '"':
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise AuthError("unterminated quoted string in WWW-Authenticate")


def _skip(text: str, i: int, chars: str = " \t") -> int:
    while i < len(text) and text[i] in chars:
        i += 1
    return i


def parse_challenges(header: str) -> list[Challenge]:
    """`Basic realm="r", Bearer realm="t",service="s",scope="a:b:pull,push"` -> challenges.

    Anything that is not a scheme followed by key=value parameters (a token68) is skipped;
    an unterminated quoted string raises AuthError."""
    challenges: list[Challenge] = []
    i = _skip(header, 0, " \t,")
    while i < len(header):
        scheme, i = _token(header, i)
        if not scheme:  # stray characters: resume after the next comma
            comma = header.find(",", i + 1)
            i = len(header) if comma < 0 else _skip(header, comma + 1, " \t,")
            continue
        params: dict[str, str] = {}
        i = _skip(header, i)
        while i < len(header):
            key, j = _token(header, i)
            j = _skip(header, j)
            if not key or j >= len(header) or header[j] != "=":
                break  # the next challenge's scheme starts at i
            j = _skip(header, j + 1)
            if j < len(header) and header[j] == '"':
                value, j = _quoted(header, j)
            else:
                value, j = _token(header, j)
            params[key.lower()] = value
            i = _skip(header, j)
            if i < len(header) and header[i] == ",":
                i = _skip(header, i + 1, " \t,")
        challenges.append(Challenge(scheme.lower(), params))
    return challenges


def basic_authorization(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """What to send to a token server: a GET with query `params` (plus basic credentials
    when there are any), or, with an identity token, an OAuth POST of `form`."""

    method: str
    url: str
    params: tuple[tuple[str, str], ...] = ()
    form: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    authorization: str = field(default="", repr=False)


def token_request(challenge: Challenge, creds: Credentials | None) -> TokenRequest:
    """The token spec's request for a Bearer challenge."""
    realm = challenge.realm
    if urlsplit(realm).scheme not in ("http", "https"):
        raise AuthError("Bearer challenge without an http(s) realm")
    service = challenge.params.get("service", "")
    scopes = [s for s in challenge.params.get("scope", "").split(" ") if s]
    if creds is not None and creds.identity_token:
        form = [("grant_type", "refresh_token"), ("refresh_token", creds.identity_token)]
        form += [("client_id", CLIENT_ID)]
        if service:
            form.append(("service", service))
        if scopes:
            form.append(("scope", " ".join(scopes)))
        return TokenRequest("POST", realm, form=tuple(form))
    params = [("service", service)] if service else []
    params += [("scope", scope) for scope in scopes]
    if creds is not None and not creds.empty:
        params.append(("account", creds.username))
        return TokenRequest("GET", realm, tuple(params), authorization=basic_authorization(creds))
    return TokenRequest("GET", realm, tuple(params))


@dataclass(frozen=True, slots=True)
class Token:
    value: str = field(repr=False)
    expires_at: float


def parse_token(body: bytes, now: float) -> Token:
    """A token server's JSON answer (`token` or OAuth `access_token`, `expires_in`)."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AuthError("token server answer is not JSON") from None
    if not isinstance(doc, dict):
        raise AuthError("token server answer is not a JSON object")
    value = doc.get("token") or doc.get("access_token")
    if not isinstance(value, str) or not value:
        raise AuthError("token server answer holds no token")
    expires = doc.get("expires_in")
    seconds = float(expires) if isinstance(expires, int | float) and expires > 0 else 0.0
    seconds = max(seconds, DEFAULT_TOKEN_SECONDS)
    return Token(value, now + seconds - TOKEN_SLACK)

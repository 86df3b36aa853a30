"""The HTTP client side of `docker-exporter ps` and `events`: a running exporter's JSON
documents, with basic auth and TLS like the exporter's own web config offers."""

from __future__ import annotations

import argparse
import base64
import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from contextlib import suppress
from typing import Any


class ClientError(Exception):
    """The exporter could not be read; the message is one line for stderr."""


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("DOCKER_EXPORTER_URL", "http://localhost:9417"),
        help="Base URL of the exporter (env DOCKER_EXPORTER_URL).",
    )
    parser.add_argument(
        "--user",
        default=os.environ.get("DOCKER_EXPORTER_USER", ""),
        help="Basic-auth user; password from DOCKER_EXPORTER_PASSWORD.",
    )
    parser.add_argument("--insecure", action="store_true", help="Skip TLS verification.")


def get_json(args: argparse.Namespace, path: str, params: list[tuple[str, str]]) -> Any:
    """GET `path` with `params` from the exporter named by the connection flags."""
    query = urllib.parse.urlencode(params)
    url = args.url.rstrip("/") + path + (f"?{query}" if query else "")
    request = urllib.request.Request(url)
    if args.user:
        token = f"{args.user}:{os.environ.get('DOCKER_EXPORTER_PASSWORD', '')}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(token).decode())
    context = ssl._create_unverified_context() if args.insecure else None
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as exc:
        detail = ""
        with suppress(ValueError, AttributeError, OSError):
            detail = ": " + str(json.loads(exc.read()).get("error", ""))
        raise ClientError(f"{url}: HTTP {exc.code} {exc.reason}{detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ClientError(f"cannot read {url}: {exc}") from None

"""`docker-exporter events [--follow]`: the exporter's event history, printed like
`docker events`, from a running exporter's /events (no Docker socket needed here).

Without --follow it prints the history that matches, oldest first, and exits; with it,
it then polls for newer events (by `seq`, so none is printed twice) until interrupted,
and says on stderr when the ring evicted events between two polls.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from exporter.cli.client import ClientError, add_connection_flags, get_json

POLL = 1.0


def format_event(event: Mapping[str, Any]) -> str:
    """`2026-12-02T02:19:33.123456789Z container start ID (image=..., name=...)`."""
    nanos = int(event.get("time_nano") or 0)
    stamp = datetime.fromtimestamp(nanos // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    action = str(event.get("action", ""))
    if event.get("status"):
        action += f": {event['status']}"
    attributes = dict(event.get("attributes") or {})
    if event.get("type") == "network" and event.get("container_name"):
        attributes.setdefault("container_name", str(event["container_name"]))
    shown = ", ".join(f"{k}={v}" for k, v in sorted(attributes.items()))
    line = (
        f"{stamp}.{nanos % 1_000_000_000:09d}Z {event.get('type')} {action} {event.get('actor_id')}"
    )
    return line + (f" ({shown})" if shown else "")


def _params(args: argparse.Namespace) -> list[tuple[str, str]]:
    params = [("type", t) for t in args.type] + [("action", a) for a in args.action]
    if args.container:
        params.append(("container", args.container))
    if args.since:
        params.append(("since", args.since))
    return params


def follow(
    fetch: Callable[[list[tuple[str, str]]], Any],
    write: Callable[[str], None],
    warn: Callable[[str], None],
    params: list[tuple[str, str]],
    *,
    as_json: bool,
    sleep: Callable[[float], None] = time.sleep,
    polls: int | None = None,
) -> None:
    """Print the matching history, then (while `polls` lasts, forever when None) what
    arrives after it, oldest first."""
    after: int | None = None
    done = 0
    while True:
        page = fetch([*params, ("after", str(after))] if after is not None else params)
        oldest = page.get("oldest_seq")
        if after is not None and oldest is not None and oldest > after + 1:
            warn(f"docker-exporter events: {oldest - after - 1} events evicted from the ring\n")
        for event in reversed(page.get("events") or []):
            write((json.dumps(event) if as_json else format_event(event)) + "\n")
        after = max(int(page.get("last_seq") or 0), after or 0)
        done += 1
        if polls is not None and done >= polls:
            return
        sleep(POLL)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="docker-exporter events",
        description="Print the event history of a running exporter, like `docker events`.",
    )
    add_connection_flags(parser)
    parser.add_argument("-f", "--follow", action="store_true", help="Keep printing new events.")
    parser.add_argument("--type", action="append", default=[], help="container, network or image.")
    parser.add_argument("--action", action="append", default=[], help="e.g. die, health_status.")
    parser.add_argument("--container", default="", help="A container's name or ID (prefix).")
    parser.add_argument("--since", default="", help="Unix seconds, RFC 3339 or e.g. 10m.")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)

    def fetch(params: list[tuple[str, str]]) -> Any:
        return get_json(args, "/events", params)

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def warn(text: str) -> None:
        sys.stderr.write(text)

    try:
        follow(
            fetch,
            write,
            warn,
            _params(args),
            as_json=args.format == "json",
            polls=None if args.follow else 1,
        )
    except ClientError as exc:
        sys.stderr.write(f"docker-exporter events: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0

"""`docker-exporter ps`: a `docker ps -a` enriched with health, restarts, exit code and IPs,
read from a running exporter's /inventory (no Docker socket needed on the reading side)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from exporter.cli.client import ClientError, add_connection_flags, get_json

COLUMNS = (
    "CONTAINER ID",
    "NAME",
    "IMAGE",
    "STATE",
    "HEALTH",
    "RESTARTS",
    "EXIT",
    "NETWORKS",
    "PORTS",
    "CREATED",
)


def _ago(ts: object, now: float) -> str:
    if not isinstance(ts, int | float) or ts <= 0:
        return "-"
    seconds = max(0, int(now - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _networks(container: Mapping[str, Any]) -> str:
    parts = []
    for net in container.get("networks") or []:
        text = f"{net.get('network', '')}:{net.get('ip') or '-'}"
        if net.get("aliases"):
            text += "(" + ",".join(net["aliases"]) + ")"
        parts.append(text)
    return " ".join(parts) or container.get("network_mode", "-")


def _ports(container: Mapping[str, Any]) -> str:
    out = []
    for p in container.get("ports") or []:
        inner = f"{p.get('container_port')}/{p.get('protocol')}"
        if p.get("host_port"):
            out.append(f"{p.get('host_ip') or '0.0.0.0'}:{p['host_port']}->{inner}")
        else:
            out.append(inner)
    return ", ".join(out) or "-"


def rows(inventory: Mapping[str, Any], now: float) -> list[tuple[str, ...]]:
    """The table's rows, one per container, in the inventory's order."""
    out: list[tuple[str, ...]] = []
    for c in inventory.get("containers") or []:
        health = (c.get("health") or {}).get("status", "none")
        exited = c.get("state") in ("exited", "dead")
        out.append(
            (
                str(c.get("short_id", "")),
                str(c.get("name", "")),
                str(c.get("image", "")),
                str(c.get("state", "")),
                "-" if health == "none" else health,
                str(c.get("restart_count", 0)),
                str(c.get("exit_code", "")) if exited else "-",
                _networks(c),
                _ports(c),
                _ago(c.get("created"), now),
            )
        )
    return out


def render(table: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = [
        "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="docker-exporter ps",
        description="List containers like `docker ps -a`, from a running exporter's /inventory.",
    )
    add_connection_flags(parser)
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="name=, state= or label= (repeatable), as /inventory takes them.",
    )
    parser.add_argument(
        "--json", action="store_true", help="Print the inventory's containers as JSON."
    )
    args = parser.parse_args(argv)
    params = [tuple(f.partition("=")[::2]) for f in args.filter]
    try:
        inventory = get_json(args, "/inventory", params)
    except ClientError as exc:
        sys.stderr.write(f"docker-exporter ps: {exc}\n")
        return 1
    if args.json:
        sys.stdout.write(json.dumps(inventory.get("containers", []), indent=1) + "\n")
        return 0
    sys.stdout.write(render([COLUMNS, *rows(inventory, time.time())]))
    return 0

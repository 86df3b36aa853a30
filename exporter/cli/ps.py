"""`docker-exporter ps`: `docker ps -a` beside `docker stats`, read from a running
exporter's /inventory (no Docker socket needed on the reading side).

Health, restarts, exit code, IPs and ports come from the inventory; CPU, memory, network,
block I/O and PIDs from each container's latest background sample in it. Rates (CPU
cores, bytes per second) need two samples: the first read is followed by a second once
the exporter's sampler has swept again (`sampled_at` moved; at most --wait), and --watch
rates each refresh against the one before. `--watch` redraws in place with ANSI escapes
(cursor home, clear to end), no curses.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from exporter.cli.client import ClientError, add_connection_flags, get_json

COLUMNS = (
    "CONTAINER ID",
    "NAME",
    "IMAGE",
    "UPDATE",
    "STATE",
    "HEALTH",
    "RESTARTS",
    "EXIT",
    "CPU",
    "MEM USED / LIMIT",
    "NET RX / TX",
    "BLOCK R / W",
    "PIDS",
    "LOG",
    "UPTIME",
    "NETWORKS",
    "PORTS",
    "CREATED",
)
SORT_KEYS = ("name", "state", "cpu", "memory", "net", "block", "pids", "uptime", "restarts")
HOME, CLEAR_TO_END, CLEAR_LINE_END = "\x1b[H", "\x1b[J", "\x1b[K"
WAIT = 15.0


@dataclass(frozen=True, slots=True)
class Resources:
    """One container's live figures; None where there is no sample (or only one)."""

    cpu_cores: float | None = None
    cpu_percent_of_limit: float | None = None
    cpu_limit_cores: float | None = None
    memory_used_bytes: int | None = None
    memory_limit_bytes: int | None = None
    net_rx_bytes_per_second: float | None = None
    net_tx_bytes_per_second: float | None = None
    block_read_bytes_per_second: float | None = None
    block_write_bytes_per_second: float | None = None
    pids: int | None = None
    uptime_seconds: float | None = None


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _sum(items: object, key: str) -> float | None:
    if not isinstance(items, list):
        return None
    values = [_num(i.get(key)) for i in items if isinstance(i, Mapping)]
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _rate(now: float | None, before: float | None, seconds: float | None) -> float | None:
    if now is None or before is None or not seconds or seconds <= 0 or now < before:
        return None  # a counter reset (restart) gives no rate for this round
    return (now - before) / seconds


def resources(
    c: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    engine: Mapping[str, Any] | None,
    now: float,
) -> Resources:
    """Figures of container `c` (an /inventory entry), rates against `previous` (the same
    container's entry from an earlier read; None: no rates)."""
    stats = c.get("stats")
    started = _num(c.get("started_at"))
    uptime = now - started if c.get("state") == "running" and started else None
    if not isinstance(stats, Mapping):
        return Resources(uptime_seconds=uptime)
    limits = c.get("limits") or {}
    cores_limit = _num(limits.get("cpu_cores")) or _num(stats.get("cpu_limit_cores"))
    engine_cpus = _num((engine or {}).get("cpus"))
    memory_limit = _num(stats.get("memory_limit_bytes")) or _num(limits.get("memory_bytes"))
    used = _num(stats.get("memory_working_set_bytes"))
    if used is None:
        used = _num(stats.get("memory_usage_bytes"))
    pids = _num(stats.get("pids"))
    old = previous.get("stats") if previous else None
    cores = rx = tx = read = write = None
    if isinstance(old, Mapping):
        seconds = (_num(stats.get("sampled_at")) or 0) - (_num(old.get("sampled_at")) or 0)
        cores = _rate(
            _num(stats.get("cpu_usage_seconds")), _num(old.get("cpu_usage_seconds")), seconds
        )
        nets, old_nets = stats.get("networks"), old.get("networks")
        rx = _rate(_sum(nets, "rx_bytes"), _sum(old_nets, "rx_bytes"), seconds)
        tx = _rate(_sum(nets, "tx_bytes"), _sum(old_nets, "tx_bytes"), seconds)
        blocks, old_blocks = stats.get("block"), old.get("block")
        read = _rate(_sum(blocks, "read_bytes"), _sum(old_blocks, "read_bytes"), seconds)
        write = _rate(_sum(blocks, "write_bytes"), _sum(old_blocks, "write_bytes"), seconds)
    of = cores_limit or engine_cpus
    return Resources(
        cpu_cores=cores,
        cpu_percent_of_limit=cores / of * 100 if cores is not None and of else None,
        cpu_limit_cores=cores_limit,
        memory_used_bytes=int(used) if used is not None else None,
        memory_limit_bytes=int(memory_limit) if memory_limit is not None else None,
        net_rx_bytes_per_second=rx,
        net_tx_bytes_per_second=tx,
        block_read_bytes_per_second=read,
        block_write_bytes_per_second=write,
        pids=int(pids) if pids is not None else None,
        uptime_seconds=uptime,
    )


def _bytes(value: float | None, suffix: str = "") -> str:
    """docker stats' units: B, KiB, MiB, GiB (binary)."""
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            text = f"{value:.0f}" if unit == "B" else f"{value:.1f}"
            return f"{text}{unit}{suffix}"
        value /= 1024
    return "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _ago(ts: object, now: float) -> str:
    if not isinstance(ts, int | float) or ts <= 0:
        return "-"
    return _duration(now - ts) + " ago"


def _cpu(r: Resources) -> str:
    if r.cpu_cores is None:
        return "-"
    text = f"{r.cpu_cores:.2f}"
    if r.cpu_percent_of_limit is not None:
        text += f" ({r.cpu_percent_of_limit:.0f}%{'' if r.cpu_limit_cores else ' host'})"
    return text


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


def _update(c: Mapping[str, Any]) -> str:
    """Image freshness: `yes` (the tag moved), `no`, `?` (unknown: /inventory says why),
    `-` (not applicable)."""
    verdict = c.get("image_update")
    if not isinstance(verdict, Mapping):
        return "-"
    available = verdict.get("available")
    return "?" if available is None else "yes" if available else "no"


def _log(c: Mapping[str, Any]) -> str:
    """The log file's size; `!` marks a log without max-size (it grows until the disk
    is full)."""
    log = c.get("log")
    if not isinstance(log, Mapping) or _num(log.get("size_bytes")) is None:
        return "-"
    return _bytes(_num(log.get("size_bytes"))) + ("" if log.get("max_size") else "!")


def row(c: Mapping[str, Any], r: Resources, now: float) -> tuple[str, ...]:
    health = (c.get("health") or {}).get("status", "none")
    exited = c.get("state") in ("exited", "dead")
    pair = " / "
    return (
        str(c.get("short_id", "")),
        str(c.get("name", "")),
        str(c.get("image", "")),
        _update(c),
        str(c.get("state", "")),
        "-" if health == "none" else health,
        str(c.get("restart_count", 0)),
        str(c.get("exit_code", "")) if exited else "-",
        _cpu(r),
        "-"
        if r.memory_used_bytes is None
        else _bytes(r.memory_used_bytes) + pair + _bytes(r.memory_limit_bytes),
        "-"
        if r.net_rx_bytes_per_second is None
        else _bytes(r.net_rx_bytes_per_second, "/s")
        + pair
        + _bytes(r.net_tx_bytes_per_second, "/s"),
        "-"
        if r.block_read_bytes_per_second is None
        else _bytes(r.block_read_bytes_per_second, "/s")
        + pair
        + _bytes(r.block_write_bytes_per_second, "/s"),
        "-" if r.pids is None else str(r.pids),
        _log(c),
        _duration(r.uptime_seconds),
        _networks(c),
        _ports(c),
        _ago(c.get("created"), now),
    )


def _sort_key(key: str) -> Callable[[tuple[Mapping[str, Any], Resources]], Any]:
    """Names ascending; figures descending (the busiest first), unknown last."""

    def figure(value: float | None) -> tuple[int, float]:
        return (value is None, -(value or 0.0))

    def by(item: tuple[Mapping[str, Any], Resources]) -> Any:
        c, r = item
        name = str(c.get("name", ""))
        if key == "name":
            return (name,)
        if key == "state":
            return (str(c.get("state", "")), name)
        if key == "restarts":
            return (figure(_num(c.get("restart_count"))), name)
        value = {
            "cpu": r.cpu_cores,
            "memory": r.memory_used_bytes,
            "net": None
            if r.net_rx_bytes_per_second is None
            else r.net_rx_bytes_per_second + (r.net_tx_bytes_per_second or 0),
            "block": None
            if r.block_read_bytes_per_second is None
            else r.block_read_bytes_per_second + (r.block_write_bytes_per_second or 0),
            "pids": r.pids,
            "uptime": r.uptime_seconds,
        }[key]
        return (figure(value), name)

    return by


def _compose_key(c: Mapping[str, Any]) -> tuple[str, str]:
    labels = c.get("labels") or {}
    return (
        str(labels.get("com.docker.compose.project", "")),
        str(labels.get("com.docker.compose.service", "")),
    )


def table(
    inventory: Mapping[str, Any],
    previous: Mapping[str, Mapping[str, Any]],
    now: float,
    *,
    sort: str = "name",
    group_by: str = "",
) -> str:
    """The whole table as text; with group_by=compose, one heading line per Compose
    service (its running count of all), then its containers; the rest last."""
    engine = inventory.get("engine")
    items = [
        (c, resources(c, previous.get(str(c.get("id"))), engine, now))
        for c in inventory.get("containers") or []
    ]
    items.sort(key=_sort_key(sort))
    lines: list[tuple[str, ...] | str] = [COLUMNS]
    if group_by == "compose":
        groups: dict[tuple[str, str], list[tuple[Mapping[str, Any], Resources]]] = {}
        for item in items:
            groups.setdefault(_compose_key(item[0]), []).append(item)
        for key in sorted(groups, key=lambda k: (not k[0], k)):
            members = groups[key]
            running = sum(1 for c, _ in members if c.get("state") == "running")
            title = f"{key[0]} / {key[1]}" if key[0] else "(not in a Compose project)"
            lines.append(f"{title}: {running} of {len(members)} running")
            lines.extend(row(c, r, now) for c, r in members)
    else:
        lines.extend(row(c, r, now) for c, r in items)
    return render(lines)


def render(lines: Sequence[Sequence[str] | str]) -> str:
    """Columns padded to the widest cell; a plain string is a heading line."""
    cells = [line for line in lines if not isinstance(line, str)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    out = []
    for line in lines:
        if isinstance(line, str):
            out.append(line)
        else:
            out.append(
                "   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
            )
    return "\n".join(out) + "\n"


def json_rows(
    inventory: Mapping[str, Any], previous: Mapping[str, Mapping[str, Any]], now: float, sort: str
) -> str:
    """The containers as /inventory gives them, each with its `resources`, sorted."""
    engine = inventory.get("engine")
    items = [
        (c, resources(c, previous.get(str(c.get("id"))), engine, now))
        for c in inventory.get("containers") or []
    ]
    items.sort(key=_sort_key(sort))
    return json.dumps([{**c, "resources": asdict(r)} for c, r in items], indent=1) + "\n"


def _sampled(inventory: Mapping[str, Any]) -> dict[str, Any]:
    return {
        str(c.get("id")): c
        for c in inventory.get("containers") or []
        if isinstance(c.get("stats"), Mapping)
    }


def _newer(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Some container sampled in both, with a later sample in `after`."""
    return any(
        (_num(c["stats"].get("sampled_at")) or 0)
        > (_num(before[cid]["stats"].get("sampled_at")) or 0)
        for cid, c in after.items()
        if cid in before
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"invalid seconds {text!r}: 0 to 3600")
    return value


def main(
    argv: Sequence[str],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> int:
    parser = argparse.ArgumentParser(
        prog="docker-exporter ps",
        description="List containers like `docker ps -a` with `docker stats` figures, from a "
        "running exporter's /inventory.",
    )
    add_connection_flags(parser)
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="name=, state= or label= (repeatable), as /inventory takes them.",
    )
    parser.add_argument("--sort", choices=SORT_KEYS, default="name", help="Row order.")
    parser.add_argument("--group-by", choices=("compose",), default="", help="Group rows.")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--json", action="store_true", help="Same as --format json.")
    parser.add_argument("-w", "--watch", action="store_true", help="Refresh in place.")
    parser.add_argument(
        "--interval", type=_seconds, default=2.0, help="--watch: seconds between refreshes."
    )
    parser.add_argument(
        "--wait",
        type=_seconds,
        default=WAIT,
        help="Without --watch: seconds to wait for a second sample (for rates); 0: no rates.",
    )
    parser.add_argument(
        "--iterations", type=int, default=0, help=argparse.SUPPRESS
    )  # --watch refreshes before exiting (tests); 0 runs until interrupted
    args = parser.parse_args(argv)
    if args.interval < 0.2:
        parser.error("--interval: at least 0.2 seconds")
    if args.json:
        args.format = "json"
    params = [(key, value) for key, _, value in (f.partition("=") for f in args.filter)]

    def show(inventory: Mapping[str, Any], previous: Mapping[str, Mapping[str, Any]]) -> str:
        if args.format == "json":
            return json_rows(inventory, previous, clock(), args.sort)
        return table(inventory, previous, clock(), sort=args.sort, group_by=args.group_by)

    try:
        inventory = get_json(args, "/inventory", params)
        previous: dict[str, Any] = {}
        if not args.watch:
            first = _sampled(inventory)
            deadline = time.monotonic() + args.wait
            while first and args.wait > 0 and time.monotonic() < deadline:
                sleep(min(0.5, args.wait))
                later = get_json(args, "/inventory", params)
                if _newer(first, _sampled(later)):
                    inventory, previous = later, first
                    break
            sys.stdout.write(show(inventory, previous))
            return 0
        shown = 0
        sys.stdout.write(HOME + "\x1b[2J")
        while True:
            text = show(inventory, previous).replace("\n", CLEAR_LINE_END + "\n")
            sys.stdout.write(HOME + text + CLEAR_TO_END)
            sys.stdout.flush()
            shown += 1
            if args.iterations and shown >= args.iterations:
                return 0
            sleep(args.interval)
            later = get_json(args, "/inventory", params)
            sampled, now_sampled = _sampled(inventory), _sampled(later)
            if _newer(sampled, now_sampled):
                previous = sampled  # else keep the pair the current rates came from
            inventory = later
    except ClientError as exc:
        sys.stderr.write(f"docker-exporter ps: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130

"""Settings: every flag parsed and validated into one frozen object before anything starts."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from exporter.collectors.base import sanitize_label

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class ConfigError(ValueError):
    """A flag or environment value that cannot be used; reported in one line, exit code 2."""


def parse_duration(text: str) -> float:
    """`500ms`, `5s`, `1m`, `1h` or plain seconds, as Prometheus tools spell durations."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ConfigError(f"invalid duration {text!r}: use e.g. 500ms, 5s, 1m")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ConfigError(f"invalid duration {text!r}: must be positive")
    return seconds


def parse_listen_address(text: str) -> tuple[str, int]:
    """`:9417`, `0.0.0.0:9417`, `[::1]:9417` or `localhost:9417` to (host, port)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ConfigError(f"invalid listen address {text!r}: use [host]:port, e.g. :9417")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ConfigError(f"invalid listen address {text!r}: port out of range")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", port


def parse_interval(text: str) -> float:
    """A sampling interval: at least 1 s (the Engine's own stats tick)."""
    seconds = parse_duration(text)
    if seconds < 1.0:
        raise ConfigError(f"invalid interval {text!r}: at least 1s")
    return seconds


def parse_positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigError(f"invalid number {text!r}: a whole number >= 1")
    return int(text)


def parse_count(text: str) -> int:
    if not text.strip().isdigit():
        raise ConfigError(f"invalid number {text!r}: a whole number >= 0")
    return int(text)


def parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ConfigError(f"invalid value {text!r}: one of {', '.join(choices)}")
        return text

    return parse


def parse_label_list(text: str) -> tuple[str, ...]:
    """Comma-separated Docker label keys; their sanitized names must not collide."""
    keys = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    seen: dict[str, str] = {}
    for key in keys:
        name = sanitize_label(key)
        if name in seen:
            raise ConfigError(f"--container.labels: {seen[name]!r} and {key!r} both map to {name}")
        seen[name] = key
    return keys


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the exporter needs to start."""

    listen_host: str = "0.0.0.0"
    listen_port: int = 9417
    telemetry_path: str = "/metrics"
    web_config_file: str = ""
    exporter_metrics: bool = True
    docker_host: str = "unix:///var/run/docker.sock"
    docker_timeout: float = 10.0
    ping_interval: float = 5.0
    ping_timeout: float = 3.0
    max_labels: int = 256
    max_label_length: int = 4096
    max_image_tags: int = 64
    max_processes: int = 256
    max_event_kinds: int = 512
    inventory_max_containers: int = 10_000
    resync_interval: float = 60.0
    container_labels: tuple[str, ...] = ()
    collectors: tuple[str, ...] = field(default_factory=tuple)
    log_level: str = "info"
    log_format: str = "logfmt"
    once: bool = False
    stats_source: str = "auto"
    stats_interval: float = 5.0
    stats_concurrency: int = 8
    stats_open_files: int = 4096
    host_proc: str = "/proc"
    host_sys: str = "/sys"
    top_interval: float = 60.0
    volume_sizes_interval: float = 900.0

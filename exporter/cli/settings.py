"""Settings: every flag parsed and validated into one frozen object before anything starts.

The fields of `Settings` are the exporter's core options: each field is declared with its
flag, default text, parser and help (`setting`), and that declaration alone makes the
flag, its `DOCKER_EXPORTER_*` variable, the field's default and its README row. Options
owned by one collector are declared in that collector's module and travel in
`Settings.options` (see exporter/options.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from exporter.cli.logs import LEVELS
from exporter.engine.config import resolve_host
from exporter.inventory.filters import FilterError, Rule
from exporter.options import (
    OPTIONS,
    ConfigError,
    Option,
    Options,
    check,
    option,
    parse_choice,
    parse_count,
    parse_duration,
    parse_interval,
    parse_listen_address,
    parse_positive_int,
    repeated,
    switch,
)

T = TypeVar("T")


def setting(group: str, flag: str, default: str, parse: Callable[[str], T], help_text: str) -> T:
    """A Settings field that is also an option (declared in exporter.options.OPTIONS)."""
    declared = option(flag, default, parse, help_text, group=group)
    return field(default=declared.value, metadata={"option": declared})


def switch_setting(group: str, flag: str, help_text: str) -> bool:
    """A boolean Settings field set by a flag without a value."""
    declared = switch(flag, help_text, group=group)
    return field(default=False, metadata={"option": declared})


def repeated_setting(
    group: str, flag: str, parse_one: Callable[[str], T], help_text: str
) -> tuple[T, ...]:
    """A Settings field set by a repeatable flag (exporter.options.repeated)."""
    declared = repeated(flag, parse_one, help_text, group=group)
    return field(default=(), metadata={"option": declared})


def parse_container_rule(text: str) -> str:
    """One --container.include/exclude rule, checked now and kept as text."""
    try:
        return str(Rule.parse(text))
    except FilterError as exc:
        raise ConfigError(str(exc)) from None


MAX_EVENTS_HISTORY = 1_000_000


def parse_history_size(text: str) -> int:
    """--events.history: 0 keeps none; a record is well under 1 KiB: at most a million."""
    count = parse_count(text)
    if count > MAX_EVENTS_HISTORY:
        raise ConfigError(f"invalid number {text!r}: at most {MAX_EVENTS_HISTORY}")
    return count


def parse_telemetry_path(text: str) -> str:
    """The metrics path: absolute, and not one of the other pages."""
    if not text.startswith("/") or text.startswith(("/-/", "/inventory")):
        raise ConfigError(f"{text!r} must start with / and not shadow another page")
    return text


@check
def _ping_within_its_interval(chosen: Options) -> None:
    """A ping that may take longer than its interval would overlap the next one, and the
    hung-engine bound (interval + timeout) would exceed two intervals."""
    interval = chosen[OPTIONS["--docker.ping-interval"]]
    timeout = chosen[OPTIONS["--docker.ping-timeout"]]
    if timeout > interval:
        raise ConfigError(
            f"--docker.ping-timeout ({timeout:g}s) must not exceed "
            f"--docker.ping-interval ({interval:g}s)"
        )


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the exporter needs to start."""

    listen_address: tuple[str, int] = setting(
        "web", "--web.listen-address", ":9417", parse_listen_address, "Address to listen on."
    )
    telemetry_path: str = setting(
        "web",
        "--web.telemetry-path",
        "/metrics",
        parse_telemetry_path,
        "Path under which to expose metrics.",
    )
    web_config_file: str = setting(
        "web",
        "--web.config.file",
        "",
        str,
        "Exporter-toolkit web config (YAML) enabling TLS and/or basic auth; see docs/deploy.md.",
    )
    disable_exporter_metrics: bool = switch_setting(
        "web", "--web.disable-exporter-metrics", "Leave out the exporter's own process_* metrics."
    )
    inventory_max_containers: int = setting(
        "web",
        "--web.inventory.max-containers",
        "10000",
        parse_positive_int,
        "Containers in one /inventory document (about 3 KiB each); the rest are counted in "
        "its exporter.containers_omitted (narrow with ?name=, ?state=, ?label=).",
    )
    docker_host: str = setting(
        "docker",
        "--docker.host",
        "",
        str,
        "Engine address: unix:///path or tcp://host:port (default: $DOCKER_HOST, else "
        "unix:///var/run/docker.sock). TLS from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.",
    )
    """Empty: $DOCKER_HOST, else the default socket (parse_settings resolves it)."""
    docker_timeout: float = setting(
        "docker",
        "--docker.timeout",
        "10s",
        parse_duration,
        "Timeout of every Engine request except the event stream.",
    )
    ping_interval: float = setting(
        "docker",
        "--docker.ping-interval",
        "5s",
        parse_duration,
        "How often /_ping checks that the engine answers, apart from the event stream: a "
        "hung engine turns docker_up to 0 within two intervals.",
    )
    ping_timeout: float = setting(
        "docker",
        "--docker.ping-timeout",
        "3s",
        parse_duration,
        "How long a ping may take before the engine counts as not answering (<= the interval).",
    )
    max_labels: int = setting(
        "docker",
        "--docker.max-labels",
        "256",
        parse_positive_int,
        "Labels kept per container (the first by key); more are cut and counted in "
        'docker_exporter_truncations_total{what="labels"}.',
    )
    max_label_length: int = setting(
        "docker",
        "--docker.max-label-length",
        "4096",
        parse_positive_int,
        "Characters kept of one container label value (the rest cut and counted).",
    )
    max_image_tags: int = setting(
        "docker",
        "--docker.max-image-tags",
        "64",
        parse_positive_int,
        "Tags and digests kept per image (the rest cut and counted).",
    )
    resync_interval: float = setting(
        "inventory",
        "--inventory.resync-interval",
        "60s",
        parse_duration,
        "Reconcile pass on top of the event stream (every tenth re-inspects everything).",
    )
    max_processes: int = setting(
        "inventory",
        "--inventory.max-processes",
        "256",
        parse_positive_int,
        "Processes kept per container (the lowest PIDs); more are cut and counted.",
    )
    max_event_kinds: int = setting(
        "inventory",
        "--inventory.max-event-kinds",
        "512",
        parse_positive_int,
        "Distinct (type, action) event counters; the engine names actions, so the rest are"
        " counted as type=other, action=other.",
    )
    container_include: tuple[str, ...] = repeated_setting(
        "inventory",
        "--container.include",
        parse_container_rule,
        "Keep only containers matching one of these rules: name=GLOB, image=GLOB or "
        "label=KEY[=GLOB]. Others get no series, stats, process lists or events; they count "
        "in docker_engine_containers.",
    )
    container_exclude: tuple[str, ...] = repeated_setting(
        "inventory",
        "--container.exclude",
        parse_container_rule,
        "Leave out containers matching any of these rules (same forms as "
        "--container.include); exclude wins.",
    )
    events_history: int = setting(
        "inventory",
        "--events.history",
        "1000",
        parse_history_size,
        "Events kept for /events and `docker-exporter events` (lifecycle, health, OOM, "
        "network connect/disconnect, image); 0 keeps none.",
    )
    stats_source: str = setting(
        "stats",
        "--stats.source",
        "auto",
        parse_choice("auto", "cgroup", "api"),
        "Resource stats from cgroup files (fast, local engines), the Engine API, or auto: "
        "cgroup when the host's cgroups are visible and the engine is local, API for the rest.",
    )
    stats_interval: float = setting(
        "stats", "--stats.interval", "5s", parse_interval, "Stats sampling interval (>= 1s)."
    )
    stats_concurrency: int = setting(
        "stats",
        "--stats.concurrency",
        "8",
        parse_positive_int,
        "API source: stats requests in flight at once.",
    )
    stats_open_files: int = setting(
        "stats",
        "--stats.open-files-limit",
        "4096",
        parse_count,
        "cgroup source: cgroup and /proc files kept open between sweeps, about 14 per"
        " container plus 3 per process (each holds ~4 KiB of kernel memory charged to the"
        " exporter's cgroup); 0 opens and closes every file on each sweep.",
    )
    host_proc: str = setting(
        "stats",
        "--host.proc",
        "/proc",
        str,
        "Where the host's /proc is visible (e.g. /host/proc in a container, with --pid=host).",
    )
    host_sys: str = setting(
        "stats",
        "--host.sys",
        "/sys",
        str,
        "Where the host's /sys is visible (e.g. /host/sys in a container, with --cgroupns=host).",
    )
    disable_defaults: bool = switch_setting(
        "collectors",
        "--collector.disable-defaults",
        "Enable only the collectors named with --collector.NAME.",
    )
    log_level: str = setting(
        "log",
        "--log.level",
        "info",
        parse_choice(*LEVELS),
        "Log level: " + ", ".join(LEVELS) + ".",
    )
    log_format: str = setting(
        "log",
        "--log.format",
        "logfmt",
        parse_choice("logfmt", "json"),
        "Log format: logfmt or json.",
    )
    once: bool = switch_setting(
        "run",
        "--once",
        "Sync once, print one scrape to stdout and exit (debugging, textfile collector).",
    )
    collectors: tuple[str, ...] = ()
    """The enabled collectors, from --[no-]collector.NAME and --collector.disable-defaults."""
    options: Options = field(default_factory=Options)
    """The values of the collectors' own options (declared in their modules)."""

    @property
    def engine_host(self) -> str:
        """`docker_host`, or where an empty one points: $DOCKER_HOST, else the default
        socket (parse_settings resolves it already; a Settings built in code may not)."""
        return resolve_host(self.docker_host or None, os.environ)

    @property
    def listen_host(self) -> str:
        return self.listen_address[0]

    @property
    def listen_port(self) -> int:
        return self.listen_address[1]

    @property
    def exporter_metrics(self) -> bool:
        return not self.disable_exporter_metrics

    def __getitem__(self, key: Option[T]) -> T:
        """A collector option's value: `settings[volumes.SIZES_INTERVAL]`."""
        return self.options[key]

"""Settings: every flag parsed and validated into one frozen object before anything starts.

The fields of `Settings` are every option that is not a collector's own. An option read
by a producer, the engine adapter, the inventory or the web layer is declared in the
module that reads it (`option(...)`, exporter/options.py) and named here with
`declared(module.OPTION)`; an option the command line alone reads is declared here with
`setting(...)`. Either way the one declaration makes the flag, its `DOCKER_EXPORTER_*`
variable, the field's default, the reader's keyword default (`OPTION.value`) and the
README row. Options owned by one collector are declared in that collector's module and
travel in `Settings.options`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from exporter.cli.logs import LEVELS
from exporter.engine import config as engine
from exporter.engine.config import resolve_host
from exporter.inventory import history, liveness, store, watcher
from exporter.inventory.filters import FilterError, Rule
from exporter.options import (
    ConfigError,
    Option,
    Options,
    option,
    parse_choice,
    parse_listen_address,
    repeated,
    switch,
)
from exporter.registry import client as registry_client
from exporter.registry import config as registry_config
from exporter.registry import poller as registry_poller
from exporter.stats import diskusage, sampler, top
from exporter.stats.cgroup import rlimit
from exporter.web import pages

T = TypeVar("T")


def declared(declaration: Option[T]) -> T:
    """A Settings field carrying an option declared with the code that reads it."""
    return field(default=declaration.value, metadata={"option": declaration})


def setting(group: str, flag: str, default: str, parse: Callable[[str], T], help_text: str) -> T:
    """A Settings field for an option that only the command line reads."""
    return declared(option(flag, default, parse, help_text, group=group))


def switch_setting(group: str, flag: str, help_text: str) -> bool:
    """A boolean Settings field set by a flag without a value."""
    return declared(switch(flag, help_text, group=group))


def repeated_setting(
    group: str, flag: str, parse_one: Callable[[str], T], help_text: str
) -> tuple[T, ...]:
    """A Settings field set by a repeatable flag (exporter.options.repeated)."""
    return declared(repeated(flag, parse_one, help_text, group=group))


def parse_container_rule(text: str) -> str:
    """One --container.include/exclude rule, checked now and kept as text."""
    try:
        return str(Rule.parse(text))
    except FilterError as exc:
        raise ConfigError(str(exc)) from None




@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the exporter needs to start."""

    listen_address: tuple[str, int] = setting(
        "web", "--web.listen-address", ":9417", parse_listen_address, "Address to listen on."
    )
    systemd_socket: bool = switch_setting(
        "web",
        "--web.systemd-socket",
        "Serve on the sockets passed by systemd socket activation (LISTEN_FDS) instead of "
        "--web.listen-address; see deploy/systemd/docker-exporter.socket.",
    )
    telemetry_path: str = declared(pages.TELEMETRY_PATH)
    web_config_file: str = setting(
        "web",
        "--web.config.file",
        "",
        str,
        "Exporter-toolkit web config (YAML): TLS, basic auth, rate limit; see docs/deploy.md.",
    )
    disable_exporter_metrics: bool = switch_setting(
        "web", "--web.disable-exporter-metrics", "Leave out the exporter's own process_* metrics."
    )
    inventory_max_containers: int = declared(pages.INVENTORY_MAX_CONTAINERS)
    docker_host: str = declared(engine.HOST)
    """Empty: $DOCKER_HOST, else the default socket (parse_settings resolves it)."""
    docker_timeout: float = declared(engine.TIMEOUT)
    ping_interval: float = declared(liveness.PING_INTERVAL)
    ping_timeout: float = declared(liveness.PING_TIMEOUT)
    max_labels: int = declared(engine.MAX_LABELS)
    max_label_length: int = declared(engine.MAX_LABEL_LENGTH)
    max_image_tags: int = declared(engine.MAX_IMAGE_TAGS)
    resync_interval: float = declared(watcher.RESYNC_INTERVAL)
    max_processes: int = declared(store.MAX_PROCESSES)
    max_event_kinds: int = declared(store.MAX_EVENT_KINDS)
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
    events_history: int = declared(history.CAPACITY)
    stats_source: str = declared(sampler.SOURCE)
    stats_interval: float = declared(sampler.INTERVAL)
    stats_concurrency: int = declared(engine.STATS_CONCURRENCY)
    stats_open_files: int = declared(rlimit.OPEN_FILES)
    host_proc: str = declared(sampler.HOST_PROC)
    host_sys: str = declared(sampler.HOST_SYS)
    disable_defaults: bool = switch_setting(
        "collectors",
        "--collector.disable-defaults",
        "Enable only the collectors named with --collector.NAME.",
    )
    top_interval: float = declared(top.INTERVAL)
    volume_sizes_interval: float = declared(diskusage.INTERVAL)
    registry_certs_dir: str = declared(registry_config.CERTS_DIR)
    registry_config_file: str = declared(registry_config.CONFIG_FILE)
    registry_docker_config: str = declared(registry_config.DOCKER_CONFIG)
    registry_interval: float = declared(registry_poller.INTERVAL)
    registry_manifests: bool = declared(registry_poller.MANIFESTS)
    registry_max_repositories: int = declared(registry_poller.MAX_REPOSITORIES)
    registry_timeout: float = declared(registry_client.TIMEOUT)
    registry_urls: tuple[str, ...] = declared(registry_config.URLS)
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
        """A collector option's value: `settings[containers.LABEL_KEYS]`. An option that
        is a field is read as the field (its value is not in `options`)."""
        if key in FIELDS:
            raise KeyError(f"{key.flag} is Settings.{FIELDS[key]}")
        return self.options[key]


FIELDS: dict[Option[Any], str] = {
    f.metadata["option"]: f.name for f in fields(Settings) if "option" in f.metadata
}
"""The options that are Settings fields, and their field names."""

"""Command line: flags (each also an environment variable) to Settings, then run.

Bad input ends in one line on stderr and exit code 2, like the Prometheus tools.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from exporter import __version__
from exporter.cli.logs import LEVELS
from exporter.cli.settings import (
    ConfigError,
    Settings,
    parse_choice,
    parse_count,
    parse_duration,
    parse_interval,
    parse_label_list,
    parse_listen_address,
    parse_positive_int,
)
from exporter.collectors import COLLECTORS
from exporter.engine.adapter import resolve_host

ENV_PREFIX = "DOCKER_EXPORTER_"


def env_name(flag: str) -> str:
    """`--web.listen-address` -> `DOCKER_EXPORTER_WEB_LISTEN_ADDRESS`."""
    return ENV_PREFIX + flag.lstrip("-").upper().replace(".", "_").replace("-", "_")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _checked(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def wrapper(text: str) -> Any:
        try:
            return convert(text)
        except (ConfigError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    wrapper.__name__ = getattr(convert, "__name__", "value")
    return wrapper


def _env_bool(environ: Mapping[str, str], flag: str) -> bool | None:
    """A boolean flag's environment variable (None when unset), named in the error."""
    text = environ.get(env_name(flag))
    if text is None:
        return None
    try:
        return _bool_env(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(f"{env_name(flag)}: {exc}") from None


def _bool_env(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"invalid boolean {text!r}")


FLAGS: list[tuple[str, str, str, Callable[[str], Any], str]] = [
    # (group, flag, default, converter, help)
    ("web", "--web.listen-address", ":9417", parse_listen_address, "Address to listen on."),
    ("web", "--web.telemetry-path", "/metrics", str, "Path under which to expose metrics."),
    (
        "web",
        "--web.config.file",
        "",
        str,
        "Exporter-toolkit web config (YAML) enabling TLS and/or basic auth; see docs/deploy.md.",
    ),
    (
        "web",
        "--web.inventory.max-containers",
        "10000",
        parse_positive_int,
        "Containers in one /inventory document (about 3 KiB each); the rest are counted in "
        "its exporter.containers_omitted (narrow with ?name=, ?state=, ?label=).",
    ),
    (
        "docker",
        "--docker.host",
        "",
        str,
        "Engine address: unix:///path or tcp://host:port (default: $DOCKER_HOST, else "
        "unix:///var/run/docker.sock). TLS from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.",
    ),
    (
        "docker",
        "--docker.timeout",
        "10s",
        parse_duration,
        "Timeout of every Engine request except the event stream.",
    ),
    (
        "docker",
        "--docker.ping-interval",
        "5s",
        parse_duration,
        "How often /_ping checks that the engine answers, apart from the event stream: a "
        "hung engine turns docker_up to 0 within two intervals.",
    ),
    (
        "docker",
        "--docker.ping-timeout",
        "3s",
        parse_duration,
        "How long a ping may take before the engine counts as not answering (<= the interval).",
    ),
    (
        "docker",
        "--docker.max-labels",
        "256",
        parse_positive_int,
        "Labels kept per container (the first by key); more are cut and counted in "
        'docker_exporter_truncations_total{what="labels"}.',
    ),
    (
        "docker",
        "--docker.max-label-length",
        "4096",
        parse_positive_int,
        "Characters kept of one container label value (the rest cut and counted).",
    ),
    (
        "docker",
        "--docker.max-image-tags",
        "64",
        parse_positive_int,
        "Tags and digests kept per image (the rest cut and counted).",
    ),
    (
        "inventory",
        "--inventory.resync-interval",
        "60s",
        parse_duration,
        "Reconcile pass on top of the event stream (every tenth re-inspects everything).",
    ),
    (
        "inventory",
        "--inventory.max-processes",
        "256",
        parse_positive_int,
        "Processes kept per container (the lowest PIDs); more are cut and counted.",
    ),
    (
        "inventory",
        "--inventory.max-event-kinds",
        "512",
        parse_positive_int,
        "Distinct (type, action) event counters; the engine names actions, so the rest are"
        " counted as type=other, action=other.",
    ),
    (
        "inventory",
        "--container.labels",
        "",
        parse_label_list,
        "Comma-separated Docker label keys to export as label_<key> on docker_container_labels.",
    ),
    (
        "stats",
        "--stats.source",
        "auto",
        parse_choice("auto", "cgroup", "api"),
        "Resource stats from cgroup files (fast, local engines), the Engine API, or auto: "
        "cgroup when the host's cgroups are visible and the engine is local, API for the rest.",
    ),
    ("stats", "--stats.interval", "5s", parse_interval, "Stats sampling interval (>= 1s)."),
    (
        "stats",
        "--stats.concurrency",
        "8",
        parse_positive_int,
        "API source: stats requests in flight at once.",
    ),
    (
        "stats",
        "--stats.open-files-limit",
        "4096",
        parse_count,
        "cgroup source: cgroup and /proc files kept open between sweeps, about 14 per"
        " container plus 3 per process (each holds ~4 KiB of kernel memory charged to the"
        " exporter's cgroup); 0 opens and closes every file on each sweep.",
    ),
    (
        "stats",
        "--host.proc",
        "/proc",
        str,
        "Where the host's /proc is visible (e.g. /host/proc in a container, with --pid=host).",
    ),
    (
        "stats",
        "--host.sys",
        "/sys",
        str,
        "Where the host's /sys is visible (e.g. /host/sys in a container, with --cgroupns=host).",
    ),
    (
        "collectors",
        "--collector.top.interval",
        "60s",
        parse_interval,
        "top collector: how often each running container's process list is asked for.",
    ),
    (
        "collectors",
        "--collector.volume_sizes.interval",
        "15m",
        parse_interval,
        "volume_sizes collector: how often /system/df runs (one caller, never concurrent).",
    ),
    ("log", "--log.level", "info", str, "Log level: debug, info, warn, error."),
    ("log", "--log.format", "logfmt", str, "Log format: logfmt or json."),
]


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="docker-exporter",
        description="Prometheus exporter and JSON inventory for a Docker Engine. "
        f"Every flag can also be set as an environment variable {ENV_PREFIX}<FLAG>, "
        "e.g. --web.listen-address as DOCKER_EXPORTER_WEB_LISTEN_ADDRESS.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"docker-exporter {__version__}")
    groups: dict[str, argparse._ArgumentGroup] = {}
    for group, flag, default, convert, help_text in FLAGS:
        if group not in groups:
            groups[group] = parser.add_argument_group(group)
        groups[group].add_argument(
            flag,
            default=environ.get(env_name(flag), default),
            type=_checked(convert),
            help=help_text,
            metavar=flag.rsplit(".", 1)[-1].upper(),
        )
    web = groups["web"]
    web.add_argument(
        "--web.disable-exporter-metrics",
        action="store_true",
        default=_env_bool(environ, "--web.disable-exporter-metrics") or False,
        help="Leave out the exporter's own process_* metrics.",
    )
    run = parser.add_argument_group("run")
    run.add_argument(
        "--once",
        action="store_true",
        default=_env_bool(environ, "--once") or False,
        help="Sync once, print one scrape to stdout and exit (debugging, textfile collector).",
    )
    collectors = groups.get("collectors") or parser.add_argument_group("collectors")
    collectors.add_argument(
        "--collector.disable-defaults",
        action="store_true",
        default=_env_bool(environ, "--collector.disable-defaults") or False,
        help="Enable only the collectors named with --collector.NAME.",
    )
    for name, spec in sorted(COLLECTORS.items()):
        flag = f"--collector.{name}"
        collectors.add_argument(
            flag,
            action=argparse.BooleanOptionalAction,
            default=_env_bool(environ, flag),
            help=f"{spec.help} (default: {'enabled' if spec.default_enabled else 'disabled'})",
        )
    return parser


def parse_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """argv and environment to Settings; exits 2 with one line on any bad value."""
    try:
        parser = build_parser(environ)
    except argparse.ArgumentTypeError as exc:  # a bad boolean in the environment
        parser = build_parser({})
        parser.error(str(exc))
    args = vars(parser.parse_args(argv))

    def value(flag: str) -> Any:
        raw = args[flag.lstrip("-").replace("-", "_")]
        if isinstance(raw, str):  # the default string, not yet converted
            convert = next(c for _, f, _, c, _ in FLAGS if f == flag)
            try:
                return convert(raw)
            except (ConfigError, ValueError) as exc:
                parser.error(f"{flag} / {env_name(flag)}: {exc}")
        return raw

    level, fmt = value("--log.level"), value("--log.format")
    if level not in LEVELS:
        parser.error(f"--log.level: {level!r} is not one of {', '.join(LEVELS)}")
    if fmt not in ("logfmt", "json"):
        parser.error(f"--log.format: {fmt!r} is not one of logfmt, json")
    path = value("--web.telemetry-path")
    if not path.startswith("/") or path.startswith("/-/") or path.startswith("/inventory"):
        parser.error(
            f"--web.telemetry-path: {path!r} must start with / and not shadow another page"
        )
    try:
        docker_host = resolve_host(value("--docker.host") or None, environ)
    except ValueError as exc:
        parser.error(str(exc))
    disable_defaults = args["collector.disable_defaults"]
    enabled = []
    for name, spec in sorted(COLLECTORS.items()):
        chosen = args[f"collector.{name}"]
        if chosen is None:
            chosen = spec.default_enabled and not disable_defaults
        if chosen:
            enabled.append(name)
    ping_interval, ping_timeout = value("--docker.ping-interval"), value("--docker.ping-timeout")
    if ping_timeout > ping_interval:
        parser.error(
            f"--docker.ping-timeout ({ping_timeout:g}s) must not exceed "
            f"--docker.ping-interval ({ping_interval:g}s)"
        )
    host, port = value("--web.listen-address")
    return Settings(
        listen_host=host,
        listen_port=port,
        telemetry_path=path,
        web_config_file=value("--web.config.file"),
        exporter_metrics=not args["web.disable_exporter_metrics"],
        docker_host=docker_host,
        docker_timeout=value("--docker.timeout"),
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_labels=value("--docker.max-labels"),
        max_label_length=value("--docker.max-label-length"),
        max_image_tags=value("--docker.max-image-tags"),
        max_processes=value("--inventory.max-processes"),
        max_event_kinds=value("--inventory.max-event-kinds"),
        inventory_max_containers=value("--web.inventory.max-containers"),
        resync_interval=value("--inventory.resync-interval"),
        container_labels=value("--container.labels"),
        collectors=tuple(enabled),
        log_level=level,
        log_format=fmt,
        once=args["once"],
        stats_source=value("--stats.source"),
        stats_interval=value("--stats.interval"),
        stats_concurrency=value("--stats.concurrency"),
        stats_open_files=value("--stats.open-files-limit"),
        host_proc=value("--host.proc"),
        host_sys=value("--host.sys"),
        top_interval=value("--collector.top.interval"),
        volume_sizes_interval=value("--collector.volume_sizes.interval"),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["ps"]:
        from exporter.cli import ps  # noqa: PLC0415 - a client of a running exporter

        return ps.main(args[1:])
    settings = parse_settings(args, os.environ)
    from exporter.cli import app, logs  # noqa: PLC0415 - keep --help and errors fast
    from exporter.web import webconfig  # noqa: PLC0415 - keep --help and errors fast

    try:
        web = webconfig.load(settings.web_config_file) if settings.web_config_file else None
    except webconfig.WebConfigError as exc:
        sys.stderr.write(f"docker-exporter: error: {exc}\n")
        return 2
    logs.setup(settings.log_level, settings.log_format)
    return app.run(settings, web)


if __name__ == "__main__":
    sys.exit(main())

"""Command line: the declared options (each also an environment variable) to Settings, then run.

Bad input ends in one line on stderr and exit code 2, like the Prometheus tools. The
options themselves are declared where they are used (exporter/options.py); this module
only turns the declarations into an argument parser and the parsed values into Settings.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields
from typing import Any, NoReturn

from exporter import __version__
from exporter.cli.settings import Settings
from exporter.collectors import COLLECTORS
from exporter.engine.config import resolve_host
from exporter.options import (
    CHECKS,
    ENV_PREFIX,
    OPTIONS,
    ConfigError,
    Option,
    Options,
    env_name,
    parse_bool,
)
from exporter.registry.config import RegistryConfigError

__all__ = ["build_parser", "env_name", "flag_rows", "main", "parse_settings"]

GROUPS = ("web", "docker", "inventory", "stats", "collectors", "registry", "compat", "log", "run")
"""Help groups in --help and README order; an option's group must be one of these."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _checked(opt: Option[Any]) -> Any:
    def convert(text: str) -> Any:
        try:
            return opt.parse(text)
        except (ConfigError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = opt.metavar.lower()
    return convert


def options() -> list[Option[Any]]:
    """Every option, by group, in declaration order within a group."""
    unknown = {o.flag: o.group for o in OPTIONS.values() if o.group not in GROUPS}
    if unknown:
        raise ValueError(f"options in no help group: {unknown}")
    core = [f.metadata["option"] for f in fields(Settings) if "option" in f.metadata]

    def place(o: Option[Any]) -> tuple[int, int, str]:
        return (GROUPS.index(o.group), core.index(o) if o in core else len(core), o.flag)

    return sorted(OPTIONS.values(), key=place)


def _shown(opt: Option[Any]) -> str:
    return "off" if opt.switch else opt.default or "-"


def build_parser() -> argparse.ArgumentParser:
    """Every value default is None here: parse_settings tells a given flag from an
    environment variable from the declared default."""
    parser = _Parser(
        prog="docker-exporter",
        description="Prometheus exporter and JSON inventory for a Docker Engine. "
        f"Every flag can also be set as an environment variable {ENV_PREFIX}<FLAG>, "
        "e.g. --web.listen-address as DOCKER_EXPORTER_WEB_LISTEN_ADDRESS.",
    )
    parser.add_argument("--version", action="version", version=f"docker-exporter {__version__}")
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    for opt in options():
        text = f"{opt.help} (default: {_shown(opt)})"
        if opt.switch:
            groups[opt.group].add_argument(opt.flag, action="store_const", const=True, help=text)
        elif opt.repeat:
            groups[opt.group].add_argument(
                opt.flag, action="append", type=_checked(opt), help=text, metavar=opt.metavar
            )
        else:
            groups[opt.group].add_argument(
                opt.flag, type=_checked(opt), help=text, metavar=opt.metavar
            )
    for name, spec in sorted(COLLECTORS.items()):
        groups["collectors"].add_argument(
            f"--collector.{name}",
            action=argparse.BooleanOptionalAction,
            help=f"{spec.help} (default: {'enabled' if spec.default_enabled else 'disabled'})",
        )
    return parser


def flag_rows() -> Iterator[tuple[str, str, str, str]]:
    """(flags, environment variable, default, help) of every flag, for the README."""
    for opt in options():
        yield f"`{opt.flag}`", opt.env, _shown(opt), opt.help
    for name, spec in sorted(COLLECTORS.items()):
        flag = f"--collector.{name}"
        state = "enabled" if spec.default_enabled else "disabled"
        yield f"`{flag}` / `--no-{flag[2:]}`", env_name(flag), state, spec.help


def parse_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """argv and environment to Settings: a flag beats its variable, which beats the
    default; exits 2 with one line on any bad value."""
    parser = build_parser()
    args = vars(parser.parse_args(argv))

    def from_env(flag: str, parse: Any) -> Any:
        name = env_name(flag)
        try:
            return parse(environ[name])
        except (ConfigError, ValueError) as exc:
            parser.error(f"{name}: {exc}")

    values: dict[Option[Any], Any] = {}
    for opt in OPTIONS.values():
        given = args[opt.dest]
        if given is not None and opt.repeat:  # one parsed tuple per occurrence
            values[opt] = tuple(item for items in given for item in items)
        elif given is not None:
            values[opt] = given
        elif opt.env in environ:
            values[opt] = from_env(opt.flag, opt.parse)
    core = {f.metadata["option"]: f.name for f in fields(Settings) if "option" in f.metadata}
    chosen = {core[o]: v for o, v in values.items() if o in core}
    try:
        chosen["docker_host"] = resolve_host(values.get(OPTIONS["--docker.host"]) or None, environ)
    except ValueError as exc:
        parser.error(str(exc))
    disable_defaults = values.get(OPTIONS["--collector.disable-defaults"], False)
    enabled = []
    for name, spec in sorted(COLLECTORS.items()):
        flag = f"--collector.{name}"
        on = args[flag.lstrip("-")]
        if on is None and env_name(flag) in environ:
            on = from_env(flag, parse_bool)
        enabling = spec.enabling()
        wanted = any(bool(values.get(o)) for o in enabling)
        if on is None:
            on = (spec.default_enabled and not disable_defaults) or wanted
        if on and enabling and not wanted:
            flags = " or ".join(o.flag for o in enabling)
            parser.error(f"{flag}: nothing to collect without {flags}")
        if on:
            enabled.append(name)
    own = Options({o: v for o, v in values.items() if o not in core})
    every = Options(values)  # the checks see core settings too (the ping's two bounds)
    for check in CHECKS:
        try:
            check(every)
        except ConfigError as exc:
            parser.error(str(exc))
    return Settings(**chosen, collectors=tuple(enabled), options=own)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["ps"]:
        from exporter.cli import ps  # noqa: PLC0415 - a client of a running exporter

        return ps.main(args[1:])
    if args[:1] == ["events"]:
        from exporter.cli import events  # noqa: PLC0415 - a client of a running exporter

        return events.main(args[1:])
    settings = parse_settings(args, os.environ)
    from exporter.cli import app, logs  # noqa: PLC0415 - not needed for --help or errors
    from exporter.web import webconfig  # noqa: PLC0415 - not needed for --help or errors

    try:
        web = webconfig.load(settings.web_config_file) if settings.web_config_file else None
        registries, warnings = app.registry_targets(settings)
    except (webconfig.WebConfigError, RegistryConfigError) as exc:
        sys.stderr.write(f"docker-exporter: error: {exc}\n")
        return 2
    logs.setup(settings.log_level, settings.log_format)
    for warning in (*warnings, *(web.warnings if web else ())):
        app.log.warning("%s", warning)
    return app.run(settings, web, registries)


if __name__ == "__main__":
    sys.exit(main())

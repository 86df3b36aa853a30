"""Command-line options: each declared once, next to the code that reads it.

An `Option` is the whole truth about one setting: its flag, its default as typed on the
command line, its parser, its help and its help group. The flag gives the environment
variable (`--web.listen-address` is `DOCKER_EXPORTER_WEB_LISTEN_ADDRESS`); the argument
parser, the README's table (`python -m exporter.docs --flags`), the values and the
default in force are all made from the declaration.

Where an option is declared (node_exporter's rule: a flag lives beside its reader,
`collector/paths.go`, `collector/filesystem_common.go`):
- read by a producer, the engine adapter, the inventory or the web layer: declared with
  `option(...)` in the module that reads it (`exporter.inventory.liveness.PING_INTERVAL`),
  whose keyword defaults are `PING_INTERVAL.value`, never a second literal; the
  `Settings` field that carries it is `declared(liveness.PING_INTERVAL)`;
- read by a collector function: declared in that collector's module, reaching it as
  `Options` (`settings[containers.LABEL_KEYS]`);
- read only by the command line itself (`--log.level`, `--once`): a `Settings` field
  declared in place with `setting(...)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

ENV_PREFIX = "DOCKER_EXPORTER_"


class ConfigError(ValueError):
    """A flag or environment value that cannot be used; reported in one line, exit code 2."""


def env_name(flag: str) -> str:
    """`--web.listen-address` -> `DOCKER_EXPORTER_WEB_LISTEN_ADDRESS`."""
    return ENV_PREFIX + flag.lstrip("-").upper().replace(".", "_").replace("-", "_")


@dataclass(frozen=True, slots=True, eq=False)
class Option(Generic[T]):
    """One setting. `default` is text, parsed like a user's value, so that the default
    shown in --help and the README is the one in force."""

    flag: str
    default: str
    parse: Callable[[str], T]
    help: str
    group: str
    switch: bool = False
    """A flag without a value (`--once`); its variable takes true/false, 1/0, yes/no."""
    repeat: bool = False
    """A flag given once per value (`--registry.url A --registry.url B`); `parse` takes the
    values space-separated (its variable's form) and returns a tuple."""
    value: T = field(init=False)
    """The parsed default."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", self.parse(self.default))

    @property
    def env(self) -> str:
        return env_name(self.flag)

    @property
    def dest(self) -> str:
        """argparse's attribute name for the flag."""
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def metavar(self) -> str:
        return self.flag.rsplit(".", 1)[-1].upper()


OPTIONS: dict[str, Option[Any]] = {}
"""Every declared option by flag, in declaration order."""


def _declare(declared: Option[T]) -> Option[T]:
    """Record an option; a second declaration of the same flag is a programming error."""
    if declared.flag in OPTIONS:
        raise ValueError(f"option {declared.flag} declared twice")
    OPTIONS[declared.flag] = declared
    return declared


def option(
    flag: str, default: str, parse: Callable[[str], T], help_text: str, *, group: str
) -> Option[T]:
    """Declare an option. Its default is this text and nothing else: code that needs the
    default value reads `.value` (never a second literal)."""
    return _declare(Option(flag, default, parse, help_text, group))


def switch(flag: str, help_text: str, *, group: str) -> Option[bool]:
    """Declare a flag without a value, off unless given."""
    return _declare(Option(flag, "false", parse_bool, help_text, group, switch=True))


def repeated(
    flag: str, parse_one: Callable[[str], T], help_text: str, *, group: str
) -> Option[tuple[T, ...]]:
    """Declare a repeatable flag, empty unless given; its environment variable holds the
    values separated by spaces."""

    def parse(text: str) -> tuple[T, ...]:
        return tuple(parse_one(item) for item in text.split())

    parse.__name__ = getattr(parse_one, "__name__", "value")
    return _declare(Option(flag, "", parse, help_text, group, repeat=True))


CHECKS: list[Callable[[Options], None]] = []
"""Checks across options (two options that must not collide), run on the chosen values
after parsing; each raises ConfigError. Declared next to the options they check."""


def check(fn: Callable[[Options], None]) -> Callable[[Options], None]:
    """Decorator: add a cross-option check (CHECKS)."""
    CHECKS.append(fn)
    return fn


class Options(Mapping[Option[Any], Any]):
    """Chosen values of some options; an option not given has its default."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[Option[Any], Any] | None = None) -> None:
        self._values: dict[Option[Any], Any] = dict(values or {})

    def __getitem__(self, key: Option[T]) -> T:
        value: T = self._values.get(key, key.value)
        return value

    def __iter__(self) -> Iterator[Option[Any]]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Options({ {o.flag: v for o, v in self._values.items()} })"


# The value parsers: each raises ConfigError with a message fit for one line.

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"invalid boolean {text!r}")


def duration_seconds(text: str, *, unit_required: bool = False) -> float | None:
    """`500ms`, `5s`, `1m`, `1h` (or plain seconds unless `unit_required`) in seconds, as
    Prometheus tools spell durations; None for anything else. The one duration reader:
    flags and /events?since= alike."""
    match = _DURATION.match(text.strip())
    if not match or (unit_required and match.group(2) is None):
        return None
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_duration(text: str) -> float:
    """A positive duration flag (`duration_seconds`)."""
    seconds = duration_seconds(text)
    if seconds is None:
        raise ConfigError(f"invalid duration {text!r}: use e.g. 500ms, 5s, 1m")
    if seconds <= 0:
        raise ConfigError(f"invalid duration {text!r}: must be positive")
    return seconds


def parse_interval(text: str) -> float:
    """A sampling interval: at least 1 s (the Engine's own stats tick)."""
    seconds = parse_duration(text)
    if seconds < 1.0:
        raise ConfigError(f"invalid interval {text!r}: at least 1s")
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

"""Defensive readers of Engine JSON fields, shared by every parser.

Fields move between API versions and between Docker and Podman, and many are
`omitempty`: a parser never indexes a raw dict, it reads through these.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

Json = Mapping[str, Any]


def str_field(value: object) -> str:
    return value if isinstance(value, str) else ""


def json_int(value: object) -> int | None:
    """The one reader of an integer JSON value: an int, a float with no fraction (JSON has
    no int/float split), or decimal text (an engine that quotes its numbers); anything
    else, a bool included, is None: absent, not zero."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and value.isascii() and value.removeprefix("-").isdigit():
        return int(value)
    return None


def int_field(value: object, default: int = 0) -> int:
    """`json_int`, with `default` where there is no integer."""
    number = json_int(value)
    return default if number is None else number


def map_field(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def labels_field(value: object) -> Mapping[str, str]:
    return MappingProxyType({str(k): str(v) for k, v in map_field(value).items()})


def strings_field(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value if isinstance(v, str) and v)

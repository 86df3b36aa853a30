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


def int_field(value: object, default: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return default
    return default


def map_field(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def labels_field(value: object) -> Mapping[str, str]:
    return MappingProxyType({str(k): str(v) for k, v in map_field(value).items()})


def strings_field(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value if isinstance(v, str) and v)

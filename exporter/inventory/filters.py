"""Which containers the exporter looks after: `--container.include` / `--container.exclude`.

A rule is `name=GLOB`, `image=GLOB` or `label=KEY[=GLOB]` (shell globs, case-sensitive,
the whole value must match). A container is kept when it matches any include rule (or
there is none) and no exclude rule: exclude wins.

The cut is made once, in `Inventory` (see its docstring): an excluded container never
reaches `Snapshot.containers`, so the stats sampler, the top poller, the collectors and
the JSON views cannot disagree about it; it is only counted in
`Snapshot.container_counts` (docker_engine_containers). Event attributes carry a
container's name, image and labels, so the event history applies the same rules to
events of containers it has never inspected (`admits_attributes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from exporter.engine.models import Container

FIELDS = ("name", "image", "label")


class FilterError(ValueError):
    """A rule that cannot be parsed; the message names the rule."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One `field=pattern` rule; for labels `key` is the label key and `pattern` may be
    None (the label must exist, any value)."""

    field: str
    pattern: str | None
    key: str = ""

    @classmethod
    def parse(cls, text: str) -> Rule:
        field, sep, rest = text.strip().partition("=")
        if field not in FIELDS or not sep or not rest:
            raise FilterError(
                f"invalid container rule {text!r}: use name=GLOB, image=GLOB or label=KEY[=GLOB]"
            )
        if field == "label":
            key, has_value, value = rest.partition("=")
            if not key:
                raise FilterError(f"invalid container rule {text!r}: empty label key")
            return cls("label", value if has_value else None, key)
        return cls(field, rest)

    def __str__(self) -> str:
        if self.field != "label":
            return f"{self.field}={self.pattern}"
        return f"label={self.key}" + ("" if self.pattern is None else f"={self.pattern}")

    def matches(self, name: str, image: str, labels: Mapping[str, str]) -> bool:
        if self.field == "name":
            return fnmatchcase(name, self.pattern or "")
        if self.field == "image":
            return fnmatchcase(image, self.pattern or "")
        value = labels.get(self.key)
        if value is None:
            return False
        return self.pattern is None or fnmatchcase(value, self.pattern)


def parse_rules(texts: Iterable[str]) -> tuple[Rule, ...]:
    return tuple(Rule.parse(t) for t in texts if t.strip())


@dataclass(frozen=True, slots=True)
class ContainerFilter:
    """Include and exclude rules; the default keeps every container."""

    include: tuple[Rule, ...] = ()
    exclude: tuple[Rule, ...] = ()

    @classmethod
    def from_texts(
        cls, include: Sequence[str] = (), exclude: Sequence[str] = ()
    ) -> ContainerFilter:
        return cls(parse_rules(include), parse_rules(exclude))

    @property
    def everything(self) -> bool:
        return not self.include and not self.exclude

    def admits(self, container: Container) -> bool:
        return self.admits_fields(container.name, container.image, container.labels)

    def admits_fields(self, name: str, image: str, labels: Mapping[str, str]) -> bool:
        if any(rule.matches(name, image, labels) for rule in self.exclude):
            return False
        return not self.include or any(rule.matches(name, image, labels) for rule in self.include)

    def admits_attributes(self, attributes: Mapping[str, str]) -> bool:
        """A container event's actor attributes: `name`, `image` and the labels (Docker
        and Podman put every label of the container there)."""
        return self.admits_fields(
            attributes.get("name", "").lstrip("/"), attributes.get("image", ""), attributes
        )

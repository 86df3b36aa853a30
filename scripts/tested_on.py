#!/usr/bin/env python3
"""What an engine leg says about itself, as a row of README.md's "Tested on" table.

    DOCKER_HOST=... scripts/tested_on.py row LEG [RESULT]   one Markdown row (docker CLI)
    scripts/tested_on.py table ROWS                         the header and the rows of ROWS
    scripts/tested_on.py readme ROWS                        replace README.md's table by them

The facts come from the engine's own `docker version` and `docker info` (the docker CLI
follows DOCKER_HOST). tests/conftest.py uses the same parser to select what the live tests
expect of the engine under test. Standard library only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- tested-on:begin (scripts/tested_on.py readme, from .ci/run's legs) -->"
END = "<!-- tested-on:end -->"
HEADER = (
    "| leg | engine | API (min) | cgroup | cgroup driver | storage driver | image store "
    "| engine-generic tests |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- |"
)


@dataclass(frozen=True)
class EngineFacts:
    """What the engine says about itself (`docker version`, `docker info`)."""

    product: str  # "docker" or "podman"
    version: str
    api_version: str
    min_api_version: str
    cgroup_version: str
    cgroup_driver: str
    storage_driver: str
    image_store: str  # "containerd" (the containerd image store) or "graphdriver"
    containerd: str  # the containerd version Docker reports, "" for Podman

    @property
    def major(self) -> str:
        return self.version.split(".", 1)[0]

    @property
    def traits(self) -> frozenset[str]:
        """Names for what differs between engines: product, product+major, store, cgroup."""
        return frozenset(
            {
                self.product,
                f"{self.product}{self.major}",
                f"{self.image_store}-store",
                f"cgroup-v{self.cgroup_version}",
            }
        )

    @property
    def label(self) -> str:
        return f"{self.product} {self.version} (API {self.api_version})"


def parse_engine_facts(version: dict[str, Any], info: dict[str, Any]) -> EngineFacts:
    """The Server part of `docker version --format json` and `docker info --format json`."""
    components = {c.get("Name", ""): c for c in version.get("Components") or []}
    status = dict(info.get("DriverStatus") or [])
    containerd_store = status.get("driver-type") == "io.containerd.snapshotter.v1"
    return EngineFacts(
        product="podman" if "Podman Engine" in components else "docker",
        version=str(version.get("Version", "")),
        api_version=str(version.get("ApiVersion", "")),
        min_api_version=str(version.get("MinAPIVersion", "")),
        cgroup_version=str(info.get("CgroupVersion") or "1"),
        cgroup_driver=str(info.get("CgroupDriver", "")),
        storage_driver=str(info.get("Driver", "")),
        image_store="containerd" if containerd_store else "graphdriver",
        containerd=str(components.get("containerd", {}).get("Version", "")),
    )


def ask_engine() -> EngineFacts | None:
    """The engine the docker CLI talks to; None when it does not answer."""
    answers = []
    for command in (["version", "--format", "{{json .Server}}"], ["info", "--format", "{{json .}}"]):
        try:
            result = subprocess.run(
                ["docker", *command], capture_output=True, text=True, check=False, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if result.returncode != 0 or not result.stdout.strip():
            return None
        answers.append(json.loads(result.stdout))
    return parse_engine_facts(answers[0], answers[1])


def row(leg: str, facts: EngineFacts, result: str) -> str:
    engine = f"{'Podman' if facts.product == 'podman' else 'Docker'} {facts.version}"
    if facts.containerd:
        engine += f", containerd {facts.containerd}"
    store = "containerd" if facts.image_store == "containerd" else "graph driver"
    cells = [
        leg,
        engine,
        f"{facts.api_version} ({facts.min_api_version})",
        f"v{facts.cgroup_version}",
        facts.cgroup_driver,
        facts.storage_driver,
        store,
        result,
    ]
    return "| " + " | ".join(cells) + " |"


def table(rows_file: Path) -> str:
    rows = [line for line in rows_file.read_text().splitlines() if line.startswith("|")]
    return "\n".join([HEADER, *rows])


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "row":
        facts = ask_engine()
        if facts is None:
            print(f"tested_on: no engine answers for leg {argv[1]}", file=sys.stderr)
            return 1
        print(row(argv[1], facts, argv[2] if len(argv) > 2 else ""))
        return 0
    if len(argv) == 2 and argv[0] == "table":
        print(table(Path(argv[1])))
        return 0
    if len(argv) == 2 and argv[0] == "readme":
        text = README.read_text()
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        README.write_text(text[:start] + "\n" + table(Path(argv[1])) + "\n" + text[end:])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

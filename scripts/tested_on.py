#!/usr/bin/env python3
"""What an engine leg says about itself, as a row of README.md's "Tested on" table.

    DOCKER_HOST=... scripts/tested_on.py row LEG [RESULT]   one Markdown row (docker CLI)
    scripts/tested_on.py prometheus ID BINARY JUNIT         one row of the Prometheus table:
        the server's `--version`, and the outcome of the tests parametrised with it (pytest
        ids `[...ID...]`, e.g. prometheus-3.5) in a junit XML report of the whole suite
    scripts/tested_on.py table ROWS                         the header and the rows of ROWS
    scripts/tested_on.py readme ROWS                        replace README.md's tables by them

The facts come from the engine's own `docker version` and `docker info` (the docker CLI
follows DOCKER_HOST). tests/conftest.py uses the same parser to select what the live tests
expect of the engine under test. Standard library only.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
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
PROMETHEUS_BEGIN = "<!-- prometheus-tested:begin (scripts/tested_on.py readme, from .ci/run) -->"
PROMETHEUS_END = "<!-- prometheus-tested:end -->"
PROMETHEUS_HEADER = "| Prometheus | package | tests with it (whole suite) |\n| --- | --- | --- |"
PROMETHEUS_ROW = "| Prometheus "


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


def prometheus_row(test_id: str, binary: str, junit: Path) -> str:
    """`| Prometheus 3.5.3+ds1 | Debian sid `prometheus` 3.5.3+ds1-6 | 15 passed |` from its
    `--version` and the junit report's test cases whose id names `test_id`."""
    try:
        first = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, check=False, timeout=30
        ).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        first = ""
    found = re.match(r"prometheus, version (\S+) \(branch: ([^,]*), revision: ([^)]*)\)", first)
    version, revision = (found[1], found[3]) if found else ("?", binary)
    suite = "Debian 12" if "deb12" in revision else "Debian sid" if "/sid-" in binary else "Debian"
    package = f"{suite} `prometheus` {revision}"
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    pattern = re.compile(r"\[(?:[^\]]*-)?" + re.escape(test_id) + r"(?:-[^\]]*)?\]$")
    for case in ET.parse(junit).getroot().iter("testcase"):
        if not pattern.search(case.get("name", "")):
            continue
        if case.find("failure") is not None or case.find("error") is not None:
            counts["failed"] += 1
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    result = ", ".join(f"{n} {what}" for what, n in counts.items() if n) or "no tests"
    return f"{PROMETHEUS_ROW}{version} | {package} | {result} |"


def _split(rows_file: Path) -> tuple[list[str], list[str]]:
    rows = [line for line in rows_file.read_text().splitlines() if line.startswith("|")]
    prometheus = [line for line in rows if line.startswith(PROMETHEUS_ROW)]
    return [line for line in rows if line not in prometheus], prometheus


def table(rows_file: Path) -> str:
    """The engine legs' table, then the Prometheus servers' (when ROWS has any)."""
    engines, prometheus = _split(rows_file)
    out = "\n".join([HEADER, *engines])
    if prometheus:
        out += "\n\n" + "\n".join([PROMETHEUS_HEADER, *prometheus])
    return out


def _replace(text: str, begin: str, end: str, body: str) -> str:
    start, stop = text.index(begin) + len(begin), text.index(end)
    return text[:start] + "\n" + body + "\n" + text[stop:]


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "row":
        facts = ask_engine()
        if facts is None:
            print(f"tested_on: no engine answers for leg {argv[1]}", file=sys.stderr)
            return 1
        print(row(argv[1], facts, argv[2] if len(argv) > 2 else ""))
        return 0
    if len(argv) == 4 and argv[0] == "prometheus":  # prometheus ID BINARY JUNIT
        print(prometheus_row(argv[1], argv[2], Path(argv[3])))
        return 0
    if len(argv) == 2 and argv[0] == "table":
        print(table(Path(argv[1])))
        return 0
    if len(argv) == 2 and argv[0] == "readme":
        engines, prometheus = _split(Path(argv[1]))
        text = _replace(README.read_text(), BEGIN, END, "\n".join([HEADER, *engines]))
        if prometheus:
            body = "\n".join([PROMETHEUS_HEADER, *prometheus])
            text = _replace(text, PROMETHEUS_BEGIN, PROMETHEUS_END, body)
        README.write_text(text)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

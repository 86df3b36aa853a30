"""Writes docs/metrics.md from the metric declarations: `python -m exporter.docs`."""

from __future__ import annotations

import sys

from exporter.collectors import CATALOGUE, COLLECTORS
from exporter.render import exposition

HEADER = """# Metrics

Generated from the declarations in `exporter/` by `python -m exporter.docs`; a test
keeps this file and the code in agreement. Every container series carries `id` (the
12-character short ID, as `docker ps` prints it) and `name` (without the leading `/`).
State sets (`stateset`) are gauges with one 0/1 series per possible state.
Metrics of a disabled collector are absent. Sampled values are read from the latest
in-memory snapshot; a scrape never waits on the Engine.
"""


def flags_table() -> str:
    """The README's configuration table, from the argument parser itself."""
    from exporter.cli.main import build_parser, env_name  # noqa: PLC0415 - cli imports collectors

    lines = ["| flag | environment variable | default | meaning |", "| --- | --- | --- | --- |"]
    for action in build_parser({})._actions:  # argparse has no public listing
        flags = [f for f in action.option_strings if f.startswith("--")]
        if not flags or action.dest in ("help", "version"):
            continue
        text = " ".join((action.help or "").replace("|", "\\|").split())
        default = action.default
        shown = "on" if default is True else "off" if default is False else str(default or "-")
        for state in ("enabled", "disabled"):
            if text.endswith(f" (default: {state})"):
                text, shown = text.removesuffix(f" (default: {state})"), state
        names = " / ".join(f"`{f}`" for f in flags)
        lines.append(f"| {names} | `{env_name(flags[0])}` | `{shown}` | {text} |")
    return "\n".join(lines) + "\n"


def render() -> str:
    lines = [HEADER]
    by_collector: dict[str, list[str]] = {}
    for spec in CATALOGUE.values():
        by_collector.setdefault(spec.collector, []).append(spec.name)
    for collector in ["", *sorted(c for c in by_collector if c)]:
        if collector:
            state = "enabled" if COLLECTORS[collector].default_enabled else "disabled"
            lines.append(f"## Collector `{collector}` ({state} by default)\n")
            lines.append(f"{COLLECTORS[collector].help} `--[no-]collector.{collector}`.\n")
        else:
            lines.append("## Exporter (always on)\n")
        lines.append("| name | type | labels | help |")
        lines.append("| --- | --- | --- | --- |")
        for name in sorted(by_collector.get(collector, [])):
            spec = CATALOGUE[name]
            labels = ", ".join(f"`{label}`" for label in spec.labels) or "-"
            lines.append(f"| `{spec.name}` | {spec.kind} | {labels} | {spec.help} |")
        if not collector:
            for name in exposition.PROCESS_METRICS:
                kind = "counter" if name.endswith("_total") else "gauge"
                lines.append(
                    f"| `{name}` | {kind} | - | The exporter's own process "
                    "(off with `--web.disable-exporter-metrics`). |"
                )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(flags_table() if sys.argv[1:] == ["--flags"] else render())

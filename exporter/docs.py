"""Writes docs/metrics.md from the metric declarations: `python -m exporter.docs`."""

from __future__ import annotations

import sys

from exporter.collectors import CATALOGUE, COLLECTORS, cadvisor
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
    """The README's configuration table, from the option declarations."""
    from exporter.cli.main import flag_rows  # noqa: PLC0415 - cli imports collectors

    lines = ["| flag | environment variable | default | meaning |", "| --- | --- | --- | --- |"]
    for flags, env, default, text in flag_rows():
        cell = " ".join(text.replace("|", "\\|").split())
        lines.append(f"| {flags} | `{env}` | `{default}` | {cell} |")
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
    lines.append("## cAdvisor-shaped exposition (`--compat.cadvisor.listen-address`)\n")
    lines.append(
        "Off by default; served on its own listener, never on /metrics. Container series "
        "carry `id` (the cgroup path), `name`, `image` and a `container_label_<key>` per "
        "`--compat.cadvisor.labels` key, then the labels listed; the root cgroup is "
        '`id="/"`. See docs/cadvisor.md.\n'
    )
    lines.append("| name | type | labels | help |")
    lines.append("| --- | --- | --- | --- |")
    for name in sorted(cadvisor.COMPAT):
        spec = cadvisor.COMPAT[name]
        own = spec.labels[len(cadvisor.IDS) :] if spec.labels[:3] == cadvisor.IDS else spec.labels
        labels = ", ".join(f"`{label}`" for label in own) or "-"
        lines.append(f"| `{spec.name}` | {spec.kind} | {labels} | {spec.help} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(flags_table() if sys.argv[1:] == ["--flags"] else render())

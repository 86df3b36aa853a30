"""cgroup v2 pressure and memory events: PSI ({cpu,memory,io}.pressure) and the
memory.events counters, as pure parsers of the bytes the readers read.

Both exist only on cgroup v2, and PSI only where the kernel gives it: built with
CONFIG_PSI, not booted with psi=0 (older kernels then fail the read with EOPNOTSUPP,
newer ones hide the files) and not switched off for the cgroup (cgroup.pressure 0 hides
them). An absent or unsupported file gives no series, never zeros (fileio reads an
EOPNOTSUPP file as absent; the kept reader probes it once and marks it missing).
"""

from __future__ import annotations

from collections.abc import Sequence

from exporter.engine.stats import MEMORY_EVENTS, PRESSURE_KINDS, PRESSURE_RESOURCES

_EVENT_KEYS = tuple((event, b"\n" + event.encode() + b" ") for event in MEMORY_EVENTS)
_US = 1e6


def parse_memory_events(data: bytes | None) -> tuple[tuple[str, int], ...]:
    """memory.events to (event, count) in MEMORY_EVENTS order, for the keys present
    (`oom_group_kill` and keys of newer kernels are left out)."""
    if not data:
        return ()
    text = b"\n" + data
    out = []
    for event, needle in _EVENT_KEYS:
        start = text.find(needle)
        if start < 0:
            continue
        start += len(needle)
        end = text.find(b"\n", start)
        try:
            out.append((event, int(text[start : end if end >= 0 else None])))
        except ValueError:
            continue
    return tuple(out)


def parse_pressure(resource: str, data: bytes | None) -> tuple[tuple[str, str, float], ...]:
    """One pressure file (`some avg10=0.00 avg60=0.00 avg300=0.00 total=12345`, then a
    `full` line; cpu.pressure has no `full` line before 5.13) to (resource, kind, total
    stalled seconds) per line present; `total` is in microseconds."""
    if not data:
        return ()
    out = []
    for line in data.splitlines():
        kind, _, fields = line.decode(errors="replace").partition(" ")
        if kind not in PRESSURE_KINDS:
            continue
        for field in fields.split():
            key, _, value = field.partition("=")
            if key == "total" and value.isdigit():
                out.append((resource, kind, int(value) / _US))
    return tuple(out)


def parse_pressures(files: Sequence[bytes | None]) -> tuple[tuple[str, str, float], ...]:
    """The pressure files in PRESSURE_RESOURCES order (None: absent)."""
    return tuple(
        row
        for resource, data in zip(PRESSURE_RESOURCES, files, strict=True)
        for row in parse_pressure(resource, data)
    )

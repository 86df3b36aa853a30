"""cgroup v2 pressure and memory events: PSI ({cpu,memory,io}.pressure) and
memory.events, parsed from the bytes the cgroup reader read.

Both exist only on cgroup v2, and PSI only where the kernel has it (CONFIG_PSI, not
booted with psi=0, and not turned off for the cgroup through cgroup.pressure): an absent
file, or one whose read fails with EOPNOTSUPP, gives no series rather than zeros.
"""

from __future__ import annotations

import errno

from exporter.engine.stats import MEMORY_EVENTS, PRESSURE_KINDS, PRESSURE_RESOURCES

PRESSURE_FILES = tuple(f"{resource}.pressure" for resource in PRESSURE_RESOURCES)
UNSUPPORTED_ERRNOS = frozenset({errno.EOPNOTSUPP, errno.ENOTSUP})
"""What reading a pressure file gives when PSI is off (psi=0, or cgroup.pressure 0)."""
_EVENT_KEYS = tuple((event, b"\n" + event.encode() + b" ") for event in MEMORY_EVENTS)
_US = 1e6


def parse_memory_events(data: bytes | None) -> tuple[tuple[str, int], ...]:
    """memory.events to (event, count) in MEMORY_EVENTS order, for the keys present."""
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
    `full` line) to (resource, kind, total stalled seconds) per line present."""
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


def parse_pressures(files: tuple[bytes | None, ...]) -> tuple[tuple[str, str, float], ...]:
    """The three pressure files, in PRESSURE_RESOURCES order (None: absent)."""
    return tuple(
        row
        for resource, data in zip(PRESSURE_RESOURCES, files, strict=True)
        for row in parse_pressure(resource, data)
    )

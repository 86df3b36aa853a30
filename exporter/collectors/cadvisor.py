"""cAdvisor's names, units and labels, from the same snapshots: the families community
dashboards and alert rules query (docs/cadvisor.md), served on their own listener
(`--compat.cadvisor.listen-address`) so that a user changes only the scrape target.

Not a registered collector (its names lack the docker_ prefix, and it never appears on
/metrics): a set of pure functions from a snapshot to families, rendered by
`exporter.render.compat` through the same byte store. Series follow cAdvisor's: running
containers only, labelled `id` (the cgroup path), `name`, `image` and the allow-listed
`container_label_<key>`; the root cgroup as `id="/"`; `container_last_seen` of a
container that stopped or went away kept for a grace period (`last_seen_rows`), so that
`time() - container_last_seen > 60` fires as it does with cAdvisor. Deliberately not
copied: per-CPU series, `restartcount`, every label and env var on every series, host
traffic for host-network containers, inode series, sample timestamps.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from exporter import __version__
from exporter.collectors.base import Options, Row, sanitize_name
from exporter.collectors.family import Family, Kind, MetricSpec
from exporter.engine.models import Container
from exporter.engine.stats import ContainerStats
from exporter.inventory.store import Snapshot
from exporter.options import Option, option, parse_duration, parse_listen_address

GROUP = "compat"


def parse_address(text: str) -> tuple[str, int] | None:
    """`[host]:port`, or empty for off."""
    return parse_listen_address(text) if text else None


def parse_keys(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))


LISTEN = option(
    "--compat.cadvisor.listen-address",
    "",
    parse_address,
    "Serve a cAdvisor-shaped /metrics (container_*, machine_*) on this [host]:port, e.g. "
    ":8080, for dashboards and rules written for cAdvisor (docs/cadvisor.md); off when empty.",
    group=GROUP,
)
LABELS = option(
    "--compat.cadvisor.labels",
    "com.docker.compose.project,com.docker.compose.service,org.label-schema.group",
    parse_keys,
    "Comma-separated Docker label keys put on every cAdvisor-shaped series as "
    "container_label_<key> (cAdvisor puts all of them).",
    group=GROUP,
)
GRACE = option(
    "--compat.cadvisor.last-seen-grace",
    "5m",
    parse_duration,
    "How long container_last_seen of a stopped or removed container stays, frozen (cAdvisor "
    "keeps it about 5 minutes through sample timestamps; 0 drops it at once).",
    group=GROUP,
)

COMPAT: dict[str, MetricSpec] = {}
"""Every cAdvisor-shaped metric, declared once (docs/metrics.md lists them apart)."""

IDS = ("id", "name", "image")


def declare(name: str, kind: Kind, help_text: str, labels: Sequence[str] = IDS) -> MetricSpec:
    if name in COMPAT:
        raise ValueError(f"metric {name} declared twice")
    if kind == "counter" and not name.endswith("_total"):
        raise ValueError(f"counter {name} must end in _total")
    spec = MetricSpec(name, kind, help_text, tuple(labels), "cadvisor", sparse=True)
    COMPAT[name] = spec
    return spec


def _c(name: str, help_text: str, extra: Sequence[str] = ()) -> MetricSpec:
    return declare(name, "counter", help_text, (*IDS, *extra))


def _g(name: str, help_text: str, extra: Sequence[str] = ()) -> MetricSpec:
    return declare(name, "gauge", help_text, (*IDS, *extra))


CPU_USAGE = _c(
    "container_cpu_usage_seconds_total",
    'Cumulative CPU time consumed, one cpu="total" series (no per-CPU split).',
    ("cpu",),
)
CPU_USER = _c("container_cpu_user_seconds_total", "Cumulative user CPU time consumed.")
CPU_SYSTEM = _c("container_cpu_system_seconds_total", "Cumulative system CPU time consumed.")
CFS_PERIODS = _c(
    "container_cpu_cfs_periods_total", "Elapsed enforcement periods (with a CPU quota only)."
)
CFS_THROTTLED = _c(
    "container_cpu_cfs_throttled_periods_total",
    "Throttled period intervals (with a CPU quota only).",
)
CFS_THROTTLED_SECONDS = _c(
    "container_cpu_cfs_throttled_seconds_total",
    "Total time duration the container has been throttled (with a CPU quota only).",
)
MEM_USAGE = _g("container_memory_usage_bytes", "Current memory usage, page cache included (bytes).")
MEM_WS = _g("container_memory_working_set_bytes", "Usage minus inactive file cache (bytes).")
MEM_RSS = _g("container_memory_rss", "Anonymous memory (total_rss / anon), in bytes.")
MEM_CACHE = _g("container_memory_cache", "Page cache (total_cache / file), in bytes.")
MEM_SWAP = _g("container_memory_swap", "Swap used, in bytes.")
MEM_MAPPED = _g("container_memory_mapped_file", "Size of memory-mapped files, in bytes.")
MEM_FAILCNT = _g(
    "container_memory_failcnt",
    "Times usage hit the limit (v1 memory.failcnt; v2 memory.events max, where cAdvisor "
    "reads 0). A counter without _total, as cAdvisor names it.",
)
MEM_FAILURES = _c(
    "container_memory_failures_total",
    "Page faults (failure_type pgfault, pgmajfault) of the container's hierarchy, the same "
    "value under scope container and hierarchy.",
    ("failure_type", "scope"),
)
NET_FIELDS = (
    ("receive", "bytes", "rx_bytes"),
    ("receive", "packets", "rx_packets"),
    ("receive", "errors", "rx_errors"),
    ("receive", "packets_dropped", "rx_dropped"),
    ("transmit", "bytes", "tx_bytes"),
    ("transmit", "packets", "tx_packets"),
    ("transmit", "errors", "tx_errors"),
    ("transmit", "packets_dropped", "tx_dropped"),
)
NETWORK = tuple(
    (
        _c(
            f"container_network_{direction}_{unit}_total",
            f"Network {unit.replace('_', ' ')} {'received' if direction == 'receive' else 'sent'}"
            " per interface (none for host or shared network namespaces).",
            ("interface",),
        ),
        attr,
    )
    for direction, unit, attr in NET_FIELDS
)
FS_READ_BYTES = _c(
    "container_fs_reads_bytes_total",
    "Bytes read by the container (blkio / io.stat), device as MAJ:MIN.",
    ("device",),
)
FS_WRITE_BYTES = _c(
    "container_fs_writes_bytes_total",
    "Bytes written by the container (blkio / io.stat), device as MAJ:MIN.",
    ("device",),
)
FS_READS = _c(
    "container_fs_reads_total",
    "Read operations of the container only (cAdvisor adds the device's /proc/diskstats).",
    ("device",),
)
FS_WRITES = _c(
    "container_fs_writes_total",
    "Write operations of the container only (cAdvisor adds the device's /proc/diskstats).",
    ("device",),
)
SPEC_MEMORY = _g(
    "container_spec_memory_limit_bytes", "Memory limit, 0 when unlimited; machine memory for /."
)
SPEC_SWAP = _g(
    "container_spec_memory_swap_limit_bytes",
    "Memory + swap limit (HostConfig.MemorySwap, cgroup v1 meaning), 0 when unlimited.",
)
SPEC_RESERVATION = _g(
    "container_spec_memory_reservation_limit_bytes",
    "Memory soft limit (HostConfig.MemoryReservation), 0 when unset.",
)
SPEC_QUOTA = _g(
    "container_spec_cpu_quota", "CPU quota in microseconds per period; absent when unlimited."
)
SPEC_PERIOD = _g("container_spec_cpu_period", "CPU CFS period in microseconds.")
SPEC_SHARES = _g("container_spec_cpu_shares", "CPU shares (1024 when not set).")
START_TIME = _g(
    "container_start_time_seconds", "When the container started (State.StartedAt), Unix seconds."
)
OOM = _c(
    "container_oom_events_total",
    "OOM kills, from the Engine's oom events since the exporter started.",
)
LAST_SEEN = _g(
    "container_last_seen",
    "When the exporter last sampled the container, Unix seconds; kept frozen for "
    "--compat.cadvisor.last-seen-grace after it stops or goes away.",
)
MACHINE_CORES = declare("machine_cpu_cores", "gauge", "Logical CPUs of the host (Engine NCPU).", ())
MACHINE_MEMORY = declare(
    "machine_memory_bytes", "gauge", "Memory of the host (Engine MemTotal), in bytes.", ()
)
VERSION = declare(
    "cadvisor_version_info",
    "info",
    "Identity: cadvisorVersion names docker-exporter and its version, not cAdvisor.",
    ("cadvisorRevision", "cadvisorVersion", "dockerVersion", "kernelVersion", "osVersion"),
)

CONTAINER_FAMILIES = (
    CPU_USAGE,
    CPU_USER,
    CPU_SYSTEM,
    CFS_PERIODS,
    CFS_THROTTLED,
    CFS_THROTTLED_SECONDS,
    MEM_USAGE,
    MEM_WS,
    MEM_RSS,
    MEM_CACHE,
    MEM_SWAP,
    MEM_MAPPED,
    MEM_FAILCNT,
    MEM_FAILURES,
    *(spec for spec, _ in NETWORK),
    FS_READ_BYTES,
    FS_WRITE_BYTES,
    FS_READS,
    FS_WRITES,
    SPEC_MEMORY,
    SPEC_SWAP,
    SPEC_RESERVATION,
    SPEC_QUOTA,
    SPEC_PERIOD,
    SPEC_SHARES,
    START_TIME,
    OOM,
)
"""Per container, in this order: `container_rows` gives one row tuple per family."""

IGNORED_INTERFACES = ("lo", "veth", "docker", "nerdctl")
"""Interface name prefixes cAdvisor skips (`ignoredDevicePrefixes`)."""
UNLIMITED = 2**62
DEFAULT_PERIOD_US = 100_000
DEFAULT_SHARES = 1024


def label_keys(options: Options) -> Mapping[str, str]:
    """Allow-listed Docker label key -> container_label_<key>, sanitized as cAdvisor does;
    of two keys that sanitize alike, the first listed wins."""
    return _label_keys(options[LABELS])


@cache
def _label_keys(keys: tuple[str, ...]) -> Mapping[str, str]:
    out: dict[str, str] = {}
    for key in keys:
        name = "container_label_" + sanitize_name(key)
        if name not in out.values():
            out[key] = name
    return MappingProxyType(out)


def label_names(options: Options) -> tuple[str, ...]:
    return tuple(label_keys(options).values())


def new(spec: MetricSpec, options: Options) -> Family:
    """An empty family labelled id, name, image, the allow-listed container_label_*,
    then the family's own labels (cpu, interface, device, ...)."""
    return Family(spec, (*IDS, *label_names(options), *spec.labels[len(IDS) :]))


def families(options: Options) -> tuple[Family, ...]:
    """The empty per-container families, in CONTAINER_FAMILIES order."""
    return tuple(new(spec, options) for spec in CONTAINER_FAMILIES)


DRIVER: Option[str] = Option(
    "(engine)", "cgroupfs", str, "The engine's cgroup driver: set by the renderer.", GROUP
)
"""Not a flag: the compat renderer sets it from the engine info (docker info)."""


def cgroup_id(container_id: str, driver: str) -> str:
    """cAdvisor's `id`: the container's cgroup path as Docker names it by default (a
    custom --cgroup-parent is not followed)."""
    if driver == "systemd":
        return f"/system.slice/docker-{container_id}.scope"
    return f"/docker/{container_id}"


def identity(c: Container, options: Options) -> tuple[str, ...]:
    """id, name, image, then the allow-listed label values ("" where the key is absent,
    which PromQL reads like cAdvisor's empty padding)."""
    return (
        cgroup_id(c.id, options[DRIVER]),
        c.name,
        c.image,
        *(c.labels.get(k, "") for k in label_keys(options)),
    )


def container_rows(
    c: Container, sample: ContainerStats, ids: tuple[str, ...], oom: int
) -> tuple[tuple[Row, ...], ...]:
    """One running container's rows, one tuple per CONTAINER_FAMILIES entry (the
    family's own labels after the identity ones)."""

    def one(value: float | None, *extra: str) -> tuple[Row, ...]:
        return () if value is None else (((*ids, *extra), value),)

    limits = c.limits
    quota = limits.cpu_cores is not None
    faults = sample.memory_page_faults
    nets = [n for n in sample.networks if not n.interface.startswith(IGNORED_INTERFACES)]
    memory_limit = sample.memory_limit_bytes or limits.memory_bytes or 0
    out: list[tuple[Row, ...]] = [
        one(sample.cpu_usage_seconds, "total"),
        one(sample.cpu_user_seconds),
        one(sample.cpu_system_seconds),
        one(sample.cpu_periods if quota else None),
        one(sample.cpu_throttled_periods if quota else None),
        one(sample.cpu_throttled_seconds if quota else None),
        one(sample.memory_usage_bytes),
        one(sample.memory_working_set_bytes),
        one(sample.memory_rss_bytes),
        one(sample.memory_cache_bytes),
        one(sample.memory_swap_bytes),
        one(sample.memory_mapped_file_bytes),
        one(sample.memory_failures),
        ()
        if faults is None
        else tuple(
            ((*ids, kind, scope), value)
            for kind, value in (("pgfault", faults[0]), ("pgmajfault", faults[1]))
            for scope in ("container", "hierarchy")
        ),
    ]
    for _, attr in NETWORK:
        out.append(tuple(((*ids, n.interface), getattr(n, attr)) for n in nets))
    out.extend(
        tuple(((*ids, b.device), v) for b in sample.block if (v := getattr(b, attr)) is not None)
        for attr in ("read_bytes", "write_bytes", "reads", "writes")
    )
    swap = limits.memory_swap_bytes
    out.extend(
        (
            one(memory_limit if memory_limit < UNLIMITED else 0),
            one(swap if swap is not None and 0 < swap < UNLIMITED else 0),
            one(limits.memory_reservation_bytes or 0),
            one(round(limits.cpu_cores * DEFAULT_PERIOD_US) if limits.cpu_cores else None),
            one(DEFAULT_PERIOD_US),
            one(limits.cpu_shares or DEFAULT_SHARES),
            one(c.started_at),
            one(oom),
        )
    )
    return tuple(out)


_NONE: tuple[tuple[Row, ...], ...] = ((),) * len(CONTAINER_FAMILIES)
LIVE = frozenset({"running", "paused"})
"""The containers cAdvisor tracks: those whose inspect says State.Running."""


def rows(
    c: Container, joined: tuple[ContainerStats | None, int | None], options: Options
) -> tuple[tuple[Row, ...], ...]:
    """One container's rows (byte store: joined with its stats and its OOM count)."""
    sample, oom = joined
    if sample is None or c.state not in LIVE:
        return _NONE
    return container_rows(c, sample, identity(c, options), oom or 0)


def machine_families(snapshot: Snapshot, options: Options) -> Iterator[Family]:
    """The machine and the identity, from docker info."""
    del options
    engine = snapshot.engine
    if engine is None:
        return
    cores, memory, version = MACHINE_CORES.new(), MACHINE_MEMORY.new(), VERSION.new()
    cores.rows.append(((), engine.cpus))
    memory.rows.append(((), engine.memory_bytes))
    version.rows.append(
        (
            (
                "",
                f"docker-exporter {__version__}",
                engine.version,
                engine.kernel,
                engine.operating_system,
            ),
            1,
        )
    )
    yield from (cores, memory, version)


def root_rows(snapshot: Snapshot, options: Options) -> dict[str, tuple[Row, ...]]:
    """The root cgroup `id="/"` (no name, no image: host CPU, memory and PID 1's network,
    cAdvisor's interface exclusions applied) by family name, in the container families'
    label layout."""
    root = snapshot.host_stats
    if root is None:
        return {}
    ids = ("/", "", "", *("" for _ in label_keys(options)))
    engine = snapshot.engine
    out: dict[str, tuple[Row, ...]] = {}
    for spec, value, extra in (
        (CPU_USAGE, root.cpu_usage_seconds, ("total",)),
        (CPU_USER, root.cpu_user_seconds, ()),
        (CPU_SYSTEM, root.cpu_system_seconds, ()),
        (MEM_USAGE, root.memory_usage_bytes, ()),
        (MEM_WS, root.memory_working_set_bytes, ()),
        (MEM_RSS, root.memory_rss_bytes, ()),
        (MEM_CACHE, root.memory_cache_bytes, ()),
        (MEM_SWAP, root.memory_swap_bytes, ()),
        (SPEC_MEMORY, engine.memory_bytes if engine is not None else None, ()),
    ):
        if value is not None:
            out[spec.name] = (((*ids, *extra), value),)
    nets = [n for n in root.networks if not n.interface.startswith(IGNORED_INTERFACES)]
    for spec, attr in NETWORK:
        if nets:
            out[spec.name] = tuple(((*ids, n.interface), getattr(n, attr)) for n in nets)
    return out


@dataclass(frozen=True, slots=True)
class Seen:
    """When a container (or the root, key "/") was last sampled, its label values, and
    the object they were made from (unchanged container: the same labels)."""

    order: tuple[str, str]
    at: float
    ids: tuple[str, ...]
    source: object = None


def last_seen(seen: Mapping[str, Seen], options: Options) -> Family:
    """container_last_seen of everything seen within the grace period; `seen` is the
    compat renderer's one piece of state (exporter.render.compat)."""
    family = new(LAST_SEEN, options)
    for key in sorted(seen, key=lambda k: seen[k].order):
        entry = seen[key]
        family.rows.append((entry.ids, entry.at))
    return family

"""Resource usage of running containers: CPU, memory, network, block I/O, PIDs.

Values come from the background sampler (`--stats.interval`), never from the scrape.
Counters reset when a container restarts (a new cgroup); Prometheus' rate() handles it.
Stopped containers have no usage series; their limits stay in /inventory. A field the
source cannot provide is absent, never a fake zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from exporter.collectors.base import (
    CONTAINER_LABELS,
    Family,
    Kind,
    MetricSpec,
    Options,
    Row,
    add,
    container_order,
    container_values,
    declare,
    register_objects,
    register_part,
)
from exporter.engine.models import Container
from exporter.engine.stats import ContainerStats
from exporter.inventory.store import Snapshot

STATS = "stats"
SAMPLED = " Sampled in the background every --stats.interval."

Getter = str | Callable[[Container, ContainerStats], float | None]
"""A ContainerStats attribute name, or a function when inspect data can fill in."""


def _spec(name: str, kind: Kind, help_text: str, extra: tuple[str, ...] = ()) -> MetricSpec:
    return declare(name, kind, help_text + SAMPLED, [*CONTAINER_LABELS, *extra], collector=STATS)


def _limit_cores(c: Container, s: ContainerStats) -> float | None:
    return c.limits.cpu_cores if c.limits.cpu_cores is not None else s.cpu_limit_cores


def _memory_limit(c: Container, s: ContainerStats) -> float | None:
    return s.memory_limit_bytes if s.memory_limit_bytes is not None else c.limits.memory_bytes


def _pids_limit(c: Container, s: ContainerStats) -> float | None:
    return s.pids_limit if s.pids_limit is not None else c.limits.pids


SCALARS: tuple[tuple[MetricSpec, Getter], ...] = (
    (
        _spec("docker_container_cpu_usage_seconds_total", "counter", "CPU time, user + system."),
        "cpu_usage_seconds",
    ),
    (
        _spec("docker_container_cpu_user_seconds_total", "counter", "CPU time in user mode."),
        "cpu_user_seconds",
    ),
    (
        _spec("docker_container_cpu_system_seconds_total", "counter", "CPU time in kernel mode."),
        "cpu_system_seconds",
    ),
    (
        _spec("docker_container_cpu_periods_total", "counter", "CFS enforcement periods elapsed."),
        "cpu_periods",
    ),
    (
        _spec(
            "docker_container_cpu_throttled_periods_total",
            "counter",
            "CFS periods in which the container was throttled.",
        ),
        "cpu_throttled_periods",
    ),
    (
        _spec(
            "docker_container_cpu_throttled_seconds_total",
            "counter",
            "Time the container was throttled.",
        ),
        "cpu_throttled_seconds",
    ),
    (
        _spec(
            "docker_container_cpu_limit_cores",
            "gauge",
            "CPU limit in cores (NanoCpus or quota/period); absent when unlimited.",
        ),
        _limit_cores,
    ),
    (
        _spec(
            "docker_container_memory_usage_bytes",
            "gauge",
            "Memory charged to the cgroup, page cache included.",
        ),
        "memory_usage_bytes",
    ),
    (
        _spec(
            "docker_container_memory_working_set_bytes",
            "gauge",
            "Usage minus inactive file cache: what docker stats shows as MEM USAGE.",
        ),
        "memory_working_set_bytes",
    ),
    (
        _spec("docker_container_memory_rss_bytes", "gauge", "Anonymous memory (RSS)."),
        "memory_rss_bytes",
    ),
    (
        _spec("docker_container_memory_cache_bytes", "gauge", "Page cache charged to the cgroup."),
        "memory_cache_bytes",
    ),
    (
        _spec("docker_container_memory_swap_bytes", "gauge", "Swap used by the container."),
        "memory_swap_bytes",
    ),
    (
        _spec(
            "docker_container_memory_limit_bytes",
            "gauge",
            "Memory limit; absent when unlimited.",
        ),
        _memory_limit,
    ),
    (
        _spec(
            "docker_container_memory_failures_total",
            "counter",
            "Times usage hit the limit (v1 failcnt, v2 memory.events max).",
        ),
        "memory_failures",
    ),
    (
        _spec("docker_container_pids", "gauge", "Processes and threads in the container."),
        "pids",
    ),
    (
        _spec("docker_container_pids_limit", "gauge", "PID limit; absent when unlimited."),
        _pids_limit,
    ),
)

NET_FIELDS = (
    ("receive", "bytes", "rx_bytes"),
    ("receive", "packets", "rx_packets"),
    ("receive", "errors", "rx_errors"),
    ("receive", "dropped", "rx_dropped"),
    ("transmit", "bytes", "tx_bytes"),
    ("transmit", "packets", "tx_packets"),
    ("transmit", "errors", "tx_errors"),
    ("transmit", "dropped", "tx_dropped"),
)
NETWORK: tuple[tuple[MetricSpec, str], ...] = tuple(
    (
        _spec(
            f"docker_container_network_{direction}_{unit}_total",
            "counter",
            f"Network {unit} {'received' if direction == 'receive' else 'sent'} per interface"
            + (
                " (lo excluded; none for host or shared network namespaces)."
                if unit == "bytes"
                else "."
            ),
            ("interface",),
        ),
        attribute,
    )
    for direction, unit, attribute in NET_FIELDS
)
BLOCK: tuple[tuple[MetricSpec, str], ...] = (
    (
        _spec("docker_container_block_read_bytes_total", "counter", "Bytes read.", ("device",)),
        "read_bytes",
    ),
    (
        _spec("docker_container_block_write_bytes_total", "counter", "Bytes written.", ("device",)),
        "write_bytes",
    ),
    (
        _spec("docker_container_block_reads_total", "counter", "Read operations.", ("device",)),
        "reads",
    ),
    (
        _spec("docker_container_block_writes_total", "counter", "Write operations.", ("device",)),
        "writes",
    ),
)


MEMORY_EVENTS = _spec(
    "docker_container_memory_events_total",
    "counter",
    "cgroup v2 memory.events: times usage went below memory.low (low) or over "
    "memory.high (high), hit memory.max (max), the OOM state was entered (oom) and the "
    "OOM killer killed in it (oom_kill); absent on cgroup v1 and through the API.",
    ("event",),
)
PRESSURE = _spec(
    "docker_container_pressure_stalled_seconds_total",
    "counter",
    "cgroup v2 PSI ({cpu,memory,io}.pressure total): time some task (kind=some) or every "
    "non-idle task at once (kind=full) of the container stalled on the resource; absent "
    "where the kernel gives none (cgroup v1, psi=0) and through the API.",
    ("resource", "kind"),
)


SOURCE = declare(
    "docker_exporter_stats_source_info",
    "info",
    "Where resource stats come from: cgroup (files) or api (Engine stats endpoint).",
    ["source"],
    collector=STATS,
)
SWEEP = declare(
    "docker_exporter_stats_sweep_duration_seconds",
    "gauge",
    "Duration of the latest full stats sweep over running containers.",
    collector=STATS,
)
ERRORS = declare(
    "docker_exporter_stats_errors_total",
    "counter",
    "Stats requests that failed (API source).",
    collector=STATS,
)
FALLBACKS = declare(
    "docker_exporter_stats_api_fallbacks_total",
    "counter",
    "Container samples the cgroup source could not read and asked the API for (auto mode).",
    collector=STATS,
)
LAST_SAMPLE = declare(
    "docker_exporter_stats_last_sample_timestamp_seconds",
    "gauge",
    "When the latest stats sweep finished, in Unix seconds.",
    collector=STATS,
)
SWEEPS = declare(
    "docker_exporter_stats_sweeps_total",
    "counter",
    "Stats sweeps completed; its rate falls below 1/--stats.interval when sweeps overrun.",
    collector=STATS,
)
SAMPLES = declare(
    "docker_exporter_stats_samples_total",
    "counter",
    "Container samples taken: one per running container sampled per sweep.",
    collector=STATS,
)
SUSPENDED = declare(
    "docker_exporter_stats_suspended_sweeps_total",
    "counter",
    "Sweeps (or their API fallback) skipped while the engine did not answer its ping.",
    collector=STATS,
)
SELF = (SOURCE, SWEEP, ERRORS, FALLBACKS, LAST_SAMPLE, SWEEPS, SAMPLES, SUSPENDED)


FAMILIES = (*(spec for spec, _ in (*SCALARS, *NETWORK, *BLOCK)), MEMORY_EVENTS, PRESSURE)
_SCALAR_GETTERS = tuple(get for _, get in SCALARS)


@register_objects(
    STATS,
    "CPU, memory, network, block I/O and PIDs of running containers (background sampler).",
    metrics=FAMILIES,
    source="containers",
    joins=("stats",),
    order=container_order,
    keep_rows=True,
)
def rows(
    c: Container, joined: tuple[ContainerStats | None], _options: Options
) -> tuple[tuple[Row, ...], ...]:
    """One container's rows, one tuple per family of FAMILIES (empty where it has none):
    the hottest function of a render, about 35 series per running container, run only
    for the containers whose sample changed."""
    (sample,) = joined
    if sample is None:
        return _NONE
    ids = container_values(c)
    out: list[tuple[Row, ...]] = []
    for get in _SCALAR_GETTERS:
        value = getattr(sample, get) if isinstance(get, str) else get(c, sample)
        out.append(() if value is None else ((ids, value),))
    for devices, specs, label in (
        (sample.networks, NETWORK, "interface"),
        (sample.block, BLOCK, "device"),
    ):
        for _, attr in specs:
            out.append(
                tuple(
                    ((*ids, getattr(d, label)), value)
                    for d in devices
                    if (value := getattr(d, attr)) is not None
                )
            )
    out.append(tuple(((*ids, event), n) for event, n in sample.memory_events))
    out.append(tuple(((*ids, res, kind), sec) for res, kind, sec in sample.pressure))
    return tuple(out)


_NONE: tuple[tuple[Row, ...], ...] = ((),) * len(FAMILIES)


@register_part(STATS, inputs=("sampler",), metrics=SELF)
def _self_metrics(snapshot: Snapshot, _options: Options) -> Iterable[Family]:
    """The sampler's own series, apart: they change at every sweep, the containers' rows
    only when a container's stats or metadata do (an idle fleet's stay the same objects)."""
    status = snapshot.sampler
    if not status.source:
        return
    source, errors, fallbacks = SOURCE.new(), ERRORS.new(), FALLBACKS.new()
    add(source, [status.source], 1)
    add(errors, [], status.errors)
    add(fallbacks, [], status.api_fallbacks)
    yield from (source, errors, fallbacks)
    if status.sweep_seconds is not None and status.last_sample_ts is not None:
        sweep, last = SWEEP.new(), LAST_SAMPLE.new()
        add(sweep, [], status.sweep_seconds)
        add(last, [], status.last_sample_ts)
        yield from (sweep, last)
    sweeps, samples, suspended = SWEEPS.new(), SAMPLES.new(), SUSPENDED.new()
    add(sweeps, [], status.sweeps)
    add(samples, [], status.samples)
    add(suspended, [], status.suspended)
    yield from (sweeps, samples, suspended)

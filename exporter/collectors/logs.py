"""Disk per container: log files (by stat) and, opt-in, writable layers (`docker ps --size`)."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.collectors.base import (
    Family,
    Options,
    Row,
    add,
    container_order,
    container_values,
    declare,
    register,
    register_objects,
)
from exporter.engine.models import Container
from exporter.engine.stats import LogFile
from exporter.inventory.store import Snapshot
from exporter.options import option, parse_interval

LOGS = "logs"
LOGS_INTERVAL = option(
    "--collector.logs.interval",
    "15s",
    parse_interval,
    "logs collector: how often each container's log file is looked at (one stat each).",
    group="collectors",
)
DOCKER_ROOT = option(
    "--host.docker-root",
    "",
    str,
    "Where the host's Docker root (DockerRootDir, /var/lib/docker) is mounted read-only "
    "when the exporter runs in a container (e.g. /host/docker); empty: the engine's own "
    "paths, as on the host.",
    group="collectors",
)
LOG_BYTES = declare(
    "docker_container_log_bytes",
    "gauge",
    "Size of the container's active log file (json-file and local drivers), by stat; it "
    "drops when the driver rotates the file. Never read.",
    ("id", "name"),
    collector=LOGS,
)
LOG_WRITTEN = declare(
    "docker_container_log_written_bytes_total",
    "counter",
    "Bytes the container's log file grew by since the exporter first saw it, across "
    "rotations (the renamed file is found by its inode): rate() is the log's growth.",
    ("id", "name"),
    collector=LOGS,
)
LOG_INFO = declare(
    "docker_container_log_info",
    "info",
    "The container's log driver and its rotation options; max_size empty: unbounded "
    "(the local driver's defaults, 20m and 5 files, are shown when not set).",
    ("id", "name", "driver", "max_size", "max_file"),
    collector=LOGS,
)


@register_objects(
    LOGS,
    "Container log files: size and growth by stat (json-file, local), never their "
    "contents; the log driver and its max-size/max-file.",
    metrics=[LOG_BYTES, LOG_WRITTEN, LOG_INFO],
    source="containers",
    joins=("log_files",),
    order=container_order,
)
def rows(
    c: Container, joined: tuple[LogFile | None], _options: Options
) -> tuple[tuple[Row, ...], ...]:
    ids = container_values(c)
    (file,) = joined
    size: tuple[Row, ...] = ()
    written: tuple[Row, ...] = ()
    if file is not None and file.size_bytes is not None:
        size = ((ids, file.size_bytes),)
        written = ((ids, file.written_bytes),)
    info: tuple[Row, ...] = ()
    if c.log is not None:
        info = (((*ids, c.log.driver, c.log.max_size, c.log.max_file), 1.0),)
    return (size, written, info)


CONTAINER_SIZES = "container_sizes"
SIZES_INTERVAL = option(
    "--collector.container_sizes.interval",
    "30m",
    parse_interval,
    "container_sizes collector: how often `docker ps --size` runs (the engine walks every "
    "writable layer; one caller, never concurrent).",
    group="collectors",
)
WRITABLE = declare(
    "docker_container_writable_layer_bytes",
    "gauge",
    "Size of the container's writable layer (SizeRw: what it wrote outside volumes), "
    "sampled by `docker ps --size` every --collector.container_sizes.interval.",
    ("id", "name"),
    collector=CONTAINER_SIZES,
)
SIZES_SAMPLE = declare(
    "docker_container_sizes_last_sample_timestamp_seconds",
    "gauge",
    "When the writable layers were last sampled, in Unix seconds.",
    collector=CONTAINER_SIZES,
)
SIZES_SECONDS = declare(
    "docker_container_sizes_sample_duration_seconds",
    "gauge",
    "How long the engine took to answer the latest `docker ps --size` (its cost).",
    collector=CONTAINER_SIZES,
)


@register(
    CONTAINER_SIZES,
    "Writable layer sizes from `docker ps --size`, which walks every container's layer: "
    "expensive, so opt-in and sampled every --collector.container_sizes.interval.",
    metrics=[WRITABLE, SIZES_SAMPLE, SIZES_SECONDS],
    inputs=("container_sizes", "containers"),
    default_enabled=False,
)
def collect_sizes(snapshot: Snapshot, _options: Options) -> Iterable[Family]:
    sizes = snapshot.container_sizes
    if sizes is None:
        return
    writable, last, seconds = WRITABLE.new(), SIZES_SAMPLE.new(), SIZES_SECONDS.new()
    for c in sorted(snapshot.containers.values(), key=container_order):
        if c.id in sizes.writable:
            add(writable, container_values(c), sizes.writable[c.id])
    add(last, [], sizes.time)
    add(seconds, [], sizes.seconds)
    yield from (writable, last, seconds)

"""Volumes: what `docker volume ls` shows, and, opt-in, their sizes from `/system/df`."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.collectors.base import Family, Options, Row, add, declare, register, register_objects
from exporter.engine.resources import Volume
from exporter.inventory.store import Snapshot

VOLUMES = "volumes"
INFO = declare(
    "docker_volume_info",
    "info",
    "A volume, named or anonymous, with its driver and scope.",
    ["volume", "driver", "scope"],
    collector=VOLUMES,
)

VOLUME_SIZES = "volume_sizes"
SIZE = declare(
    "docker_volume_size_bytes",
    "gauge",
    "Disk space used by a volume, sampled from /system/df in the background (every "
    "--collector.volume_sizes.interval); absent where the driver cannot tell.",
    ["volume"],
    collector=VOLUME_SIZES,
)
LAST_SAMPLE = declare(
    "docker_volume_sizes_last_sample_timestamp_seconds",
    "gauge",
    "When the volume sizes were last sampled from /system/df, in Unix seconds.",
    collector=VOLUME_SIZES,
)


@register_objects(
    VOLUMES, "Volumes and their drivers.", metrics=[INFO], source="volumes", order=lambda v: v.name
)
def rows(volume: Volume, _joined: tuple[()], _options: Options) -> tuple[tuple[Row, ...]]:
    return ((((volume.name, volume.driver, volume.scope), 1),),)


@register(
    VOLUME_SIZES,
    "Volume sizes from /system/df, which walks every volume: expensive, so opt-in and "
    "sampled every --collector.volume_sizes.interval by one background caller, never per "
    "scrape.",
    metrics=[SIZE, LAST_SAMPLE],
    inputs=("disk_usage", "volumes"),
    default_enabled=False,
)
def collect_sizes(snapshot: Snapshot, _options: Options) -> Iterable[Family]:
    usage = snapshot.disk_usage
    if usage is None:
        return
    size, last = SIZE.new(), LAST_SAMPLE.new()
    for name in sorted(usage.volumes):
        bytes_used = usage.volumes[name].size_bytes
        if bytes_used is not None and name in snapshot.volumes:  # not if removed since
            add(size, [name], bytes_used)
    add(last, [], usage.time)
    yield from (size, last)

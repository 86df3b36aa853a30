"""Engine metrics: what `docker info` and `docker version` print."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.collectors.base import Family, Options, add, declare, register, register_part
from exporter.inventory.store import Snapshot

ENGINE = "engine"
INFO = declare(
    "docker_engine_info",
    "info",
    "Engine version and host facts, as docker info and docker version print them.",
    [
        "version",
        "api_version",
        "os",
        "arch",
        "kernel",
        "storage_driver",
        "cgroup_driver",
        "cgroup_version",
    ],
    collector=ENGINE,
)
CPUS = declare("docker_engine_cpus", "gauge", "CPUs the engine sees (NCPU).", collector=ENGINE)
MEMORY = declare(
    "docker_engine_memory_bytes", "gauge", "Memory the engine sees (MemTotal).", collector=ENGINE
)
SWARM = declare(
    "docker_engine_swarm_info",
    "info",
    "Swarm membership of this engine: inactive, pending, active, error or locked.",
    ["state"],
    collector=ENGINE,
)


@register(
    ENGINE,
    "Engine version, host CPUs and memory, swarm state.",
    metrics=[INFO, CPUS, MEMORY, SWARM],
    inputs=("engine",),
)
def collect(snapshot: Snapshot, _options: Options) -> Iterable[Family]:
    engine = snapshot.engine
    if engine is None:
        return
    info = INFO.new()
    add(
        info,
        [
            engine.version,
            engine.api_version,
            engine.os,
            engine.arch,
            engine.kernel,
            engine.storage_driver,
            engine.cgroup_driver,
            engine.cgroup_version,
        ],
        1,
    )
    cpus, memory, swarm = CPUS.new(), MEMORY.new(), SWARM.new()
    add(cpus, [], engine.cpus)
    add(memory, [], engine.memory_bytes)
    add(swarm, [engine.swarm_state], 1)
    yield from (info, cpus, memory, swarm)


CONTAINERS = declare(
    "docker_engine_containers",
    "gauge",
    "Containers on the engine by state, those left out by --container.include/exclude "
    "included (like docker info's Containers, Running, Paused, Stopped, per state).",
    ["state"],
    collector=ENGINE,
)
EXCLUDED = declare(
    "docker_engine_containers_excluded",
    "gauge",
    "Containers left out by --container.include/exclude: no series, stats or process "
    "lists are made for them.",
    collector=ENGINE,
)


@register_part(ENGINE, inputs=("container_counts", "excluded"), metrics=[CONTAINERS, EXCLUDED])
def collect_counts(snapshot: Snapshot, _options: Options) -> Iterable[Family]:
    if not snapshot.container_counts:
        return
    counts, excluded = CONTAINERS.new(), EXCLUDED.new()
    for state, count in snapshot.container_counts.items():
        add(counts, [state], count)
    add(excluded, [], snapshot.excluded)
    yield from (counts, excluded)

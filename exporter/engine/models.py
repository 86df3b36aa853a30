"""Typed, immutable views of Engine objects, and the pure parsers that build them.

The engine adapter calls these parsers; nothing past the adapter ever sees a raw
Engine dict. Parsers are tolerant: fields move between API versions (1.41 to
1.54) and between Docker and Podman, so every field is read defensively.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exporter.engine.config import version_tuple
from exporter.engine.fields import Json, int_field, labels_field, map_field, str_field

CONTAINER_STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")
STATE_ALIASES = {
    "stopped": "exited",
    "configured": "created",
    "initialized": "created",
    "stopping": "running",
}
"""Podman's own state names, in Docker's model. `stopped`: the process has exited and
Podman has not yet run its cleanup (Podman 5 reports it for a moment, its compat layer
says `exited` afterwards); `configured`/`initialized`: created, never started;
`stopping`: a stop was asked for and the process still runs, which Docker reports as
`running` until it exits. Any other unknown state reads as `dead`."""
LIVE_STATES = frozenset({"running", "paused"})
"""States whose inspect describes a run in progress: ExitCode was reset to 0 at its start."""
HEALTH_STATES = ("none", "starting", "healthy", "unhealthy")
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")

COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"

ANY_ADDRESS = "0.0.0.0"
"""A published port bound to every address: Docker says 0.0.0.0, Podman leaves it empty."""
_FRACTION = re.compile(r"\.(\d+)")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _list(value: object) -> list[Any]:
    """A JSON array, or nothing (a field of the wrong type is read as absent: fuzzing)."""
    return value if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class Mount:
    """One mount of a container, as `docker inspect` lists it."""

    type: str
    source: str
    destination: str
    name: str
    driver: str
    mode: str
    rw: bool


@dataclass(frozen=True, slots=True)
class NetworkAttachment:
    """A container's endpoint on one network (an edge of the topology)."""

    network: str
    network_id: str
    ip: str
    ip_prefix_len: int
    ipv6: str
    gateway: str
    mac: str
    aliases: tuple[str, ...]
    endpoint_id: str = ""

    @property
    def connected(self) -> bool:
        """Whether the endpoint exists now: Docker keeps a stopped container's networks
        in its inspect with the endpoint ID and addresses cleared (`docker network
        inspect` no longer lists it); Podman leaves EndpointID empty and fills the
        addresses only while the container runs."""
        return bool(self.endpoint_id or self.ip or self.ipv6)


@dataclass(frozen=True, slots=True)
class Healthcheck:
    """`Config.Healthcheck` (the image's, unless `docker run --health-*` overrides it)."""

    interval: float
    """Seconds between probes (Docker's default 30 s when unset)."""
    start_period: float
    start_interval: float
    """Seconds between probes during the start period (API 1.44+, default 5 s)."""
    retries: int

    def probe_interval(self, health: str) -> float:
        """The shortest time between two probes in health state `health`."""
        if health == "starting" and self.start_period > 0:
            return min(self.interval, self.start_interval)
        return self.interval


@dataclass(frozen=True, slots=True)
class PortBinding:
    """A published port: `host_ip`/`host_port` are empty for an exposed, unpublished port."""

    container_port: int
    protocol: str
    host_ip: str
    host_port: str


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits from HostConfig; None means unlimited."""

    memory_bytes: int | None
    memory_reservation_bytes: int | None
    memory_swap_bytes: int | None
    cpu_cores: float | None
    cpu_shares: int | None
    cpuset_cpus: str
    pids: int | None
    block_io_throttled: bool
    """A --device-{read,write}-{bps,iops} limit is set (the sampler reads I/O counters of
    such a container on every sweep: throttled I/O is counted while it sleeps)."""


LOCAL_LOG_DEFAULTS = ("20m", "5")
"""The `local` driver rotates without options: max-size 20m, max-file 5 (moby's
daemon/logger/local)."""


@dataclass(frozen=True, slots=True)
class LogConfig:
    """The log driver and its rotation options, never its other options (a driver's
    options can hold tokens: splunk-token, awslogs credentials endpoints, ...)."""

    driver: str
    path: str
    """Inspect's `LogPath` (json-file; empty for other drivers, `local` included)."""
    max_size: str = ""
    """`max-size` as given (`10m`); empty when unbounded."""
    max_file: str = ""

    @property
    def bounded(self) -> bool:
        return bool(self.max_size)


def _log_config(raw: Json, host: Json) -> LogConfig | None:
    config = map_field(host.get("LogConfig"))
    driver = str_field(config.get("Type"))
    if not driver:
        return None
    options = map_field(config.get("Config"))
    max_size = str_field(options.get("max-size"))
    max_file = str_field(options.get("max-file"))
    if driver == "local":
        max_size = max_size or LOCAL_LOG_DEFAULTS[0]
        max_file = max_file or LOCAL_LOG_DEFAULTS[1]
    elif driver == "json-file" and max_size and not max_file:
        max_file = "1"
    return LogConfig(driver, str_field(raw.get("LogPath")), max_size, max_file)


@dataclass(frozen=True, slots=True)
class Container:
    """What an operator reads in `docker ps -a` and `docker inspect`, minus the environment."""

    id: str
    name: str
    image: str
    image_id: str
    command: tuple[str, ...]
    labels: Mapping[str, str]
    state: str
    health: str
    failing_streak: int
    restart_count: int
    exit_code: int
    """Of the last run that ended. The inventory corrects inspect's (reset to 0 when a
    run starts) with the last `die` event's exitCode: `Inventory._reconcile`."""
    oom_killed: bool
    """The OOM killer struck in the current or last run: inspect's OOMKilled, or (the
    inventory adds it) an `oom` event since the run started."""
    error: str
    pid: int
    created: float
    started_at: float | None
    finished_at: float | None
    restart_policy: str
    restart_max_retries: int
    network_mode: str
    limits: Limits
    mounts: tuple[Mount, ...]
    networks: tuple[NetworkAttachment, ...]
    ports: tuple[PortBinding, ...]
    hostname: str = ""
    platform: str = ""
    healthcheck: Healthcheck | None = None
    """None when the container has no healthcheck (or `--no-healthcheck`, Test NONE)."""
    log: LogConfig | None = None
    """Where and how the container logs (inspect `LogPath`, `HostConfig.LogConfig`)."""
    image_manifest: str = ""
    """The platform manifest's digest the container runs (`ImageManifestDescriptor`,
    containerd image store, API 1.48+); empty elsewhere."""

    @property
    def short_id(self) -> str:
        """The 12-character ID `docker ps` prints; every container series carries it."""
        return self.id[:12]

    @property
    def compose_project(self) -> str:
        return self.labels.get(COMPOSE_PROJECT_LABEL, "")

    @property
    def compose_service(self) -> str:
        return self.labels.get(COMPOSE_SERVICE_LABEL, "")

    @property
    def host_network(self) -> bool:
        return self.network_mode == "host"


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """`/info` and `/version` merged: what `docker info` and `docker version` print."""

    id: str
    name: str
    version: str
    api_version: str
    min_api_version: str
    os: str
    os_type: str
    arch: str
    kernel: str
    operating_system: str
    storage_driver: str
    cgroup_driver: str
    cgroup_version: str
    cpus: int
    memory_bytes: int
    docker_root_dir: str
    swarm_state: str
    rootless: bool
    podman: bool
    containers: int
    images: int
    warnings: tuple[str, ...]
    components: Mapping[str, str] = field(default_factory=dict)
    containerd_store: bool = False
    """Images live in containerd's store (`driver-type io.containerd.snapshotter.v1` in
    DriverStatus): image IDs are manifest or index digests."""
    insecure_registries: tuple[str, ...] = ()
    """`RegistryConfig`: insecure CIDRs (`127.0.0.0/8`) and registry names the engine
    reaches over plain HTTP or without verifying TLS."""

    @property
    def health_in_list(self) -> bool:
        """`/containers/json` carries `Health{Status, FailingStreak}` (Docker, API 1.52+):
        a health probe's outcome is read from one list, not an inspect per container.
        Podman's compat list has no `Health` (inspect stays its health source)."""
        return not self.podman and version_tuple(self.api_version) >= HEALTH_IN_LIST_API


HEALTH_IN_LIST_API = (1, 52)
"""The API version whose container list reports health and failing streak (moby#50281)."""


@dataclass(frozen=True, slots=True)
class ListedContainer:
    """One `/containers/json` row: its signature, and its health where the list has it."""

    signature: str
    health: str | None = None
    """`Health.Status` (`none`, `starting`, `healthy`, `unhealthy`); None before API 1.52."""
    failing_streak: int = 0


def parse_timestamp(value: object) -> float | None:
    """RFC 3339 (nanoseconds allowed) to Unix seconds; None for Docker's zero time."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    text = value.replace("Z", "+00:00")
    nanos = 0.0
    match = _FRACTION.search(text)
    if match:
        digits = match.group(1)
        nanos = int(digits) / 10 ** len(digits)
        text = text[: match.start()] + text[match.end() :]
    try:
        return datetime.fromisoformat(text).timestamp() + nanos
    except ValueError:
        return None


def _positive(value: object) -> int | None:
    number = int_field(value)
    return number if number > 0 else None


def _cpu_cores(host: Json) -> float | None:
    nano = int_field(host.get("NanoCpus"))
    if nano > 0:
        return nano / 1e9
    quota = int_field(host.get("CpuQuota"))
    if quota > 0:
        return quota / (int_field(host.get("CpuPeriod")) or 100_000)
    return None


def _limits(host: Json) -> Limits:
    swap = int_field(host.get("MemorySwap"))
    return Limits(
        memory_bytes=_positive(host.get("Memory")),
        memory_reservation_bytes=_positive(host.get("MemoryReservation")),
        memory_swap_bytes=swap if swap > 0 else None,
        cpu_cores=_cpu_cores(host),
        cpu_shares=_positive(host.get("CpuShares")),
        cpuset_cpus=str_field(host.get("CpusetCpus")),
        pids=_positive(host.get("PidsLimit")),
        block_io_throttled=any(
            isinstance(host.get(key), list) and bool(host.get(key)) for key in _BLKIO_THROTTLES
        ),
    )


_BLKIO_THROTTLES = (
    "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps",
)  # fmt: skip


def _seconds(value: object, default: float) -> float:
    """A Go duration in nanoseconds; `default` when unset (0)."""
    nanos = int_field(value)
    return nanos / 1e9 if nanos > 0 else default


def _healthcheck(config: Json) -> Healthcheck | None:
    check = map_field(config.get("Healthcheck"))
    test = check.get("Test")
    if not isinstance(test, list) or not test or test[0] == "NONE":
        return None
    return Healthcheck(
        interval=_seconds(check.get("Interval"), 30.0),
        start_period=_seconds(check.get("StartPeriod"), 0.0),
        start_interval=_seconds(check.get("StartInterval"), 5.0),
        retries=int_field(check.get("Retries")) or 3,
    )


def _state(status: str) -> str:
    status = STATE_ALIASES.get(status, status)
    return status if status in CONTAINER_STATES else "dead"


def _mounts(raw: object) -> tuple[Mount, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        Mount(
            type=str_field(m.get("Type")),
            source=str_field(m.get("Source")),
            destination=str_field(m.get("Destination")),
            name=str_field(m.get("Name")),
            driver=str_field(m.get("Driver")),
            mode=str_field(m.get("Mode")),
            rw=bool(m.get("RW")),
        )
        for m in raw
        if isinstance(m, Mapping)
    )


def _networks(raw: object, container_id: str) -> tuple[NetworkAttachment, ...]:
    out = []
    for name, endpoint in sorted(map_field(raw).items()):
        ep = map_field(endpoint)
        aliases = _list(ep.get("Aliases"))
        user_aliases = tuple(
            sorted(
                {
                    str(a)
                    for a in aliases
                    if isinstance(a, str) and a and not container_id.startswith(a)
                }
            )
        )
        out.append(
            NetworkAttachment(
                network=str(name),
                network_id=str_field(ep.get("NetworkID")),
                ip=str_field(ep.get("IPAddress")),
                ip_prefix_len=int_field(ep.get("IPPrefixLen")),
                ipv6=str_field(ep.get("GlobalIPv6Address")),
                gateway=str_field(ep.get("Gateway")),
                mac=str_field(ep.get("MacAddress")),
                aliases=user_aliases,
                endpoint_id=str_field(ep.get("EndpointID")),
            )
        )
    return tuple(out)


def _ports(settings: Json, config: Json) -> tuple[PortBinding, ...]:
    seen: dict[tuple[int, str, str, str], PortBinding] = {}
    published = map_field(settings.get("Ports"))
    exposed = list(map_field(config.get("ExposedPorts")))
    for spec in [*published, *exposed]:
        number, _, proto = str(spec).partition("/")
        port = int_field(number)
        if port <= 0:
            continue
        bindings = published.get(spec)
        if isinstance(bindings, list) and bindings:
            for b in bindings:
                bind = map_field(b)
                host_port = str_field(bind.get("HostPort"))
                host_ip = str_field(bind.get("HostIp"))
                if host_port and not host_ip:
                    host_ip = ANY_ADDRESS  # Podman's `-P`: every address, as Docker says
                key = (port, proto or "tcp", host_ip, host_port)
                seen[key] = PortBinding(*key)
        elif not any(k[0] == port and k[1] == (proto or "tcp") for k in seen):
            key = (port, proto or "tcp", "", "")
            seen[key] = PortBinding(*key)
    return tuple(sorted(seen.values(), key=lambda p: (p.container_port, p.protocol, p.host_ip)))


def parse_container(raw: Json) -> Container:
    """A `/containers/{id}/json` document to a Container. `Config.Env` is never read."""
    state = map_field(raw.get("State"))
    config = map_field(raw.get("Config"))
    host = map_field(raw.get("HostConfig"))
    settings = map_field(raw.get("NetworkSettings"))
    health = map_field(state.get("Health"))
    policy = map_field(host.get("RestartPolicy"))
    cid = str_field(raw.get("Id"))
    status = str_field(state.get("Status")).lower() or "created"
    command = [str_field(raw.get("Path"))] if raw.get("Path") else []
    command += [str(a) for a in _list(raw.get("Args")) if isinstance(a, str | int | float)]
    return Container(
        id=cid,
        name=str_field(raw.get("Name")).lstrip("/"),
        image=str_field(config.get("Image")),
        image_id=str_field(raw.get("Image")),
        command=tuple(command),
        labels=labels_field(config.get("Labels")),
        state=_state(status),
        health=(str_field(health.get("Status")) or "none") if health else "none",
        failing_streak=int_field(health.get("FailingStreak")),
        restart_count=int_field(raw.get("RestartCount")),
        exit_code=int_field(state.get("ExitCode")),
        oom_killed=bool(state.get("OOMKilled")),
        error=str_field(state.get("Error")),
        pid=int_field(state.get("Pid")),
        created=parse_timestamp(raw.get("Created")) or 0.0,
        started_at=parse_timestamp(state.get("StartedAt")),
        finished_at=parse_timestamp(state.get("FinishedAt")),
        restart_policy=str_field(policy.get("Name")) or "no",
        restart_max_retries=int_field(policy.get("MaximumRetryCount")),
        network_mode=str_field(host.get("NetworkMode")) or "default",
        limits=_limits(host),
        mounts=_mounts(raw.get("Mounts")),
        networks=_networks(settings.get("Networks"), cid),
        ports=_ports(settings, config),
        hostname=str_field(config.get("Hostname")),
        platform=str_field(raw.get("Platform")),
        healthcheck=_healthcheck(config),
        log=_log_config(raw, host),
        image_manifest=str_field(map_field(raw.get("ImageManifestDescriptor")).get("digest")),
    )


def parse_engine(info: Json, version: Json, api_version: str) -> EngineInfo:
    """`/info` plus `/version` to EngineInfo; `api_version` is the negotiated one."""
    components = {
        str_field(c.get("Name")): str_field(c.get("Version"))
        for c in _list(version.get("Components"))
        if isinstance(c, Mapping)
    }
    security = [str(s) for s in _list(info.get("SecurityOptions"))]
    swarm = map_field(info.get("Swarm"))
    return EngineInfo(
        id=str_field(info.get("ID")),
        name=str_field(info.get("Name")),
        version=str_field(version.get("Version")) or str_field(info.get("ServerVersion")),
        api_version=api_version,
        min_api_version=str_field(version.get("MinAPIVersion")),
        os=str_field(version.get("Os")) or str_field(info.get("OSType")),
        os_type=str_field(info.get("OSType")),
        arch=str_field(version.get("Arch")) or str_field(info.get("Architecture")),
        kernel=str_field(version.get("KernelVersion")) or str_field(info.get("KernelVersion")),
        operating_system=str_field(info.get("OperatingSystem")),
        storage_driver=str_field(info.get("Driver")),
        cgroup_driver=str_field(info.get("CgroupDriver")),
        cgroup_version=str_field(info.get("CgroupVersion")),
        cpus=int_field(info.get("NCPU")),
        memory_bytes=int_field(info.get("MemTotal")),
        docker_root_dir=str_field(info.get("DockerRootDir")),
        swarm_state=str_field(swarm.get("LocalNodeState")) or "inactive",
        rootless=any("name=rootless" in s for s in security),
        podman=any("podman" in name.lower() for name in components),
        containers=int_field(info.get("Containers")),
        images=int_field(info.get("Images")),
        warnings=tuple(str(w) for w in _list(info.get("Warnings"))),
        components=components,
        containerd_store=_containerd_store(info),
        insecure_registries=_insecure_registries(info),
    )


def _containerd_store(info: Json) -> bool:
    status = info.get("DriverStatus")
    pairs = [p for p in _list(status) if isinstance(p, list) and len(p) == 2]
    return any(p[0] == "driver-type" and p[1] == "io.containerd.snapshotter.v1" for p in pairs)


def _insecure_registries(info: Json) -> tuple[str, ...]:
    config = map_field(info.get("RegistryConfig"))
    cidrs = [str(c) for c in _list(config.get("InsecureRegistryCIDRs")) if isinstance(c, str)]
    names = [
        str(name)
        for name, index in map_field(config.get("IndexConfigs")).items()
        if isinstance(index, Mapping) and index.get("Secure") is False
    ]
    return tuple(dict.fromkeys([*cidrs, *names]))


_HEALTH_IN_STATUS = re.compile(r"\((healthy|unhealthy|health: starting)\)")


def container_signature(summary: Json) -> str:
    """What `/containers/json` says of a container, minus the ever-moving "Up 5 minutes"
    and the failing streak (applied from the list, `parse_listed`): equal signatures mean
    nothing a periodic reconcile must re-inspect changed. Ports and Mounts are sorted: the
    Engine lists them from Go maps, in a new order on each listing (Docker 20.10: four
    ports and three mounts came rotated between two listings)."""
    status = str_field(summary.get("Status"))
    health = _HEALTH_IN_STATUS.search(status)
    networks = map_field(map_field(summary.get("NetworkSettings")).get("Networks"))
    return json.dumps(
        [
            str_field(summary.get("State")),
            health.group(1) if health else "",
            summary.get("Names"),
            str_field(summary.get("ImageID")),
            summary.get("Labels"),
            {n: str_field(map_field(e).get("IPAddress")) for n, e in networks.items()},
            sorted(json.dumps(p, sort_keys=True, default=str) for p in _list(summary.get("Ports"))),
            sorted(str_field(map_field(m).get("Name")) for m in _list(summary.get("Mounts"))),
        ],
        sort_keys=True,
        default=str,
    )


def parse_listed(summary: Json) -> ListedContainer:
    """A `/containers/json` row: its signature and, from API 1.52, `Health` (Docker says
    `none` for every stopped container: `Inventory.set_health` applies it to running ones)."""
    health = summary.get("Health")
    if not isinstance(health, Mapping):
        return ListedContainer(container_signature(summary))
    return ListedContainer(
        container_signature(summary),
        str_field(health.get("Status")) or "none",
        int_field(health.get("FailingStreak")),
    )


def is_container_id(value: str) -> bool:
    """Network `Containers` maps also hold swarm `lb-*` sandboxes, which are not containers."""
    return bool(_HEX64.match(value))

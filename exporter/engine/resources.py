"""Typed, immutable views of images, networks, volumes, disk usage and `top`, and their parsers.

The companions of `models.py` for everything that is not a container or the engine:
the engine adapter calls these pure parsers and nothing past it sees a raw dict.
Two fields are never read because they can hold secrets: volume `Options` (a CIFS
volume keeps its password there) and image `Config.Env`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from exporter.engine.fields import (
    Json,
    int_field,
    labels_field,
    map_field,
    str_field,
    strings_field,
)
from exporter.engine.models import Container, NetworkAttachment, is_container_id, parse_timestamp
from exporter.engine.stats import ProcessInfo

NONE_TAG = "<none>"
"""What `docker images` prints for the repository and tag of a dangling image."""

BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"

_CPU_TIME = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)(?:\.(\d+))?$")
_GO_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$")


@dataclass(frozen=True, slots=True)
class ImageLayer:
    """One row of `docker history`: a build step and the bytes it added (0 for metadata)."""

    id: str
    created: float
    created_by: str
    size_bytes: int
    comment: str


@dataclass(frozen=True, slots=True)
class ImageSummary:
    """One row of `/images/json`: enough to notice new, removed, tagged and untagged images."""

    id: str
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Image:
    """What `docker image inspect` and `docker history` show. Content-addressed: only the
    tags and digests of an ID ever change."""

    id: str
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    parent: str
    created: float
    size_bytes: int
    layers: int
    architecture: str
    os: str
    author: str
    labels: Mapping[str, str]
    history: tuple[ImageLayer, ...] = ()
    variant: str = ""
    """The platform's CPU variant (`v7` for linux/arm/v7); empty on most."""

    @property
    def short_id(self) -> str:
        """The 12 hex digits `docker images` prints (without `sha256:`)."""
        return short_image_id(self.id)

    @property
    def tags(self) -> tuple[tuple[str, str], ...]:
        """(repository, tag) pairs as `docker images` lists them; `<none>` for dangling parts."""
        return image_tags(self.repo_tags, self.repo_digests)


@dataclass(frozen=True, slots=True)
class IpamConfig:
    """One address pool of a network."""

    subnet: str
    gateway: str
    ip_range: str


@dataclass(frozen=True, slots=True)
class NetworkMember:
    """A container endpoint in a network's `Containers` map (this node only)."""

    container_id: str
    name: str
    endpoint_id: str
    mac: str
    ipv4: str
    ipv6: str


@dataclass(frozen=True, slots=True)
class Network:
    """What `docker network inspect` shows, minus driver options (bar the bridge name)."""

    id: str
    name: str
    driver: str
    scope: str
    internal: bool
    attachable: bool
    ingress: bool
    ipv6: bool
    created: float | None
    ipam: tuple[IpamConfig, ...]
    labels: Mapping[str, str]
    members: tuple[NetworkMember, ...]
    """From network inspect as parsed; in a snapshot, derived from the containers'
    inspect by the inventory (`memberships`)."""
    bridge: str = ""

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def joins(self, attachment: NetworkAttachment) -> bool:
        """Whether a container's endpoint is on this network. Docker's NetworkID is the
        network's ID; Podman's is its name in 4.x (its ID in 5.x); the map key is the name."""
        if attachment.network_id:
            return attachment.network_id in (self.id, self.name)
        return attachment.network == self.name


def _array(value: object) -> list[Any]:
    """A JSON array, or nothing (a field of the wrong type is read as absent: fuzzing)."""
    return value if isinstance(value, list) else []


def network_index(networks: Iterable[Network]) -> dict[str, str]:
    """Network ID by ID and by name: what an endpoint's NetworkID (or map key) may say."""
    index = {n.name: n.id for n in networks}
    index.update({n.id: n.id for n in networks})
    return index


def attached_network(index: Mapping[str, str], attachment: NetworkAttachment) -> str | None:
    """The ID of the network an endpoint is on (`Network.joins`, through the index)."""
    return index.get(attachment.network_id or attachment.network)


def memberships(
    networks: Iterable[Network], containers: Iterable[Container]
) -> dict[str, tuple[NetworkMember, ...]]:
    """What `docker network inspect` lists in `Containers`, from the containers' inspect,
    per network ID: every container with a connected endpoint on it (this node's only, as
    the engine's own list; swarm load-balancer sandboxes are not containers). One pass."""
    networks = list(networks)
    index = network_index(networks)
    found: dict[str, list[NetworkMember]] = {n.id: [] for n in networks}
    for c in containers:
        for attachment in c.networks:
            network_id = attached_network(index, attachment) if attachment.connected else None
            if network_id is not None:
                found[network_id].append(
                    NetworkMember(
                        container_id=c.id,
                        name=c.name,
                        endpoint_id=attachment.endpoint_id,
                        mac=attachment.mac,
                        ipv4=attachment.ip,
                        ipv6=attachment.ipv6,
                    )
                )
    return {
        nid: tuple(sorted(members, key=lambda m: (m.name, m.container_id)))
        for nid, members in found.items()
    }


@dataclass(frozen=True, slots=True)
class Volume:
    """What `docker volume ls` and `docker volume inspect` show; `Options` are never read."""

    name: str
    driver: str
    scope: str
    mountpoint: str
    created: float | None
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class VolumeUsage:
    """A volume's disk usage from `/system/df`; None where the driver cannot tell (-1)."""

    size_bytes: int | None
    ref_count: int | None


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """The parts of `/system/df` we keep, and when they were sampled (Unix seconds)."""

    time: float
    volumes: Mapping[str, VolumeUsage] = field(default_factory=lambda: _EMPTY_USAGE)


_EMPTY_USAGE: Mapping[str, VolumeUsage] = MappingProxyType({})


def _created(value: object) -> float | None:
    """Unix seconds (lists, history) or RFC 3339 (inspect): both appear."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return parse_timestamp(value)


DOCKER_HUB_DOMAINS = ("docker.io/", "index.docker.io/")
_NAME_END = re.compile(r"[:@]")


def familiar_reference(reference: str) -> str:
    """A reference as `docker images` prints it: Docker Hub's domain, and `library/` for
    an official image, dropped (Docker's reference.FamiliarString). Podman lists fully
    qualified names (`docker.io/library/busybox:latest`); other registries, `localhost/`
    included, keep their domain, as Docker shows them too."""
    for domain in DOCKER_HUB_DOMAINS:
        if reference.startswith(domain):
            path = reference.removeprefix(domain)
            name = _NAME_END.split(path, maxsplit=1)[0]
            if name.startswith("library/") and name.count("/") == 1:
                return path.removeprefix("library/")
            return path
    return reference


def registry_domain(reference: str) -> str:
    """The registry a reference names, as Docker's reference.Domain: the first path
    component when it has a `.` or `:` or is `localhost`, else Docker Hub (`docker.io`).
    `127.0.0.1:5000/app:1` -> `127.0.0.1:5000`; `busybox` -> `docker.io`."""
    name = reference.partition("@")[0]
    first, sep, _rest = name.partition("/")
    if not sep or not ("." in first or ":" in first or first == "localhost"):
        return "docker.io"
    domain = first.lower()
    return "docker.io" if domain == "index.docker.io" else domain


def _references(value: object) -> tuple[str, ...]:
    return tuple(dict.fromkeys(familiar_reference(r) for r in strings_field(value)))


def short_image_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def split_reference(reference: str) -> tuple[str, str]:
    """`localhost:5000/app:1.0` -> (`localhost:5000/app`, `1.0`); no tag or a digest -> `<none>`."""
    if reference in ("", f"{NONE_TAG}:{NONE_TAG}", f"{NONE_TAG}@{NONE_TAG}"):
        return NONE_TAG, NONE_TAG
    name = reference.partition("@")[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    return name, NONE_TAG


def image_tags(
    repo_tags: Sequence[str], repo_digests: Sequence[str]
) -> tuple[tuple[str, str], ...]:
    """One pair per tag; digest-only repositories get tag `<none>`; dangling gets both."""
    pairs = [split_reference(t) for t in repo_tags]
    pairs = [p for p in pairs if p != (NONE_TAG, NONE_TAG)]
    tagged = {repo for repo, _ in pairs}
    for digest in repo_digests:
        repo, _ = split_reference(digest)
        if repo != NONE_TAG and repo not in tagged:
            pairs.append((repo, NONE_TAG))
            tagged.add(repo)
    return tuple(sorted(set(pairs))) or ((NONE_TAG, NONE_TAG),)


def parse_image_summary(raw: Json) -> ImageSummary | None:
    """A row of `/images/json`; None without an ID."""
    image_id = str_field(raw.get("Id"))
    if not image_id:
        return None
    return ImageSummary(
        image_id, _references(raw.get("RepoTags")), _references(raw.get("RepoDigests"))
    )


def parse_history(raw: object) -> tuple[ImageLayer, ...]:
    """`/images/{id}/history`, newest step first, as `docker history` prints it."""
    if not isinstance(raw, list):
        return ()
    return tuple(
        ImageLayer(
            id=str_field(row.get("Id")) or "<missing>",
            created=_created(row.get("Created")) or 0.0,
            created_by=str_field(row.get("CreatedBy")),
            size_bytes=max(int_field(row.get("Size")), 0),
            comment=str_field(row.get("Comment")),
        )
        for row in raw
        if isinstance(row, Mapping)
    )


def parse_image(raw: Json, history: object = None) -> Image:
    """`/images/{id}/json` plus, optionally, its `/history`. `Config.Env` is never read."""
    config = map_field(raw.get("Config"))
    rootfs = map_field(raw.get("RootFS"))
    layers = rootfs.get("Layers")
    return Image(
        id=str_field(raw.get("Id")),
        repo_tags=_references(raw.get("RepoTags")),
        repo_digests=_references(raw.get("RepoDigests")),
        parent=str_field(raw.get("Parent")),
        created=_created(raw.get("Created")) or 0.0,
        size_bytes=max(int_field(raw.get("Size")), 0),
        layers=len(layers) if isinstance(layers, list) else 0,
        architecture=str_field(raw.get("Architecture")),
        os=str_field(raw.get("Os")),
        author=str_field(raw.get("Author")),
        labels=labels_field(config.get("Labels")),
        history=parse_history(history),
        variant=str_field(raw.get("Variant")),
    )


def _address(value: object) -> str:
    """`172.18.0.2/16` -> `172.18.0.2` (network inspect gives CIDR, container inspect not)."""
    return str_field(value).partition("/")[0]


def parse_network(raw: Json) -> Network:
    """`/networks/{id}`. Swarm `lb-*`/`*-sbox` endpoints in `Containers` are not containers."""
    ipam = map_field(raw.get("IPAM"))
    pools = ipam.get("Config")
    members = [
        NetworkMember(
            container_id=cid,
            name=str_field(map_field(ep).get("Name")),
            endpoint_id=str_field(map_field(ep).get("EndpointID")),
            mac=str_field(map_field(ep).get("MacAddress")),
            ipv4=_address(map_field(ep).get("IPv4Address")),
            ipv6=_address(map_field(ep).get("IPv6Address")),
        )
        for cid, ep in map_field(raw.get("Containers")).items()
        if is_container_id(str(cid))
    ]
    return Network(
        id=str_field(raw.get("Id")),
        name=str_field(raw.get("Name")),
        driver=str_field(raw.get("Driver")),
        scope=str_field(raw.get("Scope")),
        internal=bool(raw.get("Internal")),
        attachable=bool(raw.get("Attachable")),
        ingress=bool(raw.get("Ingress")),
        ipv6=bool(raw.get("EnableIPv6")),
        created=_created(raw.get("Created")),
        ipam=tuple(
            IpamConfig(
                subnet=str_field(pool.get("Subnet")),
                gateway=str_field(pool.get("Gateway")),
                ip_range=str_field(pool.get("IPRange")),
            )
            for pool in (pools if isinstance(pools, list) else [])
            if isinstance(pool, Mapping)
        ),
        labels=labels_field(raw.get("Labels")),
        members=tuple(sorted(members, key=lambda m: (m.name, m.container_id))),
        bridge=str_field(map_field(raw.get("Options")).get(BRIDGE_NAME_OPTION)),
    )


def parse_network_ids(raw: object) -> list[str]:
    """`/networks` (its `Containers` is empty at API >= 1.28: inspect each for members)."""
    if not isinstance(raw, list):
        return []
    return [
        str_field(n.get("Id")) for n in raw if isinstance(n, Mapping) and str_field(n.get("Id"))
    ]


def parse_volume(raw: Json) -> Volume:
    """One volume of `/volumes` or `/volumes/{name}`; `Options` are deliberately skipped."""
    return Volume(
        name=str_field(raw.get("Name")),
        driver=str_field(raw.get("Driver")),
        scope=str_field(raw.get("Scope")) or "local",
        mountpoint=str_field(raw.get("Mountpoint")),
        created=_created(raw.get("CreatedAt")),
        labels=labels_field(raw.get("Labels")),
    )


def parse_volumes(raw: Json) -> list[Volume]:
    """`/volumes` (`{"Volumes": [...], "Warnings": [...]}`); `Volumes` is null when none."""
    items = raw.get("Volumes")
    if not isinstance(items, list):
        return []
    volumes = [parse_volume(v) for v in items if isinstance(v, Mapping)]
    return [v for v in volumes if v.name]


def parse_disk_usage(raw: Json, time: float) -> DiskUsage:
    """`/system/df`: per-volume size and reference count (`UsageData`, -1 when unknown).

    API 1.52+ lists the volumes in `VolumeUsage.Items` (with `verbose=1`, the legacy
    top-level `Volumes` is then absent); older APIs in `Volumes`."""
    items = map_field(raw.get("VolumeUsage")).get("Items")
    if not isinstance(items, list):
        items = raw.get("Volumes")
    usage: dict[str, VolumeUsage] = {}
    for item in _array(items):
        if not isinstance(item, Mapping) or not str_field(item.get("Name")):
            continue
        data = map_field(item.get("UsageData"))
        size = int_field(data.get("Size"), -1)
        refs = int_field(data.get("RefCount"), -1)
        usage[str_field(item.get("Name"))] = VolumeUsage(
            size_bytes=size if size >= 0 else None, ref_count=refs if refs >= 0 else None
        )
    return DiskUsage(time=time, volumes=MappingProxyType(usage))


def parse_cpu_time(text: str) -> float:
    """ps `TIME`: `[DD-]HH:MM:SS` (procps `time`), `M:SS` (`aux`) or a Go duration such as
    `1m2.5s` (Podman's psgo); 0.0 when unreadable."""
    text = text.strip()
    match = _CPU_TIME.match(text)
    if not match:
        go = _GO_DURATION.match(text) if text else None
        if not go:
            return 0.0
        h, m, sec = go.groups()
        return int(h or 0) * 3600 + int(m or 0) * 60 + float(sec or 0)
    days, hours, minutes, seconds, fraction = match.groups()
    if hours is None:  # two fields: minutes:seconds
        hours = "0"
    total = ((int(days or 0) * 24 + int(hours)) * 60 + int(minutes)) * 60 + int(seconds)
    return total + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def _top_table(raw: Json) -> tuple[list[str], list[list[str]]]:
    """Titles and rows, one cell per column. Docker splits `ps` output into columns;
    Podman 4.3 (no `ps_args`) sends each line whole: one title `"PID   USER   COMMAND"`
    and one cell per row. Such a line is split on runs of blanks, the last column
    (the command) keeping its own blanks."""
    titles = [str(t).upper() for t in _array(raw.get("Titles")) if isinstance(t, str)]
    listed = raw.get("Processes")
    rows = (
        [[str(c) for c in r] for r in listed if isinstance(r, list)]
        if isinstance(listed, list)
        else []
    )
    if len(titles) == 1 and len(titles[0].split()) > 1:
        titles = titles[0].split()
        rows = [row[0].split(maxsplit=len(titles) - 1) if len(row) == 1 else row for row in rows]
    return titles, rows


def parse_top(raw: Json) -> tuple[ProcessInfo, ...]:
    """`/containers/{id}/top`, by column title: works for our `-o` list and for `-ef`/`aux`.

    Columns the ps arguments did not ask for read as unknown: uid -1, user None, RSS 0.
    In `-ef` output the `UID` column holds the user name, so a non-numeric UID is a name.
    """
    titles, rows = _top_table(raw)
    if "PID" not in titles:
        return ()
    col = {title: i for i, title in enumerate(titles)}

    def cell(row: Sequence[object], *names: str) -> str | None:
        for name in names:
            if name in col and col[name] < len(row):
                return str(row[col[name]])
        return None

    out = []
    for row in rows:
        pid = int_field(cell(row, "PID"), -1)
        if pid <= 0:
            continue
        uid_text = cell(row, "UID") or ""
        user = cell(row, "USER")
        if user is None and uid_text and not uid_text.isdigit():
            user, uid_text = uid_text, ""
        rss = cell(row, "RSS", "RSZ")
        out.append(
            ProcessInfo(
                pid=pid,
                ppid=int_field(cell(row, "PPID"), 0),
                uid=int_field(uid_text, -1) if uid_text else -1,
                user=user if user and not user.isdigit() else None,
                command=cell(row, "COMMAND", "CMD", "ARGS") or "",
                cpu_seconds=parse_cpu_time(cell(row, "TIME") or ""),
                rss_bytes=int_field(rss) * 1024 if rss else 0,
                state=(cell(row, "STAT", "STATE", "S") or "")[:1],
            )
        )
    return tuple(out)

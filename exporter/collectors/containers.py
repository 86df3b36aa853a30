"""Container inventory metrics: what `docker ps -a` and `docker inspect` show, as series."""

from __future__ import annotations

from collections.abc import Mapping

from exporter.collectors.base import (
    CONTAINER_LABELS,
    Family,
    Options,
    Row,
    container_order,
    container_values,
    declare,
    register_objects,
    sanitize_label,
    sanitize_name,
    state_rows,
)
from exporter.engine.models import CONTAINER_STATES, HEALTH_STATES, RESTART_POLICIES, Container
from exporter.options import ConfigError, check, option, repeated


def parse_label_list(text: str) -> tuple[str, ...]:
    """Comma-separated Docker label keys; their sanitized names must not collide."""
    keys = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    seen: dict[str, str] = {}
    for key in keys:
        name = sanitize_label(key)
        if name in seen:
            raise ConfigError(f"--container.labels: {seen[name]!r} and {key!r} both map to {name}")
        seen[name] = key
    return keys


LABEL_KEYS = option(
    "--container.labels",
    "",
    parse_label_list,
    "Comma-separated Docker label keys to export as label_<key> on docker_container_labels.",
    group="inventory",
)
MAX_LABEL_MAP = 32
"""--container.label-map entries at most: each is one more label on every container's
docker_container_labels series."""
_RESERVED = frozenset({*CONTAINER_LABELS, "job", "instance"})


def parse_label_mapping(text: str) -> tuple[str, str]:
    """`com.example.team=team` -> (Docker key, sanitized Prometheus label name)."""
    key, sep, name = text.strip().partition("=")
    if not key or not sep or not name.strip():
        raise ConfigError(f"invalid label mapping {text!r}: use DOCKER_KEY=PROM_LABEL")
    label = sanitize_name(name.strip())
    if label.startswith("__") or label in _RESERVED:
        raise ConfigError(f"invalid label mapping {text!r}: {label!r} is reserved")
    return key, label


LABEL_MAP = repeated(
    "--container.label-map",
    parse_label_mapping,
    f"DOCKER_KEY=PROM_LABEL (at most {MAX_LABEL_MAP}): export that Docker label as PROM_LABEL "
    "on docker_container_labels (sanitized like docker_sd's __meta_docker_container_label_*).",
    group="inventory",
)


def label_columns(options: Options) -> tuple[tuple[str, str], ...]:
    """docker_container_labels' extra labels as (Docker key, label name): the
    --container.labels ones (label_<key>) first, then the --container.label-map ones."""
    return (
        *((key, sanitize_label(key)) for key in options[LABEL_KEYS]),
        *options[LABEL_MAP],
    )


@check
def _check_label_columns(options: Options) -> None:
    """At most MAX_LABEL_MAP mappings, and no two columns of docker_container_labels alike."""
    if len(options[LABEL_MAP]) > MAX_LABEL_MAP:
        raise ConfigError(f"--container.label-map: at most {MAX_LABEL_MAP} mappings")
    seen: dict[str, str] = {}
    for key, name in label_columns(options):
        if name in seen:
            raise ConfigError(
                f"docker_container_labels: {seen[name]!r} and {key!r} both map to {name}"
            )
        seen[name] = key


CONTAINERS = "containers"
INFO = declare(
    "docker_container_info",
    "info",
    "Container metadata; image is the reference given to docker run.",
    [*CONTAINER_LABELS, "image", "image_id", "compose_project", "compose_service"],
    collector=CONTAINERS,
)
LABELS = declare(
    "docker_container_labels",
    "gauge",
    "Docker labels named by --container.labels (as label_<key>) and --container.label-map "
    "(as the name given); value 1.",
    CONTAINER_LABELS,
    collector=CONTAINERS,
)
STATE = declare(
    "docker_container_state",
    "stateset",
    "Container state: 1 for the current one of " + ", ".join(CONTAINER_STATES) + ".",
    [*CONTAINER_LABELS, "state"],
    collector=CONTAINERS,
)
HEALTH = declare(
    "docker_container_health_status",
    "stateset",
    "Health check status: 1 for the current one of " + ", ".join(HEALTH_STATES) + ".",
    [*CONTAINER_LABELS, "status"],
    collector=CONTAINERS,
)
FAILING = declare(
    "docker_container_health_failing_streak",
    "gauge",
    "Consecutive failed health probes (re-read when a probe ends, at most once per probe "
    "interval).",
    CONTAINER_LABELS,
    collector=CONTAINERS,
)
RESTARTS = declare(
    "docker_container_restarts_total",
    "counter",
    "Restarts by the restart policy (inspect RestartCount; a manual start resets it).",
    CONTAINER_LABELS,
    collector=CONTAINERS,
)
EXIT_CODE = declare(
    "docker_container_exit_code",
    "gauge",
    "Exit code of the last run that ended (0 while it has never exited); kept while the "
    "next run goes (the die event's code, where inspect resets it at a start).",
    CONTAINER_LABELS,
    collector=CONTAINERS,
)
OOM_KILLED = declare(
    "docker_container_oom_killed",
    "gauge",
    "1 when the OOM killer struck in the current or last run (inspect's OOMKilled, or an "
    "oom event since the run started).",
    CONTAINER_LABELS,
    collector=CONTAINERS,
)
OOM_EVENTS = declare(
    "docker_container_oom_events_total",
    "counter",
    "OOM events seen on the event stream since the exporter started.",
    CONTAINER_LABELS,
    collector=CONTAINERS,
)
CREATED = declare(
    "docker_container_created_timestamp_seconds",
    "gauge",
    "When the container was created, in Unix seconds.",
    CONTAINER_LABELS,
    collector=CONTAINERS,
)
STARTED = declare(
    "docker_container_started_timestamp_seconds",
    "gauge",
    "When the current or last run started; absent if it never started.",
    CONTAINER_LABELS,
    collector=CONTAINERS,
)
FINISHED = declare(
    "docker_container_finished_timestamp_seconds",
    "gauge",
    "When the last run finished; absent if it never finished.",
    CONTAINER_LABELS,
    collector=CONTAINERS,
)
POLICY = declare(
    "docker_container_restart_policy_info",
    "info",
    "Restart policy: one of " + ", ".join(RESTART_POLICIES) + ".",
    [*CONTAINER_LABELS, "policy"],
    collector=CONTAINERS,
)


def _families(options: Options) -> tuple[Family, ...]:
    always = tuple(spec.new() for spec in METRICS)
    columns = label_columns(options)
    if not columns:
        return always
    return (*always, LABELS.new([name for _key, name in columns]))


METRICS = (
    INFO,
    STATE,
    HEALTH,
    FAILING,
    RESTARTS,
    EXIT_CODE,
    OOM_KILLED,
    OOM_EVENTS,
    CREATED,
    STARTED,
    FINISHED,
    POLICY,
)


@register_objects(
    CONTAINERS,
    "Container metadata, state, health, restarts, exit codes and lifecycle timestamps.",
    metrics=[*METRICS, LABELS],
    source="containers",
    joins=("oom_events",),
    order=container_order,
    families=_families,
)
def rows(c: Container, joined: tuple[int | None], options: Options) -> tuple[tuple[Row, ...], ...]:
    (oom_events,) = joined
    ids = container_values(c)
    out = (
        (((*ids, c.image, c.image_id, c.compose_project, c.compose_service), 1),),
        state_rows(ids, CONTAINER_STATES, c.state),
        state_rows(ids, HEALTH_STATES, c.health),
        ((ids, c.failing_streak),) if c.health != "none" else (),
        ((ids, c.restart_count),),
        ((ids, c.exit_code),),
        ((ids, 1 if c.oom_killed else 0),),
        ((ids, oom_events or 0),),
        ((ids, c.created),),
        ((ids, c.started_at),) if c.started_at is not None else (),
        ((ids, c.finished_at),) if c.finished_at is not None else (),
        (((*ids, c.restart_policy), 1),),
    )
    columns = label_columns(options)
    if not columns:
        return out
    return (*out, (((*ids, *(c.labels.get(key, "") for key, _name in columns)), 1),))


TRANSITIONS = declare(
    "docker_container_health_transitions_total",
    "counter",
    "Health status changes seen on the event stream since the exporter started, by the "
    "status changed to (health_status events that repeat the last status are not counted).",
    [*CONTAINER_LABELS, "status"],
    collector=CONTAINERS,
)


@register_objects(
    CONTAINERS,
    metrics=[TRANSITIONS],
    source="containers",
    joins=("health_transitions",),
    order=container_order,
)
def transition_rows(
    c: Container, joined: tuple[Mapping[str, int] | None], _options: Options
) -> tuple[tuple[Row, ...]]:
    (counts,) = joined
    if not counts:
        return ((),)
    ids = container_values(c)
    return (tuple(((*ids, status), n) for status, n in sorted(counts.items())),)

"""Container inventory metrics: what `docker ps -a` and `docker inspect` show, as series."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import Metric

from exporter.collectors.base import (
    CONTAINER_LABELS,
    Options,
    add,
    add_state_set,
    container_values,
    containers,
    declare,
    register,
    sanitize_label,
)
from exporter.inventory import Snapshot
from exporter.models import CONTAINER_STATES, HEALTH_STATES, RESTART_POLICIES

C = "containers"
INFO = declare(
    "docker_container_info",
    "info",
    "Container metadata; image is the reference given to docker run.",
    [*CONTAINER_LABELS, "image", "image_id", "compose_project", "compose_service"],
    collector=C,
)
LABELS = declare(
    "docker_container_labels",
    "gauge",
    "Docker labels named by --container.labels, as label_<key>; value 1.",
    CONTAINER_LABELS,
    collector=C,
)
STATE = declare(
    "docker_container_state",
    "stateset",
    "Container state: 1 for the current one of " + ", ".join(CONTAINER_STATES) + ".",
    [*CONTAINER_LABELS, "state"],
    collector=C,
)
HEALTH = declare(
    "docker_container_health_status",
    "stateset",
    "Health check status: 1 for the current one of " + ", ".join(HEALTH_STATES) + ".",
    [*CONTAINER_LABELS, "status"],
    collector=C,
)
FAILING = declare(
    "docker_container_health_failing_streak",
    "gauge",
    "Consecutive failed health probes (re-read when a probe ends, at most once per probe "
    "interval).",
    CONTAINER_LABELS,
    collector=C,
)
RESTARTS = declare(
    "docker_container_restarts_total",
    "counter",
    "Restarts by the restart policy (inspect RestartCount; a manual start resets it).",
    CONTAINER_LABELS,
    collector=C,
)
EXIT_CODE = declare(
    "docker_container_exit_code",
    "gauge",
    "Exit code of the last run that ended (0 while it has never exited); kept while the "
    "next run goes (the die event's code, where inspect resets it at a start).",
    CONTAINER_LABELS,
    collector=C,
)
OOM_KILLED = declare(
    "docker_container_oom_killed",
    "gauge",
    "1 when the OOM killer struck in the current or last run (inspect's OOMKilled, or an "
    "oom event since the run started).",
    CONTAINER_LABELS,
    collector=C,
)
OOM_EVENTS = declare(
    "docker_container_oom_events_total",
    "counter",
    "OOM events seen on the event stream since the exporter started.",
    CONTAINER_LABELS,
    collector=C,
)
CREATED = declare(
    "docker_container_created_timestamp_seconds",
    "gauge",
    "When the container was created, in Unix seconds.",
    CONTAINER_LABELS,
    collector=C,
)
STARTED = declare(
    "docker_container_started_timestamp_seconds",
    "gauge",
    "When the current or last run started; absent if it never started.",
    CONTAINER_LABELS,
    collector=C,
)
FINISHED = declare(
    "docker_container_finished_timestamp_seconds",
    "gauge",
    "When the last run finished; absent if it never finished.",
    CONTAINER_LABELS,
    collector=C,
)
POLICY = declare(
    "docker_container_restart_policy_info",
    "info",
    "Restart policy: one of " + ", ".join(RESTART_POLICIES) + ".",
    [*CONTAINER_LABELS, "policy"],
    collector=C,
)


@register(
    C,
    "Container metadata, state, health, restarts, exit codes and lifecycle timestamps.",
    metrics=[
        INFO,
        LABELS,
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
    ],
    inputs=("containers", "oom_events"),
)
def collect(snapshot: Snapshot, options: Options) -> Iterable[Metric]:
    allowed = options.container_labels
    label_names = [sanitize_label(key) for key in allowed]
    info, labels = INFO.new(), LABELS.new(label_names)
    state, health, failing = STATE.new(), HEALTH.new(), FAILING.new()
    restarts, exit_code, oom_killed, oom_events = (
        RESTARTS.new(),
        EXIT_CODE.new(),
        OOM_KILLED.new(),
        OOM_EVENTS.new(),
    )
    created, started, finished, policy = CREATED.new(), STARTED.new(), FINISHED.new(), POLICY.new()
    for c in containers(snapshot):
        ids = container_values(c)
        add(info, [*ids, c.image, c.image_id, c.compose_project, c.compose_service], 1)
        if allowed:
            add(labels, [*ids, *(c.labels.get(key, "") for key in allowed)], 1)
        add_state_set(state, ids, CONTAINER_STATES, c.state)
        add_state_set(health, ids, HEALTH_STATES, c.health)
        if c.health != "none":
            add(failing, ids, c.failing_streak)
        add(restarts, ids, c.restart_count)
        add(exit_code, ids, c.exit_code)
        add(oom_killed, ids, 1 if c.oom_killed else 0)
        add(oom_events, ids, snapshot.oom_events.get(c.id, 0))
        add(created, ids, c.created)
        if c.started_at is not None:
            add(started, ids, c.started_at)
        if c.finished_at is not None:
            add(finished, ids, c.finished_at)
        add(policy, [*ids, c.restart_policy], 1)
    yield from (info, state, health, failing, restarts, exit_code, oom_killed, oom_events)
    yield from (created, started, finished, policy)
    if allowed:
        yield labels

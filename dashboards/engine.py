"""(a) Engine overview: one engine's containers, resources, images, networks and volumes."""

from __future__ import annotations

from typing import Any

from dashboards.lib.layout import alert_annotation, dashboard, query_var
from dashboards.lib.panels import (
    NEGATIVE_Y,
    by_name,
    by_regex,
    colored_text,
    stat,
    table,
    target,
    threshold_steps,
    timeseries,
)
from dashboards.lib.promql import (
    CPU_CORES,
    RUNNING,
    SCOPE,
    STATE_COLORS,
    STATES,
    UID_ENGINE,
    UNHEALTHY,
    container_link,
    eq,
    rate,
    sel,
    text_mappings,
)


def engine_overview() -> dict[str, Any]:
    state_overrides = [
        by_name(name, color={"mode": "fixed", "fixedColor": color})
        for name, _, color in STATES
        if name != "running"
    ]
    engine = [
        stat(
            "Engine reachable",
            "Whether the exporter reached the Docker Engine API on its last attempt "
            "(docker_up), per host.",
            "none",
            [target(sel("docker_up"), "{{instance}}")],
            w=4,
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "Down", "color": "red", "index": 0},
                        "1": {"text": "Up", "color": "green", "index": 1},
                    },
                }
            ],
            color_mode="background",
        ),
        stat(
            "Engine version",
            "Docker Engine version reported by /version, per host.",
            "none",
            [target(sel("docker_engine_info"), "{{version}}")],
            w=4,
            text_mode="name",
        ),
        stat(
            "CPUs",
            "CPUs visible to the Docker Engine (docker info NCPU), summed over the selected hosts.",
            "short",
            [target(f"sum({sel('docker_engine_cpus')})", "CPUs")],
            w=3,
        ),
        stat(
            "Memory",
            "Memory visible to the Docker Engine (docker info MemTotal), summed over the "
            "selected hosts.",
            "bytes",
            [target(f"sum({sel('docker_engine_memory_bytes')})", "memory")],
            w=3,
        ),
        stat(
            "Swarm",
            "Local Swarm state of the Engine (inactive, pending, active, error, locked).",
            "none",
            [target(sel("docker_engine_swarm_info"), "{{state}}")],
            w=3,
            text_mode="name",
        ),
        stat(
            "Event stream",
            "Whether the exporter's Docker event stream is connected. When it is down, "
            "state changes arrive only with the periodic re-list.",
            "none",
            [target(sel("docker_exporter_event_stream_up"), "{{instance}}")],
            w=3,
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "Down", "color": "red", "index": 0},
                        "1": {"text": "Connected", "color": "green", "index": 1},
                    },
                }
            ],
            color_mode="background",
        ),
        stat(
            "Firing alerts",
            'Docker alerts (alertname=~"Docker.*") firing for the selected hosts.',
            "short",
            [
                target(
                    f'count(ALERTS{{alertname=~"Docker.*", alertstate="firing", {SCOPE}}}) '
                    "or vector(0)",
                    "alerts",
                )
            ],
            w=4,
            thresholds=threshold_steps((None, "green"), (1, "red")),
            color_mode="background",
        ),
        table(
            "Engines",
            "Engine facts per host from docker_engine_info: version, API version, OS, "
            "architecture, kernel, storage driver and cgroup setup.",
            "none",
            [
                target(
                    "max by (instance, version, api_version, os, arch, kernel, storage_driver,"
                    f" cgroup_driver, cgroup_version) ({sel('docker_engine_info')})"
                )
            ],
            h=5,
            hide=["Value"],
            order=[
                "instance",
                "version",
                "api_version",
                "os",
                "arch",
                "kernel",
                "storage_driver",
                "cgroup_driver",
                "cgroup_version",
            ],
        ),
    ]

    containers = [
        stat(
            "Containers by state",
            "Number of containers in each Docker state (docker_container_state). Stopped "
            "containers count until they are removed.",
            "short",
            [
                target(
                    f"sum by (state) ({sel('docker_container_state')})",
                    "{{state}}",
                )
            ],
            w=12,
            overrides=state_overrides,
            color_mode="value",
            thresholds=threshold_steps((None, "green")),
        ),
        stat(
            "Unhealthy",
            "Containers whose Docker health check currently reports unhealthy.",
            "short",
            [
                target(
                    f"sum({sel('docker_container_health_status', UNHEALTHY)}) or vector(0)",
                    "unhealthy",
                )
            ],
            w=4,
            thresholds=threshold_steps((None, "green"), (1, "red")),
            color_mode="background",
        ),
        stat(
            "Restarts in range",
            "Restarts by restart policies within the selected time range, all containers.",
            "short",
            [
                target(
                    f"sum(increase({sel('docker_container_restarts_total')}[$__range]))"
                    " or vector(0)",
                    "restarts",
                )
            ],
            w=4,
            thresholds=threshold_steps((None, "green"), (1, "orange")),
            decimals=0,
        ),
        stat(
            "OOM kills in range",
            "Out-of-memory kill events within the selected time range, all containers.",
            "short",
            [
                target(
                    f"sum(increase({sel('docker_container_oom_events_total')}[$__range]))"
                    " or vector(0)",
                    "OOM kills",
                )
            ],
            w=4,
            thresholds=threshold_steps((None, "green"), (1, "red")),
            decimals=0,
        ),
        timeseries(
            "Containers by state over time",
            "Number of containers in each state over time, stacked.",
            "short",
            [target(f"sum by (state) ({sel('docker_container_state')})", "{{state}}")],
            w=24,
            h=7,
            stack=True,
            overrides=[
                by_name(name, color={"mode": "fixed", "fixedColor": color})
                for name, _, color in STATES
            ],
            legend_calcs=("lastNotNull", "max"),
        ),
        table(
            "Containers",
            "Every container with its image, Compose project/service, state, health, "
            "restarts, CPU (cores), memory working set and uptime. Click a name for the "
            "container dashboard.",
            "short",
            [
                target(
                    "max by (instance, name, image, compose_project, compose_service) "
                    f"({sel('docker_container_info')})"
                ),
                target(f"max by (instance, name, state) ({sel('docker_container_state')} == 1)"),
                target(
                    "max by (instance, name, status) "
                    f"({sel('docker_container_health_status')} == 1)"
                ),
                target(f"max by (instance, name) ({sel('docker_container_restarts_total')})"),
                target(
                    f"sum by (instance, name) ({rate('docker_container_cpu_usage_seconds_total')})"
                ),
                target(
                    f"max by (instance, name) ({sel('docker_container_memory_working_set_bytes')})"
                ),
                target(
                    "time() - max by (instance, name) "
                    f"({sel('docker_container_started_timestamp_seconds')})\n"
                    "and on (instance, name)\n"
                    "max by (instance, name) "
                    f"({sel('docker_container_state', RUNNING)}) == 1"
                ),
            ],
            h=10,
            hide=["Value #A", "Value #B", "Value #C"],
            rename={
                "status": "health",
                "Value #D": "restarts",
                "Value #E": "CPU",
                "Value #F": "memory",
                "Value #G": "uptime",
            },
            order=[
                "name",
                "instance",
                "state",
                "status",
                "image",
                "compose_project",
                "compose_service",
                "Value #D",
                "Value #E",
                "Value #F",
                "Value #G",
            ],
            sort_by="name",
            overrides=[
                by_name("name", links=[container_link()]),
                by_name("memory", unit="bytes"),
                by_name("CPU", unit="short", decimals=3),
                by_name("uptime", unit="s"),
                by_name("restarts", decimals=0),
                by_name(
                    "state",
                    mappings=text_mappings(STATE_COLORS),
                    custom__cellOptions=colored_text(),
                ),
                by_name(
                    "health",
                    mappings=text_mappings(
                        {"healthy": "green", "starting": "blue", "unhealthy": "red"}
                    ),
                    custom__cellOptions=colored_text(),
                ),
            ],
        ),
    ]

    top = "topk(10, {})"
    resources = [
        timeseries(
            "CPU by container (top 10)",
            "CPU used by the 10 busiest containers. " + CPU_CORES,
            "short",
            [
                target(
                    top.format(
                        "sum by (instance, name) "
                        f"({rate('docker_container_cpu_usage_seconds_total')})"
                    ),
                    "{{name}}",
                )
            ],
            axis_label="cores",
        ),
        timeseries(
            "Memory by container (top 10)",
            "Memory working set (usage minus inactive page cache: what the OOM killer "
            "looks at) of the 10 largest containers.",
            "bytes",
            [
                target(
                    top.format(
                        "max by (instance, name) "
                        f"({sel('docker_container_memory_working_set_bytes')})"
                    ),
                    "{{name}}",
                )
            ],
        ),
        timeseries(
            "Network by container (top 10)",
            "Network traffic of the 10 busiest containers, all interfaces; receive above "
            "the axis, transmit below.",
            "Bps",
            [
                target(
                    top.format(
                        "sum by (instance, name) "
                        f"({rate('docker_container_network_receive_bytes_total')})"
                    ),
                    "{{name}} receive",
                ),
                target(
                    top.format(
                        "sum by (instance, name) "
                        f"({rate('docker_container_network_transmit_bytes_total')})"
                    ),
                    "{{name}} transmit",
                ),
            ],
            overrides=[by_regex(".* transmit", **NEGATIVE_Y)],
            min0=False,
        ),
        timeseries(
            "Block I/O by container (top 10)",
            "Block device reads and writes of the 10 busiest containers; reads above the "
            "axis, writes below.",
            "Bps",
            [
                target(
                    top.format(
                        "sum by (instance, name) "
                        f"({rate('docker_container_block_read_bytes_total')})"
                    ),
                    "{{name}} read",
                ),
                target(
                    top.format(
                        "sum by (instance, name) "
                        f"({rate('docker_container_block_write_bytes_total')})"
                    ),
                    "{{name}} write",
                ),
            ],
            overrides=[by_regex(".* write", **NEGATIVE_Y)],
            min0=False,
        ),
        timeseries(
            "Container CPU share of the host",
            "CPU used by all containers divided by the CPUs the Engine sees, per host.",
            "percentunit",
            [
                target(
                    "sum by (job, instance) "
                    f"({rate('docker_container_cpu_usage_seconds_total')})\n"
                    f"  / on (job, instance)\n{sel('docker_engine_cpus')}",
                    "{{instance}}",
                )
            ],
        ),
        timeseries(
            "Container memory share of the host",
            "Working set of all containers divided by the memory the Engine sees, per host.",
            "percentunit",
            [
                target(
                    "sum by (job, instance) "
                    f"({sel('docker_container_memory_working_set_bytes')})\n"
                    f"  / on (job, instance)\n{sel('docker_engine_memory_bytes')}",
                    "{{instance}}",
                )
            ],
        ),
    ]

    events = [
        timeseries(
            "Docker events by type",
            "Events received on the Docker event stream per second, by object type.",
            "ops",
            [target(f"sum by (type) ({rate('docker_events_total')})", "{{type}}")],
        ),
        timeseries(
            "Container events by action",
            "Container events per second by action (start, die, kill, oom, health_status, ...).",
            "ops",
            [
                target(
                    f"sum by (action) ({rate('docker_events_total', eq('type', 'container'))})",
                    "{{action}}",
                )
            ],
        ),
    ]

    objects = [
        stat(
            "Images",
            "Number of images on the selected hosts.",
            "short",
            [target(f"count({sel('docker_image_info')}) or vector(0)", "images")],
            w=6,
        ),
        stat(
            "Image disk size",
            "Sum of image sizes (shared layers are counted once per image, as in docker images).",
            "bytes",
            [target(f"sum({sel('docker_image_size_bytes')})", "size")],
            w=6,
        ),
        stat(
            "Volumes",
            "Number of volumes on the selected hosts.",
            "short",
            [target(f"count({sel('docker_volume_info')}) or vector(0)", "volumes")],
            w=6,
        ),
        stat(
            "Networks",
            "Number of networks on the selected hosts, including the built-in bridge, "
            "host and none.",
            "short",
            [target(f"count({sel('docker_network_info')}) or vector(0)", "networks")],
            w=6,
        ),
        table(
            "Images",
            "Images with their tags, size, layer count and age, largest first. An image "
            "with several tags has one row per tag.",
            "short",
            [
                target(
                    "max by (instance, id, repository, tag) "
                    f"({sel('docker_image_info')})\n"
                    "* on (instance, id) group_left ()\n"
                    f"max by (instance, id) ({sel('docker_image_size_bytes')})"
                ),
                target(
                    "max by (instance, id, repository, tag) "
                    f"({sel('docker_image_info')})\n"
                    "* on (instance, id) group_left ()\n"
                    f"max by (instance, id) ({sel('docker_image_layers')})"
                ),
                target(
                    "max by (instance, id, repository, tag) "
                    f"({sel('docker_image_info')})\n"
                    "* on (instance, id) group_left ()\n"
                    "(time() - max by (instance, id) "
                    f"({sel('docker_image_created_timestamp_seconds')}))"
                ),
            ],
            w=14,
            h=9,
            rename={"Value #A": "size", "Value #B": "layers", "Value #C": "age"},
            order=["repository", "tag", "id", "instance", "Value #A", "Value #B", "Value #C"],
            overrides=[
                by_name("size", unit="bytes"),
                by_name("age", unit="s"),
                by_name("layers", decimals=0),
            ],
            sort_by="size",
            desc=True,
        ),
        table(
            "Volumes",
            "Volumes with their driver and scope.",
            "none",
            [target(f"max by (instance, volume, driver, scope) ({sel('docker_volume_info')})")],
            w=10,
            h=9,
            hide=["Value"],
            order=["volume", "driver", "scope", "instance"],
            sort_by="volume",
        ),
    ]

    compose_sel = "docker_compose_service_containers"
    project = eq("project", "$project")
    running_now = sel(compose_sel, project, RUNNING)
    compose = [
        stat(
            "Services",
            "Compose services of project $project (com.docker.compose.service labels).",
            "short",
            [
                target(
                    f"count(count by (service) ({sel(compose_sel, project)})) or vector(0)",
                    "services",
                )
            ],
            w=4,
        ),
        stat(
            "Running containers",
            "Running containers of project $project, all services.",
            "short",
            [target(f"sum({running_now}) or vector(0)", "running")],
            w=4,
        ),
        stat(
            "Services degraded",
            "Services of $project for which DockerComposeServiceDegraded fires: fewer running "
            "containers than their most in the alert's window.",
            "short",
            [
                target(
                    'count(ALERTS{alertname="DockerComposeServiceDegraded", '
                    f'alertstate="firing", {SCOPE}, {project}}}) or vector(0)',
                    "degraded",
                )
            ],
            w=4,
            thresholds=threshold_steps((None, "green"), (1, "red")),
            color_mode="background",
        ),
        table(
            "Containers by service and state",
            "Containers of each service of $project by state, per host.",
            "short",
            [target(f"sum by (instance, service, state) ({sel(compose_sel, project)})")],
            w=12,
            h=8,
            rename={"Value": "containers"},
            order=["service", "state", "instance", "Value"],
            sort_by="service",
        ),
        timeseries(
            "Running containers per service",
            "Running containers of each service of $project over time: a drop is a crash, "
            "an exit or a scale-down.",
            "short",
            [target(f"sum by (service) ({running_now})", "{{service}}")],
            w=24,
        ),
    ]

    return dashboard(
        UID_ENGINE,
        "Engine overview",
        "Docker Engines seen by docker-exporter: engine facts, containers by state, "
        "health, restarts, top resource users, events, images, volumes and networks, and "
        "one row per Compose project.",
        [
            ("Engine", engine),
            ("Containers", containers),
            ("Resource usage", resources),
            ("Events", events),
            ("Images, volumes and networks", objects),
            ("Compose project $project", compose),
        ],
        annotations=[alert_annotation(SCOPE)],
        variables=[
            query_var(
                "project",
                "Compose project",
                f"label_values({compose_sel}{{{SCOPE}}}, project)",
            )
        ],
        repeats={"Compose project $project": "project"},
    )

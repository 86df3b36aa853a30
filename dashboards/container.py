"""(b) Container detail: one container's state, resources, processes and health."""

from __future__ import annotations

from typing import Any

from dashboards.lib.layout import alert_annotation, dashboard, query_var
from dashboards.lib.panels import (
    LIMIT_STYLE,
    by_name,
    by_ref,
    mirrored,
    stat,
    state_timeline,
    table,
    target,
    threshold_steps,
    timeseries,
)
from dashboards.lib.promql import (
    CPU_CORES,
    HEALTH,
    ONE_CONTAINER,
    RUNNING,
    STATES,
    UID_CONTAINER,
    encoded,
    rate,
    sel,
    value_mappings,
)


def container_detail() -> dict[str, Any]:
    state_expr = encoded("docker_container_state", "state", STATES, ONE_CONTAINER)
    health_expr = encoded("docker_container_health_status", "status", HEALTH, ONE_CONTAINER)

    overview = [
        stat(
            "State",
            "Current Docker state of the container.",
            "none",
            [target(state_expr, "{{instance}}")],
            w=3,
            mappings=value_mappings(STATES),
            color_mode="background",
        ),
        stat(
            "Health",
            "Current health check status; 'none' means the image defines no HEALTHCHECK.",
            "none",
            [target(health_expr, "{{instance}}")],
            w=3,
            mappings=value_mappings(HEALTH),
            color_mode="background",
        ),
        stat(
            "Uptime",
            "Time since the current run started; empty while the container is not running.",
            "s",
            [
                target(
                    "time() - "
                    + sel("docker_container_started_timestamp_seconds", base=ONE_CONTAINER)
                    + "\nand on (job, instance, id)\n"
                    + sel("docker_container_state", RUNNING, base=ONE_CONTAINER)
                    + " == 1",
                    "{{instance}}",
                )
            ],
            w=3,
        ),
        stat(
            "Restarts",
            "Restarts by the restart policy (Docker's RestartCount; a manual restart resets it).",
            "short",
            [target(sel("docker_container_restarts_total", base=ONE_CONTAINER), "{{instance}}")],
            w=3,
            thresholds=threshold_steps((None, "green"), (1, "orange"), (3, "red")),
        ),
        stat(
            "Last exit code",
            "Exit code of the last run (0 if it never exited). 137 = SIGKILL (docker "
            "stop timeout or OOM kill), 143 = SIGTERM.",
            "none",
            [target(sel("docker_container_exit_code", base=ONE_CONTAINER), "{{instance}}")],
            w=3,
            thresholds=threshold_steps((None, "green"), (1, "red")),
        ),
        stat(
            "OOM killed",
            "Whether the last run was ended by the kernel OOM killer (State.OOMKilled).",
            "none",
            [target(sel("docker_container_oom_killed", base=ONE_CONTAINER), "{{instance}}")],
            w=3,
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "no", "color": "green", "index": 0},
                        "1": {"text": "yes", "color": "red", "index": 1},
                    },
                }
            ],
            color_mode="background",
        ),
        stat(
            "Restart policy",
            "Docker restart policy of the container.",
            "none",
            [target(sel("docker_container_restart_policy_info", base=ONE_CONTAINER), "{{policy}}")],
            w=3,
            text_mode="name",
        ),
        stat(
            "Image",
            "Image reference the container was created from.",
            "none",
            [target(sel("docker_container_info", base=ONE_CONTAINER), "{{image}}")],
            w=3,
            text_mode="name",
        ),
        table(
            "Container",
            "Identity and lifecycle timestamps of the container.",
            "none",
            [
                target(
                    "max by (instance, id, name, image, image_id, compose_project, "
                    f"compose_service) ({sel('docker_container_info', base=ONE_CONTAINER)})"
                ),
                target(
                    "max by (instance, id, name) ("
                    + sel("docker_container_created_timestamp_seconds", base=ONE_CONTAINER)
                    + ") * 1000"
                ),
                target(
                    "max by (instance, id, name) ("
                    + sel("docker_container_started_timestamp_seconds", base=ONE_CONTAINER)
                    + ") * 1000"
                ),
                target(
                    "max by (instance, id, name) ("
                    + sel("docker_container_finished_timestamp_seconds", base=ONE_CONTAINER)
                    + ") * 1000"
                ),
            ],
            h=4,
            hide=["Value #A"],
            rename={"Value #B": "created", "Value #C": "started", "Value #D": "finished"},
            order=[
                "name",
                "id",
                "instance",
                "image",
                "image_id",
                "compose_project",
                "compose_service",
                "Value #B",
                "Value #C",
                "Value #D",
            ],
            overrides=[
                by_name("created", unit="dateTimeAsIso"),
                by_name("started", unit="dateTimeAsIso"),
                by_name("finished", unit="dateTimeAsIso"),
            ],
        ),
    ]

    history = [
        state_timeline(
            "State and health",
            "Container state (top) and health check status (bottom) over time.",
            [target(state_expr, "state"), target(health_expr, "health")],
            w=16,
            h=6,
            overrides=[
                by_ref("A", mappings=value_mappings(STATES)),
                by_ref("B", mappings=value_mappings(HEALTH)),
            ],
        ),
        timeseries(
            "Restart and OOM counters",
            "Restarts by the restart policy and OOM events seen by the exporter, as counters.",
            "short",
            [
                target(sel("docker_container_restarts_total", base=ONE_CONTAINER), "restarts"),
                target(sel("docker_container_oom_events_total", base=ONE_CONTAINER), "OOM events"),
            ],
            w=8,
            h=6,
            legend_calcs=("lastNotNull",),
        ),
    ]

    on = "on (job, instance, id) group_left ()"
    cpu = [
        timeseries(
            "CPU usage",
            "CPU used by the container (total, user, system) and its CPU limit (dashed; "
            "absent when unlimited). " + CPU_CORES,
            "short",
            [
                target(
                    rate("docker_container_cpu_usage_seconds_total", base=ONE_CONTAINER), "total"
                ),
                target(rate("docker_container_cpu_user_seconds_total", base=ONE_CONTAINER), "user"),
                target(
                    rate("docker_container_cpu_system_seconds_total", base=ONE_CONTAINER), "system"
                ),
                target(sel("docker_container_cpu_limit_cores", base=ONE_CONTAINER), "limit"),
            ],
            w=8,
            overrides=[by_name("limit", **LIMIT_STYLE)],
            axis_label="cores",
        ),
        timeseries(
            "CPU throttling",
            "Share of CFS scheduling periods in which the container hit its CPU quota. "
            "Only containers with a CPU limit are throttled.",
            "percentunit",
            [
                target(
                    f"{rate('docker_container_cpu_throttled_periods_total', base=ONE_CONTAINER)}\n"
                    f"  / {on}\n"
                    f"({rate('docker_container_cpu_periods_total', base=ONE_CONTAINER)} > 0)",
                    "throttled periods",
                )
            ],
            w=8,
        ),
        timeseries(
            "Throttled time",
            "Time the container's threads were stopped by CPU throttling, in seconds per "
            "second (can exceed 1 with several threads).",
            "s",
            [
                target(
                    rate("docker_container_cpu_throttled_seconds_total", base=ONE_CONTAINER),
                    "throttled",
                )
            ],
            w=8,
        ),
    ]

    memory = [
        timeseries(
            "Memory",
            "Working set (what the OOM killer compares with the limit), total usage "
            "including page cache, RSS, cache, swap, and the memory limit (dashed; absent "
            "when unlimited).",
            "bytes",
            [
                target(
                    sel("docker_container_memory_working_set_bytes", base=ONE_CONTAINER),
                    "working set",
                ),
                target(sel("docker_container_memory_usage_bytes", base=ONE_CONTAINER), "usage"),
                target(sel("docker_container_memory_rss_bytes", base=ONE_CONTAINER), "rss"),
                target(sel("docker_container_memory_cache_bytes", base=ONE_CONTAINER), "cache"),
                target(sel("docker_container_memory_swap_bytes", base=ONE_CONTAINER), "swap"),
                target(sel("docker_container_memory_limit_bytes", base=ONE_CONTAINER), "limit"),
            ],
            w=12,
            overrides=[by_name("limit", **LIMIT_STYLE)],
        ),
        timeseries(
            "Memory use of limit",
            "Working set divided by the memory limit; empty for containers without a limit.",
            "percentunit",
            [
                target(
                    f"{sel('docker_container_memory_working_set_bytes', base=ONE_CONTAINER)}\n"
                    f"  / {on}\n"
                    f"({sel('docker_container_memory_limit_bytes', base=ONE_CONTAINER)} > 0)",
                    "working set / limit",
                )
            ],
            w=6,
        ),
        timeseries(
            "Memory limit hits",
            "How often per second the container's memory usage hit its limit "
            "(memory failures); frequent hits precede OOM kills.",
            "cps",
            [
                target(
                    rate("docker_container_memory_failures_total", base=ONE_CONTAINER), "failures"
                )
            ],
            w=6,
        ),
        timeseries(
            "Pressure stalls",
            "Share of time some task (some) or every non-idle task at once (full) of the "
            "container waited for CPU, memory or I/O (cgroup v2 PSI; empty on cgroup v1 or "
            "without PSI). Sustained memory full is thrashing: DockerContainerMemoryPressure.",
            "percentunit",
            [
                target(
                    rate("docker_container_pressure_stalled_seconds_total", base=ONE_CONTAINER),
                    "{{resource}} {{kind}}",
                )
            ],
            w=12,
        ),
        timeseries(
            "Memory events",
            "cgroup v2 memory.events per second: over memory.high (high), at the limit "
            "(max), OOM state (oom) and OOM kills (oom_kill); empty on cgroup v1.",
            "cps",
            [target(rate("docker_container_memory_events_total", base=ONE_CONTAINER), "{{event}}")],
            w=12,
        ),
    ]

    network = [
        mirrored(
            "Network traffic",
            "Bytes per second by interface; receive above the axis, transmit below.",
            "Bps",
            ("docker_container_network_receive_bytes_total", "{{interface}} receive"),
            ("docker_container_network_transmit_bytes_total", "{{interface}} transmit"),
        ),
        mirrored(
            "Network packets",
            "Packets per second by interface; receive above the axis, transmit below.",
            "pps",
            ("docker_container_network_receive_packets_total", "{{interface}} receive"),
            ("docker_container_network_transmit_packets_total", "{{interface}} transmit"),
        ),
        timeseries(
            "Network errors and drops",
            "Receive and transmit errors and dropped packets per second by interface.",
            "pps",
            [
                target(
                    rate("docker_container_network_receive_errors_total", base=ONE_CONTAINER),
                    "{{interface}} receive errors",
                ),
                target(
                    rate("docker_container_network_transmit_errors_total", base=ONE_CONTAINER),
                    "{{interface}} transmit errors",
                ),
                target(
                    rate("docker_container_network_receive_dropped_total", base=ONE_CONTAINER),
                    "{{interface}} receive dropped",
                ),
                target(
                    rate("docker_container_network_transmit_dropped_total", base=ONE_CONTAINER),
                    "{{interface}} transmit dropped",
                ),
            ],
            w=8,
        ),
    ]

    block = [
        mirrored(
            "Block I/O throughput",
            "Bytes per second by block device; reads above the axis, writes below.",
            "Bps",
            ("docker_container_block_read_bytes_total", "{{device}} read"),
            ("docker_container_block_write_bytes_total", "{{device}} write"),
        ),
        mirrored(
            "Block I/O operations",
            "Read and write operations per second by block device; reads above the axis, "
            "writes below.",
            "iops",
            ("docker_container_block_reads_total", "{{device}} reads"),
            ("docker_container_block_writes_total", "{{device}} writes"),
        ),
        timeseries(
            "Processes",
            "PIDs (tasks, including threads) in the container's cgroup against the PIDs "
            "limit (dashed), and processes listed by the Engine.",
            "short",
            [
                target(sel("docker_container_pids", base=ONE_CONTAINER), "pids"),
                target(sel("docker_container_pids_limit", base=ONE_CONTAINER), "limit"),
                target(sel("docker_container_processes", base=ONE_CONTAINER), "processes"),
            ],
            w=8,
            overrides=[by_name("limit", **LIMIT_STYLE)],
        ),
    ]

    attachments = [
        table(
            "Networks",
            "Networks the container is attached to, with its IP address on each.",
            "none",
            [
                target(
                    "max by (instance, network, ip) "
                    f"({sel('docker_container_network_info', base=ONE_CONTAINER)})"
                )
            ],
            w=8,
            h=6,
            hide=["Value"],
            order=["network", "ip", "instance"],
        ),
        table(
            "Network aliases",
            "DNS aliases of the container on each network (Compose service names among them).",
            "none",
            [
                target(
                    "max by (instance, network, alias) "
                    f"({sel('docker_container_network_alias', base=ONE_CONTAINER)})"
                )
            ],
            w=8,
            h=6,
            hide=["Value"],
            order=["network", "alias", "instance"],
        ),
        table(
            "Published ports",
            "Container ports and the host addresses they are published on.",
            "none",
            [
                target(
                    "max by (instance, container_port, protocol, host_ip, host_port) "
                    f"({sel('docker_container_port_info', base=ONE_CONTAINER)})"
                )
            ],
            w=8,
            h=6,
            hide=["Value"],
            order=["container_port", "protocol", "host_ip", "host_port", "instance"],
        ),
    ]

    disk = [
        stat(
            "Image update",
            "Whether the registry's tag now points to another image than the one this "
            "container runs (image_updates collector; empty when unknown or not checked).",
            "none",
            [target(sel("docker_container_image_update_available", base=ONE_CONTAINER), "{{image}}")],
            w=4,
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "current", "color": "green", "index": 0},
                        "1": {"text": "update available", "color": "orange", "index": 1},
                    },
                }
            ],
            color_mode="background",
        ),
        stat(
            "Log rotation",
            "The log driver and its max-size; 'unbounded' (red) when the driver writes a "
            "file without max-size: it grows until the disk is full.",
            "none",
            [
                target(
                    sel("docker_container_log_info", 'max_size!=""', base=ONE_CONTAINER),
                    "{{driver}} max-size {{max_size}} x {{max_file}}",
                ),
                target(
                    sel("docker_container_log_info", 'max_size=""', base=ONE_CONTAINER) + " * 0",
                    "{{driver}} unbounded",
                ),
            ],
            w=4,
            text_mode="name",
            thresholds=threshold_steps((None, "red"), (1, "green")),
            color_mode="background",
        ),
        timeseries(
            "Log file size",
            "Size of the active log file (json-file, local), by stat: it drops when the "
            "driver rotates the file; never read.",
            "bytes",
            [target(sel("docker_container_log_bytes", base=ONE_CONTAINER), "log file")],
            w=8,
        ),
        timeseries(
            "Log growth",
            "Bytes per second the container's log file grows by, rotations included "
            "(the exporter follows the renamed file by its inode).",
            "Bps",
            [target(rate("docker_container_log_written_bytes_total", base=ONE_CONTAINER), "log")],
            w=8,
        ),
        timeseries(
            "Writable layer",
            "What the container wrote outside its volumes (SizeRw), sampled rarely by the "
            "opt-in container_sizes collector (docker ps --size).",
            "bytes",
            [target(sel("docker_container_writable_layer_bytes", base=ONE_CONTAINER), "writable layer")],
            w=8,
        ),
    ]

    container_var = query_var(
        "container",
        "container",
        'label_values(docker_container_info{job=~"$job", instance=~"$instance"}, name)',
        multi=False,
    )
    return dashboard(
        UID_CONTAINER,
        "Container",
        "One container in detail: state and health history, restarts, exit code, OOM "
        "kills, CPU and memory against limits, throttling, network, block I/O, PIDs, "
        "networks and ports, log and writable-layer sizes, image freshness.",
        [
            ("Overview", overview),
            ("State history", history),
            ("CPU", cpu),
            ("Memory", memory),
            ("Network", network),
            ("Block I/O and processes", block),
            ("Networks and ports", attachments),
            ("Disk and image", disk),
        ],
        variables=[container_var],
        annotations=[alert_annotation(ONE_CONTAINER)],
    )

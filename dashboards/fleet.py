"""(d) Fleet: every engine side by side, one row per instance."""

from __future__ import annotations

from typing import Any

from dashboards.lib.layout import alert_annotation, dashboard
from dashboards.lib.panels import (
    bargauge,
    by_name,
    colored_text,
    table,
    target,
    threshold_steps,
    timeseries,
)
from dashboards.lib.promql import (
    RUNNING,
    SCOPE,
    UID_FLEET,
    UNHEALTHY,
    engine_link,
    eq,
    rate,
    sel,
    text_mappings,
)
from dashboards.topology import label_replace


def fleet() -> dict[str, Any]:
    zero = f"max by (job, instance) ({sel('docker_up')}) * 0"
    # instance=~"$instance|" keeps DockerExporterAbsent, which has no instance label.
    alerts_sel = (
        'ALERTS{alertname=~"Docker.*", alertstate="firing", job=~"$job", instance=~"$instance|"}'
    )

    def per_host_state(state: str) -> str:
        return f"sum by (job, instance) ({sel('docker_container_state', eq('state', state))})"

    cpu_used = f"sum by (job, instance) ({rate('docker_container_cpu_usage_seconds_total')})"
    mem_used = f"sum by (job, instance) ({sel('docker_container_memory_working_set_bytes')})"
    hosts = table(
        "Hosts",
        "One row per Docker host: Engine and exporter versions, reachability, containers "
        "by state, unhealthy containers, CPU and memory used by containers against the "
        "host's, and firing Docker alerts. Click an instance for its Engine overview.",
        "short",
        [
            target(
                "max by (job, instance, version, kernel, storage_driver) "
                f"({sel('docker_engine_info')})"
            ),
            target(
                "max by (job, instance, exporter) (\n  "
                + label_replace(
                    sel("docker_exporter_build_info"), "exporter", "$1", "version", "(.*)"
                )
                + "\n)"
            ),
            target(f"max by (job, instance) ({sel('docker_up')})"),
            target(f"count by (job, instance) ({sel('docker_container_info')}) or {zero}"),
            target(per_host_state("running")),
            target(per_host_state("restarting")),
            target(per_host_state("exited")),
            target(f"sum by (job, instance) ({sel('docker_container_health_status', UNHEALTHY)})"),
            target(cpu_used),
            target(f"{cpu_used}\n  / on (job, instance)\n{sel('docker_engine_cpus')}"),
            target(mem_used),
            target(f"{mem_used}\n  / on (job, instance)\n{sel('docker_engine_memory_bytes')}"),
            target(f"count by (job, instance) ({alerts_sel}) or {zero}"),
        ],
        h=10,
        hide=["Value #A", "Value #B"],
        rename={
            "version": "engine",
            "Value #C": "Engine up",
            "Value #D": "containers",
            "Value #E": "running",
            "Value #F": "restarting",
            "Value #G": "exited",
            "Value #H": "unhealthy",
            "Value #I": "CPU used",
            "Value #J": "CPU %",
            "Value #K": "memory used",
            "Value #L": "memory %",
            "Value #M": "alerts",
        },
        order=[
            "instance",
            "version",
            "exporter",
            "Value #C",
            "Value #D",
            "Value #E",
            "Value #F",
            "Value #G",
            "Value #H",
            "Value #I",
            "Value #J",
            "Value #K",
            "Value #L",
            "Value #M",
            "kernel",
            "storage_driver",
        ],
        sort_by="instance",
        overrides=[
            by_name("instance", links=[engine_link()]),
            by_name(
                "Engine up",
                mappings=[
                    {
                        "type": "value",
                        "options": {
                            "0": {"text": "down", "color": "red", "index": 0},
                            "1": {"text": "up", "color": "green", "index": 1},
                        },
                    }
                ],
                custom__cellOptions=colored_text(),
            ),
            by_name("CPU used", unit="short", decimals=2),
            by_name("memory used", unit="bytes"),
            by_name(
                "CPU %",
                unit="percentunit",
                min=0,
                max=1,
                thresholds=threshold_steps((None, "green"), (0.7, "orange"), (0.9, "red")),
                custom__cellOptions={"type": "gauge", "mode": "basic"},
            ),
            by_name(
                "memory %",
                unit="percentunit",
                min=0,
                max=1,
                thresholds=threshold_steps((None, "green"), (0.7, "orange"), (0.9, "red")),
                custom__cellOptions={"type": "gauge", "mode": "basic"},
            ),
            *[
                by_name(
                    col,
                    decimals=0,
                    thresholds=threshold_steps((None, "green"), (1, color)),
                    custom__cellOptions=colored_text(),
                )
                for col, color in (
                    ("restarting", "orange"),
                    ("exited", "text"),
                    ("unhealthy", "red"),
                    ("alerts", "red"),
                )
            ],
            by_name("containers", decimals=0),
            by_name("running", decimals=0),
        ],
    )
    trends = [
        timeseries(
            "Running containers per host",
            "Containers in state running, per host.",
            "short",
            [
                target(
                    f"sum by (instance) ({sel('docker_container_state', RUNNING)})", "{{instance}}"
                )
            ],
            w=8,
            legend_calcs=("lastNotNull", "min", "max"),
        ),
        timeseries(
            "Container CPU per host",
            "CPU used by all containers of a host, as a share of the CPUs its Engine sees.",
            "percentunit",
            [
                target(
                    f"{cpu_used}\n  / on (job, instance)\n{sel('docker_engine_cpus')}",
                    "{{instance}}",
                )
            ],
            w=8,
        ),
        timeseries(
            "Container memory per host",
            "Working set of all containers of a host, as a share of the memory its Engine sees.",
            "percentunit",
            [
                target(
                    f"{mem_used}\n  / on (job, instance)\n{sel('docker_engine_memory_bytes')}",
                    "{{instance}}",
                )
            ],
            w=8,
        ),
    ]
    alerts = [
        bargauge(
            "Firing Docker alerts by name",
            'Number of firing alerts per alert name (alertname=~"Docker.*") on the selected '
            "hosts, including DockerExporterAbsent, which has no instance label.",
            "short",
            [target(f"count by (alertname) ({alerts_sel})", "{{alertname}}", instant=True)],
            w=8,
            h=9,
            thresholds=threshold_steps((None, "orange"), (1, "red")),
        ),
        table(
            "Firing Docker alerts",
            "Every firing Docker alert with its severity, host and container.",
            "none",
            [target(alerts_sel)],
            w=16,
            h=9,
            hide=["Value", "alertstate"],
            order=["alertname", "severity", "instance", "name", "id"],
            overrides=[
                by_name(
                    "severity",
                    mappings=text_mappings(
                        {"critical": "red", "warning": "orange", "info": "blue"}
                    ),
                    custom__cellOptions=colored_text(),
                )
            ],
            sort_by="severity",
        ),
        table(
            "Engine versions",
            "How many hosts run each Docker Engine and API version.",
            "short",
            [target(f"count by (version, api_version) ({sel('docker_engine_info')})")],
            w=12,
            h=6,
            rename={"Value": "hosts"},
            sort_by="hosts",
            desc=True,
        ),
        table(
            "Kernels and cgroups",
            "How many hosts run each OS, kernel, storage driver and cgroup setup.",
            "short",
            [
                target(
                    "count by (os, arch, kernel, storage_driver, cgroup_driver, cgroup_version) "
                    f"({sel('docker_engine_info')})"
                )
            ],
            w=12,
            h=6,
            rename={"Value": "hosts"},
            sort_by="hosts",
            desc=True,
        ),
    ]
    return dashboard(
        UID_FLEET,
        "Fleet",
        "All Docker hosts at a glance: one row per host with versions, containers by "
        "state, CPU and memory, and firing Docker alerts.",
        [("Fleet", [hosts]), ("Trends", trends), ("Alerts and versions", alerts)],
        annotations=[alert_annotation(SCOPE)],
    )

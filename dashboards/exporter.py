"""(e) Exporter health: the exporter's own sync, sampling and render metrics."""

from __future__ import annotations

from typing import Any

from dashboards.lib.layout import dashboard
from dashboards.lib.panels import stat, state_timeline, target, threshold_steps, timeseries
from dashboards.lib.promql import UID_EXPORTER, rate, sel


def exporter_health() -> dict[str, Any]:
    up_mapping = [
        {
            "type": "value",
            "options": {
                "0": {"text": "down", "color": "red", "index": 0},
                "1": {"text": "up", "color": "green", "index": 1},
            },
        }
    ]
    status = [
        stat(
            "Exporter version",
            "docker-exporter version per target.",
            "none",
            [target(sel("docker_exporter_build_info"), "{{version}}")],
            w=4,
            text_mode="name",
        ),
        stat(
            "Scrape target",
            "Prometheus' up series for the exporter: 1 when the last scrape succeeded.",
            "none",
            [target(sel("up"), "{{instance}}")],
            w=4,
            mappings=up_mapping,
            color_mode="background",
        ),
        stat(
            "Stats source",
            "Where container resource statistics come from (docker_exporter_stats_source_info).",
            "none",
            [target(sel("docker_exporter_stats_source_info"), "{{source}}")],
            w=4,
            text_mode="name",
        ),
        stat(
            "Last event",
            "Time since the exporter last received a Docker event. Quiet hosts have "
            "few events; a growing value with the stream down means stale state.",
            "s",
            [
                target(
                    f"time() - {sel('docker_exporter_last_event_timestamp_seconds')}",
                    "{{instance}}",
                )
            ],
            w=4,
        ),
        stat(
            "Last stats sample",
            "Time since the last completed stats sweep.",
            "s",
            [
                target(
                    f"time() - {sel('docker_exporter_stats_last_sample_timestamp_seconds')}",
                    "{{instance}}",
                )
            ],
            w=4,
            thresholds=threshold_steps((None, "green"), (120, "orange"), (300, "red")),
        ),
        stat(
            "Last inventory sync",
            "Time since the exporter last reconciled its inventory with the Engine.",
            "s",
            [
                target(
                    f"time() - {sel('docker_exporter_inventory_last_sync_timestamp_seconds')}",
                    "{{instance}}",
                )
            ],
            w=4,
        ),
        state_timeline(
            "Engine, event stream and collectors",
            "Engine reachability (docker_up), event stream connection and each "
            "collector's success on the last scrape, over time.",
            [
                target(sel("docker_up"), "engine {{instance}}"),
                target(sel("docker_exporter_event_stream_up"), "event stream {{instance}}"),
                target(
                    sel("docker_exporter_scrape_collector_success"),
                    "collector {{collector}} {{instance}}",
                ),
            ],
            h=8,
            mappings=up_mapping,
        ),
    ]
    perf = [
        timeseries(
            "Collector duration",
            "Time each collector took on the last scrape.",
            "s",
            [
                target(
                    sel("docker_exporter_scrape_collector_duration_seconds"),
                    "{{collector}} {{instance}}",
                )
            ],
            w=8,
        ),
        timeseries(
            "Scrape duration",
            "How long Prometheus' scrape of the exporter took (scrape_duration_seconds).",
            "s",
            [target(sel("scrape_duration_seconds"), "{{instance}}")],
            w=8,
        ),
        timeseries(
            "Stats sweep duration",
            "Duration of one stats sweep over all running containers; it should stay "
            "below the stats interval.",
            "s",
            [target(sel("docker_exporter_stats_sweep_duration_seconds"), "{{instance}}")],
            w=8,
        ),
        timeseries(
            "Stats errors",
            "Failed per-container stats requests per second. Occasional errors are "
            "containers exiting during a sweep.",
            "cps",
            [target(rate("docker_exporter_stats_errors_total"), "{{instance}}")],
            w=8,
        ),
        timeseries(
            "Event stream reconnects",
            "Reconnects of the Docker event stream per rate interval; each one triggers "
            "a full re-list.",
            "short",
            [
                target(
                    "increase("
                    f"{sel('docker_exporter_event_stream_reconnects_total')}[$__rate_interval])",
                    "{{instance}}",
                )
            ],
            w=8,
        ),
        timeseries(
            "Events received",
            "Docker events per second received by the exporter, per host.",
            "ops",
            [target(f"sum by (instance) ({rate('docker_events_total')})", "{{instance}}")],
            w=8,
        ),
    ]
    return dashboard(
        UID_EXPORTER,
        "Exporter health",
        "The exporter itself: versions, Engine and event stream connectivity, collector "
        "success and duration, stats sampler health and data freshness.",
        [("Status", status), ("Performance", perf)],
    )

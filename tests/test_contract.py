"""Every metric the dashboards and alerts use is one the exporter declares."""

from __future__ import annotations

from pack import alerts, dashboards

from exporter.collectors import CATALOGUE
from exporter.render.exposition import PROCESS_METRICS

PROMETHEUS_OWN = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds"}


def declared() -> set[str]:
    return set(CATALOGUE) | set(PROCESS_METRICS)


def test_alert_rules_use_only_declared_metrics() -> None:
    used = alerts.referenced_metrics() - PROMETHEUS_OWN
    assert used, "the rules reference no metric at all?"
    assert used <= declared(), sorted(used - declared())


def test_dashboards_use_only_declared_metrics() -> None:
    used = dashboards.referenced_metrics(include_variables=True) - PROMETHEUS_OWN
    assert used, "the dashboards reference no metric at all?"
    assert used <= declared(), sorted(used - declared())


def test_contract_names_from_the_issues_are_declared() -> None:
    """The exact names the issues promised, so a rename cannot slip through."""
    promised = {
        "docker_up", "docker_engine_info", "docker_container_info", "docker_container_state",
        "docker_container_health_status", "docker_container_restarts_total",
        "docker_container_exit_code", "docker_container_oom_killed",
        "docker_container_oom_events_total", "docker_container_created_timestamp_seconds",
        "docker_container_started_timestamp_seconds", "docker_container_finished_timestamp_seconds",
        "docker_events_total", "docker_exporter_build_info",
        "docker_exporter_scrape_collector_duration_seconds",
        "docker_exporter_scrape_collector_success", "docker_exporter_event_stream_up",
        "docker_exporter_event_stream_reconnects_total",
        "docker_exporter_last_event_timestamp_seconds",
        "docker_exporter_inventory_last_sync_timestamp_seconds",
        "docker_container_cpu_usage_seconds_total", "docker_container_cpu_user_seconds_total",
        "docker_container_cpu_system_seconds_total", "docker_container_cpu_periods_total",
        "docker_container_cpu_throttled_periods_total",
        "docker_container_cpu_throttled_seconds_total", "docker_container_cpu_limit_cores",
        "docker_container_memory_usage_bytes", "docker_container_memory_working_set_bytes",
        "docker_container_memory_rss_bytes", "docker_container_memory_cache_bytes",
        "docker_container_memory_swap_bytes", "docker_container_memory_limit_bytes",
        "docker_container_memory_failures_total",
        "docker_container_block_read_bytes_total", "docker_container_block_write_bytes_total",
        "docker_container_block_reads_total", "docker_container_block_writes_total",
        "docker_container_pids", "docker_container_pids_limit",
        "docker_exporter_stats_sweep_duration_seconds", "docker_exporter_stats_errors_total",
        "docker_exporter_stats_source_info",
    } | {
        f"docker_container_network_{d}_{u}_total"
        for d in ("receive", "transmit")
        for u in ("bytes", "packets", "errors", "dropped")
    }  # fmt: skip
    assert promised <= declared(), sorted(promised - declared())

"""The bench library: what stats_bench, scrape_bench, ab_exporter and component_costs share."""

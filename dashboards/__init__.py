"""docker-exporter's Grafana dashboards as code: `lib/` builds panels and dashboards, one
module per dashboard uses it, `generate.py` writes the JSON files."""

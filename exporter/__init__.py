"""docker-exporter: a Prometheus exporter and JSON inventory for a Docker Engine."""

__version__ = "0.1.0"

"""docker-exporter: a Prometheus exporter and JSON inventory for a Docker Engine."""

from exporter.engine.sslguard import import_aiohttp_without_cas

__version__ = "0.1.0"

import_aiohttp_without_cas()  # before any module of this package imports aiohttp

"""Collectors register themselves on import; this package imports each one explicitly."""

from exporter.collectors import (
    cadvisor,
    compose,
    containers,
    engine,
    events,
    image_updates,
    images,
    logs,
    networks,
    ports,
    processes,
    registry,
    stats,
    volumes,
)
from exporter.collectors.base import CATALOGUE, COLLECTORS, CollectorSpec, MetricSpec, Options

__all__ = [
    "CATALOGUE",
    "COLLECTORS",
    "CollectorSpec",
    "MetricSpec",
    "Options",
    "cadvisor",
    "compose",
    "containers",
    "engine",
    "events",
    "image_updates",
    "images",
    "logs",
    "networks",
    "ports",
    "processes",
    "registry",
    "stats",
    "volumes",
]

"""The paths the HTTP face serves besides the metrics, and the web options that name or
size them. No aiohttp here: the command line checks `--web.telemetry-path` against these
paths before anything starts, and web/http.py routes exactly these (a test holds it to it).
"""

from __future__ import annotations

from exporter.options import ConfigError, option, parse_positive_int

LANDING = "/"
INVENTORY = "/inventory"
CONTAINER = "/inventory/containers/{ref}"
TOPOLOGY = "/topology"
EVENTS = "/events"
OPENAPI = "/openapi.json"
HEALTHY = "/-/healthy"
READY = "/-/ready"

PAGES = (INVENTORY, CONTAINER, TOPOLOGY, EVENTS, OPENAPI, HEALTHY, READY)
"""Every page but the landing one, which gives way to a telemetry path of `/`."""

RESERVED = "/-/"
"""Prometheus' prefix for an exporter's own endpoints (health, readiness; /-/reload
elsewhere): kept free for them, as the Prometheus tools do."""


def _matches(pattern: str, path: str) -> bool:
    """`path` is one that `pattern` routes (a `{name}` segment matches any one segment)."""
    want, have = pattern.split("/"), path.split("/")
    return len(want) == len(have) and all(
        w == h or (w.startswith("{") and w.endswith("}") and h != "")
        for w, h in zip(want, have, strict=True)
    )


def shadowed(path: str) -> str | None:
    """The page that `path` as the telemetry path would hide, if any."""
    return next((page for page in PAGES if _matches(page, path)), None)


def parse_telemetry_path(text: str) -> str:
    """The metrics path: absolute, outside /-/, and no other page's."""
    if not text.startswith("/"):
        raise ConfigError(f"{text!r} must start with /")
    if text.startswith(RESERVED):
        raise ConfigError(f"{text!r} is under {RESERVED}, kept for the exporter's own endpoints")
    page = shadowed(text)
    if page is not None:
        raise ConfigError(f"{text!r} would hide the {page} page")
    return text


TELEMETRY_PATH = option(
    "--web.telemetry-path",
    "/metrics",
    parse_telemetry_path,
    "Path under which to expose metrics.",
    group="web",
)
INVENTORY_MAX_CONTAINERS = option(
    "--web.inventory.max-containers",
    "10000",
    parse_positive_int,
    "Containers in one /inventory document (about 3 KiB each); the rest are counted in "
    "its exporter.containers_omitted (narrow with ?name=, ?state=, ?label=).",
    group="web",
)
"""Its JSON is built whole; filter with ?name=, ?state=, ?label= to page through a
larger host."""

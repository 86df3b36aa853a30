"""Import aiohttp without the system CA bundle it would load twice at import time.

aiohttp's connector module builds two default SSL contexts when it is imported, and each
loads every system CA certificate: about 2 MiB of heap, a twentieth of the exporter's
RSS. The exporter never uses them: `engine/adapter.py` hands its own context to every TLS
connection (and its own connector to aiodocker, which so builds none either). So the
first import of aiohttp runs with CA loading switched off.
"""

from __future__ import annotations

import importlib
import ssl
import sys

_ATTRIBUTE = "set_default_verify_paths"


def _skip(_context: ssl.SSLContext) -> None:
    """Stands in for SSLContext.set_default_verify_paths during the import."""


def import_aiohttp_without_cas() -> None:
    """No-op when aiohttp is already imported (its contexts then hold the CAs)."""
    if "aiohttp" in sys.modules or _ATTRIBUTE in vars(ssl.SSLContext):
        return
    setattr(ssl.SSLContext, _ATTRIBUTE, _skip)
    try:
        importlib.import_module("aiohttp")
    finally:
        delattr(ssl.SSLContext, _ATTRIBUTE)

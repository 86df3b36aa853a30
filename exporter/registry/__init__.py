"""Private registries (the Distribution v2 API): a source beside the engine.

Each configured registry is polled by its own background task (`poller.py`) through its
own HTTP client (`client.py`) and published as an immutable `RegistrySnapshot` into the
inventory; the `registry` collector and /inventory only read that.
"""

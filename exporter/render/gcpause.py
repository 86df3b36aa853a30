"""A process-wide pause of the cyclic garbage collector around renders."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()
_holders = 0
_was_enabled = True


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """A render allocates short-lived tuples (rows) freed by reference counting; cyclic
    collections triggered meanwhile only rescan the young heap (about a fifth of a full
    render's time at 10 000 containers). Counted, because renders of two Expositions
    (tests, a worker thread beside the loop) may overlap."""
    global _holders, _was_enabled  # noqa: PLW0603 - the GC switch is process-wide
    with _LOCK:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _LOCK:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()

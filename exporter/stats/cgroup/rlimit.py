"""How many descriptors the reader may keep: the budget, fitted to RLIMIT_NOFILE."""

from __future__ import annotations

import logging
import resource
import sys

from exporter.options import option, parse_count

log = logging.getLogger(__name__)

OPEN_FILES = option(
    "--stats.open-files-limit",
    "4096",
    parse_count,
    "cgroup source: cgroup and /proc files kept open between sweeps, about 14 per"
    " container plus 3 per process (each holds ~4 KiB of kernel memory charged to the"
    " exporter's cgroup); 0 opens and closes every file on each sweep.",
    group="stats",
)
"""Files CgroupReader keeps open: by default at most ~16 MiB of seq_file buffers."""

FD_HEADROOM = 256
"""Descriptors left under RLIMIT_NOFILE for sockets and one-off reads."""


def open_files_budget(wanted: int, soft: int, hard: int) -> tuple[int, int]:
    """Return (budget, soft RLIMIT_NOFILE to set) for keeping `wanted` files open.

    The soft limit is raised towards the hard one (never above) to fit the budget plus
    FD_HEADROOM descriptors for sockets and one-off reads; if it still cannot, the budget
    shrinks to what fits.
    """
    if wanted <= 0:
        return 0, soft

    def finite(limit: int) -> int:
        return sys.maxsize if limit == resource.RLIM_INFINITY else limit

    need = wanted + FD_HEADROOM
    new_soft = soft if finite(soft) >= need else min(need, finite(hard))
    return max(0, min(wanted, finite(new_soft) - FD_HEADROOM)), new_soft


def fit_open_files(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE for `wanted` kept files; return the budget."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    budget, new_soft = open_files_budget(wanted, soft, hard)
    if new_soft != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
            log.debug("stats: soft RLIMIT_NOFILE raised from %d to %d", soft, new_soft)
        except (ValueError, OSError) as exc:
            log.warning("stats: cannot raise RLIMIT_NOFILE to %d: %s", new_soft, exc)
            budget, _ = open_files_budget(wanted, soft, soft)
    if budget < wanted:
        log.warning(
            "stats: keeping at most %d cgroup files open, not %d (RLIMIT_NOFILE %d/%d)",
            budget, wanted, soft, hard,
        )  # fmt: skip
    return budget

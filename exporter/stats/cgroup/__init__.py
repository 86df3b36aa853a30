"""The cgroup fast path: container stats straight from cgroupfs and /proc (Linux).

On Docker 20.10 a one-shot stats call costs about 1 s of daemon latency per container;
these files cost about 0.2 ms and no daemon work. Everything here is synchronous and runs
in a worker thread, once per sweep. docs/cgroup.md explains the paths, the slots and
why each skipped read is safe.

  layout      where the cgroups are: mounts (mountinfo), each container's directories
  slots       the files of one stats read, named (V1, V2, V1Extra) and gated
  parse       pure parsers of file bytes: stats, net/dev, blkio, io.stat, /proc/<pid>/stat
  procs       process lists, every file opened, read and closed
  perfile     `sample`: one container, every file opened, read and closed
  reader      `CgroupReader`: descriptors kept between sweeps, over
  statsfiles  ... one container's stats files, and
  procfiles   ... its process files, in one
  budget      ... descriptor budget, fitted to RLIMIT_NOFILE by
  rlimit      `fit_open_files`
  fileio      whole reads, preads, and telling a missing file from a vanished cgroup
"""

from exporter.stats.cgroup.fileio import CgroupError, CgroupGone
from exporter.stats.cgroup.layout import (
    UNIFIED,
    CgroupLayout,
    CgroupMount,
    Target,
    discover_layout,
    layout_from_mountinfo,
    parse_mountinfo,
    paths_from_proc_cgroup,
)
from exporter.stats.cgroup.parse import (
    CLK_TCK,
    PAGE_SIZE,
    parse_blkio_throttle,
    parse_cpu_max,
    parse_io_stat,
)
from exporter.stats.cgroup.perfile import Sample, host_stats, sample
from exporter.stats.cgroup.procs import cgroup_pids, passwd_users, read_processes
from exporter.stats.cgroup.reader import CgroupReader
from exporter.stats.cgroup.rlimit import OPEN_FILES, fit_open_files, open_files_budget

__all__ = [
    "CLK_TCK",
    "OPEN_FILES",
    "PAGE_SIZE",
    "UNIFIED",
    "CgroupError",
    "CgroupGone",
    "CgroupLayout",
    "CgroupMount",
    "CgroupReader",
    "Sample",
    "Target",
    "cgroup_pids",
    "discover_layout",
    "fit_open_files",
    "host_stats",
    "layout_from_mountinfo",
    "open_files_budget",
    "parse_blkio_throttle",
    "parse_cpu_max",
    "parse_io_stat",
    "parse_mountinfo",
    "passwd_users",
    "paths_from_proc_cgroup",
    "read_processes",
    "sample",
]

#!/usr/bin/env python3
"""Generate the docker-exporter Grafana dashboards (Classic JSON, schemaVersion 39).

Standard library only. Each query is written once, in the module of its dashboard
(dashboards/engine.py, container.py, topology.py, fleet.py, exporter.py, registry.py) on the panel
library in dashboards/lib/; the JSON files in this directory are generated from them and
committed:

    python dashboards/generate.py            # rewrite dashboards/*.json
    python dashboards/generate.py --check    # exit 1 if a committed file is out of date

Every dashboard has a stable uid (= its file name), the title prefix
"Docker Exporter / ", the tag "docker-exporter", and the variables `datasource`,
`job` and `instance` (multi-value, All); every panel and target uses
`${datasource}`, every PromQL selector carries `job=~"$job", instance=~"$instance"`,
every rate uses `$__rate_interval`.

Helpers for tests (for example a live test against a real Prometheus), from
dashboards/queries.py and re-exported here:
    dashboards() -> dict[str, dict]            file name -> dashboard model
    all_queries(include_variables=False) -> list[tuple[str, str, str]]
                                               (dashboard title, panel title, expr)
    substitute(expr, values=None) -> str       replace Grafana variables with values
    referenced_metrics() -> set[str]           every metric name the queries read
    SYNTHETIC_METRICS                          names Prometheus itself creates
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run as a script: `python dashboards/generate.py`
    sys.path.insert(0, str(HERE.parent))

from dashboards.lib.promql import SYNTHETIC_METRICS  # noqa: E402
from dashboards.queries import (  # noqa: E402
    all_queries,
    dashboards,
    expr_metrics,
    referenced_metrics,
    substitute,
)
from dashboards.topology import topology  # noqa: E402

__all__ = [
    "SYNTHETIC_METRICS",
    "all_queries",
    "dashboards",
    "expr_metrics",
    "main",
    "referenced_metrics",
    "render",
    "substitute",
    "topology",
]


def render(dashboard: Mapping[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", type=Path, default=HERE, help="default: %(default)s")
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if a file is out of date"
    )
    args = parser.parse_args(argv)
    stale = []
    for name, dashboard in dashboards().items():
        path = args.output_dir / name
        text = render(dashboard)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run dashboards/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The cAdvisor-shaped exposition (`exporter.collectors.cadvisor`): the same snapshots,
the same byte store and the same render thread as /metrics, its own body cache.

It renders only once someone scraped it (the prewarm renders the variants asked for),
so a user who turns it on and never scrapes it pays for nothing but the root cgroup's
read in each sweep. Its one state is `container_last_seen`'s memory: when each container
was last sampled, kept `--compat.cadvisor.last-seen-grace` after it stopped or went away
(cAdvisor's series linger ~5 minutes through their sample timestamps; ours carry none,
so only this family lingers, on purpose).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from exporter.collectors import cadvisor
from exporter.collectors.base import CollectorSpec, Options, PerObject, container_order
from exporter.collectors.family import Family
from exporter.inventory.store import Snapshot
from exporter.render.exposition import Body, Variant, body_of
from exporter.render.formats import (
    Head,
    LabelMemo,
    encode_rows,
    head_of,
)
from exporter.render.gcpause import no_cyclic_gc
from exporter.render.gzipbody import Folds
from exporter.render.prewarm import Cadence
from exporter.render.store import Block, ObjectStore, family_blocks

NO_HEAD = Head(b"", b"", b"", b"", frozenset())
"""The root cgroup's lines follow the containers' lines of the same family, headless:
one family stays one contiguous block, and both keep their cached segments."""


def _per_container() -> PerObject:
    return PerObject(
        source="containers",
        joins=("stats", "oom_events"),
        order=container_order,
        rows=cadvisor.rows,
        families=cadvisor.families,
        keep_rows=True,
    )


class CompatExposition:
    """Renders the cAdvisor-shaped body; `render` blocks and belongs in the render thread
    (`off_loop`: the /metrics exposition's, shared)."""

    def __init__(
        self,
        options: Options,
        off_loop: Callable[[Callable[[], Any]], Any],
        cadence: Cadence | None = None,
    ) -> None:
        """With a `cadence` (the /metrics exposition's), `prewarm` renders only the
        variants it has armed."""
        self.off_loop = off_loop
        self._cadence = cadence
        self._options = options
        self._grace = options[cadvisor.GRACE]
        self._driver = ""
        self._store: ObjectStore | None = None
        self._lock = threading.Lock()
        self._version = -1
        self._bodies: dict[Variant, Body] = {}
        self._wanted: set[Variant] = set()
        self._seen: dict[str, cadvisor.Seen] = {}
        self._folds: dict[str, Folds] = {}
        self._blocks: list[Block] = []
        self._memo: LabelMemo = {}
        """container_last_seen's label blocks, kept: its values move every sweep."""

    def cached(self, version: int, fmt: str, *, gzipped: bool) -> Body | None:
        if self._version < version:
            return None
        return self._bodies.get((fmt, gzipped))

    def want(self, fmt: str, gzipped: bool, timeout: float | None = None) -> None:
        self._wanted.add((fmt, gzipped))
        if self._cadence is not None:
            self._cadence.scraped(("compat", fmt, gzipped), timeout)

    def prewarm(self, snapshot: Snapshot) -> None:
        """Render the variants scraped so far (none until the first scrape)."""
        for fmt, gzipped in sorted(self._wanted):
            if self._cadence is None or self._cadence.armed(("compat", fmt, gzipped)):
                self.render(snapshot, fmt, gzipped=gzipped)

    def render(self, snapshot: Snapshot, fmt: str, *, gzipped: bool) -> Body:
        with self._lock:
            if snapshot.version > self._version:
                self._advance(snapshot)
            body = self._bodies.get((fmt, gzipped))
            if body is None:
                body = self._bodies[(fmt, gzipped)] = self._body(fmt, gzipped)
            return body

    def _advance(self, snapshot: Snapshot) -> None:
        driver = snapshot.engine.cgroup_driver if snapshot.engine is not None else "cgroupfs"
        if self._store is None or driver != self._driver:
            self._driver = driver
            options = Options({**dict(self._options.items()), cadvisor.DRIVER: driver})
            self._options = options
            spec = CollectorSpec("cadvisor", lambda _s, _o: (), True, "", per=_per_container())
            self._store = ObjectStore(spec, options)
        with no_cyclic_gc():
            containers = self._store.update(snapshot).blocks
            root = cadvisor.root_rows(snapshot, self._options)
            self._remember(snapshot)
            blocks: list[Block] = []
            for block, template in zip(containers, self._store_templates(), strict=True):
                blocks.append(block)
                some = root.get(template.spec.name)
                if some:
                    blocks.append(Block(NO_HEAD, (encode_rows(template, some),)))
            seen = cadvisor.last_seen(self._seen, self._options)
            if sum(map(len, self._memo.values())) > 2 * len(self._seen) + 64:
                self._memo = {}  # forget the label blocks of what went away
            blocks.append(Block(head_of(seen), (encode_rows(seen, seen.rows, self._memo),)))
            machine: list[Family] = list(cadvisor.machine_families(snapshot, self._options))
            blocks.extend(family_blocks(machine))
        self._blocks = blocks
        self._bodies = {}
        self._version = snapshot.version

    def _store_templates(self) -> tuple[Family, ...]:
        return cadvisor.families(self._options)

    def _remember(self, snapshot: Snapshot) -> None:
        """Stamp every sampled running container (and the root) with the sweep's end;
        forget what was last seen longer ago than the grace period."""
        at = snapshot.sampler.last_sample_ts
        if at is not None:
            stats = snapshot.stats
            seen = self._seen
            for key, c in snapshot.containers.items():
                if key in stats and c.state in cadvisor.LIVE:
                    last = seen.get(key)
                    if last is not None and last.source is c:
                        seen[key] = replace(last, at=at)
                    else:
                        ids = cadvisor.identity(c, self._options)
                        seen[key] = cadvisor.Seen(container_order(c), at, ids, c)
            if snapshot.host_stats is not None:
                ids = ("/", "", "", *("" for _ in cadvisor.label_keys(self._options)))
                self._seen["/"] = cadvisor.Seen(("", ""), at, ids)
            for key in [k for k, s in self._seen.items() if at - s.at > self._grace]:
                del self._seen[key]

    def _body(self, fmt: str, gzipped: bool) -> Body:
        """The blocks in form `fmt` (the Content-Type is the negotiation's, as for /metrics)."""
        folds = self._folds.setdefault(fmt, Folds()) if gzipped else None
        return body_of(self._blocks, fmt, gzipped=gzipped, folds=folds)

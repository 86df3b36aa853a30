"""The descriptors a reader may keep open, shared by its containers' stats and process files."""

from __future__ import annotations


class Budget:
    """How many more descriptors the reader may keep open (shared by its containers).

    Stats files come first: they are read three times as often as process files, which
    get at most `process_cap` (half the budget, less what `retain` expects the stats files
    of all its targets to need).
    """

    __slots__ = ("limit", "process_cap", "process_used", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.process_cap = limit // 2
        self.process_used = 0

    @property
    def free(self) -> int:
        return self.limit - self.used

    def take(self, count: int, *, processes: bool = False) -> None:
        """Count `count` more descriptors as held (fewer when negative: closed)."""
        self.used += count
        if processes:
            self.process_used += count

    def room_for_process(self, count: int) -> bool:
        """Whether one process's `count` descriptors may be kept."""
        return count <= self.free and self.process_used + count <= self.process_cap

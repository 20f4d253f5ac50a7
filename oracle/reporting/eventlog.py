"""EL event windows read incrementally: wide windows (a day of reports, ~49,000 blocks of withdrawal requests
on Berachain) are read once (the EL client splits the range into what each endpoint serves), then only their
new blocks each cycle, the newest ones again in case a reorganisation replaced them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

REORG_OVERLAP_BLOCKS = 64  # the newest blocks are read again every cycle

Fetch = Callable[[int, int], Awaitable[list[tuple[int, Any]]]]  # (from, to) -> [(block number, entry)]


@dataclass
class EventWindow:
    from_block: int = -1
    to_block: int = -1
    entries: list[tuple[int, Any]] = field(default_factory=list)
    key: Hashable = None  # what the entries were filtered by (the pools' addresses, say)

    async def advance(self, start: int, latest: int, fetch: Fetch, key: Hashable = None) -> list[Any]:
        """The entries of blocks start..latest, reading only what this window does not hold yet. Another `key`
        than the last (a pool added to the filter) reads the whole window again: what it holds was filtered
        without the newcomer."""
        if self.from_block < 0 or start < self.from_block or self.to_block < start or key != self.key:
            self.from_block, self.to_block, self.entries, self.key = start, start - 1, [], key
        refetch = max(self.from_block, self.to_block + 1 - REORG_OVERLAP_BLOCKS)
        self.entries = [(block, entry) for block, entry in self.entries if start <= block < refetch]
        if refetch <= latest:
            self.entries += await fetch(refetch, latest)
        self.from_block, self.to_block = start, max(latest, start - 1)
        return [entry for _, entry in self.entries]

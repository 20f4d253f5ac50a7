"""EL event windows read incrementally: wide windows (a day of reports, ~49,000 blocks of withdrawal requests
on Berachain) are read once, a chunk at a time, then only their new blocks each cycle, the newest ones again
in case a reorganisation replaced them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

LOG_CHUNK_BLOCKS = 10_000  # the widest eth_getLogs range most providers serve
REORG_OVERLAP_BLOCKS = 64  # the newest blocks are read again every cycle

Fetch = Callable[[int, int], Awaitable[list[tuple[int, Any]]]]  # (from, to) -> [(block number, entry)]


@dataclass
class EventWindow:
    from_block: int = -1
    to_block: int = -1
    entries: list[tuple[int, Any]] = field(default_factory=list)

    async def advance(self, start: int, latest: int, fetch: Fetch) -> list[Any]:
        """The entries of blocks start..latest, reading only what this window does not hold yet."""
        if self.from_block < 0 or start < self.from_block or self.to_block < start:
            self.from_block, self.to_block, self.entries = start, start - 1, []
        refetch = max(self.from_block, self.to_block + 1 - REORG_OVERLAP_BLOCKS)
        self.entries = [(block, entry) for block, entry in self.entries if start <= block < refetch]
        for chunk_start in range(refetch, latest + 1, LOG_CHUNK_BLOCKS):
            self.entries += await fetch(chunk_start, min(latest, chunk_start + LOG_CHUNK_BLOCKS - 1))
        self.from_block, self.to_block = start, max(latest, start - 1)
        return [entry for _, entry in self.entries]

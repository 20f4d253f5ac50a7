"""The daily bound from the chain's TotalDepositsUpdated events (anyone's reports, not only this journal's):
each report counts |new - before|, `before` from the journal, else totalDeposits one block earlier, else the
previous report; a report with no `before` counts as the largest allowed."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from oracle.execution.el import ExecutionClient, ExecutionError
from oracle.reporting.context import Pool
from oracle.reporting.daily import Update, changed_last_day, day_start_block

pytestmark = pytest.mark.unit
GWEI, ETH = 10**9, 10**18
POOL = Pool(3, b"\x01" * 48, "0x" + "ab" * 20)


class StandIn:
    def __init__(self, history: dict[int, int], ours: dict[str, int]) -> None:
        self.history = history  # block -> totalDeposits at that block (missing: pruned)
        self.calls: list[int] = []
        rows = [SimpleNamespace(tx_hash=h, previous_deposits_gwei=v // GWEI) for h, v in ours.items()]
        self.journal = SimpleNamespace(landed_since=lambda pool, since: rows)

    async def view(self, name: str, address: str, fn: str, *args: Any, block: int | str = "latest") -> int:
        assert fn == "totalDeposits" and isinstance(block, int)
        self.calls.append(block)
        if block not in self.history:
            raise ExecutionError("missing trie node", reason=None)
        return self.history[block]


def changed(updates: list[Update], history: dict[int, int], ours: dict[str, int] | None = None) -> tuple[int, Any]:
    stand_in = StandIn(history, ours or {})
    ctx = SimpleNamespace(el=stand_in, journal=stand_in.journal, report_before={})
    return asyncio.run(changed_last_day(ctx, POOL, updates, 0.05)), stand_in  # type: ignore[arg-type]


def test_another_reporters_moves_count() -> None:
    updates = [Update(POOL.address, 100, "0xaa", 310_000 * ETH), Update(POOL.address, 200, "0xbb", 320_000 * ETH)]
    total, _ = changed(updates, {99: 300_000 * ETH, 199: 310_000 * ETH})
    assert total == 20_000 * ETH  # neither is in this journal: both moves count


def test_the_journal_and_the_previous_report_stand_in_for_pruned_state() -> None:
    updates = [Update(POOL.address, 100, "0xaa", 310_000 * ETH), Update(POOL.address, 200, "0xbb", 305_000 * ETH)]
    total, stand_in = changed(updates, {}, ours={"0xaa": 300_000 * ETH})
    assert total == 10_000 * ETH + 5_000 * ETH  # ours from the journal; the other from the previous report
    assert stand_in.calls == [199]  # the journal's answer needs no eth_call


def test_an_unknown_before_counts_as_the_largest_allowed_report() -> None:
    total, _ = changed([Update(POOL.address, 100, "0xaa", 310_000 * ETH)], {})
    assert total == int(310_000 * ETH * 0.05)


def test_a_day_of_blocks_follows_the_el_block_time() -> None:
    blocks = {"latest": {"number": 100_000, "timestamp": 1_000_000}, 99_000: {"number": 99_000, "timestamp": 998_000}}

    async def block(tag: Any) -> dict[str, int]:
        return blocks[tag]

    ctx = SimpleNamespace(el=ExecutionClient([], 1.0))
    ctx.el.block = block  # type: ignore[method-assign]
    start = asyncio.run(day_start_block(ctx, blocks["latest"]))  # type: ignore[arg-type]
    assert start == 100_000 - 43_200 - 1  # 2 s blocks


def test_a_node_without_old_blocks_gives_the_widest_window() -> None:
    latest = {"number": 100_000, "timestamp": 1_000_000}

    async def block(tag: Any) -> dict[str, int]:
        if tag == 99_999:
            return {"number": 99_999, "timestamp": 999_998}
        raise ExecutionError("BlockNotFound", reason=None)

    ctx = SimpleNamespace(el=ExecutionClient([], 1.0))
    ctx.el.block = block  # type: ignore[method-assign]
    assert asyncio.run(day_start_block(ctx, latest)) == 100_000 - 43_200 - 1  # from the parent: 2 s blocks

    async def nothing(tag: Any) -> dict[str, int]:
        raise ExecutionError("BlockNotFound", reason=None)

    ctx.el.block = nothing  # type: ignore[method-assign]
    assert asyncio.run(day_start_block(ctx, latest)) == 100_000 - 86_400 - 1

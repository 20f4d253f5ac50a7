"""The daily bound from the chain: how far each pool's totalDeposits was moved by reports (anyone's, not only
this journal's) in the last 24 hours, from the pools' TotalDepositsUpdated events. Two reporters, or a
replica with its own journal, cannot each move a pool by the whole bound."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from eth_utils.crypto import keccak

from oracle.execution.el import ExecutionError
from oracle.reporting.context import Context, Pool
from oracle.types import WEI_PER_GWEI

log = structlog.get_logger("oracle.cycle")
DAY_SECONDS = 86_400
TOTAL_DEPOSITS_UPDATED = "0x" + keccak(text="TotalDepositsUpdated(uint256)").hex()
SAMPLE_BLOCKS = 1_000  # blocks over which the EL's block time is measured


@dataclass(frozen=True)
class Update:
    pool: str  # lower-case address
    block: int
    tx_hash: str
    value_wei: int


async def day_start_block(ctx: Context, latest: dict[str, Any]) -> int:
    """The block about 24 h before `latest`, from the EL's own block time over the last 1,000 blocks."""
    number = int(latest["number"])
    # No earlier block served: 1 s blocks, the widest window, so that no report is missed.
    seconds_per_block = await ctx.el.seconds_per_block(latest, SAMPLE_BLOCKS) or 1.0
    return max(0, number - int(DAY_SECONDS / seconds_per_block) - 1)


@dataclass(frozen=True)
class RecentReports:
    start_block: int  # about 24 h before the latest block
    by_pool: dict[str, list[Update]]  # lower-case pool address -> its reports since start_block, oldest first


async def recent_updates(ctx: Context, latest: dict[str, Any], pools: list[Pool]) -> RecentReports:
    """The pools' TotalDepositsUpdated events of the last 24 h before `latest` (the cycle's EL block), with one
    filter for all of them: the topic and the pools' addresses (the topic alone matches every contract's event
    of that name, which on a busy chain trips providers' result caps)."""
    addresses = sorted({pool.address.lower() for pool in pools})

    async def fetch(start: int, end: int) -> list[tuple[int, Any]]:
        out = []
        for entry in await ctx.el.raw_logs(start, end, topic=TOTAL_DEPOSITS_UPDATED, addresses=addresses):
            data = bytes(entry["data"])
            if len(data) != 32:
                continue  # another contract's event of the same name and other arguments
            block = int(entry["blockNumber"])
            tx_hash = "0x" + bytes(entry["transactionHash"]).hex()
            out.append((block, Update(str(entry["address"]).lower(), block, tx_hash, int.from_bytes(data, "big"))))
        return out

    start = await day_start_block(ctx, latest)
    by_pool: dict[str, list[Update]] = {}
    if not addresses:  # an empty address list filters nothing: every contract's events
        return RecentReports(start, by_pool)
    for update in await ctx.deposit_updates.advance(start, int(latest["number"]), fetch, key=tuple(addresses)):
        by_pool.setdefault(update.pool, []).append(update)
    for updates in by_pool.values():
        updates.sort(key=lambda u: u.block)
    return RecentReports(start, by_pool)


async def changed_last_day(ctx: Context, pool: Pool, updates: list[Update], max_change_per_report: float) -> int:
    """Sum of |new - before| over the pool's reports of the last 24 h, in wei. `before` is the journal's
    (our own reports), else totalDeposits one block earlier (eth_call; nodes that prune state may refuse),
    else the previous report's value; a report with no `before` counts as the largest one allowed."""
    ours = {row.tx_hash.lower(): row.previous_deposits_gwei * WEI_PER_GWEI
            for row in ctx.journal.landed_since(pool.address, 0) if row.tx_hash}  # fmt: skip
    total, previous = 0, None
    for update in sorted(updates, key=lambda u: u.block):
        before = ours.get(update.tx_hash.lower())
        if before is None:
            before = ctx.report_before.get(update.tx_hash)
        if before is None:
            try:
                before = int(await ctx.el.view("StakingPool", pool.address, "totalDeposits", block=update.block - 1))
                ctx.report_before[update.tx_hash] = before
            except ExecutionError:
                before = previous
        if before is None:
            total += int(update.value_wei * max_change_per_report)
            log.info("a report's previous totalDeposits is unknown: counted as the largest allowed",
                     pool=pool.address, tx_hash=update.tx_hash)  # fmt: skip
        else:
            total += abs(update.value_wei - before)
        previous = update.value_wei
    return total

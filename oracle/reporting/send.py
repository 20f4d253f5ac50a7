"""Stage 6: pre-flight, send and journal a report; see journalled reports through after a restart."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import structlog

from oracle import metrics
from oracle.execution.el import ExecutionError, decode_revert
from oracle.execution.txmanager import Check, TxOutcome
from oracle.faultpoints import crash_point, pause_point
from oracle.reporting.books import read_books
from oracle.reporting.clview import OPEN_STATES, classify
from oracle.reporting.context import Anchor, Context, Pool
from oracle.reporting.mempool import competing_report
from oracle.reporting.proofs import ProvenBalance
from oracle.reporting.reconcile import Decision, PoolBooks
from oracle.types import WEI_PER_GWEI

log = structlog.get_logger("oracle.cycle")
# A report's decision, re-run on the pool's books read before a signature (pipeline.report_pool's reconcile).
Decide = Callable[[PoolBooks], Decision]


def report_args(proven: ProvenBalance, anchor: Anchor) -> tuple[Any, ...]:
    return (
        proven.pubkey,
        list(proven.pubkey_proof),
        proven.balance,
        proven.balance_leaf,
        list(proven.balance_proof),
        proven.index,
        anchor.timestamp,
    )


async def preflight(ctx: Context, proven: ProvenBalance, anchor: Anchor) -> tuple[str | None, int]:
    """(revert reason or None, gas estimate): the factory's free views, then the report as an eth_call."""
    try:
        await ctx.el.view("StakingPoolContractsFactory", ctx.factory, "validatePubkeyProof",
                          proven.pubkey, list(proven.pubkey_proof), proven.index, anchor.timestamp)  # fmt: skip
        await ctx.el.view("StakingPoolContractsFactory", ctx.factory, "validateBalanceProof", proven.balance,
                          proven.balance_leaf, list(proven.balance_proof), proven.index, anchor.timestamp)  # fmt: skip
    except ExecutionError as exc:
        return exc.reason or str(exc), 0
    if ctx.account is None:
        return None, 0
    fn = ctx.el.contract("AccountingOracle", ctx.oracle).functions.updateTotalDeposits(*report_args(proven, anchor))
    params = {"from": ctx.account.address}
    try:
        await ctx.el.timed("eth_call", lambda w3: fn.call(params))  # type: ignore[arg-type]
        gas = await ctx.el.timed("eth_estimateGas", lambda w3: fn.estimate_gas(params))  # type: ignore[arg-type]
    except Exception as exc:
        return decode_revert(getattr(exc, "data", None)), 0
    return None, int(gas)


async def report_pending_elsewhere(ctx: Context, pubkey: bytes) -> bool:
    """Another reporter's report for this validator waits in the mempool, priced to be included (see
    reporting.mempool: a junk transaction, one from a sender without the right to report, one the next block
    cannot take, or one stuck there for long does not count). Our own transactions do not count."""
    return await competing_report(ctx, pubkey) is not None


def books_fingerprint(books: PoolBooks) -> str:
    """What must not move between deciding a report and signing it: the shares (a stake or a withdrawal
    mints or burns them) and totalDeposits (a pool deposit books it, another report overwrites it).
    totalAssets is left out: rewards accrue into it every block."""
    return f"{books.total_supply},{books.total_deposits_wei}"


async def held_now(ctx: Context, pool: Pool, books: PoolBooks, decide: Decide | None) -> str | None:
    """Why the rules read from the pool's views, as they are now, would not let the report be sent: the pool's
    state (clview.classify: paused, fully exited) and the decision itself re-run on the fresh books (whatever
    rules reconcile holds by: the same function, so that a change of the rules is a change here too)."""
    core = await ctx.el.view("StakingPoolContractsFactory", ctx.factory, "getCoreContracts", pool.pubkey)
    state = await classify(ctx, pool, str(core[0]))
    if state not in OPEN_STATES:
        return f"the pool is {state} now: it was open when the report was decided"
    if decide is None:
        return None  # a report decided before a restart: its books and the pool's state are what is known
    again = decide(books)
    if again.action == "hold":
        return f"decided again on the pool's books now, the report is held ({', '.join(again.reasons)})"
    if again.action != "report":
        return f"decided again on the pool's books now, no report is due ({again.action})"
    return None


def report_check(ctx: Context, pool_address: str, timestamp: int, fingerprint: str | None, pubkey: bytes,
                 decide: Decide | None = None) -> Check:  # fmt: skip
    """The grounds of a report, re-read before every signature (the first, a replacement, a resumed one):
    its proof must still land within MAX_TIMESTAMP_AGE, the pool's books must be as they were, the pool must
    still be open (not paused, not fully exited), the decision re-run on the fresh books (`decide`, where this
    process decided it) must still report, and no other reporter's transaction for this validator may be
    waiting in the mempool (the last look before signing is what keeps two reporters with different keys to
    one report)."""

    async def check() -> str | None:
        landing = 2 * max(ctx.seconds_per_slot, 1) + ctx.settings.reporting.timestamp_margin_seconds
        if ctx.chain_now() + landing >= timestamp + ctx.max_timestamp_age:
            return f"its proof (EL timestamp {timestamp}) would be older than MAX_TIMESTAMP_AGE when it lands"
        if fingerprint is None:
            return None  # a journal row from before fingerprints: only the age is known
        # Pinned to a node's latest block, no older than any head this cycle has seen (so not older than the
        # books block): "latest" from a node behind would show books from before a stake, and pass. No node
        # that far: ExecutionError (the check cannot be made; nothing is signed, nothing is cancelled).
        pinned = await ctx.el.pinned_head(ctx.el.highest_head)
        fresh = await read_books(ctx, Pool(-1, pubkey, pool_address), pinned)
        now = books_fingerprint(fresh)
        if now != fingerprint:
            return f"the pool's books moved since the report was decided (shares,totalDeposits {fingerprint} -> {now})"
        held = await held_now(ctx, Pool(-1, pubkey, pool_address), fresh, decide)
        if held is not None:
            return held
        if await report_pending_elsewhere(ctx, pubkey):
            return "another reporter's transaction for this validator is in the mempool"
        return None

    return check


async def submit(
    ctx: Context,
    pool: Pool,
    proven: ProvenBalance,
    anchor: Anchor,
    books: PoolBooks,
    gas: int,
    decide: Decide | None = None,
) -> TxOutcome:
    """`decide`: the report's decision as a function of the pool's books, re-run on the books read before each
    signature."""
    assert ctx.txm is not None and ctx.account is not None
    jitter = random.uniform(0, ctx.settings.reporting.send_jitter_max_seconds)
    await asyncio.sleep(jitter)
    current = int(await ctx.el.view("StakingPool", pool.address, "totalDeposits"))
    if current == proven.balance * WEI_PER_GWEI:
        return TxOutcome("already_reported", reason="totalDeposits already equals the proven balance")
    if await report_pending_elsewhere(ctx, proven.pubkey):
        return TxOutcome("pending_elsewhere", reason="another report for this validator is in the mempool")
    waiting = ctx.journal.anything_in_flight()  # a report's or a keeper duty's: one nonce sequence per key
    if waiting:  # one transaction in flight per signer: a new one would take its nonce
        return TxOutcome("waiting", reason=f"{waiting} is in flight")
    fingerprint = books_fingerprint(books)
    report_id = ctx.journal.prepare(
        pool.address, "0x" + pool.pubkey.hex(), pool.index, anchor.slot, anchor.timestamp, proven.balance,
        books.total_deposits_wei // WEI_PER_GWEI, proven.digest(), fingerprint,
    )  # fmt: skip
    if report_id is None:
        return TxOutcome("already_journalled", reason=f"a report for slot {anchor.slot} is already in the journal")
    crash_point("after_prepare")
    await pause_point("after_prepare")
    fn = ctx.el.contract("AccountingOracle", ctx.oracle).functions.updateTotalDeposits(*report_args(proven, anchor))
    data = fn._encode_transaction_data()
    if decide is not None:
        ctx.deciders[report_id] = decide  # a timed-out report followed on next cycle is judged by it too
    check = report_check(ctx, pool.address, anchor.timestamp, fingerprint, pool.pubkey, decide)
    outcome = await ctx.txm.send(report_id, ctx.oracle, data, gas, check)
    _finish(ctx, report_id, outcome)
    return outcome


def _finish(ctx: Context, report_id: int, outcome: TxOutcome) -> None:
    if outcome.status == "timeout":
        return  # still in flight: the journal keeps it, and the next cycle follows it before anything else
    ctx.deciders.pop(report_id, None)
    ctx.journal.finish(
        report_id,
        outcome.status,
        reason=outcome.reason,
        tx_hash=outcome.tx_hash,
        block_number=outcome.block_number,
        gas_used=outcome.gas_used,
        fee_wei=outcome.fee_wei,
    )


async def reopen_reorged(ctx: Context, final_block: int) -> int:
    """Reports the journal says landed after `final_block` (the EL block of the finalized slot) may have left
    the chain with their block. Each whose transaction no block holds now is in flight again: `resume`
    then rebroadcasts it if its grounds still hold (the report is still owed: totalDeposits went back with
    the block), or cancels its nonce. Returns how many were reopened."""
    if ctx.txm is None:
        return 0
    reopened = 0
    for row, block in ctx.journal.landed_after(final_block):
        receipt = await ctx.txm.receipt_of(row.id)
        if receipt is not None:
            moved = int(receipt["blockNumber"])
            if moved != block:  # included again, in another block of the new chain
                tx_hash, gas = "0x" + bytes(receipt["transactionHash"]).hex(), int(receipt["gasUsed"])
                fee = gas * int(receipt.get("effectiveGasPrice", 0))
                ctx.journal.finish(row.id, "mined", tx_hash=tx_hash, block_number=moved, gas_used=gas, fee_wei=fee)
            continue
        ctx.journal.reopen(row.id, f"its block {block} left the chain (reorganisation)")
        metrics.TRANSACTIONS.labels("reorged").inc()
        log.warning("a landed report's block left the chain (reorganisation): following its transaction again",
                    pool=row.pool, slot=row.slot, block=block, tx_hash=row.tx_hash)  # fmt: skip
        reopened += 1
    return reopened


async def resume_in_flight(ctx: Context) -> None:
    """Reports the journal says were signed or sent before a restart: see them through first."""
    if ctx.txm is None:
        return
    for row in ctx.journal.in_flight():
        if row.status == "prepared" and not ctx.journal.transactions(row.id):
            ctx.journal.finish(row.id, "failed", reason="killed before signing; nothing was broadcast")
            continue
        pubkey = bytes.fromhex(row.pubkey[2:])
        check = report_check(ctx, row.pool, row.timestamp, row.books, pubkey, ctx.deciders.get(row.id))
        outcome = await ctx.txm.resume(row.id, check)
        _finish(ctx, row.id, outcome)
        log.info("resumed journalled report", pool=row.pool, slot=row.slot, outcome=outcome.status,
                 tx_hash=outcome.tx_hash)  # fmt: skip

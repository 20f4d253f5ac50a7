"""Stage 6: pre-flight, send and journal a report; see journalled reports through after a restart."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import structlog

from oracle import metrics
from oracle.execution.el import ExecutionError, decode_revert
from oracle.execution.txmanager import Check, TxOutcome
from oracle.faultpoints import crash_point, pause_point
from oracle.reporting.books import read_books
from oracle.reporting.context import Anchor, Context, Pool
from oracle.reporting.proofs import ProvenBalance
from oracle.reporting.reconcile import PoolBooks
from oracle.types import WEI_PER_GWEI

log = structlog.get_logger("oracle.cycle")


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
    """Another reporter's transaction for this validator waits in the mempool (txpool_content, where the
    node serves it). Our own transactions do not count."""
    try:
        response = await ctx.el.w3.provider.make_request("txpool_content", [])
    except Exception:
        return False
    result = response.get("result") if isinstance(response, dict) else None
    pending = result.get("pending") if isinstance(result, dict) else None
    needle = pubkey.hex()
    oracle = ctx.oracle.lower()
    ours = ctx.account.address.lower() if ctx.account is not None else ""
    for sender, by_nonce in pending.items() if isinstance(pending, dict) else ():
        if str(sender).lower() == ours:
            continue
        for tx in by_nonce.values() if isinstance(by_nonce, dict) else ():
            if not isinstance(tx, dict):
                continue
            if str(tx.get("to", "")).lower() == oracle and needle in str(tx.get("input", "")).lower():
                return True
    return False


def books_fingerprint(books: PoolBooks) -> str:
    """What must not move between deciding a report and signing it: the shares (a stake or a withdrawal
    mints or burns them) and totalDeposits (a pool deposit books it, another report overwrites it).
    totalAssets is left out: rewards accrue into it every block."""
    return f"{books.total_supply},{books.total_deposits_wei}"


def report_check(ctx: Context, pool_address: str, timestamp: int, fingerprint: str | None, pubkey: bytes) -> Check:
    """The grounds of a report, re-read before every signature (the first, a replacement, a resumed one):
    its proof must still land within MAX_TIMESTAMP_AGE, the pool's books must be as they were, and no other
    reporter's transaction for this validator may be waiting in the mempool (the last look before signing
    is what keeps two reporters with different keys to one report)."""

    async def check() -> str | None:
        landing = 2 * max(ctx.seconds_per_slot, 1) + ctx.settings.reporting.timestamp_margin_seconds
        if ctx.chain_now() + landing >= timestamp + ctx.max_timestamp_age:
            return f"its proof (EL timestamp {timestamp}) would be older than MAX_TIMESTAMP_AGE when it lands"
        if fingerprint is None:
            return None  # a journal row from before fingerprints: only the age is known
        now = books_fingerprint(await read_books(ctx, Pool(-1, b"", pool_address)))
        if now != fingerprint:
            return f"the pool's books moved since the report was decided (shares,totalDeposits {fingerprint} -> {now})"
        if await report_pending_elsewhere(ctx, pubkey):
            return "another reporter's transaction for this validator is in the mempool"
        return None

    return check


async def submit(
    ctx: Context, pool: Pool, proven: ProvenBalance, anchor: Anchor, books: PoolBooks, gas: int
) -> TxOutcome:
    assert ctx.txm is not None and ctx.account is not None
    jitter = random.uniform(0, ctx.settings.reporting.send_jitter_max_seconds)
    await asyncio.sleep(jitter)
    current = int(await ctx.el.view("StakingPool", pool.address, "totalDeposits"))
    if current == proven.balance * WEI_PER_GWEI:
        return TxOutcome("already_reported", reason="totalDeposits already equals the proven balance")
    if await report_pending_elsewhere(ctx, proven.pubkey):
        return TxOutcome("pending_elsewhere", reason="another report for this validator is in the mempool")
    waiting = [row for row in ctx.journal.in_flight() if row.status == "sent"]
    if waiting:  # one transaction in flight per signer: a new one would take its nonce
        return TxOutcome("waiting", reason=f"the report of {waiting[0].pool} at slot {waiting[0].slot} is in flight")
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
    check = report_check(ctx, pool.address, anchor.timestamp, fingerprint, pool.pubkey)
    outcome = await ctx.txm.send(report_id, ctx.oracle, data, gas, check)
    _finish(ctx, report_id, outcome)
    return outcome


def _finish(ctx: Context, report_id: int, outcome: TxOutcome) -> None:
    if outcome.status == "timeout":
        return  # still in flight: the journal keeps it, and the next cycle follows it before anything else
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
        outcome = await ctx.txm.resume(row.id, report_check(ctx, row.pool, row.timestamp, row.books, pubkey))
        _finish(ctx, row.id, outcome)
        log.info("resumed journalled report", pool=row.pool, slot=row.slot, outcome=outcome.status,
                 tx_hash=outcome.tx_hash)  # fmt: skip

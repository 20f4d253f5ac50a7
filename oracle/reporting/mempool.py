"""The mempool look before a report is signed: another reporter's report for the same validator, waiting to be
included, makes ours wait (two reporters with different keys then send one report, not two).

Only a transaction that would be that report counts: its input decodes as the oracle's updateTotalDeposits for
this validator's pubkey, its sender may report (FEEDER_ROLE or ownership, as the oracle says), its fee can be
included in the next block, and it has not stayed pending for long. Anything else (a junk transaction holding
the pubkey, a well-formed call from a sender without the role, one whose fee the next block cannot take, one
stuck for blocks) is anyone's to send for free, and must not keep a pool's reports away."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import structlog
from web3 import AsyncWeb3
from web3.exceptions import ContractCustomError, ContractLogicError

from oracle.execution.el import ExecutionError
from oracle.reporting.context import Context, PendingSighting
from oracle.reporting.endpoints import may_report

log = structlog.get_logger("oracle.cycle")

UPDATE_TOTAL_DEPOSITS = "0x5578e99d"  # updateTotalDeposits(bytes,bytes32[],uint64,bytes32,bytes32[],uint64,uint64)
# A report priced for the next block lands within a block or two: one still pending after this many blocks, or
# this many report cycles' time, is stuck, and no longer waited for.
PATIENCE_BLOCKS = 5
PATIENCE_CYCLES = 2
COUNTS = "counts"


@dataclass(frozen=True)
class PendingTx:
    """A pending transaction to the oracle, from txpool_content."""

    tx_hash: str
    sender: str
    data: str
    max_fee: int  # maxFeePerGas, or gasPrice for a legacy transaction
    tip: int  # maxPriorityFeePerGas, or gasPrice for a legacy transaction


@dataclass(frozen=True)
class NextBlock:
    number: int  # the latest block's: the next block is number + 1
    base_fee: int  # the next block's base fee


def _int(value: Any) -> int | None:
    try:
        return int(str(value), 16) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        return None


def pending_to_oracle(result: Any, oracle: str, ours: str) -> list[PendingTx]:
    """The pending transactions to the oracle in a txpool_content answer, ours left out (whatever its shape:
    what does not parse is not a transaction)."""
    pending = result.get("pending") if isinstance(result, dict) else None
    out = []
    for sender, by_nonce in pending.items() if isinstance(pending, dict) else ():
        if str(sender).lower() == ours:
            continue
        for tx in by_nonce.values() if isinstance(by_nonce, dict) else ():
            if not isinstance(tx, dict) or str(tx.get("to", "")).lower() != oracle:
                continue
            legacy = tx.get("maxFeePerGas") is None  # gasPrice alone (some nodes show the 1559 fields as null)
            max_fee = _int(tx.get("gasPrice") if legacy else tx.get("maxFeePerGas"))
            tip = _int(tx.get("gasPrice") if legacy else tx.get("maxPriorityFeePerGas"))
            tx_hash = tx.get("hash")
            if max_fee is None or tip is None or not isinstance(tx_hash, str):
                continue
            out.append(PendingTx(tx_hash.lower(), str(sender).lower(), str(tx.get("input", "")), max_fee, tip))
    return out


def reported_pubkey(ctx: Context, data: str) -> bytes | None:
    """The pubkey of an updateTotalDeposits call, or None if `data` is not one."""
    if not data.lower().startswith(UPDATE_TOTAL_DEPOSITS):
        return None
    try:
        fn, args = ctx.el.contract("AccountingOracle", ctx.oracle).decode_function_input(data)
    except Exception:  # eth_abi's decoding errors share no base class: any of them means "not a report"
        return None
    if fn.fn_name != "updateTotalDeposits" or not isinstance(args.get("pubkey"), bytes):
        return None
    return bytes(args["pubkey"])


def unpriced(tx: PendingTx, next_block: NextBlock) -> str | None:
    """Why the next block cannot take `tx` for its fee, or None: maxFeePerGas below its base fee, or no tip
    left over it for the block's proposer."""
    if tx.max_fee < next_block.base_fee:
        return f"its maxFeePerGas {tx.max_fee} wei is below the next block's base fee {next_block.base_fee} wei"
    if min(tx.tip, tx.max_fee - next_block.base_fee) <= 0:
        return "it pays no priority fee over the next block's base fee"
    return None


async def sender_may_report(ctx: Context, tx: PendingTx, block: int) -> bool:
    """As the oracle says at `block` (cached per sender and block). An oracle whose scheme is unknown: the call,
    simulated from its sender, must not revert. Open reporting (this signer reports without the role): anyone."""
    cached = ctx.reporters.get(tx.sender)
    if cached is not None and cached[0] == block:
        return cached[1]
    allowed = await may_report(ctx, AsyncWeb3.to_checksum_address(tx.sender))
    if allowed is None:
        call = {"from": AsyncWeb3.to_checksum_address(tx.sender), "to": ctx.oracle, "data": tx.data}
        try:
            await ctx.el.timed("eth_call", lambda w3: w3.eth.call(call))  # type: ignore[arg-type]
            allowed = True
        except (ContractCustomError, ContractLogicError):  # a revert (no endpoint answering: ExecutionError)
            allowed = False
    elif not allowed and ctx.oracle_access == "access_control" and ctx.has_role and ctx.account is not None:
        allowed = not await may_report(ctx, ctx.account.address)  # we report without the role: anyone may
    ctx.reporters = {sender: known for sender, known in ctx.reporters.items() if known[0] == block}
    ctx.reporters[tx.sender] = (block, allowed)
    return allowed


async def next_block(ctx: Context) -> NextBlock:
    """The next block's number and base fee, from eth_feeHistory read inside the failover: an answer of the wrong
    shape (KeyError, TypeError, ValueError) is that endpoint's failure, and the next one is asked."""

    async def fetch(w3: AsyncWeb3[Any]) -> NextBlock:
        history = await w3.eth.fee_history(1, "latest", [])
        base_fees = [int(fee) for fee in history.get("baseFeePerGas") or []]  # none before EIP-1559
        return NextBlock(int(history["oldestBlock"]), base_fees[-1] if base_fees else 0)

    return await ctx.el.timed("eth_feeHistory", fetch)


def stuck(ctx: Context, seen: PendingSighting, block: int) -> str | None:
    blocks, seconds = block - seen.first_block, time.monotonic() - seen.first_seen
    if blocks >= PATIENCE_BLOCKS or seconds >= PATIENCE_CYCLES * ctx.settings.reporting.interval_seconds:
        return f"pending for {blocks} blocks ({seconds:.0f} s)"
    return None


@dataclass(frozen=True)
class Verdict:
    kind: str  # COUNTS, not_a_report, other_validator, unpriced, no_right or stuck: logged once per change
    reason: str = ""


async def verdict(ctx: Context, tx: PendingTx, pubkey: bytes, chain: NextBlock, seen: PendingSighting) -> Verdict:
    """Whether `tx` is another reporter's report for this validator that the next block can include, or why not."""
    key = reported_pubkey(ctx, tx.data)
    if key is None:
        return Verdict("not_a_report", "its input is no updateTotalDeposits call")
    if key != pubkey:
        return Verdict("other_validator", "a report for another validator")
    why = unpriced(tx, chain)
    if why is not None:
        return Verdict("unpriced", why)
    try:
        if not await sender_may_report(ctx, tx, chain.number):
            return Verdict("no_right", "its sender may not report (no FEEDER_ROLE, not the oracle's owner)")
    except ExecutionError as exc:  # unknown: waited for, as a report (the worst is one report fee spent twice)
        log.warning("could not read whether a pending report's sender may report", tx_hash=tx.tx_hash,
                    sender=tx.sender, error=str(exc)[:200])  # fmt: skip
    why = stuck(ctx, seen, chain.number)
    return Verdict("stuck", why) if why is not None else Verdict(COUNTS)


async def competing_report(ctx: Context, pubkey: bytes) -> str | None:
    """The hash of another reporter's transaction for this validator that waits in the mempool to be included
    (txpool_content, where the node serves it), or None. Each pending transaction's verdict is logged once."""
    try:
        response = await ctx.el.w3.provider.make_request("txpool_content", [])
    except Exception:
        return None  # a node without the txpool namespace: no look
    result = response.get("result") if isinstance(response, dict) else None
    ours = ctx.account.address.lower() if ctx.account is not None else ""
    candidates = pending_to_oracle(result, ctx.oracle.lower(), ours)
    if not candidates:
        ctx.mempool_seen.clear()
        return None
    try:
        chain = await next_block(ctx)
    except (ExecutionError, KeyError, TypeError, ValueError) as exc:
        log.warning("the next block's base fee is unreadable: pending reports are judged without it",
                    error=str(exc)[:200])  # fmt: skip
        chain = NextBlock(0, 0)
    seen = {tx.tx_hash: ctx.mempool_seen.get(tx.tx_hash) or PendingSighting(time.monotonic(), chain.number)
            for tx in candidates}  # fmt: skip
    found = None
    for tx in candidates:
        judged = await verdict(ctx, tx, pubkey, chain, seen[tx.tx_hash])
        if judged.kind == COUNTS:
            found = found or tx.tx_hash
        if judged.kind not in (seen[tx.tx_hash].verdict, "other_validator"):  # that one is another pool's look
            seen[tx.tx_hash] = replace(seen[tx.tx_hash], verdict=judged.kind)
            _tell(tx, judged)
    ctx.mempool_seen = seen  # what is no longer pending is forgotten
    return found


def _tell(tx: PendingTx, judged: Verdict) -> None:
    if judged.kind == COUNTS:
        log.info("another reporter's report for this validator waits in the mempool: ours waits for it",
                 tx_hash=tx.tx_hash, sender=tx.sender)  # fmt: skip
    elif judged.kind == "stuck":
        log.warning("another reporter's report has stayed pending too long: ours no longer waits for it",
                    tx_hash=tx.tx_hash, sender=tx.sender, reason=judged.reason)  # fmt: skip
    else:
        log.info("a pending transaction to the oracle is not another reporter's report: ours does not wait for it",
                 tx_hash=tx.tx_hash, sender=tx.sender, reason=judged.reason)  # fmt: skip

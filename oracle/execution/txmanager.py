"""Sending reports: one in-flight transaction per signer, EIP-1559 fees from eth_feeHistory under a hard
ceiling, nonces from the mined count, the signed transaction journalled before it is broadcast, a stuck one
replaced with a bumped fee that clears the node's minimum, receipts awaited with a timeout, a revert
decoded. A restarted daemon picks up what the journal says is in flight, and can re-price it.

Every signature (the first, a re-sign after a stale nonce, each replacement, a resumed one) is preceded by
the caller's `check`: a report whose grounds changed since it was decided is not signed, and one already
in the mempool is replaced by a cancellation (a zero-value transfer to ourselves at its nonce)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_typing import HexStr
from hexbytes import HexBytes
from web3 import AsyncWeb3
from web3.exceptions import TransactionNotFound

from oracle import metrics
from oracle.config.settings import Transactions
from oracle.execution.el import ExecutionClient, ExecutionError, decode_revert
from oracle.faultpoints import crash_point
from oracle.journal import Journal

log = structlog.get_logger("oracle.tx")
GWEI = 10**9

FEE_TOO_LOW = (
    "underpriced",
    "fee too low",
    "feetoolow",
    "max fee per gas less than block base fee",
    "gas price too low",
    "insufficient fee",
    "fee cap less than block base fee",
)
NONCE_TOO_LOW = (
    "nonce too low",
    "noncetoolow",
    "oldnonce",
    "already used nonce",
    "nonce has already been used",
)
ALREADY_KNOWN = ("already known", "alreadyknown", "known transaction", "already imported", "already exists")
CANCEL_GAS = 21_000
# A report's grounds, checked before every signature: None while they hold, else why not.
Check = Callable[[], Awaitable[str | None]]


def _matches(message: str, needles: tuple[str, ...]) -> bool:
    lowered = message.lower().replace("_", " ")
    return any(needle in lowered or needle in lowered.replace(" ", "") for needle in needles)


def is_fee_too_low(message: str) -> bool:
    return _matches(message, FEE_TOO_LOW)


@dataclass(frozen=True)
class Fees:
    max_fee: int
    priority_fee: int

    def bumped(self, percent: float) -> Fees:
        factor = 1 + percent / 100
        return Fees(math.ceil(self.max_fee * factor) + 1, math.ceil(self.priority_fee * factor) + 1)


@dataclass(frozen=True)
class TxOutcome:
    status: str  # mined, reverted, timeout, fee_ceiling, failed, superseded, stale, cancelled
    tx_hash: str | None = None
    reason: str | None = None
    block_number: int | None = None
    gas_used: int | None = None
    fee_wei: int | None = None


class FeeCeiling(Exception):
    """The fee the network needs now is above the configured ceiling."""


class TxManager:
    def __init__(self, el: ExecutionClient, account: LocalAccount, chain_id: int, config: Transactions,
                 journal: Journal) -> None:  # fmt: skip
        self.el = el
        self.account = account
        self.chain_id = chain_id
        self.config = config
        self.journal = journal
        self.lock = asyncio.Lock()  # one in-flight transaction per signer
        self.ceiling = int(config.max_fee_gwei * GWEI)

    @property
    def address(self) -> str:
        return str(self.account.address)

    async def fees(self) -> Fees:
        history = await self.el.timed("eth_feeHistory", lambda w3: w3.eth.fee_history(5, "latest", [50]))
        base = int(history["baseFeePerGas"][-1])  # the next block's base fee
        rewards = [int(r[0]) for r in history.get("reward", []) if r]
        median_tip = sorted(rewards)[len(rewards) // 2] if rewards else 0
        tip = max(int(self.config.priority_fee_gwei * GWEI), median_tip)
        max_fee = 2 * base + tip  # room for the base fee to rise for a few blocks
        if tip > self.ceiling or base + tip > self.ceiling:
            raise FeeCeiling(f"needs {(base + tip) / GWEI:.2f} gwei, ceiling {self.ceiling / GWEI:.2f}")
        return Fees(min(max_fee, self.ceiling), tip)

    async def nonce(self, tag: str = "latest") -> int:
        """The next nonce by mined count: this daemon keeps one transaction in flight, and replicas sharing
        the key then compete for one nonce, so that only one of their reports can land."""
        return await self.el.timed(
            "eth_getTransactionCount",
            lambda w3: w3.eth.get_transaction_count(self.account.address, tag),  # type: ignore[arg-type]
        )

    def _sign(self, to: str, data: str, gas: int, nonce: int, fees: Fees) -> tuple[str, str]:
        tx = {
            "type": 2,
            "chainId": self.chain_id,
            "to": AsyncWeb3.to_checksum_address(to),
            "data": data,
            "value": 0,
            "gas": gas,
            "nonce": nonce,
            "maxFeePerGas": fees.max_fee,
            "maxPriorityFeePerGas": fees.priority_fee,
        }
        signed = self.account.sign_transaction(tx)  # type: ignore[arg-type]
        return "0x" + bytes(signed.hash).hex(), "0x" + bytes(signed.raw_transaction).hex()

    def _sign_cancel(self, nonce: int, fees: Fees) -> tuple[str, str]:
        return self._sign(self.address, "0x", CANCEL_GAS, nonce, fees)

    async def _broadcast(self, raw: str) -> str | None:
        """None if accepted (or already known), or if no node answered at all: a transport failure does not
        say the transaction was refused (the node may have it), so it is followed like a sent one. Else the
        node's error message."""
        try:
            await self.el.timed("eth_sendRawTransaction", lambda w3: w3.eth.send_raw_transaction(HexStr(raw)))
        except ExecutionError as exc:
            message = str(exc)
            if _matches(message, ALREADY_KNOWN):
                return None
            if all(part.split(": ")[1:2] in (["TransportError"], ["TimeoutError"]) for part in _parts(message)):
                log.warning("broadcast unanswered; following the transaction as sent", error=message[:200])
                return None
            return message
        return None

    async def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        async def fetch(w3: AsyncWeb3[Any]) -> Any:
            try:
                return await w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                return None

        receipt = await self.el.timed("eth_getTransactionReceipt", fetch)
        return dict(receipt) if receipt else None

    async def send(
        self, report_id: int, to: str, data: str, gas_estimate: int, check: Check | None = None
    ) -> TxOutcome:
        """Sign, journal, broadcast and see one report transaction through."""
        async with self.lock:
            try:
                fees = await self.fees()
            except FeeCeiling as exc:
                metrics.TRANSACTIONS.labels("fee_ceiling").inc()
                return TxOutcome("fee_ceiling", reason=str(exc))
            nonce = await self.nonce()
            gas = math.ceil(gas_estimate * self.config.gas_limit_margin)
            stale = await check() if check else None
            if stale:
                metrics.TRANSACTIONS.labels("stale").inc()
                return TxOutcome("stale", reason=stale)
            tx_hash, raw = self._sign(to, data, gas, nonce, fees)
            self.journal.record_transaction(report_id, tx_hash, nonce, raw, fees.max_fee, fees.priority_fee)
            crash_point("after_sign")
            error = await self._broadcast(raw)
            crash_point("after_broadcast")
            if error and _matches(error, NONCE_TOO_LOW):
                # Our view of the nonce was stale: sign again with a fresh one (if the report still holds).
                nonce = await self.nonce()
                stale = await check() if check else None
                if stale:
                    metrics.TRANSACTIONS.labels("stale").inc()
                    return TxOutcome("stale", tx_hash, reason=stale)
                tx_hash, raw = self._sign(to, data, gas, nonce, fees)
                self.journal.record_transaction(report_id, tx_hash, nonce, raw, fees.max_fee, fees.priority_fee)
                error = await self._broadcast(raw)
            if error and not is_fee_too_low(error):
                metrics.TRANSACTIONS.labels("failed").inc()
                return TxOutcome("failed", tx_hash, reason=f"broadcast refused: {error[:200]}")
            metrics.TRANSACTIONS.labels("sent").inc()
            log.info("transaction sent", tx_hash=tx_hash, nonce=nonce, max_fee_gwei=fees.max_fee / GWEI)
            return await self._see_through(report_id, to, data, gas, nonce, fees, [tx_hash], check)

    async def _first_receipt(self, hashes: list[str]) -> dict[str, Any] | None:
        for tx_hash in reversed(hashes):
            receipt = await self._receipt(tx_hash)
            if receipt:
                return receipt
        return None

    async def receipt_of(self, report_id: int) -> dict[str, Any] | None:
        """The receipt of whichever of a report's journalled transactions the chain holds, if any."""
        return await self._first_receipt([h for h, *_ in self.journal.transactions(report_id)])

    async def resume(self, report_id: int, check: Check | None = None) -> TxOutcome:
        """Follow a journalled transaction after a restart or a timeout: its receipt if it was mined; else, if
        the report no longer holds (a proof too old to land, books that moved), cancel its nonce; else
        rebroadcast it and see it through, re-pricing it from its own calldata when it is stuck."""
        async with self.lock:
            sent = self.journal.transactions(report_id)
            if not sent:
                return TxOutcome("failed", reason="nothing was broadcast before the restart")
            hashes = [h for h, *_ in sent]
            latest_hash, nonce, raw, max_fee, tip = sent[-1]
            receipt = await self._first_receipt(hashes)
            if receipt:
                return await self._outcome(receipt, *self._call_of(raw))
            if await self.nonce() > nonce:
                receipt = await self._first_receipt(hashes)  # mined between the two reads?
                if receipt:
                    return await self._outcome(receipt, *self._call_of(raw))
                return self._superseded(nonce, latest_hash)
            to, data, gas = self._decode(raw)
            fees = Fees(max_fee, tip)
            stale = await check() if check and to is not None else None
            if stale:  # not rebroadcast: cancelled, at a fee that replaces it
                to, data, gas = None, None, None
                log.warning("journalled report no longer holds: cancelling its nonce", nonce=nonce, reason=stale)
                return await self._cancel_and_follow(report_id, nonce, fees, hashes, stale)
            error = await self._broadcast(raw)
            if error and not is_fee_too_low(error):
                return TxOutcome("failed", latest_hash, reason=f"rebroadcast refused: {error[:200]}")
            log.info("resuming transaction", tx_hash=latest_hash, nonce=nonce)
            return await self._see_through(report_id, to, data, gas, nonce, fees, hashes, check)

    def _decode(self, raw: str) -> tuple[str | None, str | None, int | None]:
        """(to, data, gas) of a journalled transaction; (None, None, None) for one of our cancellations."""
        tx = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        to = AsyncWeb3.to_checksum_address(tx["to"])
        if to == self.address:
            return None, None, None
        return to, "0x" + bytes(tx["data"]).hex(), int(tx["gas"])

    def _call_of(self, raw: str) -> tuple[str | None, str | None]:
        to, data, _ = self._decode(raw)
        return to, data

    async def _cancel_and_follow(self, report_id: int, nonce: int, fees: Fees, hashes: list[str],
                                 reason: str) -> TxOutcome:  # fmt: skip
        bumped = fees.bumped(self.config.fee_bump_percent)
        if bumped.max_fee > self.ceiling:
            bumped = Fees(self.ceiling, min(bumped.priority_fee, self.ceiling))
        tx_hash, raw = self._sign_cancel(nonce, bumped)
        self.journal.record_transaction(report_id, tx_hash, nonce, raw, bumped.max_fee, bumped.priority_fee)
        error = await self._broadcast(raw)
        if error:
            log.warning("cancellation refused", nonce=nonce, error=error[:200])
        else:
            hashes.append(tx_hash)
            metrics.TRANSACTIONS.labels("cancel_sent").inc()
        return await self._see_through(report_id, None, None, None, nonce, bumped, hashes, None, cancelled=reason)

    async def _see_through(self, report_id: int, to: str | None, data: str | None, gas: int | None, nonce: int,
                           fees: Fees, hashes: list[str], check: Check | None,
                           cancelled: str | None = None) -> TxOutcome:  # fmt: skip
        """Wait for a receipt of any of `hashes` (all at `nonce`); replace a stuck one with a bumped fee, or,
        when `check` says the report no longer holds, with a cancellation."""
        started = time.monotonic()
        last_send = started
        while time.monotonic() - started < self.config.receipt_timeout_seconds:
            metrics.PENDING_TX_AGE.set(time.monotonic() - started)
            receipt = await self._first_receipt(hashes)
            if receipt is None and await self.nonce() > nonce:
                receipt = await self._first_receipt(hashes)  # mined between the two reads?
                if receipt is None:
                    metrics.PENDING_TX_AGE.set(0)
                    return self._superseded(nonce, hashes[-1])
            if receipt is not None:
                metrics.PENDING_TX_AGE.set(0)
                if self._is_cancel(receipt):
                    metrics.TRANSACTIONS.labels("cancelled").inc()
                    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
                    return TxOutcome("cancelled", tx_hash, reason=cancelled or "cancelled",
                                     block_number=int(receipt["blockNumber"]))  # fmt: skip
                return await self._outcome(receipt, to, data)
            stuck = time.monotonic() - last_send >= self.config.replace_after_seconds
            if stuck and to is not None and data is not None and gas is not None:
                stale = await check() if check else None
                if stale:
                    log.warning("report no longer holds: cancelling its transaction", nonce=nonce, reason=stale)
                    return await self._cancel_and_follow(report_id, nonce, fees, hashes, stale)
                bumped = fees.bumped(self.config.fee_bump_percent)
                if bumped.max_fee <= self.ceiling:
                    tx_hash, raw = self._sign(to, data, gas, nonce, bumped)
                    self.journal.record_transaction(report_id, tx_hash, nonce, raw, bumped.max_fee, bumped.priority_fee)
                    error = await self._broadcast(raw)
                    if error is None:
                        fees = bumped
                        hashes.append(tx_hash)
                        metrics.TRANSACTIONS.labels("replaced").inc()
                        log.warning("replaced stuck transaction", tx_hash=tx_hash, nonce=nonce,
                                    max_fee_gwei=bumped.max_fee / GWEI)  # fmt: skip
                    elif is_fee_too_low(error):
                        fees = bumped  # the node wants more still: bump again next time
                    else:
                        log.warning("replacement refused", error=error[:200])
                last_send = time.monotonic()
            await asyncio.sleep(1.0)
        metrics.TRANSACTIONS.labels("timeout").inc()
        metrics.PENDING_TX_AGE.set(0)
        return TxOutcome("timeout", hashes[-1], reason="no receipt yet; the journal keeps following it")

    def _superseded(self, nonce: int, tx_hash: str) -> TxOutcome:
        metrics.TRANSACTIONS.labels("superseded").inc()
        log.warning(
            "a transaction this daemon did not sign used its nonce: is the key used elsewhere (a replica, a "
            "script, a wallet)? The report is decided again next cycle",
            nonce=nonce, tx_hash=tx_hash,
        )  # fmt: skip
        return TxOutcome("superseded", tx_hash, reason=f"nonce {nonce} was used by another transaction")

    def _is_cancel(self, receipt: dict[str, Any]) -> bool:
        to = receipt.get("to")
        return to is not None and AsyncWeb3.to_checksum_address(to) == self.address

    async def _outcome(self, receipt: dict[str, Any], to: str | None, data: str | None) -> TxOutcome:
        crash_point("after_receipt")
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        gas_used = int(receipt["gasUsed"])
        fee = gas_used * int(receipt.get("effectiveGasPrice", 0))
        metrics.GAS_USED.inc(gas_used)
        metrics.GAS_SPENT.inc(fee)
        block = int(receipt["blockNumber"])
        if int(receipt["status"]) == 1:
            metrics.TRANSACTIONS.labels("mined").inc()
            return TxOutcome("mined", tx_hash, block_number=block, gas_used=gas_used, fee_wei=fee)
        metrics.TRANSACTIONS.labels("reverted").inc()
        reason = "reverted"
        if to is not None and data is not None:
            try:  # replay at the including block to learn why
                call = {"from": self.account.address, "to": AsyncWeb3.to_checksum_address(to), "data": data}
                await self.el.timed("eth_call", lambda w3: w3.eth.call(call, block - 1))  # type: ignore[arg-type]
            except Exception as exc:
                reason = decode_revert(getattr(exc, "data", None))
        return TxOutcome("reverted", tx_hash, reason=reason, block_number=block, gas_used=gas_used, fee_wei=fee)


def _parts(message: str) -> list[str]:
    """The per-endpoint errors of ExecutionClient.timed's message ("<method> failed on every endpoint: a; b")."""
    return message.split("every endpoint: ", 1)[-1].split("; ")

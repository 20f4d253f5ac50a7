"""Sending reports: one in-flight transaction per signer, EIP-1559 fees from eth_feeHistory under a hard
ceiling, nonces from the mined count, the signed transaction journalled before it is broadcast, a stuck one
replaced with a bumped fee that clears the node's minimum, receipts awaited with a timeout, a revert
decoded. A restarted daemon picks up what the journal says is in flight, and can re-price it.

Every signature (the first, a re-sign after a stale nonce, each replacement, a resumed one) is preceded by
the caller's `check`: a report whose grounds changed since it was decided is not signed, and one already
in the mempool is replaced by a cancellation (a zero-value transfer to ourselves at its nonce), priced as a
valid replacement whatever the report's fee. Until a cancellation is accepted the report is followed and
checked as before, and a refused one is tried again.

A report is closed as `superseded` only on evidence, not on one node's word: behind load-balanced RPCs the
nonce may come from a backend a block ahead of the one asked for the receipt."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_typing import HexStr
from hexbytes import HexBytes
from web3 import AsyncWeb3
from web3.exceptions import TransactionNotFound, Web3Exception

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
# A nonce used with no receipt of ours is another transaction's only after this many asks of every endpoint over
# at least this long (one Ethereum slot, several Berachain blocks: more than a load-balanced backend lags).
SUPERSEDED_ASKS = 3
SUPERSEDED_GRACE_SECONDS = 12.0
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
class Call:
    """What a transaction calls (a report, or a keeper duty's, which may pay a fee): re-signed as it is, at a
    higher fee, when it is stuck."""

    to: str
    data: str
    gas: int
    value: int = 0


class Ledger(Protocol):
    """Where the signed transactions of a journal row are kept: the journal itself for reports, its
    `actions` ledger for the keeper's duties. Written after signing, before broadcasting."""

    def record_transaction(
        self, entry_id: int, tx_hash: str, nonce: int, raw_tx: str, max_fee: int, tip: int
    ) -> None: ...

    def transactions(self, entry_id: int) -> list[tuple[str, int, str, int, int]]: ...


@dataclass(frozen=True)
class Entry:
    """A journal row whose transactions this manager signs and follows."""

    ledger: Ledger
    id: int

    def record(self, tx_hash: str, nonce: int, raw: str, fees: Fees) -> None:
        self.ledger.record_transaction(self.id, tx_hash, nonce, raw, fees.max_fee, fees.priority_fee)

    def transactions(self) -> list[tuple[str, int, str, int, int]]:
        return self.ledger.transactions(self.id)


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
        # nonce -> (first seen used with no receipt of ours, asks since): evidence kept across cycles.
        self.used_nonces: dict[int, tuple[float, int]] = {}

    @property
    def address(self) -> str:
        return str(self.account.address)

    async def fees(self) -> Fees:
        history = await self.el.fee_history(5, 50)  # checked inside the failover: a wrong shape fails over
        base = history.next_base_fee
        rewards = list(history.tips)
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

    def _sign(self, call: Call, nonce: int, fees: Fees) -> tuple[str, str]:
        tx = {
            "type": 2,
            "chainId": self.chain_id,
            "to": AsyncWeb3.to_checksum_address(call.to),
            "data": call.data,
            "value": call.value,
            "gas": call.gas,
            "nonce": nonce,
            "maxFeePerGas": fees.max_fee,
            "maxPriorityFeePerGas": fees.priority_fee,
        }
        signed = self.account.sign_transaction(tx)  # type: ignore[arg-type]
        return "0x" + bytes(signed.hash).hex(), "0x" + bytes(signed.raw_transaction).hex()

    def _sign_cancel(self, nonce: int, fees: Fees) -> tuple[str, str]:
        return self._sign(Call(self.address, "0x", CANCEL_GAS), nonce, fees)

    async def _broadcast(self, raw: str) -> str | None:
        """None if accepted (or already known), or if any node left it unanswered: a transport failure (a
        timeout, a reset) does not say the transaction was refused (that node may have it, and pass it on),
        so it is followed like a sent one even when the next endpoint refused it. Else the nodes' errors."""
        try:
            await self.el.timed("eth_sendRawTransaction", lambda w3: w3.eth.send_raw_transaction(HexStr(raw)))
        except ExecutionError as exc:
            message = str(exc)
            if _matches(message, ALREADY_KNOWN):
                return None
            if any(part.split(": ")[1:2] in (["TransportError"], ["TimeoutError"]) for part in _parts(message)):
                log.warning("broadcast unanswered by a node; following the transaction as sent", error=message[:200])
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

    def _entry(self, entry_id: int, ledger: Ledger | None) -> Entry:
        return Entry(ledger if ledger is not None else self.journal, entry_id)

    async def send(
        self, report_id: int, to: str, data: str, gas_estimate: int, check: Check | None = None, *,
        value: int = 0, ledger: Ledger | None = None,
    ) -> TxOutcome:  # fmt: skip
        """Sign, journal, broadcast and see one transaction through: a report's, or (with the journal's
        `actions` ledger) a keeper duty's, paying `value` if it must."""
        entry = self._entry(report_id, ledger)
        async with self.lock:
            try:
                fees = await self.fees()
            except FeeCeiling as exc:
                metrics.TRANSACTIONS.labels("fee_ceiling").inc()
                return TxOutcome("fee_ceiling", reason=str(exc))
            nonce = await self.nonce()
            call = Call(to, data, math.ceil(gas_estimate * self.config.gas_limit_margin), value)
            stale = await check() if check else None
            if stale:
                metrics.TRANSACTIONS.labels("stale").inc()
                return TxOutcome("stale", reason=stale)
            tx_hash, raw = self._sign(call, nonce, fees)
            entry.record(tx_hash, nonce, raw, fees)
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
                tx_hash, raw = self._sign(call, nonce, fees)
                entry.record(tx_hash, nonce, raw, fees)
                error = await self._broadcast(raw)
            if error and not is_fee_too_low(error):
                metrics.TRANSACTIONS.labels("failed").inc()
                return TxOutcome("failed", tx_hash, reason=f"broadcast refused: {error[:200]}")
            metrics.TRANSACTIONS.labels("sent").inc()
            log.info("transaction sent", tx_hash=tx_hash, nonce=nonce, max_fee_gwei=fees.max_fee / GWEI)
            return await self._see_through(entry, call, nonce, fees, [tx_hash], check)

    async def _first_receipt(self, hashes: list[str]) -> dict[str, Any] | None:
        for tx_hash in reversed(hashes):
            receipt = await self._receipt(tx_hash)
            if receipt:
                return receipt
        return None

    async def receipt_of(self, report_id: int, ledger: Ledger | None = None) -> dict[str, Any] | None:
        """The receipt of whichever of a report's journalled transactions the chain holds, if any."""
        return await self._first_receipt([h for h, *_ in self._entry(report_id, ledger).transactions()])

    async def resume(self, report_id: int, check: Check | None = None, *, ledger: Ledger | None = None) -> TxOutcome:
        """Follow a journalled report after a restart or a timeout: the receipt of any of its transactions if
        one was mined (a cancellation's is `cancelled`); else, if the report no longer holds (a proof too old
        to land, books that moved), cancel its nonce; else rebroadcast it and see it through, re-pricing it from
        its own calldata when it is stuck. A journalled cancellation changes none of this: the report it was
        to replace is what may still land, so the report is what is checked and followed, and its
        cancellation, when due, signed again (the same fees: the same transaction, if it was refused)."""
        entry = self._entry(report_id, ledger)
        async with self.lock:
            sent = entry.transactions()
            if not sent:
                return TxOutcome("failed", reason="nothing was broadcast before the restart")
            hashes = [h for h, *_ in sent]
            reports = [tx for tx in sent if self._decode(tx[2]) is not None]
            latest_hash, nonce, raw, max_fee, tip = reports[-1] if reports else sent[-1]
            call, fees = self._decode(raw), Fees(max_fee, tip)
            receipt = await self._first_receipt(hashes)
            if receipt:
                return await self._landed(receipt, call, None)
            if await self.nonce() > nonce:  # used: by ours (its receipt not served yet) or by another
                log.info("following a journalled transaction whose nonce is used", tx_hash=latest_hash, nonce=nonce)
                return await self._see_through(entry, call, nonce, fees, hashes, check)
            stale = await check() if check and call is not None else None
            if stale:  # not rebroadcast: cancelled, at a fee that replaces it
                log.warning("journalled report no longer holds: cancelling its nonce", nonce=nonce, reason=stale)
                cancelled = stale if await self._cancel(entry, nonce, hashes) else None
                return await self._see_through(entry, call, nonce, fees, hashes, check, cancelled)
            error = await self._broadcast(raw)
            # Nonce too low: a node ahead of the one asked says the nonce is used, maybe by this very transaction.
            if error and not is_fee_too_low(error) and not _matches(error, NONCE_TOO_LOW):
                return TxOutcome("failed", latest_hash, reason=f"rebroadcast refused: {error[:200]}")
            log.info("resuming transaction", tx_hash=latest_hash, nonce=nonce)
            return await self._see_through(entry, call, nonce, fees, hashes, check)

    def _decode(self, raw: str) -> Call | None:
        """What a journalled transaction calls; None for one of our cancellations."""
        tx = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        to = AsyncWeb3.to_checksum_address(tx["to"])
        if to == self.address:
            return None
        return Call(to, "0x" + bytes(tx["data"]).hex(), int(tx["gas"]), int(tx.get("value", 0)))

    def _cancel_fees(self, entry: Entry, nonce: int) -> Fees:
        """A valid replacement of every report transaction signed at `nonce` (a node holds one of them): both
        fee fields bumped over the highest signed, as nodes require (>= 10 % on each, geth, reth, anvil).

        Not capped at the ceiling. A report may be priced at the ceiling itself (its first fee, 2 x base +
        tip, is clamped to it; replacements stop just under it), and a cancellation clamped back to it is
        refused as underpriced, leaving the stale report to land. The ceiling bounds what a report costs; a
        cancellation costs 21,000 gas, so even one bump above the ceiling it costs less than the report it
        replaces at the ceiling (over 100,000 gas). Pricing reports under ceiling / (1 + bump) instead would
        take that margin from every report to keep it for a rare cancellation."""
        at_nonce = [tx for tx in entry.transactions() if tx[1] == nonce]
        signed = [tx for tx in at_nonce if self._decode(tx[2]) is not None] or at_nonce
        highest = Fees(max(tx[3] for tx in signed), max(tx[4] for tx in signed))
        return highest.bumped(self.config.fee_bump_percent)

    async def _cancel(self, entry: Entry, nonce: int, hashes: list[str]) -> bool:
        """Sign, journal and broadcast the cancellation of the report at `nonce`; True if a node took it (or
        may have: unanswered). Refused, the report is still what may land: it stays followed and checked,
        and the cancellation is tried again at the next replacement time (or the next cycle's resume)."""
        fees = self._cancel_fees(entry, nonce)
        tx_hash, raw = self._sign_cancel(nonce, fees)
        entry.record(tx_hash, nonce, raw, fees)
        if tx_hash not in hashes:
            hashes.append(tx_hash)
        error = await self._broadcast(raw)
        if error:
            metrics.TRANSACTIONS.labels("cancel_refused").inc()
            log.warning("cancellation refused: the report stays followed and checked, the cancellation is retried",
                        nonce=nonce, error=error[:200])  # fmt: skip
            return False
        metrics.TRANSACTIONS.labels("cancel_sent").inc()
        log.info("cancellation sent", tx_hash=tx_hash, nonce=nonce, max_fee_gwei=fees.max_fee / GWEI)
        return True

    async def _see_through(self, entry: Entry, call: Call | None, nonce: int, fees: Fees, hashes: list[str],
                           check: Check | None, cancelled: str | None = None) -> TxOutcome:  # fmt: skip
        """Wait for a receipt of any of `hashes` (all at `nonce`); replace a stuck report with a bumped fee, or,
        when `check` says it no longer holds, with a cancellation. Until a cancellation is accepted (then
        `cancelled` is why), the report is checked at each replacement time and a refused cancellation retried."""
        started = time.monotonic()
        last_send = started
        while time.monotonic() - started < self.config.receipt_timeout_seconds:
            metrics.PENDING_TX_AGE.set(time.monotonic() - started)
            receipt = await self._first_receipt(hashes)
            if receipt is None and await self.nonce() > nonce:
                receipt, superseded = await self._nonce_used(nonce, hashes)
                if superseded:
                    metrics.PENDING_TX_AGE.set(0)
                    return self._superseded(nonce, hashes[-1])
                if receipt is None:  # nothing to replace at a used nonce: ask again
                    await asyncio.sleep(1.0)
                    continue
            elif receipt is None:
                self.used_nonces.pop(nonce, None)  # free again (a node that had said otherwise was ahead, or lied)
            if receipt is not None:
                self.used_nonces.pop(nonce, None)
                return await self._landed(receipt, call, cancelled)
            stuck = time.monotonic() - last_send >= self.config.replace_after_seconds
            if stuck and call is not None and cancelled is None:
                stale = await check() if check else None
                if stale:
                    log.warning("report no longer holds: cancelling its transaction", nonce=nonce, reason=stale)
                    if await self._cancel(entry, nonce, hashes):
                        cancelled = stale
                else:
                    fees = await self._replace(entry, call, nonce, fees, hashes)
                last_send = time.monotonic()
            await asyncio.sleep(1.0)
        metrics.TRANSACTIONS.labels("timeout").inc()
        metrics.PENDING_TX_AGE.set(0)
        return TxOutcome("timeout", hashes[-1], reason="no receipt yet; the journal keeps following it")

    async def _replace(self, entry: Entry, call: Call, nonce: int, fees: Fees, hashes: list[str]) -> Fees:
        """Re-sign a stuck report at a bumped fee, if that stays under the ceiling; the fees to bump next time."""
        bumped = fees.bumped(self.config.fee_bump_percent)
        if bumped.max_fee > self.ceiling:
            return fees
        tx_hash, raw = self._sign(call, nonce, bumped)
        entry.record(tx_hash, nonce, raw, bumped)
        error = await self._broadcast(raw)
        if error is None:
            hashes.append(tx_hash)
            metrics.TRANSACTIONS.labels("replaced").inc()
            log.warning("replaced stuck transaction", tx_hash=tx_hash, nonce=nonce, max_fee_gwei=bumped.max_fee / GWEI)
            return bumped
        if is_fee_too_low(error):
            return bumped  # the node wants more still: bump again next time
        log.warning("replacement refused", error=error[:200])
        return fees

    async def _nonce_used(self, nonce: int, hashes: list[str]) -> tuple[dict[str, Any] | None, bool]:
        """A node says `nonce` is used, and the preferred endpoint has no receipt of ours: (receipt, False) if
        any endpoint has one; (None, True) once the evidence says another transaction used the nonce; else
        (None, False), ask again. One answer is no verdict: behind a load balancer the nonce and the receipt
        may come from backends a block apart. The evidence: no endpoint holding a receipt for any of our
        hashes, on SUPERSEDED_ASKS asks over SUPERSEDED_GRACE_SECONDS at least (kept across this manager's
        calls, so that a cycle's receipt timeout does not reset it; a read that finds the nonce free does)."""
        receipt, answered = await self._receipt_anywhere(hashes)
        if receipt is not None:
            self.used_nonces.pop(nonce, None)
            return receipt, False
        if not answered:
            return None, False  # no endpoint answered: no evidence either way
        now = time.monotonic()
        first, asks = self.used_nonces.get(nonce, (now, 0))
        self.used_nonces[nonce] = (first, asks + 1)
        if asks + 1 >= SUPERSEDED_ASKS and now - first >= SUPERSEDED_GRACE_SECONDS:
            del self.used_nonces[nonce]
            return None, True
        return None, False

    async def _receipt_anywhere(self, hashes: list[str]) -> tuple[dict[str, Any] | None, bool]:
        """A receipt of any of `hashes` from any endpoint, each asked in turn; and whether any endpoint answered
        for every hash (an endpoint that fails says nothing about the transaction)."""
        answered = False
        for endpoint in self.el.endpoints:
            try:
                for tx_hash in reversed(hashes):
                    try:
                        receipt = await endpoint.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
                    except TransactionNotFound:
                        continue
                    if receipt:
                        return dict(receipt), True
            except (Web3Exception, OSError, TimeoutError, ValueError, TypeError, KeyError, AttributeError) as exc:
                log.info("receipt unreadable on an endpoint", endpoint=endpoint.label, error=type(exc).__name__)
                continue
            answered = True
        return None, answered

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

    async def _landed(self, receipt: dict[str, Any], call: Call | None, cancelled: str | None) -> TxOutcome:
        """The outcome of a receipt of ours: a cancellation took the nonce (not a landed report: the journal's
        daily bound and reorganisation watch count only reports), or the report itself."""
        metrics.PENDING_TX_AGE.set(0)
        if not self._is_cancel(receipt):
            return await self._outcome(receipt, call)
        metrics.TRANSACTIONS.labels("cancelled").inc()
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        reason = cancelled or "its cancellation landed: the report's grounds had moved"
        return TxOutcome("cancelled", tx_hash, reason=reason, block_number=int(receipt["blockNumber"]))

    async def _outcome(self, receipt: dict[str, Any], call: Call | None) -> TxOutcome:
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
        if call is not None:
            try:  # replay at the including block to learn why
                replay = {"from": self.account.address, "to": AsyncWeb3.to_checksum_address(call.to), "data": call.data,
                          "value": call.value}  # fmt: skip
                await self.el.timed("eth_call", lambda w3: w3.eth.call(replay, block - 1))  # type: ignore[arg-type]
            except Exception as exc:
                reason = decode_revert(getattr(exc, "data", None))
        return TxOutcome("reverted", tx_hash, reason=reason, block_number=block, gas_used=gas_used, fee_wei=fee)


def _parts(message: str) -> list[str]:
    """The per-endpoint errors of ExecutionClient.timed's message ("<method> failed on every endpoint: a; b")."""
    return message.split("every endpoint: ", 1)[-1].split("; ")

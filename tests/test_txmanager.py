"""The transaction manager on a real EVM that mines only when told (anvil --no-mining): a stuck transaction
replaced with a bumped fee, a report whose grounds moved never signed or cancelled at its nonce, a timed-out
one resumed, re-priced from its own calldata, or cancelled when its proof has aged. A report at the fee
ceiling is still cancelled (a cancellation must clear the node's replacement rule on both fee fields); a
refused cancellation keeps the report followed and its check alive; a mined cancellation is a cancellation,
not a landed report. Behind nodes that disagree for a moment (a nonce from one backend, no receipt yet on
another; one endpoint timing out, another refusing), a landed report is not closed as superseded or failed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes

from oracle.config.settings import Transactions
from oracle.devnet.anvil import Anvil, free_port
from oracle.execution.el import ExecutionClient
from oracle.execution.txmanager import GWEI, Fees, TxManager
from oracle.journal import Journal
from tests.faults import proxy as faults
from tests.faults.proxy import Fault, FaultProxy

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil's first development key
TARGET = "0x000000000000000000000000000000000000bEEF"
DATA = "0x5578e99d" + "00" * 64


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def anvil() -> AsyncIterator[Anvil]:
    node = Anvil("127.0.0.1", free_port(), 31337, int(time.time()))
    await node.start()
    yield node
    node.stop()


class Env:
    def __init__(self, anvil: Anvil, tmp: Path, urls: list[str] | None = None, timeout: float = 5,
                 **config: Any) -> None:  # fmt: skip
        self.el = ExecutionClient(urls or [anvil.url], timeout=timeout)
        self.journal = Journal(tmp / f"j{time.monotonic_ns()}.sqlite")
        self.config = config
        self.txm = self.manager()

    def manager(self, el: ExecutionClient | None = None, **overrides: Any) -> TxManager:
        """A manager on this journal (a restarted daemon, or the next cycle's), on this EL or another."""
        settings = {"replace_after_seconds": 1.0, "receipt_timeout_seconds": 6.0, "max_fee_gwei": 1000.0}
        settings.update(self.config)
        settings.update(overrides)
        return TxManager(el or self.el, Account.from_key(KEY), 31337, Transactions(**settings), self.journal)

    def report(self) -> int:
        report_id = self.journal.prepare("0xpool", "0xpk", 1, time.monotonic_ns(), 1, 5, 4, "h", "1,2")
        assert report_id is not None
        return report_id

    async def mine(self) -> None:
        await self.el.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    async def mine_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.mine()

    async def close(self) -> None:
        await self.el.close()
        self.journal.close()


async def test_a_stuck_transaction_is_replaced_then_mined(anvil: Anvil, tmp_path: Path) -> None:
    env = Env(anvil, tmp_path)
    report_id = env.report()
    miner = asyncio.create_task(env.mine_after(2.5))  # after at least one replacement
    outcome = await env.txm.send(report_id, TARGET, DATA, 50_000)
    await miner
    assert outcome.status == "mined"
    sent = env.journal.transactions(report_id)
    assert len(sent) >= 2 and sent[-1][3] > sent[0][3]  # a replacement at a higher fee
    assert outcome.tx_hash in [h for h, *_ in sent]
    await env.close()


async def test_a_report_whose_grounds_moved_is_never_signed(anvil: Anvil, tmp_path: Path) -> None:
    env = Env(anvil, tmp_path)
    report_id = env.report()
    nonce_before = await env.txm.nonce("pending")

    async def moved() -> str | None:
        return "the pool's books moved"

    outcome = await env.txm.send(report_id, TARGET, DATA, 50_000, moved)
    assert outcome.status == "stale" and outcome.reason == "the pool's books moved"
    assert env.journal.transactions(report_id) == [] and await env.txm.nonce("pending") == nonce_before
    await env.close()


async def test_a_pending_report_that_goes_stale_is_cancelled_at_its_nonce(anvil: Anvil, tmp_path: Path) -> None:
    env = Env(anvil, tmp_path)
    report_id = env.report()
    calls = {"n": 0}

    async def stake_lands_after_sending() -> str | None:
        calls["n"] += 1
        return None if calls["n"] == 1 else "a stake landed"

    miner = asyncio.create_task(env.mine_after(2.5))
    outcome = await env.txm.send(report_id, TARGET, DATA, 50_000, stake_lands_after_sending)
    await miner
    assert outcome.status == "cancelled" and outcome.reason == "a stake landed"
    report_hash = env.journal.transactions(report_id)[0][0]
    assert await env.txm._receipt(report_hash) is None  # the report itself never landed
    receipt = await env.txm._receipt(str(outcome.tx_hash))
    assert receipt is not None and receipt["to"] == env.txm.address
    await env.close()


async def test_a_timed_out_report_is_resumed_and_re_priced(anvil: Anvil, tmp_path: Path) -> None:
    env = Env(anvil, tmp_path, receipt_timeout_seconds=1.5, replace_after_seconds=30.0)
    report_id = env.report()
    outcome = await env.txm.send(report_id, TARGET, DATA, 50_000)
    assert outcome.status == "timeout"
    first = env.journal.transactions(report_id)
    # A restarted (or next-cycle) manager: it re-prices from the journalled transaction's own calldata.
    later = TxManager(env.el, env.txm.account, 31337, Transactions(replace_after_seconds=1.0,
                      receipt_timeout_seconds=6.0, max_fee_gwei=1000.0), env.journal)  # fmt: skip
    miner = asyncio.create_task(env.mine_after(2.5))
    resumed = await later.resume(report_id)
    await miner
    assert resumed.status == "mined"
    after = env.journal.transactions(report_id)
    assert len(after) > len(first) and after[-1][3] > first[-1][3]
    await env.close()


async def test_a_resumed_report_whose_proof_aged_is_cancelled(anvil: Anvil, tmp_path: Path) -> None:
    env = Env(anvil, tmp_path, receipt_timeout_seconds=1.5, replace_after_seconds=30.0)
    report_id = env.report()
    assert (await env.txm.send(report_id, TARGET, DATA, 50_000)).status == "timeout"

    async def aged() -> str | None:
        return "its proof would be older than MAX_TIMESTAMP_AGE when it lands"

    miner = asyncio.create_task(env.mine_after(1.0))
    resumed = await env.txm.resume(report_id, aged)
    await miner
    assert resumed.status == "cancelled" and "MAX_TIMESTAMP_AGE" in str(resumed.reason)
    assert await env.txm._receipt(env.journal.transactions(report_id)[0][0]) is None
    await env.close()


# -- H1: a report at the fee ceiling, then its grounds move --------------------------------------------------


async def ceiling_under_first_fee(anvil: Anvil, tmp: Path) -> float:
    """A fee ceiling (gwei) above what the next block needs (base + tip) and below the first fee the manager
    would offer (2 base + tip): the report is signed at the ceiling itself."""
    probe = Env(anvil, tmp)
    fees = await probe.txm.fees()
    await probe.close()
    base = (fees.max_fee - fees.priority_fee) // 2
    return (fees.priority_fee + base + base // 2) / GWEI


def stale_after_first() -> Any:
    calls = {"n": 0}

    async def check() -> str | None:
        calls["n"] += 1
        return None if calls["n"] == 1 else "a stake landed"

    return check


async def test_a_report_at_the_fee_ceiling_whose_grounds_move_is_cancelled(anvil: Anvil, tmp_path: Path) -> None:
    env = Env(anvil, tmp_path, max_fee_gwei=await ceiling_under_first_fee(anvil, tmp_path),
              receipt_timeout_seconds=8.0)  # fmt: skip
    report_id = env.report()
    miner = asyncio.create_task(env.mine_after(3.5))  # after the cancellation (replace_after_seconds=1)
    outcome = await env.txm.send(report_id, TARGET, DATA, 50_000, stale_after_first())
    await miner
    report_hash, _, _, report_fee, _ = env.journal.transactions(report_id)[0]
    assert report_fee == env.txm.ceiling  # signed at the ceiling
    assert await env.txm._receipt(report_hash) is None, "the stale report landed"
    assert outcome.status == "cancelled" and outcome.reason == "a stake landed"
    receipt = await env.txm._receipt(str(outcome.tx_hash))
    assert receipt is not None and receipt["to"] == env.txm.address
    await env.close()


async def test_a_resumed_report_whose_cancellation_was_refused_is_checked_and_cancelled(
    anvil: Anvil, tmp_path: Path
) -> None:
    env = Env(anvil, tmp_path, max_fee_gwei=await ceiling_under_first_fee(anvil, tmp_path),
              receipt_timeout_seconds=1.5, replace_after_seconds=30.0)  # fmt: skip
    report_id = env.report()
    assert (await env.txm.send(report_id, TARGET, DATA, 50_000)).status == "timeout"
    # What a cancellation clamped to the ceiling left in the journal: signed, journalled, refused by the node.
    report_hash, nonce, _, _, tip = env.journal.transactions(report_id)[0]
    bumped = Fees(env.txm.ceiling, tip).bumped(12.5)
    clamped = Fees(env.txm.ceiling, min(bumped.priority_fee, env.txm.ceiling))  # as the daemon clamped it
    cancel_hash, cancel_raw = env.txm._sign_cancel(nonce, clamped)
    env.journal.record_transaction(report_id, cancel_hash, nonce, cancel_raw, clamped.max_fee, clamped.priority_fee)
    refusal = await env.txm._broadcast(cancel_raw)
    assert refusal is not None and "underpriced" in refusal.lower()

    async def moved() -> str | None:
        return "a stake landed"

    miner = asyncio.create_task(env.mine_after(2.0))
    resumed = await env.manager(receipt_timeout_seconds=6.0).resume(report_id, moved)
    await miner
    assert await env.txm._receipt(report_hash) is None, "the stale report landed"
    assert resumed.status == "cancelled"
    await env.close()


def refuse_first_cancellations(count: int) -> Fault:
    """eth_sendRawTransaction of a cancellation (a transfer to its own sender) refused `count` times, as a
    node refuses what it cannot take now (a full pool, a fee it will not replace at); the rest forwarded."""
    refused = {"n": 0}

    async def fault(request: web.Request, body: bytes) -> web.StreamResponse | None:
        call = json.loads(body)
        if call.get("method") != "eth_sendRawTransaction" or refused["n"] >= count:
            return None
        tx = TypedTransaction.from_bytes(HexBytes(call["params"][0])).as_dict()
        if "0x" + bytes(tx["to"]).hex() != Account.from_key(KEY).address.lower():
            return None
        refused["n"] += 1
        return await faults.rpc_error("txpool is full")(request, body)

    return fault


async def test_a_refused_cancellation_keeps_the_report_checked_and_is_retried(anvil: Anvil, tmp_path: Path) -> None:
    with FaultProxy(anvil.url) as proxy:
        proxy.fault = refuse_first_cancellations(1)
        env = Env(anvil, tmp_path, urls=[proxy.url], receipt_timeout_seconds=8.0)
        report_id = env.report()
        miner = asyncio.create_task(env.mine_after(4.0))  # after a refused cancellation and its retry
        outcome = await env.txm.send(report_id, TARGET, DATA, 50_000, stale_after_first())
        await miner
        report_hash = env.journal.transactions(report_id)[0][0]
        assert await env.txm._receipt(report_hash) is None, "the stale report landed"
        assert outcome.status == "cancelled"
        await env.close()


# -- M4: a cancellation mined while no one was looking ------------------------------------------------------


async def test_a_resumed_report_whose_cancellation_was_mined_is_cancelled(anvil: Anvil, tmp_path: Path) -> None:
    env = Env(anvil, tmp_path, receipt_timeout_seconds=2.5)  # the cancellation is sent at 1 s, then time runs out
    report_id = env.report()
    assert (await env.txm.send(report_id, TARGET, DATA, 50_000, stale_after_first())).status == "timeout"
    cancel_hash = env.journal.transactions(report_id)[-1][0]
    assert (await env.txm._receipt(cancel_hash)) is None
    await env.mine()
    receipt = await env.txm._receipt(cancel_hash)
    assert receipt is not None and receipt["to"] == env.txm.address  # the cancellation landed, not the report

    async def moved() -> str | None:
        return "a stake landed"

    resumed = await env.manager().resume(report_id, moved)
    assert resumed.status == "cancelled" and resumed.tx_hash == cancel_hash, resumed
    await env.close()


# -- L11: nodes that disagree for a moment -------------------------------------------------------------------


def hide_receipts(proxy: FaultProxy, times: int) -> Fault:
    """A load balancer's lagging backend: the first `times` receipts that exist are answered as null."""
    hidden = {"n": 0}

    def change(receipt: Any) -> Any:
        if receipt is None or hidden["n"] >= times:
            return receipt
        hidden["n"] += 1
        return None

    return faults.rpc_rewrite(proxy, "eth_getTransactionReceipt", change)


def lag_nonce(proxy: FaultProxy, times: int) -> Fault:
    """The first `times` nonce reads answered one lower (a backend one block behind)."""
    lagged = {"n": 0}

    def change(count: Any) -> Any:
        if lagged["n"] >= times:
            return count
        lagged["n"] += 1
        return hex(int(count, 16) - 1)

    return faults.rpc_rewrite(proxy, "eth_getTransactionCount", change)


async def test_a_landed_report_whose_receipt_lags_its_nonce_is_not_superseded(anvil: Anvil, tmp_path: Path) -> None:
    with FaultProxy(anvil.url) as proxy:
        proxy.fault = hide_receipts(proxy, 2)  # the nonce is used, the receipt not served on the first asks
        env = Env(anvil, tmp_path, urls=[proxy.url], replace_after_seconds=30.0, receipt_timeout_seconds=20.0)
        report_id = env.report()
        miner = asyncio.create_task(env.mine_after(1.5))
        outcome = await env.txm.send(report_id, TARGET, DATA, 50_000)
        await miner
        assert outcome.status == "mined", outcome
        assert outcome.tx_hash == env.journal.transactions(report_id)[0][0]
        await env.close()


async def test_a_resumed_report_refused_as_nonce_too_low_is_followed_to_its_receipt(
    anvil: Anvil, tmp_path: Path
) -> None:
    env = Env(anvil, tmp_path, receipt_timeout_seconds=1.5, replace_after_seconds=30.0)
    report_id = env.report()
    assert (await env.txm.send(report_id, TARGET, DATA, 50_000)).status == "timeout"
    await env.mine()  # it landed; the endpoint the daemon asks next lags behind
    with FaultProxy(anvil.url) as proxy:
        proxy.fault = faults.rpc_methods({"eth_getTransactionReceipt": hide_receipts(proxy, 2),
                                          "eth_getTransactionCount": lag_nonce(proxy, 2)})  # fmt: skip
        lagging = ExecutionClient([proxy.url], timeout=5)
        resumed = await env.manager(lagging, receipt_timeout_seconds=20.0).resume(report_id)
        assert resumed.status == "mined", resumed
        await lagging.close()
    await env.close()


def forward_then_hang(proxy: FaultProxy) -> Fault:
    """eth_sendRawTransaction passed on to the node, its answer never returned (a timeout after acceptance)."""

    async def fault(request: web.Request, body: bytes) -> web.StreamResponse:
        await proxy.forward(request, body)
        await asyncio.sleep(30)
        return web.Response(status=504)

    return fault


async def test_a_broadcast_timed_out_on_one_endpoint_and_refused_by_another_is_followed(
    anvil: Anvil, tmp_path: Path
) -> None:
    with FaultProxy(anvil.url) as first, FaultProxy(anvil.url) as second:
        first.fault = faults.rpc_methods({"eth_sendRawTransaction": forward_then_hang(first)})
        second.fault = faults.rpc_methods({"eth_sendRawTransaction": faults.rpc_error("internal error")})
        env = Env(anvil, tmp_path, urls=[first.url, second.url], timeout=1.5, replace_after_seconds=30.0,
                  receipt_timeout_seconds=10.0)  # fmt: skip
        report_id = env.report()
        miner = asyncio.create_task(env.mine_after(3.0))
        outcome = await env.txm.send(report_id, TARGET, DATA, 50_000)
        await miner
        assert outcome.status == "mined", outcome
        await env.close()


async def test_a_nonce_used_by_another_transaction_is_superseded_after_the_evidence(
    anvil: Anvil, tmp_path: Path
) -> None:
    from oracle.execution.txmanager import SUPERSEDED_GRACE_SECONDS

    env = Env(anvil, tmp_path, replace_after_seconds=60.0, receipt_timeout_seconds=SUPERSEDED_GRACE_SECONDS + 10)
    report_id = env.report()

    async def another_sender_replaces_it() -> None:  # the same key, elsewhere: the nonce, at a higher fee
        await asyncio.sleep(1.0)
        _, nonce, _, max_fee, tip = env.journal.transactions(report_id)[0]
        tx = {"type": 2, "chainId": 31337, "to": TARGET, "value": 1, "gas": 21_000, "nonce": nonce,
              "maxFeePerGas": max_fee * 2, "maxPriorityFeePerGas": tip * 2}  # fmt: skip
        raw = "0x" + bytes(Account.sign_transaction(tx, KEY).raw_transaction).hex()
        assert await env.txm._broadcast(raw) is None
        await env.mine()

    started = time.monotonic()
    other = asyncio.create_task(another_sender_replaces_it())
    outcome = await env.txm.send(report_id, TARGET, DATA, 50_000)
    await other
    assert outcome.status == "superseded", outcome
    assert time.monotonic() - started >= SUPERSEDED_GRACE_SECONDS  # decided on evidence, not one answer
    await env.close()

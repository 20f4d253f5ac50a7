"""The transaction manager on a real EVM that mines only when told (anvil --no-mining): a stuck transaction
replaced with a bumped fee, a report whose grounds moved never signed or cancelled at its nonce, a timed-out
one resumed, re-priced from its own calldata, or cancelled when its proof has aged."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from eth_account import Account

from oracle.config.settings import Transactions
from oracle.devnet.anvil import Anvil, free_port
from oracle.execution.el import ExecutionClient
from oracle.execution.txmanager import TxManager
from oracle.journal import Journal

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
    def __init__(self, anvil: Anvil, tmp: Path, **config: Any) -> None:
        self.el = ExecutionClient([anvil.url], timeout=5)
        self.journal = Journal(tmp / f"j{time.monotonic_ns()}.sqlite")
        settings = {"replace_after_seconds": 1.0, "receipt_timeout_seconds": 6.0, "max_fee_gwei": 1000.0}
        settings.update(config)
        self.txm = TxManager(self.el, Account.from_key(KEY), 31337, Transactions(**settings), self.journal)

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

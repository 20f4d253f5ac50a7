"""The mempool look before a report is signed, on a real EVM that mines only when told (anvil --no-mining), with
the devnet's AccountingOracle (FEEDER_ROLE): only another reporter's report for this validator, priced to be
included now and not pending for long, makes ours wait. A junk transaction with the pubkey in its input, a
well-formed report from a sender without the role, and one whose fee the next block cannot take do not."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3

from oracle.config.settings import Settings
from oracle.devnet.anvil import Anvil, free_port
from oracle.devnet.compile import load_artifacts
from oracle.execution.el import ExecutionClient
from oracle.journal import Journal
from oracle.reporting.context import Context
from oracle.reporting.send import report_pending_elsewhere
from oracle.ssz.layouts import get_layout

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]
# anvil's development keys: 0 governs the oracle, 1 and 3 hold FEEDER_ROLE, 2 is this daemon, 5 holds no role
KEYS = {
    "governance": "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "feeder": "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "ours": "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "other_feeder": "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "roleless": "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
}
PUBKEY = bytes(range(1, 49))
OTHER_PUBKEY = bytes(range(100, 148))
GWEI = 10**9


class Chain:
    """anvil with the oracle deployed, and a Context whose signer is `ours`."""

    def __init__(self, anvil: Anvil, ctx: Context, w3: AsyncWeb3[Any], oracle: Any) -> None:
        self.anvil, self.ctx, self.w3, self.oracle = anvil, ctx, w3, oracle

    async def rpc(self, method: str, *params: Any) -> Any:
        return (await self.w3.provider.make_request(method, list(params)))["result"]  # type: ignore[arg-type]

    async def next_base_fee(self) -> int:
        return int((await self.w3.eth.fee_history(1, "latest", []))["baseFeePerGas"][-1])

    def report_call(self, pubkey: bytes = PUBKEY) -> str:
        fn = self.oracle.functions.updateTotalDeposits(pubkey, [b"\x11" * 32], 32_000_000_000, b"\x22" * 32,
                                                       [b"\x33" * 32], 7, int(time.time()))  # fmt: skip
        return str(fn._encode_transaction_data())

    async def send(self, who: str, data: str, *, max_fee: int | None = None, tip: int = GWEI, to: str = "") -> str:
        account: LocalAccount = Account.from_key(KEYS[who])
        nonce = await self.w3.eth.get_transaction_count(account.address, "pending")
        fee = max_fee if max_fee is not None else 2 * await self.next_base_fee() + tip
        tx = {"type": 2, "chainId": 31337, "to": to or self.oracle.address, "value": 0, "gas": 300_000, "nonce": nonce,
              "data": data, "maxFeePerGas": fee, "maxPriorityFeePerGas": tip}  # fmt: skip
        return "0x" + bytes(await self.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)).hex()

    async def clear(self) -> None:
        """Mine what is pending (anvil drops what the block cannot take), and forget what the look saw."""
        await self.rpc("evm_mine")
        assert (await self.rpc("txpool_content"))["pending"] == {}
        getattr(self.ctx, "mempool_seen", {}).clear()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def chain(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Chain]:
    node = Anvil("127.0.0.1", free_port(), 31337, int(time.time()))
    await node.start()
    w3 = AsyncWeb3(AsyncWeb3.AsyncHTTPProvider(node.url))
    artifact = load_artifacts()["contracts"]["AccountingOracle"]
    governance = Account.from_key(KEYS["governance"])
    factory_address = AsyncWeb3.to_checksum_address("0x" + "fa" * 20)
    deploy = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"]).constructor(
        governance.address, factory_address
    )
    tx_hash = await deploy.transact({"from": governance.address})
    await w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    address = (await w3.eth.get_transaction_receipt(tx_hash))["contractAddress"]
    oracle = w3.eth.contract(address=address, abi=artifact["abi"])
    role = await oracle.functions.FEEDER_ROLE().call()
    for who in ("feeder", "other_feeder"):
        await oracle.functions.grantRole(role, Account.from_key(KEYS[who]).address).transact(
            {"from": governance.address}
        )
    await w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    settings = Settings(chain_id=31337, execution_endpoints=(node.url,))
    settings = replace(settings, reporting=replace(settings.reporting, interval_seconds=30.0))
    session = aiohttp.ClientSession()
    el = ExecutionClient([node.url], timeout=5)
    journal = Journal(tmp_path_factory.mktemp("look") / "journal.sqlite")
    ctx = Context(settings, get_layout(settings.layout), session, [], el, journal, Account.from_key(KEYS["ours"]),
                  None, oracle=str(address), oracle_access="access_control", feeder_role=bytes(role))  # fmt: skip
    yield Chain(node, ctx, w3, oracle)
    await ctx.close()
    node.stop()


def junk_with_the_pubkey() -> str:
    """Not a call of any function: the report's selector, then bytes that decode as nothing, holding the pubkey."""
    return "0x5578e99d" + "00" * 60 + PUBKEY.hex()


async def test_a_junk_transaction_holding_the_pubkey_does_not_count(chain: Chain) -> None:
    await chain.clear()  # a test before this one may have failed with its transactions pending
    await chain.send("roleless", junk_with_the_pubkey(), tip=0)
    assert not await report_pending_elsewhere(chain.ctx, PUBKEY)


async def test_a_well_formed_report_from_a_sender_without_the_role_does_not_count(chain: Chain) -> None:
    await chain.clear()  # a test before this one may have failed with its transactions pending
    await chain.send("roleless", chain.report_call())
    assert not await report_pending_elsewhere(chain.ctx, PUBKEY)


async def test_a_report_whose_fee_the_next_block_cannot_take_does_not_count(chain: Chain) -> None:
    await chain.clear()  # a test before this one may have failed with its transactions pending
    await chain.send("feeder", chain.report_call(), max_fee=await chain.next_base_fee(), tip=1)
    await chain.rpc("anvil_setNextBlockBaseFeePerGas", hex(100 * GWEI))  # now below the next block's base fee
    assert not await report_pending_elsewhere(chain.ctx, PUBKEY)


async def test_a_role_holders_report_for_another_validator_does_not_count(chain: Chain) -> None:
    await chain.clear()  # a test before this one may have failed with its transactions pending
    await chain.send("feeder", chain.report_call(OTHER_PUBKEY))
    assert not await report_pending_elsewhere(chain.ctx, PUBKEY)


async def test_a_role_holders_pending_report_makes_ours_wait_until_it_stays_pending_too_long(chain: Chain) -> None:
    await chain.clear()  # a test before this one may have failed with its transactions pending
    # the junk, the role-less and the unpriced ones beside it change nothing
    await chain.send("roleless", junk_with_the_pubkey(), tip=0)
    await chain.send("other_feeder", chain.report_call(), tip=0)
    tx_hash = await chain.send("feeder", chain.report_call())
    assert await report_pending_elsewhere(chain.ctx, PUBKEY)
    assert await report_pending_elsewhere(chain.ctx, PUBKEY)  # still waiting: seen only moments ago
    # Pending for two cycles' time (or more blocks than a priced report waits): no longer waited for.
    seen = chain.ctx.mempool_seen[tx_hash]
    chain.ctx.mempool_seen[tx_hash] = replace(seen, first_seen=seen.first_seen - 61)
    assert not await report_pending_elsewhere(chain.ctx, PUBKEY)
    chain.ctx.mempool_seen[tx_hash] = replace(seen, first_block=seen.first_block - 6)
    assert not await report_pending_elsewhere(chain.ctx, PUBKEY)


async def test_our_own_pending_report_is_not_anothers(chain: Chain) -> None:
    await chain.clear()  # a test before this one may have failed with its transactions pending
    await chain.send("ours", chain.report_call())
    assert not await report_pending_elsewhere(chain.ctx, PUBKEY)


async def test_open_reporting_lets_anyone_report(chain: Chain) -> None:
    """The oracle accepted our report without FEEDER_ROLE (its pre-flight passed: open reporting): a role-less
    sender's report is another reporter's too."""
    await chain.clear()
    await chain.send("roleless", chain.report_call())
    chain.ctx.has_role = True  # ours holds no role, and reports
    try:
        assert await report_pending_elsewhere(chain.ctx, PUBKEY)
    finally:
        chain.ctx.has_role = False


async def test_an_ownable_oracles_owner_reports_and_no_one_else(chain: Chain) -> None:
    await chain.clear()
    artifact = load_artifacts()["contracts"]["OwnableAccountingOracle"]
    owner = Account.from_key(KEYS["feeder"]).address
    deploy = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"]).constructor(
        owner, AsyncWeb3.to_checksum_address("0x" + "fa" * 20)
    )
    tx_hash = await deploy.transact({"from": Account.from_key(KEYS["governance"]).address})
    await chain.rpc("evm_mine")
    ownable = str((await chain.w3.eth.get_transaction_receipt(tx_hash))["contractAddress"])
    ctx = chain.ctx
    saved = ctx.oracle, ctx.oracle_access
    ctx.oracle, ctx.oracle_access = ownable, "ownable"
    try:
        await chain.send("roleless", chain.report_call(), to=ownable)
        await chain.send("other_feeder", chain.report_call(), to=ownable)  # FEEDER_ROLE elsewhere means nothing
        assert not await report_pending_elsewhere(ctx, PUBKEY)
        await chain.send("feeder", chain.report_call(), to=ownable)
        assert await report_pending_elsewhere(ctx, PUBKEY)
    finally:
        ctx.oracle, ctx.oracle_access = saved


async def test_an_oracle_of_unknown_access_is_asked_by_simulating_the_call(chain: Chain) -> None:
    """Neither FEEDER_ROLE nor an owner answers: the pending call, simulated from its sender, decides. The
    role-less sender's reverts (AccessControlUnauthorizedAccount): not another reporter's report."""
    await chain.clear()
    await chain.send("roleless", chain.report_call())
    chain.ctx.oracle_access = "unknown"
    try:
        assert not await report_pending_elsewhere(chain.ctx, PUBKEY)
        assert chain.ctx.reporters[Account.from_key(KEYS["roleless"]).address.lower()][1] is False
    finally:
        chain.ctx.oracle_access = "access_control"

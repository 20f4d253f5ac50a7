"""EL reads a decision rests on, against stand-in nodes that behave as real ones do: a node behind the block
asked about clamps eth_getLogs' toBlock to its own head without an error (reth, geth), a provider refuses
log ranges wider than its cap (each in its own words), a node answers eth_feeHistory in the wrong shape.
Every answer must come from a node at or past the block it is about; a refused range is split, not fatal;
a malformed fee history is that endpoint's failure, not the cycle's."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from eth_abi.abi import encode
from eth_account import Account
from eth_utils.crypto import keccak

from oracle import metrics
from oracle.config.loading import load_settings
from oracle.config.settings import Transactions
from oracle.devnet.anvil import free_port
from oracle.execution.el import ExecutionClient, ExecutionError
from oracle.execution.txmanager import TxManager
from oracle.reporting.context import Pool
from oracle.reporting.daily import TOTAL_DEPOSITS_UPDATED, recent_updates
from oracle.reporting.eventlog import EventWindow
from oracle.reporting.reconcile import PoolBooks
from oracle.reporting.send import books_fingerprint, report_check

pytestmark = pytest.mark.unit
VAULT = "0x" + "22" * 20
POOL_ADDRESS = "0x" + "33" * 20
PUBKEY = b"\x44" * 48
WITHDRAWAL_TRIGGERED = "0x" + keccak(text="ELWithdrawalTriggered(bytes,uint64,uint256)").hex()


def selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


class StandInEL:
    """One EL node over a simple chain: its own head, the logs of the blocks up to it, and view answers by
    block. eth_getLogs clamps toBlock to the head, as reth and geth do; eth_call past the head is an error
    ("header not found"); `failing` methods answer HTTP 503; ranges wider than `max_range` are refused with
    `refusal` (code, message)."""

    def __init__(self, head: int, logs: list[dict[str, Any]] | None = None) -> None:
        self.head = head
        self.logs = logs or []
        self.failing: set[str] = set()
        self.max_range: int | None = None
        self.refusal = (-32005, "query returned more than 10000 results")
        self.views: Callable[[str, int], int] = lambda fn, block: 1  # (selector, block) -> uint256
        self.fee_history: Any = {"oldestBlock": "0x1", "baseFeePerGas": ["0x3b9aca00"] * 6,
                                 "gasUsedRatio": [0.5] * 5, "reward": [["0x3b9aca00"]] * 5}  # fmt: skip
        self.ranges: list[tuple[int, int]] = []  # eth_getLogs asked, as (fromBlock, toBlock)
        self.log_queries: list[dict[str, Any]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1/secret-key"

    def answer(self, call: dict[str, Any]) -> web.Response:
        method, params = call["method"], call.get("params") or []
        if method in self.failing:
            return web.Response(status=503, text="injected")
        if method == "eth_chainId":
            return self.result(call, hex(1))
        if method == "eth_blockNumber":
            return self.result(call, hex(self.head))
        if method == "eth_getBlockByNumber":
            number = self.head if params[0] == "latest" else int(params[0], 16)
            if number > self.head:
                return self.result(call, None)
            return self.result(call, {"number": hex(number), "timestamp": hex(1_000_000 + 2 * number),
                                      "hash": "0x" + number.to_bytes(32, "big").hex()})  # fmt: skip
        if method == "eth_getLogs":
            return self.get_logs(call, params[0])
        if method == "eth_call":
            block = self.head if params[1] == "latest" else int(params[1], 16)
            if block > self.head:
                return self.error(call, -32000, "header not found")
            value = self.views(params[0]["data"][:10], block)
            return self.result(call, "0x" + value.to_bytes(32, "big").hex())
        if method == "eth_feeHistory":
            return self.result(call, self.fee_history)
        return self.error(call, -32601, "method not found")

    def get_logs(self, call: dict[str, Any], query: dict[str, Any]) -> web.Response:
        start, end = int(query["fromBlock"], 16), int(query["toBlock"], 16)
        self.ranges.append((start, end))
        self.log_queries.append(query)
        if self.max_range is not None and end - start + 1 > self.max_range:
            return self.error(call, *self.refusal)
        end = min(end, self.head)  # a node behind answers up to what it has, without an error
        addresses = query.get("address") or []
        addresses = {a.lower() for a in ([addresses] if isinstance(addresses, str) else addresses)}
        topics = (query.get("topics") or [None])[0]
        topics = {topics} if isinstance(topics, str) else set(topics or ())

        def wanted(entry: dict[str, Any]) -> bool:
            in_range = start <= int(entry["blockNumber"], 16) <= end
            return (
                in_range
                and entry["address"].lower() in (addresses or {entry["address"].lower()})
                and (not topics or entry["topics"][0] in topics)
            )

        return self.result(call, [entry for entry in self.logs if wanted(entry)])

    @staticmethod
    def result(call: dict[str, Any], value: Any) -> web.Response:
        return web.json_response({"jsonrpc": "2.0", "id": call["id"], "result": value})

    @staticmethod
    def error(call: dict[str, Any], code: int, message: str) -> web.Response:
        return web.json_response({"jsonrpc": "2.0", "id": call["id"], "error": {"code": code, "message": message}})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        return self.answer(await request.json())


@pytest_asyncio.fixture
async def nodes() -> AsyncIterator[Callable[..., Any]]:
    runners: list[web.AppRunner] = []

    async def start(node: StandInEL) -> StandInEL:
        app = web.Application()
        app.router.add_post("/{tail:.*}", node.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", node.port).start()
        runners.append(runner)
        return node

    yield start
    for runner in runners:
        await runner.cleanup()


def withdrawal_log(block: int, pubkey: bytes = PUBKEY) -> dict[str, Any]:
    data = encode(["bytes", "uint64", "uint256"], [pubkey, 10**9, 1])
    return {"address": VAULT, "topics": [WITHDRAWAL_TRIGGERED], "data": "0x" + data.hex(), "blockNumber": hex(block),
            "blockHash": "0x" + block.to_bytes(32, "big").hex(), "transactionHash": "0x" + "ab" * 32,
            "transactionIndex": "0x0", "logIndex": "0x0", "removed": False}  # fmt: skip


def errors_of(node: StandInEL, reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "pool_oracle_el_request_errors_total", {"endpoint": f"127.0.0.1:{node.port}", "reason": reason}
    )
    return value or 0.0


# -- M1: answers from a node at or past the block they are about -------------------------------------------------


async def test_logs_are_taken_only_from_an_endpoint_at_or_past_the_windows_end(nodes: Any) -> None:
    """The books block is 1,000 (the first endpoint's head); the first fails eth_getLogs; the second is at 990
    and would answer up to 990 without an error, missing the withdrawal request of block 995 (the decision
    would flip from hold to report). It is skipped, named and counted; the third, at 1,002, answers."""
    request = withdrawal_log(995)
    first, lagging, good = StandInEL(1_000, [request]), StandInEL(990, [request]), StandInEL(1_002, [request])
    first.failing.add("eth_getLogs")
    for node in (first, lagging, good):
        await nodes(node)
    client = ExecutionClient([first.url, lagging.url, good.url], timeout=5)
    try:
        books_block = int((await client.block("latest"))["number"])
        before = errors_of(lagging, "behind")
        events = await client.logs("WithdrawalVault", VAULT, "ELWithdrawalTriggered", 900, books_block)
        assert [int(e["blockNumber"]) for e in events] == [995]
        assert errors_of(lagging, "behind") == before + 1
        solo = ExecutionClient([first.url, lagging.url], timeout=5)  # no endpoint at 1,000 answers: an error
        with pytest.raises(ExecutionError, match=r"behind.*990.*1000"):
            await solo.raw_logs(900, 1_000, topic=WITHDRAWAL_TRIGGERED)
        await solo.close()
    finally:
        await client.close()


async def test_a_withdrawal_request_past_a_lagging_nodes_head_still_holds_the_report(
    nodes: Any, tmp_path: Path
) -> None:
    """The cycle's lags at books block 1,000, with a withdrawal request at 995: read through the lagging node
    (990), it would be missed and the window recorded as read to 1,000 (the report no longer held). Only a
    node at or past 1,000 is believed; with none, the lags cannot be collected (an error, and the window
    is not advanced)."""
    from oracle.reporting.books import UNSET_INDEX, collect_lags
    from oracle.reporting.context import Anchor
    from tests.test_lags import context, state_with

    state = state_with(eth1_deposit_index=150, requests_start=UNSET_INDEX)
    pubkey = state.validator(3)["pubkey"]
    request = withdrawal_log(995, pubkey)
    first, lagging, good = StandInEL(1_000, [request]), StandInEL(990, [request]), StandInEL(1_002, [request])
    first.failing.add("eth_getLogs")
    for node in (first, lagging, good):
        await nodes(node)
    anchor = Anchor(state.slot, state.block_root, 1, 950)
    pools = [Pool(3, pubkey, POOL_ADDRESS)]
    for urls, requests in (([first.url, lagging.url, good.url], 1), ([first.url, lagging.url], None)):
        client = ExecutionClient(urls, timeout=5)
        ctx = context(tmp_path, client)  # type: ignore[arg-type]
        ctx.vault = VAULT
        try:
            books_block = int((await client.block("latest"))["number"])
            if requests is None:
                with pytest.raises(ExecutionError, match="behind"):
                    await collect_lags(ctx, anchor, state, pools, books_block)
                assert ctx.withdrawal_requests.to_block < books_block  # not recorded as read
            else:
                found = await collect_lags(ctx, anchor, state, pools, books_block)
                assert found[3].recent_withdrawal_requests == requests and found[3].allocated_withdrawals_wei == 1
        finally:
            await client.close()


def check_context(client: ExecutionClient) -> Any:
    return SimpleNamespace(el=client, settings=SimpleNamespace(reporting=SimpleNamespace(timestamp_margin_seconds=0)),
                           seconds_per_slot=2, max_timestamp_age=10**9, chain_now=lambda: 0.0, account=None,
                           oracle="0x" + "55" * 20)  # fmt: skip


async def test_the_check_before_signing_reads_books_no_older_than_the_books_block(nodes: Any) -> None:
    """A stake at block 998 mints shares after the report was decided at block 996. The first endpoint (head
    1,000) fails eth_call; the second is at 997 and has not seen the stake: its books at "latest" are the
    decided ones, and the check would pass. The check reads at a pinned block, not older than any head seen:
    the node behind is skipped (no endpoint left: the check cannot be made, an error, not a pass); a node at
    or past it shows the books moved."""
    supply = selector("totalSupply()")

    def books(fn: str, block: int) -> int:
        if fn == selector("activeThresholdReached()"):
            return 1
        return (2 if block >= 998 else 1) * 10**18 if fn == supply else 10**18

    first, lagging, good = StandInEL(1_000), StandInEL(997), StandInEL(1_001)
    first.failing.add("eth_call")
    for node in (first, lagging, good):
        node.views = books
        await nodes(node)
    decided = books_fingerprint(PoolBooks(10**18, 10**18, 10**18, 10**18))  # the books at block 996
    for urls, outcome in (([first.url, lagging.url], None), ([first.url, lagging.url, good.url], "moved")):
        client = ExecutionClient(urls, timeout=5)
        try:
            await client.block("latest")  # the cycle's books block comes from the first endpoint: 1,000
            check = report_check(check_context(client), POOL_ADDRESS, 10**6, decided, PUBKEY)
            if outcome is None:
                with pytest.raises(ExecutionError, match="behind"):
                    await check()
            else:
                assert outcome in str(await check())
        finally:
            await client.close()


# -- L1: log ranges a provider caps, and the daily bound's filter -----------------------------------------------

REFUSALS = [
    (-32005, "query returned more than 10000 results"),  # Infura
    (-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range"),  # Alchemy
    (-32000, "exceed maximum block range: 1000"),  # BSC and other geth forks
    (-32600, "range too large, max range: 1000"),
    (-32005, "limit exceeded"),
    (-32602, "invalid params: block range is too wide"),
]


@pytest.mark.parametrize(("code", "message"), REFUSALS)
async def test_a_provider_that_caps_log_ranges_gets_halved_ranges_remembered_per_endpoint(
    nodes: Any, code: int, message: str
) -> None:
    logs = [withdrawal_log(block) for block in (10, 4_000, 9_999)]
    capped = await nodes(StandInEL(20_000, logs))
    capped.max_range, capped.refusal = 1_000, (code, message)
    client = ExecutionClient([capped.url], timeout=5)
    try:
        events = await client.raw_logs(0, 9_999, topic=WITHDRAWAL_TRIGGERED)
        assert [int(e["blockNumber"]) for e in events] == [10, 4_000, 9_999]
        refused = [r for r in capped.ranges if r[1] - r[0] + 1 > 1_000]
        assert 0 < len(refused) <= 4  # 10,000 -> 5,000 -> 2,500 -> 1,250 -> 625
        covered = sorted(r for r in capped.ranges if r not in refused)
        assert covered[0][0] == 0 and covered[-1][1] == 9_999
        assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(covered))  # no gap, no overlap
        capped.ranges.clear()
        await client.raw_logs(10_000, 15_000, topic=WITHDRAWAL_TRIGGERED)
        assert capped.ranges and all(end - start + 1 <= 1_000 for start, end in capped.ranges)  # remembered
    finally:
        await client.close()


async def test_a_rate_limit_is_not_taken_for_a_range_refusal(nodes: Any) -> None:
    """Infura sends its rate limits as -32005 too: narrower ranges would only mean more requests."""
    limited = await nodes(StandInEL(20_000))
    limited.max_range, limited.refusal = 0, (-32005, "daily request count exceeded, request rate limited")
    client = ExecutionClient([limited.url], timeout=5)
    try:
        with pytest.raises(ExecutionError, match="request rate limited"):
            await client.raw_logs(0, 9_999, topic=WITHDRAWAL_TRIGGERED)
        assert limited.ranges == [(0, 9_999)] and client.endpoints[0].log_range == 10_000
    finally:
        await client.close()


async def test_log_ranges_follow_the_setting(nodes: Any, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("chain_id: 1\nbeacon_endpoints: [http://b:1]\nexecution_endpoints: [http://e:1]\n"
                      "contracts: {factory: '0x" + "11" * 20 + "'}\nendpoints: {log_range_blocks: 500}\n")  # fmt: skip
    settings = load_settings(config, environ={})
    assert settings.endpoints.log_range_blocks == 500
    node = await nodes(StandInEL(5_000))
    client = ExecutionClient([node.url], timeout=5, log_range_blocks=settings.endpoints.log_range_blocks)
    try:
        await client.raw_logs(0, 1_999, topic=WITHDRAWAL_TRIGGERED)
        assert node.ranges == [(0, 499), (500, 999), (1_000, 1_499), (1_500, 1_999)]
    finally:
        await client.close()


async def test_the_daily_bound_reads_the_pools_reports_only(nodes: Any) -> None:
    """TotalDepositsUpdated(uint256) is a common event name: the filter names the pools, not the topic alone
    (on a busy chain the topic alone matches every contract's and trips providers' result caps)."""
    node = await nodes(StandInEL(3_000))
    client = ExecutionClient([node.url], timeout=5)
    pools = [Pool(3, PUBKEY, POOL_ADDRESS), Pool(4, b"\x45" * 48, "0x" + "34" * 20)]

    async def seconds_per_block(latest: Any, sample: int) -> float:
        return 1.0

    client.seconds_per_block = seconds_per_block  # type: ignore[method-assign]
    ctx = SimpleNamespace(el=client, deposit_updates=EventWindow())
    try:
        await recent_updates(ctx, {"number": 3_000, "timestamp": 1_000_000}, pools)  # type: ignore[arg-type]
        assert node.log_queries
        for query in node.log_queries:
            assert query["topics"] == [TOTAL_DEPOSITS_UPDATED]
            assert sorted(a.lower() for a in query["address"]) == sorted(p.address for p in pools)
    finally:
        await client.close()


# -- L5: a fee history of the wrong shape ------------------------------------------------------------------------

MALFORMED_FEE_HISTORIES = [
    {"oldestBlock": "0x1", "baseFeePerGas": [], "gasUsedRatio": [], "reward": []},
    {"oldestBlock": "0x1", "gasUsedRatio": [0.5]},
    {"oldestBlock": "0x1", "baseFeePerGas": ["0x1"], "gasUsedRatio": [0.5], "reward": ["0x1"]},
    {"oldestBlock": "0x1", "baseFeePerGas": "0x1", "gasUsedRatio": [0.5], "reward": [["0x1"]]},
]


@pytest.mark.parametrize("history", MALFORMED_FEE_HISTORIES)
async def test_a_fee_history_of_the_wrong_shape_is_that_endpoints_failure(nodes: Any, history: dict[str, Any]) -> None:
    """Read inside the failover: the next endpoint's fees are used; with no other endpoint, an ExecutionError
    (the one pool fails with one line, the cycle goes on), not an IndexError that ends the cycle."""
    bad, good = StandInEL(100), StandInEL(100)
    bad.fee_history = history
    for node in (bad, good):
        await nodes(node)
    account = Account.create()
    config = Transactions(priority_fee_gwei=0.5)
    client = ExecutionClient([bad.url, good.url], timeout=5)
    try:
        fees = await TxManager(client, account, 1, config, None).fees()  # type: ignore[arg-type]
        assert (fees.max_fee, fees.priority_fee) == (3 * 10**9, 10**9)  # 2 x 1 gwei base + the 1 gwei median tip
        solo = ExecutionClient([bad.url], timeout=5)
        with pytest.raises(ExecutionError, match="eth_feeHistory"):
            await TxManager(solo, account, 1, config, None).fees()  # type: ignore[arg-type]
        await solo.close()
    finally:
        await client.close()


async def test_a_pool_added_to_the_filter_reads_the_window_again() -> None:
    """The day window holds what the last filter matched: with a new pool in it, the window is read whole again
    (the newcomer's reports of the day would be missing), otherwise only its new blocks."""
    from oracle.reporting.eventlog import REORG_OVERLAP_BLOCKS

    ranges: list[tuple[int, int]] = []

    async def fetch(start: int, end: int) -> list[tuple[int, Any]]:
        ranges.append((start, end))
        return []

    window = EventWindow()
    await window.advance(0, 1_000, fetch, key=("0xa",))
    await window.advance(0, 1_010, fetch, key=("0xa",))
    await window.advance(0, 1_020, fetch, key=("0xa", "0xb"))
    assert ranges == [(0, 1_000), (1_001 - REORG_OVERLAP_BLOCKS, 1_010), (0, 1_020)]

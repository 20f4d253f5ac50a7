"""The EL client against local JSON-RPC servers that fail: failover on HTTP 429 and 5xx, one attempt per
endpoint (web3's own hidden retries are off), no URL (and so no API key) in any error, answers capped in size
and nesting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.devnet.anvil import free_port
from oracle.execution import el
from oracle.execution.el import ExecutionClient, ExecutionError

pytestmark = pytest.mark.unit
SECRET = "k3y-d0-n0t-l3ak"


class RpcServer:
    def __init__(self, answer: Callable[[dict[str, Any]], web.StreamResponse]) -> None:
        self.answer = answer
        self.hits = 0
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/{SECRET}?apikey={SECRET}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        return self.answer(await request.json())


@pytest_asyncio.fixture
async def servers() -> AsyncIterator[Callable[..., Any]]:
    runners: list[web.AppRunner] = []

    async def start(answer: Callable[[dict[str, Any]], web.StreamResponse]) -> RpcServer:
        server = RpcServer(answer)
        app = web.Application()
        app.router.add_post("/{tail:.*}", server.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", server.port).start()
        runners.append(runner)
        return server

    yield start
    for runner in runners:
        await runner.cleanup()


def chain_id(request: dict[str, Any]) -> web.Response:
    return web.json_response({"jsonrpc": "2.0", "id": request["id"], "result": hex(80094)})


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_http_errors_fail_over_once_and_never_leak_the_url(servers: Any, status: int) -> None:
    bad = await servers(lambda r: web.Response(status=status, text=f"rate limited, {SECRET}"))
    good = await servers(chain_id)
    client = ExecutionClient([bad.url, good.url], timeout=5)
    try:
        assert await client.chain_id() == 80094
        assert bad.hits == 1 and good.hits == 1  # one attempt each: no hidden retries
        solo = ExecutionClient([bad.url], timeout=5)
        with pytest.raises(ExecutionError) as info:
            await solo.chain_id()
        await solo.close()
        assert f"HTTP {status}" in str(info.value) and SECRET not in str(info.value)
        assert f"127.0.0.1:{bad.port}" in str(info.value)
    finally:
        await client.close()


async def test_malformed_oversized_and_deep_answers_are_endpoint_errors(
    servers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(el, "MAX_RESPONSE_BYTES", 10_000)
    answers = [
        lambda r: web.Response(text="not json", content_type="application/json"),
        lambda r: web.json_response({"jsonrpc": "2.0", "id": r["id"], "result": "0x" + "00" * 20_000}),
        lambda r: web.Response(body=b"[" * 5000 + b"]" * 5000, content_type="application/json"),
    ]
    for answer in answers:
        bad = await servers(answer)
        client = ExecutionClient([bad.url], timeout=5)
        try:
            with pytest.raises(ExecutionError) as info:
                await client.chain_id()
            assert SECRET not in str(info.value)
        finally:
            await client.close()


async def test_a_dead_endpoint_fails_over(servers: Any) -> None:
    good = await servers(chain_id)
    dead = f"http://127.0.0.1:{free_port()}/{SECRET}"
    client = ExecutionClient([dead, good.url], timeout=2)
    try:
        assert await client.chain_id() == 80094
    finally:
        await client.close()


def deposit_logs(amount: bytes) -> Callable[[dict[str, Any]], web.Response]:
    """An endpoint answering eth_getLogs with one Ethereum DepositEvent whose amount field is `amount`."""
    from eth_abi.abi import encode

    from oracle.execution.deposits import ETHEREUM_DEPOSIT

    data = encode(["bytes"] * 5, [b"\x11" * 48, b"\x01" * 32, amount, b"\x22" * 96, (3).to_bytes(8, "little")])
    entry = {"address": "0x" + "42" * 20, "topics": [ETHEREUM_DEPOSIT], "data": "0x" + data.hex(),
             "blockNumber": "0x7", "blockHash": "0x" + "01" * 32, "transactionHash": "0x" + "ab" * 32,
             "transactionIndex": "0x0", "logIndex": "0x0", "removed": False}  # fmt: skip

    def answer(r: dict[str, Any]) -> web.Response:
        if r["method"] == "eth_blockNumber":  # asked first: its head must reach the range's end
            return web.json_response({"jsonrpc": "2.0", "id": r["id"], "result": hex(1_000)})
        return web.json_response({"jsonrpc": "2.0", "id": r["id"], "result": [entry]})

    return answer


async def test_a_deposit_log_that_does_not_decode_fails_over_to_the_next_endpoint(servers: Any) -> None:
    bad = await servers(deposit_logs(b"\x01\x02"))  # a 2-byte amount: not a DepositEvent the contract emits
    good = await servers(deposit_logs((32 * 10**9).to_bytes(8, "little")))
    client = ExecutionClient([bad.url, good.url], timeout=5)
    try:
        [deposit] = await client.deposits("0x" + "42" * 20, 0, 10)
        assert (deposit.amount_gwei, deposit.index, deposit.block) == (32 * 10**9, 3, 7)
        assert bad.hits == 2  # asked once: its head (it reaches block 10), then the logs
        solo = ExecutionClient([bad.url], timeout=5)
        with pytest.raises(ExecutionError, match="DepositEvent amount is 2 bytes, not 8"):
            await solo.deposits("0x" + "42" * 20, 0, 10)
        await solo.close()
    finally:
        await client.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**300), 2**300) | st.text(max_size=10)
    | st.sampled_from(["0x", "0x0", "0x1", "0xzz", "0x" + "00" * 32, "latest"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15,
)  # fmt: skip
rpc_answers = st.one_of(
    json_values.map(lambda result: {"jsonrpc": "2.0", "id": 0, "result": result}),
    json_values.map(lambda error: {"jsonrpc": "2.0", "id": 0, "error": error}),
    json_values,
).map(lambda doc: json.dumps(doc).encode()) | st.binary(max_size=64)


@settings(max_examples=150, deadline=None)
@given(rpc_answers, st.sampled_from(["chain_id", "block", "beacon_root", "view"]))
def test_any_json_rpc_answer_is_a_value_or_an_execution_error(answer: bytes, call: str) -> None:
    """What web3 makes of an arbitrary answer reaches the daemon as a value or ExecutionError, nothing else."""

    async def run() -> None:
        client = ExecutionClient(["http://127.0.0.1:9"], timeout=1)
        provider = client.endpoints[0].w3.provider

        async def canned(method: Any, request_data: bytes) -> bytes:
            body = json.loads(answer) if answer[:1] == b"{" else None
            if isinstance(body, dict) and "id" in body:  # answer the request's own id
                body["id"] = json.loads(request_data)["id"]
                return json.dumps(body).encode()
            return answer

        provider._make_request = canned  # type: ignore[method-assign]
        try:
            if call == "chain_id":
                await client.chain_id()
            elif call == "block":
                await client.block("latest")
            elif call == "beacon_root":
                await client.beacon_root(1)
            else:
                await client.view("StakingPool", "0x" + "11" * 20, "totalDeposits")
        except ExecutionError:
            pass
        finally:
            await client.close()

    asyncio.run(run())

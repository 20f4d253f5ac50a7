"""The Beacon API client against a local server: which errors are answers and which are outages (counted in
requests), caps on what an answer may hold, the Ethereum fork check, and finding a block root's slot when
beacon-kit's block store no longer has it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from oracle.beacon import client
from oracle.beacon.answers import EndpointError, NotFound, header_root
from oracle.beacon.client import BeaconNode
from oracle.devnet.anvil import free_port
from oracle.reporting.anchor import slot_of_block_root

pytestmark = pytest.mark.unit
Handler = Callable[[web.Request], Any]


class Server:
    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.hits: dict[str, int] = {}
        self.port = free_port()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        for prefix, handler in self.routes.items():
            if request.path.startswith(prefix):
                result = handler(request)
                return await result if asyncio.iscoroutine(result) else result  # type: ignore[no-any-return]
        return web.json_response({"code": 404, "message": "no route"}, status=404)


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", srv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", srv.port).start()
    yield srv
    await runner.cleanup()


@pytest_asyncio.fixture
async def node(server: Server) -> AsyncIterator[BeaconNode]:
    async with aiohttp.ClientSession() as session:
        yield BeaconNode(f"http://127.0.0.1:{server.port}", session, timeout=2, retry_budget=1.5)


async def test_a_structured_500_is_an_answer_and_not_retried(server: Server, node: BeaconNode) -> None:
    """beacon-kit's "not found" is a 500 with {"code","message"}: one request, NotFound, no retry budget spent."""
    server.routes["/bkit/"] = lambda r: web.json_response(
        {"code": 500, "message": "slot not found at timestamp: 1"}, status=500
    )
    started = time.monotonic()
    with pytest.raises(NotFound, match="slot not found at timestamp"):
        await node.bkit_proof("validator_balance", "t1", 0)
    assert server.hits["/bkit/v1/proof/validator_balance/t1/0"] == 1 and time.monotonic() - started < 0.5
    server.routes["/eth/v1/beacon/states/"] = lambda r: web.json_response(
        {"code": 500, "message": "endpoint is not yet implemented"}, status=500
    )
    with pytest.raises(EndpointError) as info:
        await node.json("finality", "/eth/v1/beacon/states/head/finality_checkpoints")
    assert not info.value.retryable and server.hits["/eth/v1/beacon/states/head/finality_checkpoints"] == 1


async def test_outages_are_retried_within_the_budget(server: Server, node: BeaconNode) -> None:
    calls = {"n": 0}

    def flaky(request: web.Request) -> web.Response:
        calls["n"] += 1
        if calls["n"] < 3:
            return web.Response(status=503, text="upstream unavailable")
        return web.json_response({"data": {"genesis_time": "1", "genesis_validators_root": "0x" + "11" * 32,
                                           "genesis_fork_version": "0x05000000"}})  # fmt: skip

    server.routes["/eth/v1/beacon/genesis"] = flaky
    genesis = await node.genesis()
    assert genesis.time == 1 and calls["n"] == 3
    server.routes["/eth/v1/node/syncing"] = lambda r: web.Response(status=500, text="<html>bad gateway</html>")
    with pytest.raises(EndpointError) as info:
        await node.syncing()
    assert info.value.retryable and server.hits["/eth/v1/node/syncing"] > 1  # bare 500s are retried until budget


async def test_answers_are_capped(server: Server, node: BeaconNode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "MAX_JSON_BYTES", 1000)
    server.routes["/eth/v1/config/spec"] = lambda r: web.json_response({"data": {"X": "y" * 5000}})
    with pytest.raises(EndpointError, match="exceeds the cap of 1000"):
        await node.spec(retry=False)

    async def streamed(request: web.Request) -> web.StreamResponse:  # no Content-Length: chunked
        response = web.StreamResponse()
        response.content_type = "application/json"
        await response.prepare(request)
        for _ in range(10):
            await response.write(b" " * 500)
        return response

    server.routes["/eth/v1/node/syncing"] = streamed
    with pytest.raises(EndpointError, match="longer than the cap of 1000"):
        await node.syncing(retry=False)


async def test_deeply_nested_json_is_a_malformed_answer(server: Server, node: BeaconNode) -> None:
    server.routes["/eth/v1/node/syncing"] = lambda r: web.Response(
        body=b'{"a":' * 200_000 + b"1" + b"}" * 200_000, content_type="application/json"
    )
    with pytest.raises(EndpointError, match="nests deeper than 64 levels"):
        await node.syncing(retry=False)


async def test_a_state_of_another_fork_is_named(server: Server, node: BeaconNode) -> None:
    server.routes["/eth/v2/debug/"] = lambda r: web.Response(
        body=b"\x00" * 64, content_type="application/octet-stream", headers={"Eth-Consensus-Version": "fulu"}
    )
    with pytest.raises(EndpointError, match=r"serves a fulu state .* the configured layout is for electra"):
        await node.state_ssz("100", fork="electra")
    assert bytes(await node.state_ssz("100", fork="fulu")) == b"\x00" * 64


async def test_a_lying_content_length_allocates_nothing(server: Server, node: BeaconNode) -> None:
    async def liar(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(6 << 30)})
        response.content_type = "application/octet-stream"
        await response.prepare(request)
        await response.write(b"\x00" * 100)
        return response

    server.routes["/eth/v2/debug/"] = liar
    with pytest.raises(EndpointError, match="exceeds the"):
        await node.state_ssz("100")


def _header_body(slot: int, root_is_body: bool = True) -> dict[str, Any]:
    parent = hashlib.sha256(b"p%d" % slot).digest()
    state = hashlib.sha256(b"s%d" % slot).digest()
    body = hashlib.sha256(b"b%d" % slot).digest()
    root = body if root_is_body else header_root(slot, 1, parent, state, body)
    message = {"slot": str(slot), "proposer_index": "1", "parent_root": "0x" + parent.hex(),
               "state_root": "0x" + state.hex(), "body_root": "0x" + body.hex()}  # fmt: skip
    data = {"root": "0x" + root.hex(), "canonical": True, "header": {"message": message, "signature": ""}}
    return {"execution_optimistic": False, "finalized": True, "data": data}


async def test_slot_of_a_root_beacon_kit_no_longer_has(server: Server, node: BeaconNode) -> None:
    """Headers by root come from beacon-kit's in-memory block store; a root it no longer has answers 500, so
    the slot is found by walking back from head and hashing each header."""
    head = 100

    def headers(request: web.Request) -> web.Response:
        block_id = request.path.rsplit("/", 1)[1]
        if block_id.startswith("0x"):
            return web.json_response({"code": 500, "message": f"slot not found at block root: {block_id}"}, status=500)
        slot = head if block_id == "head" else int(block_id)
        return web.json_response(_header_body(slot))

    server.routes["/eth/v1/beacon/headers/"] = headers
    wanted = json.loads(json.dumps(_header_body(97)))["data"]["header"]["message"]
    root = header_root(97, 1, *(bytes.fromhex(wanted[k][2:]) for k in ("parent_root", "state_root", "body_root")))
    assert await slot_of_block_root(node, root) == 97
    with pytest.raises(EndpointError, match=r"is behind the EL or on another fork: .* is not among its last 8 blocks"):
        await slot_of_block_root(node, b"\x42" * 32)

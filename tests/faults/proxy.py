"""A fault-injecting HTTP proxy on loopback, in front of the devnet's Beacon API or its EL JSON-RPC, driven by
the test that owns it: `proxy.fault = <a fault below>` takes effect on the next request, `None` forwards.

A fault is a coroutine `(request, body) -> response or None` (None: forward untouched); the factories below
build the ones the fault matrix uses: latency, hangs, resets, 5xx bursts, truncated, oversized, malformed and
wrong-shape bodies, lying JSON, and per-method JSON-RPC rules."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from oracle.devnet.anvil import free_port

Fault = Callable[[web.Request, bytes], Awaitable[web.StreamResponse | None]]
Forward = Callable[[web.Request, bytes], Awaitable[tuple[int, str, bytes]]]


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.fault: Fault | None = None
        self.requests = 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.session: aiohttp.ClientSession | None = None

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        assert self.ready.wait(10), "proxy did not start"
        return self

    def __exit__(self, *_: Any) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def forward(self, request: web.Request, body: bytes, path: str | None = None) -> tuple[int, str, bytes]:
        """The upstream's answer to `request` (at `path` instead of its own, if given: a node that mixes up
        what was asked)."""
        assert self.session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("accept", "content-type")}
        query = f"?{request.query_string}" if request.query_string else ""
        target = request.path_qs if path is None else path + query
        async with self.session.request(request.method, self.upstream + target, data=body,
                                        headers=headers) as response:  # fmt: skip
            return response.status, response.content_type, await response.read()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = await request.read()
        fault = self.fault
        if fault is not None:
            answer = await fault(request, body)
            if answer is not None:
                return answer
        status, kind, data = await self.forward(request, body)
        return web.Response(body=data, status=status, content_type=kind)

    def _run(self) -> None:
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # injected faults are not news
        asyncio.set_event_loop(self.loop)
        self.session = aiohttp.ClientSession(loop=self.loop)
        app = web.Application(client_max_size=64 << 20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.session.close())
        self.loop.run_until_complete(runner.cleanup())


# -- faults ---------------------------------------------------------------------------------------------------


def latency(seconds: float) -> Fault:
    async def fault(request: web.Request, body: bytes) -> None:
        await asyncio.sleep(seconds)
        return None

    return fault


def hang() -> Fault:
    """Never answers within any timeout of the daemon's."""

    async def fault(request: web.Request, body: bytes) -> web.StreamResponse | None:
        await asyncio.sleep(3600)
        return None

    return fault


def reset() -> Fault:
    async def fault(request: web.Request, body: bytes) -> web.StreamResponse | None:
        if request.transport is not None:
            request.transport.abort()  # RST, no answer
        return web.Response()  # written to nothing

    return fault


def status(code: int) -> Fault:
    async def fault(request: web.Request, body: bytes) -> web.StreamResponse:
        return web.Response(status=code, text=f"injected {code}")

    return fault


def truncated(proxy: FaultProxy) -> Fault:
    """The real answer, announced whole, cut at half."""

    async def fault(request: web.Request, body: bytes) -> web.StreamResponse:
        code, kind, data = await proxy.forward(request, body)
        response = web.StreamResponse(status=code, headers={"Content-Length": str(len(data))})
        response.content_type = kind
        await response.prepare(request)
        await response.write(data[: len(data) // 2])
        if request.transport is not None:
            request.transport.close()
        return response

    return fault


def oversized(megabytes: int) -> Fault:
    """A JSON body of hundreds of MB, streamed."""

    async def fault(request: web.Request, body: bytes) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        await response.prepare(request)
        await response.write(b'{"data": "')
        chunk = b"a" * (1 << 20)
        try:
            for _ in range(megabytes):
                await response.write(chunk)
            await response.write(b'"}')
        except (ConnectionResetError, RuntimeError):
            pass  # the client hung up, as it should
        return response

    return fault


def oversized_state(proxy: FaultProxy, megabytes: int) -> Fault:
    """The debug state as the node serves it (beacon-kit's JSON), padded past `megabytes` with one more field,
    streamed; every other route forwarded: a state of a network far larger than the cap."""

    async def fault(request: web.Request, body: bytes) -> web.StreamResponse | None:
        if not request.path.startswith("/eth/v2/debug/beacon/states/"):
            return None
        code, kind, data = await proxy.forward(request, body)
        if code != 200 or kind != "application/json":
            return web.Response(body=data, status=code, content_type=kind)
        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        await response.prepare(request)
        chunk = b"a" * (1 << 20)
        try:
            await response.write(b'{"padding": "')
            for _ in range(megabytes):
                await response.write(chunk)
            await response.write(b'", ' + data.lstrip()[1:])
        except (ConnectionResetError, RuntimeError):
            pass  # the client hung up, as it should
        return response

    return fault


def malformed() -> Fault:
    async def fault(request: web.Request, body: bytes) -> web.StreamResponse:
        return web.Response(text='{"data": {"head_slot": ', content_type="application/json")

    return fault


def wrong_shape() -> Fault:
    async def fault(request: web.Request, body: bytes) -> web.StreamResponse:
        return web.json_response({"data": [1, 2, 3], "result": {"unexpected": True}, "jsonrpc": "2.0", "id": 1})

    return fault


def tamper(proxy: FaultProxy, change: Callable[[str, Any], Any]) -> Fault:
    """Valid JSON answers rewritten by `change(path, document)`: a lying node."""

    async def fault(request: web.Request, body: bytes) -> web.StreamResponse:
        code, kind, data = await proxy.forward(request, body)
        if code == 200 and "json" in kind:
            return web.json_response(change(request.path, json.loads(data)))
        return web.Response(body=data, status=code, content_type=kind)

    return fault


STATE_PATH = re.compile(r"^/eth/v2/debug/beacon/states/(\d+)$")


def state_of_another_slot(proxy: FaultProxy, back: int = 1) -> Fault:
    """Asked for the state at slot N, the node serves the state at N - back: a well-formed state, for the
    wrong block."""

    async def fault(request: web.Request, body: bytes) -> web.StreamResponse | None:
        match = STATE_PATH.match(request.path)
        if match is None or int(match.group(1)) < back:
            return None
        asked = int(match.group(1))
        code, kind, data = await proxy.forward(request, body, f"/eth/v2/debug/beacon/states/{asked - back}")
        return web.Response(body=data, status=code, content_type=kind)

    return fault


def _served_slot(doc: Any) -> int | None:
    """The slot a Beacon API or beacon-kit answer is about (headers, states, proofs), if it names one."""
    candidates = []
    if isinstance(doc, dict):
        data = doc.get("data")
        if isinstance(data, dict):
            candidates += [data.get("slot"), ((data.get("header") or {}).get("message") or {}).get("slot"),
                           (data.get("latest_block_header") or {}).get("slot")]  # fmt: skip
        candidates.append((doc.get("beacon_block_header") or {}).get("slot"))
    for value in candidates:
        if isinstance(value, str) and value:
            return int(value, 0) if value.startswith("0x") else int(value)
    return None


def frozen_head(proxy: FaultProxy) -> Fault:
    """A node whose head stops moving but which says it is in sync: `head` is the slot it had when the fault
    began, and anything newer is unknown to it (404 for a header, 500 for states and proofs, as beacon-kit
    answers for heights it lacks)."""
    frozen: list[int] = []

    async def fault(request: web.Request, body: bytes) -> web.StreamResponse | None:
        if not frozen:
            assert proxy.session is not None
            async with proxy.session.get(proxy.upstream + "/eth/v1/node/syncing") as response:
                frozen.append(int((await response.json())["data"]["head_slot"]))
        head = frozen[0]
        path = re.sub(r"/head(?=/|$)", f"/{head}", request.path)
        code, kind, data = await proxy.forward(request, body, path)
        if code != 200 or "json" not in kind:
            return web.Response(body=data, status=code, content_type=kind)
        doc = json.loads(data)
        if request.path == "/eth/v1/node/syncing":
            doc["data"].update(head_slot=str(head), sync_distance="0", is_syncing=False)
            return web.json_response(doc)
        slot = _served_slot(doc)
        if slot is not None and slot > head:
            missing = 404 if "/headers/" in request.path else 500
            return web.json_response({"code": missing, "message": f"failed to get state from height {slot}"},
                                     status=missing)  # fmt: skip
        return web.json_response(doc)

    return fault


def rpc_methods(methods: dict[str, Fault]) -> Fault:
    """Per JSON-RPC method: the fault for the methods named, the others forwarded."""

    async def fault(request: web.Request, body: bytes) -> web.StreamResponse | None:
        try:
            method = json.loads(body).get("method")
        except (ValueError, AttributeError):
            return None
        chosen = methods.get(method)
        return await chosen(request, body) if chosen else None

    return fault


def swallow_transactions() -> Fault:
    """eth_sendRawTransaction answered with a hash, never forwarded: the node says yes, nothing is mined."""

    async def fault(request: web.Request, body: bytes) -> web.StreamResponse:
        from eth_utils.crypto import keccak

        call = json.loads(body)
        tx_hash = "0x" + keccak(bytes.fromhex(call["params"][0][2:])).hex()
        return web.json_response({"jsonrpc": "2.0", "id": call["id"], "result": tx_hash})

    return fault


def rpc_error(message: str) -> Fault:
    async def fault(request: web.Request, body: bytes) -> web.StreamResponse:
        call = json.loads(body)
        return web.json_response({"jsonrpc": "2.0", "id": call["id"], "error": {"code": -32000, "message": message}})

    return fault


def wide_get_logs_fail(max_blocks: int, code: int = -32005,
                       message: str = "query returned more than 10000 results") -> Fault:  # fmt: skip
    """eth_getLogs over more than `max_blocks` refused, as hosted nodes do (each in its own words: Infura's by
    default)."""

    async def fault(request: web.Request, body: bytes) -> web.StreamResponse | None:
        call = json.loads(body)
        if call.get("method") != "eth_getLogs":
            return None
        query = call["params"][0]
        try:
            start, end = int(query.get("fromBlock", "0x0"), 16), int(query.get("toBlock", "latest"), 16)
        except ValueError:  # "latest" and other tags: as wide as can be
            start, end = 0, max_blocks + 1
        if end - start <= max_blocks:
            return None
        error = {"code": code, "message": message}
        return web.json_response({"jsonrpc": "2.0", "id": call["id"], "error": error})

    return fault


# Where each method names its block: a node behind answers those at its own head, and knows no later block.
BLOCK_PARAM = {"eth_call": 1, "eth_estimateGas": 1, "eth_getBalance": 1, "eth_getCode": 1,
               "eth_getTransactionCount": 1, "eth_getStorageAt": 2, "eth_feeHistory": 1,
               "eth_getBlockByNumber": 0}  # fmt: skip
BLOCK_TAGS = ("latest", "pending", "safe", "finalized")


def lagging(proxy: FaultProxy, blocks: int) -> Fault:
    """An EL node `blocks` behind the chain that says nothing of it, as a node catching up does: its
    eth_blockNumber and "latest" are its own head; eth_getLogs answers up to that head without an error (reth
    and geth clamp toBlock); a later block is unknown to it (null block, "header not found", no receipt)."""

    async def upstream_head() -> int:
        assert proxy.session is not None
        ask = {"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []}
        async with proxy.session.post(proxy.upstream, json=ask) as response:
            return int((await response.json())["result"], 16)

    async def fault(request: web.Request, body: bytes) -> web.StreamResponse | None:
        try:
            call = json.loads(body)
        except ValueError:
            return None
        if not isinstance(call, dict):
            return None
        method, params = call.get("method"), list(call.get("params") or [])
        head = await upstream_head() - blocks

        def answer(result: Any) -> web.StreamResponse:
            return web.json_response({"jsonrpc": "2.0", "id": call.get("id"), "result": result})

        if method == "eth_blockNumber":
            return answer(hex(head))
        if method == "eth_getLogs" and params and isinstance(params[0], dict):
            query = dict(params[0])
            start = query.get("fromBlock", "0x0")
            if isinstance(start, str) and start.startswith("0x") and int(start, 16) > head:
                return answer([])
            end = query.get("toBlock", "latest")
            if end in BLOCK_TAGS or (isinstance(end, str) and end.startswith("0x") and int(end, 16) > head):
                query["toBlock"] = hex(head)
            params[0] = query
        elif method in BLOCK_PARAM:
            where = BLOCK_PARAM[method]
            tag = params[where] if len(params) > where else "latest"
            if tag in BLOCK_TAGS:
                tag = hex(head)
            elif isinstance(tag, str) and tag.startswith("0x") and int(tag, 16) > head:
                if method == "eth_getBlockByNumber":
                    return answer(None)
                error = {"code": -32000, "message": "header not found"}
                return web.json_response({"jsonrpc": "2.0", "id": call.get("id"), "error": error})
            params = params + ["latest"] * (where + 1 - len(params))
            params[where] = tag
        code, kind, data = await proxy.forward(request, json.dumps({**call, "params": params}).encode())
        if method == "eth_getTransactionReceipt" and code == 200:
            receipt = json.loads(data).get("result")
            if isinstance(receipt, dict) and int(receipt.get("blockNumber", "0x0"), 16) > head:
                return answer(None)  # mined after its head: unknown to it
        return web.Response(body=data, status=code, content_type=kind)

    return fault


def rpc_rewrite(proxy: FaultProxy, method: str, change: Callable[[Any], Any]) -> Fault:
    """One JSON-RPC method's result rewritten by `change(result)` (a node that lies or lags); others forwarded."""

    async def fault(request: web.Request, body: bytes) -> web.StreamResponse | None:
        try:
            call = json.loads(body)
        except ValueError:
            return None
        if not isinstance(call, dict) or call.get("method") != method:
            return None
        code, _, data = await proxy.forward(request, body)
        answer = json.loads(data)
        if code == 200 and "result" in answer:
            answer["result"] = change(answer["result"])
        return web.json_response(answer, status=code)

    return fault

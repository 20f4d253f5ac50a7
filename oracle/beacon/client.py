"""Async Beacon API client: one `BeaconNode` per endpoint, retries bounded by time (tenacity) at this
boundary only, latency and errors in metrics. Answers are input like any other: shapes are checked and a
malformed answer is an `EndpointError` naming the endpoint and route."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import structlog
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from oracle import metrics, safejson
from oracle.metrics import endpoint_label

log = structlog.get_logger("oracle.beacon")
T = TypeVar("T")


# Caps on what one answer may hold: a node is input like any other, and a reply of hundreds of MB (or a
# Content-Length that claims so) must not take the daemon's memory.
MAX_JSON_BYTES = 32 << 20
MAX_STATE_BYTES = 2 << 30
# A structured error whose message says this is an answer, not an outage: beacon-kit says "not found" with 500.
_NOT_FOUND_WORDS = ("not found", "out of range", "no slot", "not supported for genesis")


class EndpointError(Exception):
    """A node that failed or answered nonsense. `retryable` errors are retried within the time budget."""

    def __init__(self, endpoint: str, route: str, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(f"{endpoint} {route}: {message}")
        self.endpoint = endpoint
        self.route = route
        self.status = status
        self.retryable = retryable


class NotFound(EndpointError):
    """A state, block, timestamp or validator the node does not have (pruned, missed slot, not yet, past the
    end): 404, or beacon-kit's 500 with a not-found message. An answer, never retried."""


@dataclass(frozen=True)
class Genesis:
    time: int
    validators_root: bytes
    fork_version: bytes


@dataclass(frozen=True)
class Header:
    """A block header; `root` is hash_tree_root of the message, computed here (beacon-kit's `data.root` is
    the body root, so the answer's own root is only cross-checked)."""

    slot: int
    proposer_index: int
    parent_root: bytes
    state_root: bytes
    body_root: bytes
    root: bytes


@dataclass(frozen=True)
class Syncing:
    head_slot: int
    is_syncing: bool
    distance: int


def _hex(value: Any, where: str, length: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"{where}: expected 0x-hex, got {str(value)[:40]!r}")
    data = bytes.fromhex(value[2:])
    if length is not None and len(data) != length:
        raise ValueError(f"{where}: expected {length} bytes, got {len(data)}")
    return data


def _uint(value: Any, where: str) -> int:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ValueError(f"{where}: expected a decimal string, got {str(value)[:40]!r}")


def _int(value: Any, where: str) -> int:
    """A signed decimal string (beacon-kit's sync distance is a difference of two heights)."""
    if isinstance(value, str) and value.lstrip("-").isdigit() and value.count("-") <= 1:
        return int(value)
    raise ValueError(f"{where}: expected a decimal string, got {str(value)[:40]!r}")


def _hex_uint(value: Any, where: str) -> int:
    """beacon-kit's numbers: 0x-hex strings."""
    if isinstance(value, str) and value.startswith("0x") and 2 < len(value) <= 18:
        return int(value, 16)
    raise ValueError(f"{where}: expected a 0x-hex number, got {str(value)[:40]!r}")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


# -- answers, parsed: plain functions of the decoded body (the conformance fixtures drive them) ---------------


def parse_genesis(body: Any) -> Genesis:
    d = _object(_object(body, "body")["data"], "data")
    return Genesis(
        _uint(d["genesis_time"], "genesis_time"),
        _hex(d["genesis_validators_root"], "genesis_validators_root", 32),
        _hex(d["genesis_fork_version"], "genesis_fork_version", 4),
    )


def parse_spec(body: Any) -> dict[str, str]:
    data = _object(_object(body, "body")["data"], "data")
    return {str(k): str(v) for k, v in data.items()}


def parse_syncing(body: Any) -> Syncing:
    d = _object(_object(body, "body")["data"], "data")
    if not isinstance(d["is_syncing"], bool):
        raise ValueError("is_syncing: expected true or false")
    return Syncing(_uint(d["head_slot"], "head_slot"), d["is_syncing"], _int(d["sync_distance"], "sync_distance"))


def header_root(slot: int, proposer_index: int, parent_root: bytes, state_root: bytes, body_root: bytes) -> bytes:
    """hash_tree_root(BeaconBlockHeader), on hashlib."""
    leaves = [
        slot.to_bytes(32, "little"),
        proposer_index.to_bytes(32, "little"),
        parent_root,
        state_root,
        body_root,
        b"\x00" * 32,
        b"\x00" * 32,
        b"\x00" * 32,
    ]
    while len(leaves) > 1:
        leaves = [hashlib.sha256(leaves[i] + leaves[i + 1]).digest() for i in range(0, len(leaves), 2)]
    return leaves[0]


def parse_header(body: Any) -> Header:
    d = _object(_object(body, "body")["data"], "data")
    m = _object(_object(d["header"], "header")["message"], "message")
    fields = (
        _uint(m["slot"], "slot"),
        _uint(m["proposer_index"], "proposer_index"),
        _hex(m["parent_root"], "parent_root", 32),
        _hex(m["state_root"], "state_root", 32),
        _hex(m["body_root"], "body_root", 32),
    )
    root = header_root(*fields)
    answered = _hex(d["root"], "root", 32)
    if answered not in (root, fields[4]):  # the block root (the spec), or the body root (beacon-kit)
        raise ValueError("root is neither the header's hash_tree_root nor its body root")
    return Header(*fields, root)


def parse_validators(body: Any) -> list[dict[str, Any]]:
    data = _object(body, "body")["data"]
    if not isinstance(data, list):
        raise ValueError("data: expected a list")
    out = []
    for entry in data:
        v = _object(_object(entry, "data[]")["validator"], "validator")
        out.append(
            {
                "index": _uint(entry["index"], "index"),
                "balance": _uint(entry["balance"], "balance"),
                "status": str(entry["status"]),
                "pubkey": _hex(v["pubkey"], "pubkey", 48),
                "withdrawal_credentials": _hex(v["withdrawal_credentials"], "withdrawal_credentials", 32),
                "exit_epoch": _uint(v["exit_epoch"], "exit_epoch"),
            }
        )
    return out


PROOF_KINDS = ("validator_pubkey", "validator_credentials", "validator_balance")


def parse_bkit_proof(kind: str, body: Any) -> dict[str, Any]:
    """beacon-kit's /bkit/v1/proof answers: no envelope, numbers as 0x-hex, the header as beacon-kit's own
    struct (`parent_block_root`)."""
    b = _object(body, "body")
    h = _object(b["beacon_block_header"], "beacon_block_header")
    parsed: dict[str, Any] = {
        "slot": _hex_uint(h["slot"], "beacon_block_header.slot"),
        "proposer_index": _hex_uint(h["proposer_index"], "beacon_block_header.proposer_index"),
        "parent_root": _hex(h["parent_block_root"], "beacon_block_header.parent_block_root", 32),
        "state_root": _hex(h["state_root"], "beacon_block_header.state_root", 32),
        "body_root": _hex(h["body_root"], "beacon_block_header.body_root", 32),
        "block_root": _hex(b["beacon_block_root"], "beacon_block_root", 32),
    }

    def branch(name: str) -> list[bytes]:
        nodes = b[name]
        if not isinstance(nodes, list) or len(nodes) > 128:
            raise ValueError(f"{name}: expected a list of at most 128 nodes")
        return [_hex(n, f"{name}[]", 32) for n in nodes]

    if kind == "validator_pubkey":
        parsed["pubkey"] = _hex(b["validator_pubkey"], "validator_pubkey", 48)
        parsed["proof"] = branch("validator_pubkey_proof")
    elif kind == "validator_credentials":
        parsed["credentials"] = _hex(b["validator_withdrawal_credentials"], "validator_withdrawal_credentials", 32)
        parsed["proof"] = branch("withdrawal_credentials_proof")
    elif kind == "validator_balance":
        parsed["balance"] = _hex_uint(b["validator_balance"], "validator_balance")
        parsed["leaf"] = _hex(b["balance_leaf"], "balance_leaf", 32)
        parsed["proof"] = branch("balance_proof")
    else:
        raise ValueError(f"unknown proof kind {kind!r}")
    return parsed


def error_class(status: int, body: bytes, content_type: str) -> tuple[type[EndpointError], bool, str]:
    """(error type, retryable, message) of an HTTP error answer. A structured `{"code","message"}` body is
    the application answering (beacon-kit answers 500 for what is not there): never retried, and a
    not-found message is NotFound. Gateways' 502/503/504, 429 and bare 500s are transient."""
    message = body[:300].decode(errors="replace")
    structured = False
    if "json" in content_type:
        try:
            parsed = safejson.loads(body[:65536])
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and "message" in parsed:
            message, structured = str(parsed["message"])[:300], True
    if status == 404 or (structured and any(word in message.lower() for word in _NOT_FOUND_WORDS)):
        return NotFound, False, message
    if structured and status == 500:
        return EndpointError, False, message
    return EndpointError, status >= 500 or status == 429, message


def decode_json(data: bytes) -> Any:
    """JSON from a node: ValueError for anything malformed, a deeply nested body included (safejson)."""
    return safejson.loads(data)


class BeaconNode:
    def __init__(self, url: str, session: aiohttp.ClientSession, timeout: float, retry_budget: float) -> None:
        self.url = url.rstrip("/")
        self.label = endpoint_label(url)
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.retry_budget = retry_budget

    async def _request(
        self,
        method: str,
        route: str,
        path: str,
        *,
        accept: str = "application/json",
        body: Any = None,
        timeout: aiohttp.ClientTimeout | None = None,
        max_bytes: int | None = None,
    ) -> tuple[bytes, str]:
        started = time.perf_counter()
        try:
            async with self.session.request(
                method,
                self.url + path,
                json=body,
                headers={"Accept": accept},
                timeout=timeout or self.timeout,
            ) as response:
                kind = response.content_type
                status = response.status
                cap = (max_bytes or MAX_JSON_BYTES) if status < 400 else 65536
                data = await _read_capped(response, cap, self.label, route)
        except (TimeoutError, aiohttp.ClientError) as exc:
            metrics.BEACON_ERRORS.labels(self.label, "connection").inc()
            reason = type(exc).__name__ if isinstance(exc, asyncio.TimeoutError) else str(exc) or type(exc).__name__
            raise EndpointError(self.label, route, f"request failed: {reason}", retryable=True) from None
        finally:
            metrics.BEACON_SECONDS.labels(self.label, route).observe(time.perf_counter() - started)
        if status >= 400:
            error_type, retryable, message = error_class(status, data, kind)
            metrics.BEACON_ERRORS.labels(self.label, str(status)).inc()
            raise error_type(self.label, route, f"HTTP {status}: {message}", status=status, retryable=retryable)
        return data, kind

    async def call(self, method: str, route: str, path: str, **kwargs: Any) -> tuple[bytes, str]:
        """A request with retries of transient failures, bounded by the retry budget in time."""
        retrying = AsyncRetrying(
            stop=stop_after_delay(self.retry_budget),
            wait=wait_exponential(multiplier=0.2, max=3),
            retry=retry_if_exception(lambda e: isinstance(e, EndpointError) and e.retryable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._request(method, route, path, **kwargs)
        raise AssertionError("unreachable")

    async def json(
        self,
        route: str,
        path: str,
        method: str = "GET",
        body: Any = None,
        retry: bool = True,
        **kwargs: Any,
    ) -> Any:
        if retry:
            data, kind = await self.call(method, route, path, body=body, **kwargs)
        else:  # a health probe: one attempt, so that a dead endpoint is set aside at once
            data, kind = await self._request(method, route, path, body=body, **kwargs)
        try:
            return decode_json(data)
        except ValueError as exc:
            metrics.BEACON_ERRORS.labels(self.label, "malformed").inc()
            raise EndpointError(self.label, route, f"answer is not JSON ({kind}): {exc}") from None

    def _shape(self, route: str, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            metrics.BEACON_ERRORS.labels(self.label, "malformed").inc()
            raise EndpointError(self.label, route, f"malformed answer: {exc}") from None

    # -- standard endpoints ----------------------------------------------------------------------------

    async def genesis(self, retry: bool = True) -> Genesis:
        return self._shape("genesis", parse_genesis, await self.json("genesis", "/eth/v1/beacon/genesis", retry=retry))

    async def spec(self, retry: bool = True) -> dict[str, str]:
        return self._shape("spec", parse_spec, await self.json("spec", "/eth/v1/config/spec", retry=retry))

    async def syncing(self, retry: bool = True) -> Syncing:
        return self._shape("syncing", parse_syncing, await self.json("syncing", "/eth/v1/node/syncing", retry=retry))

    async def header(self, block_id: str) -> Header:
        return self._shape("header", parse_header, await self.json("header", f"/eth/v1/beacon/headers/{block_id}"))

    async def validators(self, state_id: str, ids: list[str] | None = None) -> list[dict[str, Any]]:
        body = await self.json(
            "validators",
            f"/eth/v1/beacon/states/{state_id}/validators",
            method="POST",
            body={"ids": ids, "statuses": None},
        )
        return self._shape("validators", parse_validators, body)

    async def state_ssz(self, state_id: str, timeout: float = 600, fork: str | None = None) -> bytearray:
        """The state as SSZ (Ethereum clients), streamed into one buffer that the engine then reads in place
        (never held twice); progress is logged for large states. The buffer grows with what arrives: a
        Content-Length is a claim, not a reason to allocate."""
        route = "state"
        started = time.perf_counter()
        try:
            async with self.session.get(
                f"{self.url}/eth/v2/debug/beacon/states/{state_id}",
                headers={"Accept": "application/octet-stream"},
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                if response.status >= 400:
                    data = await _read_capped(response, 65536, self.label, route)
                    error_type, retryable, message = error_class(response.status, data, response.content_type)
                    metrics.BEACON_ERRORS.labels(self.label, str(response.status)).inc()
                    raise error_type(self.label, route, f"HTTP {response.status}: {message}",
                                     status=response.status, retryable=retryable)  # fmt: skip
                if response.content_type != "application/octet-stream":
                    raise EndpointError(
                        self.label, route, f"asked for SSZ, got {response.content_type} (beacon-kit serves JSON only)"
                    )
                size = response.content_length or 0
                if size > MAX_STATE_BYTES:
                    raise EndpointError(
                        self.label, route, f"state of {size} bytes exceeds the cap of {MAX_STATE_BYTES}"
                    )
                self._check_fork(response.headers.get("Eth-Consensus-Version"), fork)
                buffer = bytearray()
                received, next_log = 0, time.monotonic() + 5
                async for chunk in response.content.iter_chunked(1 << 20):
                    received += len(chunk)
                    if received > (size or MAX_STATE_BYTES):
                        raise EndpointError(self.label, route, f"state longer than {size or MAX_STATE_BYTES} bytes")
                    buffer += chunk
                    if time.monotonic() >= next_log:
                        log.info("downloading state", endpoint=self.label, state_id=state_id,
                                 megabytes=round(received / 1e6), of=round(size / 1e6) if size else None)  # fmt: skip
                        next_log = time.monotonic() + 5
                if size and received != size:
                    raise EndpointError(self.label, route, f"state cut short: {received} of {size} bytes")
        except (TimeoutError, aiohttp.ClientError) as exc:
            metrics.BEACON_ERRORS.labels(self.label, "connection").inc()
            raise EndpointError(self.label, route, f"request failed: {type(exc).__name__}", retryable=True) from None
        finally:
            metrics.BEACON_SECONDS.labels(self.label, route).observe(time.perf_counter() - started)
        return buffer

    def _check_fork(self, served: str | None, expected: str | None) -> None:
        """Ethereum clients name the state's fork in Eth-Consensus-Version: it must be the configured one."""
        if served and expected and served.lower() != expected:
            raise EndpointError(
                self.label,
                "state",
                f"the node serves a {served} state (Eth-Consensus-Version), the configured layout is for "
                f"{expected}: set layout: ethereum-{served.lower()} once the network has forked",
            )

    async def state_document(self, state_id: str, timeout: float = 600) -> Any:
        """The debug state as JSON, the whole response (beacon-kit serves no SSZ; its `version` names the fork)."""
        return await self.json(
            "state",
            f"/eth/v2/debug/beacon/states/{state_id}",
            timeout=aiohttp.ClientTimeout(total=timeout),
            max_bytes=MAX_STATE_BYTES,
        )

    # -- beacon-kit proofs -----------------------------------------------------------------------------

    async def bkit_proof(self, kind: str, timestamp_id: str, index: int) -> dict[str, Any]:
        route = f"bkit_{kind}"
        body = await self.json(route, f"/bkit/v1/proof/{kind}/{timestamp_id}/{index}")
        result: dict[str, Any] = self._shape(route, parse_bkit_proof, kind, body)
        return result


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int, label: str, route: str) -> bytes:
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise EndpointError(label, route, f"answer of {declared} bytes exceeds the cap of {max_bytes}")
    data = bytearray()
    async for chunk in response.content.iter_chunked(1 << 16):
        data += chunk
        if len(data) > max_bytes:
            raise EndpointError(label, route, f"answer longer than the cap of {max_bytes} bytes")
    return bytes(data)

"""Async Beacon API client: one `BeaconNode` per endpoint, retries bounded by time (tenacity) at this
boundary only, latency and errors in metrics. Answers are input like any other: shapes are checked and a
malformed answer is an `EndpointError` naming the endpoint and route."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from oracle.service import metrics
from oracle.service.metrics import endpoint_label

log = structlog.get_logger("oracle.beacon")


class EndpointError(Exception):
    """A node that failed or answered nonsense. `retryable` errors are retried within the time budget."""

    def __init__(self, endpoint: str, route: str, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(f"{endpoint} {route}: {message}")
        self.endpoint = endpoint
        self.route = route
        self.status = status
        self.retryable = retryable


class NotFound(EndpointError):
    """404: a state, block or validator the node does not have (pruned, missed slot, not yet)."""


@dataclass(frozen=True)
class Genesis:
    time: int
    validators_root: bytes
    fork_version: bytes


@dataclass(frozen=True)
class Header:
    slot: int
    proposer_index: int
    parent_root: bytes
    state_root: bytes
    body_root: bytes
    root: bytes


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


def _hex_uint(value: Any, where: str) -> int:
    """beacon-kit's numbers: 0x-hex strings."""
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ValueError(f"{where}: expected a 0x-hex number, got {str(value)[:40]!r}")


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
                data = await response.read()
                kind = response.content_type
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            metrics.BEACON_ERRORS.labels(self.label, "connection").inc()
            reason = type(exc).__name__ if isinstance(exc, asyncio.TimeoutError) else str(exc) or type(exc).__name__
            raise EndpointError(self.label, route, f"request failed: {reason}", retryable=True) from None
        finally:
            metrics.BEACON_SECONDS.labels(self.label, route).observe(time.perf_counter() - started)
        if status >= 400:
            message = data[:300].decode(errors="replace")
            if kind == "application/json":
                try:
                    parsed = json.loads(data)
                    message = str(parsed.get("message", message)) if isinstance(parsed, dict) else message
                except ValueError:
                    pass
            metrics.BEACON_ERRORS.labels(self.label, str(status)).inc()
            error_type = NotFound if status == 404 else EndpointError
            raise error_type(self.label, route, f"HTTP {status}: {message}", status=status, retryable=status >= 500)
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

    async def json(self, route: str, path: str, method: str = "GET", body: Any = None, retry: bool = True) -> Any:
        if retry:
            data, kind = await self.call(method, route, path, body=body)
        else:  # a health probe: one attempt, so that a dead endpoint is set aside at once
            data, kind = await self._request(method, route, path, body=body)
        try:
            return json.loads(data)
        except ValueError:
            metrics.BEACON_ERRORS.labels(self.label, "malformed").inc()
            raise EndpointError(self.label, route, f"answer is not JSON ({kind})") from None

    def _shape(self, route: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            metrics.BEACON_ERRORS.labels(self.label, "malformed").inc()
            raise EndpointError(self.label, route, f"malformed answer: {exc}") from None

    # -- standard endpoints ----------------------------------------------------------------------------

    async def genesis(self, retry: bool = True) -> Genesis:
        body = await self.json("genesis", "/eth/v1/beacon/genesis", retry=retry)

        def parse(b: Any) -> Genesis:
            d = b["data"]
            return Genesis(
                _uint(d["genesis_time"], "genesis_time"),
                _hex(d["genesis_validators_root"], "genesis_validators_root", 32),
                _hex(d["genesis_fork_version"], "genesis_fork_version", 4),
            )

        result: Genesis = self._shape("genesis", parse, body)
        return result

    async def spec(self) -> dict[str, str]:
        body = await self.json("spec", "/eth/v1/config/spec")

        def parse(b: Any) -> dict[str, str]:
            data = b["data"]
            if not isinstance(data, dict):
                raise ValueError("data is not an object")
            return {str(k): str(v) for k, v in data.items()}

        result: dict[str, str] = self._shape("spec", parse, body)
        return result

    async def syncing(self, retry: bool = True) -> tuple[int, bool, int]:
        """(head slot, is_syncing, sync distance)."""
        body = await self.json("syncing", "/eth/v1/node/syncing", retry=retry)

        def parse(b: Any) -> tuple[int, bool, int]:
            d = b["data"]
            return (
                _uint(d["head_slot"], "head_slot"),
                bool(d["is_syncing"]),
                _uint(d["sync_distance"], "sync_distance"),
            )

        result: tuple[int, bool, int] = self._shape("syncing", parse, body)
        return result

    async def header(self, block_id: str) -> Header:
        body = await self.json("header", f"/eth/v1/beacon/headers/{block_id}")

        def parse(b: Any) -> Header:
            d = b["data"]
            m = d["header"]["message"]
            return Header(
                _uint(m["slot"], "slot"),
                _uint(m["proposer_index"], "proposer_index"),
                _hex(m["parent_root"], "parent_root", 32),
                _hex(m["state_root"], "state_root", 32),
                _hex(m["body_root"], "body_root", 32),
                _hex(d["root"], "root", 32),
            )

        result: Header = self._shape("header", parse, body)
        return result

    async def finalized_epoch_root(self) -> tuple[int, bytes]:
        body = await self.json("finality_checkpoints", "/eth/v1/beacon/states/head/finality_checkpoints")

        def parse(b: Any) -> tuple[int, bytes]:
            f = b["data"]["finalized"]
            return _uint(f["epoch"], "epoch"), _hex(f["root"], "root", 32)

        result: tuple[int, bytes] = self._shape("finality_checkpoints", parse, body)
        return result

    async def validators(self, state_id: str, ids: list[str] | None = None) -> list[dict[str, Any]]:
        body = await self.json(
            "validators",
            f"/eth/v1/beacon/states/{state_id}/validators",
            method="POST",
            body={"ids": ids, "statuses": None},
        )

        def parse(b: Any) -> list[dict[str, Any]]:
            out = []
            for entry in b["data"]:
                v = entry["validator"]
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

        result: list[dict[str, Any]] = self._shape("validators", parse, body)
        return result

    async def state_ssz(self, state_id: str, timeout: float = 600) -> bytearray:
        """The state as SSZ (Ethereum clients), streamed into one buffer that the engine then reads in place
        (never held twice); progress is logged for large states."""
        route = "state"
        started = time.perf_counter()
        try:
            async with self.session.get(
                f"{self.url}/eth/v2/debug/beacon/states/{state_id}",
                headers={"Accept": "application/octet-stream"},
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                if response.status >= 400:
                    text = (await response.read())[:300].decode(errors="replace")
                    error_type = NotFound if response.status == 404 else EndpointError
                    metrics.BEACON_ERRORS.labels(self.label, str(response.status)).inc()
                    raise error_type(self.label, route, f"HTTP {response.status}: {text}", status=response.status)
                if response.content_type != "application/octet-stream":
                    raise EndpointError(
                        self.label, route, f"asked for SSZ, got {response.content_type} (beacon-kit serves JSON only)"
                    )
                size = response.content_length or 0
                buffer = bytearray(size) if size else bytearray()
                received, next_log = 0, time.monotonic() + 5
                async for chunk in response.content.iter_chunked(1 << 20):
                    if size and received + len(chunk) <= size:
                        buffer[received : received + len(chunk)] = chunk
                    else:
                        buffer += chunk
                    received += len(chunk)
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

    async def state_json(self, state_id: str, timeout: float = 600) -> Any:
        data, _ = await self.call(
            "GET",
            "state",
            f"/eth/v2/debug/beacon/states/{state_id}",
            timeout=aiohttp.ClientTimeout(total=timeout),
        )
        try:
            body = json.loads(data)
            return body["data"]
        except (ValueError, KeyError, TypeError):
            raise EndpointError(self.label, "state", "malformed state JSON") from None

    # -- beacon-kit proofs -----------------------------------------------------------------------------

    async def bkit_proof(self, kind: str, timestamp_id: str, index: int) -> dict[str, Any]:
        route = f"bkit_{kind}"
        body = await self.json(route, f"/bkit/v1/proof/{kind}/{timestamp_id}/{index}")

        def parse(b: Any) -> dict[str, Any]:
            h = b["beacon_block_header"]
            parsed: dict[str, Any] = {
                "slot": _hex_uint(h["slot"], "beacon_block_header.slot"),
                "proposer_index": _hex_uint(h["proposer_index"], "proposer_index"),
                "parent_root": _hex(h.get("parent_block_root", h.get("parent_root")), "parent_block_root", 32),
                "state_root": _hex(h["state_root"], "state_root", 32),
                "body_root": _hex(h["body_root"], "body_root", 32),
                "block_root": _hex(b["beacon_block_root"], "beacon_block_root", 32),
            }
            if kind == "validator_pubkey":
                parsed["pubkey"] = _hex(b["validator_pubkey"], "validator_pubkey", 48)
                parsed["proof"] = [_hex(n, "validator_pubkey_proof[]", 32) for n in b["validator_pubkey_proof"]]
            elif kind == "validator_credentials":
                parsed["credentials"] = _hex(b["validator_withdrawal_credentials"], "credentials", 32)
                parsed["proof"] = [
                    _hex(n, "withdrawal_credentials_proof[]", 32) for n in b["withdrawal_credentials_proof"]
                ]
            else:
                parsed["balance"] = _hex_uint(b["validator_balance"], "validator_balance")
                parsed["leaf"] = _hex(b["balance_leaf"], "balance_leaf", 32)
                parsed["proof"] = [_hex(n, "balance_proof[]", 32) for n in b["balance_proof"]]
            return parsed

        result: dict[str, Any] = self._shape(route, parse, body)
        return result

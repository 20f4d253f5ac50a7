"""Execution-layer access: one AsyncWeb3 per endpoint, used in order of preference, each call timed and
counted per endpoint; contract wrappers know their contract and nothing else."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, TypeVar

import aiohttp
from eth_utils.crypto import keccak
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import ContractCustomError, ContractLogicError, Web3Exception

from oracle import metrics, safejson
from oracle.execution.deposits import (
    DEPOSIT_TOPICS,
    DepositLog,
    DepositLogError,
    decode_deposit_count,
    decode_deposit_log,
)
from oracle.metrics import endpoint_label

BEACON_ROOTS = "0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02"
T = TypeVar("T")
MAX_RESPONSE_BYTES = 64 << 20  # eth_getLogs over a few thousand blocks stays far below


class ExecutionError(Exception):
    """An EL endpoint that failed, or a call that reverted (with its decoded reason)."""

    def __init__(self, message: str, *, endpoint: str = "", reason: str | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.reason = reason


@cache
def abi(name: str) -> list[dict[str, Any]]:
    text = resources.files("oracle.execution").joinpath("abi").joinpath(f"{name}.json").read_text()
    loaded: list[dict[str, Any]] = json.loads(text)
    return loaded


@cache
def error_selectors() -> dict[str, str]:
    """4-byte selector -> error signature, over every ABI the daemon knows."""
    out = {}
    for name in (
        "AccountingOracle",
        "StakingPoolContractsFactory",
        "StakingPool",
        "WithdrawalVault",
        "SSZErrors",
        "Ownable",
        "BeaconDeposit",
    ):
        for entry in abi(name):
            if entry["type"] == "error":
                signature = f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"
                out["0x" + keccak(text=signature)[:4].hex()] = signature
    out["0x08c379a0"] = "Error(string)"
    out["0x4e487b71"] = "Panic(uint256)"
    return out


def decode_revert(data: Any) -> str:
    """The revert reason's error name, by selector; the raw selector if unknown."""
    text = data if isinstance(data, str) else ("0x" + bytes(data).hex() if data else "0x")
    selector = text[:10].lower()
    if len(selector) < 10:
        return "revert without reason"
    return error_selectors().get(selector, f"unknown error {selector}").split("(")[0]


class TransportError(Web3Exception):
    """An EL endpoint that did not answer usefully (connection, HTTP status, size, malformed body). The
    message names the endpoint by host:port only: URLs often carry API keys."""


class GuardedHTTPProvider(AsyncHTTPProvider):
    """web3's HTTP provider with what an oracle needs of it: one attempt per call (web3 retries five times
    by default, multiplying every timeout; failover is ours), HTTP errors (429, 5xx) raised as
    TransportError without the URL (aiohttp's ClientResponseError carries it, API key and all), answers
    capped in size, and JSON measured before it is decoded (safejson)."""

    def __init__(self, url: str, timeout: float) -> None:
        super().__init__(url, exception_retry_configuration=None)
        self.label = endpoint_label(url)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def _make_request(self, method: Any, request_data: bytes) -> bytes:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        where = f"{self.label} {method}"
        try:
            async with self._session.post(
                str(self.endpoint_uri), data=request_data, headers=self.get_request_headers(), timeout=self._timeout
            ) as response:
                if response.status >= 400:
                    raise TransportError(f"{where}: HTTP {response.status}")
                if (response.content_length or 0) > MAX_RESPONSE_BYTES:
                    raise TransportError(f"{where}: answer of {response.content_length} bytes exceeds the cap")
                body = bytearray()
                async for chunk in response.content.iter_chunked(1 << 16):
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise TransportError(f"{where}: answer longer than {MAX_RESPONSE_BYTES} bytes")
                if safejson.nesting_depth(body) > safejson.MAX_DEPTH:  # would overflow web3's JSON decoder
                    raise TransportError(f"{where}: answer nests deeper than {safejson.MAX_DEPTH} levels")
                return bytes(body)
        except aiohttp.ClientError as exc:
            raise TransportError(f"{where}: {type(exc).__name__}") from None
        except TimeoutError:
            raise TransportError(f"{where}: timed out") from None

    async def disconnect(self) -> None:
        if self._session is not None:
            await self._session.close()
        await super().disconnect()


@dataclass
class ExecutionEndpoint:
    url: str
    w3: AsyncWeb3[Any]

    @property
    def label(self) -> str:
        return endpoint_label(self.url)


class ExecutionClient:
    def __init__(self, urls: list[str] | tuple[str, ...], timeout: float) -> None:
        self.endpoints = [ExecutionEndpoint(url, AsyncWeb3(GuardedHTTPProvider(url, timeout))) for url in urls]
        self.healthy: list[ExecutionEndpoint] = list(self.endpoints)

    @property
    def primary(self) -> ExecutionEndpoint:
        if not self.healthy:
            raise ExecutionError("no healthy execution endpoint")
        return self.healthy[0]

    @property
    def w3(self) -> AsyncWeb3[Any]:
        return self.primary.w3

    async def timed(self, method: str, call: Callable[[AsyncWeb3[Any]], Awaitable[T]]) -> T:
        """Run `call` on the preferred healthy endpoint, then the next ones if it fails."""
        errors = []
        for endpoint in list(self.healthy) or list(self.endpoints):
            started = time.perf_counter()
            try:
                return await call(endpoint.w3)
            except (ContractCustomError, ContractLogicError):
                raise  # a revert is an answer, not an endpoint failure
            # TypeError, AttributeError, KeyError, IndexError: web3 meeting an answer of the wrong shape.
            except (Web3Exception, OSError, TimeoutError, ValueError, aiohttp.ClientError, TypeError, AttributeError,
                    KeyError, IndexError) as exc:  # fmt: skip
                reason = type(exc).__name__
                metrics.EL_ERRORS.labels(endpoint.label, reason).inc()
                errors.append(f"{endpoint.label}: {reason}: {str(exc)[:160]}")
            finally:
                metrics.EL_SECONDS.labels(endpoint.label, method).observe(time.perf_counter() - started)
        raise ExecutionError(f"{method} failed on every endpoint: {'; '.join(errors)}")

    async def close(self) -> None:
        for endpoint in self.endpoints:
            with contextlib.suppress(Exception):  # closing on shutdown
                await endpoint.w3.provider.disconnect()

    # -- reads ----------------------------------------------------------------------------------------

    async def chain_id(self) -> int:
        return await self.timed("eth_chainId", lambda w3: w3.eth.chain_id)

    async def block(self, tag: str | int = "latest") -> dict[str, Any]:
        block = await self.timed("eth_getBlockByNumber", lambda w3: w3.eth.get_block(tag))  # type: ignore[arg-type]
        return dict(block)

    async def seconds_per_block(self, latest: dict[str, Any], sample: int) -> float | None:
        """The average block time over the `sample` blocks before `latest`, or over the last one when the node
        does not serve that far back (history expiry, a chain whose first block is not 0); None if neither."""
        number = int(latest["number"])
        for back in (sample, 1):
            try:
                earlier = await self.block(max(0, number - back))
            except ExecutionError:
                continue
            span, blocks = int(latest["timestamp"]) - int(earlier["timestamp"]), number - int(earlier["number"])
            if blocks > 0 and span > 0:
                return span / blocks
        return None

    async def balance(self, address: str) -> int:
        return await self.timed("eth_getBalance", lambda w3: w3.eth.get_balance(AsyncWeb3.to_checksum_address(address)))

    async def beacon_root(self, timestamp: int) -> bytes | None:
        """The EIP-4788 root keyed by `timestamp`, or None when the contract holds none for it."""
        tx = {
            "to": AsyncWeb3.to_checksum_address(BEACON_ROOTS),
            "data": "0x" + timestamp.to_bytes(32, "big").hex(),
        }
        try:
            result = await self.timed("eth_call", lambda w3: w3.eth.call(tx))  # type: ignore[arg-type]
        except (ContractLogicError, ContractCustomError):
            return None
        data = bytes(result)
        return data if len(data) == 32 and any(data) else None

    async def code_size(self, address: str) -> int:
        code = await self.timed("eth_getCode", lambda w3: w3.eth.get_code(AsyncWeb3.to_checksum_address(address)))
        return len(code)

    def contract(self, name: str, address: str, w3: AsyncWeb3[Any] | None = None) -> AsyncContract:
        contract: AsyncContract = (w3 or self.w3).eth.contract(
            address=AsyncWeb3.to_checksum_address(address), abi=abi(name)
        )
        return contract

    async def view(self, name: str, address: str, function: str, *args: Any, block: str | int = "latest") -> Any:
        """Call a view function on the preferred endpoint (falling back); reverts raise ExecutionError."""

        async def call(w3: AsyncWeb3[Any]) -> Any:
            fn = getattr(self.contract(name, address, w3).functions, function)(*args)
            return await fn.call(block_identifier=block)

        try:
            return await self.timed("eth_call", call)
        except (ContractCustomError, ContractLogicError) as exc:
            reason = decode_revert(getattr(exc, "data", None))
            raise ExecutionError(f"{name}.{function} reverted: {reason}", reason=reason) from None

    async def logs(self, name: str, address: str, event: str, from_block: int, to_block: int) -> list[Any]:
        async def fetch(w3: AsyncWeb3[Any]) -> Any:
            contract_event = getattr(self.contract(name, address, w3).events, event)
            return await contract_event.get_logs(from_block=from_block, to_block=to_block)

        result: list[Any] = list(await self.timed("eth_getLogs", fetch))
        return result

    async def raw_logs(
        self, from_block: int, to_block: int, *, topic: str | tuple[str, ...] | None = None,
        addresses: list[str] | None = None,
    ) -> list[Any]:  # fmt: skip
        """Raw logs of a block range: those whose first topic is `topic` (or any of several), of the contracts
        in `addresses` (one filter for many contracts), or both."""
        query = _log_query(from_block, to_block, topic, addresses)
        result: list[Any] = list(await self.timed("eth_getLogs", lambda w3: w3.eth.get_logs(query)))  # type: ignore[arg-type]
        return result

    async def deposits(self, address: str, from_block: int, to_block: int) -> list[DepositLog]:
        """The deposit contract's deposits, Berachain's `Deposit` or Ethereum's `DepositEvent` (one query).
        A log that does not decode is the endpoint's failure (DepositLogError is a ValueError): the next
        endpoint is asked."""
        query = _log_query(from_block, to_block, DEPOSIT_TOPICS, [address])

        async def fetch(w3: AsyncWeb3[Any]) -> list[DepositLog]:
            return [decode_deposit_log(entry) for entry in await w3.eth.get_logs(query)]  # type: ignore[arg-type]

        return await self.timed("eth_getLogs", fetch)

    async def deposit_count(self, address: str, block: str | int = "latest") -> int:
        """How many deposits the contract has taken: Berachain's `depositCount()`, else Ethereum's
        `get_deposit_count()`."""
        try:
            return decode_deposit_count(await self.view("BeaconDeposit", address, "depositCount", block=block))
        except ExecutionError as berachain:
            try:
                value = await self.view("EthereumDepositContract", address, "get_deposit_count", block=block)
                return decode_deposit_count(value)
            except (ExecutionError, DepositLogError):
                raise berachain from None


def _log_query(from_block: int, to_block: int, topic: str | tuple[str, ...] | None,
               addresses: list[str] | None) -> dict[str, Any]:  # fmt: skip
    query: dict[str, Any] = {"fromBlock": from_block, "toBlock": to_block}
    if topic is not None:
        query["topics"] = [topic if isinstance(topic, str) else list(topic)]
    if addresses is not None:
        query["address"] = [AsyncWeb3.to_checksum_address(a) for a in addresses]
    return query

"""Execution-layer access: one AsyncWeb3 per endpoint, used in order of preference, each call timed and
counted per endpoint; contract wrappers know their contract and nothing else."""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, TypeVar

import aiohttp
import structlog
from eth_utils.crypto import keccak
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import ContractCustomError, ContractLogicError, Web3Exception, Web3RPCError

from oracle import metrics, safejson
from oracle.execution.deposits import (
    DEPOSIT_TOPICS,
    DepositLog,
    DepositLogError,
    decode_deposit_count,
    decode_deposit_log,
)
from oracle.metrics import endpoint_label, endpoint_labels

BEACON_ROOTS = "0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02"
T = TypeVar("T")
MAX_RESPONSE_BYTES = 64 << 20  # eth_getLogs over a few thousand blocks stays far below
DEFAULT_LOG_RANGE_BLOCKS = 10_000  # the widest eth_getLogs range most providers serve
MIN_LOG_RANGE_BLOCKS = 8  # refusals halve an endpoint's ranges down to this; refused at it, the endpoint failed
# How providers say an eth_getLogs range is too wide, or its answer too long (Infura, Alchemy, QuickNode, Ankr,
# geth forks, Erigon, reth); -32005 is EIP-1474's "limit exceeded".
RANGE_REFUSALS = (
    "query returned more than", "block range", "range too large", "range is too large", "range too wide",
    "range is too wide", "exceed maximum block range", "limit exceeded", "too many blocks", "response size exceeded",
)  # fmt: skip
# Rate limits, which some providers also send as -32005: a narrower range would only mean more requests.
RATE_LIMITS = ("rate limit", "request rate", "request count", "too many requests", "rate exceeded")
log = structlog.get_logger("oracle.execution")


class ExecutionError(Exception):
    """An EL endpoint that failed, or a call that reverted (with its decoded reason)."""

    def __init__(self, message: str, *, endpoint: str = "", reason: str | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.reason = reason


class EndpointBehind(Exception):
    """An endpoint whose head is before the block a read is about: its answer would be about an older chain
    (eth_getLogs clamps toBlock to the node's head without an error), so it is not taken."""

    def __init__(self, head: int, block: int) -> None:
        super().__init__(f"its head {head} is before block {block}")
        self.head, self.block = head, block


class FeeHistoryError(ValueError):
    """An eth_feeHistory answer of the wrong shape (a ValueError: that endpoint's failure, the next is asked)."""


@dataclass(frozen=True)
class FeeHistory:
    next_base_fee: int  # the base fee of the block after the newest one
    tips: tuple[int, ...]  # the asked percentile's priority fee in each block that has one


def _fee(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise FeeHistoryError(f"eth_feeHistory {where} is {str(value)[:40]!r}, not a fee")


def parse_fee_history(history: Any) -> FeeHistory:
    """web3's formatted eth_feeHistory answer, checked: baseFeePerGas a non-empty list of fees (its last is the
    next block's), reward (optional) a list of lists of fees."""
    if not isinstance(history, Mapping):
        raise FeeHistoryError(f"eth_feeHistory answer is {type(history).__name__}, not an object")
    base_fees = history.get("baseFeePerGas")
    if not isinstance(base_fees, list | tuple) or not base_fees:
        raise FeeHistoryError(f"eth_feeHistory baseFeePerGas is {str(base_fees)[:40]!r}, not a non-empty list")
    rewards = history.get("reward", [])
    if not isinstance(rewards, list | tuple) or not all(isinstance(r, list | tuple) for r in rewards):
        raise FeeHistoryError(f"eth_feeHistory reward is {str(rewards)[:40]!r}, not a list of lists")
    tips = tuple(_fee(r[0], "reward") for r in rewards if r)
    return FeeHistory(_fee(base_fees[-1], "baseFeePerGas"), tips)


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
        "WithdrawalVaultPoLNext",
        "SSZErrors",
        "Ownable",
        "BeaconDeposit",
        "ValidatorSetPool",
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

    def __init__(self, url: str, timeout: float, label: str | None = None) -> None:
        super().__init__(url, exception_retry_configuration=None)
        self.label = label or endpoint_label(url)
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
    label: str  # metrics.endpoint_labels: host:port, unique among the endpoints
    log_range: int = DEFAULT_LOG_RANGE_BLOCKS  # the widest eth_getLogs range it serves, narrowed by its refusals
    head: int = -1  # the newest block it has shown (since check_endpoints reset it): a lower bound of its head


LogFetch = Callable[[AsyncWeb3[Any], int, int], Awaitable[list[Any]]]  # (w3, from, to) -> that range's logs


class ExecutionClient:
    def __init__(self, urls: list[str] | tuple[str, ...], timeout: float, *,
                 log_range_blocks: int = DEFAULT_LOG_RANGE_BLOCKS) -> None:  # fmt: skip
        self.endpoints = [
            ExecutionEndpoint(url, AsyncWeb3(GuardedHTTPProvider(url, timeout, label)), label, log_range_blocks)
            for url, label in zip(urls, endpoint_labels(urls), strict=True)
        ]
        self.healthy: list[ExecutionEndpoint] = list(self.endpoints)
        self.min_log_range = min(MIN_LOG_RANGE_BLOCKS, log_range_blocks)

    @property
    def highest_head(self) -> int:
        """The newest block any endpoint has shown: a read pinned at or past it is about a chain no older than
        any block a decision of this cycle was taken at."""
        return max((endpoint.head for endpoint in self.endpoints), default=-1)

    @staticmethod
    def saw_head(endpoint: ExecutionEndpoint, number: int) -> None:
        endpoint.head = max(endpoint.head, number)

    @property
    def primary(self) -> ExecutionEndpoint:
        if not self.healthy:
            raise ExecutionError("no healthy execution endpoint")
        return self.healthy[0]

    @property
    def w3(self) -> AsyncWeb3[Any]:
        return self.primary.w3

    async def timed(self, method: str, call: Callable[[AsyncWeb3[Any]], Awaitable[T]], *,
                    at_least: int | None = None) -> T:  # fmt: skip
        """Run `call` on the preferred healthy endpoint, then the next ones if it fails. With `at_least` (the
        block the answer is about), only on endpoints whose head is at or past that block."""
        return await self._failover(method, lambda endpoint: call(endpoint.w3), at_least)

    async def _failover(self, method: str, call: Callable[[ExecutionEndpoint], Awaitable[T]],
                        at_least: int | None = None) -> T:  # fmt: skip
        errors = []
        for endpoint in list(self.healthy) or list(self.endpoints):
            try:
                if at_least is not None:
                    await self._require_head(endpoint, at_least)
                started = time.perf_counter()
                try:
                    return await call(endpoint)
                finally:
                    metrics.EL_SECONDS.labels(endpoint.label, method).observe(time.perf_counter() - started)
            except (ContractCustomError, ContractLogicError):
                raise  # a revert is an answer, not an endpoint failure
            except EndpointBehind as exc:
                metrics.EL_ERRORS.labels(endpoint.label, "behind").inc()
                log.warning("execution endpoint behind the block asked about: its answer is not taken",
                            endpoint=endpoint.label, method=method, head=exc.head, block=exc.block)  # fmt: skip
                errors.append(f"{endpoint.label}: behind: {exc}")
            # TypeError, AttributeError, KeyError, IndexError: web3 meeting an answer of the wrong shape.
            except (Web3Exception, OSError, TimeoutError, ValueError, aiohttp.ClientError, TypeError, AttributeError,
                    KeyError, IndexError) as exc:  # fmt: skip
                reason = type(exc).__name__
                metrics.EL_ERRORS.labels(endpoint.label, reason).inc()
                errors.append(f"{endpoint.label}: {reason}: {str(exc)[:160]}")
        raise ExecutionError(f"{method} failed on every endpoint: {'; '.join(errors)}")

    async def _require_head(self, endpoint: ExecutionEndpoint, block: int) -> None:
        """Raise EndpointBehind unless `endpoint`'s head is at or past `block` (asked only when the head it
        has shown is older)."""
        if endpoint.head >= block:
            return
        started = time.perf_counter()
        try:
            head = int(await endpoint.w3.eth.block_number)
        finally:
            metrics.EL_SECONDS.labels(endpoint.label, "eth_blockNumber").observe(time.perf_counter() - started)
        self.saw_head(endpoint, head)
        if head < block:
            raise EndpointBehind(head, block)

    async def close(self) -> None:
        for endpoint in self.endpoints:
            with contextlib.suppress(Exception):  # closing on shutdown
                await endpoint.w3.provider.disconnect()

    # -- reads ----------------------------------------------------------------------------------------

    async def chain_id(self) -> int:
        return await self.timed("eth_chainId", lambda w3: w3.eth.chain_id)

    async def block(self, tag: str | int = "latest") -> dict[str, Any]:
        async def fetch(endpoint: ExecutionEndpoint) -> dict[str, Any]:
            block: dict[str, Any] = dict(await endpoint.w3.eth.get_block(tag))  # type: ignore[arg-type]
            if tag == "latest":
                self.saw_head(endpoint, int(block["number"]))
            return block

        return await self._failover("eth_getBlockByNumber", fetch)

    async def pinned_head(self, at_least: int) -> int:
        """The latest block number of the first endpoint whose latest is at or past `at_least`: reads pinned
        to it (rather than "latest", which each endpoint answers at its own head) are about a chain that
        has every block up to `at_least`."""

        async def ask(endpoint: ExecutionEndpoint) -> int:
            head = int(await endpoint.w3.eth.block_number)
            self.saw_head(endpoint, head)
            if head < at_least:
                raise EndpointBehind(head, at_least)
            return head

        return await self._failover("eth_blockNumber", ask)

    async def fee_history(self, blocks: int, percentile: float) -> FeeHistory:
        """eth_feeHistory of the `blocks` newest blocks at one reward percentile, checked inside the failover:
        an answer of the wrong shape is its endpoint's failure."""

        async def fetch(w3: AsyncWeb3[Any]) -> FeeHistory:
            return parse_fee_history(await w3.eth.fee_history(blocks, "latest", [percentile]))

        return await self.timed("eth_feeHistory", fetch)

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
        """Call a view function on the preferred endpoint (falling back); reverts raise ExecutionError. At a
        block number, only endpoints at or past it are asked."""

        async def call(w3: AsyncWeb3[Any]) -> Any:
            fn = getattr(self.contract(name, address, w3).functions, function)(*args)
            return await fn.call(block_identifier=block)

        try:
            return await self.timed("eth_call", call, at_least=block if isinstance(block, int) else None)
        except (ContractCustomError, ContractLogicError) as exc:
            reason = decode_revert(getattr(exc, "data", None))
            raise ExecutionError(f"{name}.{function} reverted: {reason}", reason=reason) from None

    async def logs(self, name: str, address: str, event: str, from_block: int, to_block: int) -> list[Any]:
        async def fetch(w3: AsyncWeb3[Any], start: int, end: int) -> list[Any]:
            contract_event = getattr(self.contract(name, address, w3).events, event)
            return list(await contract_event.get_logs(from_block=start, to_block=end))

        return await self._ranged_logs(fetch, from_block, to_block)

    async def raw_logs(
        self, from_block: int, to_block: int, *, topic: str | tuple[str, ...] | None = None,
        addresses: list[str] | None = None,
    ) -> list[Any]:  # fmt: skip
        """Raw logs of a block range: those whose first topic is `topic` (or any of several), of the contracts
        in `addresses` (one filter for many contracts), or both."""
        query = _log_query(topic, addresses)

        async def fetch(w3: AsyncWeb3[Any], start: int, end: int) -> list[Any]:
            return list(await w3.eth.get_logs({**query, "fromBlock": start, "toBlock": end}))  # type: ignore[typeddict-item]

        return await self._ranged_logs(fetch, from_block, to_block)

    async def deposits(self, address: str, from_block: int, to_block: int) -> list[DepositLog]:
        """The deposit contract's deposits, Berachain's `Deposit` or Ethereum's `DepositEvent` (one query).
        A log that does not decode is the endpoint's failure (DepositLogError is a ValueError): the next
        endpoint is asked."""
        query = _log_query(DEPOSIT_TOPICS, [address])

        async def fetch(w3: AsyncWeb3[Any], start: int, end: int) -> list[Any]:
            entries = await w3.eth.get_logs({**query, "fromBlock": start, "toBlock": end})  # type: ignore[typeddict-item]
            return [decode_deposit_log(entry) for entry in entries]

        return await self._ranged_logs(fetch, from_block, to_block)

    async def _ranged_logs(self, fetch: LogFetch, from_block: int, to_block: int) -> list[Any]:
        """eth_getLogs over from_block..to_block, in ranges as wide as each endpoint serves, each answer from an
        endpoint whose head is at or past to_block: a node behind answers up to its own head without an error,
        and the window would pass for read while missing its newest blocks."""
        out: list[Any] = []
        start = from_block
        while start <= to_block:
            entries, start = await self._failover(
                "eth_getLogs", functools.partial(self._logs_from, fetch, start, to_block), at_least=to_block
            )
            out += entries
        return out

    async def _logs_from(self, fetch: LogFetch, start: int, to_block: int,
                         endpoint: ExecutionEndpoint) -> tuple[list[Any], int]:  # fmt: skip
        """The logs of one range from `start`, as wide as `endpoint` serves (halved on each refusal, remembered
        for the life of the process), and the block after it."""
        while True:
            end = min(to_block, start + endpoint.log_range - 1)
            try:
                return await fetch(endpoint.w3, start, end), end + 1
            except Web3RPCError as exc:
                width = end - start + 1
                if width <= self.min_log_range or not is_range_refusal(exc):
                    raise
                endpoint.log_range = max(self.min_log_range, min(endpoint.log_range, width) // 2)
                metrics.EL_ERRORS.labels(endpoint.label, "range_refused").inc()
                log.warning("eth_getLogs range refused: narrower ranges from this endpoint from now on",
                            endpoint=endpoint.label, refused_blocks=width, blocks=endpoint.log_range)  # fmt: skip

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


def is_range_refusal(exc: Web3RPCError) -> bool:
    """Whether a JSON-RPC error says the eth_getLogs range (or its answer) was too large, in any provider's
    words."""
    response: Any = exc.rpc_response
    error = response.get("error") if isinstance(response, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    message = str(error.get("message", "") if isinstance(error, dict) else exc.message).lower()
    if any(text in message for text in RATE_LIMITS):
        return False
    if code == -32005 or any(text in message for text in RANGE_REFUSALS):
        return True
    return code == -32602 and "range" in message


def _log_query(topic: str | tuple[str, ...] | None, addresses: list[str] | None) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if topic is not None:
        query["topics"] = [topic if isinstance(topic, str) else list(topic)]
    if addresses is not None:
        query["address"] = [AsyncWeb3.to_checksum_address(a) for a in addresses]
    return query

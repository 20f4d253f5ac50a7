"""Async Beacon API client: one `BeaconNode` per endpoint, retries bounded by time (tenacity) at this
boundary only, latency and errors in metrics, answers capped in size. Answers are input like any other:
their shapes are checked in `answers`, and a malformed one is an `EndpointError` naming endpoint and route."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import aiohttp
import structlog
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from oracle import metrics
from oracle.beacon.answers import (
    EndpointError,
    Genesis,
    Header,
    Syncing,
    decode_json,
    decode_json_in_worker,
    error_class,
    parse_bkit_proof,
    parse_compact_proof,
    parse_genesis,
    parse_header,
    parse_spec,
    parse_syncing,
    parse_validators,
)
from oracle.metrics import endpoint_label
from oracle.ssz.compact import (
    LODESTAR_MAX_DESCRIPTOR_BYTES,
    block_to_state_gindex,
    compute_descriptor,
    decode_compact_proof,
    in_order,
    leaves_for,
    nodes_from_compact,
    split_for_cap,
    state_to_block_gindex,
)
from oracle.ssz.layouts import Layout

log = structlog.get_logger("oracle.beacon")
T = TypeVar("T")


# Caps on what one answer may hold: a node is input like any other, and a reply of hundreds of MB (or a
# Content-Length that claims so) must not take the daemon's memory. An SSZ state is read into one buffer, as
# large as Ethereum's grow; beacon-kit's JSON state costs ~5x its size once decoded, so it has a cap of its own
# (endpoints.max_json_state_megabytes).
MAX_JSON_BYTES = 32 << 20
MAX_STATE_BYTES = 2 << 30
MAX_JSON_STATE_BYTES = 64 << 20
# Lodestar's compact state proof holds at most 10000 leaves: 320 kB as SSZ, under 700 kB as JSON.
MAX_COMPACT_PROOF_BYTES = 1 << 20
# What a node answers that does not serve a route: a Lodestar without the proof namespace (not in its
# defaults), any other client, a gateway's 405 or 501.
_NOT_SERVED = (404, 405, 501)
# aiohttp errors whose text names host:port at most; any other's text may hold the URL, path and API key
# included (TooManyRedirects, InvalidURL, ClientResponseError), and only its class is said.
_PLAIN_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)


class BeaconNode:
    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession,
        timeout: float,
        retry_budget: float,
        *,
        label: str | None = None,
        max_json_state_bytes: int = MAX_JSON_STATE_BYTES,
    ) -> None:
        self.url = url.rstrip("/")
        self.label = label or endpoint_label(url)  # metrics.endpoint_labels: unique among the endpoints
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.retry_budget = retry_budget
        self.max_json_state_bytes = max_json_state_bytes

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
        cap_setting: str = "",
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
                data = await _read_capped(response, cap, self.label, route, cap_setting if status < 400 else "")
        except (TimeoutError, aiohttp.ClientError) as exc:
            metrics.BEACON_ERRORS.labels(self.label, "connection").inc()
            raise EndpointError(self.label, route, f"request failed: {_reason(exc)}", retryable=True) from None
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
        """The debug state as JSON, the whole response (beacon-kit serves no SSZ; its `version` names the fork),
        under its own cap and decoded in a worker thread, so that the loop (and /healthz) answers meanwhile."""
        route = "state"
        data, kind = await self.call("GET", route, f"/eth/v2/debug/beacon/states/{state_id}",
                                     timeout=aiohttp.ClientTimeout(total=timeout), max_bytes=self.max_json_state_bytes,
                                     cap_setting="endpoints.max_json_state_megabytes")  # fmt: skip
        try:
            return await asyncio.to_thread(decode_json_in_worker, data)
        except ValueError as exc:
            metrics.BEACON_ERRORS.labels(self.label, "malformed").inc()
            raise EndpointError(self.label, route, f"answer is not JSON ({kind}): {exc}") from None

    # -- Lodestar's compact state proofs ---------------------------------------------------------------

    async def compact_state_proof(
        self,
        state_id: str,
        gindices: Sequence[int],
        state_root: bytes,
        layout: Layout,
        *,
        max_descriptor_bytes: int = LODESTAR_MAX_DESCRIPTOR_BYTES,
    ) -> dict[int, bytes] | None:
        """The nodes a Lodestar node's compact multiproofs (GET /eth/v0/beacon/proof/state/{state_id}) give
        for `gindices` (from the block root, as layouts.Layout.gindex): every node they determine, by block-root
        gindex, each answer's root checked against the `state_root` the caller anchors. Requests are split to
        keep each descriptor within `max_descriptor_bytes` (Lodestar's cap: 2 * --api.maxGindicesInProof), and
        halved again if the node refuses one as too large. None when the node does not serve the route (404,
        405, 501: also a Lodestar whose state is not there), for the caller to fall back to the full state."""
        route = "state_proof"
        wanted = [block_to_state_gindex(layout, g) for g in gindices]
        nodes: dict[int, bytes] = {}
        pending = [group for group, _ in reversed(split_for_cap(wanted, max_descriptor_bytes))]
        while pending:
            group = pending.pop()
            try:
                found = await self._compact_proof(route, state_id, compute_descriptor(group), state_root)
            except EndpointError as exc:
                if exc.status in _NOT_SERVED:
                    log.info("no compact state proofs", endpoint=self.label, state_id=state_id, status=exc.status)
                    return None
                if exc.status == 500 and "too large" in str(exc) and len(group) > 1:
                    ordered = in_order(group)
                    middle = len(ordered) // 2
                    pending += [ordered[middle:], ordered[:middle]]
                    continue
                raise
            self._shape(route, leaves_for, found, group)
            nodes.update((state_to_block_gindex(layout, g), node) for g, node in found.items())
        return nodes

    async def _compact_proof(self, route: str, state_id: str, descriptor: bytes, state_root: bytes) -> dict[int, bytes]:
        """One compact proof's nodes, from the state root, checked against `state_root`."""
        data, kind = await self.call(
            "GET",
            route,
            f"/eth/v0/beacon/proof/state/{state_id}?format=0x{descriptor.hex()}",
            accept="application/octet-stream;q=1,application/json;q=0.9",
            max_bytes=MAX_COMPACT_PROOF_BYTES,
        )
        if kind == "application/octet-stream":
            answered, leaves = self._shape(route, decode_compact_proof, data)
        else:
            try:
                body = decode_json(data)
            except ValueError as exc:
                metrics.BEACON_ERRORS.labels(self.label, "malformed").inc()
                raise EndpointError(self.label, route, f"answer is not JSON ({kind}): {exc}") from None
            answered, leaves = self._shape(route, parse_compact_proof, body)
        if answered != descriptor:
            metrics.BEACON_ERRORS.labels(self.label, "malformed").inc()
            raise EndpointError(self.label, route, f"answers descriptor 0x{answered.hex()[:32]}, not the one asked")
        found = self._shape(route, nodes_from_compact, descriptor, leaves)
        if found[1] != state_root:
            metrics.BEACON_ERRORS.labels(self.label, "malformed").inc()
            raise EndpointError(
                self.label,
                route,
                f"the compact proof of state {state_id} reaches 0x{found[1].hex()}, not its state root "
                f"0x{state_root.hex()}",
            )
        return found

    # -- beacon-kit proofs -----------------------------------------------------------------------------

    async def bkit_proof(self, kind: str, timestamp_id: str, index: int) -> dict[str, Any]:
        route = f"bkit_{kind}"
        body = await self.json(route, f"/bkit/v1/proof/{kind}/{timestamp_id}/{index}")
        result: dict[str, Any] = self._shape(route, parse_bkit_proof, kind, body)
        return result


def _reason(exc: BaseException) -> str:
    """A failed request in a few words, never its URL."""
    if isinstance(exc, _PLAIN_ERRORS) and str(exc):
        return str(exc)
    if isinstance(exc, aiohttp.ClientResponseError) and exc.status:
        return f"{type(exc).__name__} (HTTP {exc.status})"
    return type(exc).__name__


async def _read_capped(
    response: aiohttp.ClientResponse, max_bytes: int, label: str, route: str, setting: str = ""
) -> bytes:
    """The body, refused once it passes `max_bytes` (named by its `setting`, if one sets it)."""
    which = f" ({setting})" if setting else ""
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise EndpointError(label, route, f"answer of {declared} bytes exceeds the cap of {max_bytes}{which}")
    data = bytearray()
    async for chunk in response.content.iter_chunked(1 << 16):
        data += chunk
        if len(data) > max_bytes:
            raise EndpointError(label, route, f"answer longer than the cap of {max_bytes} bytes{which}")
    return bytes(data)

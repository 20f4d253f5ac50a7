"""Stage 3: the beacon state at the anchor, merkleized by our engine, and the pools it holds."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import structlog

from oracle import metrics
from oracle.beacon.answers import EndpointError
from oracle.beacon.client import BeaconNode
from oracle.execution.el import ExecutionError
from oracle.reporting.context import Anchor, Context, Pool
from oracle.ssz.bkjson import read_debug_state
from oracle.ssz.errors import SSZError
from oracle.ssz.layouts import Layout
from oracle.ssz.state import BeaconState, load_state

log = structlog.get_logger("oracle.cycle")
OPEN_STATES = ("active", "below_threshold")  # classify: the pools that are reported (send.report_check too)


def state_timeout(ctx: Context) -> float:
    """Half the cycle per endpoint: a slow first node leaves time for the next one (Ethereum states of ~300 MB
    want a cycle_timeout_seconds that allows their download twice)."""
    return max(ctx.settings.endpoints.request_timeout_seconds, ctx.settings.reporting.cycle_timeout_seconds / 2)


async def load_cl_state(ctx: Context, node: BeaconNode, anchor: Anchor) -> BeaconState:
    """The state at the anchor, merkleized by our engine (JSON from beacon-kit, SSZ from Ethereum clients);
    its block root must be the anchor's."""
    started = time.perf_counter()
    raw: bytes | bytearray
    layout = ctx.layout
    if ctx.layout.family == "beaconkit":
        document = await node.state_document(str(anchor.slot), timeout=state_timeout(ctx))
        try:
            layout, version, raw = await asyncio.to_thread(read_debug_state, document)  # off the loop: /healthz
        except SSZError as exc:
            raise EndpointError(node.label, "state", f"malformed state: {exc}") from None
        if layout.family != "beaconkit":
            raise EndpointError(node.label, "state", f"served an Ethereum {version} state, the layout is beacon-kit's")
        if layout is not ctx.layout:
            log.warning("the node serves another fork than configured", endpoint=node.label, fork=version,
                        served_layout=layout.name, configured_layout=ctx.layout.name)  # fmt: skip
    else:
        fork = ctx.layout.name.split("-", 1)[1]
        raw = await node.state_ssz(str(anchor.slot), timeout=state_timeout(ctx), fork=fork)
    big = len(raw) > 50_000_000
    if big:
        log.info("merkleizing the state", slot=anchor.slot, megabytes=round(len(raw) / 1e6))
    try:
        state = await merkleize(ctx, raw, layout)
    except SSZError as exc:
        raise EndpointError(node.label, "state", f"malformed state: {exc}") from None
    metrics.PROOF_BUILD_SECONDS.labels("state").observe(time.perf_counter() - started)
    if big:
        log.info("state ready", slot=anchor.slot, validators=state.validator_count,
                 seconds=round(time.perf_counter() - started, 1))  # fmt: skip
    if state.block_root != anchor.block_root:
        metrics.PROOF_FAILURES.labels(node.label, "state").inc()
        raise EndpointError(
            node.label, "state", f"state of slot {anchor.slot} does not hash to the anchored block root"
        )
    return state


async def merkleize(ctx: Context, raw: bytes | bytearray, layout: Layout) -> BeaconState:
    """load_state in a worker thread, one at a time. A thread cannot be cancelled: a cycle that timed out while
    it merkleized leaves it running on the shared ctx.cache, and the next cycle waits for it to end rather than
    hash a second state beside it on that cache (and hold two states in memory)."""
    previous = ctx.merkleization
    if previous is not None and not previous.done():
        log.warning("the last cycle's merkleization still runs (that cycle was cancelled): waiting for it to end")
        await asyncio.wait({previous})
    job = asyncio.ensure_future(asyncio.to_thread(load_state, raw, layout, ctx.cache))
    job.add_done_callback(_consume)
    ctx.merkleization = job
    return await asyncio.shield(job)  # cancelling the cycle cancels the wait, not the job ctx.merkleization holds


def _consume(job: asyncio.Future[BeaconState]) -> None:
    """Take a job's exception, if any, so that one whose cycle was cancelled is not reported as unretrieved."""
    if not job.cancelled():
        job.exception()


async def discover(ctx: Context, state: BeaconState) -> tuple[list[Pool], list[tuple[Pool, str]]]:
    """Validators paying out to the WithdrawalVault, mapped to their pools and classified as the deployed
    contracts say: fully exited, not yet activated (registered, waiting for activateStakingPool), paused, or
    open (below the active threshold or above it). On beacon-kit, a validator whose deposit-contract operator
    is not its pool's SmartOperator is not the pool's (the factory's own activation rule)."""
    records = state.validator_records()
    # 0x01 (execution) or 0x02 (compounding, from Electra) credentials, 11 zero bytes, the vault's address
    tail = np.frombuffer(b"\x00" * 11 + bytes.fromhex(ctx.vault[2:]), dtype=np.uint8)
    prefix = records[:, 48]
    indices = np.flatnonzero(((prefix == 1) | (prefix == 2)) & (records[:, 49:80] == tail).all(axis=1))
    active, skipped = [], []
    states = dict.fromkeys(metrics.POOL_STATES, 0)
    for index in (int(i) for i in indices):
        pubkey = records[index, 0:48].tobytes()
        try:
            core = await ctx.el.view("StakingPoolContractsFactory", ctx.factory, "getCoreContracts", pubkey)
            staking_pool = str(core[1])  # (smartOperator, stakingPool, stakingRewardsVault, incentiveCollector)
            if int(staking_pool, 16) == 0:
                log.info("validator pays to the vault but has no pool", validator_index=index)
                continue
            pool = Pool(index, pubkey, staking_pool)
            pool_state = await classify(ctx, pool, str(core[0]))
        except ExecutionError as exc:  # one pool's failing view does not hide the others
            log.error("pool unreadable this cycle", validator_index=index, error=str(exc)[:300])
            skipped.append((Pool(index, pubkey, "unknown"), "unreadable"))
            continue
        states[pool_state] += 1
        if pool_state in OPEN_STATES:
            active.append(pool)
        else:
            skipped.append((pool, "fully_exited" if pool_state == "exited" else pool_state))
    for name, count in states.items():
        metrics.POOLS.labels(name).set(count)
    return active, skipped


async def classify(ctx: Context, pool: Pool, smart_operator: str) -> str:
    """One of metrics.POOL_STATES, from the pool's own views (isFullyExited, isActive, paused,
    activeThresholdReached) and, on beacon-kit, BeaconDeposit.getOperator."""

    async def view(fn: str) -> bool:
        return bool(await ctx.el.view("StakingPool", pool.address, fn))

    if await view("isFullyExited"):
        return "exited"
    if not await view("isActive"):
        return "not_activated"  # registered; activateStakingPool has not run (such a pool is paused too)
    if await view("paused"):
        return "paused"
    if ctx.layout.family == "beaconkit":
        operator = str(await ctx.el.view("BeaconDeposit", ctx.settings.contracts.beacon_deposit, "getOperator",
                                         pool.pubkey))  # fmt: skip
        if operator.lower() != smart_operator.lower():
            log.error("validator's deposit-contract operator is not its pool's SmartOperator: not reporting it",
                      pool=pool.address, validator_index=pool.index, operator=operator,
                      smart_operator=smart_operator)  # fmt: skip
            return "operator_mismatch"
    return "active" if await view("activeThresholdReached") else "below_threshold"

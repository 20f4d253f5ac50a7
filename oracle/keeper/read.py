"""The keeper's reads: one `KeeperView` per cycle, from the proven CL state (already merkleized for the
reports) and the pools' and the vault's views at the cycle's EL block."""

from __future__ import annotations

from typing import Any

import structlog

from oracle.beacon.answers import EndpointError
from oracle.beacon.client import BeaconNode
from oracle.config.settings import Keeper
from oracle.execution.el import ExecutionError
from oracle.keeper.view import Activation, KeeperView, PoolFacts, Request
from oracle.reporting.context import Anchor, Context, Pool
from oracle.reporting.eventlog import EventWindow
from oracle.reporting.proofs import engine_proof, verify
from oracle.ssz.errors import ProofError
from oracle.ssz.state import BeaconState
from oracle.types import FAR_FUTURE_EPOCH

log = structlog.get_logger("oracle.keeper")

# discover()'s reasons for the pools it does not report, as pool states
SKIPPED_STATES = {
    "fully_exited": "exited",
    "not_activated": "not_activated",
    "paused": "paused",
    "operator_mismatch": "operator_mismatch",
}


def keeper_pools(settings: Keeper, reported: list[Pool], skipped: list[tuple[Pool, str]]) -> list[tuple[Pool, str]]:
    """(pool, state) of the pools whose duties this keeper does: `keeper.pools`, or every pool discovered."""
    listed = {address.lower() for address in settings.pools}
    candidates = [(pool, "open") for pool in reported]
    candidates += [(pool, SKIPPED_STATES[reason]) for pool, reason in skipped if reason in SKIPPED_STATES]
    return [(pool, state) for pool, state in candidates if not listed or pool.address.lower() in listed]


async def read_view(
    ctx: Context,
    node: BeaconNode,
    anchor: Anchor,
    state: BeaconState,
    pools: list[tuple[Pool, str]],
    block: int,
    requests_window: EventWindow,
) -> KeeperView:
    settings = ctx.settings.keeper
    facts = [await _pool_facts(ctx, state, pool, pool_state, block) for pool, pool_state in pools]
    vault = ctx.vault

    async def vault_view(fn: str, *args: Any) -> Any:
        return await ctx.el.view("WithdrawalVault", vault, fn, *args, block=block)

    fee: int | None
    try:
        fee = int(await vault_view("getWithdrawalRequestFee"))
    except ExecutionError:
        fee = None
    keys = {pool.pubkey for pool, _ in pools}
    requests = await open_requests(ctx, keys, block, requests_window) if settings.finalize_withdrawals else []
    activations = []
    if settings.activation:
        for pool, pool_state in pools:
            if pool_state == "not_activated":
                activation = await activation_proofs(ctx, node, anchor, state, pool)
                if activation is not None:
                    activations.append(activation)
    return KeeperView(
        block=block,
        chain_now=ctx.chain_now(),
        max_timestamp_age=ctx.max_timestamp_age,
        pools=tuple(facts),
        requests=tuple(requests),
        factory=ctx.factory,
        vault=vault,
        vault_balance_wei=await ctx.el.balance(vault),
        vault_paused=bool(await vault_view("paused")),
        finalization_delay_blocks=int(await vault_view("WITHDRAWAL_REQUEST_FINALIZATION_BLOCK_DELAY")),
        withdrawal_request_fee_wei=fee,
        first_deposit_gwei=int(
            await ctx.el.view("StakingPoolContractsFactory", ctx.factory, "FIRST_DEPOSIT_AMOUNT_GWEI", block=block)
        ),
        activations=tuple(activations),
    )


async def _pool_facts(ctx: Context, state: BeaconState, pool: Pool, pool_state: str, block: int) -> PoolFacts:
    core = await ctx.el.view("StakingPoolContractsFactory", ctx.factory, "getCoreContracts", pool.pubkey, block=block)
    rewards_vault = str(core[2])
    if pool_state == "open":
        pool_state = (
            "active"
            if await ctx.el.view("StakingPool", pool.address, "activeThresholdReached", block=block)
            else "below_threshold"
        )
    record = state.validator(pool.index)
    exit_requested = None
    if pool_state == "exited":
        exit_requested = await last_exit_request(ctx, pool, block)
    return PoolFacts(
        address=pool.address,
        pubkey=pool.pubkey,
        state=pool_state,
        rewards_waiting_wei=await ctx.el.balance(rewards_vault) if int(rewards_vault, 16) else 0,
        validator_index=pool.index,
        exit_initiated=int(record["exit_epoch"]) != FAR_FUTURE_EPOCH,
        exit_requested_block=exit_requested,
    )


async def last_exit_request(ctx: Context, pool: Pool, block: int) -> int | None:
    """The EL block of the validator's latest full-exit request: the pool's FullExitTriggered, or anyone's
    retryFullExit since (FullExitRequestRetried), within four retry delays of `block`; None if none is."""
    start = max(0, block - 4 * ctx.settings.keeper.retry_full_exit_after_blocks)
    triggered = await ctx.el.logs("StakingPool", pool.address, "FullExitTriggered", start, block)
    retried = await ctx.el.logs("WithdrawalVaultPoLNext", ctx.vault, "FullExitRequestRetried", start, block)
    blocks = [int(e["blockNumber"]) for e in triggered]
    blocks += [int(e["blockNumber"]) for e in retried if bytes(e["args"]["pubkey"]) == pool.pubkey]
    return max(blocks, default=None)


async def open_requests(ctx: Context, pubkeys: set[bytes], block: int, window: EventWindow) -> list[Request]:
    """The vault's requests for these validators that are not finalized yet, oldest first: request ids from its
    `WithdrawalRequested` events over `keeper.finalize_lookback_blocks` (read incrementally, like the other
    windows), minus those a `WithdrawalRequestFinalized` event closed, each confirmed by `getWithdrawalRequest`
    (a finalized request has no owner)."""

    async def fetch(start: int, end: int) -> list[tuple[int, Any]]:
        made = await ctx.el.logs("WithdrawalVault", ctx.vault, "WithdrawalRequested", start, end)
        done = await ctx.el.logs("WithdrawalVault", ctx.vault, "WithdrawalRequestFinalized", start, end)
        return sorted(
            [(int(e["blockNumber"]), ("made", int(e["args"]["requestId"]))) for e in made]
            + [(int(e["blockNumber"]), ("done", int(e["args"]["requestId"]))) for e in done]
        )

    start = max(0, block - ctx.settings.keeper.finalize_lookback_blocks)
    made: set[int] = set()
    done: set[int] = set()
    for what, request_id in await window.advance(start, block, fetch):
        (made if what == "made" else done).add(request_id)
    out = []
    for request_id in sorted(made - done):
        entry = await ctx.el.view("WithdrawalVault", ctx.vault, "getWithdrawalRequest", request_id, block=block)
        pubkey, assets, _shares, user, request_block = entry
        if int(str(user), 16) == 0 or bytes(pubkey) not in pubkeys:
            continue  # finalized already, or another pool's (not this keeper's)
        out.append(Request(request_id, bytes(pubkey), int(assets), int(request_block), str(user)))
    return out


async def activation_proofs(
    ctx: Context, node: BeaconNode, anchor: Anchor, state: BeaconState, pool: Pool
) -> Activation | None:
    """The three proofs of `activateStakingPool`, from our engine at the anchor's slot, verified against the
    anchor's EIP-4788 root; where the node serves /bkit/v1/proof, its answers must agree (a disagreement is
    logged and the engine's proofs, which verified, are used)."""
    try:
        proven = engine_proof(state, pool.index)
    except ProofError as exc:
        log.error("activation proofs failed", pool=pool.address, validator_index=pool.index, error=str(exc))
        return None
    problems = verify(proven, state.layout, anchor.block_root)
    if proven.pubkey != pool.pubkey:
        problems.append("proof is for another validator's pubkey")
    if problems or proven.credentials is None or proven.credentials_proof is None:
        log.error(
            "activation proofs do not verify: not activating",
            pool=pool.address,
            validator_index=pool.index,
            problems=problems or ["no credentials proof"],
        )
        return None
    if state.layout.family == "beaconkit" and ctx.settings.reporting.cross_check_state:
        await _cross_check(node, anchor, proven.balance, proven.credentials, pool.index)
    return Activation(
        pool=pool.address,
        pubkey=proven.pubkey,
        validator_index=pool.index,
        credentials=proven.credentials,
        balance_gwei=proven.balance,
        pubkey_proof=proven.pubkey_proof,
        credentials_proof=proven.credentials_proof,
        balance_proof=proven.balance_proof,
        balance_leaf=proven.balance_leaf,
        slot=anchor.slot,
        timestamp=anchor.timestamp,
    )


async def _cross_check(node: BeaconNode, anchor: Anchor, balance: int, credentials: bytes, index: int) -> None:
    """The node's own proof answers for the same slot (`t<timestamp>`, the slot whose root that EL block
    holds: never a slot number, which beacon-kit reads as decimal where activate.sh once sent hex)."""
    timestamp_id = f"t{anchor.timestamp}"
    try:
        answer = await node.bkit_proof("validator_credentials", timestamp_id, index)
        served = await node.bkit_proof("validator_balance", timestamp_id, index)
    except EndpointError as exc:
        log.info(
            "node proofs unavailable; the engine's alone",
            endpoint=node.label,
            validator_index=index,
            error=str(exc)[:200],
        )
        return
    if answer["slot"] != anchor.slot or answer["credentials"] != credentials or served["balance"] != balance:
        log.warning(
            "the node's proof answers disagree with the proven state; using the engine's",
            endpoint=node.label,
            validator_index=index,
            node_slot=answer["slot"],
            slot=anchor.slot,
        )

"""One duty, now, for one pool or validator: what `pool-oracle activate` and `pool-oracle finalize` run. The same
reads, proofs, pre-flight, journal and transaction manager as the daemon's keeper; only the choice of duty and
pool is the operator's. Each refusal says why in one line (the reasons activate.sh failed silently: not on the
CL yet, already active or merely paused, proofs too old)."""

from __future__ import annotations

import dataclasses

from oracle.keeper import activation, finalize
from oracle.keeper.read import keeper_pools, read_view
from oracle.keeper.run import ActionResult, observe, perform
from oracle.keeper.view import Action
from oracle.reporting.context import Context, CycleFacts, Pool
from oracle.reporting.pipeline import read_chain


class DutyRefused(Exception):
    """The duty cannot be done now: the message says why, for the operator."""


def pool_of(facts: CycleFacts, pubkey: bytes) -> tuple[Pool, str] | None:
    for pool in facts.reported:
        if pool.pubkey == pubkey:
            return pool, "open"
    for pool, reason in facts.skipped:
        if pool.pubkey == pubkey:
            return pool, reason
    return None


async def activate(ctx: Context, pubkey: bytes) -> ActionResult:
    facts, _ = await read_chain(ctx, send=ctx.txm is not None)
    found = pool_of(facts, pubkey)
    if found is None:
        raise DutyRefused(
            f"validator 0x{pubkey.hex()} is not on the CL at slot {facts.anchor.slot} with credentials paying to the "
            "WithdrawalVault: its first deposit may still be in flight (the CL adds it some slots after the deposit), "
            "or it was registered with other withdrawal credentials"
        )
    pool, reason = found
    if reason != "not_activated":
        state = {"open": "is active already", "paused": "is active but paused by its owner (not 'not yet active')",
                 "fully_exited": "has fully exited"}.get(reason, f"cannot be activated ({reason})")  # fmt: skip
        raise DutyRefused(f"the pool {pool.address} of validator {pool.index} {state}")
    settings = dataclasses.replace(ctx.settings.keeper, activation=True, finalize_withdrawals=False)
    ctx.settings = dataclasses.replace(ctx.settings, keeper=settings)
    view = await read_view(ctx, facts.node, facts.anchor, facts.state, [(pool, "not_activated")], facts.books_block,
                           ctx.keeper_requests)  # fmt: skip
    observe(view, ctx)
    if not view.activations:
        raise DutyRefused(
            f"the proofs of validator {pool.index} at slot {facts.anchor.slot} do not verify (see the log)"
        )
    landing = 2 * max(ctx.seconds_per_slot, 1) + ctx.settings.reporting.timestamp_margin_seconds
    actions = activation.due(view, settings, landing_seconds=landing)
    if not actions:
        proofs = view.activations[0]
        if proofs.balance_gwei < view.first_deposit_gwei:
            raise DutyRefused(
                f"validator {pool.index} holds {proofs.balance_gwei / 1e9:,.9f} on the CL, less than the first deposit "
                f"({view.first_deposit_gwei / 1e9:,.0f}): the contract would refuse it (InvalidInitialDepositAmount)"
            )
        raise DutyRefused(
            f"the proofs of slot {proofs.slot} would be older than MAX_TIMESTAMP_AGE ({view.max_timestamp_age} s) "
            "when they land: the EL has not produced a block for that long? try again"
        )
    return await _send(ctx, actions[0])


async def finalize_requests(ctx: Context, pool_address: str | None) -> list[ActionResult]:
    facts, _ = await read_chain(ctx, send=ctx.txm is not None)
    settings = dataclasses.replace(ctx.settings.keeper, activation=False, finalize_withdrawals=True,
                                   pools=(pool_address,) if pool_address else ctx.settings.keeper.pools)  # fmt: skip
    ctx.settings = dataclasses.replace(ctx.settings, keeper=settings)
    pools = keeper_pools(settings, facts.reported, facts.skipped)
    if pool_address and not pools:
        raise DutyRefused(f"{pool_address} is not a pool this chain's state and factory know")
    view = await read_view(ctx, facts.node, facts.anchor, facts.state, pools, facts.books_block, ctx.keeper_requests)
    observe(view, ctx)
    results = []
    budget = settings.gas_budget_per_cycle
    for action in finalize.due(view, settings):
        result = await _send(ctx, action, budget)
        results.append(result)
    if not results:
        ready = finalize.finalizable(view)
        raise DutyRefused(
            f"no request to finalize: {len(view.requests)} open, {len(ready)} past the delay, vault balance "
            f"{view.vault_balance_wei / 1e18:,.4f}" + (" (the vault is paused)" if view.vault_paused else "")
        )
    return results


async def _send(ctx: Context, action: Action, budget: int | None = None) -> ActionResult:
    if ctx.txm is None:
        return ActionResult(action, "due", "no signer configured: nothing sent")
    result, _ = await perform(ctx, action, budget if budget is not None else ctx.settings.keeper.gas_budget_per_cycle)
    return result

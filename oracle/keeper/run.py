"""The keeper's cycle: read the view, decide every duty, and send what is due through the one transaction
manager and journal that reports use: one transaction in flight per key, each claimed in the journal before it
is signed, pre-flighted (an `eth_call` of the very transaction) before the first signature and again before
every later one, so that nothing a pre-flight rejects is ever sent."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import structlog
from web3 import AsyncWeb3
from web3.exceptions import Web3Exception

from oracle import metrics
from oracle.execution.el import ExecutionError, decode_revert
from oracle.execution.txmanager import Check, TxOutcome
from oracle.faultpoints import crash_point
from oracle.keeper import activation, finalize, retry_exit, rewards
from oracle.keeper.read import keeper_pools, read_view
from oracle.keeper.view import Action, KeeperView
from oracle.reporting.context import Context, CycleFacts, Duties

log = structlog.get_logger("oracle.keeper")


@dataclass
class ActionResult:
    action: Action
    outcome: str  # one of metrics.KEEPER_OUTCOMES
    reason: str | None = None
    tx_hash: str | None = None


def decide(view: KeeperView, ctx: Context) -> list[Action]:
    """Every duty's actions, in the order they are sent: activations first (their proofs age), then what pays
    stakers (finalization), then the pools' rewards and stranded exits."""
    settings = ctx.settings.keeper
    landing = 2 * max(ctx.seconds_per_slot, 1) + ctx.settings.reporting.timestamp_margin_seconds
    return [
        *activation.due(view, settings, landing_seconds=landing),
        *finalize.due(view, settings),
        *rewards.due(view, settings),
        *retry_exit.due(view, settings),
    ]


def observe(view: KeeperView, ctx: Context) -> None:
    """The keeper's gauges: what waits, whoever does it."""
    settings = ctx.settings.keeper
    ready = finalize.finalizable(view)
    metrics.KEEPER_FINALIZABLE.set(len(ready))
    oldest = min((r.request_block + view.finalization_delay_blocks for r in ready), default=None)
    seconds = ctx.seconds_per_slot or 2
    metrics.KEEPER_OLDEST_FINALIZABLE.set(0 if oldest is None else max(0, view.block - oldest) * seconds)
    metrics.KEEPER_UNACTIVATED.set(len(view.activations))
    metrics.KEEPER_EXITS_STRANDED.set(len(retry_exit.stranded(view, settings)))


async def run_keeper(ctx: Context, facts: CycleFacts, send: bool) -> list[Any]:
    """After the cycle's reports: the duties due, sent (or, without a key or with `send` off, only named)."""
    settings = ctx.settings.keeper
    if not settings.enabled and send:
        return []  # off; `status` and --dry-run still show what is due
    pools = keeper_pools(settings, facts.reported, facts.skipped)
    view = await read_view(ctx, facts.node, facts.anchor, facts.state, pools, facts.books_block, ctx.keeper_requests)
    observe(view, ctx)
    for pool in retry_exit.stranded(view, settings) if retry_exit.fee_above_cap(view, settings) else []:
        log.warning(
            "retryFullExit due but the withdrawal request fee is above keeper.max_exit_fee_gwei",
            pool=pool.address,
            fee_wei=view.withdrawal_request_fee_wei,
        )
    results = []
    budget = settings.gas_budget_per_cycle
    for action in decide(view, ctx):
        if ctx.txm is None or not send:
            log.info(
                "duty due (not sending)",
                duty=action.duty,
                pool=action.pool,
                why=action.why,
                mode="keeper off: no signer" if ctx.txm is None else "dry run",
            )
            results.append(_count(ActionResult(action, "due")))
            continue
        try:
            result, spent = await perform(ctx, action, budget)
        except (ExecutionError, Web3Exception) as exc:  # one duty's failing read does not stop the others
            log.error("duty failed this cycle", duty=action.duty, pool=action.pool, error=str(exc)[:300])
            result, spent = ActionResult(action, "failed", str(exc)[:300]), 0
        budget -= spent
        results.append(_count(result))
        if result.outcome == "waiting":
            break  # one transaction in flight per key: the rest wait for the next cycle
    return results


def _count(result: ActionResult) -> ActionResult:
    metrics.KEEPER_ACTIONS.labels(result.action.duty, result.outcome).inc()
    return result


def calldata(ctx: Context, action: Action) -> str:
    fn = getattr(ctx.el.contract(action.contract, action.address).functions, action.function)(*action.args)
    data: str = fn._encode_transaction_data()
    return data


async def preflight(ctx: Context, action: Action, data: str) -> tuple[str | None, int]:
    """(revert reason or None, gas estimate) of the very transaction, from the keeper's address."""
    assert ctx.account is not None
    call: dict[str, Any] = {
        "from": ctx.account.address,
        "to": AsyncWeb3.to_checksum_address(action.address),
        "data": data,
        "value": action.value_wei,
    }
    try:
        await ctx.el.timed("eth_call", lambda w3: w3.eth.call(call))  # type: ignore[arg-type]
        gas = await ctx.el.timed("eth_estimateGas", lambda w3: w3.eth.estimate_gas(call))  # type: ignore[arg-type]
    except ExecutionError as exc:
        return str(exc)[:200], 0
    except Exception as exc:  # a revert, decoded by its selector
        return decode_revert(getattr(exc, "data", None)), 0
    return None, int(gas)


def action_check(ctx: Context, action: Action, data: str) -> Check:
    """Before every signature (the first, a replacement, a resumed one): an activation's proofs must still land
    within MAX_TIMESTAMP_AGE, and the transaction must still pass its pre-flight (a request someone else
    finalized, a pool someone else activated, rewards already collected: nothing to send)."""

    async def check() -> str | None:
        if action.proof_timestamp is not None:
            landing = 2 * max(ctx.seconds_per_slot, 1) + ctx.settings.reporting.timestamp_margin_seconds
            if ctx.chain_now() + landing >= action.proof_timestamp + ctx.max_timestamp_age:
                return f"its proofs (EL timestamp {action.proof_timestamp}) would be older than MAX_TIMESTAMP_AGE"
        reason, _ = await preflight(ctx, action, data)
        return None if reason is None else f"the pre-flight now fails: {reason}"

    return check


async def perform(ctx: Context, action: Action, budget: int) -> tuple[ActionResult, int]:
    """(result, gas budgeted) of one action: pre-flight, budget, journal claim, send."""
    assert ctx.txm is not None
    if ctx.journal.anything_in_flight():
        return ActionResult(action, "waiting", "a transaction of this key is in flight"), 0
    data = calldata(ctx, action)
    reason, gas = await preflight(ctx, action, data)
    if reason is not None and action.duty == "finalize" and len(action.args) == 1 and isinstance(action.args[0], list):
        return await _finalize_one_by_one(ctx, action, budget, reason)
    if reason is not None:
        log.warning("duty pre-flight failed: not sending", duty=action.duty, pool=action.pool, reason=reason)
        return ActionResult(action, "preflight_failed", reason), 0
    limit = math.ceil(gas * ctx.settings.transactions.gas_limit_margin)
    if limit > budget:
        log.info(
            "duty over this cycle's gas budget: next cycle",
            duty=action.duty,
            pool=action.pool,
            gas=limit,
            budget_left=budget,
        )
        return ActionResult(action, "over_budget"), 0
    action_id = ctx.journal.claim_action(
        action.duty, action.key, action.pool, action.address, data, action.value_wei, action.proof_timestamp
    )
    if action_id is None:
        return ActionResult(action, "already_journalled"), 0
    crash_point("after_prepare")
    outcome = await ctx.txm.send(
        action_id,
        action.address,
        data,
        gas,
        action_check(ctx, action, data),
        value=action.value_wei,
        ledger=ctx.journal.actions,
    )
    finish(ctx, action_id, outcome)
    status = {"mined": "landed"}.get(outcome.status, outcome.status)
    log_fn = log.info if status == "landed" else log.warning
    log_fn(
        "duty " + ("done" if status == "landed" else "not done"),
        duty=action.duty,
        pool=action.pool,
        why=action.why,
        outcome=status,
        reason=outcome.reason,
        tx_hash=outcome.tx_hash,
    )
    return ActionResult(action, status, outcome.reason, outcome.tx_hash), limit


async def _finalize_one_by_one(ctx: Context, batch: Action, budget: int, reason: str) -> tuple[ActionResult, int]:
    """A batch whose pre-flight fails (one request someone else finalized meanwhile, say) reverts whole: keep the
    requests whose own finalization passes and send those."""
    passing = []
    for request_id in batch.args[0]:
        alone = subset(batch, [request_id])
        if (await preflight(ctx, alone, calldata(ctx, alone)))[0] is None:
            passing.append(request_id)
    if not passing or len(passing) == len(batch.args[0]):
        log.warning("withdrawal finalization pre-flight failed: not sending", reason=reason, requests=batch.args[0])
        return ActionResult(batch, "preflight_failed", reason), 0
    return await perform(ctx, subset(batch, passing), budget)


def subset(batch: Action, ids: list[int]) -> Action:
    """The finalization of some of a batch's requests (one alone by finalizeWithdrawalRequest)."""
    key = f"finalize:{','.join(str(i) for i in ids)}:{batch.key.rsplit(':', 1)[-1]}"
    if len(ids) == 1:
        return dataclasses.replace(batch, key=key, function="finalizeWithdrawalRequest", args=(ids[0],))
    return dataclasses.replace(batch, key=key, args=(ids,))


def finish(ctx: Context, action_id: int, outcome: TxOutcome) -> None:
    if outcome.status == "timeout":
        return  # still in flight: the next cycle follows it before anything else
    ctx.journal.finish_action(
        action_id,
        outcome.status,
        reason=outcome.reason,
        tx_hash=outcome.tx_hash,
        block_number=outcome.block_number,
        gas_used=outcome.gas_used,
        fee_wei=outcome.fee_wei,
    )


async def resume_actions(ctx: Context) -> None:
    """Actions the journal says were signed or sent before a restart (or a timeout): seen through first, each
    checked again by its pre-flight before any rebroadcast or re-pricing; one no longer due is cancelled at
    its nonce."""
    if ctx.txm is None:
        return
    for row in ctx.journal.actions_in_flight():
        if row.status == "prepared" and not ctx.journal.actions.transactions(row.id):
            ctx.journal.finish_action(row.id, "failed", reason="killed before signing; nothing was broadcast")
            continue
        action = Action(
            row.duty,
            row.key,
            row.pool,
            "",
            row.target,
            "",
            (),
            value_wei=row.value_wei,
            proof_timestamp=row.proof_timestamp,
        )
        outcome = await ctx.txm.resume(row.id, action_check(ctx, action, row.data), ledger=ctx.journal.actions)
        finish(ctx, row.id, outcome)
        metrics.KEEPER_ACTIONS.labels(row.duty, {"mined": "landed"}.get(outcome.status, outcome.status)).inc()
        log.info(
            "resumed journalled duty",
            duty=row.duty,
            pool=row.pool,
            outcome=outcome.status,
            tx_hash=outcome.tx_hash,
            started=time.strftime("%H:%M:%S", time.gmtime(row.created_at)),
        )


# What the daemon and the CLI hand the cycle (reporting/ never imports the keeper).
DUTIES = Duties(resume=resume_actions, run=run_keeper)

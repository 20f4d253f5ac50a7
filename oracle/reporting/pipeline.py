"""One report cycle: endpoints -> anchor -> CL view -> pools -> proofs -> lags and books -> decisions ->
pre-flight -> send -> journal and metrics. Each stage is a function of its inputs; `run_cycle` wires them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from oracle import metrics
from oracle.beacon.answers import EndpointError
from oracle.beacon.client import BeaconNode
from oracle.execution.el import ExecutionError
from oracle.reporting.anchor import pin_anchor
from oracle.reporting.books import collect_lags, read_books
from oracle.reporting.clview import discover, load_cl_state
from oracle.reporting.context import Anchor, Context, CycleError, CycleFacts, CycleResult, Pool, PoolResult
from oracle.reporting.daily import DAY_SECONDS, RecentReports, Update, changed_last_day, recent_updates
from oracle.reporting.endpoints import check_endpoints
from oracle.reporting.proofs import ProvenBalance
from oracle.reporting.prove import prove
from oracle.reporting.reconcile import SHARE, Decision, Lags, Limits, PoolBooks, reconcile
from oracle.reporting.send import preflight, reopen_reorged, resume_in_flight, submit
from oracle.ssz.errors import ProofError, SSZError
from oracle.ssz.state import BeaconState
from oracle.types import WEI_PER_GWEI

log = structlog.get_logger("oracle.cycle")


# -- the cycle ------------------------------------------------------------------------------------------------------

UNAUTHORIZED = ("AccessControlUnauthorizedAccount", "OwnableUnauthorizedAccount")  # audit mode, not a failure
Confirm = Callable[[Pool, ProvenBalance, Decision], Awaitable[bool]]


def _labels(ctx: Context, pool: Pool) -> tuple[str, str, str]:
    return ctx.settings.network, pool.address, str(pool.index)


async def read_chain(ctx: Context, *, send: bool) -> tuple[CycleFacts, dict[str, Any]]:
    """The first half of every cycle (and of the keeper's one-shot commands): endpoints checked, what the journal
    holds in flight followed (when sending), the anchor pinned, the state proven, the pools discovered, and the
    EL block every later read of the cycle is made at. Returns the facts and that block."""
    await check_endpoints(ctx)
    if send:  # status and --dry-run look, and never rebroadcast what the journal holds
        await resume_in_flight(ctx)
        if ctx.duties is not None:
            await ctx.duties.resume(ctx)
    errors = []
    for node in ctx.healthy_beacon:
        try:
            anchor = await pin_anchor(ctx, node)
            state = await load_cl_state(ctx, node, anchor)
            break
        except EndpointError as exc:
            errors.append(str(exc))
            log.warning("beacon endpoint failed this cycle", endpoint=node.label, error=str(exc))
    else:
        raise CycleError("every beacon endpoint failed: " + "; ".join(errors))
    if state.layout.family == "ethereum":
        # The finalized anchor is epochs behind the latest EL block: windows into EL history are measured
        # from the anchor's own execution block (the one after the proven slot's payload), not from head.
        payload = state.field("latest_execution_payload_header")
        anchor = dataclasses.replace(anchor, el_block=int(payload["block_number"]) + 1)
        # Blocks after the finalized one can still be replaced: a report that landed there and left with its
        # block is followed again before any pool is decided (beacon-kit's blocks are final at once).
        if send and await reopen_reorged(ctx, int(payload["block_number"])):
            await resume_in_flight(ctx)
    metrics.PROVEN_SLOT.set(anchor.slot)
    bound = log.bind(slot=anchor.slot, timestamp=anchor.timestamp)
    pools, skipped = await discover(ctx, state)
    for pool, reason in skipped:
        bound.info("pool skipped", pool=pool.address, validator_index=pool.index, reason=reason)
        if reason == "fully_exited":
            clear_forced_exit(ctx, pool)
    # One EL block for the lags and the books: a stake between reading the one and the other would look like
    # a balance drop with nothing in flight, and a report would wipe it from the share price.
    latest = await ctx.el.block("latest")
    return CycleFacts(anchor, state, node, pools, skipped, int(latest["number"])), latest


async def run_cycle(ctx: Context, *, send: bool = True, confirm: Confirm | None = None) -> CycleResult:
    facts, latest = await read_chain(ctx, send=send)
    anchor, state, node, pools, skipped, books_block = (
        facts.anchor, facts.state, facts.node, facts.reported, facts.skipped, facts.books_block,
    )  # fmt: skip
    bound = log.bind(slot=anchor.slot, timestamp=anchor.timestamp)
    lags = await collect_lags(ctx, anchor, state, pools, books_block)
    result = CycleResult(anchor, ctx.mode, skipped=skipped)
    limits = Limits(
        ctx.settings.reporting.max_change_per_report,
        ctx.settings.reporting.max_change_per_day,
        ctx.max_timestamp_age,
        ctx.settings.reporting.timestamp_margin_seconds,
        ctx.settings.reporting.min_drift_gwei,
    )
    try:
        updates: RecentReports | None = await recent_updates(ctx, latest, pools)
    except ExecutionError as exc:
        updates = None
        bound.warning("reports of the last day unreadable on chain: the daily bound counts this journal's only",
                      error=str(exc)[:200])  # fmt: skip
    for pool in pools:
        try:
            entry = await report_pool(ctx, node, anchor, state, pool, lags, limits, bound, updates, books_block,
                                      send=send, confirm=confirm)  # fmt: skip
        except (EndpointError, ExecutionError, ProofError, SSZError) as exc:
            # One pool's failing read does not stop the others: it is named, counted, and retried next cycle.
            entry = PoolResult(pool, "failed", (str(exc)[:300],))
            metrics.REPORTS.labels("failed").inc()
            bound.error("pool failed this cycle", pool=pool.address, validator_index=pool.index, error=str(exc)[:300])
        result.pools.append(entry)
    if ctx.duties is not None:  # after the reports: they come first on the one nonce sequence
        try:
            result.duties = await ctx.duties.run(ctx, facts, send)
        except (EndpointError, ExecutionError, ProofError, SSZError) as exc:
            bound.error("keeper duties failed this cycle", error=str(exc)[:300])
    return result


def name_forced_exit(lags: Lags, labels: tuple[str, str, str], plog: Any, proven_gwei: int) -> None:
    """A CL-forced exit (the CL exits an open pool's validator by itself: an eviction from a full validator set,
    say) is named in the metric and the logs until the report of 0 closes the pool."""
    metrics.CL_FORCED_EXIT.labels(*labels).set(1 if lags.forced_exit else 0)
    if not lags.forced_exit:
        return
    if lags.withdrawn:
        plog.error("the CL exited this pool's validator by itself and swept its stake to the WithdrawalVault "
                   "(CL-forced exit): the report of 0 closes the pool", proven_gwei=proven_gwei)  # fmt: skip
    else:
        plog.error("the CL is exiting this pool's validator though the pool never triggered a full exit "
                   "(CL-forced exit): the report of 0 waits for the sweep", proven_gwei=proven_gwei)  # fmt: skip


def clear_forced_exit(ctx: Context, pool: Pool) -> None:
    """A closed pool's CL-forced exit is over: its gauge goes, so that the alert ends with it."""
    with contextlib.suppress(KeyError):
        metrics.CL_FORCED_EXIT.remove(*_labels(ctx, pool))


def explained_topups(topups: tuple[tuple[int, int], ...], day: list[Update], day_start: int) -> tuple[int, int]:
    """(since the pool's last report, booked by its reports of the last day), in wei, of the credited top-ups
    within the last day: the first explain this report's change, the second the day's earlier moves. Older
    top-ups explain nothing (a report older than the day may have booked them already)."""
    last = max((u.block for u in day), default=day_start)
    since = sum(gwei for block, gwei in topups if block > last)
    booked = sum(gwei for block, gwei in topups if day_start < block <= last)
    return since * WEI_PER_GWEI, booked * WEI_PER_GWEI


async def report_pool(
    ctx: Context,
    node: BeaconNode,
    anchor: Anchor,
    state: BeaconState,
    pool: Pool,
    lags: dict[int, Lags],
    limits: Limits,
    bound: Any,
    updates: RecentReports | None,
    books_block: int,
    *,
    send: bool,
    confirm: Confirm | None,
) -> PoolResult:
    """Prove, reconcile, pre-flight and (maybe) send one pool's report."""
    labels = _labels(ctx, pool)
    plog = bound.bind(pool=pool.address, validator_index=pool.index)
    proven = await prove(ctx, node, anchor, state, pool)
    if proven is None:
        metrics.REPORTS.labels("proof_failed").inc()
        return PoolResult(pool, "proof_failed")
    books = await read_books(ctx, pool, books_block)
    explained = 0
    if updates is None:  # the chain's record unreadable this cycle: this journal's own reports
        journal = ctx.journal.landed_since(pool.address, time.time() - DAY_SECONDS)
        changed = sum(abs(r.balance_gwei - r.previous_deposits_gwei) for r in journal) * WEI_PER_GWEI
    else:
        day = updates.by_pool.get(pool.address.lower(), [])
        changed = await changed_last_day(ctx, pool, day, limits.max_change_per_report)
        explained, booked = explained_topups(lags[pool.index].credited_topups, day, updates.start_block)
        changed = max(0, changed - booked)
    now = ctx.chain_now()

    def decide(on_books: PoolBooks) -> Decision:  # re-run on the books read before each signature (send)
        return reconcile(
            proven.balance, anchor.timestamp, on_books, lags[pool.index], limits, now=now,
            expected_landing_seconds=2 * max(ctx.seconds_per_slot, 1), changed_last_day_wei=changed,
            explained_wei=explained,
        )  # fmt: skip

    decision = decide(books)
    metrics.PROVEN_BALANCE.labels(*labels).set(proven.balance)
    metrics.ONCHAIN_DEPOSITS.labels(*labels).set(books.total_deposits_wei // WEI_PER_GWEI)
    metrics.DRIFT.labels(*labels).set(decision.drift_gwei)
    metrics.SHARE_PRICE.labels(*labels).set(books.share_price_wei / SHARE)
    metrics.PREDICTED_SHARE_PRICE.labels(*labels).set(decision.predicted_share_price_wei / SHARE)
    for reason in metrics.HOLD_REASONS:
        metrics.HOLD.labels(*labels, reason).set(1 if reason in decision.reasons else 0)
    name_forced_exit(lags[pool.index], labels, plog, proven.balance)
    entry = PoolResult(
        pool, decision.action, decision.reasons, proven.balance, books.total_deposits_wei // WEI_PER_GWEI,
        books.share_price_wei / SHARE, decision.predicted_share_price_wei / SHARE, source=proven.source,
    )  # fmt: skip
    if decision.action == "unchanged":
        metrics.REPORTS.labels("unchanged").inc()
        plog.debug("unchanged", balance_gwei=proven.balance)
        return entry
    if decision.action == "hold":
        entry.outcome = "held"
        for reason in decision.reasons:
            metrics.HOLDS.labels(reason).inc()
        metrics.REPORTS.labels("held").inc()
        plog.warning("report held", reasons=list(decision.reasons), proven_gwei=proven.balance,
                     onchain_gwei=entry.total_deposits_gwei, topups_gwei=explained // WEI_PER_GWEI)  # fmt: skip
        return entry
    if 0 < decision.new_total_deposits_wei < books.min_effective_balance_wei and books.active_threshold_reached:
        # Not a hold: the audited updateTotalDeposits has no minimum rule. notifyWithdrawalRequest has one.
        plog.warning("this report sets totalDeposits below the pool's minEffectiveBalance: the next withdrawal "
                     "request that reaches the CL will fully exit the validator", proven_gwei=proven.balance,
                     min_effective_balance_gwei=books.min_effective_balance_wei // WEI_PER_GWEI)  # fmt: skip
    if ctx.gindex_problems:
        entry.outcome, entry.reasons = "preflight_failed", ("gindex_mismatch",)
        metrics.REPORTS.labels("preflight_failed").inc()
        plog.error("not sending: the factory verifies proofs at other generalized indices",
                   problems=ctx.gindex_problems)  # fmt: skip
        return entry
    revert_reason, gas = await preflight(ctx, proven, anchor)
    if ctx.account is not None and not ctx.has_role and revert_reason is None:
        ctx.has_role = True  # open reporting: the oracle accepts reports from anyone
        plog.info("the oracle accepts our reports without FEEDER_ROLE (open reporting)")
    if revert_reason is not None and revert_reason not in UNAUTHORIZED:
        entry.outcome, entry.reasons = "preflight_failed", (revert_reason,)
        metrics.REPORTS.labels("preflight_failed").inc()
        plog.error("pre-flight failed", reason=revert_reason)
        return entry
    if ctx.mode == "auditor" or not send:
        entry.outcome = "audit_drift" if ctx.mode == "auditor" else "dry_run"
        metrics.REPORTS.labels(entry.outcome).inc()
        plog.warning("drift (not sending)", mode=ctx.mode, proven_gwei=proven.balance,
                     onchain_gwei=entry.total_deposits_gwei, drift_gwei=decision.drift_gwei)  # fmt: skip
        return entry
    if confirm is not None and not await confirm(pool, proven, decision):
        entry.outcome = "declined"
        return entry
    outcome = await submit(ctx, pool, proven, anchor, books, gas, decide)
    entry.tx_hash = outcome.tx_hash
    entry.outcome = {"mined": "landed"}.get(outcome.status, outcome.status)
    if outcome.reason:
        entry.reasons = (outcome.reason,)
    metrics.REPORTS.labels(entry.outcome).inc()
    if outcome.status == "mined":
        metrics.LAST_REPORT_SLOT.labels(*labels).set(anchor.slot)
        metrics.LAST_REPORT_TIME.labels(*labels).set(time.time())
        metrics.ONCHAIN_DEPOSITS.labels(*labels).set(proven.balance)
        metrics.DRIFT.labels(*labels).set(0)
        plog.info("report landed", tx_hash=outcome.tx_hash, balance_gwei=proven.balance,
                  previous_gwei=entry.total_deposits_gwei, topups_gwei=explained // WEI_PER_GWEI)  # fmt: skip
    else:
        plog.warning("report not landed", outcome=outcome.status, reason=outcome.reason, tx_hash=outcome.tx_hash)
    return entry

"""A many-validator pool's report, each cycle after the pools' own reports: decide on the cycle's proven
(finalized) state, start it (the contract pins the root of this block's parent and snapshots its EL balance),
then prove the registry in batches from the pinned state, each verified locally against the pinned root,
pre-flighted, claimed in the journal and sent through the transaction manager as the keeper's duties are. A
report left open (a crash, a timeout, a batch that did not land) is carried on from the contract's
nextPosition: a batch already applied is skipped by the contract, so a resumed one adds nothing twice."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from oracle import metrics
from oracle.beacon.answers import EndpointError
from oracle.execution.el import ExecutionError
from oracle.keeper.run import ActionResult, perform
from oracle.keeper.view import Action
from oracle.reporting.context import Context, CycleFacts, Duties
from oracle.setpools.decide import decide_start, pending_deposits_gwei, registry_total, relative_move
from oracle.setpools.read import CONTRACT, read_set_pool
from oracle.setpools.source import report_batches
from oracle.setpools.view import SetPoolView, StartDecision
from oracle.ssz.batches import BalanceBatch, batch_from_map, batch_gindices, max_words_for
from oracle.ssz.errors import ProofError, SSZError
from oracle.ssz.layouts import Layout
from oracle.ssz.multiproof import calculate_multi_merkle_nodes

log = structlog.get_logger("oracle.setpools")
DAY_SECONDS = 86_400


@dataclass
class SetPoolSummary:
    """One line of a cycle's output for a pool (the fields format_cycle reads of a duty's result)."""

    action: Action
    outcome: str
    reason: str | None = None
    tx_hash: str | None = None


def _summary(address: str, outcome: str, why: str, reason: str | None = None) -> SetPoolSummary:
    return SetPoolSummary(Action("set_report", "", address, CONTRACT, address, "", (), why=why), outcome, reason)


def _labels(ctx: Context, address: str) -> tuple[str, str]:
    return ctx.settings.network, address


async def moved_last_day(ctx: Context, view: SetPoolView) -> list[float]:
    """The relative moves of totalAssets by the reports completed in the last day (each against totalAssets in
    the block before it): with this one's, they must stay within max_change_per_day."""
    seconds = max(ctx.seconds_per_slot, 1)
    start = max(0, view.block - DAY_SECONDS // seconds)
    moves = []
    for event in await ctx.el.logs(CONTRACT, view.address, "ReportCompleted", start, view.block):
        block = int(event["blockNumber"]) - 1
        if int((await ctx.el.view(CONTRACT, view.address, "lastReport", block=block))[0]) == 0:
            continue  # the first report set the baseline: before it, totalAssets was the stakers' deposits alone
        before = int(await ctx.el.view(CONTRACT, view.address, "totalAssets", block=block))
        moves.append(relative_move(before, int(event["args"]["totalAssets"])))
    return moves


async def in_flight_gwei(ctx: Context, facts: CycleFacts, view: SetPoolView) -> int:
    """Deposits for the registry not in its balances yet: queued in the proven state, or in EL blocks after
    the state's execution payload (EIP-6110 requests the CL has not seen)."""
    queued = pending_deposits_gwei(facts.state, view.indices, view.credentials)
    records = facts.state.validator_records()
    registered = {bytes(records[i, :48].tobytes()) for i in view.indices}
    payload_block = facts.anchor.el_block - 1
    later = await ctx.el.deposits(ctx.settings.contracts.beacon_deposit, payload_block + 1, facts.books_block)
    return queued + sum(d.amount_gwei for d in later if d.pubkey in registered)


def observe(ctx: Context, view: SetPoolView, decision: StartDecision | None) -> None:
    labels = _labels(ctx, view.address)
    metrics.SET_POOL_VALIDATORS.labels(*labels).set(len(view.indices))
    metrics.SET_POOL_REPORTED.labels(*labels).set(view.last.consensus_gwei)
    metrics.SET_POOL_LAST_REPORT.labels(*labels).set(view.last.timestamp)
    if decision is not None:
        metrics.SET_POOL_PROVEN.labels(*labels).set(decision.proven_gwei)
        for reason in metrics.SET_POOL_HOLD_REASONS:
            metrics.SET_POOL_HOLD.labels(*labels, reason).set(1 if reason in decision.reasons else 0)


async def run_set_pools(ctx: Context, facts: CycleFacts, send: bool) -> list[ActionResult | SetPoolSummary]:
    results: list[ActionResult | SetPoolSummary] = []
    for address in ctx.settings.set_pools.addresses:
        plog = log.bind(pool=address)
        try:
            results.extend(await report_set_pool(ctx, facts, address, send, plog))
        except (EndpointError, ExecutionError, ProofError, SSZError) as exc:
            plog.error("many-validator pool failed this cycle", error=str(exc)[:300])
            results.append(_summary(address, "failed", "report", str(exc)[:300]))
    return results


async def report_set_pool(
    ctx: Context, facts: CycleFacts, address: str, send: bool, plog: structlog.typing.FilteringBoundLogger
) -> list[ActionResult | SetPoolSummary]:
    settings = ctx.settings.set_pools
    view = await read_set_pool(ctx, address, facts.books_block)
    results: list[ActionResult | SetPoolSummary] = []
    reporter = ctx.account is not None and view.reporter.lower() == ctx.account.address.lower()
    if view.open is None:
        proven = registry_total(facts.state, view.indices)
        decision = decide_start(
            view, proven, await in_flight_gwei(ctx, facts, view), settings, now=ctx.chain_now(),
            moved_last_day=await moved_last_day(ctx, view) if view.last.report_id else (),
        )  # fmt: skip
        observe(ctx, view, decision)
        why = (
            f"{len(view.indices)} validators, {proven / 1e9:,.9f} proven at slot {facts.anchor.slot}, "
            f"totalAssets {view.total_assets_wei / 1e18:,.9f} -> {decision.predicted_total_assets_wei / 1e18:,.9f}"
        )
        if decision.action == "hold":
            plog.warning("many-validator report held", reasons=list(decision.reasons), proven_gwei=proven,
                         change=round(decision.change, 6))  # fmt: skip
            return [_summary(address, "held", why, ", ".join(decision.reasons))]
        if decision.action == "unchanged":
            return [_summary(address, "unchanged", why)]
        if not reporter:
            plog.info("many-validator report due; this key is not the pool's reporter", reporter=view.reporter)
            return [_summary(address, "due", why, "not the pool's reporter")]
        if ctx.txm is None or not send:
            return [_summary(address, "due", why, "not sending")]
        start = Action(
            "set_report_start", f"set_start:{address.lower()}:{view.last.report_id}:{view.block}", address,
            CONTRACT, address, "startReport", (), why=why,
        )  # fmt: skip
        started, _ = await perform(ctx, start, settings.max_batch_gas)
        results.append(started)
        if started.outcome != "landed":
            return results
        view = await read_set_pool(ctx, address, await ctx.el.pinned_head(facts.books_block))
        if view.open is None:  # completed at once (an empty registry) or by someone else
            return [*results, _summary(address, "completed", f"report {view.last.report_id}")]
    else:
        observe(ctx, view, None)
    assert view.open is not None
    report = view.open
    progress = f"report {report.report_id}: {report.next_position} of {len(view.indices)} validators proven"
    if ctx.txm is None or not send or not (reporter or settings.complete_others):
        return [*results, _summary(address, "open", progress)]
    results.extend(await send_batches(ctx, facts, view, reporter, plog))
    view = await read_set_pool(ctx, address, await ctx.el.pinned_head(view.block))
    if view.open is None and view.last.report_id == report.report_id:
        plog.info("many-validator report completed", report_id=report.report_id,
                  consensus_gwei=view.last.consensus_gwei, total_assets_wei=view.total_assets_wei,
                  validators=len(view.indices))  # fmt: skip
        observe(ctx, view, None)
        done = f"report {report.report_id}: {view.last.consensus_gwei / 1e9:,.9f} over {len(view.indices)} validators"
        return [*results, _summary(address, "completed", done)]
    still = view.open.next_position if view.open else report.next_position
    return [*results, _summary(address, "open", f"report {report.report_id}: {still} of {len(view.indices)} proven")]


async def send_batches(
    ctx: Context, facts: CycleFacts, view: SetPoolView, reporter: bool, plog: structlog.typing.FilteringBoundLogger
) -> list[ActionResult]:
    """The open report's remaining batches, in order, each verified against the pinned root before it is sent;
    stops at the first that does not land (the next cycle carries on from the contract's nextPosition)."""
    settings = ctx.settings.set_pools
    assert view.open is not None
    report = view.open
    max_words = max_words_for(settings.max_calldata_bytes)
    queue, source = await report_batches(ctx, facts.node, report, view.indices, max_words)
    plog.info("batches ready", report_id=report.report_id, batches=len(queue), source=source,
              words=sum(b.words for b in queue))  # fmt: skip
    if reporter and report.next_position == 0:
        # Our own report, before its first batch: the bounds again, on the total of the state it proves (epochs
        # newer than the one it was decided on). A report they now stop is abandoned, not completed.
        proven = sum(batch.total_gwei for batch in queue)
        moves = await moved_last_day(ctx, view) if view.last.report_id else []
        recheck = decide_start(view, proven, 0, settings, now=ctx.chain_now(), moved_last_day=moves)
        if recheck.action == "hold":
            plog.warning("the pinned state trips a hold: abandoning the report", reasons=list(recheck.reasons),
                         report_id=report.report_id, proven_gwei=proven)  # fmt: skip
            abandon = Action(
                "set_report_abandon", f"set_abandon:{view.address.lower()}:{report.report_id}", view.address,
                CONTRACT, view.address, "abandonReport", (report.report_id,), why=", ".join(recheck.reasons),
            )  # fmt: skip
            return [(await perform(ctx, abandon, settings.max_batch_gas))[0]]
    results: list[ActionResult] = []
    while queue:
        batch = queue.pop(0)
        metrics.SET_POOL_BATCH_WORDS.observe(batch.words)
        action = Action(
            "set_report_batch",
            f"set_batch:{view.address.lower()}:{report.report_id}:{batch.first_position}:{view.block}",
            view.address, CONTRACT, view.address, "proveBalances",
            (report.report_id, batch.first_position, batch.count, batch.balances_length, list(batch.leaves),
             list(batch.witnesses)),
            why=f"report {report.report_id}: positions {batch.first_position}.."
            f"{batch.first_position + batch.count - 1}, {batch.words} words from the {source.replace('_', ' ')}",
        )  # fmt: skip
        result, _ = await perform(ctx, action, settings.max_batch_gas)
        if result.outcome == "over_budget" and batch.count > 1:
            # Its gas passes max_batch_gas (hashing grows with the witnesses): the same positions in halves,
            # read from the batch's own nodes (they determine every node a part of it needs).
            queue = [*split_batch(ctx.layout, batch, report.block_root), *queue]
            continue
        results.append(result)
        if result.outcome != "landed":
            plog.warning("batch not landed: the next cycle carries on", outcome=result.outcome, reason=result.reason)
            break
    return results


def split_batch(layout: Layout, batch: BalanceBatch, block_root: bytes) -> list[BalanceBatch]:
    gindices = batch_gindices(layout, batch.indices)
    length_leaf = batch.balances_length.to_bytes(32, "little")
    nodes = calculate_multi_merkle_nodes([*batch.leaves, length_leaf], batch.witnesses, gindices)
    half = (batch.count + 1) // 2
    return [
        batch_from_map(layout, nodes, batch.first_position, batch.indices[:half], block_root),
        batch_from_map(layout, nodes, batch.first_position + half, batch.indices[half:], block_root),
    ]


def with_set_pools(duties: Duties) -> Duties:
    """The keeper's duties with the many-validator pools' reports before them (reports first on the one nonce
    sequence); one resume follows every journalled action of either."""

    async def run(ctx: Context, facts: CycleFacts, send: bool) -> list[object]:
        out: list[object] = []
        if ctx.settings.set_pools.addresses:
            out.extend(await run_set_pools(ctx, facts, send))
        out.extend(await duties.run(ctx, facts, send))
        return out

    return Duties(resume=duties.resume, run=run)

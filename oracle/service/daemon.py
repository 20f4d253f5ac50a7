"""The daemon: report cycles on an interval, each bounded by a timeout, behind the health server."""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from eth_account.signers.local import LocalAccount

from oracle import metrics
from oracle.beacon.answers import EndpointError
from oracle.config.settings import Settings
from oracle.execution.el import ExecutionError
from oracle.journal import JournalError
from oracle.keeper.run import DUTIES
from oracle.reporting.context import Context, CycleError, CycleResult
from oracle.reporting.pipeline import run_cycle
from oracle.service.http import Health, serve
from oracle.setpools.run import with_set_pools

log = structlog.get_logger("oracle.daemon")


async def cycle_until_stopped(ctx: Context, settings: Settings, stop: asyncio.Event) -> CycleResult | None:
    """One cycle, or None if SIGTERM (or SIGINT) stopped it. A stop gives the cycle service.stop_grace_seconds
    to end by itself, then cancels it where it waits: every wait is a safe point, as a crash there is (each
    transaction is journalled before it is broadcast; the next start follows it, receipt or rebroadcast)."""
    cycle = asyncio.create_task(run_cycle(ctx, send=not settings.reporting.dry_run))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({cycle, stopping}, return_when=asyncio.FIRST_COMPLETED)
        grace = settings.service.stop_grace_seconds
        if not cycle.done():
            log.info("stopping: the cycle in progress has a few seconds to end", grace_seconds=grace)
            await asyncio.wait({cycle}, timeout=grace)
        if not cycle.done():
            log.warning("stopping mid-cycle: cancelled where it waited; the journal keeps any transaction in "
                        "flight, and the next start follows it", grace_seconds=grace)  # fmt: skip
            await _cancel(cycle)
            return None
        return cycle.result()
    finally:
        stopping.cancel()
        await _cancel(cycle)  # the cycle timed out (or the daemon was cancelled) while this waited


async def _cancel(task: asyncio.Task[CycleResult]) -> None:
    if not task.done():
        task.cancel()
        await asyncio.wait({task})


async def run_daemon(settings: Settings, account: LocalAccount | None, stop: asyncio.Event) -> None:
    health = Health(settings.service.watchdog_seconds)
    runner = await serve(health, settings.service.metrics_address)
    ctx = await Context.open(settings, account)
    ctx.duties = with_set_pools(DUTIES)
    log.info("started", network=settings.network, layout=settings.layout, metrics=settings.service.metrics_address,
             signer=ctx.account.address if ctx.account else None)  # fmt: skip
    try:
        while not stop.is_set():
            started = time.monotonic()
            health.cycle_started = time.monotonic()
            result_label = "ok"
            try:
                async with asyncio.timeout(settings.reporting.cycle_timeout_seconds):
                    result = await cycle_until_stopped(ctx, settings, stop)
                if result is None:  # stopped mid-cycle: not counted as a cycle
                    break
                health.ready, health.ready_reason, health.mode = True, "ok", result.mode
                outcomes = [p.outcome for p in result.pools]
                log.info("cycle done", slot=result.anchor.slot if result.anchor else None, mode=result.mode,
                         pools=len(result.pools), outcomes=outcomes)  # fmt: skip
            except TimeoutError:
                result_label = "timeout"
                health.ready, health.ready_reason = False, "the last cycle timed out"
                log.error("cycle timed out", timeout_seconds=settings.reporting.cycle_timeout_seconds)
            except (CycleError, EndpointError, ExecutionError, JournalError) as exc:
                if isinstance(exc, JournalError):
                    metrics.JOURNAL_ERRORS.inc()
                result_label = "error"
                health.ready, health.ready_reason = False, str(exc)[:300]
                log.error("cycle failed", error=str(exc))
            except Exception:
                result_label = "error"
                health.ready, health.ready_reason = False, "unexpected error (see logs)"
                log.exception("cycle crashed")
            finally:
                health.cycle_started = None
            elapsed = time.monotonic() - started
            health.last_cycle_end = time.monotonic()
            metrics.CYCLES.labels(result_label).inc()
            metrics.CYCLE_SECONDS.labels(result_label).observe(elapsed)
            metrics.LAST_CYCLE.labels(result_label).set(time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, settings.reporting.interval_seconds - elapsed))
    finally:
        await ctx.close()
        await runner.cleanup()
        log.info("stopped")

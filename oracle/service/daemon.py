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
from oracle.reporting.context import Context, CycleError
from oracle.reporting.pipeline import run_cycle
from oracle.service.http import Health, serve

log = structlog.get_logger("oracle.daemon")


async def run_daemon(settings: Settings, account: LocalAccount | None, stop: asyncio.Event) -> None:
    health = Health(settings.service.watchdog_seconds)
    runner = await serve(health, settings.service.metrics_address)
    ctx = await Context.open(settings, account)
    log.info("started", network=settings.network, layout=settings.layout, metrics=settings.service.metrics_address,
             signer=ctx.account.address if ctx.account else None)  # fmt: skip
    try:
        while not stop.is_set():
            started = time.monotonic()
            health.cycle_started = time.monotonic()
            result_label = "ok"
            try:
                async with asyncio.timeout(settings.reporting.cycle_timeout_seconds):
                    result = await run_cycle(ctx, send=not settings.reporting.dry_run)
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

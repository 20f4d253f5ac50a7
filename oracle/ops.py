"""The operator commands behind the CLI: run, report, check, status. Each prints plain lines."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from eth_account.signers.local import LocalAccount

from oracle.beacon.answers import EndpointError
from oracle.config.settings import Settings
from oracle.execution.el import ExecutionError
from oracle.journal import JournalError
from oracle.keeper.run import DUTIES, ActionResult
from oracle.reporting.context import Context, CycleError, CycleResult, Pool
from oracle.reporting.endpoints import chain_problem, check_endpoints, is_lagging
from oracle.reporting.pipeline import run_cycle
from oracle.reporting.proofs import ProvenBalance
from oracle.reporting.reconcile import Decision
from oracle.service.daemon import run_daemon
from oracle.service.http import ServiceError
from oracle.setpools.run import with_set_pools

GWEI = 10**9
MIN_SIGNER_BALANCE_WEI = 10**17


def run(settings: Settings, account: LocalAccount | None) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_daemon(settings, account, stop)

    try:
        asyncio.run(main())
    except (JournalError, ServiceError) as exc:
        print(f"pool-oracle run: error: {exc}", file=sys.stderr)
        return 2
    return 0


def format_cycle(result: CycleResult) -> str:
    lines = []
    if result.anchor:
        lines.append(f"slot {result.anchor.slot} (EL timestamp {result.anchor.timestamp}), mode {result.mode}")
    lines.append(f"{'pool':<44} {'index':>5} {'proven':>22} {'on chain':>22} {'share price':>12}  outcome")
    for p in result.pools:
        proven = f"{p.balance_gwei / GWEI:,.9f}" if p.balance_gwei is not None else "-"
        onchain = f"{p.total_deposits_gwei / GWEI:,.9f}" if p.total_deposits_gwei is not None else "-"
        price = f"{p.share_price:.6f}" if p.share_price is not None else "-"
        why = f" ({', '.join(p.reasons)})" if p.reasons else ""
        tx = f" tx {p.tx_hash}" if p.tx_hash else ""
        lines.append(
            f"{p.pool.address:<44} {p.pool.index:>5} {proven:>16} {onchain:>16} {price:>12}  {p.outcome}{why}{tx}"
        )
    for pool, reason in result.skipped:
        lines.append(f"{pool.address:<44} {pool.index:>5} {'':>16} {'':>16} {'':>12}  skipped ({reason})")
    for duty in result.duties:
        where = duty.action.pool or duty.action.address
        why = f" ({duty.reason})" if duty.reason else ""
        tx = f" tx {duty.tx_hash}" if duty.tx_hash else ""
        lines.append(f"{where:<44} duty {duty.action.duty}: {duty.action.why}: {duty.outcome}{why}{tx}")
    return "\n".join(lines)


def report_once(settings: Settings, account: LocalAccount | None, *, dry_run: bool, yes: bool) -> int:
    async def confirm(pool: Pool, proven: ProvenBalance, decision: Decision) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            print(f"pool {pool.address}: not sent (no terminal to confirm on; pass --yes)", file=sys.stderr)
            return False
        answer = input(
            f"Send report for pool {pool.address} (validator {pool.index}): totalDeposits -> "
            f"{proven.balance / GWEI:,.9f}, share price -> {decision.predicted_share_price_wei / 10**18:.6f}? [y/N] "
        )
        return answer.strip().lower() in ("y", "yes")

    async def main() -> int:
        ctx = await Context.open(settings, account)
        ctx.duties = with_set_pools(DUTIES)
        try:
            result = await run_cycle(ctx, send=not (dry_run or settings.reporting.dry_run), confirm=confirm)
        finally:
            await ctx.close()
        print(format_cycle(result))
        failed = [p for p in result.pools if p.outcome in ("proof_failed", "preflight_failed", "failed", "reverted")]
        return 1 if failed else 0

    try:
        return asyncio.run(main())
    except (CycleError, EndpointError, ExecutionError, JournalError) as exc:
        print(f"pool-oracle report: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, JournalError) else 1


def status(settings: Settings, account: LocalAccount | None) -> int:
    """Per pool: what a cycle would do now (nothing is sent), and the journal's last landed report."""

    async def main() -> int:
        ctx = await Context.open(settings, account)
        ctx.duties = with_set_pools(DUTIES)
        try:
            result = await run_cycle(ctx, send=False)
            print(format_cycle(result))
            for p in result.pools:
                last = ctx.journal.last_landed(p.pool.address)
                if last:
                    age = time.time() - last.updated_at
                    print(f"  {p.pool.address}: last report slot {last.slot}, {age:.0f} s ago, tx {last.tx_hash}")
                else:
                    print(f"  {p.pool.address}: no report in this journal yet")
        finally:
            await ctx.close()
        return 0

    try:
        return asyncio.run(main())
    except (CycleError, EndpointError, ExecutionError, JournalError) as exc:
        print(f"pool-oracle status: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, JournalError) else 1


def _one_shot(
    settings: Settings,
    account: LocalAccount | None,
    command: str,
    act: Callable[[Context], Awaitable[list[ActionResult]]],
    refusal: type[Exception],
) -> int:
    """A one-shot command's frame: the context, `act`, one line per action, and the exit code (1 if it was
    refused or an action did not land, 2 for an unusable journal)."""

    async def main() -> int:
        ctx = await Context.open(settings, account)
        ctx.duties = with_set_pools(DUTIES)
        try:
            results = await act(ctx)
        finally:
            await ctx.close()
        for r in results:
            tx = f" tx {r.tx_hash}" if r.tx_hash else ""
            print(f"{r.action.duty}: {r.action.why}: {r.outcome}{f' ({r.reason})' if r.reason else ''}{tx}")
        return 0 if all(r.outcome == "landed" for r in results) else 1

    try:
        return asyncio.run(main())
    except refusal as exc:
        print(f"pool-oracle {command}: {exc}", file=sys.stderr)
        return 1
    except (CycleError, EndpointError, ExecutionError, JournalError) as exc:
        print(f"pool-oracle {command}: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, JournalError) else 1


def duty_once(settings: Settings, account: LocalAccount | None, duty: str, *, pubkey: bytes | None = None,
              pool: str | None = None) -> int:  # fmt: skip
    """`activate` and `finalize`: one duty now, through the journal; exit 1 if it was refused or did not land."""
    from oracle.keeper.oneshot import DutyRefused, activate, finalize_requests

    async def act(ctx: Context) -> list[ActionResult]:
        if duty == "activation":
            assert pubkey is not None
            return [await activate(ctx, pubkey)]
        return await finalize_requests(ctx, pool)

    command = "activate" if duty == "activation" else "finalize"
    return _one_shot(settings, account, command, act, DutyRefused)


def register_once(settings: Settings, account: LocalAccount | None, pool: str, indices: list[int]) -> int:
    """`register-validators`: the pool's validators not registered yet (or `indices`), registered with proofs
    from the finalized state; exit 1 if it was refused or did not land."""
    from oracle.reporting.pipeline import read_chain
    from oracle.setpools.register import RegistrationRefused, register_validators

    async def act(ctx: Context) -> list[ActionResult]:
        facts, _ = await read_chain(ctx, send=ctx.txm is not None)
        return await register_validators(ctx, facts, pool, indices)

    return _one_shot(settings, account, "register-validators", act, RegistrationRefused)


def check(settings: Settings, account: LocalAccount | None) -> int:
    """Pre-flight of an installation: one pass/fail line per check."""
    lines: list[tuple[bool, str]] = []

    def result(ok: bool, text: str) -> None:
        lines.append((ok, text))
        print(f"{'PASS' if ok else 'FAIL'}  {text}", flush=True)

    async def main() -> None:
        ctx = await Context.open(settings, account)
        try:
            for node in ctx.beacon:
                try:
                    genesis = await node.genesis()
                    syncing = await node.syncing()
                    spec = await node.spec()
                    problem = chain_problem(settings, ctx.layout.family, genesis, spec)
                    result(problem is None, f"beacon {node.label}: " + (problem or (
                        f"genesis 0x{genesis.validators_root.hex()[:16]}…, chain {settings.chain_id}")))  # fmt: skip
                    head = syncing.head_slot
                    result(not is_lagging(syncing, settings.endpoints.max_head_lag_slots),
                           f"beacon {node.label}: head {head}, sync distance {syncing.distance}")  # fmt: skip
                    depth = 64
                    try:
                        await node.json("state_root", f"/eth/v1/beacon/states/{max(0, head - depth)}/root")
                        result(True, f"beacon {node.label}: serves states {depth} slots back (archive depth)")
                    except EndpointError as exc:
                        result(False, f"beacon {node.label}: no state {depth} slots back ({exc})")
                    if ctx.layout.family == "beaconkit":
                        try:
                            await node.json("bkit_block_proposer", "/bkit/v1/proof/block_proposer/head")
                            result(True, f"beacon {node.label}: serves beacon-kit's /bkit/v1/proof endpoints")
                        except EndpointError as exc:
                            result(False, f"beacon {node.label}: no /bkit/v1/proof endpoints ({exc})")
                except EndpointError as exc:
                    result(False, f"beacon {node.label}: {exc}")
            for endpoint in ctx.el.endpoints:
                try:
                    chain_id = await endpoint.w3.eth.chain_id
                    block = await endpoint.w3.eth.get_block("latest")
                    age = time.time() - int(block["timestamp"])
                    text = (
                        f"execution {endpoint.label}: chain id {chain_id} (expected {settings.chain_id}), "
                        f"latest block {block['number']} {age:.0f} s old"
                    )
                    result(chain_id == settings.chain_id, text)
                except Exception as exc:  # any failure is a FAIL line
                    result(False, f"execution {endpoint.label}: {str(exc)[:200]}")
            try:
                await check_endpoints(ctx)
                result(True, f"contracts: factory {ctx.factory}, oracle {ctx.oracle}, vault {ctx.vault}")
                result(not ctx.gindex_problems, "factory generalized indices: " + (
                    "; ".join(ctx.gindex_problems) or f"those of layout {ctx.layout.name}"))  # fmt: skip
                latest = await ctx.el.block("latest")
                root = await ctx.el.beacon_root(int(latest["timestamp"]))
                result(root is not None, f"EIP-4788: root for the latest block's timestamp "
                       f"{'0x' + root.hex()[:16] + '…' if root else 'missing'}")  # fmt: skip
            except (CycleError, EndpointError, ExecutionError) as exc:
                result(False, f"consistency: {exc}")
                return
            if ctx.account is None:
                result(True, "signer: none configured: audit mode (proves and reconciles, never sends)")
                return
            result(True, f"signer: {ctx.account.address}")
            result(ctx.has_role or settings.keeper.enabled, access_line(ctx))
            result(True, keeper_line(ctx))
            balance = await ctx.el.balance(ctx.account.address)
            result(balance >= MIN_SIGNER_BALANCE_WEI, f"signer balance: {balance / 10**18:.4f} (need >= 0.1 for gas)")
        finally:
            await ctx.close()

    try:
        asyncio.run(main())
    except JournalError as exc:
        result(False, f"journal: {exc}")
    failed = [text for ok, text in lines if not ok]
    print(f"{len(lines) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def access_line(ctx: Context) -> str:
    """Whether this key can report, in the terms of the deployed oracle's access scheme."""
    if ctx.oracle_access == "access_control":
        state = "granted: this key can report" if ctx.has_role else "NOT granted: audit mode"
        return f"reporting access: AccessControl oracle, FEEDER_ROLE {state}"
    if ctx.oracle_access == "ownable":
        state = "this key is the owner: it can report" if ctx.has_role else "this key is NOT the owner: audit mode"
        return f"reporting access: Ownable oracle, {state}"
    return ("reporting access: the oracle answers neither supportsInterface nor owner(); "
            "a report's pre-flight from this key decides (audit mode until one passes)")  # fmt: skip


def keeper_line(ctx: Context) -> str:
    """What this key can do of the permissionless duties (none needs a role: only gas)."""
    duties = ("activation", "finalize_withdrawals", "process_rewards", "retry_full_exit")
    on = [name for name in duties if getattr(ctx.settings.keeper, name)]
    if not ctx.settings.keeper.enabled:
        return "keeper: off (keeper.enabled); this key could do every permissionless duty, none needs a role"
    mode = "report and keep" if ctx.has_role else "keep only (no right to report)"
    return f"keeper: on, this key can {mode}: {', '.join(on) or 'no duty switched on'}"


def write_reference(output: str | None, fmt: str = "markdown") -> int:
    from oracle.config.reference import render, render_env

    text = render_env() if fmt == "env" else render()
    if output:
        Path(output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0

"""Stage 1: every endpoint shows it serves the configured chain; the contracts' addresses and facts."""

from __future__ import annotations

import time

import structlog

from oracle.beacon.client import BeaconNode, EndpointError, Genesis, Syncing
from oracle.config.settings import Settings
from oracle.execution.el import ExecutionError
from oracle.reporting.context import Context, CycleError
from oracle.service import metrics

log = structlog.get_logger("oracle.cycle")


def chain_problem(settings: Settings, family: str, genesis: Genesis, spec: dict[str, str]) -> str | None:
    """Why a beacon node does not serve the configured network, or None. A check is never skipped because a
    key is absent: beacon-kit's spec has five keys (DEPOSIT_NETWORK_ID, no DEPOSIT_CHAIN_ID, no SECONDS_PER_SLOT)."""
    expected_root = settings.genesis_validators_root.lower()
    if expected_root and "0x" + genesis.validators_root.hex() != expected_root:
        return (
            f"genesis_validators_root 0x{genesis.validators_root.hex()} is not the configured {expected_root}: "
            "a node of another network"
        )
    key = "DEPOSIT_CHAIN_ID" if "DEPOSIT_CHAIN_ID" in spec else "DEPOSIT_NETWORK_ID"
    chain = spec.get(key)
    if chain is None:
        return "its spec has neither DEPOSIT_CHAIN_ID nor DEPOSIT_NETWORK_ID: cannot tell which chain it serves"
    if not chain.isdigit() or int(chain) != settings.chain_id:
        return f"spec {key} {chain} is not chain_id {settings.chain_id}"
    if family == "ethereum":
        seconds = spec.get("SECONDS_PER_SLOT", "")
        if not seconds.isdigit() or int(seconds) == 0:
            return f"spec SECONDS_PER_SLOT {seconds or 'missing'}: the finalized anchor needs it"
    return None


def is_lagging(syncing: Syncing, max_lag: int) -> bool:
    """beacon-kit reports is_syncing with distance 1 between FinalizeBlock and Commit, once per block: that
    flicker is not a node to set aside."""
    return syncing.distance > max(max_lag, 1) or (syncing.is_syncing and syncing.distance > 1)


async def probe_beacon(ctx: Context, node: BeaconNode) -> int:
    """A node's head slot, after it has shown it serves the configured chain (every cycle, every node: facts
    are stored only once a node has passed)."""
    genesis = await node.genesis(retry=False)
    syncing = await node.syncing(retry=False)
    spec = await node.spec(retry=False)
    problem = chain_problem(ctx.settings, ctx.layout.family, genesis, spec)
    if problem is None and ctx.genesis is not None and genesis.validators_root != ctx.genesis.validators_root:
        problem = "genesis_validators_root differs from the other endpoints'"
    if problem is not None:
        raise EndpointError(node.label, "chain", problem)
    if is_lagging(syncing, ctx.settings.endpoints.max_head_lag_slots):
        raise EndpointError(node.label, "syncing", f"syncing (distance {syncing.distance})")
    if ctx.genesis is None:
        ctx.genesis = genesis
        if ctx.layout.family == "ethereum":
            ctx.seconds_per_slot = int(spec["SECONDS_PER_SLOT"])
    return syncing.head_slot


async def check_endpoints(ctx: Context) -> None:
    """All endpoints agree on genesis, chain and spec with each other and the config; syncing or lagging
    ones are set aside for this cycle."""
    settings = ctx.settings
    heads: dict[BeaconNode, int] = {}
    for node in ctx.beacon:
        try:
            heads[node] = await probe_beacon(ctx, node)
            metrics.ENDPOINT_UP.labels("beacon", node.label).set(1)
        except EndpointError as exc:
            metrics.ENDPOINT_UP.labels("beacon", node.label).set(0)
            log.warning("beacon endpoint set aside", endpoint=node.label, error=str(exc))
    if not heads:
        raise CycleError("no usable beacon endpoint")
    best = max(heads.values())
    ctx.healthy_beacon = [
        n for n in ctx.beacon if n in heads and best - heads[n] <= settings.endpoints.max_head_lag_slots
    ]
    for node in ctx.beacon:
        if node in heads and node not in ctx.healthy_beacon:
            metrics.ENDPOINT_UP.labels("beacon", node.label).set(0)
            log.warning("beacon endpoint lagging", endpoint=node.label, head=heads[node], best=best)
    metrics.HEAD_SLOT.set(best)
    healthy_el = []
    for endpoint in ctx.el.endpoints:
        try:
            chain_id = await endpoint.w3.eth.chain_id
            block = await endpoint.w3.eth.get_block("latest")
            if chain_id != settings.chain_id:
                raise ExecutionError(f"chain id {chain_id}, expected {settings.chain_id}")
            age = time.time() - int(block["timestamp"])
            if age > settings.endpoints.max_block_age_seconds:
                raise ExecutionError(f"latest block is {age:.0f} s old")
            healthy_el.append(endpoint)
            metrics.ENDPOINT_UP.labels("execution", endpoint.label).set(1)
        except Exception as exc:
            metrics.ENDPOINT_UP.labels("execution", endpoint.label).set(0)
            metrics.EL_ERRORS.labels(endpoint.label, type(exc).__name__).inc()
            log.warning("execution endpoint set aside", endpoint=endpoint.label, error=str(exc)[:200])
    if not healthy_el:
        raise CycleError("no usable execution endpoint")
    ctx.el.healthy = healthy_el
    await resolve_contracts(ctx)


async def resolve_contracts(ctx: Context) -> None:
    """Factory-derived addresses, checked against the config, read once; the signer's role and balance
    every cycle (a role can be granted or revoked at any time)."""
    if not ctx.factory:
        await _read_contract_facts(ctx)
    if ctx.account is not None:
        ctx.has_role = bool(
            await ctx.el.view("AccountingOracle", ctx.oracle, "hasRole", ctx.feeder_role, ctx.account.address)
        )
        metrics.SIGNER_BALANCE.set(await ctx.el.balance(ctx.account.address))


async def _read_contract_facts(ctx: Context) -> None:
    c = ctx.settings.contracts
    if await ctx.el.code_size(c.factory) == 0:
        raise CycleError(f"contracts.factory {c.factory}: no contract at that address on chain {ctx.settings.chain_id}")
    oracle = await ctx.el.view("StakingPoolContractsFactory", c.factory, "accountingOracle")
    vault = await ctx.el.view("StakingPoolContractsFactory", c.factory, "withdrawalVault")
    checks = (("accounting_oracle", c.accounting_oracle, oracle), ("withdrawal_vault", c.withdrawal_vault, vault))
    for name, configured, actual in checks:
        if configured and configured.lower() != str(actual).lower():
            raise CycleError(f"contracts.{name} {configured} is not the factory's {actual}")
    ctx.factory, ctx.oracle, ctx.vault = c.factory, str(oracle), str(vault)
    ctx.max_timestamp_age = int(await ctx.el.view("StakingPoolContractsFactory", c.factory, "MAX_TIMESTAMP_AGE"))
    ctx.feeder_role = bytes(await ctx.el.view("AccountingOracle", ctx.oracle, "FEEDER_ROLE"))

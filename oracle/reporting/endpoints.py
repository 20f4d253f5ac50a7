"""Stage 1: every endpoint shows it serves the configured chain; the contracts' addresses and facts."""

from __future__ import annotations

import time

import structlog

from oracle import metrics
from oracle.beacon.answers import EndpointError, Genesis, Syncing
from oracle.beacon.client import BeaconNode
from oracle.config.settings import Settings
from oracle.execution.el import ExecutionEndpoint, ExecutionError
from oracle.reporting.context import Context, CycleError

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
    healthy_el: list[ExecutionEndpoint] = []
    for endpoint in ctx.el.endpoints:
        # Its head as it is now: reads about a block past it ask it again first (ExecutionClient), and a node
        # that lost blocks (resynced, on another fork) is not taken for one at its old head.
        endpoint.head = -1
        try:
            chain_id = await endpoint.w3.eth.chain_id
            block = await endpoint.w3.eth.get_block("latest")
            if chain_id != settings.chain_id:
                raise ExecutionError(f"chain id {chain_id}, expected {settings.chain_id}")
            age = time.time() - int(block["timestamp"])
            if age > settings.endpoints.max_block_age_seconds:
                raise ExecutionError(
                    f"latest block is {age:.0f} s old by this host's clock (if every endpoint says so, check the "
                    "clock: NTP)"
                )
            if not healthy_el:
                ctx.chain_clock = (int(block["timestamp"]), time.monotonic())
            endpoint.head = int(block["number"])
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


IACCESS_CONTROL = bytes.fromhex("7965db0b")  # ERC-165 id of OpenZeppelin's IAccessControl
GINDEX_EVENTS = {
    "ZeroValidatorPubkeyGIndexChanged": "zeroValidatorPubkeyGIndex",
    "ZeroValidatorWithdrawalCredentialsGIndexChanged": "zeroValidatorWithdrawalCredentialsGIndex",
    "ZeroValidatorBalanceGIndexChanged": "zeroValidatorBalanceGIndex",
}


async def resolve_contracts(ctx: Context) -> None:
    """Factory-derived addresses, checked against the config, and the oracle's access scheme, read once; the
    factory's generalized indices again whenever it announces a change; whether this signer may report, and
    its balance, every cycle (a role or an owner can change at any time)."""
    if not ctx.factory:
        await _read_contract_facts(ctx)
    else:
        await _follow_gindex_changes(ctx)
    if ctx.account is not None:
        ctx.has_role = await signer_may_report(ctx)
        metrics.SIGNER_BALANCE.set(await ctx.el.balance(ctx.account.address))


async def detect_oracle_access(ctx: Context) -> str:
    """How the deployed AccountingOracle decides who reports: "access_control" (FEEDER_ROLE, as the published
    ABI has it), "ownable" (the owner, as the contract reference page describes it), or "unknown" (neither
    answers: a report's pre-flight eth_call from the signer decides)."""
    try:
        if await ctx.el.view("AccountingOracle", ctx.oracle, "supportsInterface", IACCESS_CONTROL):
            ctx.feeder_role = bytes(await ctx.el.view("AccountingOracle", ctx.oracle, "FEEDER_ROLE"))
            return "access_control"
    except ExecutionError:
        pass
    try:
        owner = str(await ctx.el.view("Ownable", ctx.oracle, "owner"))
        if int(owner, 16):
            return "ownable"
    except ExecutionError:
        pass
    return "unknown"


async def signer_may_report(ctx: Context) -> bool:
    assert ctx.account is not None
    allowed = await may_report(ctx, ctx.account.address)
    return ctx.has_role if allowed is None else allowed  # unknown: what the last pre-flight showed (report_pool)


async def may_report(ctx: Context, address: str) -> bool | None:
    """Whether `address` may report, as the oracle's access scheme says (FEEDER_ROLE, or ownership); None when
    the scheme is unknown. This signer's right, and another reporter's seen in the mempool (reporting.mempool)."""
    if ctx.oracle_access == "access_control":
        return bool(await ctx.el.view("AccountingOracle", ctx.oracle, "hasRole", ctx.feeder_role, address))
    if ctx.oracle_access == "ownable":
        return str(await ctx.el.view("Ownable", ctx.oracle, "owner")).lower() == address.lower()
    return None


def gindex_problems(ctx: Context, on_chain: dict[str, int]) -> list[str]:
    """The factory verifies proofs at its zeroValidator*GIndex; ours come from the configured layout. A
    difference means every report would revert (a fork changed the state layout, or the wrong layout is
    configured): caught here, before any proof fails on chain."""
    expected = {
        "zeroValidatorPubkeyGIndex": ctx.layout.pubkey_gindex(0),
        "zeroValidatorWithdrawalCredentialsGIndex": ctx.layout.withdrawal_credentials_gindex(0),
        "zeroValidatorBalanceGIndex": ctx.layout.balance_gindex(0),
    }
    return [
        f"factory {name} is {on_chain[name]}, layout {ctx.layout.name} has {expected[name]}"
        for name in expected
        if name in on_chain and on_chain[name] != expected[name]
    ]


async def read_gindices(ctx: Context) -> None:
    values = {}
    for name in GINDEX_EVENTS.values():
        values[name] = int(await ctx.el.view("StakingPoolContractsFactory", ctx.factory, name))
    ctx.gindex_problems = gindex_problems(ctx, values)
    metrics.CONTRACT_MISMATCH.labels("gindex").set(1 if ctx.gindex_problems else 0)
    for problem in ctx.gindex_problems:
        log.error("the factory verifies proofs at other generalized indices: no report can land", problem=problem)


async def _follow_gindex_changes(ctx: Context) -> None:
    latest = int((await ctx.el.block("latest"))["number"])
    start = ctx.gindex_checked_block + 1
    if latest < start:
        return
    changed = False
    for event in GINDEX_EVENTS:
        if await ctx.el.logs("StakingPoolContractsFactory", ctx.factory, event, start, latest):
            changed = True
    ctx.gindex_checked_block = latest
    if changed:
        log.warning("the factory announced new generalized indices: comparing them with the layout")
        await read_gindices(ctx)


async def _read_contract_facts(ctx: Context) -> None:
    c = ctx.settings.contracts
    if await ctx.el.code_size(c.factory) == 0:
        raise CycleError(
            f"contracts.factory {c.factory}: no contract at that address on chain {ctx.settings.chain_id} "
            "(no factory answers there: check the address against Berachain's published contracts)"
        )
    oracle = await ctx.el.view("StakingPoolContractsFactory", c.factory, "accountingOracle")
    vault = await ctx.el.view("StakingPoolContractsFactory", c.factory, "withdrawalVault")
    checks = (("accounting_oracle", c.accounting_oracle, oracle), ("withdrawal_vault", c.withdrawal_vault, vault))
    for name, configured, actual in checks:
        if configured and configured.lower() != str(actual).lower():
            raise CycleError(f"contracts.{name} {configured} is not the factory's {actual}")
    ctx.max_timestamp_age = int(await ctx.el.view("StakingPoolContractsFactory", c.factory, "MAX_TIMESTAMP_AGE"))
    ctx.gindex_checked_block = int((await ctx.el.block("latest"))["number"])
    ctx.oracle, ctx.vault = str(oracle), str(vault)
    ctx.factory = c.factory
    await read_gindices(ctx)
    ctx.oracle_access = await detect_oracle_access(ctx)
    log.info("contracts resolved", factory=ctx.factory, accounting_oracle=ctx.oracle, withdrawal_vault=ctx.vault,
             oracle_access=ctx.oracle_access, max_timestamp_age=ctx.max_timestamp_age)  # fmt: skip

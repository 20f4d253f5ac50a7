"""One report cycle: endpoints -> anchor -> CL view -> pools -> proofs -> lags and books -> decisions ->
pre-flight -> send -> journal and metrics. Each stage is a function of its inputs; `run_cycle` wires them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import structlog
from eth_account.signers.local import LocalAccount

from oracle import __version__
from oracle.beacon.client import BeaconNode, EndpointError, Genesis, NotFound, Syncing
from oracle.config.settings import Settings
from oracle.execution.el import ExecutionClient, ExecutionError, decode_revert
from oracle.execution.txmanager import TxManager, TxOutcome
from oracle.reporting.proofs import ProvenBalance, engine_proof, verify
from oracle.reporting.reconcile import Decision, Lags, Limits, PoolBooks, reconcile
from oracle.service import metrics
from oracle.service.faults import crash_point
from oracle.service.journal import Journal
from oracle.ssz.bkjson import read_debug_state
from oracle.ssz.errors import ProofError, SSZError
from oracle.ssz.layouts import Layout, get_layout
from oracle.ssz.state import BeaconState, eth1_credentials, load_state
from oracle.ssz.types import MerkleCache
from oracle.types import FAR_FUTURE_EPOCH, WEI_PER_GWEI

log = structlog.get_logger("oracle.cycle")
SHARE = 10**18


class CycleError(Exception):
    """The cycle cannot go on (no usable endpoint, inconsistent chain data); nothing was sent."""


@dataclass
class Context:
    """What lives across cycles: endpoints, signer, journal, the engine's cache and chain facts."""

    settings: Settings
    layout: Layout
    session: aiohttp.ClientSession
    beacon: list[BeaconNode]
    el: ExecutionClient
    journal: Journal
    account: LocalAccount | None
    txm: TxManager | None
    cache: MerkleCache = field(default_factory=MerkleCache)
    genesis: Genesis | None = None
    seconds_per_slot: int = 0
    factory: str = ""
    oracle: str = ""
    vault: str = ""
    max_timestamp_age: int = 600
    feeder_role: bytes = b""
    has_role: bool = False
    healthy_beacon: list[BeaconNode] = field(default_factory=list)

    @classmethod
    async def open(cls, settings: Settings, account: LocalAccount | None) -> Context:
        """`account`: the loaded signer (load_signer), or None for audit mode."""
        session = aiohttp.ClientSession()
        timeout, budget = settings.endpoints.request_timeout_seconds, settings.endpoints.retry_budget_seconds
        beacon = [BeaconNode(url, session, timeout, budget) for url in settings.beacon_endpoints]
        el = ExecutionClient(settings.execution_endpoints, timeout)
        journal = Journal(Path(settings.service.journal_path).expanduser())
        txm = TxManager(el, account, settings.chain_id, settings.transactions, journal) if account else None
        layout = get_layout(settings.layout)
        metrics.initialise(list(settings.beacon_endpoints), list(settings.execution_endpoints))
        metrics.BUILD.info(
            {
                "version": __version__,
                "network": settings.network,
                "layout": layout.name,
                "signer": account.address if account else "none",
            }
        )
        return cls(settings, layout, session, beacon, el, journal, account, txm)

    async def close(self) -> None:
        await self.session.close()
        await self.el.close()
        self.journal.close()

    @property
    def mode(self) -> str:
        return "reporter" if self.account is not None and self.has_role else "auditor"


@dataclass(frozen=True)
class Anchor:
    """The proven slot and the EL timestamp whose EIP-4788 root is its block root."""

    slot: int
    block_root: bytes
    timestamp: int
    el_block: int


@dataclass(frozen=True)
class Pool:
    index: int
    pubkey: bytes
    address: str


@dataclass
class PoolResult:
    pool: Pool
    outcome: str  # landed, unchanged, held, audit_drift, proof_failed, preflight_failed, failed, skipped...
    reasons: tuple[str, ...] = ()
    balance_gwei: int | None = None
    total_deposits_gwei: int | None = None
    share_price: float | None = None
    predicted_share_price: float | None = None
    tx_hash: str | None = None
    source: str | None = None


@dataclass
class CycleResult:
    anchor: Anchor | None
    mode: str
    pools: list[PoolResult] = field(default_factory=list)
    skipped: list[tuple[Pool, str]] = field(default_factory=list)


# -- stage 1: endpoints --------------------------------------------------------------------------------


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


# -- stage 2: the anchor ---------------------------------------------------------------------------------


async def pin_anchor(ctx: Context, node: BeaconNode) -> Anchor:
    """beacon-kit: the latest EL block's timestamp and the root it carries (head is final there).
    Ethereum: the finalized block and the first EL block after it."""
    if ctx.layout.family == "beaconkit":
        latest = await ctx.el.block("latest")
        if not ctx.seconds_per_slot:  # beacon-kit's spec has no SECONDS_PER_SLOT: one EL block per slot
            earlier = await ctx.el.block(max(0, int(latest["number"]) - 16))
            blocks = int(latest["number"]) - int(earlier["number"])
            ctx.seconds_per_slot = max(
                1, round((int(latest["timestamp"]) - int(earlier["timestamp"])) / max(blocks, 1))
            )
        for back in range(4):
            number = int(latest["number"]) - back
            block = latest if back == 0 else await ctx.el.block(number)
            timestamp = int(block["timestamp"])
            root = await ctx.el.beacon_root(timestamp)
            if root is None:
                continue
            slot = await slot_of_block_root(node, root)
            metrics.FINALIZED_SLOT.set(slot)  # CometBFT: every block is final
            return Anchor(slot, root, timestamp, number)
        raise CycleError("no EIP-4788 root in the latest EL blocks")
    finalized = await node.header("finalized")
    metrics.FINALIZED_SLOT.set(finalized.slot)
    assert ctx.genesis is not None and ctx.seconds_per_slot
    for slot in range(finalized.slot + 1, finalized.slot + 65):
        try:
            await node.header(str(slot))
        except NotFound:
            continue
        timestamp = ctx.genesis.time + slot * ctx.seconds_per_slot
        root = await ctx.el.beacon_root(timestamp)
        if root != finalized.root:
            raise CycleError(f"EIP-4788 root at {timestamp} does not match the finalized block root")
        block = await ctx.el.block("latest")
        return Anchor(finalized.slot, finalized.root, timestamp, int(block["number"]))
    raise CycleError("no block after the finalized one yet")


async def slot_of_block_root(node: BeaconNode, root: bytes, walk: int = 8) -> int:
    """The slot of a block root. beacon-kit resolves roots from an in-memory store of blocks finalized since
    the node started (older ones answer 500), so on a miss walk back from head comparing the roots of the
    headers, which we hash ourselves."""
    try:
        header = await node.header("0x" + root.hex())
        if header.root == root:
            return header.slot
    except EndpointError as exc:
        if exc.retryable:
            raise
    head = await node.header("head")
    for slot in range(head.slot, max(-1, head.slot - walk), -1):
        header = head if slot == head.slot else await node.header(str(slot))
        if header.root == root:
            return header.slot
    raise EndpointError(node.label, "header", f"block root 0x{root.hex()} is not among the last {walk} blocks")


# -- stage 3: the CL view ------------------------------------------------------------------------------------


async def load_cl_state(ctx: Context, node: BeaconNode, anchor: Anchor) -> BeaconState:
    """The state at the anchor, merkleized by our engine (JSON from beacon-kit, SSZ from Ethereum clients);
    its block root must be the anchor's."""
    started = time.perf_counter()
    raw: bytes | bytearray
    layout = ctx.layout
    if ctx.layout.family == "beaconkit":
        document = await node.state_document(str(anchor.slot))
        try:
            layout, version, raw = read_debug_state(document)
        except SSZError as exc:
            raise EndpointError(node.label, "state", f"malformed state: {exc}") from None
        if layout.family != "beaconkit":
            raise EndpointError(node.label, "state", f"served an Ethereum {version} state, the layout is beacon-kit's")
        if layout is not ctx.layout:
            log.warning("the node serves another fork than configured", endpoint=node.label, fork=version,
                        served_layout=layout.name, configured_layout=ctx.layout.name)  # fmt: skip
    else:
        node.expected_fork = ctx.layout.name.split("-", 1)[1]
        raw = await node.state_ssz(str(anchor.slot), timeout=max(120.0, ctx.settings.endpoints.request_timeout_seconds))
    big = len(raw) > 50_000_000
    if big:
        log.info("merkleizing the state", slot=anchor.slot, megabytes=round(len(raw) / 1e6))
    try:
        state = await asyncio.to_thread(load_state, raw, layout, ctx.cache)
    except SSZError as exc:
        raise EndpointError(node.label, "state", f"malformed state: {exc}") from None
    metrics.PROOF_BUILD_SECONDS.labels("state").observe(time.perf_counter() - started)
    if big:
        log.info("state ready", slot=anchor.slot, validators=state.validator_count,
                 seconds=round(time.perf_counter() - started, 1))  # fmt: skip
    if state.block_root != anchor.block_root:
        metrics.PROOF_FAILURES.labels(node.label, "state").inc()
        raise EndpointError(
            node.label, "state", f"state of slot {anchor.slot} does not hash to the anchored block root"
        )
    return state


async def discover(ctx: Context, state: BeaconState) -> tuple[list[Pool], list[tuple[Pool, str]]]:
    """Validators paying out to the WithdrawalVault, mapped to their pools; paused and exited pools apart."""
    records = state.validator_records()
    wanted = np.frombuffer(eth1_credentials(bytes.fromhex(ctx.vault[2:])), dtype=np.uint8)
    indices = np.flatnonzero((records[:, 48:80] == wanted).all(axis=1))
    active, skipped = [], []
    for index in (int(i) for i in indices):
        pubkey = records[index, 0:48].tobytes()
        core = await ctx.el.view("StakingPoolContractsFactory", ctx.factory, "getCoreContracts", pubkey)
        staking_pool = str(core[1])  # (smartOperator, stakingPool, stakingRewardsVault, incentiveCollector)
        if int(staking_pool, 16) == 0:
            log.info("validator pays to the vault but has no pool", validator_index=index)
            continue
        pool = Pool(index, pubkey, staking_pool)
        if await ctx.el.view("StakingPool", staking_pool, "isFullyExited"):
            skipped.append((pool, "fully_exited"))
        elif await ctx.el.view("StakingPool", staking_pool, "paused"):
            skipped.append((pool, "paused"))
        else:
            active.append(pool)
    metrics.POOLS.labels("active").set(len(active))
    metrics.POOLS.labels("paused").set(sum(1 for _, r in skipped if r == "paused"))
    metrics.POOLS.labels("exited").set(sum(1 for _, r in skipped if r == "fully_exited"))
    return active, skipped


# -- stage 4: proofs -------------------------------------------------------------------------------------------


async def node_proof(node: BeaconNode, anchor: Anchor, index: int) -> ProvenBalance:
    timestamp_id = f"t{anchor.timestamp}"
    pk = await node.bkit_proof("validator_pubkey", timestamp_id, index)
    bal = await node.bkit_proof("validator_balance", timestamp_id, index)
    return ProvenBalance(
        index=index,
        pubkey=pk["pubkey"],
        balance=bal["balance"],
        balance_leaf=bal["leaf"],
        pubkey_proof=tuple(pk["proof"]),
        balance_proof=tuple(bal["proof"]),
        block_root=bal["block_root"],
        slot=bal["slot"],
        source="node",
    )


async def prove(ctx: Context, node: BeaconNode, anchor: Anchor, state: BeaconState, pool: Pool) -> ProvenBalance | None:
    """Verified proofs for the pool's validator: the node's (beacon-kit) checked against the EIP-4788 root
    and our engine's, or ours alone. None if nothing verifies (then nothing is sent)."""
    candidates: list[ProvenBalance] = []
    # beacon-kit serves balance proofs from Electra only (merkle/generalized_indexes.go).
    if state.layout.family == "beaconkit" and state.layout.has_field("pending_partial_withdrawals"):
        started = time.perf_counter()
        try:
            candidates.append(await node_proof(node, anchor, pool.index))
        except EndpointError as exc:
            log.warning("node proof unavailable", endpoint=node.label, validator_index=pool.index, error=str(exc))
        metrics.PROOF_BUILD_SECONDS.labels("node").observe(time.perf_counter() - started)
    started = time.perf_counter()
    try:
        ours = engine_proof(state, pool.index)
    except ProofError as exc:
        log.error("engine proof failed", validator_index=pool.index, error=str(exc))
        ours = None
    metrics.PROOF_BUILD_SECONDS.labels("engine").observe(time.perf_counter() - started)
    if ours is not None:
        candidates.append(ours)
    verified = None
    for candidate in candidates:
        started = time.perf_counter()
        problems = verify(candidate, state.layout, anchor.block_root)
        metrics.PROOF_VERIFY_SECONDS.observe(time.perf_counter() - started)
        if candidate.pubkey != pool.pubkey:
            problems.append("proof is for another validator's pubkey")
        if problems:
            endpoint = node.label if candidate.source == "node" else "engine"
            for problem in problems:
                kind = problem.split()[0]
                metrics.PROOF_FAILURES.labels(endpoint, kind if kind in metrics.PROOF_KINDS else "proof").inc()
            log.error("proof rejected", source=candidate.source, endpoint=endpoint, validator_index=pool.index,
                      slot=anchor.slot, problems=problems)  # fmt: skip
            continue
        # Proofs that verify at one gindex against one root share their leaf, so any of them will do.
        verified = verified or candidate
    return verified


# -- stage 5: lags, books, decisions ---------------------------------------------------------------------------


async def collect_lags(ctx: Context, anchor: Anchor, state: BeaconState, pools: list[Pool]) -> dict[int, Lags]:
    settings = ctx.settings.reporting
    processed = int(state.field("eth1_deposit_index"))
    latest = int((await ctx.el.block("latest"))["number"])
    start = max(0, anchor.el_block - settings.deposit_lookback_blocks)
    deposit_contract = ctx.settings.contracts.beacon_deposit
    events = await ctx.el.logs("BeaconDeposit", deposit_contract, "Deposit", start, latest)
    in_flight: dict[bytes, int] = {}
    seen = set()
    for event in events:
        args = event["args"]
        if int(args["index"]) >= processed:
            seen.add(int(args["index"]))
            key = bytes(args["pubkey"])
            in_flight[key] = in_flight.get(key, 0) + int(args["amount"])
    unknown = False
    try:
        total = int(await ctx.el.view("BeaconDeposit", deposit_contract, "depositCount", block=latest))
        unknown = total - processed > len(seen)
    except ExecutionError:
        unknown = bool(seen) and min(seen) > processed  # older unprocessed deposits than the lookback shows
    withdrawals = await ctx.el.logs(
        "WithdrawalVault",
        ctx.vault,
        "ELWithdrawalTriggered",
        max(0, anchor.el_block - settings.withdrawal_lookback_blocks),
        latest,
    )
    requested: dict[bytes, int] = {}
    for event in withdrawals:
        key = bytes(event["args"]["pubkey"])
        requested[key] = requested.get(key, 0) + 1
    queued: dict[int, int] = {}
    if state.layout.has_field("pending_partial_withdrawals"):
        for entry in state.field("pending_partial_withdrawals"):
            queued[int(entry["validator_index"])] = queued.get(int(entry["validator_index"]), 0) + int(entry["amount"])
    pending_deposits: dict[bytes, int] = {}
    if state.layout.has_field("pending_deposits"):
        for entry in state.field("pending_deposits"):
            pending_deposits[entry["pubkey"]] = pending_deposits.get(entry["pubkey"], 0) + 1
    out = {}
    for pool in pools:
        record = state.validator(pool.index)
        out[pool.index] = Lags(
            deposits_in_flight_gwei=in_flight.get(pool.pubkey, 0),
            deposit_lag_unknown=unknown,
            pending_withdrawal_gwei=queued.get(pool.index, 0),
            recent_withdrawal_requests=requested.get(pool.pubkey, 0),
            # An exit in progress: the balance will be swept to the vault; report once the pool is closed.
            exiting=record["exit_epoch"] != FAR_FUTURE_EPOCH and state.balance(pool.index) > 0,
            pending_deposits_in_state=pending_deposits.get(pool.pubkey, 0),
        )
    return out


async def read_books(ctx: Context, pool: Pool) -> PoolBooks:
    def view(fn: str, *args: Any) -> Awaitable[Any]:
        return ctx.el.view("StakingPool", pool.address, fn, *args)

    return PoolBooks(
        total_deposits_wei=int(await view("totalDeposits")),
        total_assets_wei=int(await view("totalAssets")),
        total_supply=int(await view("totalSupply")),
        share_price_wei=int(await view("convertToAssets", SHARE)),
    )


# -- stage 6: pre-flight and send --------------------------------------------------------------------------------


def report_args(proven: ProvenBalance, anchor: Anchor) -> tuple[Any, ...]:
    return (
        proven.pubkey,
        list(proven.pubkey_proof),
        proven.balance,
        proven.balance_leaf,
        list(proven.balance_proof),
        proven.index,
        anchor.timestamp,
    )


async def preflight(ctx: Context, proven: ProvenBalance, anchor: Anchor) -> tuple[str | None, int]:
    """(revert reason or None, gas estimate): the factory's free views, then the report as an eth_call."""
    try:
        await ctx.el.view("StakingPoolContractsFactory", ctx.factory, "validatePubkeyProof",
                          proven.pubkey, list(proven.pubkey_proof), proven.index, anchor.timestamp)  # fmt: skip
        await ctx.el.view("StakingPoolContractsFactory", ctx.factory, "validateBalanceProof", proven.balance,
                          proven.balance_leaf, list(proven.balance_proof), proven.index, anchor.timestamp)  # fmt: skip
    except ExecutionError as exc:
        return exc.reason or str(exc), 0
    if ctx.account is None:
        return None, 0
    fn = ctx.el.contract("AccountingOracle", ctx.oracle).functions.updateTotalDeposits(*report_args(proven, anchor))
    params = {"from": ctx.account.address}
    try:
        await ctx.el.timed("eth_call", lambda w3: fn.call(params))  # type: ignore[arg-type]
        gas = await ctx.el.timed("eth_estimateGas", lambda w3: fn.estimate_gas(params))  # type: ignore[arg-type]
    except Exception as exc:
        return decode_revert(getattr(exc, "data", None)), 0
    return None, int(gas)


async def report_pending_elsewhere(ctx: Context, proven: ProvenBalance) -> bool:
    """Another reporter's transaction for this validator waits in the mempool (txpool_content, where the
    node serves it)."""
    try:
        response = await ctx.el.w3.provider.make_request("txpool_content", [])
    except Exception:
        return False
    pending = response.get("result", {}).get("pending", {}) if isinstance(response, dict) else {}
    needle = proven.pubkey.hex()
    oracle = ctx.oracle.lower()
    for by_nonce in pending.values():
        for tx in by_nonce.values():
            if str(tx.get("to", "")).lower() == oracle and needle in str(tx.get("input", "")).lower():
                return True
    return False


async def submit(
    ctx: Context, pool: Pool, proven: ProvenBalance, anchor: Anchor, books: PoolBooks, gas: int
) -> TxOutcome:
    assert ctx.txm is not None and ctx.account is not None
    jitter = random.uniform(0, ctx.settings.reporting.send_jitter_max_seconds)
    await asyncio.sleep(jitter)
    current = int(await ctx.el.view("StakingPool", pool.address, "totalDeposits"))
    if current == proven.balance * WEI_PER_GWEI:
        return TxOutcome("already_reported", reason="totalDeposits already equals the proven balance")
    if await report_pending_elsewhere(ctx, proven):
        return TxOutcome("pending_elsewhere", reason="another report for this validator is in the mempool")
    report_id = ctx.journal.prepare(
        pool.address, "0x" + pool.pubkey.hex(), pool.index, anchor.slot, anchor.timestamp, proven.balance,
        books.total_deposits_wei // WEI_PER_GWEI, proven.digest(),
    )  # fmt: skip
    if report_id is None:
        return TxOutcome("already_journalled", reason=f"a report for slot {anchor.slot} is already in the journal")
    crash_point("after_prepare")
    fn = ctx.el.contract("AccountingOracle", ctx.oracle).functions.updateTotalDeposits(*report_args(proven, anchor))
    data = fn._encode_transaction_data()
    outcome = await ctx.txm.send(report_id, ctx.oracle, data, gas)
    _finish(ctx, report_id, outcome)
    return outcome


def _finish(ctx: Context, report_id: int, outcome: TxOutcome) -> None:
    ctx.journal.finish(
        report_id,
        outcome.status,
        reason=outcome.reason,
        tx_hash=outcome.tx_hash,
        block_number=outcome.block_number,
        gas_used=outcome.gas_used,
        fee_wei=outcome.fee_wei,
    )


async def resume_in_flight(ctx: Context) -> None:
    """Reports the journal says were signed or sent before a restart: see them through first."""
    if ctx.txm is None:
        return
    for row in ctx.journal.in_flight():
        if row.status == "prepared" and not ctx.journal.transactions(row.id):
            ctx.journal.finish(row.id, "failed", reason="killed before signing; nothing was broadcast")
            continue
        outcome = await ctx.txm.resume(row.id)
        _finish(ctx, row.id, outcome)
        log.info("resumed journalled report", pool=row.pool, slot=row.slot, outcome=outcome.status,
                 tx_hash=outcome.tx_hash)  # fmt: skip


# -- the cycle ------------------------------------------------------------------------------------------------------

Confirm = Callable[[Pool, ProvenBalance, Decision], Awaitable[bool]]


def _labels(ctx: Context, pool: Pool) -> tuple[str, str, str]:
    return ctx.settings.network, pool.address, str(pool.index)


async def run_cycle(ctx: Context, *, send: bool = True, confirm: Confirm | None = None) -> CycleResult:
    await check_endpoints(ctx)
    await resume_in_flight(ctx)
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
    metrics.PROVEN_SLOT.set(anchor.slot)
    bound = log.bind(slot=anchor.slot, timestamp=anchor.timestamp)
    pools, skipped = await discover(ctx, state)
    for pool, reason in skipped:
        bound.info("pool skipped", pool=pool.address, validator_index=pool.index, reason=reason)
    lags = await collect_lags(ctx, anchor, state, pools)
    result = CycleResult(anchor, ctx.mode, skipped=skipped)
    limits = Limits(
        ctx.settings.reporting.max_change_per_report,
        ctx.settings.reporting.max_change_per_day,
        ctx.max_timestamp_age,
        ctx.settings.reporting.timestamp_margin_seconds,
    )
    for pool in pools:
        labels = _labels(ctx, pool)
        plog = bound.bind(pool=pool.address, validator_index=pool.index)
        proven = await prove(ctx, node, anchor, state, pool)
        if proven is None:
            result.pools.append(PoolResult(pool, "proof_failed"))
            metrics.REPORTS.labels("proof_failed").inc()
            continue
        books = await read_books(ctx, pool)
        day_ago = time.time() - 86400
        changed = sum(
            abs(r.balance_gwei - r.previous_deposits_gwei) for r in ctx.journal.landed_since(pool.address, day_ago)
        )
        decision = reconcile(
            proven.balance, anchor.timestamp, books, lags[pool.index], limits, now=time.time(),
            expected_landing_seconds=2 * max(ctx.seconds_per_slot, 1), changed_last_day_wei=changed * WEI_PER_GWEI,
        )  # fmt: skip
        metrics.PROVEN_BALANCE.labels(*labels).set(proven.balance)
        metrics.ONCHAIN_DEPOSITS.labels(*labels).set(books.total_deposits_wei // WEI_PER_GWEI)
        metrics.DRIFT.labels(*labels).set(decision.drift_gwei)
        metrics.SHARE_PRICE.labels(*labels).set(books.share_price_wei / SHARE)
        metrics.PREDICTED_SHARE_PRICE.labels(*labels).set(decision.predicted_share_price_wei / SHARE)
        for reason in metrics.HOLD_REASONS:
            metrics.HOLD.labels(*labels, reason).set(1 if reason in decision.reasons else 0)
        entry = PoolResult(
            pool, decision.action, decision.reasons, proven.balance, books.total_deposits_wei // WEI_PER_GWEI,
            books.share_price_wei / SHARE, decision.predicted_share_price_wei / SHARE, source=proven.source,
        )  # fmt: skip
        result.pools.append(entry)
        if decision.action == "unchanged":
            metrics.REPORTS.labels("unchanged").inc()
            plog.debug("unchanged", balance_gwei=proven.balance)
            continue
        if decision.action == "hold":
            entry.outcome = "held"
            for reason in decision.reasons:
                metrics.HOLDS.labels(reason).inc()
            metrics.REPORTS.labels("held").inc()
            plog.warning("report held", reasons=list(decision.reasons), proven_gwei=proven.balance,
                         onchain_gwei=entry.total_deposits_gwei)  # fmt: skip
            continue
        revert_reason, gas = await preflight(ctx, proven, anchor)
        if ctx.account is not None and not ctx.has_role and revert_reason is None:
            ctx.has_role = True  # open reporting: the oracle accepts reports from anyone
            plog.info("the oracle accepts our reports without FEEDER_ROLE (open reporting)")
        if revert_reason is not None and revert_reason != "AccessControlUnauthorizedAccount":
            entry.outcome, entry.reasons = "preflight_failed", (revert_reason,)
            metrics.REPORTS.labels("preflight_failed").inc()
            plog.error("pre-flight failed", reason=revert_reason)
            continue
        if ctx.mode == "auditor" or not send:
            entry.outcome = "audit_drift" if ctx.mode == "auditor" else "dry_run"
            metrics.REPORTS.labels(entry.outcome).inc()
            plog.warning("drift (not sending)", mode=ctx.mode, proven_gwei=proven.balance,
                         onchain_gwei=entry.total_deposits_gwei, drift_gwei=decision.drift_gwei)  # fmt: skip
            continue
        if confirm is not None and not await confirm(pool, proven, decision):
            entry.outcome = "declined"
            continue
        outcome = await submit(ctx, pool, proven, anchor, books, gas)
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
                      previous_gwei=entry.total_deposits_gwei)  # fmt: skip
        else:
            plog.warning("report not landed", outcome=outcome.status, reason=outcome.reason, tx_hash=outcome.tx_hash)
    return result

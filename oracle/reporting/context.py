"""What lives across report cycles (the Context: endpoints, signer, journal, the engine's cache, chain facts)
and the values that cross the stages of one cycle."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from eth_account.signers.local import LocalAccount

from oracle import __version__, metrics
from oracle.beacon.answers import Genesis
from oracle.beacon.client import BeaconNode
from oracle.config.settings import Settings
from oracle.execution.el import ExecutionClient
from oracle.execution.txmanager import TxManager
from oracle.journal import Journal
from oracle.reporting.eventlog import EventWindow
from oracle.reporting.reconcile import Decision, PoolBooks
from oracle.ssz.layouts import Layout, get_layout
from oracle.ssz.state import BeaconState
from oracle.ssz.types import MerkleCache


@dataclass(frozen=True)
class PendingSighting:
    """A transaction to the oracle that the mempool look saw pending: since when (monotonic time, and the latest
    EL block then), and the verdict last logged for it (each verdict is logged once)."""

    first_seen: float
    first_block: int
    verdict: str = ""


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
    oracle_access: str = ""  # access_control, ownable or unknown (endpoints.detect_oracle_access)
    has_role: bool = False  # this signer may report (FEEDER_ROLE, ownership, or an accepted pre-flight)
    gindex_problems: list[str] = field(default_factory=list)
    gindex_checked_block: int = 0
    withdrawal_requests: EventWindow = field(default_factory=EventWindow)  # books.withdrawal_requests
    keeper_requests: EventWindow = field(default_factory=EventWindow)  # keeper.read.open_requests
    duties: Duties | None = None  # the keeper (above reporting/: handed in by the daemon and the CLI)
    deposit_updates: EventWindow = field(default_factory=EventWindow)  # daily.recent_updates
    report_before: dict[str, int] = field(default_factory=dict)  # tx hash -> totalDeposits before that report
    healthy_beacon: list[BeaconNode] = field(default_factory=list)
    # (timestamp of the latest EL block seen, monotonic time it was read): the chain's clock, which is what
    # the contracts judge a proof's age by; the host's clock may be off by minutes.
    chain_clock: tuple[int, float] | None = None
    # The worker thread merkleizing a state (clview.merkleize): it outlives a cancelled cycle, and the next waits.
    merkleization: asyncio.Future[Any] | None = None
    # The mempool look (reporting.mempool): transactions to the oracle seen pending, by hash, and who may report
    # (sender -> (EL block, may report at it)).
    mempool_seen: dict[str, PendingSighting] = field(default_factory=dict)
    reporters: dict[str, tuple[int, bool]] = field(default_factory=dict)
    # Report id -> its decision, re-run on the books read before each signature (send.report_check): in memory
    # only, so that a report followed on after a timeout is judged by the same rules it was decided by.
    deciders: dict[int, Callable[[PoolBooks], Decision]] = field(default_factory=dict)
    # Many-validator pools (oracle.setpools): each registry's validator indices (append-only, read once and then
    # from where it ended), and the last state a report's batches were proven from (one, by its block root).
    registries: dict[str, tuple[int, ...]] = field(default_factory=dict)
    pinned_state: BeaconState | None = None

    @classmethod
    async def open(cls, settings: Settings, account: LocalAccount | None) -> Context:
        """`account`: the loaded signer (load_signer), or None for audit mode. Raises JournalError first, before
        anything is opened, if the journal cannot be used."""
        journal = Journal(Path(settings.service.journal_path).expanduser())
        session = aiohttp.ClientSession()
        timeout, budget = settings.endpoints.request_timeout_seconds, settings.endpoints.retry_budget_seconds
        state_cap = settings.endpoints.max_json_state_megabytes << 20
        labels = metrics.endpoint_labels(settings.beacon_endpoints)
        beacon = [
            BeaconNode(url, session, timeout, budget, label=label, max_json_state_bytes=state_cap)
            for url, label in zip(settings.beacon_endpoints, labels, strict=True)
        ]
        log_range = settings.endpoints.log_range_blocks
        el = ExecutionClient(settings.execution_endpoints, timeout, log_range_blocks=log_range)
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

    def chain_now(self) -> float:
        """Now by the chain: the latest EL block's timestamp plus the time since it was read (the host's
        clock only before any EL endpoint has answered)."""
        if self.chain_clock is None:
            return time.time()
        timestamp, read_at = self.chain_clock
        return timestamp + (time.monotonic() - read_at)

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
    duties: list[Any] = field(default_factory=list)  # the keeper's ActionResults, when it ran


@dataclass(frozen=True)
class CycleFacts:
    """What a cycle proved and read, for the duties that run after its reports."""

    anchor: Anchor
    state: BeaconState
    node: BeaconNode
    reported: list[Pool]  # the open pools the cycle decided reports for
    skipped: list[tuple[Pool, str]]  # the others, with why (not_activated, fully_exited, paused, ...)
    books_block: int  # the EL block the cycle's books and lags were read at


@dataclass(frozen=True)
class Duties:
    """Work a cycle does besides its reports, on the same key: `resume` follows what the journal holds in
    flight before anything is signed (one nonce sequence), `run` comes after the reports (send: False for
    status and --dry-run)."""

    resume: Callable[[Context], Awaitable[None]]
    run: Callable[[Context, CycleFacts, bool], Awaitable[list[Any]]]

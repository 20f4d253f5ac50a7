"""What a many-validator pool's cycle reads, as values: the decisions are functions of these alone."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OpenReport:
    """A report started (its root pinned) whose batches have not all landed."""

    report_id: int
    block_root: bytes
    timestamp: int  # the EL block whose parent beacon block is proven
    next_position: int
    proven_gwei: int


@dataclass(frozen=True)
class CompletedReport:
    report_id: int  # 0: no report yet
    block_root: bytes
    timestamp: int
    consensus_gwei: int
    execution_balance_wei: int


@dataclass(frozen=True)
class SetPoolView:
    address: str
    block: int  # the EL block the views were read at
    reporter: str
    indices: tuple[int, ...]  # the registry, in position order (strictly increasing validator indices)
    credentials: bytes  # withdrawal credentials the registry's validators were proven to have
    open: OpenReport | None
    last: CompletedReport
    total_assets_wei: int
    balance_wei: int  # the pool's EL balance now


@dataclass(frozen=True)
class StartDecision:
    """Whether to start a report now: `action` is start, unchanged or hold."""

    action: str
    reasons: tuple[str, ...]
    proven_gwei: int  # the registry's total on the cycle's proven state
    predicted_total_assets_wei: int
    change: float  # predicted relative move of totalAssets

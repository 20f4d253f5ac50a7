"""Whether a many-validator pool's report is due, held or not needed: plain functions of the views and the
proven state.

The contract counts totalAssets = consensusGwei (proven at the pinned parent state) + the EL balance
snapshotted in that very block + user flows since, so that no withdrawal is counted twice and exits are not a
dip. What can still make a report wrong for its stakers is ETH in transit: a deposit to a registered
validator, or to the pool's credentials, that the CL has not credited yet (the total would rise when it
lands). The bounds are on the move of totalAssets, which user flows cancel out of (they are in both sides),
so they bound the share price: per report (Rocket Pool allows 2 % per update) and over a day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from oracle.config.settings import SetPools
from oracle.setpools.view import SetPoolView, StartDecision
from oracle.ssz.errors import ProofError
from oracle.ssz.state import BeaconState
from oracle.types import WEI_PER_GWEI


def registry_total(state: BeaconState, indices: Sequence[int]) -> int:
    """The registered validators' total balance on `state`, in gwei."""
    count = state.validator_count
    if indices and indices[-1] >= count:
        raise ProofError(f"registered validator {indices[-1]} is past the state's {count} validators")
    if not indices:
        return 0
    return int(state.balances()[np.asarray(indices, dtype=np.int64)].sum(dtype=np.uint64))


def pending_deposits_gwei(state: BeaconState, indices: Sequence[int], credentials: bytes) -> int:
    """Deposits the state has queued (EIP-6110 pending_deposits) for a registered validator or to the pool's
    credentials (a validator of the pool not yet registered): not in any balance yet."""
    if not state.layout.has_field("pending_deposits"):
        return 0
    records = state.validator_records()
    registered = {bytes(records[i, :48].tobytes()) for i in indices}
    return sum(
        int(entry["amount"])
        for entry in state.field("pending_deposits")
        if entry["pubkey"] in registered or entry["withdrawal_credentials"] == credentials
    )


def relative_move(before_wei: int, after_wei: int) -> float:
    return 0.0 if before_wei <= 0 else abs(after_wei - before_wei) / before_wei


def decide_start(
    view: SetPoolView,
    proven_gwei: int,
    in_flight_gwei: int,
    settings: SetPools,
    *,
    now: float,
    moved_last_day: Iterable[float] = (),
) -> StartDecision:
    """Start a report when the last is `report_interval_seconds` old or the proven total drifted
    `min_drift_gwei` from it, unless a deposit is in flight or the move passes a bound. The first report sets
    the baseline and passes no bound (before it, totalAssets is the stakers' deposits alone)."""
    predicted = proven_gwei * WEI_PER_GWEI + view.balance_wei
    change = relative_move(view.total_assets_wei, predicted)
    first = view.last.report_id == 0
    due = (
        first
        or now - view.last.timestamp >= settings.report_interval_seconds
        or abs(proven_gwei - view.last.consensus_gwei) >= settings.min_drift_gwei
    )
    reasons: list[str] = []
    if in_flight_gwei:
        reasons.append("deposit_in_flight")
    if not first and change > settings.max_change_per_report:
        reasons.append("change_exceeds_per_report_bound")
    if not first and change + sum(moved_last_day) > settings.max_change_per_day:
        reasons.append("change_exceeds_daily_bound")
    if not view.indices:
        due, reasons = first, []  # nothing to prove: a first report only pins the baseline
    action = "hold" if due and reasons else ("start" if due else "unchanged")
    return StartDecision(action, tuple(reasons), proven_gwei, predicted, change)

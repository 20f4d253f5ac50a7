"""Reconciliation: proven CL balance against the pool's books, and the holds that keep a report from
opening a share-price trough. A plain function of its inputs."""

from __future__ import annotations

from dataclasses import dataclass

WEI_PER_GWEI = 10**9
SHARE = 10**18


@dataclass(frozen=True)
class PoolBooks:
    """What the pool's contract says now."""

    total_deposits_wei: int
    total_assets_wei: int
    total_supply: int
    share_price_wei: int  # convertToAssets(1e18)
    min_effective_balance_wei: int = 0  # minEffectiveBalance(): below it, the next CL withdrawal request exits
    active_threshold_reached: bool = False


@dataclass(frozen=True)
class Lags:
    """Evidence that the CL has not caught up with the EL for this validator."""

    deposits_in_flight_gwei: int = 0  # EL deposit events the CL state has not processed
    deposit_lag_unknown: bool = False  # more unprocessed deposits than the lookback could find
    pending_withdrawal_gwei: int = 0  # queued on the CL (pending_partial_withdrawals)
    recent_withdrawal_requests: int = 0  # ELWithdrawalTriggered events within the flight window
    allocated_withdrawals_wei: int | None = None  # WithdrawalVault.allocatedWithdrawalsAmount; None: unknown
    exiting: bool = False  # exit initiated, balance not yet swept
    forced_exit: bool = False  # exiting or swept on the CL while the pool never triggered its full exit
    withdrawn: bool = False  # exited on the CL and swept: exit initiated, balance 0 at the proven slot
    pending_deposits_in_state: int = 0  # Ethereum: the state's pending_deposits for this pubkey
    # Deposits the CL credited that the pool never booked (anyone's top-up): (EL block, gwei), within the
    # deposit lookback. The ones since the pool's last report explain part of the change.
    credited_topups: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Limits:
    max_change_per_report: float
    max_change_per_day: float
    max_timestamp_age: int
    timestamp_margin: int
    min_drift_gwei: int = 0  # reporting.min_drift_gwei: a smaller drift is no report due


@dataclass(frozen=True)
class Decision:
    action: str  # report, hold, unchanged
    reasons: tuple[str, ...] = ()
    new_total_deposits_wei: int = 0
    drift_gwei: int = 0
    predicted_share_price_wei: int = 0


def predicted_share_price(books: PoolBooks, new_total_deposits_wei: int) -> int:
    """convertToAssets(1e18) after the update: only totalDeposits moves (ERC-4626, decimals offset 0)."""
    assets = books.total_assets_wei - books.total_deposits_wei + new_total_deposits_wei
    return SHARE * (assets + 1) // (books.total_supply + 1)


def reconcile(
    balance_gwei: int,
    proof_timestamp: int,
    books: PoolBooks,
    lags: Lags,
    limits: Limits,
    *,
    now: float,
    expected_landing_seconds: float,
    changed_last_day_wei: int,
    explained_wei: int = 0,
) -> Decision:
    """`explained_wei`: deposits the CL credited since the pool's last report that the pool did not book
    (top-ups, seen on chain as deposit events): the bounds measure only the change they do not explain, as a
    peer oracle's sanity checks bound the balance change net of deposits."""
    new_deposits = balance_gwei * WEI_PER_GWEI
    drift = balance_gwei - books.total_deposits_wei // WEI_PER_GWEI
    predicted = predicted_share_price(books, new_deposits)
    base = {
        "new_total_deposits_wei": new_deposits,
        "drift_gwei": drift,
        "predicted_share_price_wei": predicted,
    }
    if new_deposits == books.total_deposits_wei:
        return Decision("unchanged", (), **base)
    if abs(drift) < limits.min_drift_gwei and new_deposits != 0:  # a report of 0 closes the pool: always due
        return Decision("unchanged", ("below_min_drift",), **base)
    # The audited pool closes on a report of 0 (updateTotalDeposits(0): _triggerFullExit and the vault told),
    # and nothing else closes it when the CL exits the validator by itself: that report is due once the CL has
    # exited and swept it, and never while the validator may still hold stake.
    closing = new_deposits == 0 and lags.withdrawn
    reasons = []
    if new_deposits == 0 and not lags.withdrawn:
        reasons.append("zero_balance_not_exited")
    if lags.deposit_lag_unknown:
        reasons.append("deposit_lag_unknown")
    if lags.deposits_in_flight_gwei or lags.pending_deposits_in_state:
        reasons.append("deposit_in_flight")
    # A request within the flight window is in flight unless the vault says nothing is allocated to this
    # validator any more (all its requests finalized); the CL's own queue is in flight whatever the vault says.
    # The CL honours no EL request for an exited validator, so a swept one has none in flight.
    requested = lags.recent_withdrawal_requests and lags.allocated_withdrawals_wei != 0 and not closing
    if lags.pending_withdrawal_gwei or requested:
        reasons.append("withdrawal_in_flight")
    if lags.forced_exit and not lags.withdrawn:
        reasons.append("cl_forced_exit")  # exiting: its balance is still to be swept to the vault
    elif lags.exiting:
        reasons.append("exit_in_flight")
    # The bounds weigh what the chain does not explain: the CL's exit and sweep explain the whole stake leaving.
    change = 0 if closing else abs(new_deposits - books.total_deposits_wei - explained_wei)
    reference = max(books.total_deposits_wei, 1)
    if change > limits.max_change_per_report * reference:
        reasons.append("change_exceeds_per_report_bound")
    if not closing and changed_last_day_wei + change > limits.max_change_per_day * reference:
        reasons.append("change_exceeds_daily_bound")
    lands_at = now + expected_landing_seconds
    if lands_at - proof_timestamp > limits.max_timestamp_age - limits.timestamp_margin:
        reasons.append("proof_too_old")
    if reasons:
        return Decision("hold", tuple(reasons), new_deposits, drift, predicted)
    return Decision("report", (), new_deposits, drift, predicted)

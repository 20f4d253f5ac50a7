"""Reconciliation and holds: a plain function of its inputs."""

from __future__ import annotations

import dataclasses

import pytest

from oracle.reporting.reconcile import Decision, Lags, Limits, PoolBooks, predicted_share_price, reconcile

pytestmark = pytest.mark.unit
GWEI, ETHER = 10**9, 10**18
LIMITS = Limits(max_change_per_report=0.05, max_change_per_day=0.10, max_timestamp_age=600, timestamp_margin=120)


def books(deposits_eth: int = 100, buffered: int = 0, supply_eth: int = 100) -> PoolBooks:
    assets = deposits_eth * ETHER + buffered
    return PoolBooks(deposits_eth * ETHER, assets, supply_eth * ETHER, ETHER * (assets + 1) // (supply_eth * ETHER + 1))


NO_LAGS = Lags()


def decide(
    balance_eth: float,
    lags: Lags = NO_LAGS,
    *,
    age: float = 10,
    changed: int = 0,
    b: PoolBooks | None = None,
    explained: int = 0,
) -> Decision:
    return reconcile(int(balance_eth * GWEI), 1000, b or books(), lags, LIMITS, now=1000 + age,
                     expected_landing_seconds=4, changed_last_day_wei=changed, explained_wei=explained)  # fmt: skip


def test_unchanged_is_skipped() -> None:
    assert decide(100).action == "unchanged"


def test_a_clean_change_is_reported_with_its_share_price() -> None:
    d = decide(101)
    assert d.action == "report" and d.reasons == ()
    assert d.new_total_deposits_wei == 101 * ETHER and d.drift_gwei == GWEI
    assert d.predicted_share_price_wei == ETHER * (101 * ETHER + 1) // (100 * ETHER + 1)


@pytest.mark.parametrize(
    ("lags", "reason"),
    [
        (Lags(deposits_in_flight_gwei=3 * GWEI), "deposit_in_flight"),
        (Lags(pending_deposits_in_state=1), "deposit_in_flight"),
        (Lags(deposit_lag_unknown=True), "deposit_lag_unknown"),
        (Lags(pending_withdrawal_gwei=GWEI), "withdrawal_in_flight"),
        (Lags(recent_withdrawal_requests=1), "withdrawal_in_flight"),
        (Lags(exiting=True), "exit_in_flight"),
    ],
)
def test_lags_hold_the_report(lags: Lags, reason: str) -> None:
    d = decide(99, lags)
    assert d.action == "hold" and reason in d.reasons


def test_bounds_and_age_hold() -> None:
    assert decide(106).reasons == ("change_exceeds_per_report_bound",)
    assert decide(104, changed=7 * ETHER).reasons == ("change_exceeds_daily_bound",)
    assert decide(101, age=500).reasons == ("proof_too_old",)
    assert decide(101, age=470).action == "report"


def test_top_ups_on_chain_explain_their_part_of_the_change() -> None:
    """Two 10-ETH top-ups (deposit events the CL credited, the pool never booked) explain 20 of a 21-ETH rise:
    the bounds weigh the 1 ETH they do not explain. Unexplained rises and falls are bounded as before."""
    d = decide(121, explained=20 * ETHER)
    assert d.action == "report" and d.new_total_deposits_wei == 121 * ETHER
    assert decide(127, explained=20 * ETHER).reasons == ("change_exceeds_per_report_bound",)
    assert "change_exceeds_per_report_bound" in decide(94, explained=20 * ETHER).reasons  # top-ups, then a fall
    assert decide(118, explained=20 * ETHER).action == "report"  # 2 ETH less than explained: within 5 %
    assert decide(121, explained=20 * ETHER, changed=10 * ETHER).reasons == ("change_exceeds_daily_bound",)


def test_a_trough_would_show_in_the_predicted_price() -> None:
    # 3 ETH booked on the EL but not yet on the CL: reporting would cut the price for nothing.
    b = books(deposits_eth=103, supply_eth=103)
    d = decide(100, Lags(deposits_in_flight_gwei=3 * GWEI), b=b)
    assert d.action == "hold"
    assert d.predicted_share_price_wei < b.share_price_wei
    assert predicted_share_price(b, b.total_deposits_wei) == b.share_price_wei


# -- the CL-exit path: a validator the CL exited by itself, as the audited StakingPool.updateTotalDeposits(0)
# closes its pool (May 2026 audit, I-2) --------------------------------------------------------------------------

SWEPT = Lags(forced_exit=True, withdrawn=True)  # exited on the CL and its balance swept to the vault
STAKE = PoolBooks(300 * ETHER, 300 * ETHER, 300 * ETHER, ETHER, 250 * ETHER, True)


def test_the_zero_report_is_due_once_the_cl_exited_and_swept_the_validator() -> None:
    """The whole stake leaves totalDeposits: far past both bounds, which weigh what the chain does not explain
    (the CL's exit and sweep explain all of it)."""
    d = decide(0, SWEPT, b=STAKE)
    assert d.action == "report" and d.reasons == () and d.new_total_deposits_wei == 0
    # The CL honours no EL withdrawal request for an exited validator: a recent one does not hold it.
    requested = dataclasses.replace(SWEPT, recent_withdrawal_requests=1, allocated_withdrawals_wei=ETHER)
    assert decide(0, requested, b=STAKE).action == "report"


@pytest.mark.parametrize(
    ("lags", "reason"),
    [
        (NO_LAGS, "zero_balance_not_exited"),  # active (the balance withdrawn without an exit)
        (Lags(forced_exit=True), "zero_balance_not_exited"),  # exit initiated, not swept
        (dataclasses.replace(SWEPT, deposits_in_flight_gwei=10 * GWEI), "deposit_in_flight"),
        (dataclasses.replace(SWEPT, pending_deposits_in_state=1), "deposit_in_flight"),
        (dataclasses.replace(SWEPT, deposit_lag_unknown=True), "deposit_lag_unknown"),
        (dataclasses.replace(SWEPT, pending_withdrawal_gwei=GWEI), "withdrawal_in_flight"),
    ],
)
def test_no_zero_report_while_the_validator_may_still_hold_stake(lags: Lags, reason: str) -> None:
    d = decide(0, lags, b=STAKE)
    assert d.action == "hold" and reason in d.reasons, d


def test_no_report_while_the_cl_exit_still_has_a_balance_to_sweep() -> None:
    exiting = Lags(forced_exit=True, exiting=True)
    d = decide(299, exiting, b=STAKE)
    assert d.action == "hold" and "cl_forced_exit" in d.reasons


def test_a_zero_report_too_close_to_max_timestamp_age_waits() -> None:
    assert decide(0, SWEPT, b=STAKE, age=500).reasons == ("proof_too_old",)


def test_a_report_below_the_minimum_effective_balance_is_sent() -> None:
    """The audited updateTotalDeposits has no minimum rule (a non-zero value only overwrites totalDeposits);
    the minimum bites in notifyWithdrawalRequest. A true balance below it is reported like any other."""
    d = decide(290, b=dataclasses.replace(STAKE, min_effective_balance_wei=295 * ETHER))
    assert d.action == "report" and d.reasons == ()

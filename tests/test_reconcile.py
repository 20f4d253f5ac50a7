"""Reconciliation and holds: a plain function of its inputs."""

from __future__ import annotations

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

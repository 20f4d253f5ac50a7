"""A many-validator pool's decision to start a report: due by age or drift, held by a deposit in flight or a
move past a bound (per report, over a day), the first report unbounded (it sets the baseline); and the
registry's total and queued deposits read from a state."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from oracle.config.settings import SetPools
from oracle.setpools.decide import decide_start, pending_deposits_gwei, registry_total
from oracle.setpools.view import CompletedReport, SetPoolView
from oracle.ssz.errors import ProofError
from oracle.ssz.sample import build_state, random_validators
from oracle.ssz.state import load_state

pytestmark = pytest.mark.unit
ETH_GWEI = 10**9
ETH = 10**18
NOW = 1_000_000.0
SETTINGS = SetPools(report_interval_seconds=3_600, min_drift_gwei=10 * ETH_GWEI)


def pool(**changes: object) -> SetPoolView:
    view = SetPoolView(
        address="0x" + "11" * 20,
        block=100,
        reporter="0x" + "22" * 20,
        indices=(1, 2, 3),
        credentials=b"\x01" + bytes(11) + b"\x11" * 20,
        open=None,
        last=CompletedReport(4, b"\x00" * 32, int(NOW) - 4_000, 96 * ETH_GWEI, 4 * ETH),
        total_assets_wei=100 * ETH,
        balance_wei=4 * ETH,
    )
    return replace(view, **changes)  # type: ignore[arg-type]


def test_a_report_is_due_by_age_and_its_prediction_counts_the_el_balance() -> None:
    decision = decide_start(pool(), 96 * ETH_GWEI + 5_000_000, 0, SETTINGS, now=NOW)
    assert decision.action == "start"
    assert decision.predicted_total_assets_wei == 100 * ETH + 5_000_000 * 10**9
    young = pool(last=replace(pool().last, timestamp=int(NOW) - 60))
    assert decide_start(young, 96 * ETH_GWEI + 5_000_000, 0, SETTINGS, now=NOW).action == "unchanged"
    drifted = decide_start(young, 96 * ETH_GWEI + 10 * ETH_GWEI, 0, SETTINGS, now=NOW)
    assert drifted.action == "hold" and drifted.reasons == ("change_exceeds_per_report_bound",
                                                            "change_exceeds_daily_bound")  # fmt: skip


def test_a_deposit_in_flight_holds_a_due_report() -> None:
    decision = decide_start(pool(), 96 * ETH_GWEI, 32 * ETH_GWEI, SETTINGS, now=NOW)
    assert (decision.action, decision.reasons) == ("hold", ("deposit_in_flight",))


def test_the_bounds_per_report_and_per_day() -> None:
    within = decide_start(pool(), 97 * ETH_GWEI, 0, SETTINGS, now=NOW)  # +1 %
    assert within.action == "start" and within.change == pytest.approx(0.01)
    beyond = decide_start(pool(), 99 * ETH_GWEI, 0, SETTINGS, now=NOW)  # +3 % > 2 %
    assert beyond.reasons == ("change_exceeds_per_report_bound",)
    busy_day = decide_start(pool(), 97 * ETH_GWEI, 0, SETTINGS, now=NOW, moved_last_day=[0.02, 0.025])
    assert busy_day.reasons == ("change_exceeds_daily_bound",)
    drop = decide_start(pool(), 90 * ETH_GWEI, 0, SETTINGS, now=NOW)  # a slashing-sized fall is held too
    assert drop.reasons == ("change_exceeds_per_report_bound", "change_exceeds_daily_bound")


def test_the_first_report_sets_the_baseline_unbounded() -> None:
    first = pool(last=CompletedReport(0, b"\x00" * 32, 0, 0, 0), total_assets_wei=10 * ETH)
    decision = decide_start(first, 96 * ETH_GWEI, 0, SETTINGS, now=NOW)
    assert decision.action == "start" and decision.reasons == ()
    assert decide_start(first, 96 * ETH_GWEI, 1, SETTINGS, now=NOW).reasons == ("deposit_in_flight",)


def test_an_empty_registry_reports_once_for_the_baseline() -> None:
    empty_first = pool(indices=(), last=CompletedReport(0, b"\x00" * 32, 0, 0, 0))
    assert decide_start(empty_first, 0, 0, SETTINGS, now=NOW).action == "start"
    assert decide_start(pool(indices=()), 0, 0, SETTINGS, now=NOW).action == "unchanged"


def test_the_registry_total_and_queued_deposits_come_from_the_state() -> None:
    rng = np.random.default_rng(4)
    validators = random_validators(20, rng)
    records = validators.records()
    pool_credentials = b"\x01" + bytes(11) + b"\x11" * 20

    def queued(pubkey: bytes, credentials: bytes, gwei: int) -> dict[str, object]:
        return {"pubkey": pubkey, "withdrawal_credentials": credentials, "amount": gwei, "signature": bytes(96),
                "slot": 7}  # fmt: skip

    pending = [
        queued(bytes(records[5, :48].tobytes()), bytes(records[5, 48:80].tobytes()), 1 * ETH_GWEI),  # registered
        queued(bytes(records[6, :48].tobytes()), bytes(records[6, 48:80].tobytes()), 2 * ETH_GWEI),  # not
        queued(b"\x07" * 48, pool_credentials, 32 * ETH_GWEI),  # a new validator of the pool's
    ]
    state = load_state(build_state("ethereum-electra", validators, overrides={"pending_deposits": pending}))
    assert registry_total(state, [0, 5, 19]) == sum(state.balance(i) for i in (0, 5, 19))
    assert registry_total(state, []) == 0
    with pytest.raises(ProofError, match="past the state's 20 validators"):
        registry_total(state, [3, 20])
    assert pending_deposits_gwei(state, [0, 5, 19], pool_credentials) == 33 * ETH_GWEI
    assert pending_deposits_gwei(state, [0, 19], b"\xff" * 32) == 0

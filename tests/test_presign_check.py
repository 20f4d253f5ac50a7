"""The check before every signature (send.report_check), against a stand-in EL: the rules read from the pool's
views are read again, as they are now (its state: paused, fully exited; the decision re-run on the fresh books),
and the mempool look parses any answer and judges a pending report's fee as the next block would."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest

from oracle.config.settings import Settings
from oracle.reporting.mempool import NextBlock, PendingTx, pending_to_oracle, unpriced
from oracle.reporting.reconcile import Decision, PoolBooks
from oracle.reporting.send import books_fingerprint, report_check
from oracle.ssz.layouts import get_layout

pytestmark = pytest.mark.unit
GWEI = 10**9
ETHER = 10**18
POOL, FACTORY, ORACLE = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20
PUBKEY = bytes(range(48))


class StandInEL:
    """The pool's views, as the chain answers them now; an empty mempool."""

    def __init__(self, **views: Any) -> None:
        self.views: dict[str, Any] = {
            "totalDeposits": 300_000 * ETHER, "totalAssets": 301_000 * ETHER, "totalSupply": 299_000 * ETHER,
            "convertToAssets": ETHER, "minEffectiveBalance": 250_000 * ETHER, "activeThresholdReached": True,
            "isFullyExited": False, "isActive": True, "paused": False,
        }  # fmt: skip
        self.views.update(views)
        self.highest_head = 100

        async def make_request(method: str, params: list[Any]) -> Any:
            return {"jsonrpc": "2.0", "id": 1, "result": {"pending": {}, "queued": {}}}

        self.w3 = SimpleNamespace(provider=SimpleNamespace(make_request=make_request))

    async def pinned_head(self, at_least: int) -> int:
        return at_least

    async def view(self, name: str, address: str, fn: str, *args: Any, block: str | int = "latest") -> Any:
        if fn == "getCoreContracts":
            return ("0x" + "44" * 20, POOL, "0x" + "55" * 20, "0x" + "66" * 20)
        if fn == "getOperator":
            return "0x" + "44" * 20
        return self.views[fn]


def context(el: StandInEL) -> Any:
    settings = Settings()
    return SimpleNamespace(
        settings=settings, layout=get_layout(settings.layout), el=el, seconds_per_slot=2, max_timestamp_age=600,
        factory=FACTORY, oracle=ORACLE, account=None, mempool_seen={}, reporters={}, deciders={},
        chain_now=time.time, oracle_access="access_control", has_role=True,
    )  # fmt: skip


def decided_books(el: StandInEL) -> str:
    v = el.views
    return books_fingerprint(PoolBooks(v["totalDeposits"], v["totalAssets"], v["totalSupply"], v["convertToAssets"]))


def check(el: StandInEL, fingerprint: str, decide: Any = None) -> str | None:
    args: tuple[Any, ...] = (context(el), POOL, int(time.time()), fingerprint, PUBKEY)
    return asyncio.run(report_check(*args, decide)() if decide is not None else report_check(*args)())


def test_a_pool_paused_between_decision_and_signature_is_not_signed() -> None:
    el = StandInEL()
    fingerprint = decided_books(el)
    assert check(el, fingerprint) is None
    el.views["paused"] = True  # its owner pauses it: updateTotalDeposits would revert (whenNotPaused)
    assert "paused" in str(check(el, fingerprint))
    el.views.update(paused=False, isFullyExited=True)
    assert "exited" in str(check(el, fingerprint))


def test_the_decision_is_re_run_on_the_books_read_before_the_signature() -> None:
    """A rule read from the pool's views that the shares and totalDeposits do not show (minEffectiveBalance,
    raised by its owner while the report waits): the decision, re-run on the books read now, holds it."""
    el = StandInEL()
    fingerprint = decided_books(el)
    seen: list[PoolBooks] = []

    def decide(books: PoolBooks) -> Decision:  # a rule set holding reports below minEffectiveBalance
        seen.append(books)
        if books.active_threshold_reached and books.min_effective_balance_wei > 290_000 * ETHER:  # proven 290,000
            return Decision("hold", ("below_min_effective_balance",))
        return Decision("report")

    assert check(el, fingerprint, decide) is None
    el.views["minEffectiveBalance"] = 310_000 * ETHER
    reason = str(check(el, fingerprint, decide))
    assert "held" in reason and "below_min_effective_balance" in reason, reason
    assert seen[-1].min_effective_balance_wei == 310_000 * ETHER  # the books as they are now, not as decided
    assert "no report is due" in str(check(el, fingerprint, lambda books: Decision("unchanged")))


def test_the_mempool_look_parses_answers_of_any_shape_and_leaves_ours_out() -> None:
    oracle, ours, theirs = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20
    tx = {"to": oracle, "input": "0x5578e99d", "hash": "0x01", "maxFeePerGas": "0x10", "maxPriorityFeePerGas": "0x1"}
    found = pending_to_oracle({"pending": {theirs: {"3": tx}}}, oracle, ours)
    assert found == [PendingTx("0x01", theirs, "0x5578e99d", 16, 1)]
    legacy = {"to": oracle, "input": "0x", "hash": "0x02", "gasPrice": "0x20"}
    assert pending_to_oracle({"pending": {theirs: {"4": legacy}}}, oracle, ours)[0].tip == 32
    legacy_with_nulls = {**legacy, "maxFeePerGas": None, "maxPriorityFeePerGas": None}
    assert pending_to_oracle({"pending": {theirs: {"4": legacy_with_nulls}}}, oracle, ours)[0].max_fee == 32
    assert pending_to_oracle({"pending": {ours: {"3": tx}}}, oracle, ours) == []  # our own report is not another's
    elsewhere = {**tx, "to": "0x" + "dd" * 20}
    for nothing in (None, {"pending": None}, {"pending": {theirs: None}}, [], "x", {"pending": {theirs: {"3": 7}}},
                    {"pending": {theirs: {"3": {**tx, "hash": None}}}}, {"pending": {theirs: {"3": elsewhere}}},
                    {"pending": {theirs: {"3": {**tx, "maxFeePerGas": "zz"}}}}):  # fmt: skip
        assert pending_to_oracle(nothing, oracle, ours) == []


def test_a_pending_reports_fee_is_judged_as_the_next_block_would() -> None:
    def tx(max_fee: int, tip: int) -> PendingTx:
        return PendingTx("0x01", "0x02", "0x", max_fee, tip)

    block = NextBlock(10, 5 * GWEI)
    assert unpriced(tx(11 * GWEI, GWEI), block) is None
    assert "below the next block's base fee" in str(unpriced(tx(4 * GWEI, GWEI), block))
    assert "no priority fee" in str(unpriced(tx(11 * GWEI, 0), block))
    assert "no priority fee" in str(unpriced(tx(5 * GWEI, GWEI), block))  # nothing left over the base fee
    assert unpriced(tx(6 * GWEI, 6 * GWEI), block) is None  # legacy: gasPrice above the base fee

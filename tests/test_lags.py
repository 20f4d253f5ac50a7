"""What counts as a deposit in flight, driven with a real state and a stand-in EL: before EIP-6110 every
deposit the state's eth1_deposit_index has not reached; after it, with that index frozen, only deposits
made after the anchor's execution block (earlier ones are in the state, applied or in pending_deposits)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from oracle.config.loading import load_settings
from oracle.execution.deposits import DepositLog
from oracle.execution.el import ExecutionError
from oracle.reporting.books import UNSET_INDEX, collect_lags
from oracle.reporting.context import Anchor, Pool
from oracle.reporting.eventlog import REORG_OVERLAP_BLOCKS, EventWindow
from oracle.reporting.reconcile import Lags
from oracle.ssz.layouts import get_layout
from oracle.ssz.sample import sample_state
from oracle.ssz.state import load_state

pytestmark = pytest.mark.unit
GWEI = 10**9


class StandInEL:
    def __init__(
        self,
        deposits: list[dict[str, Any]],
        deposit_count: int,
        requests: list[dict[str, Any]] | None = None,
        allocated: int | None = 0,
        latest: int = 1000,
        pool_logs: list[dict[str, Any]] | None = None,
    ) -> None:
        self.pool_logs = pool_logs or []  # the pools' own logs (eth_getLogs by address)
        self.deposit_logs = deposits
        self.count = deposit_count
        self.requests = requests or []
        self.allocated = allocated
        self.latest = latest
        self.log_ranges: list[tuple[int, int]] = []

    async def block(self, tag: Any) -> dict[str, int]:
        return {"number": self.latest}

    async def logs(self, name: str, address: str, event: str, start: int, end: int) -> list[dict[str, Any]]:
        if event == "ELWithdrawalTriggered":
            self.log_ranges.append((start, end))
            return [r for r in self.requests if start <= r["blockNumber"] <= end]
        return []

    async def deposits(self, address: str, start: int, end: int) -> list[DepositLog]:
        return [DepositLog(d["args"]["pubkey"], d["args"]["amount"], d["args"]["index"], d["blockNumber"],
                           "0x" + bytes(d["transactionHash"]).hex())
                for d in self.deposit_logs if start <= d["blockNumber"] <= end]  # fmt: skip

    async def deposit_count(self, address: str, block: Any = "latest") -> int:
        return self.count

    async def raw_logs(self, start: int, end: int, *, topic: str | None = None,
                       addresses: list[str] | None = None) -> list[Any]:  # fmt: skip
        if self.pool_logs is None:
            raise ExecutionError("eth_getLogs failed on every endpoint", reason=None)
        return [entry for entry in self.pool_logs if start <= entry["blockNumber"] <= end]

    async def view(self, name: str, address: str, function: str, *args: Any, **kwargs: Any) -> int:
        if function == "allocatedWithdrawalsAmount":
            if self.allocated is None:
                raise ExecutionError("WithdrawalVault.allocatedWithdrawalsAmount reverted", reason="revert")
            return self.allocated
        return self.count


def state_with(eth1_deposit_index: int, requests_start: int) -> Any:
    layout = get_layout("ethereum-electra")
    raw = sample_state(layout.name, 8, seed=5)
    value = layout.state.decode(np.frombuffer(raw, dtype=np.uint8), 0, len(raw), "BeaconState")
    value.update(eth1_deposit_index=eth1_deposit_index, deposit_requests_start_index=requests_start,
                 pending_deposits=[])  # fmt: skip
    return load_state(layout.state.encode(value), layout)


def context(tmp_path: Path, el: StandInEL, lookback: int = 49_153) -> Any:
    config = tmp_path / "c.yaml"
    config.write_text("chain_id: 1\nlayout: ethereum-electra\nbeacon_endpoints: [http://b:1]\n"
                      "execution_endpoints: [http://e:1]\ncontracts: {factory: '0x" + "11" * 20 + "'}\n"
                      f"reporting: {{withdrawal_lookback_blocks: {lookback}}}\n")  # fmt: skip
    return SimpleNamespace(settings=load_settings(config, environ={}), el=el, vault="0x" + "22" * 20,
                           withdrawal_requests=EventWindow())  # fmt: skip


def lags(tmp_path: Path, state: Any, deposits: list[dict[str, Any]], deposit_count: int, **el: Any) -> Any:
    ctx = context(tmp_path, StandInEL(deposits, deposit_count, **el))
    return lags_of(ctx, state)


def lags_of(ctx: Any, state: Any, el_block: int = 950) -> Any:
    pubkey = state.validator(3)["pubkey"]
    anchor = Anchor(slot=state.slot, block_root=state.block_root, timestamp=1, el_block=el_block)
    result = asyncio.run(collect_lags(ctx, anchor, state, [Pool(3, pubkey, "0x" + "33" * 20)], ctx.el.latest))
    return result[3]


def deposit(state: Any, index: int, block: int, tx: str = "0x" + "00" * 32) -> dict[str, Any]:
    return {"blockNumber": block, "transactionHash": bytes.fromhex(tx[2:]),
            "args": {"index": index, "pubkey": state.validator(3)["pubkey"], "amount": GWEI}}  # fmt: skip


def pool_log(block: int, tx: str, topic: str = "0x" + "ee" * 32) -> dict[str, Any]:
    return {"address": "0x" + "33" * 20, "blockNumber": block, "transactionHash": bytes.fromhex(tx[2:]),
            "topics": [bytes.fromhex(topic[2:])]}  # fmt: skip


def test_credited_top_ups_are_the_deposits_the_pool_did_not_book(tmp_path: Path) -> None:
    """Deposits the state has processed, for a pool's validator: the pool's own (made in a transaction where
    the pool logs too: `submit` books them) and those before its activation (which books them) are not
    top-ups; anyone else's are, with their block. Unprocessed ones are in flight."""
    from oracle.reporting.books import STAKING_POOL_ACTIVATED

    state = state_with(eth1_deposit_index=150, requests_start=UNSET_INDEX)
    genesis, own, other = "0x" + "09" * 32, "0x" + "0a" * 32, "0x" + "0b" * 32
    deposits = [deposit(state, 146, 880, genesis), deposit(state, 147, 900, own), deposit(state, 148, 910, other),
                deposit(state, 150, 940, other)]  # fmt: skip
    logs = [pool_log(885, "0x" + "0c" * 32, STAKING_POOL_ACTIVATED), pool_log(900, own)]
    found = lags_of(context(tmp_path, StandInEL(deposits, 151, pool_logs=logs)), state)
    assert found.credited_topups == ((910, GWEI),) and found.deposits_in_flight_gwei == GWEI  # 150: not processed
    unreadable = StandInEL(deposits, 151)
    unreadable.pool_logs = None  # type: ignore[assignment]
    assert lags_of(context(tmp_path, unreadable), state).credited_topups == ()  # nothing explained


def test_lags_and_books_are_read_at_one_block(tmp_path: Path) -> None:
    """A stake between reading the lags and reading the books would look like a balance drop with nothing in
    flight (the soak's report at slot 947 wiped a 12,500-BERA stake from the share price that way): both are
    read at the cycle's one EL block; the check before signing compares the books at a pinned later block
    with those."""
    from oracle.reporting.books import read_books

    state = state_with(eth1_deposit_index=150, requests_start=UNSET_INDEX)
    late = deposit(state, 150, 1_001)  # the stake's deposit, one block after the cycle's block
    el = StandInEL([late], 151, requests=[request(state, 1_001)], allocated=GWEI, latest=1_001)
    ctx = context(tmp_path, el)
    found = asyncio.run(collect_lags(ctx, Anchor(state.slot, state.block_root, 1, 950), state,
                                     [Pool(3, state.validator(3)["pubkey"], "0x" + "33" * 20)], 1_000))  # fmt: skip
    assert found[3].deposits_in_flight_gwei == 0 and found[3].recent_withdrawal_requests == 0  # not seen: after it

    blocks: list[Any] = []

    async def view(name: str, address: str, function: str, *args: Any, block: Any = "latest") -> int:
        blocks.append(block)
        return 1

    ctx.el.view = view
    asyncio.run(read_books(ctx, Pool(3, b"", "0x" + "33" * 20), 1_000))
    assert blocks and set(blocks) == {1_000}


def test_top_ups_since_the_last_report_explain_it_earlier_ones_the_days_moves() -> None:
    from oracle.reporting.daily import Update
    from oracle.reporting.pipeline import explained_topups

    topups = ((90, 10), (150, 20), (260, 30))  # gwei at EL blocks
    day = [Update("0x", 200, "0xaa", 0)]
    assert explained_topups(topups, day, 100) == (30 * GWEI, 20 * GWEI)  # 90 is older than the day
    assert explained_topups(topups, [], 100) == (50 * GWEI, 0)  # no report today: every top-up of the day


def test_after_eip_6110_only_deposits_after_the_anchor_are_in_flight(tmp_path: Path) -> None:
    state = state_with(eth1_deposit_index=100, requests_start=100)  # the legacy bridge has ended
    found = lags(tmp_path, state, [deposit(state, 150, 900), deposit(state, 151, 960)], deposit_count=152)
    assert found.deposits_in_flight_gwei == GWEI  # 151 only: 150 is in the anchor's state
    assert not found.deposit_lag_unknown  # the frozen index says nothing of how many are missing


def test_before_eip_6110_the_deposit_index_decides(tmp_path: Path) -> None:
    state = state_with(eth1_deposit_index=150, requests_start=UNSET_INDEX)
    found = lags(tmp_path, state, [deposit(state, 149, 900), deposit(state, 150, 905)], deposit_count=151)
    assert found.deposits_in_flight_gwei == GWEI and not found.deposit_lag_unknown
    found = lags(tmp_path, state, [deposit(state, 150, 905)], deposit_count=160)
    assert found.deposit_lag_unknown  # nine more deposits than the lookback found


def request(state: Any, block: int) -> dict[str, Any]:
    return {"blockNumber": block, "args": {"pubkey": state.validator(3)["pubkey"], "amount": GWEI}}


def test_a_withdrawal_request_stays_in_flight_for_the_whole_flight_window(tmp_path: Path) -> None:
    """Berachain pays a partial withdrawal ~49,152 slots after its request: a request 40,000 blocks before
    the anchor is in flight while the vault has allocated amounts for the validator (the old 64-block window
    forgot it after 64 blocks)."""
    state = state_with(eth1_deposit_index=100, requests_start=100)
    old = request(state, 100_000 - 40_000)
    found = lags(tmp_path, state, [], 100, requests=[old], allocated=GWEI * GWEI, latest=100_010)
    assert found.recent_withdrawal_requests == 1 and found.allocated_withdrawals_wei == GWEI * GWEI
    ctx = context(tmp_path, StandInEL([], 100, requests=[old], allocated=0, latest=100_010))
    found = lags_of(ctx, state, el_block=100_000)
    assert found.recent_withdrawal_requests == 1 and found.allocated_withdrawals_wei == 0  # all finalized
    ctx = context(tmp_path, StandInEL([], 100, requests=[old], allocated=None, latest=100_010))
    assert lags_of(ctx, state, el_block=100_000).allocated_withdrawals_wei is None  # a vault without the view


def test_the_request_window_is_read_once_then_incrementally(tmp_path: Path) -> None:
    state = state_with(eth1_deposit_index=100, requests_start=100)
    el = StandInEL([], 100, requests=[request(state, 60_000), request(state, 99_990)], allocated=1, latest=100_000)
    ctx = context(tmp_path, el)
    assert lags_of(ctx, state, el_block=99_990).recent_withdrawal_requests == 2
    # The whole window in one read: the EL client splits it into ranges each endpoint serves (test_el_reads).
    assert el.log_ranges == [(99_990 - 49_153, 100_000)]
    el.log_ranges.clear()
    el.latest = 100_020
    el.requests.append(request(state, 100_015))
    assert lags_of(ctx, state, el_block=100_010).recent_withdrawal_requests == 3
    assert el.log_ranges == [(100_001 - REORG_OVERLAP_BLOCKS, 100_020)]  # the new blocks and an overlap only
    el.latest = 109_300
    assert lags_of(ctx, state, el_block=109_200).recent_withdrawal_requests == 2  # 60,000 left the window


def test_withdrawal_holds_follow_the_vault_and_the_queue() -> None:
    from oracle.reporting.reconcile import Limits, PoolBooks, reconcile

    books = PoolBooks(300_000 * GWEI * GWEI, 300_000 * GWEI * GWEI, 300_000 * GWEI * GWEI, GWEI * GWEI)
    limits = Limits(0.05, 0.1, 600, 120)

    def reasons(lags: Lags) -> tuple[str, ...]:
        return reconcile(300_010 * GWEI, 1_000, books, lags, limits, now=1_000, expected_landing_seconds=4,
                         changed_last_day_wei=0).reasons  # fmt: skip

    assert "withdrawal_in_flight" in reasons(Lags(recent_withdrawal_requests=1, allocated_withdrawals_wei=GWEI))
    assert "withdrawal_in_flight" in reasons(Lags(recent_withdrawal_requests=1, allocated_withdrawals_wei=None))
    assert "withdrawal_in_flight" not in reasons(Lags(recent_withdrawal_requests=1, allocated_withdrawals_wei=0))
    assert "withdrawal_in_flight" in reasons(Lags(pending_withdrawal_gwei=GWEI, allocated_withdrawals_wei=0))


def exited_state(balance_gwei: int) -> Any:
    """Validator 3 exited by the CL (its exit and withdrawable epochs set), with `balance_gwei` left to sweep."""
    layout = get_layout("ethereum-electra")
    raw = sample_state(layout.name, 8, seed=5)
    value = layout.state.decode(np.frombuffer(raw, dtype=np.uint8), 0, len(raw), "BeaconState")
    value.update(eth1_deposit_index=4, deposit_requests_start_index=UNSET_INDEX, pending_deposits=[])
    value["validators"][3].update(exit_epoch=1, withdrawable_epoch=2)
    value["balances"][3] = balance_gwei
    return load_state(layout.state.encode(value), layout)


def test_a_cl_exit_is_withdrawn_once_its_balance_is_swept(tmp_path: Path) -> None:
    """The report of 0 is due only for a validator the proven state shows exited and swept (balance 0)."""
    exiting = lags(tmp_path, exited_state(32 * GWEI), [], 4)
    assert exiting.forced_exit and exiting.exiting and not exiting.withdrawn
    swept = lags(tmp_path, exited_state(0), [], 4)
    assert swept.forced_exit and swept.withdrawn and not swept.exiting
    active = lags(tmp_path, state_with(4, UNSET_INDEX), [], 4)
    assert not (active.forced_exit or active.withdrawn)

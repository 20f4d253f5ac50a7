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

from oracle.config.settings import load_settings
from oracle.reporting.books import UNSET_INDEX, collect_lags
from oracle.reporting.context import Anchor, Pool
from oracle.ssz.layouts import get_layout
from oracle.ssz.sample import sample_state
from oracle.ssz.state import load_state

pytestmark = pytest.mark.unit
GWEI = 10**9


class StandInEL:
    def __init__(self, deposits: list[dict[str, Any]], deposit_count: int) -> None:
        self.deposits = deposits
        self.deposit_count = deposit_count

    async def block(self, tag: Any) -> dict[str, int]:
        return {"number": 1000}

    async def logs(self, name: str, address: str, event: str, start: int, end: int) -> list[dict[str, Any]]:
        return [d for d in self.deposits if start <= d["blockNumber"] <= end] if event == "Deposit" else []

    async def view(self, *args: Any, **kwargs: Any) -> int:
        return self.deposit_count


def state_with(eth1_deposit_index: int, requests_start: int) -> Any:
    layout = get_layout("ethereum-electra")
    raw = sample_state(layout.name, 8, seed=5)
    value = layout.state.decode(np.frombuffer(raw, dtype=np.uint8), 0, len(raw), "BeaconState")
    value.update(eth1_deposit_index=eth1_deposit_index, deposit_requests_start_index=requests_start,
                 pending_deposits=[])  # fmt: skip
    return load_state(layout.state.encode(value), layout)


def lags(tmp_path: Path, state: Any, deposits: list[dict[str, Any]], deposit_count: int) -> Any:
    config = tmp_path / "c.yaml"
    config.write_text("chain_id: 1\nlayout: ethereum-electra\nbeacon_endpoints: [http://b:1]\n"
                      "execution_endpoints: [http://e:1]\ncontracts: {factory: '0x" + "11" * 20 + "'}\n")  # fmt: skip
    ctx = SimpleNamespace(settings=load_settings(config, environ={}), el=StandInEL(deposits, deposit_count),
                          vault="0x" + "22" * 20)  # fmt: skip
    pubkey = state.validator(3)["pubkey"]
    anchor = Anchor(slot=state.slot, block_root=state.block_root, timestamp=1, el_block=950)
    result = asyncio.run(collect_lags(ctx, anchor, state, [Pool(3, pubkey, "0x" + "33" * 20)]))  # type: ignore[arg-type]
    return result[3]


def deposit(state: Any, index: int, block: int) -> dict[str, Any]:
    return {"blockNumber": block, "args": {"index": index, "pubkey": state.validator(3)["pubkey"], "amount": GWEI}}


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


def test_the_mempool_look_sees_others_reports_not_ours_and_survives_null() -> None:
    from oracle.reporting.send import report_pending_elsewhere

    pubkey = bytes(range(48))
    oracle, ours, theirs = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20
    call = "0x5578e99d" + "00" * 60 + pubkey.hex()

    def ctx_with(result: Any) -> Any:
        async def make_request(method: str, params: list[Any]) -> Any:
            return {"jsonrpc": "2.0", "id": 1, "result": result}

        provider = SimpleNamespace(make_request=make_request)
        el = SimpleNamespace(w3=SimpleNamespace(provider=provider))
        return SimpleNamespace(el=el, oracle=oracle, account=SimpleNamespace(address=ours))

    pending = {"pending": {theirs: {"3": {"to": oracle, "input": call}}}}
    assert asyncio.run(report_pending_elsewhere(ctx_with(pending), pubkey))
    own = {"pending": {ours: {"3": {"to": oracle, "input": call}}}}
    assert not asyncio.run(report_pending_elsewhere(ctx_with(own), pubkey))  # our own report is not another's
    for nothing in (None, {"pending": None}, {"pending": {theirs: None}}, [], "x"):
        assert not asyncio.run(report_pending_elsewhere(ctx_with(nothing), pubkey))

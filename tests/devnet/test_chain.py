"""The simulated beacon chain alone: its states are real SSZ (checked by py-ssz) and its events behave."""

from __future__ import annotations

import pytest

from oracle.devnet.chain import ChainConfig, Payload, SimulatedChain, h
from oracle.ssz.errors import SSZError
from oracle.ssz.sample import GWEI_PER_ETH
from oracle.ssz.state import load_state
from tests.reference import reference_root

pytestmark = pytest.mark.unit
VAULT = b"\x11" * 20


def payload(chain: SimulatedChain) -> Payload:
    slot = chain.slot + 1
    return Payload(block_hash=h(b"el", slot.to_bytes(8, "little")), block_number=slot, timestamp=chain.slot_time(slot))


def run(chain: SimulatedChain, slots: int) -> list:  # type: ignore[type-arg]
    paid = []
    for _ in range(slots):
        paid += chain.advance(payload(chain))
    return paid


@pytest.mark.parametrize("layout", ["beaconkit-electra", "ethereum-electra"])
def test_states_are_real_ssz(layout: str) -> None:
    chain = SimulatedChain(ChainConfig(layout=layout, validators=5, pools=2, slots_per_epoch=4), VAULT)
    run(chain, 6)
    for slot in (0, 3, 6):
        record = chain.records[slot]
        assert reference_root(chain.layout.state, record.state) == record.state_root
        state = load_state(record.state)
        assert state.block_root == record.block_root
        assert state.header.slot == slot
    credentials = chain.state(6).validator(1)["withdrawal_credentials"]
    assert credentials == b"\x01" + b"\x00" * 11 + VAULT  # pool validators pay out to the vault
    assert chain.state(6).validator(3)["withdrawal_credentials"][12:] != VAULT


def test_deposits_land_after_the_delay_and_new_validators_join() -> None:
    chain = SimulatedChain(ChainConfig(validators=3, pools=1, deposit_delay_slots=3), VAULT)
    before = int(chain.validators.balances[0])
    chain.add_deposit(
        bytes(chain.validators.pubkeys[0]), bytes(chain.validators.withdrawal_credentials[0]), 7 * GWEI_PER_ETH
    )
    chain.add_deposit(b"\x05" * 48, b"\x01" + b"\x00" * 31, 32 * GWEI_PER_ETH)
    run(chain, 2)
    assert int(chain.validators.balances[0]) == before and chain.validators.count == 3
    run(chain, 1)
    assert int(chain.validators.balances[0]) == before + 7 * GWEI_PER_ETH
    assert chain.validators.count == 4
    assert chain.state(chain.slot).balance(3) == 32 * GWEI_PER_ETH


def test_partial_withdrawals_queue_in_the_state_then_pay_out() -> None:
    chain = SimulatedChain(ChainConfig(validators=3, pools=1, slots_per_epoch=4), VAULT)
    before = int(chain.validators.balances[0])
    chain.request_withdrawal(0, 3 * GWEI_PER_ETH)
    run(chain, 1)
    queued = chain.state(chain.slot).field("pending_partial_withdrawals")
    assert queued == [{"validator_index": 0, "amount": 3 * GWEI_PER_ETH, "withdrawable_epoch": 1}]
    paid = run(chain, 4)
    assert [(w.validator_index, w.address, w.amount) for w in paid] == [(0, VAULT, 3 * GWEI_PER_ETH)]
    assert int(chain.validators.balances[0]) == before - 3 * GWEI_PER_ETH
    assert chain.state(chain.slot).field("pending_partial_withdrawals") == []


def test_exit_sweeps_the_whole_balance() -> None:
    chain = SimulatedChain(ChainConfig(validators=3, pools=1, slots_per_epoch=2, withdrawal_delay_epochs=1), VAULT)
    balance = int(chain.validators.balances[0])
    chain.request_withdrawal(0, 0)  # amount 0: a full exit, as in EIP-7002
    paid = run(chain, 6)
    assert [(w.validator_index, w.amount) for w in paid] == [(0, balance)]
    assert int(chain.validators.balances[0]) == 0


def test_beaconkit_has_no_rewards_slashing_or_missed_slots() -> None:
    chain = SimulatedChain(ChainConfig(validators=3, pools=0, slots_per_epoch=2), VAULT)
    before = chain.validators.balances.copy()
    run(chain, 8)
    assert (chain.validators.balances == before).all()
    assert chain.finalized_slot == chain.slot
    with pytest.raises(ValueError, match="no slashing"):
        chain.slash(0)
    with pytest.raises(ValueError, match="no missed slots"):
        chain.advance(None)


def test_ethereum_rewards_slashing_finality_and_missed_slots() -> None:
    chain = SimulatedChain(ChainConfig(layout="ethereum-electra", validators=4, pools=1, slots_per_epoch=4), VAULT)
    before = chain.validators.balances.copy()
    run(chain, 8)
    assert (chain.validators.balances != before).any()
    chain.slash(2)
    assert chain.validators.slashed[2]
    chain.advance(None)
    missed = chain.head
    assert missed.block_root is None
    with pytest.raises(SSZError, match="already filled in"):
        load_state(missed.state)
    run(chain, 8)
    assert chain.finalized_slot <= chain.slot - 2 * 4
    assert chain.state(chain.finalized_slot).header.slot == chain.finalized_slot


def test_a_reorganisation_forgets_the_newest_slots_and_builds_on_the_older_one() -> None:
    chain = SimulatedChain(ChainConfig(layout="ethereum-electra", validators=4, pools=1, slots_per_epoch=4), VAULT)
    run(chain, 13)
    point = chain.checkpoint()
    kept_root = chain.head.state_root
    chain.add_deposit(bytes(chain.validators.pubkeys[0]), b"\x01" + b"\x00" * 31, 10**9)  # in a slot to be replaced
    run(chain, 3)  # crosses an epoch boundary: rewards, the randao mix, the rng all move
    orphaned = [chain.records[slot].block_root for slot in range(14, 17)]
    assert chain.rewind(point) == [14, 15, 16]
    assert chain.slot == 13 and chain.head.state_root == kept_root
    assert chain.pending_deposits == [] and all(root not in chain.block_slots for root in orphaned)
    # The slots again, without the forgotten deposit: the chain is the one that never saw them.
    replay = SimulatedChain(ChainConfig(layout="ethereum-electra", validators=4, pools=1, slots_per_epoch=4), VAULT)
    run(replay, 16)
    run(chain, 3)
    assert chain.head.state_root == replay.head.state_root
    assert chain.state(16).header.parent_root == chain.records[15].block_root


def test_no_reorganisation_behind_finality_or_on_beacon_kit() -> None:
    chain = SimulatedChain(ChainConfig(layout="ethereum-electra", validators=4, pools=1, slots_per_epoch=4), VAULT)
    point = chain.checkpoint()
    run(chain, 16)
    with pytest.raises(ValueError, match="behind the finalized slot"):
        chain.rewind(point)
    kit = SimulatedChain(ChainConfig(validators=3, pools=1), VAULT)
    point = kit.checkpoint()
    run(kit, 2)
    with pytest.raises(ValueError, match="single-slot finality"):
        kit.rewind(point)

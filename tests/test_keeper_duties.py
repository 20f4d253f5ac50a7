"""The keeper's duties as plain functions of a view: each is due exactly when its contract would accept it, and
never before."""

from __future__ import annotations

import dataclasses

import pytest

from oracle.config.settings import Keeper
from oracle.keeper import activation, finalize, retry_exit, rewards
from oracle.keeper.view import Activation, KeeperView, PoolFacts, Request

pytestmark = pytest.mark.unit

ETH = 10**18
GWEI = 10**9
VAULT = "0x" + "11" * 20
FACTORY = "0x" + "22" * 20
POOL = "0x" + "33" * 20
PUBKEY = b"\x07" * 48
ON = Keeper(enabled=True)


def view(**changes: object) -> KeeperView:
    base = KeeperView(block=200_000, chain_now=1_000_000.0, max_timestamp_age=600, factory=FACTORY, vault=VAULT,
                      vault_balance_wei=100 * ETH, finalization_delay_blocks=129_600,
                      withdrawal_request_fee_wei=1, first_deposit_gwei=10_000 * GWEI)  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def request(request_id: int, block: int, eth: int = 1) -> Request:
    return Request(request_id, PUBKEY, eth * ETH, block, "0x" + "44" * 20)


def test_finalization_is_due_once_the_delay_has_passed_and_never_before() -> None:
    # 200,000 - 129,600 = 70,400: the request of block 70,400 is due at this block, the next one is not.
    v = view(requests=(request(1, 70_399), request(2, 70_400), request(3, 70_401)))
    actions = finalize.due(v, ON)
    assert [a.function for a in actions] == ["finalizeWithdrawalRequests"]
    assert actions[0].args == ([1, 2],) and actions[0].address == VAULT
    assert finalize.due(view(requests=(request(3, 70_401),)), ON) == []


def test_finalization_pays_only_what_the_vault_holds_in_request_order() -> None:
    v = view(
        requests=(request(1, 10, eth=60), request(2, 11, eth=50), request(3, 12, eth=10)), vault_balance_wei=100 * ETH
    )
    (action,) = finalize.due(v, ON)
    assert action.function == "finalizeWithdrawalRequest" and action.args == (1,)  # 2 would make it revert whole
    assert finalize.due(dataclasses.replace(v, vault_balance_wei=59 * ETH), ON) == []


def test_finalization_waits_while_the_vault_is_paused_and_batches_are_bounded() -> None:
    many = tuple(request(i, 10) for i in range(1, 121))
    assert finalize.due(view(requests=many, vault_paused=True), ON) == []
    (action,) = finalize.due(
        view(requests=many, vault_balance_wei=1_000 * ETH), dataclasses.replace(ON, max_finalize_batch=50)
    )
    assert action.args == (list(range(1, 51)),)
    assert finalize.due(view(requests=many), dataclasses.replace(ON, finalize_withdrawals=False)) == []


def pool(state: str = "active", **changes: object) -> PoolFacts:
    base = PoolFacts(POOL, PUBKEY, state, validator_index=3)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_process_rewards_is_due_above_the_minimum_on_open_pools_only() -> None:
    settings = dataclasses.replace(ON, min_rewards_gwei=5 * GWEI)
    assert rewards.due(view(pools=(pool(rewards_waiting_wei=5 * ETH - 1),)), settings) == []
    (action,) = rewards.due(view(pools=(pool(rewards_waiting_wei=5 * ETH),)), settings)
    assert (action.address, action.function, action.args) == (POOL, "processRewards", ())
    assert rewards.due(view(pools=(pool("below_threshold", rewards_waiting_wei=6 * ETH),)), settings) != []
    for closed in ("paused", "exited", "not_activated"):
        assert rewards.due(view(pools=(pool(closed, rewards_waiting_wei=6 * ETH),)), settings) == []
    assert rewards.due(view(pools=(pool(rewards_waiting_wei=0),)), dataclasses.replace(ON, min_rewards_gwei=0)) == []


def test_retry_full_exit_is_due_when_an_exited_pools_validator_stays_active_past_the_delay() -> None:
    settings = dataclasses.replace(ON, retry_full_exit_after_blocks=1_000)
    stranded = pool("exited", exit_requested_block=200_000 - 1_000)
    (action,) = retry_exit.due(view(pools=(stranded,), withdrawal_request_fee_wei=7), settings)
    assert (action.function, action.args, action.value_wei) == ("retryFullExit", (PUBKEY, 7), 7)
    # not before the delay; not while its exit is under way; not once the CL let it go; not for an open pool
    assert retry_exit.due(view(pools=(dataclasses.replace(stranded, exit_requested_block=199_001),)), settings) == []
    assert retry_exit.due(view(pools=(dataclasses.replace(stranded, exit_initiated=True),)), settings) == []
    assert retry_exit.due(view(pools=(dataclasses.replace(stranded, validator_index=None),)), settings) == []
    assert retry_exit.due(view(pools=(pool("active"),)), settings) == []
    # an exit older than the window read counts as past the delay
    assert len(retry_exit.due(view(pools=(dataclasses.replace(stranded, exit_requested_block=None),)), settings)) == 1


def test_retry_full_exit_waits_while_the_fee_is_above_the_cap() -> None:
    settings = dataclasses.replace(ON, retry_full_exit_after_blocks=1, max_exit_fee_gwei=1.0)
    stranded = pool("exited", exit_requested_block=0)
    assert retry_exit.due(view(pools=(stranded,), withdrawal_request_fee_wei=GWEI + 1), settings) == []
    assert retry_exit.fee_above_cap(view(withdrawal_request_fee_wei=GWEI + 1), settings)
    assert retry_exit.stranded(view(pools=(stranded,)), settings) == [stranded]
    assert retry_exit.due(view(pools=(stranded,), withdrawal_request_fee_wei=None), settings) == []  # unreadable fee
    assert len(retry_exit.due(view(pools=(stranded,), withdrawal_request_fee_wei=GWEI), settings)) == 1


def proofs(balance_gwei: int = 10_000 * GWEI, timestamp: int = 999_900, slot: int = 77) -> Activation:
    return Activation(POOL, PUBKEY, 3, b"\x01" + b"\x00" * 11 + bytes.fromhex(VAULT[2:]), balance_gwei,
                      (b"\x01" * 32,), (b"\x02" * 32,), (b"\x03" * 32,), b"\x04" * 32, slot, timestamp)  # fmt: skip


def test_activation_is_due_with_the_first_deposit_credited_and_fresh_proofs() -> None:
    (action,) = activation.due(view(activations=(proofs(),)), ON, landing_seconds=10)
    assert (action.address, action.function, action.proof_timestamp) == (FACTORY, "activateStakingPool", 999_900)
    validator, proof_data, timestamp = action.args
    assert validator == (PUBKEY, proofs().credentials, 10_000 * GWEI, 3)  # ValidatorData(pubkey, creds, balance, index)
    assert proof_data == ([b"\x01" * 32], [b"\x02" * 32], [b"\x03" * 32], b"\x04" * 32) and timestamp == 999_900
    assert action.key.endswith(":77")  # one claim per slot: a failed attempt is decided again at a later one


def test_activation_waits_for_the_first_deposit_and_never_sends_proofs_past_max_timestamp_age() -> None:
    assert activation.due(view(activations=(proofs(balance_gwei=9_999 * GWEI),)), ON, landing_seconds=10) == []
    # the proofs' timestamp + 600 s must be later than now + landing time
    assert activation.due(view(activations=(proofs(timestamp=1_000_000 - 590),)), ON, landing_seconds=10) == []
    assert len(activation.due(view(activations=(proofs(timestamp=1_000_000 - 589),)), ON, landing_seconds=10)) == 1
    assert (
        activation.due(view(activations=(proofs(),)), dataclasses.replace(ON, activation=False), landing_seconds=1)
        == []
    )

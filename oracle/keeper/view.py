"""What a keeper cycle reads, as values: each duty decides from these alone (`due(view, settings)`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PoolFacts:
    """One pool as the keeper sees it: its contracts' views and its validator on the proven CL state."""

    address: str
    pubkey: bytes
    state: str  # metrics.POOL_STATES: active, below_threshold, not_activated, paused, exited, operator_mismatch
    rewards_waiting_wei: int = 0  # the StakingRewardsVault's balance: what processRewards would collect
    validator_index: int | None = None  # None: not on the CL
    exit_initiated: bool = False  # exit_epoch set on the CL
    # EL block of the latest full-exit request (FullExitTriggered, or a retryFullExit since); None: none in the window
    exit_requested_block: int | None = None


@dataclass(frozen=True)
class Request:
    """An open withdrawal request of the shared WithdrawalVault (a non-transferable ERC-721)."""

    request_id: int
    pubkey: bytes
    assets_wei: int
    request_block: int
    user: str


@dataclass(frozen=True)
class Activation:
    """The three proofs `activateStakingPool` takes, built by our engine at one slot and verified against
    the EIP-4788 root of `timestamp` before anything is decided."""

    pool: str
    pubkey: bytes
    validator_index: int
    credentials: bytes
    balance_gwei: int
    pubkey_proof: tuple[bytes, ...]
    credentials_proof: tuple[bytes, ...]
    balance_proof: tuple[bytes, ...]
    balance_leaf: bytes
    slot: int
    timestamp: int


@dataclass(frozen=True)
class KeeperView:
    block: int  # the EL block the views were read at
    chain_now: float  # the chain's clock (the latest block's timestamp and the time since it was read)
    max_timestamp_age: int
    pools: tuple[PoolFacts, ...] = ()
    requests: tuple[Request, ...] = ()  # open requests of the keeper's pools, oldest first
    factory: str = ""
    vault: str = ""
    vault_balance_wei: int = 0
    vault_paused: bool = False
    finalization_delay_blocks: int = 129_600
    withdrawal_request_fee_wei: int | None = None  # getWithdrawalRequestFee(); None: unreadable
    first_deposit_gwei: int = 0  # the factory's FIRST_DEPOSIT_AMOUNT_GWEI
    activations: tuple[Activation, ...] = ()  # verified proofs for the pools waiting for activation


@dataclass(frozen=True)
class Action:
    """One transaction a duty wants sent. `key` (duty, subject, the block or slot it was decided at) names it
    for the journal, which claims each key once, as it claims a report once per pool and slot; a duty whose
    transaction is still in flight is followed, not decided again."""

    duty: str  # activation, finalize, process_rewards, retry_full_exit
    key: str
    pool: str  # the pool it is for ("" for a batch across pools)
    contract: str  # ABI name
    address: str
    function: str
    args: tuple[Any, ...]
    value_wei: int = 0
    why: str = ""
    proof_timestamp: int | None = None  # an activation's proofs must land within MAX_TIMESTAMP_AGE of this

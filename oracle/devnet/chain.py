"""A simulated beacon chain: validators, balances and queues evolving slot by slot, each slot a real SSZ
state of the chosen layout, merkleized by the engine. No I/O: the devnet orchestrator feeds it execution
payloads and EL events, and credits the withdrawals it returns.

What it models, per layout family:
- both: deposits credited some slots after their EL event (new validators join), partial withdrawals
  through `pending_partial_withdrawals`, exits and the sweep of exited balances to the EL;
- ethereum only: per-epoch rewards and penalties, slashing, missed slots, finality two epochs behind head,
  pending deposits visible in the state. beacon-kit applies no rewards, penalties or slashing, has
  CometBFT's instant finality (head is final) and no missed slots.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oracle.ssz.layouts import Layout, get_layout
from oracle.ssz.sample import FAR_FUTURE_EPOCH, GWEI_PER_ETH, ValidatorSet
from oracle.ssz.state import BeaconState, eth1_credentials, load_state, merkleize_state
from oracle.ssz.types import MerkleCache

ZERO32 = b"\x00" * 32
MAX_HISTORY_ROOTS = 8192
# beacon-kit's SlotsPerHistoricalRoot and EpochsPerHistoricalVector on mainnet (config/spec/defaults.go): its
# block_roots, state_roots and randao_mixes lists hold 8 entries each.
BEACONKIT_HISTORY = 8
EPOCHS_PER_HISTORICAL_VECTOR = 65536
SYNC_COMMITTEE_SIZE = 512
FORK_VERSIONS = {"deneb": bytes.fromhex("04000000"), "electra": bytes.fromhex("05000000")}


def h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


@dataclass(frozen=True)
class ChainConfig:
    layout: str = "beaconkit-electra"
    validators: int = 8
    pools: int = 2
    slot_seconds: int = 2
    slots_per_epoch: int = 32
    deposit_delay_slots: int = 4
    withdrawal_delay_epochs: int = 1
    history_slots: int = 512
    genesis_time: int = 1_700_000_000
    seed: int = 0
    rewards: bool = True  # Ethereum layouts: per-epoch rewards and penalties (off: balances move only by events)
    # Initial balance of every validator: Berachain's minimum stake, or 32 ETH on Ethereum layouts.
    initial_balance_gwei: int | None = None

    @property
    def family(self) -> str:
        return get_layout(self.layout).family

    @property
    def initial_balance(self) -> int:
        if self.initial_balance_gwei is not None:
            return self.initial_balance_gwei
        return 250_000 * GWEI_PER_ETH if self.family == "beaconkit" else 32 * GWEI_PER_ETH

    @property
    def pool_balance(self) -> int:
        """Pool validators' genesis balance: on beacon-kit above the pools' 250,000 BERA minimum effective
        balance (a pool at exactly the minimum fully exits on its first withdrawal)."""
        if self.initial_balance_gwei is not None:
            return self.initial_balance_gwei
        return 300_000 * GWEI_PER_ETH if self.family == "beaconkit" else 32 * GWEI_PER_ETH


@dataclass(frozen=True)
class Payload:
    """The execution payload (EL block) carried by a beacon block."""

    block_hash: bytes
    block_number: int
    timestamp: int
    parent_hash: bytes = ZERO32
    fee_recipient: bytes = b"\x00" * 20
    gas_limit: int = 30_000_000
    gas_used: int = 0
    base_fee_per_gas: int = 0


@dataclass(frozen=True)
class Withdrawal:
    """A CL withdrawal for the EL to credit: `amount` gwei to `address`."""

    validator_index: int
    address: bytes
    amount: int


@dataclass
class PendingDeposit:
    pubkey: bytes
    credentials: bytes
    amount: int
    signature: bytes
    slot: int  # the slot whose EL block emitted it
    due_slot: int


@dataclass
class SlotRecord:
    slot: int
    state: bytes
    state_root: bytes
    block_root: bytes | None  # None for a missed slot
    header: dict[str, Any]  # the latest block header, state_root filled in
    payload: Payload | None


@dataclass(frozen=True)
class Checkpoint:
    """What slot processing changes besides the slot-indexed history, as it was at `slot` (see rewind)."""

    slot: int
    validators: Validators
    pending_deposits: list[PendingDeposit]
    pending_partial_withdrawals: list[tuple[int, int, int]]
    deposit_count: int
    randao: list[bytes]
    rng_state: dict[str, Any]
    latest_header: dict[str, Any]


@dataclass
class Validators(ValidatorSet):
    """The registry as columns (see ValidatorSet) plus balances, growing as deposits add validators."""

    balances: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))

    def append(self, pubkey: bytes, credentials: bytes, amount: int, epoch: int) -> int:
        def grow(column: np.ndarray, value: Any) -> np.ndarray:
            return np.concatenate([column, np.array([value], dtype=column.dtype).reshape((1, *column.shape[1:]))])

        self.pubkeys = grow(self.pubkeys, np.frombuffer(pubkey, dtype=np.uint8))
        self.withdrawal_credentials = grow(self.withdrawal_credentials, np.frombuffer(credentials, dtype=np.uint8))
        self.effective_balances = grow(self.effective_balances, amount - amount % GWEI_PER_ETH)
        self.slashed = grow(self.slashed, False)
        self.activation_eligibility_epochs = grow(self.activation_eligibility_epochs, epoch + 1)
        self.activation_epochs = grow(self.activation_epochs, epoch + 2)
        self.exit_epochs = grow(self.exit_epochs, FAR_FUTURE_EPOCH)
        self.withdrawable_epochs = grow(self.withdrawable_epochs, FAR_FUTURE_EPOCH)
        self.balances = grow(self.balances, amount)
        return self.count - 1


class SimulatedChain:
    def __init__(
        self,
        config: ChainConfig,
        withdrawal_vault: bytes,
        genesis_deposits: int = 0,
        set_pool: tuple[bytes, int] | None = None,
    ) -> None:
        """`genesis_deposits`: EL deposit events already reflected in the genesis validators (the pools'
        initial deposits), so that eth1_deposit_index agrees with the deposit contract's count. `set_pool`:
        (address, count): the last `count` genesis validators pay out to that many-validator pool."""
        if not 0 <= config.pools <= config.validators:
            raise ValueError(f"pools ({config.pools}) must be between 0 and validators ({config.validators})")
        self.config = config
        self.layout: Layout = get_layout(config.layout)
        self.ethereum = self.layout.family == "ethereum"
        self.rng = np.random.default_rng(config.seed)
        self.cache = MerkleCache()
        n = config.validators
        credentials = np.zeros((n, 32), dtype=np.uint8)
        credentials[:] = np.frombuffer(eth1_credentials(b"\x00" * 20), dtype=np.uint8)
        credentials[:, 12:] = self.rng.integers(0, 256, size=(n, 20), dtype=np.uint8)
        vault_credentials = np.frombuffer(eth1_credentials(withdrawal_vault), dtype=np.uint8)
        for index in self.pool_indices():
            credentials[index] = vault_credentials
        if set_pool is not None:
            address, count = set_pool
            if not 0 <= count <= n - config.pools:
                raise ValueError(f"a set pool of {count} validators does not fit beside {config.pools} pools in {n}")
            if count:
                credentials[n - count :] = np.frombuffer(eth1_credentials(address), dtype=np.uint8)
        balance = config.initial_balance
        self.validators = Validators(
            pubkeys=self.rng.integers(0, 256, size=(n, 48), dtype=np.uint8),
            withdrawal_credentials=credentials,
            effective_balances=np.full(n, balance - balance % GWEI_PER_ETH, dtype=np.uint64),
            slashed=np.zeros(n, dtype=bool),
            activation_eligibility_epochs=np.zeros(n, dtype=np.uint64),
            activation_epochs=np.zeros(n, dtype=np.uint64),
            exit_epochs=np.full(n, FAR_FUTURE_EPOCH, dtype=np.uint64),
            withdrawable_epochs=np.full(n, FAR_FUTURE_EPOCH, dtype=np.uint64),
            balances=np.full(n, balance, dtype=np.uint64),
        )
        for index in self.pool_indices():
            self.validators.balances[index] = config.pool_balance
            self.validators.effective_balances[index] = config.pool_balance - config.pool_balance % GWEI_PER_ETH
        self.withdrawal_vault = withdrawal_vault
        self.genesis_validators_root = h(b"genesis-validators", self.validators.records().tobytes())
        self.pending_deposits: list[PendingDeposit] = []
        self.pending_partial_withdrawals: list[tuple[int, int, int]] = []  # (index, amount, withdrawable epoch)
        self.deposit_count = genesis_deposits
        self.slot = 0
        self.records: OrderedDict[int, SlotRecord] = OrderedDict()
        self.block_slots: dict[bytes, int] = {}
        self.state_slots: dict[bytes, int] = {}
        self.block_roots_by_slot: dict[int, bytes] = {}
        self.state_roots_by_slot: dict[int, bytes] = {}
        self.randao = [h(b"randao", config.seed.to_bytes(8, "little"))]
        self._states: OrderedDict[int, BeaconState] = OrderedDict()
        self._sync_pubkeys = [bytes(self.validators.pubkeys[i % n]) for i in range(SYNC_COMMITTEE_SIZE)]
        self.latest_header: dict[str, Any] = {
            "slot": 0,
            "proposer_index": 0,
            "parent_root": ZERO32,
            "state_root": ZERO32,
            "body_root": h(b"genesis-body"),
        }
        genesis_payload = Payload(block_hash=h(b"genesis-el"), block_number=0, timestamp=config.genesis_time)
        self._seal(genesis_payload)

    # -- queries ---------------------------------------------------------------------------------------

    def pool_indices(self) -> list[int]:
        return list(range(self.config.pools))

    @property
    def epoch(self) -> int:
        return self.slot // self.config.slots_per_epoch

    def slot_time(self, slot: int) -> int:
        return self.config.genesis_time + slot * self.config.slot_seconds

    @property
    def head(self) -> SlotRecord:
        return self.records[self.slot]

    def latest_block_slot(self, at_or_before: int) -> int | None:
        for slot in range(at_or_before, -1, -1):
            record = self.records.get(slot)
            if record is None:
                return None
            if record.block_root is not None:
                return slot
        return None

    @property
    def finalized_slot(self) -> int:
        """beacon-kit: head. Ethereum: the checkpoint block two epochs behind head."""
        if not self.ethereum:
            return self.slot
        finalized_epoch = max(0, self.epoch - 2)
        slot = self.latest_block_slot(finalized_epoch * self.config.slots_per_epoch)
        return slot if slot is not None else min(self.records)

    @property
    def justified_slot(self) -> int:
        if not self.ethereum:
            return self.slot
        slot = self.latest_block_slot(max(0, self.epoch - 1) * self.config.slots_per_epoch)
        return slot if slot is not None else min(self.records)

    def state(self, slot: int) -> BeaconState:
        """The merkleized state at `slot` (recent ones are kept)."""
        cached = self._states.get(slot)
        if cached is not None:
            self._states.move_to_end(slot)
            return cached
        record = self.records[slot]
        proven = load_state(record.state, self.layout)
        self._states[slot] = proven
        if len(self._states) > 8:
            self._states.popitem(last=False)
        return proven

    def validator_index(self, pubkey: bytes) -> int | None:
        matches = np.flatnonzero((self.validators.pubkeys == np.frombuffer(pubkey, dtype=np.uint8)).all(axis=1))
        return int(matches[0]) if matches.size else None

    # -- events ----------------------------------------------------------------------------------------

    def add_deposit(self, pubkey: bytes, credentials: bytes, amount: int, signature: bytes = b"\x00" * 96) -> None:
        """A deposit event seen in the EL block of the current slot; credited after the delay."""
        self.pending_deposits.append(
            PendingDeposit(
                pubkey, credentials, amount, signature, self.slot, self.slot + self.config.deposit_delay_slots
            )
        )
        self.deposit_count += 1

    def request_withdrawal(self, index: int, amount: int) -> None:
        """A partial withdrawal of `amount` gwei (0: a full exit), as an EIP-7002 request would queue it."""
        self._check_index(index)
        if amount == 0:
            self.exit(index)
            return
        due = self.epoch + self.config.withdrawal_delay_epochs
        self.pending_partial_withdrawals.append((index, amount, due))

    def exit(self, index: int) -> None:
        self._check_index(index)
        if self.validators.exit_epochs[index] != FAR_FUTURE_EPOCH:
            return
        self.validators.exit_epochs[index] = self.epoch + 1
        self.validators.withdrawable_epochs[index] = self.epoch + 1 + self.config.withdrawal_delay_epochs

    def slash(self, index: int) -> None:
        if not self.ethereum:
            raise ValueError("beacon-kit applies no slashing")
        self._check_index(index)
        self.validators.slashed[index] = True
        penalty = int(self.validators.effective_balances[index]) // 32
        self.validators.balances[index] -= min(penalty, int(self.validators.balances[index]))
        self.exit(index)

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.validators.count:
            raise IndexError(f"no validator {index} (there are {self.validators.count})")

    # -- reorganisations (Ethereum layouts) ------------------------------------------------------------

    def checkpoint(self) -> Checkpoint:
        """The chain as it is now, to come back to with `rewind` (a copy of the registry: cheap at devnet sizes)."""
        return Checkpoint(
            self.slot, copy.deepcopy(self.validators), copy.deepcopy(self.pending_deposits),
            list(self.pending_partial_withdrawals), self.deposit_count, list(self.randao),
            copy.deepcopy(dict(self.rng.bit_generator.state)), dict(self.latest_header),
        )  # fmt: skip

    def rewind(self, point: Checkpoint) -> list[int]:
        """Forget the slots after `point.slot`, as a reorganisation does: their blocks and states leave every
        index, and the next `advance` builds on `point.slot` again. Returns the forgotten slots."""
        if not self.ethereum:
            raise ValueError("beacon-kit has single-slot finality: no reorganisations")
        if point.slot not in self.records or point.slot > self.slot:
            raise ValueError(f"slot {point.slot} is not in this chain's history")
        if point.slot < self.finalized_slot:
            raise ValueError(f"slot {point.slot} is behind the finalized slot {self.finalized_slot}")
        forgotten = [slot for slot in self.records if slot > point.slot]
        for slot in forgotten:
            record = self.records.pop(slot)
            self.state_slots.pop(record.state_root, None)
            if record.block_root is not None:
                self.block_slots.pop(record.block_root, None)
            self._states.pop(slot, None)
        for roots in (self.block_roots_by_slot, self.state_roots_by_slot):
            for slot in [s for s in roots if s >= point.slot]:
                del roots[slot]
        self.slot = point.slot
        self.validators = copy.deepcopy(point.validators)
        self.pending_deposits = copy.deepcopy(point.pending_deposits)
        self.pending_partial_withdrawals = list(point.pending_partial_withdrawals)
        self.deposit_count = point.deposit_count
        self.randao = list(point.randao)
        self.rng.bit_generator.state = copy.deepcopy(point.rng_state)
        self.latest_header = dict(point.latest_header)
        return forgotten

    # -- slot processing -------------------------------------------------------------------------------

    def advance(self, payload: Payload | None) -> list[Withdrawal]:
        """Move to the next slot: with a block carrying `payload`, or a missed slot when None."""
        if payload is None and not self.ethereum:
            raise ValueError("beacon-kit has no missed slots")
        previous = self.head
        self.slot += 1
        self.block_roots_by_slot[previous.slot] = self.block_slot_root(previous.slot)
        self.state_roots_by_slot[previous.slot] = previous.state_root
        withdrawals = self._apply_deposits()
        if self.slot % self.config.slots_per_epoch == 0:
            withdrawals += self._process_epoch()
        if payload is None:
            self.latest_header = dict(self.latest_header)
            if self.latest_header["state_root"] == ZERO32:
                self.latest_header["state_root"] = previous.state_root
        else:
            self.latest_header = {
                "slot": self.slot,
                "proposer_index": self.slot % self.validators.count,
                "parent_root": self.block_slot_root(previous.slot),
                "state_root": ZERO32,
                "body_root": h(b"body", self.slot.to_bytes(8, "little"), payload.block_hash),
            }
            self.randao[-1] = h(self.randao[-1], payload.block_hash)
        self._seal(payload)
        return withdrawals

    def block_slot_root(self, slot: int) -> bytes:
        """Root of the block at `slot`, or of the latest block before it for a missed slot."""
        record = self.records[slot]
        if record.block_root is not None:
            return record.block_root
        block_slot = self.latest_block_slot(slot)
        assert block_slot is not None
        root = self.records[block_slot].block_root
        assert root is not None
        return root

    def _apply_deposits(self) -> list[Withdrawal]:
        due = [d for d in self.pending_deposits if d.due_slot <= self.slot]
        self.pending_deposits = [d for d in self.pending_deposits if d.due_slot > self.slot]
        for deposit in due:
            index = self.validator_index(deposit.pubkey)
            if index is None:
                self.validators.append(deposit.pubkey, deposit.credentials, deposit.amount, self.epoch)
            else:
                self.validators.balances[index] += deposit.amount
        return []

    def _process_epoch(self) -> list[Withdrawal]:
        epoch = self.epoch
        v = self.validators
        active = (v.activation_epochs <= epoch) & (v.exit_epochs > epoch)
        if self.ethereum and self.config.rewards:
            # Rewards of roughly 3% a year, some validators missing their duties and paying for it.
            rewards = self.rng.integers(1_500, 2_500, size=v.count).astype(np.uint64)
            missed = self.rng.random(v.count) < 0.05
            for active_index in np.flatnonzero(active):
                k = int(active_index)
                if missed[k]:
                    v.balances[k] -= min(int(rewards[k]), int(v.balances[k]))
                else:
                    v.balances[k] += rewards[k]
        withdrawals: list[Withdrawal] = []
        remaining = []
        for index, amount, due_epoch in self.pending_partial_withdrawals:
            if due_epoch > epoch:
                remaining.append((index, amount, due_epoch))
                continue
            paid = min(amount, int(v.balances[index]))
            if paid:
                v.balances[index] -= paid
                withdrawals.append(Withdrawal(index, bytes(v.withdrawal_credentials[index, 12:]), paid))
        self.pending_partial_withdrawals = remaining
        for swept in np.flatnonzero((v.withdrawable_epochs <= epoch) & (v.balances > 0)):
            exited = int(swept)
            balance_left = int(v.balances[exited])
            v.balances[exited] = 0
            withdrawals.append(Withdrawal(exited, bytes(v.withdrawal_credentials[exited, 12:]), balance_left))
        # Effective balances follow balances in whole units, with the specs' hysteresis.
        increment = GWEI_PER_ETH
        lower, upper = increment // 4, increment + increment // 4
        for i in range(v.count):
            balance, effective = int(v.balances[i]), int(v.effective_balances[i])
            if balance + lower < effective or effective + upper < balance:
                v.effective_balances[i] = balance - balance % increment
        if len(self.randao) <= epoch % EPOCHS_PER_HISTORICAL_VECTOR:
            self.randao.append(h(self.randao[-1], epoch.to_bytes(8, "little")))
        return withdrawals

    def _seal(self, payload: Payload | None) -> None:
        state_bytes = self._encode(payload)
        proven = load_state(state_bytes, self.layout, self.cache) if payload is not None else None
        if proven is not None:
            state_root, block_root = proven.state_root, proven.block_root
            header = dict(self.latest_header, state_root=state_root)
        else:
            # A missed slot: the state advanced past its block, which no block root commits to.
            state_root = merkleize_state(state_bytes, self.layout, self.cache)[3].root
            block_root = None
            header = dict(self.latest_header)
        record = SlotRecord(self.slot, state_bytes, state_root, block_root, header, payload)
        self.records[self.slot] = record
        self.state_slots[state_root] = self.slot
        if block_root is not None:
            self.block_slots[block_root] = self.slot
        if proven is not None:
            self._states[self.slot] = proven
        while len(self.records) > self.config.history_slots:
            old_slot, old = self.records.popitem(last=False)
            self.state_slots.pop(old.state_root, None)
            self._states.pop(old_slot, None)

    # -- state serialization ---------------------------------------------------------------------------

    def _payload_header(self, payload: Payload | None) -> dict[str, Any]:
        if payload is None:
            payload = self._last_payload()  # a missed slot keeps the last block's payload header
        return {
            "parent_hash": payload.parent_hash,
            "fee_recipient": payload.fee_recipient,
            "state_root": h(b"el-state", payload.block_hash),
            "receipts_root": h(b"el-receipts", payload.block_hash),
            "logs_bloom": b"\x00" * 256,
            "prev_randao": self.randao[-1],
            "block_number": payload.block_number,
            "gas_limit": payload.gas_limit,
            "gas_used": payload.gas_used,
            "timestamp": payload.timestamp,
            "extra_data": b"pool-oracle devnet",
            "base_fee_per_gas": payload.base_fee_per_gas,
            "block_hash": payload.block_hash,
            "transactions_root": h(b"el-txs", payload.block_hash),
            "withdrawals_root": h(b"el-withdrawals", payload.block_hash),
            "blob_gas_used": 0,
            "excess_blob_gas": 0,
        }

    def _history(self, roots: dict[int, bytes]) -> list[bytes]:
        """block_roots / state_roots indexed by slot % their length, as far as the chain has come."""
        size = MAX_HISTORY_ROOTS if self.ethereum else BEACONKIT_HISTORY
        length = min(self.slot, size)
        out = [ZERO32] * length
        for slot in range(max(0, self.slot - size), self.slot):
            out[slot % size] = roots.get(slot, ZERO32)
        return out

    def _beaconkit_randao(self) -> list[bytes]:
        """beacon-kit's randao_mixes: the last BEACONKIT_HISTORY mixes, indexed by epoch % that."""
        count = len(self.randao)
        out = [ZERO32] * min(count, BEACONKIT_HISTORY)
        for epoch in range(max(0, count - BEACONKIT_HISTORY), count):
            out[epoch % BEACONKIT_HISTORY] = self.randao[epoch]
        return out

    def _encode(self, payload: Payload | None) -> bytes:
        v = self.validators
        fields: dict[str, Any] = {
            "genesis_validators_root": self.genesis_validators_root,
            "slot": self.slot,
            "fork": {
                "previous_version": FORK_VERSIONS["deneb"],
                "current_version": FORK_VERSIONS["electra"],
                "epoch": 0,
            },
            "latest_block_header": self.latest_header,
            "eth1_data": {
                "deposit_root": h(b"deposits", self.deposit_count.to_bytes(8, "little")),
                "deposit_count": self.deposit_count,
                "block_hash": (payload or self._last_payload()).block_hash,
            },
            "eth1_deposit_index": self.deposit_count - len(self.pending_deposits),
            "latest_execution_payload_header": self._payload_header(payload),
            "validators": v.records(),
            "balances": v.balances.astype("<u8").view(np.uint8),
            "next_withdrawal_index": 0,
            "next_withdrawal_validator_index": 0,
        }
        block_roots = self._history(self.block_roots_by_slot)
        state_roots = self._history(self.state_roots_by_slot)
        if self.ethereum:
            n = v.count
            padded = MAX_HISTORY_ROOTS - len(block_roots)
            randao = [ZERO32] * EPOCHS_PER_HISTORICAL_VECTOR
            for epoch, mix in enumerate(self.randao):
                randao[epoch % EPOCHS_PER_HISTORICAL_VECTOR] = mix
            checkpoint = {"epoch": 0, "root": ZERO32}
            finalized_epoch = max(0, self.epoch - 2)
            fields.update(
                genesis_time=self.config.genesis_time,
                block_roots=block_roots + [ZERO32] * padded,
                state_roots=state_roots + [ZERO32] * padded,
                randao_mixes=np.frombuffer(b"".join(randao), dtype=np.uint8),
                slashings=np.zeros(8192 * 8, dtype=np.uint8),
                previous_epoch_participation=np.full(n, 7, dtype=np.uint8),
                current_epoch_participation=np.full(n, 7, dtype=np.uint8),
                justification_bits=[True, True, False, False],
                previous_justified_checkpoint=dict(checkpoint, epoch=max(0, self.epoch - 2)),
                current_justified_checkpoint=dict(checkpoint, epoch=max(0, self.epoch - 1)),
                finalized_checkpoint={
                    "epoch": finalized_epoch,
                    "root": self.block_roots_by_slot.get(finalized_epoch * self.config.slots_per_epoch, ZERO32),
                },
                inactivity_scores=np.zeros(n * 8, dtype=np.uint8),
                current_sync_committee={
                    "pubkeys": self._sync_pubkeys,
                    "aggregate_pubkey": h(b"agg") + h(b"agg")[:16],
                },
                next_sync_committee={
                    "pubkeys": self._sync_pubkeys,
                    "aggregate_pubkey": h(b"agg") + h(b"agg")[:16],
                },
                historical_roots=[],
                eth1_data_votes=[],
                historical_summaries=[],
                deposit_requests_start_index=2**64 - 1,
                pending_deposits=[
                    {
                        "pubkey": d.pubkey,
                        "withdrawal_credentials": d.credentials,
                        "amount": d.amount,
                        "signature": d.signature,
                        "slot": d.slot,
                    }
                    for d in self.pending_deposits
                ],
                pending_consolidations=[],
            )
        else:
            fields.update(
                block_roots=block_roots,
                state_roots=state_roots,
                randao_mixes=self._beaconkit_randao(),
                slashings=[],
                total_slashing=0,
            )
        if self.layout.has_field("pending_partial_withdrawals"):
            fields["pending_partial_withdrawals"] = [
                {"validator_index": index, "amount": amount, "withdrawable_epoch": due}
                for index, amount, due in self.pending_partial_withdrawals
            ]
        return self.layout.state.encode(fields)

    def _last_payload(self) -> Payload:
        for record in reversed(self.records.values()):
            if record.payload is not None:
                return record.payload
        raise RuntimeError("no payload yet")

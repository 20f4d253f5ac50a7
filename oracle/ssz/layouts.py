"""Beacon state layouts, declared field by field; a new fork is a new declaration.

Ethereum layouts follow the consensus specs (mainnet preset). beacon-kit's follow its BeaconState as
described in DESIGN.md: fewer fields, lists where Ethereum has vectors, and from Electra only
`pending_partial_withdrawals` among Electra's queues.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oracle.ssz.errors import SSZError
from oracle.ssz.types import (
    Bitvector,
    Boolean,
    ByteList,
    ByteVector,
    Container,
    List,
    SSZType,
    UInt,
    Vector,
    concat_gindices,
    gindex_of,
)

uint8, uint64, uint256 = UInt(8), UInt(64), UInt(256)
boolean = Boolean()
Bytes4, Bytes20, Bytes32, Bytes48, Bytes96 = (ByteVector(n) for n in (4, 20, 32, 48, 96))
Root = Bytes32
BLSPubkey = Bytes48
BLSSignature = Bytes96

VALIDATOR_REGISTRY_LIMIT = 2**40
SLOTS_PER_HISTORICAL_ROOT = 8192
EPOCHS_PER_HISTORICAL_VECTOR = 65536
EPOCHS_PER_SLASHINGS_VECTOR = 8192
HISTORICAL_ROOTS_LIMIT = 2**24
SLOTS_PER_EPOCH = 32
EPOCHS_PER_ETH1_VOTING_PERIOD = 64
SYNC_COMMITTEE_SIZE = 512
PENDING_DEPOSITS_LIMIT = 2**27
PENDING_PARTIAL_WITHDRAWALS_LIMIT = 2**27
PENDING_CONSOLIDATIONS_LIMIT = 2**18
MIN_SEED_LOOKAHEAD = 1
MAX_EXTRA_DATA_BYTES = 32
BYTES_PER_LOGS_BLOOM = 256

Fork = Container("Fork", [("previous_version", Bytes4), ("current_version", Bytes4), ("epoch", uint64)])
BeaconBlockHeader = Container(
    "BeaconBlockHeader",
    [
        ("slot", uint64),
        ("proposer_index", uint64),
        ("parent_root", Root),
        ("state_root", Root),
        ("body_root", Root),
    ],
)
Eth1Data = Container("Eth1Data", [("deposit_root", Root), ("deposit_count", uint64), ("block_hash", Bytes32)])
Validator = Container(
    "Validator",
    [
        ("pubkey", BLSPubkey),
        ("withdrawal_credentials", Bytes32),
        ("effective_balance", uint64),
        ("slashed", boolean),
        ("activation_eligibility_epoch", uint64),
        ("activation_epoch", uint64),
        ("exit_epoch", uint64),
        ("withdrawable_epoch", uint64),
    ],
)
Checkpoint = Container("Checkpoint", [("epoch", uint64), ("root", Root)])
SyncCommittee = Container(
    "SyncCommittee", [("pubkeys", Vector(BLSPubkey, SYNC_COMMITTEE_SIZE)), ("aggregate_pubkey", BLSPubkey)]
)
ExecutionPayloadHeaderDeneb = Container(
    "ExecutionPayloadHeader",
    [
        ("parent_hash", Bytes32),
        ("fee_recipient", Bytes20),
        ("state_root", Bytes32),
        ("receipts_root", Bytes32),
        ("logs_bloom", ByteVector(BYTES_PER_LOGS_BLOOM)),
        ("prev_randao", Bytes32),
        ("block_number", uint64),
        ("gas_limit", uint64),
        ("gas_used", uint64),
        ("timestamp", uint64),
        ("extra_data", ByteList(MAX_EXTRA_DATA_BYTES)),
        ("base_fee_per_gas", uint256),
        ("block_hash", Bytes32),
        ("transactions_root", Root),
        ("withdrawals_root", Root),
        ("blob_gas_used", uint64),
        ("excess_blob_gas", uint64),
    ],
)
HistoricalSummary = Container("HistoricalSummary", [("block_summary_root", Root), ("state_summary_root", Root)])
PendingDeposit = Container(
    "PendingDeposit",
    [
        ("pubkey", BLSPubkey),
        ("withdrawal_credentials", Bytes32),
        ("amount", uint64),
        ("signature", BLSSignature),
        ("slot", uint64),
    ],
)
PendingPartialWithdrawal = Container(
    "PendingPartialWithdrawal",
    [("validator_index", uint64), ("amount", uint64), ("withdrawable_epoch", uint64)],
)
PendingConsolidation = Container("PendingConsolidation", [("source_index", uint64), ("target_index", uint64)])

_ETHEREUM_DENEB_FIELDS: list[tuple[str, SSZType]] = [
    ("genesis_time", uint64),
    ("genesis_validators_root", Root),
    ("slot", uint64),
    ("fork", Fork),
    ("latest_block_header", BeaconBlockHeader),
    ("block_roots", Vector(Root, SLOTS_PER_HISTORICAL_ROOT)),
    ("state_roots", Vector(Root, SLOTS_PER_HISTORICAL_ROOT)),
    ("historical_roots", List(Root, HISTORICAL_ROOTS_LIMIT)),
    ("eth1_data", Eth1Data),
    ("eth1_data_votes", List(Eth1Data, EPOCHS_PER_ETH1_VOTING_PERIOD * SLOTS_PER_EPOCH)),
    ("eth1_deposit_index", uint64),
    ("validators", List(Validator, VALIDATOR_REGISTRY_LIMIT)),
    ("balances", List(uint64, VALIDATOR_REGISTRY_LIMIT)),
    ("randao_mixes", Vector(Bytes32, EPOCHS_PER_HISTORICAL_VECTOR)),
    ("slashings", Vector(uint64, EPOCHS_PER_SLASHINGS_VECTOR)),
    ("previous_epoch_participation", List(uint8, VALIDATOR_REGISTRY_LIMIT)),
    ("current_epoch_participation", List(uint8, VALIDATOR_REGISTRY_LIMIT)),
    ("justification_bits", Bitvector(4)),
    ("previous_justified_checkpoint", Checkpoint),
    ("current_justified_checkpoint", Checkpoint),
    ("finalized_checkpoint", Checkpoint),
    ("inactivity_scores", List(uint64, VALIDATOR_REGISTRY_LIMIT)),
    ("current_sync_committee", SyncCommittee),
    ("next_sync_committee", SyncCommittee),
    ("latest_execution_payload_header", ExecutionPayloadHeaderDeneb),
    ("next_withdrawal_index", uint64),
    ("next_withdrawal_validator_index", uint64),
    ("historical_summaries", List(HistoricalSummary, HISTORICAL_ROOTS_LIMIT)),
]
_ELECTRA_ADDITIONS: list[tuple[str, SSZType]] = [
    ("deposit_requests_start_index", uint64),
    ("deposit_balance_to_consume", uint64),
    ("exit_balance_to_consume", uint64),
    ("earliest_exit_epoch", uint64),
    ("consolidation_balance_to_consume", uint64),
    ("earliest_consolidation_epoch", uint64),
    ("pending_deposits", List(PendingDeposit, PENDING_DEPOSITS_LIMIT)),
    ("pending_partial_withdrawals", List(PendingPartialWithdrawal, PENDING_PARTIAL_WITHDRAWALS_LIMIT)),
    ("pending_consolidations", List(PendingConsolidation, PENDING_CONSOLIDATIONS_LIMIT)),
]
_FULU_ADDITIONS: list[tuple[str, SSZType]] = [
    ("proposer_lookahead", Vector(uint64, (MIN_SEED_LOOKAHEAD + 1) * SLOTS_PER_EPOCH)),
]
_BEACONKIT_DENEB_FIELDS: list[tuple[str, SSZType]] = [
    ("genesis_validators_root", Root),
    ("slot", uint64),
    ("fork", Fork),
    ("latest_block_header", BeaconBlockHeader),
    ("block_roots", List(Root, SLOTS_PER_HISTORICAL_ROOT)),
    ("state_roots", List(Root, SLOTS_PER_HISTORICAL_ROOT)),
    ("eth1_data", Eth1Data),
    ("eth1_deposit_index", uint64),
    ("latest_execution_payload_header", ExecutionPayloadHeaderDeneb),
    ("validators", List(Validator, VALIDATOR_REGISTRY_LIMIT)),
    ("balances", List(uint64, VALIDATOR_REGISTRY_LIMIT)),
    ("randao_mixes", List(Bytes32, EPOCHS_PER_HISTORICAL_VECTOR)),
    ("next_withdrawal_index", uint64),
    ("next_withdrawal_validator_index", uint64),
    ("slashings", List(uint64, VALIDATOR_REGISTRY_LIMIT)),
    ("total_slashing", uint64),
]
_BEACONKIT_ELECTRA_ADDITIONS: list[tuple[str, SSZType]] = [
    ("pending_partial_withdrawals", List(PendingPartialWithdrawal, PENDING_PARTIAL_WITHDRAWALS_LIMIT)),
]


@dataclass(frozen=True)
class Layout:
    """One beacon state layout: its state container and where proofs are anchored."""

    name: str
    family: str  # "ethereum" or "beaconkit"
    state: Container

    @property
    def header_state_root_gindex(self) -> int:
        return gindex_of(BeaconBlockHeader, ["state_root"])[0]

    def gindex(self, *path: str | int) -> int:
        """Generalized index of a path in the state, anchored at the block root."""
        return concat_gindices(self.header_state_root_gindex, gindex_of(self.state, list(path))[0])

    def pubkey_gindex(self, index: int) -> int:
        return self.gindex("validators", index, "pubkey")

    def withdrawal_credentials_gindex(self, index: int) -> int:
        return self.gindex("validators", index, "withdrawal_credentials")

    def effective_balance_gindex(self, index: int) -> int:
        return self.gindex("validators", index, "effective_balance")

    def balance_gindex(self, index: int) -> int:
        return self.gindex("balances", index)

    def has_field(self, name: str) -> bool:
        return name in self.state.field_index


def _layout(name: str, family: str, fields: list[tuple[str, SSZType]]) -> Layout:
    return Layout(name, family, Container("BeaconState", fields))


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        _layout("ethereum-deneb", "ethereum", _ETHEREUM_DENEB_FIELDS),
        _layout("ethereum-electra", "ethereum", _ETHEREUM_DENEB_FIELDS + _ELECTRA_ADDITIONS),
        _layout("ethereum-fulu", "ethereum", _ETHEREUM_DENEB_FIELDS + _ELECTRA_ADDITIONS + _FULU_ADDITIONS),
        _layout("beaconkit-deneb", "beaconkit", _BEACONKIT_DENEB_FIELDS),
        _layout("beaconkit-electra", "beaconkit", _BEACONKIT_DENEB_FIELDS + _BEACONKIT_ELECTRA_ADDITIONS),
    )
}
# beacon-kit's Fulu state has the Electra layout.
LAYOUT_ALIASES = {"beaconkit-fulu": "beaconkit-electra"}
LAYOUT_NAMES = sorted(LAYOUTS) + sorted(LAYOUT_ALIASES)


def get_layout(name: str) -> Layout:
    key = LAYOUT_ALIASES.get(name, name)
    if key not in LAYOUTS:
        raise SSZError(f"unknown layout {name!r}; known: {', '.join(LAYOUT_NAMES)}")
    return LAYOUTS[key]


def detect_layout(buf: np.ndarray) -> Layout:
    """Recognise the layout from the bytes alone: each layout's fixed part has its own size, and a state's
    first offset always equals that size."""
    size = int(buf.shape[0])
    matches = []
    expectations = []
    for layout in LAYOUTS.values():
        fixed = layout.state.fixed_part_size
        position = layout.state.first_offset_position()
        assert position is not None
        expectations.append(f"{layout.name}: first offset {fixed} at byte {position}")
        if size >= fixed and int.from_bytes(buf[position : position + 4].tobytes(), "little") == fixed:
            matches.append(layout)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SSZError(
            f"not a beacon state of any known layout ({size} bytes; expected {'; '.join(expectations)}); "
            "pass --layout if it is truncated",
            path="BeaconState",
            offset=0,
        )
    raise SSZError(
        f"ambiguous layout, matches {', '.join(m.name for m in matches)}; pass --layout",
        path="BeaconState",
        offset=0,
    )

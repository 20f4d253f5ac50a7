"""A serialized beacon state, merkleized flat, anchored at its block root, and the proofs it yields."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from oracle.ssz.errors import ProofError, SSZError
from oracle.ssz.layouts import BeaconBlockHeader, Layout, Validator, detect_layout, get_layout
from oracle.ssz.merkle import ChunkTree, Subtree
from oracle.ssz.proofs import build_multiproof, compute_root
from oracle.ssz.types import Buf, MerkleCache

VALIDATOR_SIZE = Validator.fixed_size or 0
ZERO_ROOT = b"\x00" * 32


def hex0x(data: bytes) -> str:
    return "0x" + data.hex()


@dataclass(frozen=True)
class BlockHeader:
    slot: int
    proposer_index: int
    parent_root: bytes
    state_root: bytes
    body_root: bytes

    def to_json(self) -> dict[str, str]:
        return {
            "slot": str(self.slot),
            "proposer_index": str(self.proposer_index),
            "parent_root": hex0x(self.parent_root),
            "state_root": hex0x(self.state_root),
            "body_root": hex0x(self.body_root),
        }


@dataclass(frozen=True)
class ValidatorProof:
    """Everything `AccountingOracle.updateTotalDeposits` and an auditor need for one validator, anchored at
    the block root; branches are siblings from the leaf upward."""

    index: int
    pubkey: bytes
    withdrawal_credentials: bytes
    effective_balance: int
    balance: int
    pubkey_gindex: int
    pubkey_proof: tuple[bytes, ...]
    withdrawal_credentials_gindex: int
    withdrawal_credentials_proof: tuple[bytes, ...]
    balance_gindex: int
    balance_leaf: bytes
    balance_proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "index": str(self.index),
            "pubkey": hex0x(self.pubkey),
            "withdrawal_credentials": hex0x(self.withdrawal_credentials),
            "effective_balance": str(self.effective_balance),
            "balance": str(self.balance),
            "pubkey_gindex": str(self.pubkey_gindex),
            "pubkey_proof": [hex0x(n) for n in self.pubkey_proof],
            "withdrawal_credentials_gindex": str(self.withdrawal_credentials_gindex),
            "withdrawal_credentials_proof": [hex0x(n) for n in self.withdrawal_credentials_proof],
            "balance_gindex": str(self.balance_gindex),
            "balance_leaf": hex0x(self.balance_leaf),
            "balance_proof": [hex0x(n) for n in self.balance_proof],
        }


def pubkey_leaf(pubkey: bytes) -> bytes:
    """hash_tree_root of a 48-byte BLS pubkey: sha256(pubkey ‖ 16 zero bytes)."""
    from oracle.ssz.hashing import sha256

    return sha256(pubkey + b"\x00" * 16)


def balance_from_leaf(leaf: bytes, index: int) -> int:
    """Balances are packed four to a leaf, little-endian, validator n at byte (n % 4) * 8."""
    position = (index % 4) * 8
    return int.from_bytes(leaf[position : position + 8], "little")


class BeaconState:
    """A decoded, merkleized beacon state. Built by `load_state`; holds views into the input bytes."""

    def __init__(self, layout: Layout, buf: Buf, spans: dict[str, tuple[int, int]], tree: Subtree) -> None:
        self.layout = layout
        self.buf = buf
        self.spans = spans
        self.tree = tree
        start, end = spans["latest_block_header"]
        raw = BeaconBlockHeader.decode(buf, start, end, "BeaconState.latest_block_header")
        if raw["state_root"] != ZERO_ROOT:
            raise SSZError(
                "latest_block_header.state_root is already filled in: process_slot was applied to this state "
                f"after its block (slot {raw['slot']}), so no block root commits to it; use the state at the "
                "block's slot (older beacon-kit nodes serve states so: upgrade the node)",
                path="BeaconState.latest_block_header.state_root",
                offset=start + 48,
            )
        self.state_root = tree.root
        self.header = BlockHeader(
            raw["slot"], raw["proposer_index"], raw["parent_root"], self.state_root, raw["body_root"]
        )
        header_fields = [raw["slot"], raw["proposer_index"], raw["parent_root"], ZERO_ROOT, raw["body_root"]]
        header_leaves = [BeaconBlockHeader.fields[i][1].encode(v) for i, v in enumerate(header_fields)]
        header_leaves = [leaf.ljust(32, b"\x00") for leaf in header_leaves]
        state_index = BeaconBlockHeader.field_index["state_root"]
        header_leaves[state_index] = self.state_root
        leaves = np.frombuffer(b"".join(header_leaves), dtype=np.uint8).reshape(-1, 32)
        self.block_tree = Subtree(
            ChunkTree.build(leaves, BeaconBlockHeader.depth),
            None,
            lambda i: tree if i == state_index else None,
        )
        self.block_root = self.block_tree.root

    @property
    def slot(self) -> int:
        start, _ = self.spans["slot"]
        return int.from_bytes(self.buf[start : start + 8].tobytes(), "little")

    def field(self, name: str) -> Any:
        """Decode one top-level field into Python values (for small fields)."""
        start, end = self.spans[name]
        return self.layout.state.element_type(name).decode(self.buf, start, end, f"BeaconState.{name}")

    @property
    def validator_count(self) -> int:
        start, end = self.spans["validators"]
        return (end - start) // VALIDATOR_SIZE

    def _check_index(self, index: int) -> None:
        count = self.validator_count
        if not 0 <= index < count:
            raise ProofError(f"validator index {index} is out of range: the state has {count} validators")

    def validator_records(self) -> Buf:
        start, end = self.spans["validators"]
        return self.buf[start:end].reshape(-1, VALIDATOR_SIZE)

    def balances(self) -> np.ndarray:
        start, end = self.spans["balances"]
        return self.buf[start:end].view("<u8")

    def validator(self, index: int) -> dict[str, Any]:
        self._check_index(index)
        start, _ = self.spans["validators"]
        offset = start + index * VALIDATOR_SIZE
        decoded: dict[str, Any] = Validator.decode(
            self.buf, offset, offset + VALIDATOR_SIZE, f"BeaconState.validators[{index}]"
        )
        return decoded

    def balance(self, index: int) -> int:
        start, end = self.spans["balances"]
        if not 0 <= index < (end - start) // 8:
            raise ProofError(f"validator index {index} has no balance: the state has {(end - start) // 8} balances")
        return int(self.balances()[index])

    def node_at(self, gindex: int) -> bytes:
        """The node at `gindex`, anchored at the block root."""
        return self.block_tree.node_at(gindex)

    def prove(self, gindex: int) -> tuple[bytes, list[bytes]]:
        """(leaf, branch) for `gindex` from the block root, checked before it is returned."""
        leaf = self.block_tree.node_at(gindex)
        branch = self.block_tree.branch(gindex)
        if compute_root(leaf, branch, gindex) != self.block_root:
            raise ProofError(f"self-check failed for gindex {gindex}: the built branch does not reach the block root")
        return leaf, branch

    def multiproof(self, gindices: Sequence[int]) -> tuple[list[bytes], list[bytes]]:
        return build_multiproof(self.block_tree.node_at, gindices)

    def prove_validator(self, index: int) -> ValidatorProof:
        self._check_index(index)
        record = self.validator(index)
        balance = self.balance(index)
        layout = self.layout
        pk_gindex = layout.pubkey_gindex(index)
        pk_leaf, pk_branch = self.prove(pk_gindex)
        if pk_leaf != pubkey_leaf(record["pubkey"]):
            raise ProofError(f"validator {index}: pubkey leaf does not match the record")
        wc_gindex = layout.withdrawal_credentials_gindex(index)
        wc_leaf, wc_branch = self.prove(wc_gindex)
        if wc_leaf != record["withdrawal_credentials"]:
            raise ProofError(f"validator {index}: withdrawal credentials leaf does not match the record")
        bal_gindex = layout.balance_gindex(index)
        bal_leaf, bal_branch = self.prove(bal_gindex)
        if balance_from_leaf(bal_leaf, index) != balance:
            raise ProofError(f"validator {index}: balance leaf does not hold the balance")
        return ValidatorProof(
            index=index,
            pubkey=record["pubkey"],
            withdrawal_credentials=record["withdrawal_credentials"],
            effective_balance=record["effective_balance"],
            balance=balance,
            pubkey_gindex=pk_gindex,
            pubkey_proof=tuple(pk_branch),
            withdrawal_credentials_gindex=wc_gindex,
            withdrawal_credentials_proof=tuple(wc_branch),
            balance_gindex=bal_gindex,
            balance_leaf=bal_leaf,
            balance_proof=tuple(bal_branch),
        )


def as_buffer(data: bytes | bytearray | memoryview | np.ndarray) -> Buf:
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def _layout_of(buf: Buf, layout: str | Layout) -> Layout:
    if isinstance(layout, Layout):
        return layout
    return detect_layout(buf) if layout == "auto" else get_layout(layout)


def state_spans(data: bytes | bytearray | memoryview | np.ndarray, layout: str | Layout) -> dict[str, tuple[int, int]]:
    """Absolute byte span of every top-level field, offsets validated; nothing is hashed."""
    buf = as_buffer(data)
    state_type = _layout_of(buf, layout).state
    field_spans = state_type.spans(buf, 0, buf.shape[0], "BeaconState")
    return {name: span for (name, _), span in zip(state_type.fields, field_spans, strict=True)}


def merkleize_state(
    data: bytes | bytearray | memoryview | np.ndarray, layout: str | Layout, cache: MerkleCache | None = None
) -> tuple[Layout, Buf, dict[str, tuple[int, int]], Subtree]:
    """Validate and merkleize any state, also one advanced past its block (a missed slot's)."""
    buf = as_buffer(data)
    chosen = _layout_of(buf, layout)
    spans = state_spans(buf, chosen)
    children = [ftype.subtree(buf, *spans[name], f"BeaconState.{name}", cache) for name, ftype in chosen.state.fields]
    return chosen, buf, spans, chosen.state.subtree_of(children)


def load_state(
    data: bytes | bytearray | memoryview | np.ndarray,
    layout: str | Layout = "auto",
    cache: MerkleCache | None = None,
) -> BeaconState:
    """Validate and merkleize a block's post-state, anchored at its block root. Raises SSZError naming the
    field and byte."""
    return BeaconState(*merkleize_state(data, layout, cache))


def eth1_credentials(address: bytes) -> bytes:
    """0x01 ‖ 11 zero bytes ‖ 20-byte execution address: the credentials of validators paying out to it."""
    if len(address) != 20:
        raise ValueError("an execution address is 20 bytes")
    return b"\x01" + b"\x00" * 11 + address


def state_json(state: BeaconState, proofs: Sequence[ValidatorProof]) -> dict[str, Any]:
    return {
        "layout": state.layout.name,
        "slot": str(state.slot),
        "state_root": hex0x(state.state_root),
        "block_root": hex0x(state.block_root),
        "block_header": state.header.to_json(),
        "validators": [p.to_json() for p in proofs],
    }

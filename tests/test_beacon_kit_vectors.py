"""beacon-kit's own proof test vectors, reproduced exactly by our engine.

beacon-kit (github berachain/beacon-kit at 2059e2abe) tests its proof endpoints' merkle code against the
vectors in `node-api/handlers/proof/merkle/testdata/*.json`. The repository is BUSL-1.1, so nothing of it is
copied: each state is rebuilt here from the parameters of the `*_test.go` file named beside it and from
`merkle/mock/beacon_state.go` (an otherwise empty state: zero roots, empty lists, an empty payload header with
base fee 0), and our proof is compared with the SHA-256 of the vector's concatenated 32-byte nodes and its
length, taken from the vector files.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest

from oracle.ssz.layouts import BeaconBlockHeader, Layout, get_layout
from oracle.ssz.merkle import ChunkTree, Subtree
from oracle.ssz.proofs import compute_root
from oracle.ssz.state import merkleize_state, pubkey_leaf

pytestmark = pytest.mark.unit

ZERO = b"\x00" * 32


def root(*prefix: int) -> bytes:
    """Go's `common.Root{1, 2, 3}`: the given bytes, then zeros."""
    return bytes(prefix).ljust(32, b"\x00")


def empty_validator(pubkey: bytes = b"", credentials: bytes = ZERO) -> dict[str, Any]:
    return {
        "pubkey": pubkey.ljust(48, b"\x00"),
        "withdrawal_credentials": credentials,
        "effective_balance": 0,
        "slashed": False,
        "activation_eligibility_epoch": 0,
        "activation_epoch": 0,
        "exit_epoch": 0,
        "withdrawable_epoch": 0,
    }


def mock_state(layout: Layout, slot: int, validators: list[dict[str, Any]], balances: list[int]) -> bytes:
    """merkle/mock/beacon_state.go's NewBeaconStateWith(slot, vals, 0, ExecutionAddress{}, fork)."""
    payload_header = {
        name: 0 if hasattr(kind, "bits") else b""
        for name, kind in layout.state.element_type("latest_execution_payload_header").fields
    }
    for name, kind in layout.state.element_type("latest_execution_payload_header").fields:
        if hasattr(kind, "length"):
            payload_header[name] = b"\x00" * kind.length
    value: dict[str, Any] = {
        "genesis_validators_root": ZERO,
        "slot": slot,
        "fork": {"previous_version": b"\x00" * 4, "current_version": b"\x00" * 4, "epoch": 0},
        "latest_block_header": {
            "slot": 0,
            "proposer_index": 0,
            "parent_root": ZERO,
            "state_root": ZERO,
            "body_root": ZERO,
        },
        "block_roots": [],
        "state_roots": [],
        "eth1_data": {"deposit_root": ZERO, "deposit_count": 0, "block_hash": ZERO},
        "eth1_deposit_index": 0,
        "latest_execution_payload_header": payload_header,
        "validators": validators,
        "balances": balances,
        "randao_mixes": [],
        "next_withdrawal_index": 0,
        "next_withdrawal_validator_index": 0,
        "slashings": [],
        "total_slashing": 0,
    }
    if layout.has_field("pending_partial_withdrawals"):
        value["pending_partial_withdrawals"] = []
    return layout.state.encode(value)


def header_branch(fields: list[bytes], index: int) -> list[bytes]:
    """Siblings of leaf `index` in a BeaconBlockHeader (8 leaves), leaf first."""
    level = fields + [ZERO] * (8 - len(fields))
    branch = []
    while len(level) > 1:
        branch.append(level[index ^ 1])
        level = [hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
        index //= 2
    return branch


def header_fields(slot: int, proposer: int, parent: bytes, state_root: bytes, body: bytes) -> list[bytes]:
    return [slot.to_bytes(32, "little"), proposer.to_bytes(32, "little"), parent, state_root, body]


def block_tree(state_tree: Subtree, fields: list[bytes]) -> Subtree:
    """The engine's tree of a block header whose state_root child is the state's tree."""
    leaves = np.frombuffer(b"".join(fields), dtype=np.uint8).reshape(-1, 32)
    state_index = BeaconBlockHeader.field_index["state_root"]
    return Subtree(
        ChunkTree.build(leaves, BeaconBlockHeader.depth), None, lambda i: state_tree if i == state_index else None
    )


def prove_in_block(
    layout: Layout, raw: bytes, gindex: int, slot: int, proposer: int, parent: bytes, body: bytes
) -> list[bytes]:
    """Our engine's branch of `gindex` (the layout's, anchored at the block root) in the block of a header
    (slot, proposer, parent, hash_tree_root(state), body), as beacon-kit's Prove*InBlock build it; checked
    against the block root with the hashlib verifier."""
    _, _, _, tree = merkleize_state(raw, layout)
    block = block_tree(tree, header_fields(slot, proposer, parent, tree.root, body))
    proof = block.branch(gindex)
    assert compute_root(block.node_at(gindex), proof, gindex) == block.root
    # the header's three siblings, computed independently
    assert proof[-3:] == header_branch(header_fields(slot, proposer, parent, tree.root, body), 3)
    return proof


# Each vector of node-api/handlers/proof/merkle/testdata/: (nodes, SHA-256 of the concatenated nodes).
VECTORS = {
    "one_validator_proposer_pubkey_proof_deneb": (
        51,
        "587dc6838202042165e1b8e2343dac553b9bd3c140bf5a3b4560b4c506352254",
    ),
    "many_validators_proposer_pubkey_proof_deneb": (
        51,
        "5076882b018c389763a2525c9ec5f00e47c81d2c598953825254afe8065d1f3f",
    ),
    "one_validator_proposer_pubkey_proof_electra": (
        52,
        "807b209d26921427db08254cb544cebcafc43f6913ad6cd4cc85ebbbf4adc09f",
    ),
    "many_validators_proposer_pubkey_proof_electra": (
        52,
        "cad1fa48b499cf42592769a4da62edcbb1331936ae50814c14e190c89bc18875",
    ),
    "one_validator_validator_credentials_proof": (
        52,
        "71681be944ed581e5a2985e77e2097a1b5332ced4ff2aaadc13f1ee2fb5f5e9b",
    ),
    "many_validators_validator_credentials_proof": (
        52,
        "7a7bbbc55040caa0abefafaed72d507435fbcf874226d99fd3da94e0309689f8",
    ),
    "one_validator_validator_balance_proof": (47, "cdaab6ec0a4bacb8743d18052e3715c8064c6765958a410cd794a3b5a4b6d7f8"),
    "many_validators_validator_balance_proof": (47, "68544278d12926331594e2c3239907f51aed92130c70655cc11ea518974bbcdb"),
    "one_validator_proposer_index_proof": (3, "027940961ce72d6bfb65def046b3cdd7db55bba9ef2b9e0a6aa78490bc25ba71"),
    "many_validators_proposer_index_proof": (3, "1361ef7ec6cc5cd37b3295a360a9f62c66bd513780c46a886e744bf8bd3750fd"),
    "empty_state_proof": (3, "d887d8e0b3e76efb000be0f97deb4d079bce9e62fae09b3619d609633fa54ad0"),
    "non_empty_state_proof": (3, "756901d42bc3ece5ea895259c8c579ed009a1430affc6bbba4663a14f89fa253"),
}


def digest(proof: list[bytes]) -> tuple[int, str]:
    return len(proof), hashlib.sha256(b"".join(proof)).hexdigest()


# (fork, validators, slot, index, parent, body, pubkey) from validator_pubkey_test.go, TestValidatorPubkeyProof.
PUBKEY_CASES = [
    (
        "beaconkit-deneb",
        1,
        4,
        0,
        root(1, 2, 3),
        root(3, 2, 1),
        bytes([9, 8, 7, 6, 5, 4, 3, 2, 1]),
        "one_validator_proposer_pubkey_proof_deneb",
    ),
    (
        "beaconkit-deneb",
        100,
        5,
        95,
        root(1, 2, 3, 4, 5, 6),
        root(3, 2, 1, 9, 8, 7),
        bytes([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2]),
        "many_validators_proposer_pubkey_proof_deneb",
    ),
    (
        "beaconkit-electra",
        1,
        4,
        0,
        root(1, 2, 3),
        root(3, 2, 1),
        bytes([9, 8, 7, 6, 5, 4, 3, 2, 1]),
        "one_validator_proposer_pubkey_proof_electra",
    ),
    (
        "beaconkit-electra",
        100,
        5,
        95,
        root(1, 2, 3, 4, 5, 6),
        root(3, 2, 1, 9, 8, 7),
        bytes([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2]),
        "many_validators_proposer_pubkey_proof_electra",
    ),
]


@pytest.mark.parametrize(
    ("layout_name", "count", "slot", "index", "parent", "body", "pubkey", "vector"),
    PUBKEY_CASES,
    ids=[c[7] for c in PUBKEY_CASES],
)
def test_proposer_pubkey_vectors(
    layout_name: str, count: int, slot: int, index: int, parent: bytes, body: bytes, pubkey: bytes, vector: str
) -> None:
    layout = get_layout(layout_name)
    validators = [empty_validator() for _ in range(count)]
    validators[index] = empty_validator(pubkey)
    raw = mock_state(layout, slot, validators, [])
    proof = prove_in_block(layout, raw, layout.pubkey_gindex(index), slot, index, parent, body)
    assert digest(proof) == VECTORS[vector]
    _, _, _, tree = merkleize_state(raw, layout)
    block = block_tree(tree, header_fields(slot, index, parent, tree.root, body))
    assert compute_root(pubkey_leaf(pubkey.ljust(48, b"\x00")), proof, layout.pubkey_gindex(index)) == block.root


CREDENTIALS_CASES = [
    (
        1,
        4,
        0,
        root(1, 2, 3),
        root(3, 2, 1),
        bytes([9, 8, 7, 6, 5, 4, 3, 2, 1]),
        "one_validator_validator_credentials_proof",
    ),
    (
        100,
        5,
        95,
        root(1, 2, 3, 4, 5, 6),
        root(3, 2, 1, 9, 8, 7),
        bytes([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2]),
        "many_validators_validator_credentials_proof",
    ),
]


@pytest.mark.parametrize(
    ("count", "slot", "index", "parent", "body", "pubkey", "vector"),
    CREDENTIALS_CASES,
    ids=[c[6] for c in CREDENTIALS_CASES],
)
def test_withdrawal_credentials_vectors(
    count: int, slot: int, index: int, parent: bytes, body: bytes, pubkey: bytes, vector: str
) -> None:
    """validator_credentials_test.go: NewCredentialsFromExecutionAddress(ExecutionAddress{1, 2, 3})."""
    layout = get_layout("beaconkit-electra")
    validators = [empty_validator() for _ in range(count)]
    credentials = b"\x01" + b"\x00" * 11 + bytes([1, 2, 3]).ljust(20, b"\x00")
    validators[index] = empty_validator(pubkey, credentials)
    raw = mock_state(layout, slot, validators, [])
    proof = prove_in_block(layout, raw, layout.withdrawal_credentials_gindex(index), slot, index, parent, body)
    assert digest(proof) == VECTORS[vector]


BALANCE_CASES = [
    (1, 4, 0, root(1, 2, 3), root(3, 2, 1), 10**18, "one_validator_validator_balance_proof"),
    (100, 5, 95, root(1, 2, 3, 4, 5, 6), root(3, 2, 1, 9, 8, 7), 2 * 10**18, "many_validators_validator_balance_proof"),
]


@pytest.mark.parametrize(
    ("count", "slot", "index", "parent", "body", "balance", "vector"), BALANCE_CASES, ids=[c[6] for c in BALANCE_CASES]
)
def test_balance_vectors(
    count: int, slot: int, index: int, parent: bytes, body: bytes, balance: int, vector: str
) -> None:
    """validator_balance_test.go, TestValidatorBalanceProof_Comparison."""
    layout = get_layout("beaconkit-electra")
    balances = [0] * count
    balances[index] = balance
    raw = mock_state(layout, slot, [empty_validator() for _ in range(count)], balances)
    proof = prove_in_block(layout, raw, layout.balance_gindex(index), slot, index, parent, body)
    assert digest(proof) == VECTORS[vector]


HEADER_CASES = [
    # proposer_index_test.go: the proposer index's branch in the header (gindex 9)
    (9, (69, 0, root(1, 2, 3), root(4, 5, 6), root(7, 8, 9)), "one_validator_proposer_index_proof"),
    (9, (420, 69, root(1, 2, 3), root(4, 5, 6), root(7, 8, 9)), "many_validators_proposer_index_proof"),
    # beacon_state_test.go: the state root's branch in the header (gindex 11)
    (11, (0, 0, ZERO, root(1, 2, 3, 4, 5, 6, 7, 8, 9), ZERO), "empty_state_proof"),
    (11, (4, 5, root(1, 2, 3, 4, 5, 6, 7, 8, 9), ZERO, root(9, 8, 7, 6, 5, 4, 3, 2, 1)), "non_empty_state_proof"),
]


@pytest.mark.parametrize(("gindex", "header", "vector"), HEADER_CASES, ids=[c[2] for c in HEADER_CASES])
def test_header_vectors(gindex: int, header: tuple[int, int, bytes, bytes, bytes], vector: str) -> None:
    leaves = [BeaconBlockHeader.fields[i][1].encode(v).ljust(32, b"\x00") for i, v in enumerate(header)]
    tree = ChunkTree.build(np.frombuffer(b"".join(leaves), dtype=np.uint8).reshape(-1, 32), BeaconBlockHeader.depth)
    assert digest(Subtree(tree).branch(gindex)) == VECTORS[vector]
    assert header_branch(header_fields(*header), gindex - 8) == Subtree(tree).branch(gindex)

"""Whole beacon states of every layout against py-ssz, and the proofs anchored at the block root."""

from __future__ import annotations

import numpy as np
import pytest

from oracle.ssz.errors import ProofError, SSZError
from oracle.ssz.layouts import LAYOUTS, BeaconBlockHeader, detect_layout, get_layout
from oracle.ssz.proofs import compute_root, verify_multiproof
from oracle.ssz.sample import build_state, random_validators, sample_state
from oracle.ssz.state import balance_from_leaf, load_state, pubkey_leaf
from oracle.ssz.types import MerkleCache, concat_gindices, gindex_of
from tests.reference import reference_decode, reference_root, to_sedes

pytestmark = pytest.mark.unit
ALL_LAYOUTS = sorted(LAYOUTS)

# DESIGN.md's table: validator n pubkey gindex = a + 8n, balance leaf = b + n//4, from the block root.
DESIGN_GINDICES = {
    "beaconkit-deneb": (3254554418216960, 102254581383168),
    "beaconkit-electra": (6350779162034176, 199011604627456),
    "ethereum-deneb": (6385963534123008, 200111116255232),
    "ethereum-electra": (12578413021757440, 393625162743808),
    "ethereum-fulu": (12578413021757440, 393625162743808),
}


@pytest.mark.parametrize("name", ALL_LAYOUTS)
def test_design_gindices_reproduced(name: str) -> None:
    layout = LAYOUTS[name]
    pubkey_base, balance_base = DESIGN_GINDICES[name]
    for n in (0, 1, 5, 1000, 2_000_001):
        assert layout.pubkey_gindex(n) == pubkey_base + 8 * n
        assert layout.withdrawal_credentials_gindex(n) == pubkey_base + 8 * n + 1
        assert layout.effective_balance_gindex(n) == pubkey_base + 8 * n + 2
        assert layout.balance_gindex(n) == balance_base + n // 4


def reference_block_root(layout_name: str, data: bytes, state_root: bytes) -> bytes:
    value = reference_decode(get_layout(layout_name).state, data)
    header_index = get_layout(layout_name).state.field_index["latest_block_header"]
    header = list(value[header_index])
    header[3] = state_root
    encoded = BeaconBlockHeader.encode(
        dict(
            zip(
                [f for f, _ in BeaconBlockHeader.fields],
                [bytes(h) if isinstance(h, bytes) else h for h in header],
                strict=True,
            )
        )
    )
    return reference_root(BeaconBlockHeader, encoded)


@pytest.mark.parametrize("name", ALL_LAYOUTS)
@pytest.mark.parametrize("count", [1, 5, 33])
def test_roots_and_proofs_match_py_ssz(name: str, count: int) -> None:
    data = sample_state(name, count, seed=count)
    state = load_state(data)
    assert state.layout.name == name
    state_root = reference_root(get_layout(name).state, data)
    assert state.state_root == state_root
    block_root = reference_block_root(name, data, state_root)
    assert state.block_root == block_root
    for index in {0, count // 2, count - 1}:
        proof = state.prove_validator(index)
        assert compute_root(pubkey_leaf(proof.pubkey), proof.pubkey_proof, proof.pubkey_gindex) == block_root
        assert (
            compute_root(
                proof.withdrawal_credentials,
                proof.withdrawal_credentials_proof,
                proof.withdrawal_credentials_gindex,
            )
            == block_root
        )
        assert compute_root(proof.balance_leaf, proof.balance_proof, proof.balance_gindex) == block_root
        assert balance_from_leaf(proof.balance_leaf, index) == proof.balance


@pytest.mark.parametrize("name", ALL_LAYOUTS)
def test_every_field_node_matches_py_ssz(name: str) -> None:
    import ssz

    layout = get_layout(name)
    data = sample_state(name, 9, seed=11)
    state = load_state(data)
    value = reference_decode(layout.state, data)
    for position, (field, ftype) in enumerate(layout.state.fields):
        gindex = concat_gindices(11, gindex_of(layout.state, [field])[0])
        expected = bytes(ssz.get_hash_tree_root(value[position], to_sedes(ftype)))
        assert state.node_at(gindex) == expected, field


@pytest.mark.parametrize("name", ALL_LAYOUTS)
def test_multiproof_of_a_validator_set(name: str) -> None:
    state = load_state(sample_state(name, 20, seed=2))
    layout = state.layout
    gindices = [layout.pubkey_gindex(i) for i in (1, 7, 19)] + [layout.balance_gindex(i) for i in (1, 7, 19)]
    leaves, proof = state.multiproof(gindices)
    assert verify_multiproof(leaves, proof, gindices, state.block_root)
    assert not verify_multiproof(leaves[::-1], proof, gindices, state.block_root)


@pytest.mark.parametrize("name", ALL_LAYOUTS)
def test_layout_detection(name: str) -> None:
    data = sample_state(name, 3)
    assert detect_layout(np.frombuffer(data, dtype=np.uint8)).name == name


def test_cache_rehashes_only_changes_and_agrees_with_cold() -> None:
    rng = np.random.default_rng(5)
    validators = random_validators(3000, rng)
    cache = MerkleCache()
    first = build_state("ethereum-electra", validators, seed=1)
    assert load_state(first, cache=cache).state_root == load_state(first).state_root
    # New balances everywhere, one validator exits, two validators join.
    exits = validators.exit_epochs.copy()
    exits[17] = 12345
    grown = random_validators(3002, np.random.default_rng(6))
    changed = type(validators)(
        pubkeys=np.concatenate([validators.pubkeys, grown.pubkeys[3000:]]),
        withdrawal_credentials=np.concatenate([validators.withdrawal_credentials, grown.withdrawal_credentials[3000:]]),
        effective_balances=np.concatenate([validators.effective_balances, grown.effective_balances[3000:]]),
        slashed=np.zeros(3002, dtype=bool),
        activation_eligibility_epochs=np.zeros(3002, dtype=np.uint64),
        activation_epochs=np.zeros(3002, dtype=np.uint64),
        exit_epochs=np.concatenate([exits, grown.exit_epochs[3000:]]),
        withdrawable_epochs=np.concatenate([validators.withdrawable_epochs, grown.withdrawable_epochs[3000:]]),
    )
    second = build_state("ethereum-electra", changed, seed=2)
    warm = load_state(second, cache=cache)
    cold = load_state(second)
    assert warm.state_root == cold.state_root == reference_root(get_layout("ethereum-electra").state, second)
    assert cache.rehashed["BeaconState.validators"] == 3  # the exited validator and the two new ones
    assert cache.hits["BeaconState.validators"] == 2999
    assert warm.prove_validator(17) == cold.prove_validator(17)


def test_index_out_of_range_is_clear() -> None:
    state = load_state(sample_state("beaconkit-electra", 4))
    with pytest.raises(ProofError, match="validator index 4 is out of range: the state has 4 validators"):
        state.prove_validator(4)


def test_state_advanced_past_its_block_is_refused() -> None:
    layout = get_layout("beaconkit-electra")
    data = bytearray(sample_state(layout.name, 4))
    header_start = layout.state.spans(np.frombuffer(bytes(data), dtype=np.uint8), 0, len(data), "s")[
        layout.state.field_index["latest_block_header"]
    ][0]
    data[header_start + 48] = 1
    with pytest.raises(SSZError, match="state_root is already filled in") as info:
        load_state(bytes(data))
    assert info.value.offset == header_start + 48


def test_wrong_layout_is_a_clear_error() -> None:
    data = sample_state("beaconkit-electra", 4)
    with pytest.raises(SSZError, match="first offset is 304, expected the fixed-part size 300"):
        load_state(data, "beaconkit-deneb")
    with pytest.raises(SSZError, match="not a beacon state of any known layout"):
        load_state(b"\x00" * 100)


def test_cache_is_not_fooled_by_a_reused_buffer() -> None:
    # The caller may rewrite the same buffer for the next state (a re-read file, a reused bytearray).
    data = bytearray(build_state("ethereum-electra", random_validators(5000, np.random.default_rng(8)), seed=3))
    cache = MerkleCache()
    first = load_state(data, cache=cache)
    start, end = first.spans["balances"]
    balances = np.frombuffer(data, dtype="<u8", count=(end - start) // 8, offset=start).copy()
    data[start:end] = (balances + 7).tobytes()
    warm = load_state(data, cache=cache)
    assert warm.state_root == load_state(bytes(data)).state_root
    assert warm.prove_validator(4321).balance == int(balances[4321]) + 7


def test_cache_refreshes_its_records_in_place_and_keeps_earlier_trees() -> None:
    # Cycles of the same registry in one reused buffer, a few records changing each time; and an earlier
    # state (its own bytes) must stay provable: the cache never rewrites a tree it has handed out.
    rng = np.random.default_rng(21)
    data = bytearray(build_state("ethereum-electra", random_validators(3000, rng), seed=4))
    cache = MerkleCache()
    kept = load_state(bytes(data), cache=cache)
    start, _ = kept.spans["validators"]
    size = 121
    for cycle in range(3):
        for index in rng.choice(3000, size=5, replace=False):
            offset = start + int(index) * size + 48 + 32  # a validator's effective_balance
            data[offset : offset + 8] = int(rng.integers(1, 2**40)).to_bytes(8, "little")
        warm = load_state(data, cache=cache)
        assert warm.state_root == load_state(bytes(data)).state_root, cycle
        assert cache.rehashed["BeaconState.validators"] <= 5
    assert kept.prove_validator(2999).index == 2999  # still self-checks against its own block root

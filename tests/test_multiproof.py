"""SSZ multiproofs (consensus-specs ssz/merkle-proofs.md): the algorithms on random trees and index sets, the
pool's multiproof document built from a state, its offline checks, its decoder under bad input, and the CLI.
The independent reference (Lodestar's persistent-merkle-tree) is tests/test_multiproof_reference.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.cli import EXIT_BAD_INPUT, EXIT_FAILED, main
from oracle.ssz.errors import ProofError
from oracle.ssz.layouts import LAYOUTS, get_layout
from oracle.ssz.merkle import ChunkTree, Subtree
from oracle.ssz.multiproof import (
    build_multiproof,
    calculate_multi_merkle_nodes,
    calculate_multi_merkle_root,
    get_branch_indices,
    get_helper_indices,
    get_path_indices,
    verify_merkle_multiproof,
)
from oracle.ssz.multiproof_document import (
    DOCUMENT_TYPE,
    StateMultiproof,
    balance_chunk_gindices,
    pool_gindices,
    proven_total,
)
from oracle.ssz.multiproof_verify import verify_multiproof_document
from oracle.ssz.sample import sample_state
from oracle.ssz.state import BeaconState, load_state
from oracle.ssz.state_multiproof import build_state_multiproof, prove_pool

pytestmark = pytest.mark.unit


# --- the spec's text, verbatim but for types: the reference the engine's faster or stricter code is held to ---


def spec_get_helper_indices(indices: Sequence[int]) -> list[int]:
    all_helper_indices: set[int] = set()
    all_path_indices: set[int] = set()
    for index in indices:
        all_helper_indices = all_helper_indices.union(set(get_branch_indices(index)))
        all_path_indices = all_path_indices.union(set(get_path_indices(index)))
    return sorted(all_helper_indices.difference(all_path_indices), reverse=True)


def spec_calculate_multi_merkle_root(leaves: Sequence[bytes], proof: Sequence[bytes], indices: Sequence[int]) -> bytes:
    assert len(leaves) == len(indices)
    helper_indices = spec_get_helper_indices(indices)
    assert len(proof) == len(helper_indices)
    objects = {
        **{index: node for index, node in zip(indices, leaves, strict=True)},
        **{index: node for index, node in zip(helper_indices, proof, strict=True)},
    }
    keys = sorted(objects.keys(), reverse=True)
    pos = 0
    while pos < len(keys):
        k = keys[pos]
        if k in objects and k ^ 1 in objects and k // 2 not in objects:
            objects[k // 2] = hashlib.sha256(objects[(k | 1) ^ 1] + objects[k | 1]).digest()
            keys.append(k // 2)
        pos += 1
    return objects[1]


# --- random trees and index sets ---


def antichain(candidates: Sequence[int]) -> list[int]:
    """The candidates none of which lies below another (the shallower one is kept), in the given order."""
    chosen = set(candidates)
    kept = []
    for g in candidates:
        ancestor = g >> 1
        while ancestor >= 1 and ancestor not in chosen:
            ancestor >>= 1
        if ancestor < 1:
            kept.append(g)
    return list(dict.fromkeys(kept))


@st.composite
def trees_and_indices(draw: st.DrawFn) -> tuple[Subtree, list[int]]:
    """A random tree (partly filled, so zero subtrees appear; sometimes a list with its length mixed in) and
    a random, unordered set of its generalized indices at any depth."""
    depth = draw(st.integers(min_value=0, max_value=6))
    count = draw(st.integers(min_value=0, max_value=1 << depth))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    chunks = np.random.default_rng(seed).integers(0, 256, size=(count, 32), dtype=np.uint8)
    length = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=2**40)))
    tree = Subtree(ChunkTree.build(chunks, depth), length)
    top = depth + (1 if length is not None else 0)
    limit = 1 << (top + 1)
    candidates = st.integers(min_value=1, max_value=limit - 1)
    if length is not None:  # nothing lies below the length chunk (3): keep 1, 2, 3 and what lies below 2
        candidates = candidates.filter(lambda g: g <= 3 or g >> (g.bit_length() - 2) == 2)
    picked = draw(st.lists(candidates, min_size=1, max_size=12))
    return tree, antichain(picked)


def nodes_of(tree: Subtree, gindices: Sequence[int]) -> list[bytes]:
    return [tree.node_at(g) for g in gindices]


def flip(node: bytes, bit: int = 0) -> bytes:
    return bytes([node[0] ^ (1 << (bit % 8))]) + node[1:]


@given(trees_and_indices())
def test_helper_indices_are_the_specs(case: tuple[Subtree, list[int]]) -> None:
    _, gindices = case
    assert get_helper_indices(gindices) == spec_get_helper_indices(gindices)


@given(trees_and_indices())
def test_a_multiproof_verifies_as_the_spec_computes_it(case: tuple[Subtree, list[int]]) -> None:
    tree, gindices = case
    leaves, witnesses = build_multiproof(tree.node_at, gindices)
    assert witnesses == nodes_of(tree, spec_get_helper_indices(gindices))
    assert calculate_multi_merkle_root(leaves, witnesses, gindices) == tree.root
    assert spec_calculate_multi_merkle_root(leaves, witnesses, gindices) == tree.root
    assert verify_merkle_multiproof(leaves, witnesses, gindices, tree.root)
    assert not verify_merkle_multiproof(leaves, witnesses, gindices, flip(tree.root))
    # Every node the calculation knows is the tree's own node at that generalized index.
    for gindex, node in calculate_multi_merkle_nodes(leaves, witnesses, gindices).items():
        assert tree.node_at(gindex) == node


@given(trees_and_indices(), st.data())
def test_a_tampered_leaf_or_witness_fails(case: tuple[Subtree, list[int]], data: st.DataObject) -> None:
    tree, gindices = case
    leaves, witnesses = build_multiproof(tree.node_at, gindices)
    bit = data.draw(st.integers(0, 255))
    at = data.draw(st.integers(0, len(leaves) - 1))
    forged = [*leaves[:at], flip(leaves[at], bit), *leaves[at + 1 :]]
    assert not verify_merkle_multiproof(forged, witnesses, gindices, tree.root)
    if witnesses:
        at = data.draw(st.integers(0, len(witnesses) - 1))
        forged = [*witnesses[:at], flip(witnesses[at], bit), *witnesses[at + 1 :]]
        assert not verify_merkle_multiproof(leaves, forged, gindices, tree.root)
        assert not verify_merkle_multiproof(leaves, witnesses[:-1], gindices, tree.root)
    assert not verify_merkle_multiproof(leaves, [*witnesses, tree.root], gindices, tree.root)
    assert not verify_merkle_multiproof(leaves[:-1], witnesses, gindices, tree.root)


@given(trees_and_indices(), st.data())
def test_a_tampered_gindex_proves_nothing_false(case: tuple[Subtree, list[int]], data: st.DataObject) -> None:
    """Moving a leaf to another generalized index (keeping the rest of the proof) verifies only if the tree
    really holds that leaf there (zero subtrees repeat nodes); a false claim never verifies."""
    tree, gindices = case
    leaves, witnesses = build_multiproof(tree.node_at, gindices)
    at = data.draw(st.integers(0, len(gindices) - 1))
    moved = data.draw(st.integers(1, 4 * max(gindices)))
    tampered = [*gindices[:at], moved, *gindices[at + 1 :]]
    if moved == gindices[at] or antichain(tampered) != tampered:
        assert moved == gindices[at] or not verify_merkle_multiproof(leaves, witnesses, tampered, tree.root)
        return
    if verify_merkle_multiproof(leaves, witnesses, tampered, tree.root):
        assert tree.node_at(moved) == leaves[at]


@given(trees_and_indices(), st.data())
def test_a_duplicate_or_nested_gindex_is_refused(case: tuple[Subtree, list[int]], data: st.DataObject) -> None:
    tree, gindices = case
    leaves, witnesses = build_multiproof(tree.node_at, gindices)
    at = data.draw(st.integers(0, len(gindices) - 1))
    # Even a true duplicate: a listed index must mean one checked leaf.
    with pytest.raises(ProofError, match="listed twice"):
        calculate_multi_merkle_root([*leaves, leaves[at]], witnesses, [*gindices, gindices[at]])
    assert not verify_merkle_multiproof([*leaves, leaves[at]], witnesses, [*gindices, gindices[at]], tree.root)
    if gindices[at] > 1:
        parent = gindices[at] >> 1
        nested = [*gindices, parent]
        helpers = get_helper_indices(nested)
        with pytest.raises(ProofError, match="lies below"):
            calculate_multi_merkle_root([*leaves, tree.node_at(parent)], nodes_of(tree, helpers), nested)


def test_the_spec_text_accepts_a_forged_duplicate_and_a_forged_nested_leaf() -> None:
    """Why the engine is stricter than the spec: its dict keeps the last of two leaves at one index, and it
    never hashes up from a leaf whose ancestor is listed too; either way a forged leaf passes."""
    chunks = np.arange(8 * 32, dtype=np.uint8).reshape(8, 32)
    tree = Subtree(ChunkTree.build(chunks, 3))
    forged = b"\xff" * 32
    witnesses = nodes_of(tree, spec_get_helper_indices([9]))
    assert spec_calculate_multi_merkle_root([forged, tree.node_at(9)], witnesses, [9, 9]) == tree.root
    assert not verify_merkle_multiproof([forged, tree.node_at(9)], witnesses, [9, 9], tree.root)
    witnesses = nodes_of(tree, spec_get_helper_indices([9, 4]))
    assert spec_calculate_multi_merkle_root([forged, tree.node_at(4)], witnesses, [9, 4]) == tree.root
    assert not verify_merkle_multiproof([forged, tree.node_at(4)], witnesses, [9, 4], tree.root)


def test_a_single_item_multiproof_is_the_branch() -> None:
    chunks = np.arange(8 * 32, dtype=np.uint8).reshape(8, 32)
    tree = Subtree(ChunkTree.build(chunks, 3))
    for gindex in range(1, 16):
        _, witnesses = build_multiproof(tree.node_at, [gindex])
        assert witnesses == tree.branch(gindex)


@pytest.mark.parametrize(
    ("leaves", "witnesses", "gindices", "message"),
    [
        ([], [], [], "at least one"),
        ([b"\x00" * 32], [], [0], "not a positive integer"),
        ([b"\x00" * 32], [], [True], "not a positive integer"),
        ([b"\x00" * 31], [b"\x00" * 32], [2], r"leaves\[0\] is 31 bytes"),
        ([b"\x00" * 32], ["00" * 32], [2], r"witnesses\[0\] is str bytes"),
        ([b"\x00" * 32], [], [2], "0 witnesses, the generalized indices need 1"),
        ([b"\x00" * 32] * 2, [b"\x00" * 32], [2], "2 leaves for 1"),
    ],
)
def test_malformed_multiproofs_are_refused_in_one_line(
    leaves: list[Any], witnesses: list[Any], gindices: list[Any], message: str
) -> None:
    with pytest.raises(ProofError, match=message) as caught:
        calculate_multi_merkle_root(leaves, witnesses, gindices)
    assert "\n" not in str(caught.value)
    assert not verify_merkle_multiproof(leaves, witnesses, gindices, b"\x00" * 32)


# --- the vectorized paths (big pools) against the spec's text and the one-by-one walk ---


def _one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch every numpy fast path off, for the walk it must agree with."""
    import oracle.ssz.multiproof as multiproof
    import oracle.ssz.state_multiproof as state_multiproof

    monkeypatch.setattr(multiproof, "VECTOR_MIN", 1 << 62)
    monkeypatch.setattr(state_multiproof, "VECTOR_MIN", 1 << 62)
    monkeypatch.setattr(state_multiproof, "_BULK_MIN", 1 << 62)


@settings(max_examples=50, deadline=None)  # the spec's text is slow on big sets: 64 s at 100 x 3,000, now ~5 s
@given(
    st.integers(min_value=1, max_value=40),
    st.integers(min_value=1, max_value=800),  # above VECTOR_MIN (256), so the numpy path is held to the spec
    st.integers(min_value=0, max_value=2**32 - 1),
    st.booleans(),
)
def test_vectorized_helper_indices_and_checks_are_the_specs(depth: int, count: int, seed: int, nested: bool) -> None:
    import oracle.ssz.multiproof as multiproof

    rng = np.random.default_rng(seed)
    picked = [int(g) for g in rng.integers(1, 1 << (depth + 1), size=count)]
    gindices = picked if nested else antichain(picked)  # nested: duplicates and ancestors too
    array = np.array(gindices, dtype=np.int64)
    assert multiproof.helper_indices_array(array).tolist() == spec_get_helper_indices(gindices)
    if len(gindices) >= multiproof.VECTOR_MIN:
        assert get_helper_indices(gindices) == spec_get_helper_indices(gindices)
    listed = set(gindices)

    def below_another(g: int) -> bool:
        ancestor = g >> 1
        while ancestor and ancestor not in listed:
            ancestor >>= 1
        return ancestor > 0

    walk_ok = len(listed) == len(gindices) and not any(below_another(g) for g in gindices)
    assert multiproof._indices_are_valid(array) == walk_ok


def test_a_big_invalid_index_set_is_named_as_the_walk_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import oracle.ssz.multiproof as multiproof

    base = list(range(1 << 12, (1 << 12) + 600))
    cases = [[*base, base[17]], [*base, base[40] >> 3], [*base[:300], 0, *base[300:]], [*base, True]]
    messages = []
    for case in cases:
        with pytest.raises(ProofError) as fast:
            multiproof.check_indices(case)
        messages.append(str(fast.value))
    _one_by_one(monkeypatch)
    for case, message in zip(cases, messages, strict=True):
        with pytest.raises(ProofError) as slow:
            multiproof.check_indices(case)
        assert str(slow.value) == message


@pytest.mark.parametrize("placement", ["spread", "contiguous"])
def test_a_big_pools_proof_is_the_one_by_one_proof(placement: str, monkeypatch: pytest.MonkeyPatch) -> None:
    state = load_state(sample_state("ethereum-electra", 6000, seed=9))
    rng = np.random.default_rng(4)
    if placement == "spread":
        indices = sorted(int(i) for i in rng.choice(6000, size=2500, replace=False))
    else:
        indices = list(range(1234, 1234 + 2500))
    fast = [prove_pool(state, indices), prove_pool(state, indices[:700], with_pubkeys=True)]
    bare = build_state_multiproof(state, [*balance_chunk_gindices(state.layout, indices), 8])
    _one_by_one(monkeypatch)
    assert fast == [prove_pool(state, indices), prove_pool(state, indices[:700], with_pubkeys=True)]
    assert bare == build_state_multiproof(state, [*balance_chunk_gindices(state.layout, indices), 8])
    assert all(c.ok for c in verify_multiproof_document(fast[0].to_json()))


# --- a pool's multiproof from a state ---


@pytest.fixture(scope="module")
def electra() -> BeaconState:
    return load_state(sample_state("ethereum-electra", 40, seed=3))


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_a_pools_multiproof_verifies_offline(name: str) -> None:
    state = load_state(sample_state(name, 23, seed=5))
    indices = [22, 0, 5, 6, 7, 13]
    for with_pubkeys in (False, True):
        proof = prove_pool(state, indices, with_pubkeys=with_pubkeys)
        assert proof.block_root == state.block_root and proof.state_root == state.state_root
        assert proof.total_balance == sum(state.balance(i) for i in indices)
        assert list(proof.gindices) == sorted(proof.gindices, reverse=True)
        assert len(proof.gindices) == 4 + (len(indices) if with_pubkeys else 0)  # chunks 5, 0, 1, 1, 1, 3
        doc = json.loads(json.dumps(proof.to_json()))
        assert StateMultiproof.from_json(doc) == proof
        checks = verify_multiproof_document(doc)
        assert all(c.ok for c in checks), [c for c in checks if not c.ok]
        assert {c.subject for c in checks} >= {"multiproof", "state_root", "gindices", "total_balance"}


def test_balance_chunks_are_deduplicated_four_to_a_chunk() -> None:
    layout = get_layout("ethereum-electra")
    gindices = balance_chunk_gindices(layout, [0, 1, 2, 3, 4, 9, 11])
    assert gindices == [layout.balance_gindex(8), layout.balance_gindex(4), layout.balance_gindex(0)]
    assert layout.balance_gindex(9) == layout.balance_gindex(8)
    with pytest.raises(ProofError, match="validator index 4 is listed twice"):
        pool_gindices(layout, [4, 1, 4])
    with pytest.raises(ProofError, match="not an index of the validator registry"):
        pool_gindices(layout, [-1])


def test_the_total_is_over_exactly_the_given_indices(electra: BeaconState) -> None:
    proof = prove_pool(electra, [4, 5, 6])
    layout = electra.layout
    assert proven_total(layout, proof, [4, 6]) == electra.balance(4) + electra.balance(6)
    assert proven_total(layout, proof, [7]) == electra.balance(7)  # chunk 4..7 is proven
    with pytest.raises(ProofError, match="listed twice"):
        proven_total(layout, proof, [4, 4])
    with pytest.raises(ProofError, match="is not proven"):
        proven_total(layout, proof, [8])


def test_a_pool_outside_the_registry_is_refused(electra: BeaconState) -> None:
    with pytest.raises(ProofError, match="out of range: the state has 40 validators"):
        prove_pool(electra, [3, 40])
    with pytest.raises(ProofError, match="at least one"):
        prove_pool(electra, [])


def tampered(doc: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    return {**doc, key: value}


def failed_subjects(doc: dict[str, Any]) -> set[str]:
    return {c.subject for c in verify_multiproof_document(doc) if not c.ok}


def test_verify_names_what_a_tampered_document_gets_wrong(electra: BeaconState) -> None:
    doc = prove_pool(electra, [1, 2, 9, 30], with_pubkeys=True).to_json()
    assert failed_subjects(doc) == set()
    assert failed_subjects(tampered(doc, "total_balance", str(int(doc["total_balance"]) + 1))) == {"total_balance"}
    leaves = list(doc["leaves"])
    leaves[0] = "0x" + flip(bytes.fromhex(leaves[0][2:])).hex()
    assert "multiproof" in failed_subjects(tampered(doc, "leaves", leaves))
    witnesses = list(doc["witnesses"])
    witnesses[-1] = "0x" + flip(bytes.fromhex(witnesses[-1][2:])).hex()
    assert failed_subjects(tampered(doc, "witnesses", witnesses)) == {"multiproof"}  # the header's body root
    assert failed_subjects(tampered(doc, "block_root", "0x" + "11" * 32)) == {"multiproof"}
    assert failed_subjects(tampered(doc, "state_root", "0x" + "11" * 32)) == {"state_root"}
    # A validator dropped from the claim, or one whose chunk is not proven: not the gindices it needs.
    dropped = {**doc, "validator_indices": ["1", "2", "9"], "pubkeys": doc["pubkeys"][:3]}
    assert failed_subjects(dropped) == {"gindices"}
    pubkeys = list(doc["pubkeys"])
    pubkeys[1] = "0x" + "22" * 48
    assert failed_subjects(tampered(doc, "pubkeys", pubkeys)) == {"validator 2 pubkey"}
    # A generalized index moved: the proof no longer reaches the block root or no longer fits the claim.
    gindices = list(doc["gindices"])
    gindices[-1] = str(int(gindices[-1]) - 1)
    assert {"multiproof", "gindices"} & failed_subjects(tampered(doc, "gindices", gindices))


def test_an_index_past_the_end_of_the_balances_is_refused() -> None:
    """Validators 4 and 5 of six share balance chunk 1 with the nonexistent 6 and 7, whose bytes are zero: a
    claim that counts 7 (at zero gwei) fits the gindices and the total, but not the proven list length."""
    state = load_state(sample_state("ethereum-deneb", 6, seed=8))
    doc = prove_pool(state, [5]).to_json()
    forged = tampered(doc, "validator_indices", ["5", "7"])
    assert failed_subjects(forged) == {"validator 7 balance"}


def test_a_bare_multiproof_checks_its_roots(electra: BeaconState) -> None:
    layout = electra.layout
    gindices = [layout.gindex("slot"), layout.withdrawal_credentials_gindex(3), layout.gindex("validators", "__len__")]
    proof = build_state_multiproof(electra, gindices)
    assert proof.leaves[0] == electra.node_at(max(gindices))
    checks = verify_multiproof_document(proof.to_json())
    assert [(c.subject, c.ok) for c in checks] == [("multiproof", True), ("state_root", True)]
    header_only = build_state_multiproof(electra, [8])  # the header's slot: says nothing of the state
    assert [(c.subject, c.ok) for c in verify_multiproof_document(header_only.to_json())] == [
        ("multiproof", True),
        ("state_root", False),
    ]


def test_building_merkleizes_no_list_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The proof is read from the state's cached layers: the only hashing is the pool's own validators' small
    trees (four pairs each at most), never a list of the state's 3,000 validators or anything of that size."""
    import oracle.ssz.hashing as hashing
    import oracle.ssz.merkle as merkle
    import oracle.ssz.state_multiproof as state_multiproof

    state = load_state(sample_state("ethereum-electra", 3000, seed=4))
    pool = list(range(5, 3000, 300))
    hashed: list[int] = []

    def counting(pairs: Any, out: Any = None) -> Any:
        hashed.append(np.asarray(pairs).size // 64)
        return real(pairs, out)

    real = hashing.hash_pairs
    monkeypatch.setattr(merkle, "hash_pairs", counting)
    monkeypatch.setattr(state_multiproof, "hash_pairs", counting)
    proof = prove_pool(state, pool, with_pubkeys=True)
    assert all(c.ok for c in verify_multiproof_document(proof.to_json()))
    assert hashed and max(hashed) <= 4 * len(pool)


# --- the document decoder under bad input ---

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
DOC_KEYS = [
    "type",
    "layout",
    "slot",
    "state_root",
    "block_root",
    "validator_indices",
    "pubkeys",
    "total_balance",
    "gindices",
    "leaves",
    "witnesses",
]


@pytest.fixture(scope="module")
def small_doc() -> dict[str, Any]:
    state = load_state(sample_state("ethereum-deneb", 9, seed=1))
    return prove_pool(state, [2, 7], with_pubkeys=True).to_json()


def assert_refused_in_one_line(doc: Any) -> None:
    try:
        verify_multiproof_document(doc)
    except ProofError as exc:
        assert "\n" not in str(exc) and str(exc)


@given(json_values)
def test_the_decoder_refuses_any_json_in_one_line(value: Any) -> None:
    assert_refused_in_one_line(value)
    assert_refused_in_one_line({"type": DOCUMENT_TYPE, "layout": "ethereum-deneb", "gindices": value})


@given(st.sampled_from(DOC_KEYS), json_values, st.data())
def test_the_decoder_refuses_a_mangled_document_in_one_line(
    small_doc: dict[str, Any], key: str, value: Any, data: st.DataObject
) -> None:
    assert_refused_in_one_line(tampered(small_doc, key, value))
    entries = small_doc[key]
    if isinstance(entries, list) and entries:
        at = data.draw(st.integers(0, len(entries) - 1))
        assert_refused_in_one_line(tampered(small_doc, key, [*entries[:at], value, *entries[at + 1 :]]))
    assert_refused_in_one_line({k: v for k, v in small_doc.items() if k != key})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("type", "multiproof", "type: expected 'pool-oracle/multiproof'"),
        ("layout", "ethereum-capella", "layout: unknown layout 'ethereum-capella'"),
        ("gindices", ["5", "5"], r"gindices\[1\]: 5 does not follow 5 in strictly decreasing order"),
        ("gindices", ["0x5"], r"gindices\[0\]: expected a decimal string"),
        ("gindices", ["9" * 100], r"gindices\[0\]: a number of 100 digits is too large"),
        ("leaves", ["0x00"], r"leaves\[0\]: expected 32 bytes of hex, got 2 hex digits"),
        ("leaves", ["0x" + "00" * 32], "leaves: 1 leaves for 4 gindices"),
        ("witnesses", ["0x" + "zz" * 32], r"witnesses\[0\]: not hex"),
        ("witnesses", "0x", "witnesses: expected a list"),
        ("validator_indices", ["2", "2"], "validator_indices: validator index 2 is listed twice"),
        ("pubkeys", ["0x" + "00" * 32], r"pubkeys\[0\]: expected 48 bytes of hex, got 64 hex digits"),
        ("total_balance", -1, "total_balance: expected a decimal string, got -1"),
        ("state_root", None, "state_root: expected a 0x-prefixed hex string, got None"),
    ],
)
def test_the_decoder_says_what_is_wrong_and_where(
    small_doc: dict[str, Any], key: str, value: Any, message: str
) -> None:
    with pytest.raises(ProofError, match=message):
        StateMultiproof.from_json(tampered(small_doc, key, value))


# --- the command line ---


@pytest.fixture
def electra_file(tmp_path: Path) -> Path:
    path = tmp_path / "state.ssz"
    path.write_bytes(sample_state("ethereum-electra", 30, seed=6))
    return path


def test_prove_multi_then_verify(electra_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "multi.json"
    argv = ["prove", "--state", str(electra_file), "--multi", "--index", "3", "--index", "17", "--output", str(out)]
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    state = load_state(electra_file.read_bytes())
    assert doc["type"] == DOCUMENT_TYPE and doc["validator_indices"] == ["3", "17"] and doc["pubkeys"] == []
    assert doc["total_balance"] == str(state.balance(3) + state.balance(17))
    assert doc["block_root"] == "0x" + state.block_root.hex()
    assert main(["verify", "--proof", str(out)]) == 0
    assert "0 failed" in capsys.readouterr().out
    assert main([*argv[:-2], "--with-pubkeys", "--output", str(out)]) == 0
    assert len(json.loads(out.read_text())["pubkeys"]) == 2
    assert main(["verify", "--proof", str(out), "-v"]) == 0
    assert "ok   validator 17 pubkey" in capsys.readouterr().out


def test_verify_fails_a_forged_total(electra_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "multi.json"
    main(["prove", "--state", str(electra_file), "--multi", "--index", "3", "--output", str(out)])
    doc = json.loads(out.read_text())
    out.write_text(json.dumps({**doc, "total_balance": str(int(doc["total_balance"]) + 10**9)}))
    assert main(["verify", "--proof", str(out)]) == EXIT_FAILED
    printed = capsys.readouterr().out
    assert "FAIL total_balance: the proven balances of the 1 validators sum to" in printed
    assert "1 failed" in printed


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--index", "3", "--index", "3"], "--index: validator index 3 is listed twice"),
        (["--index", "30"], "validator index 30 is out of range: the state has 30 validators"),
    ],
)
def test_prove_multi_refuses_bad_indices_in_one_line(
    electra_file: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prove", "--state", str(electra_file), "--multi", *extra]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_with_pubkeys_needs_multi(electra_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prove", "--state", str(electra_file), "--with-pubkeys", "--index", "1"]) == EXIT_BAD_INPUT
    assert "--with-pubkeys goes with --multi" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"type": DOCUMENT_TYPE, "layout": "ethereum-electra", "gindices": ["1", "x"]},
            "gindices[1]: expected a decimal",
        ),
        ({"type": "multiproof", "layout": "ethereum-electra"}, "type: expected 'pool-oracle/multiproof', got 'multi"),
    ],
)
def test_verify_refuses_a_malformed_multiproof(
    doc: dict[str, Any], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bad.json"
    out.write_text(json.dumps(doc))
    assert main(["verify", "--proof", str(out)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_the_document_round_trips(electra: BeaconState) -> None:
    proof = prove_pool(electra, [0, 39], with_pubkeys=True)
    assert StateMultiproof.from_json(proof.to_json()) == proof
    assert StateMultiproof.from_json(replace(proof, total_balance=5).to_json()).total_balance == 5

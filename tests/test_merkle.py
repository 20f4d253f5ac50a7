from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracle.ssz.errors import SSZError
from oracle.ssz.merkle import ChunkTree, Subtree
from oracle.ssz.proofs import (
    compute_multiproof_root,
    compute_root,
    helper_indices,
    verify_branch,
    verify_multiproof,
)

pytestmark = pytest.mark.unit


def naive_root(chunks: list[bytes], depth: int) -> bytes:
    layer = list(chunks) + [b"\x00" * 32] * ((1 << depth) - len(chunks))
    while len(layer) > 1:
        layer = [hashlib.sha256(layer[i] + layer[i + 1]).digest() for i in range(0, len(layer), 2)]
    return layer[0]


chunk_lists = st.integers(min_value=0, max_value=6).flatmap(
    lambda depth: st.tuples(st.just(depth), st.lists(st.binary(min_size=32, max_size=32), max_size=1 << depth))
)


def as_array(chunks: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(chunks), dtype=np.uint8).reshape(-1, 32)


@given(chunk_lists)
def test_root_matches_naive(case: tuple[int, list[bytes]]) -> None:
    depth, chunks = case
    assert ChunkTree.build(as_array(chunks), depth).root == naive_root(chunks, depth)


@given(chunk_lists, st.data())
def test_every_leaf_branch_verifies(case: tuple[int, list[bytes]], data: st.DataObject) -> None:
    depth, chunks = case
    tree = Subtree(ChunkTree.build(as_array(chunks), depth))
    index = data.draw(st.integers(min_value=0, max_value=(1 << depth) - 1))
    gindex = (1 << depth) + index
    leaf = tree.node_at(gindex)
    assert leaf == (chunks[index] if index < len(chunks) else b"\x00" * 32)
    branch = tree.branch(gindex)
    assert compute_root(leaf, branch, gindex) == tree.root
    # Any single flipped bit in the branch must break it.
    if branch:
        k = data.draw(st.integers(min_value=0, max_value=len(branch) - 1))
        tampered = list(branch)
        tampered[k] = bytes([tampered[k][0] ^ 1]) + tampered[k][1:]
        assert not verify_branch(leaf, tampered, gindex, tree.root)


@given(chunk_lists, st.data())
def test_incremental_update_equals_rebuild(case: tuple[int, list[bytes]], data: st.DataObject) -> None:
    depth, chunks = case
    old = ChunkTree.build(as_array(chunks), depth)
    new_chunks = list(chunks)
    for _ in range(data.draw(st.integers(min_value=0, max_value=3))):
        if new_chunks:
            i = data.draw(st.integers(min_value=0, max_value=len(new_chunks) - 1))
            new_chunks[i] = data.draw(st.binary(min_size=32, max_size=32))
    grow = data.draw(st.integers(min_value=0, max_value=(1 << depth) - len(new_chunks)))
    new_chunks += [data.draw(st.binary(min_size=32, max_size=32)) for _ in range(grow)]
    updated = old.updated(as_array(new_chunks))
    rebuilt = ChunkTree.build(as_array(new_chunks), depth)
    assert updated.root == rebuilt.root
    for level in range(depth + 1):
        assert np.array_equal(updated.layers[level], rebuilt.layers[level])


def test_list_mix_in_and_length_node() -> None:
    chunks = [bytes([i]) * 32 for i in range(3)]
    tree = Subtree(ChunkTree.build(as_array(chunks), 4), length=3)
    assert tree.root == hashlib.sha256(naive_root(chunks, 4) + (3).to_bytes(32, "little")).digest()
    assert tree.node_at(3) == (3).to_bytes(32, "little")
    assert tree.node_at(2) == naive_root(chunks, 4)
    with pytest.raises(SSZError, match="below a list length"):
        tree.node_at(6)
    with pytest.raises(SSZError, match="not positive"):
        tree.node_at(0)


@given(
    st.integers(min_value=1, max_value=5).flatmap(
        lambda d: st.tuples(st.just(d), st.sets(st.integers(0, (1 << d) - 1), min_size=1))
    )
)
def test_multiproof_roundtrip(case: tuple[int, set[int]]) -> None:
    depth, indices = case
    chunks = [hashlib.sha256(bytes([i])).digest() for i in range(1 << depth)]
    tree = Subtree(ChunkTree.build(as_array(chunks), depth))
    gindices = sorted((1 << depth) + i for i in indices)
    leaves = [tree.node_at(g) for g in gindices]
    proof = [tree.node_at(h) for h in helper_indices(gindices)]
    assert compute_multiproof_root(leaves, proof, gindices) == tree.root
    assert verify_multiproof(leaves, proof, gindices, tree.root)
    bad = [bytes(32), *leaves[1:]]
    assert not verify_multiproof(bad, proof, gindices, tree.root)

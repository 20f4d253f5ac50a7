"""Batches of a many-validator pool's balance report: the planner's word counts equal the proofs' own, each
batch is as large as its budget allows, every batch reaches the block root, and the batches' totals add up to
the registry's balances."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.ssz.batches import (
    BalanceBatch,
    batch_from_map,
    batch_gindices,
    batch_words,
    max_words_for,
    plan_batches,
    state_batches,
)
from oracle.ssz.errors import ProofError
from oracle.ssz.layouts import get_layout
from oracle.ssz.multiproof import calculate_multi_merkle_root
from oracle.ssz.sample import sample_state
from oracle.ssz.state import BeaconState, load_state

pytestmark = pytest.mark.unit
LAYOUT = get_layout("ethereum-electra")


@pytest.fixture(scope="module")
def state() -> BeaconState:
    return load_state(sample_state("ethereum-electra", 300, seed=11))


def registry_sets() -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, 299), min_size=1, max_size=80, unique=True).map(sorted)


@settings(max_examples=60, deadline=None)
@given(indices=registry_sets(), max_words=st.integers(48, 400))
def test_planned_batches_fit_and_are_as_large_as_allowed(indices: list[int], max_words: int) -> None:
    batches = plan_batches(LAYOUT, indices, max_words)
    assert [first for first, _ in batches] == [sum(c for _, c in batches[:k]) for k in range(len(batches))]
    assert sum(count for _, count in batches) == len(indices)
    for number, (first, count) in enumerate(batches):
        members = indices[first : first + count]
        assert batch_words(LAYOUT, members) <= max_words
        if number + 1 < len(batches):  # one more validator would not have fitted
            assert batch_words(LAYOUT, indices[first : first + count + 1]) > max_words


def test_batches_reach_the_block_root_and_sum_the_registry(state: BeaconState) -> None:
    indices = [0, 1, 2, 5, 6, 7, 40, 41, 120, 121, 122, 123, 124, 250, 299]
    batches = state_batches(state, indices, max_words=50)
    assert len(batches) > 2
    assert sum(b.total_gwei for b in batches) == sum(state.balance(i) for i in indices)
    assert [i for b in batches for i in b.indices] == indices
    for batch in batches:
        gindices = batch_gindices(LAYOUT, batch.indices)
        length_leaf = state.validator_count.to_bytes(32, "little")
        assert calculate_multi_merkle_root([*batch.leaves, length_leaf], batch.witnesses, gindices) == state.block_root
        assert batch.words == batch_words(LAYOUT, batch.indices) <= 50
        assert batch.balances_length == state.validator_count


@settings(max_examples=40, deadline=None)
@given(indices=registry_sets(), max_words=st.integers(48, 200))
def test_the_planner_never_splits_a_chunk(indices: list[int], max_words: int) -> None:
    """A validator whose chunk the batch already proves costs no word, so a chunk is never cut in two (the
    contract accepts a cut chunk, proven in both batches; the planner has no reason to make one)."""
    batches = plan_batches(LAYOUT, indices, max_words)
    for first, count in batches[:-1]:
        assert indices[first + count - 1] // 4 != indices[first + count] // 4


def test_a_batch_refuses_nodes_that_do_not_reach_the_root(state: BeaconState) -> None:
    (batch,) = state_batches(state, [3, 9], max_words=200)
    gindices = batch_gindices(LAYOUT, batch.indices)
    known = dict(zip(gindices, [*batch.leaves, state.validator_count.to_bytes(32, "little")], strict=True))
    from oracle.ssz.multiproof import get_helper_indices

    known.update(zip(get_helper_indices(gindices), batch.witnesses, strict=True))
    assert isinstance(batch_from_map(LAYOUT, known, 0, [3, 9], state.block_root), BalanceBatch)
    tampered = dict(known)
    tampered[gindices[0]] = bytes(32)
    with pytest.raises(ProofError, match="does not reach the block root"):
        batch_from_map(LAYOUT, tampered, 0, [3, 9], state.block_root)
    missing = dict(known)
    del missing[gindices[0]]
    with pytest.raises(ProofError, match="is not among the proven nodes"):
        batch_from_map(LAYOUT, missing, 0, [3, 9], state.block_root)


def test_plans_refuse_unsorted_or_unsized_input() -> None:
    with pytest.raises(ProofError, match="strictly increasing"):
        plan_batches(LAYOUT, [5, 3], 100)
    with pytest.raises(ProofError, match="alone needs"):
        plan_batches(LAYOUT, [5], 10)
    with pytest.raises(ProofError, match="cannot carry"):
        max_words_for(100)
    assert max_words_for(120_000) == (120_000 - 260) // 32

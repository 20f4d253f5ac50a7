"""Our SSZ types against py-ssz: serialization round trips and hash_tree_root on random values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracle.ssz import layouts as L
from oracle.ssz import types as t
from oracle.ssz.errors import SSZError
from oracle.ssz.sample import random_value
from tests.reference import reference_decode, reference_root

pytestmark = pytest.mark.unit


def root(sszt: t.SSZType, data: bytes) -> bytes:
    buf = np.frombuffer(data, dtype=np.uint8)
    return sszt.subtree(buf, 0, len(data), sszt.name).root


basic = st.sampled_from([t.UInt(8), t.UInt(16), t.UInt(32), t.UInt(64), t.UInt(128), t.UInt(256), t.Boolean()])
leafy = st.one_of(
    basic,
    st.integers(1, 100).map(t.ByteVector),
    st.integers(0, 100).map(t.ByteList),
    st.integers(1, 600).map(t.Bitvector),
    st.integers(0, 600).map(t.Bitlist),
)


def composite(children: st.SearchStrategy[t.SSZType]) -> st.SearchStrategy[t.SSZType]:
    return st.one_of(
        st.tuples(children, st.integers(1, 5)).map(lambda a: t.Vector(*a)),
        # py-ssz cannot merkleize a List of limit 0 (no such list exists in the specs).
        st.tuples(children, st.integers(1, 40)).map(lambda a: t.List(*a)),
        st.lists(children, min_size=1, max_size=6).map(
            lambda fs: t.Container("C", [(f"f{i}", f) for i, f in enumerate(fs)])
        ),
    )


ssz_types = st.recursive(leafy, composite, max_leaves=6)


@given(ssz_types, st.integers(0, 2**32 - 1))
def test_roots_match_py_ssz(sszt: t.SSZType, seed: int) -> None:
    value = random_value(sszt, np.random.default_rng(seed))
    try:
        data = sszt.encode(value)
    except SSZError:
        return  # a random value too long for its type's limit
    assert root(sszt, data) == reference_root(sszt, data)
    decoded = sszt.decode(np.frombuffer(data, dtype=np.uint8), 0, len(data), "x")
    assert sszt.encode(decoded) == data


@pytest.mark.parametrize(
    "sszt",
    [
        L.Validator,
        L.BeaconBlockHeader,
        L.ExecutionPayloadHeaderDeneb,
        L.SyncCommittee,
        L.PendingDeposit,
        L.PendingPartialWithdrawal,
        L.HistoricalSummary,
        t.List(L.Validator, 2**40),
        t.List(L.PendingDeposit, 2**27),
    ],
    ids=lambda s: s.name,
)
def test_consensus_containers_match_py_ssz(sszt: t.SSZType) -> None:
    rng = np.random.default_rng(7)
    for _ in range(5):
        data = sszt.encode(random_value(sszt, rng))
        assert root(sszt, data) == reference_root(sszt, data)


def test_batched_roots_equal_single_roots() -> None:
    rng = np.random.default_rng(3)
    records = [L.Validator.encode(random_value(L.Validator, rng) | {"slashed": False}) for _ in range(37)]
    batch = np.frombuffer(b"".join(records), dtype=np.uint8).reshape(37, -1)
    roots = L.Validator.roots(batch, "v[{i}]", 0)
    for i, record in enumerate(records):
        assert roots[i].tobytes() == reference_root(L.Validator, record)


def test_decoded_values_match_py_ssz() -> None:
    value = random_value(L.ExecutionPayloadHeaderDeneb, np.random.default_rng(5))
    data = L.ExecutionPayloadHeaderDeneb.encode(value)
    ours = L.ExecutionPayloadHeaderDeneb.decode(np.frombuffer(data, dtype=np.uint8), 0, len(data), "h")
    theirs: Any = reference_decode(L.ExecutionPayloadHeaderDeneb, data)
    assert [ours[name] for name, _ in L.ExecutionPayloadHeaderDeneb.fields] == [
        bytes(v) if isinstance(v, bytes | bytearray) else v for v in theirs
    ]


@pytest.mark.parametrize(
    ("sszt", "data", "message"),
    [
        (t.Boolean(), b"\x02", "boolean must be 0 or 1"),
        (t.UInt(64), b"\x00" * 7, "truncated"),
        (t.UInt(64), b"\x00" * 9, "trailing bytes"),
        (t.Bitvector(4), b"\x10", "bits beyond length"),
        (t.Bitlist(8), b"", "no delimiting bit"),
        (t.Bitlist(8), b"\x00", "no delimiting bit"),
        (t.Bitlist(4), b"\x40", "exceed the limit"),
        (t.ByteList(2), b"abc", "exceed the limit"),
        (t.List(t.UInt(64), 1), b"\x00" * 16, "exceed the limit"),
        (t.List(t.UInt(64), 4), b"\x00" * 12, "whole number"),
        (t.List(t.ByteList(4), 4), b"\x03\x00\x00\x00", "first offset 3"),
        (t.List(t.ByteList(4), 4), b"\x08\x00\x00\x00\x04\x00\x00\x00", "before the previous"),
        (
            t.Container("C", [("a", t.UInt(8)), ("b", t.ByteList(4))]),
            b"\x00\x06\x00\x00\x00",
            "expected the fixed-part size 5",
        ),
        (
            t.Container("C", [("a", t.ByteList(4)), ("b", t.ByteList(4))]),
            b"\x08\x00\x00\x00\x09\x00\x00\x00",
            "past the end",
        ),
    ],
)
def test_malformed_values_raise_ssz_error(sszt: t.SSZType, data: bytes, message: str) -> None:
    buf = np.frombuffer(data, dtype=np.uint8)
    with pytest.raises(SSZError, match=message):
        sszt.subtree(buf, 0, len(data), "x")


def test_ssz_error_names_field_and_offset() -> None:
    data = L.Validator.encode(L.Validator.default() | {"slashed": False})
    bad = bytearray(data * 3)
    bad[121 + 88] = 7
    records = np.frombuffer(bytes(bad), dtype=np.uint8).reshape(3, 121)
    with pytest.raises(SSZError) as info:
        L.Validator.roots(records, "BeaconState.validators[{i}]", 1000)
    assert info.value.path == "BeaconState.validators[1].slashed"
    assert info.value.offset == 1000 + 121 + 88


def test_gindex_of_follows_the_specs() -> None:
    # The specs' own light-client constants.
    assert L.LAYOUTS["ethereum-deneb"].state.depth == 5
    assert t.gindex_of(L.LAYOUTS["ethereum-deneb"].state, ["finalized_checkpoint", "root"])[0] == 105
    assert t.gindex_of(L.LAYOUTS["ethereum-deneb"].state, ["current_sync_committee"])[0] == 54
    assert t.gindex_of(L.LAYOUTS["ethereum-electra"].state, ["finalized_checkpoint", "root"])[0] == 169
    assert t.gindex_of(L.LAYOUTS["ethereum-electra"].state, ["next_sync_committee"])[0] == 87
    assert t.gindex_of(t.List(t.UInt(64), 8), ["__len__"])[0] == 3
    assert t.concat_gindices(11, 2, 5) == 0b1011_0_01

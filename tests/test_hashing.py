from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracle.ssz import hashing
from oracle.ssz.hashing import ZERO_HASHES, hash_pairs

pytestmark = pytest.mark.unit


def reference(data: bytes) -> bytes:
    return b"".join(hashlib.sha256(data[i : i + 64]).digest() for i in range(0, len(data), 64))


@given(st.integers(min_value=0, max_value=70).flatmap(lambda n: st.binary(min_size=64 * n, max_size=64 * n)))
def test_hash_pairs_matches_hashlib(data: bytes) -> None:
    out = hash_pairs(np.frombuffer(data, dtype=np.uint8))
    assert out.shape == (len(data) // 64, 32)
    assert out.tobytes() == reference(data)


def test_threaded_path_matches_hashlib(monkeypatch: pytest.MonkeyPatch) -> None:
    # Above the parallel threshold, with an uneven split across threads.
    monkeypatch.setenv("POOL_ORACLE_HASH_THREADS", "3")
    n = hashing._PARALLEL_MIN + 37
    data = np.random.default_rng(1).integers(0, 256, size=64 * n, dtype=np.uint8)
    assert hash_pairs(data).tobytes() == reference(data.tobytes())


def test_rejects_partial_message() -> None:
    with pytest.raises(ValueError, match="multiple of 64"):
        hash_pairs(np.zeros(65, dtype=np.uint8))


def test_zero_hashes_chain() -> None:
    assert ZERO_HASHES[0] == b"\x00" * 32
    for level in range(1, 8):
        assert ZERO_HASHES[level] == hashlib.sha256(ZERO_HASHES[level - 1] * 2).digest()

"""oracle/ssz/diff.py's changed rows against numpy's plain comparison, on every path of the kernel."""

from __future__ import annotations

import numpy as np
import pytest

from oracle.ssz import diff
from oracle.ssz.diff import changed_rows

pytestmark = pytest.mark.unit


def expected(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    return np.flatnonzero((old != new).any(axis=1))


@pytest.mark.parametrize("kernel_min", [1, 1 << 16])
def test_changed_rows_equal_numpy_on_random_arrays(kernel_min: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diff, "_KERNEL_MIN_BYTES", kernel_min)
    rng = np.random.default_rng(11)
    for _ in range(200):
        rows, size = int(rng.integers(0, 2000)), int(rng.choice([1, 3, 7, 8, 9, 31, 32, 33, 64, 121]))
        old = rng.integers(0, 4, size=(rows, size), dtype=np.uint8)
        new = old.copy()
        edits = int(rng.integers(0, rows * size // 20 + 2)) if rows else 0
        new[rng.integers(0, max(rows, 1), edits), rng.integers(0, size, edits)] = rng.integers(0, 4, edits)
        got = changed_rows(old, new)
        assert got.dtype == np.int64
        assert np.array_equal(got, expected(old, new)), (rows, size, edits)


def test_unaligned_views_and_every_row_changed() -> None:
    rng = np.random.default_rng(12)
    backing = rng.integers(0, 256, size=121 * 5000 + 3, dtype=np.uint8)
    old = backing[3:].reshape(5000, 121)  # a view at an odd offset, as a state's records are
    new = old.copy()
    new[[0, 17, 4999], [120, 0, 60]] ^= 1
    assert changed_rows(old, new).tolist() == [0, 17, 4999]
    leaves = rng.integers(0, 256, size=(4096, 32), dtype=np.uint8)
    assert changed_rows(leaves, leaves + 1).tolist() == list(range(4096))
    words = rng.integers(0, 256, size=(4096, 121), dtype=np.uint8)
    assert np.array_equal(changed_rows(words, words ^ 1), np.arange(4096))  # more words differ than rows


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="equal"):
        changed_rows(np.zeros((2, 3), np.uint8), np.zeros((3, 3), np.uint8))


def test_stop_after_lists_enough_to_tell() -> None:
    rng = np.random.default_rng(13)
    old = rng.integers(0, 256, size=(8192, 32), dtype=np.uint8)
    new = old.copy()
    new[::3] ^= 1  # 2,731 rows differ
    assert changed_rows(new, old, stop_after=5000).tolist() == list(range(0, 8192, 3))
    few = changed_rows(new, old, stop_after=100)
    assert few.size > 100 and few.tolist() == list(range(0, 8192, 3))[: few.size]

"""Which rows of two equally shaped byte arrays differ, at memory speed.

A MerkleCache compares a state's validator records (2.1 million rows of 121 bytes on mainnet) and tree
leaves with the previous state's, to rehash only what changed. numpy's `(old != new).any(axis=1)` writes a
boolean array as large as the input and reduces it again (~0.2 s for the records); here a kernel compares
the flat bytes eight at a time and lists only the words that differ (~0.04 s), and the rows holding those
words are then checked exactly.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

Indices = npt.NDArray[np.int64]


@numba.njit(cache=True, nogil=True)
def _changed_words_kernel(
    old: npt.NDArray[np.uint64], new: npt.NDArray[np.uint64], out: npt.NDArray[np.int64]
) -> int:  # pragma: no cover
    """out[:count] = the positions where `old` and `new` differ, as far as `out` has room; returns the count
    of all differing positions (more than out.size means `out` overflowed)."""
    count = 0
    room = out.shape[0]
    for k in range(old.shape[0]):
        if old[k] != new[k]:
            if count < room:
                out[count] = k
            count += 1
    return count


@numba.njit(cache=True, nogil=True)
def _changed_word_rows_kernel(
    old: npt.NDArray[np.uint64], new: npt.NDArray[np.uint64], width: int, out: npt.NDArray[np.int64]
) -> int:  # pragma: no cover
    """out[:count] = the rows of `width` words where `old` and `new` differ, stopping once `out` is full;
    returns the count."""
    count = 0
    room = out.shape[0]
    for i in range(old.shape[0] // width):
        base = i * width
        for j in range(width):
            if old[base + j] != new[base + j]:
                out[count] = i
                count += 1
                break
        if count == room:
            break
    return count


# Below this many bytes numpy's own comparison is as fast.
_KERNEL_MIN_BYTES = 1 << 16
# Rows compared at a time by the numpy fallback (many changed rows), to bound its temporary.
_BLOCK_ROWS = 1 << 15


def _changed_rows_numpy(old: npt.NDArray[np.uint8], new: npt.NDArray[np.uint8]) -> Indices:
    parts = [
        np.flatnonzero((old[lo : lo + _BLOCK_ROWS] != new[lo : lo + _BLOCK_ROWS]).any(axis=1)) + lo
        for lo in range(0, old.shape[0], _BLOCK_ROWS)
    ]
    return np.concatenate(parts).astype(np.int64, copy=False) if parts else np.zeros(0, dtype=np.int64)


def changed_rows(old: npt.NDArray[np.uint8], new: npt.NDArray[np.uint8], stop_after: int | None = None) -> Indices:
    """Increasing indices of the rows of two (n, size) uint8 arrays that differ: the same as
    `np.flatnonzero((old != new).any(axis=1))`. With `stop_after`, a caller that only needs to know whether
    more than that many rows differ may get just the first stop_after + 1 of them (or all)."""
    if old.shape != new.shape or old.ndim != 2:
        raise ValueError(f"changed_rows needs two equal (n, size) arrays, got {old.shape} and {new.shape}")
    rows, size = old.shape
    if rows == 0 or size == 0:
        return np.zeros(0, dtype=np.int64)
    # Rows of fewer than eight bytes would let a word straddle more than two rows.
    if size < 8 or old.size < _KERNEL_MIN_BYTES or not (old.flags.c_contiguous and new.flags.c_contiguous):
        return _changed_rows_numpy(old, new)
    flat_old, flat_new = old.reshape(-1), new.reshape(-1)
    if size % 8 == 0:
        room = rows if stop_after is None else min(rows, max(stop_after, 0) + 1)
        out = np.empty(room, dtype=np.int64)  # whole words to a row (tree leaves): the rows directly
        count = _changed_word_rows_kernel(flat_old.view(np.uint64), flat_new.view(np.uint64), size // 8, out)
        return out[:count].copy()
    words = flat_old.size // 8
    out = np.empty(rows, dtype=np.int64)
    count = _changed_words_kernel(flat_old[: words * 8].view(np.uint64), flat_new[: words * 8].view(np.uint64), out)
    if count > rows:  # too many differences to list by word: compare row by row
        return _changed_rows_numpy(old, new)
    first_byte = out[:count] * 8
    # A differing word may straddle two rows, and the last bytes (fewer than eight) are not in any word.
    candidates: Indices = np.unique(
        np.concatenate([first_byte // size, (first_byte + 7) // size, np.arange((words * 8) // size, rows)])
    ).astype(np.int64, copy=False)
    candidates = candidates[candidates < rows]
    if candidates.size == 0:
        return np.zeros(0, dtype=np.int64)
    differ = (old[candidates] != new[candidates]).any(axis=1)
    result: Indices = candidates[differ]
    return result

"""The base of the SSZ types: SSZType, the MerkleCache of large lists' trees, and shared helpers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from oracle.ssz.diff import changed_rows
from oracle.ssz.errors import SSZError
from oracle.ssz.hashing import Chunks
from oracle.ssz.merkle import ChunkTree, Subtree

Buf = npt.NDArray[np.uint8]
OFFSET_SIZE = 4
# Lists at least this many chunks long keep their tree in a MerkleCache between states.
_CACHE_MIN_CHUNKS = 1024
# Fixed-size elements are merkleized this many at a time, to bound the scratch memory.
_BATCH_ROWS = 1 << 16


def ceil_log2(n: int) -> int:
    """Depth of a tree with room for n leaves; a limit of 0 still gets one (zero) chunk, as in the specs."""
    return (n - 1).bit_length() if n > 1 else 0


def _read_offset(buf: Buf, pos: int) -> int:
    return int.from_bytes(buf[pos : pos + OFFSET_SIZE].tobytes(), "little")


@dataclass
class _CacheEntry:
    records: Buf | None
    roots: Chunks
    tree: ChunkTree


@dataclass
class MerkleCache:
    """Trees of large lists from the previous state, keyed by field path, so that a later state of the
    same validator set rehashes only what changed: an element whose serialized record is unchanged keeps
    its root, and only the paths above changed leaves are rehashed."""

    entries: dict[str, _CacheEntry] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)  # elements whose root was reused, by path
    rehashed: dict[str, int] = field(default_factory=dict)  # elements hashed anew, by path

    # Rows found changed by element_roots, by path, for tree() to refresh the kept records in place.
    _changed: dict[str, tuple[Buf, npt.NDArray[np.int64]]] = field(default_factory=dict, repr=False, compare=False)

    def element_roots(self, path: str, elem: SSZType, records: Buf, base: int) -> Chunks:
        entry = self.entries.get(path)
        n = records.shape[0]
        self._changed.pop(path, None)
        if entry is None or entry.records is None:
            self.hits[path] = 0
            self.rehashed[path] = n
            return elem.roots(records, path + "[{i}]", base)
        old = entry.records
        common = min(old.shape[0], n)
        changed = changed_rows(old[:common], records[:common])
        if old.shape == records.shape:
            self._changed[path] = (old, changed)
        if changed.size == 0 and n == common:
            # Nothing changed: the kept roots, which are never written in place, serve as they are.
            roots = entry.roots
        else:
            roots = np.empty((n, 32), dtype=np.uint8)
            roots[:common] = entry.roots[:common]
            if changed.size:
                roots[changed] = elem.roots(records[changed], path + "[{i}]", base)
            if n > common:
                roots[common:] = elem.roots(records[common:], path + "[{i}]", base + common * records.strides[0])
        self.hits[path] = common - int(changed.size)
        self.rehashed[path] = int(changed.size) + (n - common)
        return roots

    def tree(self, path: str, leaves: Chunks, depth: int, records: Buf | None) -> ChunkTree:
        entry = self.entries.get(path)
        if entry is not None and entry.tree.depth == depth:
            tree = entry.tree.updated(leaves)
        else:
            tree = ChunkTree.build(leaves, depth)
        # Keep copies, never views: the caller may rewrite its buffer for the next state.
        if leaves.flags.owndata:
            owned_leaves = leaves
        elif (
            entry is not None
            and len(tree.layers) > 1
            and tree.layers[1] is entry.tree.layers[1]
            and entry.roots.shape == leaves.shape
        ):
            owned_leaves = entry.roots  # the tree did not change: the kept leaves are these leaves
        else:
            owned_leaves = leaves.copy()
        kept = ChunkTree(tree.depth, (owned_leaves, *tree.layers[1:]))
        pending = self._changed.pop(path, None)
        kept_records: Buf | None = None
        if records is not None:
            if entry is not None and pending is not None and pending[0] is entry.records:
                # Only this cache holds the kept records: refresh the rows that changed, not all 250 MB.
                kept_records = entry.records
                kept_records[pending[1]] = records[pending[1]]
            else:
                kept_records = records.copy()
        self.entries[path] = _CacheEntry(kept_records, owned_leaves, kept)
        return tree


class SSZType(ABC):
    name: str

    @property
    @abstractmethod
    def fixed_size(self) -> int | None:
        """Serialized size, or None for variable-size types."""

    @property
    def is_basic(self) -> bool:
        return False

    @property
    @abstractmethod
    def depth(self) -> int:
        """Depth of the chunk tree under this type's root (before any length mix-in)."""

    @property
    def has_length(self) -> bool:
        return False

    @abstractmethod
    def subtree(self, buf: Buf, start: int, end: int, path: str, cache: MerkleCache | None = None) -> Subtree:
        """Validate the value at buf[start:end] and build its Merkle tree."""

    def roots(self, records: Buf, path: str, base: int) -> Chunks:
        """Roots of many fixed-size values at once: `records` is (n, fixed_size); `path` may hold "{i}"."""
        raise NotImplementedError(f"{self.name} is not fixed-size")

    def write_roots(self, records: Buf, dest: Buf, path: str, base: int) -> None:
        """Write roots of `records` into `dest`, an (n, 32) view that is already zero."""
        dest[:] = self.roots(records, path, base)

    @abstractmethod
    def decode(self, buf: Buf, start: int, end: int, path: str) -> Any:
        """Validate and turn into Python values (ints, bytes, lists, dicts). For small values."""

    @abstractmethod
    def encode(self, value: Any) -> bytes:
        """Serialize a Python value; pre-serialized bytes are accepted for lists and vectors."""

    @abstractmethod
    def default(self) -> Any: ...

    def chunk_index(self, index: int) -> int:
        """Leaf position of element `index` in this type's chunk tree."""
        raise SSZError(f"{self.name} has no elements")

    def element_type(self, key: str | int) -> SSZType:
        raise SSZError(f"{self.name} has no element {key!r}")

    def _expect_size(self, start: int, end: int, path: str) -> None:
        size = self.fixed_size
        if size is not None and end - start != size:
            problem = "truncated" if end - start < size else "has trailing bytes"
            raise SSZError(f"{self.name} is {size} bytes, got {end - start} ({problem})", path=path, offset=start)


def _row_path(path: str, row: int) -> str:
    return path.replace("{i}", str(row))


def _fixed_chunk_rows(records: Buf, chunks: int) -> Chunks:
    """(n, size) byte rows -> (n * 2^ceil_log2(chunks), 32) zero-padded leaves."""
    n, size = records.shape
    width = 1 << ceil_log2(chunks)
    rows = np.zeros((n, width * 32), dtype=np.uint8)
    rows[:, :size] = records
    return rows

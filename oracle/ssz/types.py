"""SSZ types declared as data; sizes, offsets, roots, subtrees and gindices derive from the declaration.

Every type works on a numpy uint8 view of the whole input (`buf`) between absolute byte offsets, so errors
can name the byte, and big lists are never split into Python objects: fixed-size elements are rows of a
2-D view and their roots are computed for all rows at once (`roots`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from oracle.ssz.errors import SSZError
from oracle.ssz.hashing import Chunks, task_pool, thread_count
from oracle.ssz.merkle import ChunkTree, Subtree, merkleize_rows, pad_chunks

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

    def element_roots(self, path: str, elem: SSZType, records: Buf, base: int) -> Chunks:
        entry = self.entries.get(path)
        n = records.shape[0]
        if entry is None or entry.records is None:
            self.hits[path] = 0
            self.rehashed[path] = n
            return elem.roots(records, path + "[{i}]", base)
        old = entry.records
        common = min(old.shape[0], n)
        changed = np.flatnonzero((old[:common] != records[:common]).any(axis=1))
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
        owned_leaves = leaves if leaves.flags.owndata else leaves.copy()
        kept = ChunkTree(tree.depth, (owned_leaves, *tree.layers[1:]))
        self.entries[path] = _CacheEntry(None if records is None else records.copy(), owned_leaves, kept)
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


class UInt(SSZType):
    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.name = f"uint{bits}"

    @property
    def fixed_size(self) -> int:
        return self.bits // 8

    @property
    def is_basic(self) -> bool:
        return True

    @property
    def depth(self) -> int:
        return 0

    def subtree(self, buf: Buf, start: int, end: int, path: str, cache: MerkleCache | None = None) -> Subtree:
        self._expect_size(start, end, path)
        return Subtree(ChunkTree.build(pad_chunks(buf[start:end]), 0))

    def roots(self, records: Buf, path: str, base: int) -> Chunks:
        out = np.zeros((records.shape[0], 32), dtype=np.uint8)
        out[:, : self.fixed_size] = records
        return out

    def write_roots(self, records: Buf, dest: Buf, path: str, base: int) -> None:
        dest[:, : self.fixed_size] = records

    def decode(self, buf: Buf, start: int, end: int, path: str) -> int:
        self._expect_size(start, end, path)
        return int.from_bytes(buf[start:end].tobytes(), "little")

    def encode(self, value: Any) -> bytes:
        number = int(value)
        if not 0 <= number < (1 << self.bits):
            raise SSZError(f"{number} does not fit {self.name}")
        return number.to_bytes(self.fixed_size, "little")

    def default(self) -> int:
        return 0


class Boolean(SSZType):
    name = "boolean"

    @property
    def fixed_size(self) -> int:
        return 1

    @property
    def is_basic(self) -> bool:
        return True

    @property
    def depth(self) -> int:
        return 0

    def _check(self, records: Buf, path: str, base: int) -> None:
        if records.size == 0:
            return
        bad = np.flatnonzero(records.reshape(records.shape[0], -1)[:, 0] > 1)
        if bad.size:
            row = int(bad[0])
            value = int(records.reshape(records.shape[0], -1)[row, 0])
            offset = base + row * (records.strides[0] if records.ndim > 1 else 1)
            raise SSZError(f"boolean must be 0 or 1, got {value}", path=_row_path(path, row), offset=offset)

    def subtree(self, buf: Buf, start: int, end: int, path: str, cache: MerkleCache | None = None) -> Subtree:
        self._expect_size(start, end, path)
        self._check(buf[start:end].reshape(1, 1), path, start)
        return Subtree(ChunkTree.build(pad_chunks(buf[start:end]), 0))

    def roots(self, records: Buf, path: str, base: int) -> Chunks:
        self._check(records, path, base)
        out = np.zeros((records.shape[0], 32), dtype=np.uint8)
        out[:, :1] = records
        return out

    def write_roots(self, records: Buf, dest: Buf, path: str, base: int) -> None:
        self._check(records, path, base)
        dest[:, :1] = records

    def decode(self, buf: Buf, start: int, end: int, path: str) -> bool:
        self._expect_size(start, end, path)
        self._check(buf[start:end].reshape(1, 1), path, start)
        return bool(buf[start])

    def encode(self, value: Any) -> bytes:
        return b"\x01" if value else b"\x00"

    def default(self) -> bool:
        return False


def _fixed_chunk_rows(records: Buf, chunks: int) -> Chunks:
    """(n, size) byte rows -> (n * 2^ceil_log2(chunks), 32) zero-padded leaves."""
    n, size = records.shape
    width = 1 << ceil_log2(chunks)
    rows = np.zeros((n, width * 32), dtype=np.uint8)
    rows[:, :size] = records
    return rows


class ByteVector(SSZType):
    def __init__(self, length: int) -> None:
        self.length = length
        self.name = f"Bytes{length}"

    @property
    def fixed_size(self) -> int:
        return self.length

    @property
    def depth(self) -> int:
        return ceil_log2(math.ceil(self.length / 32))

    def subtree(self, buf: Buf, start: int, end: int, path: str, cache: MerkleCache | None = None) -> Subtree:
        self._expect_size(start, end, path)
        return Subtree(ChunkTree.build(pad_chunks(buf[start:end]), self.depth))

    def roots(self, records: Buf, path: str, base: int) -> Chunks:
        chunks = math.ceil(self.length / 32)
        return merkleize_rows(_fixed_chunk_rows(records, chunks), 1 << self.depth)

    def write_roots(self, records: Buf, dest: Buf, path: str, base: int) -> None:
        if self.length <= 32:
            dest[:, : self.length] = records
        else:
            dest[:] = self.roots(records, path, base)

    def decode(self, buf: Buf, start: int, end: int, path: str) -> bytes:
        self._expect_size(start, end, path)
        return buf[start:end].tobytes()

    def encode(self, value: Any) -> bytes:
        data = bytes(value)
        if len(data) != self.length:
            raise SSZError(f"{self.name} needs {self.length} bytes, got {len(data)}")
        return data

    def default(self) -> bytes:
        return b"\x00" * self.length


class ByteList(SSZType):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.name = f"ByteList[{limit}]"

    @property
    def fixed_size(self) -> None:
        return None

    @property
    def depth(self) -> int:
        return ceil_log2(math.ceil(self.limit / 32))

    @property
    def has_length(self) -> bool:
        return True

    def _check(self, start: int, end: int, path: str) -> None:
        if end - start > self.limit:
            raise SSZError(f"{end - start} bytes exceed the limit {self.limit}", path=path, offset=start)

    def subtree(self, buf: Buf, start: int, end: int, path: str, cache: MerkleCache | None = None) -> Subtree:
        self._check(start, end, path)
        return Subtree(ChunkTree.build(pad_chunks(buf[start:end]), self.depth), end - start)

    def decode(self, buf: Buf, start: int, end: int, path: str) -> bytes:
        self._check(start, end, path)
        return buf[start:end].tobytes()

    def encode(self, value: Any) -> bytes:
        data = bytes(value)
        if len(data) > self.limit:
            raise SSZError(f"{len(data)} bytes exceed the limit {self.limit} of {self.name}")
        return data

    def default(self) -> bytes:
        return b""


class Bitvector(SSZType):
    def __init__(self, length: int) -> None:
        self.length = length
        self.name = f"Bitvector[{length}]"

    @property
    def fixed_size(self) -> int:
        return (self.length + 7) // 8

    @property
    def depth(self) -> int:
        return ceil_log2(math.ceil(self.length / 256))

    def _check(self, buf: Buf, start: int, end: int, path: str) -> None:
        self._expect_size(start, end, path)
        spare = self.fixed_size * 8 - self.length
        if spare and int(buf[end - 1]) >> (8 - spare):
            raise SSZError(f"bits beyond length {self.length} must be zero", path=path, offset=end - 1)

    def subtree(self, buf: Buf, start: int, end: int, path: str, cache: MerkleCache | None = None) -> Subtree:
        self._check(buf, start, end, path)
        return Subtree(ChunkTree.build(pad_chunks(buf[start:end]), self.depth))

    def roots(self, records: Buf, path: str, base: int) -> Chunks:
        rows = [self.subtree(records[i], 0, self.fixed_size, _row_path(path, i)).root for i in range(len(records))]
        return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(-1, 32)

    def decode(self, buf: Buf, start: int, end: int, path: str) -> list[bool]:
        self._check(buf, start, end, path)
        data = buf[start:end].tobytes()
        return [bool(data[i // 8] >> (i % 8) & 1) for i in range(self.length)]

    def encode(self, value: Any) -> bytes:
        bits = list(value)
        if len(bits) != self.length:
            raise SSZError(f"{self.name} needs {self.length} bits, got {len(bits)}")
        out = bytearray(self.fixed_size)
        for i, bit in enumerate(bits):
            if bit:
                out[i // 8] |= 1 << (i % 8)
        return bytes(out)

    def default(self) -> list[bool]:
        return [False] * self.length


class Bitlist(SSZType):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.name = f"Bitlist[{limit}]"

    @property
    def fixed_size(self) -> None:
        return None

    @property
    def depth(self) -> int:
        return ceil_log2(math.ceil(self.limit / 256))

    @property
    def has_length(self) -> bool:
        return True

    def _bit_length(self, buf: Buf, start: int, end: int, path: str) -> int:
        if end == start or buf[end - 1] == 0:
            raise SSZError("bitlist has no delimiting bit", path=path, offset=max(start, end - 1))
        length = (end - start - 1) * 8 + int(buf[end - 1]).bit_length() - 1
        if length > self.limit:
            raise SSZError(f"{length} bits exceed the limit {self.limit}", path=path, offset=start)
        return length

    def subtree(self, buf: Buf, start: int, end: int, path: str, cache: MerkleCache | None = None) -> Subtree:
        length = self._bit_length(buf, start, end, path)
        data = bytearray(buf[start:end].tobytes())
        data[-1] &= ~(1 << (length % 8)) & 0xFF
        if length % 8 == 0:
            data = data[:-1]
        leaves = pad_chunks(np.frombuffer(bytes(data), dtype=np.uint8)) if data else np.zeros((0, 32), np.uint8)
        return Subtree(ChunkTree.build(leaves, self.depth), length)

    def decode(self, buf: Buf, start: int, end: int, path: str) -> list[bool]:
        length = self._bit_length(buf, start, end, path)
        data = buf[start:end].tobytes()
        return [bool(data[i // 8] >> (i % 8) & 1) for i in range(length)]

    def encode(self, value: Any) -> bytes:
        bits = list(value)
        if len(bits) > self.limit:
            raise SSZError(f"{len(bits)} bits exceed the limit {self.limit} of {self.name}")
        out = bytearray(len(bits) // 8 + 1)
        for i, bit in enumerate(bits):
            if bit:
                out[i // 8] |= 1 << (i % 8)
        out[len(bits) // 8] |= 1 << (len(bits) % 8)
        return bytes(out)

    def default(self) -> list[bool]:
        return []


class _Sequence(SSZType):
    """Shared logic of Vector and List: element spans, packing, element roots."""

    elem: SSZType

    @property
    def _chunk_limit(self) -> int:
        capacity = self._capacity
        if self.elem.is_basic:
            return math.ceil(capacity * (self.elem.fixed_size or 0) / 32)
        return capacity

    @property
    @abstractmethod
    def _capacity(self) -> int: ...

    @property
    def depth(self) -> int:
        return ceil_log2(self._chunk_limit)

    def chunk_index(self, index: int) -> int:
        if self.elem.is_basic:
            return index * (self.elem.fixed_size or 0) // 32
        return index

    def element_type(self, key: str | int) -> SSZType:
        return self.elem

    def _spans(self, buf: Buf, start: int, end: int, path: str) -> list[tuple[int, int]]:
        """Spans of variable-size elements, from the offset table."""
        if start == end:
            return []
        if end - start < OFFSET_SIZE:
            raise SSZError("truncated offset table", path=path, offset=start)
        first = _read_offset(buf, start)
        if first % OFFSET_SIZE or first == 0 or first > end - start:
            raise SSZError(f"first offset {first} is invalid for {end - start} bytes", path=path, offset=start)
        count = first // OFFSET_SIZE
        if count > self._capacity:
            raise SSZError(f"{count} elements exceed the limit {self._capacity}", path=path, offset=start)
        offsets = [_read_offset(buf, start + OFFSET_SIZE * i) for i in range(count)] + [end - start]
        for i in range(count):
            if offsets[i + 1] < offsets[i]:
                raise SSZError(
                    f"offset {offsets[i + 1]} is before the previous offset {offsets[i]}",
                    path=f"{path}[{i + 1}]",
                    offset=start + OFFSET_SIZE * (i + 1),
                )
        return [(start + offsets[i], start + offsets[i + 1]) for i in range(count)]

    def _count(self, start: int, end: int, path: str) -> int:
        size = self.elem.fixed_size
        assert size is not None
        if (end - start) % size:
            raise SSZError(
                f"{end - start} bytes are not a whole number of {size}-byte {self.elem.name} elements",
                path=path,
                offset=start,
            )
        return (end - start) // size

    def _leaves(
        self, buf: Buf, start: int, end: int, path: str, cache: MerkleCache | None
    ) -> tuple[ChunkTree, Any, int]:
        """Chunk tree of the elements, a child lookup, and the element count."""
        size = self.elem.fixed_size
        if size is None:
            spans = self._spans(buf, start, end, path)
            subtrees = [self.elem.subtree(buf, s, e, f"{path}[{i}]", cache) for i, (s, e) in enumerate(spans)]
            leaves = np.frombuffer(b"".join(t.root for t in subtrees), dtype=np.uint8).reshape(-1, 32)
            tree = ChunkTree.build(leaves, self.depth)
            return tree, (lambda i: subtrees[i] if i < len(subtrees) else None), len(spans)
        count = self._count(start, end, path)
        records = buf[start:end].reshape(count, size)
        if self.elem.is_basic or (isinstance(self.elem, ByteVector) and self.elem.length == 32):
            # Packed basic values, or 32-byte roots that are their own leaves.
            if isinstance(self.elem, Boolean):
                self.elem._check(records, path + "[{i}]", start)
            leaves = pad_chunks(buf[start:end]) if count else np.zeros((0, 32), np.uint8)
            if cache is not None and leaves.shape[0] >= _CACHE_MIN_CHUNKS:
                tree = cache.tree(path, leaves, self.depth, None)
            else:
                tree = ChunkTree.build(leaves, self.depth)
            if not self.elem.is_basic:

                def leaf_child(i: int) -> Subtree | None:
                    return Subtree(ChunkTree.build(leaves[i : i + 1], 0)) if i < count else None

                return tree, leaf_child, count
            return tree, (lambda i: None), count
        elem = self.elem
        if cache is not None and count >= _CACHE_MIN_CHUNKS:
            leaves = cache.element_roots(path, elem, records, start)
            tree = cache.tree(path, leaves, self.depth, records)
        else:
            leaves = _batched_roots(elem, records, path + "[{i}]", start)
            tree = ChunkTree.build(leaves, self.depth)

        def child(i: int) -> Subtree | None:
            if i >= count:
                return None
            return elem.subtree(buf, start + i * size, start + (i + 1) * size, f"{path}[{i}]")

        return tree, child, count

    def roots(self, records: Buf, path: str, base: int) -> Chunks:
        size = self.elem.fixed_size
        assert size is not None
        n = records.shape[0]
        if self.elem.is_basic:
            if isinstance(self.elem, Boolean):
                self.elem._check(records.reshape(-1, 1), path, base)
            chunks = self._chunk_limit
            return merkleize_rows(_fixed_chunk_rows(records, chunks), 1 << self.depth)
        width = 1 << self.depth
        count = records.shape[1] // size
        inner = records.reshape(n * count, size)
        leaves = np.zeros((n, width, 32), dtype=np.uint8)
        leaves[:, :count] = self.elem.roots(inner, path, base).reshape(n, count, 32)
        return merkleize_rows(leaves.reshape(n, width * 32), width)

    def _decode_elements(self, buf: Buf, start: int, end: int, path: str) -> list[Any]:
        size = self.elem.fixed_size
        if size is None:
            spans = self._spans(buf, start, end, path)
        else:
            count = self._count(start, end, path)
            spans = [(start + i * size, start + (i + 1) * size) for i in range(count)]
        return [self.elem.decode(buf, s, e, f"{path}[{i}]") for i, (s, e) in enumerate(spans)]

    def _encode_elements(self, value: Any) -> bytes:
        if isinstance(value, bytes | bytearray | memoryview | np.ndarray):
            raw = (
                bytes(np.asarray(value, dtype=np.uint8).reshape(-1)) if isinstance(value, np.ndarray) else bytes(value)
            )
            return raw  # pre-serialized elements
        parts = [self.elem.encode(item) for item in value]
        if self.elem.fixed_size is not None:
            return b"".join(parts)
        offsets = []
        position = OFFSET_SIZE * len(parts)
        for part in parts:
            offsets.append(position.to_bytes(OFFSET_SIZE, "little"))
            position += len(part)
        return b"".join(offsets) + b"".join(parts)


def _batched_roots(elem: SSZType, records: Buf, path: str, base: int) -> Chunks:
    """Element roots in batches of bounded scratch memory, the batches spread over the hashing threads
    (batches are too small to split profitably inside, so each is hashed whole on one thread)."""
    n = records.shape[0]
    if n <= _BATCH_ROWS or thread_count() == 1:
        return elem.roots(records, path, base)
    out = np.empty((n, 32), dtype=np.uint8)
    stride = records.strides[0]

    def batch(lo: int) -> None:
        hi = min(lo + _BATCH_ROWS, n)
        out[lo:hi] = elem.roots(records[lo:hi], path, base + lo * stride)

    # map() re-raises the first failing batch's error, in index order.
    for _ in task_pool().map(batch, range(0, n, _BATCH_ROWS)):
        pass
    return out


class Vector(_Sequence):
    def __init__(self, elem: SSZType, length: int) -> None:
        self.elem = elem
        self.length = length
        self.name = f"Vector[{elem.name}, {length}]"

    @property
    def _capacity(self) -> int:
        return self.length

    @property
    def fixed_size(self) -> int | None:
        size = self.elem.fixed_size
        return None if size is None else size * self.length

    def _check_length(self, count: int, path: str, start: int) -> None:
        if count != self.length:
            raise SSZError(f"vector needs {self.length} elements, got {count}", path=path, offset=start)

    def subtree(self, buf: Buf, start: int, end: int, path: str, cache: MerkleCache | None = None) -> Subtree:
        self._expect_size(start, end, path)
        tree, child, count = self._leaves(buf, start, end, path, cache)
        self._check_length(count, path, start)
        return Subtree(tree, None, child)

    def decode(self, buf: Buf, start: int, end: int, path: str) -> list[Any]:
        self._expect_size(start, end, path)
        items = self._decode_elements(buf, start, end, path)
        self._check_length(len(items), path, start)
        return items

    def encode(self, value: Any) -> bytes:
        data = self._encode_elements(value)
        if self.fixed_size is not None and len(data) != self.fixed_size:
            raise SSZError(f"{self.name} needs {self.fixed_size} bytes, got {len(data)}")
        return data

    def default(self) -> list[Any]:
        return [self.elem.default() for _ in range(self.length)]


class List(_Sequence):
    def __init__(self, elem: SSZType, limit: int) -> None:
        self.elem = elem
        self.limit = limit
        self.name = f"List[{elem.name}, {limit}]"

    @property
    def _capacity(self) -> int:
        return self.limit

    @property
    def fixed_size(self) -> None:
        return None

    @property
    def has_length(self) -> bool:
        return True

    def _check_limit(self, count: int, path: str, start: int) -> None:
        if count > self.limit:
            raise SSZError(f"{count} elements exceed the limit {self.limit}", path=path, offset=start)

    def subtree(self, buf: Buf, start: int, end: int, path: str, cache: MerkleCache | None = None) -> Subtree:
        size = self.elem.fixed_size
        if size is not None:
            self._check_limit((end - start) // size, path, start)
        tree, child, count = self._leaves(buf, start, end, path, cache)
        self._check_limit(count, path, start)
        return Subtree(tree, count, child)

    def decode(self, buf: Buf, start: int, end: int, path: str) -> list[Any]:
        items = self._decode_elements(buf, start, end, path)
        self._check_limit(len(items), path, start)
        return items

    def encode(self, value: Any) -> bytes:
        data = self._encode_elements(value)
        size = self.elem.fixed_size
        if size is not None and (len(data) % size or len(data) // size > self.limit):
            raise SSZError(f"{len(data)} bytes are not a list of at most {self.limit} {self.elem.name}")
        return data

    def default(self) -> list[Any]:
        return []


class Container(SSZType):
    def __init__(self, name: str, fields: Sequence[tuple[str, SSZType]]) -> None:
        self.name = name
        self.fields = list(fields)
        self.field_index = {fname: i for i, (fname, _) in enumerate(self.fields)}
        sizes = [ftype.fixed_size for _, ftype in self.fields]
        self._fixed_size = None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)
        self.fixed_part_size = sum(OFFSET_SIZE if s is None else s for s in sizes)

    @property
    def fixed_size(self) -> int | None:
        return self._fixed_size

    @property
    def depth(self) -> int:
        return ceil_log2(len(self.fields))

    def chunk_index(self, index: int) -> int:
        return index

    def element_type(self, key: str | int) -> SSZType:
        if isinstance(key, int) or key not in self.field_index:
            raise SSZError(f"{self.name} has no field {key!r}")
        return self.fields[self.field_index[key]][1]

    def first_offset_position(self) -> int | None:
        """Where the first variable field's offset sits in the fixed part (layout recognition)."""
        position = 0
        for _, ftype in self.fields:
            if ftype.fixed_size is None:
                return position
            position += ftype.fixed_size
        return None

    def spans(self, buf: Buf, start: int, end: int, path: str) -> list[tuple[int, int]]:
        """Absolute (start, end) of every field, validating the offsets."""
        size = end - start
        if self._fixed_size is not None:
            self._expect_size(start, end, path)
        elif size < self.fixed_part_size:
            raise SSZError(
                f"truncated: the fixed part needs {self.fixed_part_size} bytes, got {size}",
                path=path,
                offset=start + size,
            )
        spans: list[tuple[int, int]] = []
        variable: list[tuple[int, int]] = []  # (field index, offset)
        position = 0
        for i, (fname, ftype) in enumerate(self.fields):
            fsize = ftype.fixed_size
            if fsize is None:
                offset = _read_offset(buf, start + position)
                if not variable and offset != self.fixed_part_size:
                    raise SSZError(
                        f"first offset is {offset}, expected the fixed-part size {self.fixed_part_size}",
                        path=f"{path}.{fname}",
                        offset=start + position,
                    )
                if variable and offset < variable[-1][1]:
                    raise SSZError(
                        f"offset {offset} is before the previous field's offset {variable[-1][1]}",
                        path=f"{path}.{fname}",
                        offset=start + position,
                    )
                if offset > size:
                    raise SSZError(
                        f"offset {offset} is past the end ({size} bytes)",
                        path=f"{path}.{fname}",
                        offset=start + position,
                    )
                variable.append((i, offset))
                spans.append((-1, -1))
                position += OFFSET_SIZE
            else:
                spans.append((start + position, start + position + fsize))
                position += fsize
        for k, (i, offset) in enumerate(variable):
            stop = variable[k + 1][1] if k + 1 < len(variable) else size
            spans[i] = (start + offset, start + stop)
        return spans

    def subtree(self, buf: Buf, start: int, end: int, path: str, cache: MerkleCache | None = None) -> Subtree:
        spans = self.spans(buf, start, end, path)
        children = [
            ftype.subtree(buf, s, e, f"{path}.{fname}", cache)
            for (fname, ftype), (s, e) in zip(self.fields, spans, strict=True)
        ]
        return self.subtree_of(children)

    def subtree_of(self, children: Sequence[Subtree]) -> Subtree:
        leaves = np.frombuffer(b"".join(c.root for c in children), dtype=np.uint8).reshape(-1, 32)
        composite = [not ftype.is_basic for _, ftype in self.fields]
        return Subtree(
            ChunkTree.build(leaves, self.depth),
            None,
            lambda i: children[i] if i < len(children) and composite[i] else None,
        )

    def roots(self, records: Buf, path: str, base: int) -> Chunks:
        n = records.shape[0]
        width = 1 << self.depth
        leaves = np.zeros((n, width, 32), dtype=np.uint8)
        position = 0
        for i, (fname, ftype) in enumerate(self.fields):
            fsize = ftype.fixed_size
            assert fsize is not None
            ftype.write_roots(records[:, position : position + fsize], leaves[:, i], f"{path}.{fname}", base + position)
            position += fsize
        return merkleize_rows(leaves.reshape(n, width * 32), width)

    def decode(self, buf: Buf, start: int, end: int, path: str) -> dict[str, Any]:
        spans = self.spans(buf, start, end, path)
        return {
            fname: ftype.decode(buf, s, e, f"{path}.{fname}")
            for (fname, ftype), (s, e) in zip(self.fields, spans, strict=True)
        }

    def encode(self, value: Any) -> bytes:
        unknown = set(value) - set(self.field_index)
        if unknown:
            raise SSZError(f"{self.name} has no field(s) {sorted(unknown)}")
        fixed: list[bytes | None] = []
        variable: list[bytes] = []
        for fname, ftype in self.fields:
            data = ftype.encode(value[fname] if fname in value else ftype.default())
            if ftype.fixed_size is None:
                fixed.append(None)
                variable.append(data)
            else:
                fixed.append(data)
        position = self.fixed_part_size
        parts: list[bytes] = []
        var_iter = iter(variable)
        for part in fixed:
            if part is None:
                parts.append(position.to_bytes(OFFSET_SIZE, "little"))
                position += len(next(var_iter))
            else:
                parts.append(part)
        return b"".join(parts + variable)

    def default(self) -> dict[str, Any]:
        return {fname: ftype.default() for fname, ftype in self.fields}


def gindex_of(root_type: SSZType, path: Sequence[str | int]) -> tuple[int, SSZType]:
    """Generalized index of `path` below a value of `root_type` (the consensus specs' algorithm).

    A path step is a field name, an element index, or "__len__" for a list's length."""
    gindex = 1
    current = root_type
    for step in path:
        if step == "__len__":
            if not current.has_length:
                raise SSZError(f"{current.name} has no length")
            gindex = gindex * 2 + 1
            current = UInt(256)
            continue
        if current.has_length:
            gindex *= 2  # the data half of a list's mix-in
        if isinstance(current, Container):
            if not isinstance(step, str):
                raise SSZError(f"{current.name} is indexed by field name, not {step!r}")
            position = current.field_index.get(step)
            if position is None:
                raise SSZError(f"{current.name} has no field {step!r}")
            gindex = (gindex << current.depth) + position
            current = current.fields[position][1]
        elif isinstance(current, _Sequence):
            if not isinstance(step, int) or step < 0 or step >= current._capacity:
                raise SSZError(f"index {step!r} is out of range for {current.name}")
            gindex = (gindex << current.depth) + current.chunk_index(step)
            current = current.elem
        else:
            raise SSZError(f"{current.name} has no element {step!r}")
    return gindex, current


def concat_gindices(*gindices: int) -> int:
    """The gindex reached by following each gindex from the node the previous one reached."""
    result = 1
    for g in gindices:
        depth = g.bit_length() - 1
        result = (result << depth) | (g - (1 << depth))
    return result

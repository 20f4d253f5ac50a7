"""Sequences of one element type: Vector and List, and their shared logic (_Sequence)."""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any

import numpy as np

from oracle.ssz.errors import SSZError
from oracle.ssz.hashing import Chunks, task_pool, thread_count
from oracle.ssz.merkle import ChunkTree, Subtree, merkleize_rows, pad_chunks
from oracle.ssz.types.base import (
    _BATCH_ROWS,
    _CACHE_MIN_CHUNKS,
    OFFSET_SIZE,
    Buf,
    MerkleCache,
    SSZType,
    _fixed_chunk_rows,
    _read_offset,
    ceil_log2,
)
from oracle.ssz.types.basic import Boolean
from oracle.ssz.types.bytes import ByteVector


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

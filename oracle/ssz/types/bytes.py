"""Byte and bit strings: ByteVector, ByteList, Bitvector, Bitlist."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from oracle.ssz.errors import SSZError
from oracle.ssz.hashing import Chunks
from oracle.ssz.merkle import ChunkTree, Subtree, merkleize_rows, pad_chunks
from oracle.ssz.types.base import Buf, MerkleCache, SSZType, _fixed_chunk_rows, _row_path, ceil_log2


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

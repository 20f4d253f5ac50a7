"""Basic types: UInt and Boolean."""

from __future__ import annotations

from typing import Any

import numpy as np

from oracle.ssz.errors import SSZError
from oracle.ssz.hashing import Chunks
from oracle.ssz.merkle import ChunkTree, Subtree, pad_chunks
from oracle.ssz.types.base import Buf, MerkleCache, SSZType, _row_path


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

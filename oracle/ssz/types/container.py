"""Containers, and the generalized indices of paths below a type (gindex_of, concat_gindices)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from oracle.ssz.errors import SSZError
from oracle.ssz.hashing import Chunks
from oracle.ssz.merkle import ChunkTree, Subtree, merkleize_rows
from oracle.ssz.types.base import OFFSET_SIZE, Buf, MerkleCache, SSZType, _read_offset, ceil_log2
from oracle.ssz.types.basic import UInt
from oracle.ssz.types.sequence import _Sequence


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

"""SSZ types declared as data; sizes, offsets, roots, subtrees and gindices derive from the declaration.

Every type works on a numpy uint8 view of the whole input (`buf`) between absolute byte offsets, so errors
can name the byte, and big lists are never split into Python objects: fixed-size elements are rows of a
2-D view and their roots are computed for all rows at once (`roots`).

The package is split by kind: `base` (SSZType, MerkleCache, shared helpers), `basic` (UInt, Boolean),
`bytes` (ByteVector, ByteList, Bitvector, Bitlist), `sequence` (Vector, List) and `container` (Container,
gindex_of, concat_gindices). Every name the former single module had is importable from here.
"""

from oracle.ssz.hashing import Chunks
from oracle.ssz.merkle import ChunkTree, Subtree
from oracle.ssz.types.base import (
    _BATCH_ROWS,
    _CACHE_MIN_CHUNKS,
    OFFSET_SIZE,
    Buf,
    MerkleCache,
    SSZType,
    _CacheEntry,
    _fixed_chunk_rows,
    _read_offset,
    _row_path,
    ceil_log2,
)
from oracle.ssz.types.basic import Boolean, UInt
from oracle.ssz.types.bytes import Bitlist, Bitvector, ByteList, ByteVector
from oracle.ssz.types.container import Container, concat_gindices, gindex_of
from oracle.ssz.types.sequence import List, Vector, _batched_roots, _Sequence

__all__ = [
    "OFFSET_SIZE",
    "_BATCH_ROWS",
    "_CACHE_MIN_CHUNKS",
    "Bitlist",
    "Bitvector",
    "Boolean",
    "Buf",
    "ByteList",
    "ByteVector",
    "ChunkTree",
    "Chunks",
    "Container",
    "List",
    "MerkleCache",
    "SSZType",
    "Subtree",
    "UInt",
    "Vector",
    "_CacheEntry",
    "_Sequence",
    "_batched_roots",
    "_fixed_chunk_rows",
    "_read_offset",
    "_row_path",
    "ceil_log2",
    "concat_gindices",
    "gindex_of",
]

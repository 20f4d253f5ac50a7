"""Flat Merkle trees: every level is one (n, 32) array, and a value's tree links to its children's trees.

A `ChunkTree` holds the layers of one SSZ merkleization (leaves are chunks or element roots), padded
virtually with zero subtrees up to the type's depth. A `Subtree` is a value's tree plus, for lists, the
length mixed in, plus a way to reach the subtree of a composite child; `node_at` walks any generalized
index down through these, which is all a proof needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from oracle.ssz.diff import changed_rows
from oracle.ssz.errors import SSZError
from oracle.ssz.hashing import ZERO_HASH_ARRAY, ZERO_HASHES, Chunks, hash_node, hash_pairs

# An incremental update beyond this share of changed leaves rebuilds the tree instead.
_REBUILD_SHARE = 4


@dataclass(frozen=True)
class ChunkTree:
    depth: int
    layers: tuple[Chunks, ...]  # layers[0]: leaves; layers[depth]: the root (one row, or none if empty)

    @classmethod
    def build(cls, leaves: Chunks, depth: int) -> ChunkTree:
        if leaves.shape[0] > (1 << depth):
            raise ValueError(f"{leaves.shape[0]} chunks do not fit a tree of depth {depth}")
        layers = [leaves]
        layer = leaves
        for level in range(depth):
            if layer.shape[0] == 0:
                layers.append(layer)
                continue
            layer = _hash_layer(layer, level)
            layers.append(layer)
        return cls(depth, tuple(layers))

    @property
    def leaves(self) -> Chunks:
        return self.layers[0]

    @property
    def root(self) -> bytes:
        return self.node(self.depth, 0)

    def node(self, level: int, index: int) -> bytes:
        layer = self.layers[level]
        if index < layer.shape[0]:
            return bytes(layer[index].tobytes())
        return ZERO_HASHES[level]

    def updated(self, leaves: Chunks) -> ChunkTree:
        """The tree of `leaves`, rehashing only the paths above leaves that differ from this tree's."""
        old = self.layers[0]
        if leaves is old:
            return self
        if old.shape != leaves.shape:
            return ChunkTree.build(leaves, self.depth)
        changed = changed_rows(old, leaves, stop_after=old.shape[0] // _REBUILD_SHARE)
        if changed.size == 0:
            return ChunkTree(self.depth, (leaves, *self.layers[1:]))
        if changed.size * _REBUILD_SHARE > old.shape[0]:
            return ChunkTree.build(leaves, self.depth)
        layers = [leaves]
        indices = changed
        for level in range(self.depth):
            below = layers[level]
            parents = np.unique(indices >> 1)
            right = parents * 2 + 1
            present = right < below.shape[0]
            pairs = np.empty((parents.shape[0], 64), dtype=np.uint8)
            pairs[:, :32] = below[parents * 2]
            pairs[:, 32:] = ZERO_HASH_ARRAY[level]
            pairs[present, 32:] = below[right[present]]
            layer = self.layers[level + 1].copy()
            layer[parents] = hash_pairs(pairs)
            layers.append(layer)
            indices = parents
        return ChunkTree(self.depth, tuple(layers))


# Layers this narrow (a small container's fields, a pubkey's two chunks) hash faster one node at a time with
# hashlib than through the kernel's call overhead; a pool's multiproof builds thousands of such trees.
_SMALL_LAYER = 16


def _hash_small_layer(layer: Chunks, level: int) -> Chunks:
    data = layer.tobytes()
    if layer.shape[0] % 2:
        data += ZERO_HASHES[level]
    parents = b"".join(hash_node(data[i : i + 32], data[i + 32 : i + 64]) for i in range(0, len(data), 64))
    return np.frombuffer(bytearray(parents), dtype=np.uint8).reshape(-1, 32)


def _hash_layer(layer: Chunks, level: int) -> Chunks:
    """The parents of a layer; an odd last node pairs with the zero subtree of its level (no copy of the
    layer, which can be tens of megabytes)."""
    width = layer.shape[0]
    if width <= _SMALL_LAYER:
        return _hash_small_layer(layer, level)
    parents = np.empty(((width + 1) // 2, 32), dtype=np.uint8)
    even = width - width % 2
    if even:
        hash_pairs(layer[:even].reshape(-1, 64), out=parents[: even // 2])
    if width % 2:
        last = np.concatenate([layer[-1], ZERO_HASH_ARRAY[level]]).reshape(1, 64)
        hash_pairs(last, out=parents[-1:])
    return parents


def length_chunk(length: int) -> bytes:
    return length.to_bytes(32, "little")


def _no_children(_: int) -> Subtree | None:
    return None


@dataclass(frozen=True)
class Subtree:
    """The Merkle tree of one SSZ value."""

    tree: ChunkTree
    length: int | None = None  # mixed in for lists and bitlists
    child: Callable[[int], Subtree | None] = field(default=_no_children, compare=False)

    @property
    def root(self) -> bytes:
        if self.length is None:
            return self.tree.root
        return hash_node(self.tree.root, length_chunk(self.length))

    def node_at(self, gindex: int) -> bytes:
        """The node at a generalized index relative to this value's root."""
        if gindex < 1:
            raise SSZError(f"generalized index {gindex} is not positive")
        bits = bin(gindex)[3:]
        node: Subtree = self
        pos = 0
        while True:
            if pos == len(bits):
                return node.root
            if node.length is not None:
                bit = bits[pos]
                pos += 1
                if bit == "1":
                    if pos != len(bits):
                        raise SSZError(f"generalized index {gindex} goes below a list length")
                    return length_chunk(node.length)
                if pos == len(bits):
                    return node.tree.root
            depth = node.tree.depth
            remaining = len(bits) - pos
            if remaining <= depth:
                index = int(bits[pos:], 2) if remaining else 0
                return node.tree.node(depth - remaining, index)
            index = int(bits[pos : pos + depth], 2) if depth else 0
            pos += depth
            below = node.child(index)
            if below is None:
                raise SSZError(f"generalized index {gindex} goes below a leaf or past the end of a list")
            node = below

    def branch(self, gindex: int) -> list[bytes]:
        """Siblings of every node on the path from `gindex` up to this root, leaf first."""
        siblings = []
        while gindex > 1:
            siblings.append(self.node_at(gindex ^ 1))
            gindex >>= 1
        return siblings


def mix_in(root: bytes, length: int) -> bytes:
    return hash_node(root, length_chunk(length))


def pad_chunks(data: np.ndarray) -> Chunks:
    """Pack a byte array (already serialized basic values) into 32-byte chunks, zero-padding the last."""
    flat = data.reshape(-1)
    remainder = flat.shape[0] % 32
    if remainder:
        flat = np.concatenate([flat, np.zeros(32 - remainder, dtype=np.uint8)])
    return flat.reshape(-1, 32)


def merkleize_rows(rows: Chunks, width: int) -> Chunks:
    """Roots of many small trees at once: `rows` is (n, width*32) of leaves; width a power of two."""
    layer = rows.reshape(-1, 32)
    while width > 1:
        layer = hash_pairs(layer.reshape(-1, 64))
        width //= 2
    return layer.reshape(-1, 32)

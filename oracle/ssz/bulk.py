"""Many nodes of a merkleized value at once: read from its cached layers, and hashed up to the root.

A pool of 100,000 validators proves about 90,000 balance chunks with about 180,000 witnesses. Read one by
one (`Subtree.node_at` walks each generalized index down from the root) and checked with the spec's dict
of nodes, that is seconds of Python; here each tree level is one numpy gather from the layer that holds it,
and the self-check hashes each level of the multiproof in one batch of the layer kernel. Anything this path
cannot answer (a node below a leaf, past the end of a list) is left for `node_at`, which names the problem.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from oracle.ssz.errors import ProofError
from oracle.ssz.hashing import ZERO_HASH_ARRAY, Chunks, hash_pairs
from oracle.ssz.merkle import Subtree, length_chunk
from oracle.ssz.multiproof import GindexArray, gindex_depths

Mask = npt.NDArray[np.bool_]


def _as_row(node: bytes) -> Chunks:
    return np.frombuffer(node, dtype=np.uint8).reshape(1, 32)


def nodes_at(tree: Subtree, gindices: GindexArray) -> tuple[Chunks, Mask]:
    """(nodes, found): nodes[i] is the node at gindices[i] (relative to `tree`'s root) where found[i]."""
    n = gindices.shape[0]
    out = np.zeros((n, 32), dtype=np.uint8)
    found = np.zeros(n, dtype=bool)
    if n == 0:
        return out, found
    g = gindices.copy()
    depth = gindex_depths(g)
    active = depth > 0
    root = ~active
    if root.any():
        out[root] = _as_row(tree.root)
        found[root] = True
    if tree.length is not None:
        first = np.zeros(n, dtype=np.int64)
        first[active] = (g[active] >> (depth[active] - 1)) & 1
        is_length = active & (g == 3)
        if is_length.any():
            out[is_length] = _as_row(length_chunk(tree.length))
            found[is_length] = True
        active &= first == 0  # below the length chunk is nothing: left unfound
        top = np.left_shift(1, depth - 1, where=active, out=np.zeros(n, dtype=np.int64))
        g = np.where(active, top | (g & (top - 1)), g)  # drop the mix-in step: relative to the data root
        depth = np.where(active, depth - 1, depth)
        data_root = active & (depth == 0)
        if data_root.any():
            out[data_root] = _as_row(tree.tree.root)
            found[data_root] = True
        active &= ~data_root
    chunk_tree = tree.tree
    height = chunk_tree.depth
    inside = np.flatnonzero(active & (depth <= height))
    if inside.size:
        level = height - depth[inside]
        position = g[inside] - np.left_shift(1, depth[inside])
        for lv in np.unique(level).tolist():
            at = level == lv
            rows, where = position[at], inside[at]
            layer = chunk_tree.layers[lv]
            present = rows < layer.shape[0]
            out[where[present]] = layer[rows[present]]
            out[where[~present]] = ZERO_HASH_ARRAY[lv]
        found[inside] = True
    below = np.flatnonzero(active & (depth > height))
    if below.size:
        extra = depth[below] - height
        child = (g[below] >> extra) - (1 << height)
        relative = np.left_shift(1, extra) | (g[below] & (np.left_shift(1, extra) - 1))
        order = np.argsort(child, kind="stable")
        child, relative, below = child[order], relative[order], below[order]
        starts = np.flatnonzero(np.concatenate([[True], child[1:] != child[:-1]]))
        ends = np.append(starts[1:], child.shape[0])
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            subtree = tree.child(int(child[lo]))
            if subtree is None:
                continue  # past the end of a list or below a leaf: node_at says so
            nodes, got = nodes_at(subtree, relative[lo:hi])
            out[below[lo:hi]] = nodes
            found[below[lo:hi]] = got
    return out, found


def multiproof_root(
    gindices: GindexArray, leaves: Chunks, helpers: GindexArray, witnesses: Chunks, wanted: int
) -> tuple[bytes, bytes | None]:
    """(root, the node at `wanted` if the multiproof knows or computes it) of a multiproof whose helpers are
    get_helper_indices(gindices): each level's known nodes pair up with their siblings, and the pairs of a level
    are hashed in one batch. ProofError if a level does not pair up (helpers not the gindices' own)."""
    known = np.concatenate([gindices, helpers])
    values = np.concatenate([leaves, witnesses])
    order = np.argsort(known, kind="stable")
    known, values = known[order], values[order]
    depth = gindex_depths(known)
    top = int(depth[-1])
    bounds = np.searchsorted(depth, np.arange(top + 2))
    wanted_depth = wanted.bit_length() - 1
    level_g = np.zeros(0, dtype=np.int64)
    level_v = np.zeros((0, 32), dtype=np.uint8)
    found: bytes | None = None
    for d in range(top, 0, -1):
        here = slice(bounds[d], bounds[d + 1])
        if bounds[d + 1] > bounds[d]:
            level_g = np.concatenate([level_g, known[here]])
            level_v = np.concatenate([level_v, values[here]])
            order = np.argsort(level_g, kind="stable")
            level_g, level_v = level_g[order], level_v[order]
        if d == wanted_depth:
            at = np.searchsorted(level_g, wanted)
            if at < level_g.shape[0] and level_g[at] == wanted:
                found = bytes(level_v[at].tobytes())
        left, right = level_g[0::2], level_g[1::2]
        if level_g.shape[0] % 2 or bool((left & 1).any()) or not np.array_equal(right, left + 1):
            raise ProofError(f"the multiproof's nodes at depth {d} do not pair up with their siblings")
        level_v = hash_pairs(np.ascontiguousarray(level_v).reshape(-1, 64))
        level_g = left >> 1
    if level_g.shape[0] != 1:
        raise ProofError("the multiproof does not reach the root")
    root = bytes(level_v[0].tobytes())
    return root, (root if wanted == 1 else found)

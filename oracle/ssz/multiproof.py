"""Merkle multiproofs as consensus-specs `ssz/merkle-proofs.md` defines them, on hashlib alone.

`get_branch_indices`, `get_path_indices`, `get_helper_indices` and `calculate_multi_merkle_root` follow the
spec line by line. The verifier is stricter than the spec's in two cases the spec leaves open, both of which
would let a leaf go unchecked: a generalized index listed twice (the spec's dict keeps the last leaf, so a
forged first one still verifies), and an index below another listed index (the spec never hashes up from it,
since its ancestor is already known). Verification shares no code with the layer kernel that builds trees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from oracle.ssz.errors import ProofError
from oracle.ssz.hashing import hash_node

NODE_SIZE = 32
GindexArray = npt.NDArray[np.int64]
# From this many indices on, the index sets are worked out with numpy a tree level at a time (a pool of
# 100,000 validators has as many balance chunks, and a Python set of their paths costs seconds).
VECTOR_MIN = 256
# numpy works on int64; generalized indices of the layouts stay below 2^55, hostile ones need not.
_VECTOR_LIMIT = 1 << 62


def gindex_depths(gindices: GindexArray) -> GindexArray:
    """floor(log2(g)) of each generalized index (its depth below the root), exactly, for 1 <= g < 2^62."""
    depth = np.floor(np.log2(gindices.astype(np.float64))).astype(np.int64)
    depth -= np.left_shift(1, depth) > gindices  # the float may round up to the next power of two
    depth += np.left_shift(1, depth + 1) <= gindices
    return depth


def as_gindex_array(indices: Sequence[int]) -> GindexArray | None:
    """The indices as an int64 array, or None unless every one is a plain int in [1, 2^62)."""
    if set(map(type, indices)) != {int}:  # bool is an int too, but not an index
        return None
    try:
        array = np.fromiter(indices, dtype=np.int64, count=len(indices))
    except OverflowError:
        return None
    if array.size and (int(array.min()) < 1 or int(array.max()) >= _VECTOR_LIMIT):
        return None
    return array


def sorted_unique(array: GindexArray) -> GindexArray:
    """np.unique by sorting (numpy's hash-based unique is several times slower on these sizes)."""
    ordered = np.sort(array)
    keep = np.ones(ordered.shape[0], dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def _by_depth(unique: GindexArray) -> tuple[GindexArray, int]:
    """For sorted unique indices: where each depth starts (positions for depths 0 .. top+1), and the top depth."""
    depth = gindex_depths(unique)
    top = int(depth[-1])
    return np.searchsorted(depth, np.arange(top + 2)), top


def _parents(level: GindexArray) -> GindexArray:
    """The distinct parents of a sorted level, sorted."""
    parents = level >> 1
    keep = np.ones(parents.shape[0], dtype=bool)
    keep[1:] = parents[1:] != parents[:-1]
    return parents[keep]


def helper_indices_array(indices: GindexArray) -> GindexArray:
    """get_helper_indices of an int64 array, decreasing: per tree level, from the deepest, the path nodes are
    the listed indices there and the parents of the level below, and the helpers are the siblings of path
    nodes that are not path nodes themselves (in a sorted level, a sibling on the path is a neighbour)."""
    unique = sorted_unique(indices[indices > 1])
    if unique.size == 0:
        return np.zeros(0, dtype=np.int64)
    bounds, top = _by_depth(unique)
    helpers: list[GindexArray] = []
    path = np.zeros(0, dtype=np.int64)
    for depth in range(top, 0, -1):
        listed = unique[bounds[depth] : bounds[depth + 1]]
        if listed.size:
            path = listed if path.size == 0 else np.union1d(path, listed)
        paired = ((path[:-1] & 1) == 0) & (path[1:] == path[:-1] + 1)
        on_path = np.zeros(path.shape[0], dtype=bool)
        on_path[:-1] |= paired
        on_path[1:] |= paired
        helpers.append((path[~on_path] ^ 1)[::-1])
        path = _parents(path)
    return np.concatenate(helpers)


def _indices_are_valid(array: GindexArray) -> bool:
    """check_indices' rules on an int64 array of indices >= 1: listed once, none below another."""
    ordered = np.sort(array)
    if ordered.size > 1 and bool((ordered[1:] == ordered[:-1]).any()):
        return False
    bounds, top = _by_depth(ordered)
    above = np.zeros(0, dtype=np.int64)  # the ancestors, at this depth, of the indices listed deeper
    for depth in range(top, -1, -1):
        listed = ordered[bounds[depth] : bounds[depth + 1]]
        if listed.size:
            if above.size and bool(np.isin(listed, above, assume_unique=True).any()):
                return False
            above = listed if above.size == 0 else np.union1d(above, listed)
        above = _parents(above) if depth else above
    return True


def generalized_index_sibling(index: int) -> int:
    return index ^ 1


def generalized_index_parent(index: int) -> int:
    return index // 2


def get_branch_indices(tree_index: int) -> list[int]:
    """The sister nodes along the path from `tree_index` up to the root (leaf first)."""
    o = [generalized_index_sibling(tree_index)]
    while o[-1] > 1:
        o.append(generalized_index_sibling(generalized_index_parent(o[-1])))
    return o[:-1]


def get_path_indices(tree_index: int) -> list[int]:
    """The nodes on the path from `tree_index` up to the root, the root excluded (leaf first)."""
    o = [tree_index]
    while o[-1] > 1:
        o.append(generalized_index_parent(o[-1]))
    return o[:-1]


def get_helper_indices(indices: Sequence[int]) -> list[int]:
    """The extra nodes a multiproof of `indices` carries, in decreasing order (a single-item multiproof's
    helpers are then its branch, leaf first).

    The spec's result, computed without walking shared paths twice: every branch index is the sibling of a
    path index, so the helpers are the siblings of the union of paths that are not on it. A walk up from an
    index stops at the first node an earlier walk reached (a pool's thousands of paths share their upper
    levels); from VECTOR_MIN indices on, a tree level at a time with numpy (`helper_indices_array`).
    tests/test_multiproof.py checks both against the spec's text."""
    if len(indices) >= VECTOR_MIN:
        array = as_gindex_array(indices)
        if array is not None:
            listed: list[int] = helper_indices_array(array).tolist()
            return listed
    all_path_indices: set[int] = set()
    for index in indices:
        node = index
        while node > 1 and node not in all_path_indices:
            all_path_indices.add(node)
            node = generalized_index_parent(node)
    helpers = {generalized_index_sibling(node) for node in all_path_indices}
    return sorted(helpers - all_path_indices, reverse=True)


def check_indices(indices: Sequence[int]) -> None:
    """Raise ProofError unless every index is positive, listed once, and below no other listed index."""
    if not indices:
        raise ProofError("a multiproof needs at least one generalized index")
    if len(indices) >= VECTOR_MIN:
        array = as_gindex_array(indices)
        if array is not None and _indices_are_valid(array):
            return
        # Otherwise the walk below finds the first problem and names it.
    seen: set[int] = set()
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int) or index < 1:
            raise ProofError(f"generalized index {index!r} is not a positive integer")
        if index in seen:
            raise ProofError(f"generalized index {index} is listed twice")
        seen.add(index)
    for index in indices:
        ancestor = index >> 1
        while ancestor >= 1:
            if ancestor in seen:
                raise ProofError(f"generalized index {index} lies below generalized index {ancestor}, also listed")
            ancestor >>= 1


def _check_nodes(nodes: Sequence[bytes], what: str) -> None:
    for position, node in enumerate(nodes):
        if not isinstance(node, bytes | bytearray) or len(node) != NODE_SIZE:
            size = len(node) if isinstance(node, bytes | bytearray) else type(node).__name__
            raise ProofError(f"{what}[{position}] is {size} bytes, expected {NODE_SIZE}")


def calculate_multi_merkle_nodes(
    leaves: Sequence[bytes], proof: Sequence[bytes], indices: Sequence[int]
) -> dict[int, bytes]:
    """Every node the spec's `calculate_multi_merkle_root` knows or computes, by generalized index (so a
    caller can also read an inner node, e.g. the state root below a block root)."""
    check_indices(indices)
    if len(leaves) != len(indices):
        raise ProofError(f"{len(leaves)} leaves for {len(indices)} generalized indices")
    helper_indices = get_helper_indices(indices)
    if len(proof) != len(helper_indices):
        raise ProofError(f"{len(proof)} witnesses, the generalized indices need {len(helper_indices)}")
    _check_nodes(leaves, "leaves")
    _check_nodes(proof, "witnesses")
    objects = {
        **{index: bytes(node) for index, node in zip(indices, leaves, strict=True)},
        **{index: bytes(node) for index, node in zip(helper_indices, proof, strict=True)},
    }
    keys = sorted(objects.keys(), reverse=True)
    pos = 0
    while pos < len(keys):
        k = keys[pos]
        if k in objects and k ^ 1 in objects and k // 2 not in objects:
            objects[k // 2] = hash_node(objects[(k | 1) ^ 1], objects[k | 1])
            keys.append(k // 2)
        pos += 1
    if 1 not in objects:  # unreachable for checked indices and complete helpers; kept as a guard
        raise ProofError("the multiproof does not reach the root")
    return objects


def calculate_multi_merkle_root(leaves: Sequence[bytes], proof: Sequence[bytes], indices: Sequence[int]) -> bytes:
    return calculate_multi_merkle_nodes(leaves, proof, indices)[1]


def verify_merkle_multiproof(
    leaves: Sequence[bytes], proof: Sequence[bytes], indices: Sequence[int], root: bytes
) -> bool:
    try:
        return calculate_multi_merkle_root(leaves, proof, indices) == root
    except ProofError:
        return False


def build_multiproof(node_at: Callable[[int], bytes], indices: Sequence[int]) -> tuple[list[bytes], list[bytes]]:
    """(leaves in the order of `indices`, witnesses in `get_helper_indices` order) read from a tree."""
    check_indices(indices)
    return [node_at(g) for g in indices], [node_at(h) for h in get_helper_indices(indices)]

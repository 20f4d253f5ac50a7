"""Merkle multiproofs as consensus-specs `ssz/merkle-proofs.md` defines them, on hashlib alone.

`get_branch_indices`, `get_path_indices`, `get_helper_indices` and `calculate_multi_merkle_root` follow the
spec line by line. The verifier is stricter than the spec's in two cases the spec leaves open, both of which
would let a leaf go unchecked: a generalized index listed twice (the spec's dict keeps the last leaf, so a
forged first one still verifies), and an index below another listed index (the spec never hashes up from it,
since its ancestor is already known). Verification shares no code with the layer kernel that builds trees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from oracle.ssz.errors import ProofError
from oracle.ssz.hashing import hash_node

NODE_SIZE = 32


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
    levels). tests/test_multiproof.py checks it against the spec's text."""
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

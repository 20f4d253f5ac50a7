"""Merkle proof verification and multiproofs (the consensus specs' algorithms), on hashlib alone.

Verification deliberately shares no code with the layer kernel that builds proofs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from oracle.ssz.errors import ProofError
from oracle.ssz.hashing import hash_node


def compute_root(leaf: bytes, branch: Sequence[bytes], gindex: int) -> bytes:
    """The root reached from `leaf` at `gindex` with `branch` (siblings, leaf first)."""
    if gindex < 1:
        raise ProofError(f"generalized index {gindex} is not positive")
    if len(branch) != gindex.bit_length() - 1:
        raise ProofError(f"branch has {len(branch)} nodes, gindex {gindex} needs {gindex.bit_length() - 1}")
    node = leaf
    for sibling in branch:
        if len(sibling) != 32:
            raise ProofError(f"branch node of {len(sibling)} bytes, expected 32")
        node = hash_node(sibling, node) if gindex & 1 else hash_node(node, sibling)
        gindex >>= 1
    return node


def verify_branch(leaf: bytes, branch: Sequence[bytes], gindex: int, root: bytes) -> bool:
    try:
        return compute_root(leaf, branch, gindex) == root
    except ProofError:
        return False


def _sibling(g: int) -> int:
    return g ^ 1


def _branch_indices(g: int) -> list[int]:
    out = [_sibling(g)]
    while out[-1] > 1:
        out.append(_sibling(out[-1] // 2))
    return out[:-1]


def _path_indices(g: int) -> list[int]:
    out = [g]
    while out[-1] > 1:
        out.append(out[-1] // 2)
    return out[:-1]


def helper_indices(gindices: Sequence[int]) -> list[int]:
    """Nodes a multiproof of `gindices` must carry, in decreasing order (the specs' get_helper_indices)."""
    helpers: set[int] = set()
    paths: set[int] = set()
    for g in gindices:
        helpers.update(_branch_indices(g))
        paths.update(_path_indices(g))
    return sorted(helpers - paths, reverse=True)


def build_multiproof(node_at: Callable[[int], bytes], gindices: Sequence[int]) -> tuple[list[bytes], list[bytes]]:
    """(leaves in the order of `gindices`, proof nodes in helper order)."""
    return [node_at(g) for g in gindices], [node_at(h) for h in helper_indices(gindices)]


def compute_multiproof_root(leaves: Sequence[bytes], proof: Sequence[bytes], gindices: Sequence[int]) -> bytes:
    if len(leaves) != len(gindices):
        raise ProofError(f"{len(leaves)} leaves for {len(gindices)} indices")
    helpers = helper_indices(gindices)
    if len(proof) != len(helpers):
        raise ProofError(f"multiproof has {len(proof)} nodes, expected {len(helpers)}")
    objects = dict(zip(gindices, leaves, strict=True)) | dict(zip(helpers, proof, strict=True))
    keys = sorted(objects, reverse=True)
    position = 0
    while position < len(keys):
        k = keys[position]
        if k > 1 and k in objects and (k ^ 1) in objects and (k // 2) not in objects:
            left, right = (objects[k & ~1], objects[k | 1])
            objects[k // 2] = hash_node(left, right)
            keys.append(k // 2)
        position += 1
    if 1 not in objects:
        raise ProofError("multiproof does not reach the root")
    return objects[1]


def verify_multiproof(leaves: Sequence[bytes], proof: Sequence[bytes], gindices: Sequence[int], root: bytes) -> bool:
    try:
        return compute_multiproof_root(leaves, proof, gindices) == root
    except ProofError:
        return False

"""Merkle proof verification (the consensus specs' algorithm), on hashlib alone.

Verification deliberately shares no code with the layer kernel that builds proofs.
"""

from __future__ import annotations

from collections.abc import Sequence

from oracle.ssz.errors import ProofError
from oracle.ssz.hashing import hash_node
from oracle.ssz.multiproof import (
    build_multiproof,
    calculate_multi_merkle_root,
    get_helper_indices,
    verify_merkle_multiproof,
)


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


# Multiproofs live in oracle.ssz.multiproof (the spec's algorithms, stricter where the spec is unsound); these
# are the names the state and older callers use.
__all__ = ["build_multiproof", "compute_root", "verify_branch"]
helper_indices = get_helper_indices
compute_multiproof_root = calculate_multi_merkle_root
verify_multiproof = verify_merkle_multiproof

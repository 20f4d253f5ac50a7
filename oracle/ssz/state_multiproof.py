"""Multiproofs of a beacon state anchored at its block root, built from the state's cached Merkle layers (only
the small trees of a pool's own validators are hashed, all in one batch; big pools are read in bulk and
self-checked a level at a time), and Lodestar's compact multiproofs of the state tree."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from oracle.ssz.bulk import multiproof_root, nodes_at
from oracle.ssz.compact import descriptor_gindices, nodes_from_compact, state_to_block_gindex
from oracle.ssz.errors import ProofError, SSZError
from oracle.ssz.hashing import hash_pairs
from oracle.ssz.merkle import Subtree
from oracle.ssz.multiproof import (
    VECTOR_MIN,
    as_gindex_array,
    calculate_multi_merkle_nodes,
    check_indices,
    get_helper_indices,
    gindex_depths,
)
from oracle.ssz.multiproof_document import (
    PUBKEY_SIZE,
    StateMultiproof,
    index_array,
    pool_gindices,
    proven_balances,
)
from oracle.ssz.state import BeaconState, pubkey_leaf
from oracle.ssz.types import Buf, Container, List


def element_nodes(state: BeaconState, gindices: Iterable[int]) -> dict[int, bytes]:
    """The nodes among `gindices` that lie inside the small trees of list elements (a validator's fields
    and their inner hashes), hashed for all the elements they touch at once: one by one, each element's tree
    costs more than all the rest of a pool's proof. Deeper nodes (a pubkey's two chunks) are left out."""
    wanted = list(gindices)
    array = as_gindex_array(wanted) if len(wanted) >= VECTOR_MIN else None
    depths = None if array is None else gindex_depths(array)
    found: dict[int, bytes] = {}
    for name, ftype in state.layout.state.fields:
        elem = ftype.elem if isinstance(ftype, List) else None
        size = elem.fixed_size if isinstance(elem, Container) else None
        if not isinstance(elem, Container) or size is None:
            continue
        start, end = state.spans[name]
        count = (end - start) // size
        if count:
            records = state.buf[start:end].reshape(count, size)
            first = state.layout.gindex(name, 0)
            candidates = wanted
            if array is not None and depths is not None:
                # Only the gindices inside these elements' trees, picked with numpy (a pool's balance proof
                # has hundreds of thousands of nodes, none of them here).
                extra = depths - (first.bit_length() - 1)
                inside = (extra > 0) & (extra <= elem.depth)
                index = np.zeros_like(array)
                index[inside] = (array[inside] >> extra[inside]) - first
                inside &= (index >= 0) & (index < count)
                candidates = [wanted[i] for i in np.flatnonzero(inside).tolist()]
            found.update(_container_nodes(elem, records, first, candidates, name))
    return found


def _container_nodes(elem: Container, records: Buf, first: int, gindices: Sequence[int], name: str) -> dict[int, bytes]:
    """Nodes at `gindices` inside elements of a list of containers whose element 0 is at gindex `first`."""
    count, depth = records.shape[0], elem.depth
    below: dict[int, list[int]] = {}  # element index -> gindices inside its tree
    for gindex in gindices:
        extra = gindex.bit_length() - first.bit_length()
        if 0 < extra <= depth:
            index = (gindex >> extra) - first
            if 0 <= index < count:
                below.setdefault(index, []).append(gindex)
    if not below:
        return {}
    rows = np.fromiter(below, dtype=np.int64)
    width = 1 << depth
    layer = np.zeros((rows.shape[0], width, 32), dtype=np.uint8)
    position = 0
    for i, (fname, ftype) in enumerate(elem.fields):
        size = ftype.fixed_size or 0
        fields = records[rows, position : position + size]
        ftype.write_roots(fields, layer[:, i], f"BeaconState.{name}[{{i}}].{fname}", 0)
        position += size
    layers = [layer]  # layers[level]: (elements, width >> level, 32)
    for _ in range(depth):
        layer = hash_pairs(layer.reshape(-1, 64)).reshape(rows.shape[0], -1, 32)
        layers.append(layer)
    found: dict[int, bytes] = {}
    for row, index in enumerate(below):
        for gindex in below[index]:
            extra = gindex.bit_length() - first.bit_length()
            found[gindex] = bytes(layers[depth - extra][row, gindex & ((1 << extra) - 1)].tobytes())
    return found


def memoized(tree: Subtree) -> Subtree:
    """The same tree, but each composite child is built once however many nodes are read below it (a list
    of containers rebuilds an element's small tree on every visit; a pubkey proof visits it four times)."""
    children: dict[int, Subtree | None] = {}

    def child(index: int) -> Subtree | None:
        if index not in children:
            below = tree.child(index)
            children[index] = None if below is None else memoized(below)
        return children[index]

    return Subtree(tree.tree, tree.length, child)


# From this many nodes on, a multiproof is read from the layers in bulk and self-checked a level at a time.
_BULK_MIN = 2048


def _read_nodes(state: BeaconState, wanted: Sequence[int], array: npt.NDArray[np.int64]) -> Buf:
    """The nodes at `wanted` (block-root gindices, also given as `array`), as an (n, 32) array: the list
    elements' small trees hashed in one batch, the rest gathered from the cached layers level by level, and
    whatever that cannot reach walked one by one (node_at then names the problem)."""
    inner = element_nodes(state, wanted)
    tree = memoized(state.block_tree)
    outside = np.ones(array.shape[0], dtype=bool)
    if inner:
        for i, g in enumerate(wanted):
            if g in inner:
                outside[i] = False
    out = np.zeros((array.shape[0], 32), dtype=np.uint8)
    found = ~outside
    out[outside], found[outside] = nodes_at(tree, array[outside])
    if inner:
        for i in np.flatnonzero(~outside).tolist():
            out[i] = np.frombuffer(inner[wanted[i]], dtype=np.uint8)
    missing = np.flatnonzero(~found).tolist()
    for i in missing:
        g = wanted[i]
        out[i] = np.frombuffer(tree.node_at(g), dtype=np.uint8)
    return out


def build_state_multiproof(
    state: BeaconState,
    gindices: Sequence[int],
    *,
    validator_indices: Sequence[int] = (),
    pubkeys: Sequence[bytes] = (),
    total_balance: int = 0,
) -> StateMultiproof:
    """A multiproof of `gindices` (block-root generalized indices) read from the state's cached tree, in
    decreasing gindex order, recomputed to the block root before it is returned."""
    ordered = sorted(gindices, reverse=True)
    check_indices(ordered)
    helpers = get_helper_indices(ordered)
    state_gindex = state.layout.header_state_root_gindex
    wanted = [*ordered, *helpers]
    array = as_gindex_array(wanted) if len(wanted) >= _BULK_MIN else None
    if array is not None:
        nodes_array = _read_nodes(state, wanted, array)
        count = len(ordered)
        root, state_node = multiproof_root(
            array[:count], nodes_array[:count], array[count:], nodes_array[count:], state_gindex
        )
        blob = nodes_array.tobytes()
        leaves = [blob[32 * i : 32 * i + 32] for i in range(count)]
        witnesses = [blob[32 * i : 32 * i + 32] for i in range(count, len(wanted))]
    else:
        read = element_nodes(state, wanted).get
        tree = memoized(state.block_tree)
        leaves = [read(g) or tree.node_at(g) for g in ordered]
        witnesses = [read(h) or tree.node_at(h) for h in helpers]
        nodes = calculate_multi_merkle_nodes(leaves, witnesses, ordered)
        root, state_node = nodes[1], nodes.get(state_gindex)
    if root != state.block_root:
        raise ProofError("self-check failed: the built multiproof does not reach the block root")
    if state_node is not None and state_node != state.state_root:
        raise ProofError("self-check failed: the built multiproof passes a different state root")
    return StateMultiproof(
        layout=state.layout.name,
        slot=state.slot,
        state_root=state.state_root,
        block_root=state.block_root,
        gindices=tuple(ordered),
        leaves=tuple(leaves),
        witnesses=tuple(witnesses),
        validator_indices=tuple(validator_indices),
        pubkeys=tuple(pubkeys),
        total_balance=total_balance,
    )


def build_compact_proof(state: BeaconState, descriptor: bytes) -> list[bytes]:
    """The leaves of Lodestar's compact multiproof of `descriptor` (gindices from the STATE root), read from the
    state's cached tree as build_state_multiproof reads them, checked against the state root. ProofError for a
    malformed descriptor or one that reaches below the state's leaves or past the end of a list."""
    layout = state.layout
    gindices = descriptor_gindices(descriptor)
    in_block = [state_to_block_gindex(layout, g) for g in gindices]
    read = element_nodes(state, in_block).get
    tree = memoized(state.tree)
    try:
        leaves = [read(b) or tree.node_at(g) for g, b in zip(gindices, in_block, strict=True)]
    except SSZError as exc:
        raise ProofError(f"the descriptor reaches a node the state does not have: {exc}") from None
    if nodes_from_compact(descriptor, leaves)[1] != state.state_root:
        raise ProofError("self-check failed: the built compact multiproof does not reach the state root")
    return leaves


def compact_proof_from_tree(tree: Subtree, descriptor: bytes) -> list[bytes]:
    """build_compact_proof for a state tree alone (a missed slot's state, which no block root commits to)."""
    gindices = descriptor_gindices(descriptor)
    walk = memoized(tree)
    try:
        leaves = [walk.node_at(g) for g in gindices]
    except SSZError as exc:
        raise ProofError(f"the descriptor reaches a node the state does not have: {exc}") from None
    if nodes_from_compact(descriptor, leaves)[1] != tree.root:
        raise ProofError("self-check failed: the built compact multiproof does not reach the state root")
    return leaves


def prove_pool(state: BeaconState, indices: Sequence[int], with_pubkeys: bool = False) -> StateMultiproof:
    """One multiproof of a pool's balances (and pubkeys), with their total, checked against the state."""
    layout = state.layout
    indices = tuple(indices)  # converted to an array once for all the steps below
    gindices = pool_gindices(layout, indices, with_pubkeys)
    count = state.validator_count
    if not indices or max(indices) >= count:
        for index in indices:
            if index >= count:
                raise ProofError(f"validator index {index} is out of range: the state has {count} validators")
    proof = build_state_multiproof(state, gindices, validator_indices=indices)
    balances = proven_balances(layout, proof, indices)
    array = index_array(indices)
    if array is None:
        array = np.fromiter(indices, dtype=np.int64, count=len(indices))
    held = state.balances()[array]
    if not np.array_equal(np.fromiter(balances.values(), dtype=np.uint64, count=len(balances)), held):
        for index, balance in balances.items():
            if balance != state.balance(index):
                raise ProofError(f"self-check failed: validator {index}'s balance leaf does not hold its balance")
    pubkeys: list[bytes] = []
    if with_pubkeys:
        records = state.validator_records()
        leaves = proof.leaf_map()
        for index in indices:
            pubkey = bytes(records[index, :PUBKEY_SIZE].tobytes())
            if leaves[layout.pubkey_gindex(index)] != pubkey_leaf(pubkey):
                raise ProofError(f"self-check failed: validator {index}'s pubkey leaf does not match its record")
            pubkeys.append(pubkey)
    return replace(proof, pubkeys=tuple(pubkeys), total_balance=sum(balances.values()))

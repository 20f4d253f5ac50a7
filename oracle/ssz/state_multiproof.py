"""Multiproofs of a beacon state anchored at its block root: building, the document, and its offline checks.

A pool's proof is one multiproof of its validators' balance chunks (four balances to a chunk) and, if asked,
their pubkey leaves, read from the state's cached Merkle layers (only the small trees of the pool's own
validators are hashed, all in one batch). The document lists its generalized indices in strictly decreasing
order, which is also the order Lodestar's persistent-merkle-tree returns, so a listed index can be neither
repeated nor missed; the witnesses come in `get_helper_indices` order. Alongside the proof it states which
validators it covers and their total balance, which `verify_multiproof_document` recomputes from the proven
leaves alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from oracle.ssz.errors import ProofError, SSZError
from oracle.ssz.hashing import hash_pairs
from oracle.ssz.layouts import VALIDATOR_REGISTRY_LIMIT, Layout, get_layout
from oracle.ssz.merkle import Subtree
from oracle.ssz.multiproof import calculate_multi_merkle_nodes, check_indices, get_helper_indices
from oracle.ssz.state import BeaconState, balance_from_leaf, hex0x, pubkey_leaf
from oracle.ssz.types import Buf, Container, List
from oracle.ssz.verify import Check

DOCUMENT_TYPE = "pool-oracle/multiproof"
BALANCES_PER_CHUNK = 4
PUBKEY_SIZE = 48
# Generalized indices of these layouts stay below 2^64; the bound only keeps a hostile document's numbers sane.
_MAX_GINDEX_BITS = 256
_MAX_DECIMAL_DIGITS = 80


@dataclass(frozen=True)
class StateMultiproof:
    """One multiproof from a block root, and the pool claim it carries (empty for a bare multiproof)."""

    layout: str
    slot: int
    state_root: bytes
    block_root: bytes
    gindices: tuple[int, ...]  # strictly decreasing
    leaves: tuple[bytes, ...]  # leaves[i] is the node at gindices[i]
    witnesses: tuple[bytes, ...]  # the nodes at get_helper_indices(gindices), in that (decreasing) order
    validator_indices: tuple[int, ...] = ()  # the pool's validators whose balances the proof covers
    pubkeys: tuple[bytes, ...] = ()  # their pubkeys, when their pubkey leaves are proven too
    total_balance: int = 0  # the sum of their proven balances, in gwei

    def leaf_map(self) -> dict[int, bytes]:
        """The proven leaves by generalized index."""
        return dict(zip(self.gindices, self.leaves, strict=True))

    def to_json(self) -> dict[str, Any]:
        return {
            "type": DOCUMENT_TYPE,
            "layout": self.layout,
            "slot": str(self.slot),
            "state_root": hex0x(self.state_root),
            "block_root": hex0x(self.block_root),
            "validator_indices": [str(i) for i in self.validator_indices],
            "pubkeys": [hex0x(p) for p in self.pubkeys],
            "total_balance": str(self.total_balance),
            "gindices": [str(g) for g in self.gindices],
            "leaves": [hex0x(n) for n in self.leaves],
            "witnesses": [hex0x(n) for n in self.witnesses],
        }

    @classmethod
    def from_json(cls, doc: Any) -> StateMultiproof:
        """Decode a document; raises ProofError naming the first malformed field. Checks shape, not proof."""
        if not isinstance(doc, dict):
            raise ProofError(f"multiproof document: expected a JSON object, got {type(doc).__name__}")
        if doc.get("type") != DOCUMENT_TYPE:
            raise ProofError(f"type: expected {DOCUMENT_TYPE!r}, got {_shown(doc.get('type'))}")
        layout = doc.get("layout")
        if not isinstance(layout, str):
            raise ProofError(f"layout: expected a layout name, got {_shown(layout)}")
        get_layout_or_fail(layout)
        gindices = tuple(_uint(g, f"gindices[{i}]") for i, g in enumerate(_list(doc, "gindices")))
        for position in range(1, len(gindices)):
            if gindices[position] >= gindices[position - 1]:
                raise ProofError(
                    f"gindices[{position}]: {gindices[position]} does not follow {gindices[position - 1]} "
                    "in strictly decreasing order"
                )
        if any(g < 1 or g.bit_length() > _MAX_GINDEX_BITS for g in gindices):
            raise ProofError("gindices: a generalized index is 1 or more and below 2^256")
        leaves = tuple(_node(n, f"leaves[{i}]") for i, n in enumerate(_list(doc, "leaves")))
        if len(leaves) != len(gindices):
            raise ProofError(f"leaves: {len(leaves)} leaves for {len(gindices)} gindices")
        witnesses = tuple(_node(n, f"witnesses[{i}]") for i, n in enumerate(_list(doc, "witnesses")))
        indices = tuple(_uint(v, f"validator_indices[{i}]") for i, v in enumerate(_list(doc, "validator_indices")))
        try:
            check_validator_indices(indices)
        except ProofError as exc:
            raise ProofError(f"validator_indices: {exc}") from None
        pubkeys = tuple(_hex(p, f"pubkeys[{i}]", PUBKEY_SIZE) for i, p in enumerate(_list(doc, "pubkeys")))
        if pubkeys and len(pubkeys) != len(indices):
            raise ProofError(f"pubkeys: {len(pubkeys)} pubkeys for {len(indices)} validator_indices")
        return cls(
            layout=layout,
            slot=_uint(doc.get("slot"), "slot"),
            state_root=_node(doc.get("state_root"), "state_root"),
            block_root=_node(doc.get("block_root"), "block_root"),
            gindices=gindices,
            leaves=leaves,
            witnesses=witnesses,
            validator_indices=indices,
            pubkeys=pubkeys,
            total_balance=_uint(doc.get("total_balance"), "total_balance"),
        )


def is_multiproof_document(doc: Any) -> bool:
    """Whether to read `doc` as a multiproof: it names a type (single-proof documents name none), so a wrong
    or misspelt type is reported as that, not as a single-proof document's missing fields."""
    return isinstance(doc, dict) and "type" in doc


def get_layout_or_fail(name: str) -> Layout:
    try:
        return get_layout(name)
    except SSZError as exc:
        raise ProofError(f"layout: {exc}") from None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise ProofError(f"{key}: expected a list, got {_shown(value)}")
    return value


def _uint(value: Any, where: str) -> int:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise ProofError(f"{where}: expected a decimal string, got {_shown(value)}")
    if len(value) > _MAX_DECIMAL_DIGITS:
        raise ProofError(f"{where}: a number of {len(value)} digits is too large")
    return int(value)


def _hex(value: Any, where: str, length: int) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ProofError(f"{where}: expected a 0x-prefixed hex string, got {_shown(value)}")
    if len(value) != 2 + 2 * length:
        raise ProofError(f"{where}: expected {length} bytes of hex, got {len(value) - 2} hex digits")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ProofError(f"{where}: not hex: {_shown(value)}") from None


def _node(value: Any, where: str) -> bytes:
    return _hex(value, where, 32)


# --- a pool's generalized indices and balances ---


def check_validator_indices(indices: Sequence[int]) -> None:
    """Raise ProofError unless every index is a registry index and none is listed twice."""
    seen: set[int] = set()
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < VALIDATOR_REGISTRY_LIMIT:
            raise ProofError(f"validator index {index!r} is not an index of the validator registry")
        if index in seen:
            raise ProofError(f"validator index {index} is listed twice")
        seen.add(index)


def balance_chunk_gindices(layout: Layout, indices: Iterable[int]) -> list[int]:
    """The balance chunks holding these validators' balances, each once, in decreasing order."""
    chunks = {index // BALANCES_PER_CHUNK for index in indices}
    return sorted((layout.balance_gindex(chunk * BALANCES_PER_CHUNK) for chunk in chunks), reverse=True)


def pool_gindices(layout: Layout, indices: Sequence[int], with_pubkeys: bool = False) -> list[int]:
    """What a pool's multiproof proves: its validators' balance chunks and, if asked, their pubkey leaves;
    strictly decreasing. A duplicate validator index is an error."""
    check_validator_indices(indices)
    gindices = balance_chunk_gindices(layout, indices)
    if with_pubkeys:
        gindices.extend(layout.pubkey_gindex(index) for index in indices)
    return sorted(gindices, reverse=True)


def proven_balances(layout: Layout, proof: StateMultiproof, indices: Sequence[int]) -> dict[int, int]:
    """Each validator's balance read from the proof's balance leaves (validator n at byte (n % 4) * 8)."""
    check_validator_indices(indices)
    by_gindex = proof.leaf_map()
    balances: dict[int, int] = {}
    for index in indices:
        gindex = layout.balance_gindex(index)
        leaf = by_gindex.get(gindex)
        if leaf is None:
            raise ProofError(f"validator {index}: its balance chunk (generalized index {gindex}) is not proven")
        balances[index] = balance_from_leaf(leaf, index)
    return balances


def proven_total(layout: Layout, proof: StateMultiproof, indices: Sequence[int]) -> int:
    """The sum of the proven balances over exactly `indices` (a duplicate index is an error), in gwei."""
    return sum(proven_balances(layout, proof, indices).values())


# --- building ---


def element_nodes(state: BeaconState, gindices: Iterable[int]) -> dict[int, bytes]:
    """The nodes among `gindices` that lie inside the small trees of list elements (a validator's fields
    and their inner hashes), hashed for all the elements they touch at once: one by one, each element's tree
    costs more than all the rest of a pool's proof. Deeper nodes (a pubkey's two chunks) are left out."""
    wanted = list(gindices)
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
            found.update(_container_nodes(elem, records, state.layout.gindex(name, 0), wanted, name))
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
    read = element_nodes(state, [*ordered, *helpers]).get
    tree = memoized(state.block_tree)
    leaves = [read(g) or tree.node_at(g) for g in ordered]
    witnesses = [read(h) or tree.node_at(h) for h in helpers]
    nodes = calculate_multi_merkle_nodes(leaves, witnesses, ordered)
    if nodes[1] != state.block_root:
        raise ProofError("self-check failed: the built multiproof does not reach the block root")
    state_gindex = state.layout.header_state_root_gindex
    if state_gindex in nodes and nodes[state_gindex] != state.state_root:
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


def prove_pool(state: BeaconState, indices: Sequence[int], with_pubkeys: bool = False) -> StateMultiproof:
    """One multiproof of a pool's balances (and pubkeys), with their total, checked against the state."""
    layout = state.layout
    gindices = pool_gindices(layout, indices, with_pubkeys)
    count = state.validator_count
    for index in indices:
        if index >= count:
            raise ProofError(f"validator index {index} is out of range: the state has {count} validators")
    proof = build_state_multiproof(state, gindices, validator_indices=indices)
    balances = proven_balances(layout, proof, indices)
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


# --- offline verification ---


def _list_length(nodes: dict[int, bytes], list_gindex: int) -> int | None:
    """A list's length from its mix-in node, when the multiproof carries or computes it."""
    node = nodes.get(list_gindex * 2 + 1)
    return None if node is None else int.from_bytes(node, "little")


def _root_checks(proof: StateMultiproof, layout: Layout) -> tuple[list[Check], dict[int, bytes] | None]:
    try:
        nodes = calculate_multi_merkle_nodes(proof.leaves, proof.witnesses, proof.gindices)
    except ProofError as exc:
        return [Check("multiproof", False, str(exc))], None
    reached = nodes[1]
    ok = reached == proof.block_root
    checks = [Check("multiproof", ok, "reaches block_root" if ok else f"reaches 0x{reached.hex()}, not block_root")]
    state_node = nodes.get(layout.header_state_root_gindex)
    if state_node is None:
        checks.append(Check("state_root", False, "the multiproof does not pass the block header's state_root"))
    else:
        same = state_node == proof.state_root
        detail = "the multiproof passes state_root" if same else f"the multiproof passes 0x{state_node.hex()}"
        checks.append(Check("state_root", same, detail))
    return checks, nodes


def _pool_checks(proof: StateMultiproof, layout: Layout, nodes: dict[int, bytes]) -> list[Check]:
    indices = proof.validator_indices
    expected = pool_gindices(layout, indices, bool(proof.pubkeys))
    same = list(proof.gindices) == expected
    detail = f"exactly the {len(expected)} the validators need" if same else f"not the {len(expected)} expected"
    checks = [Check("gindices", same, detail + f" for {layout.name}")]
    if not same:
        return checks
    balances_length = _list_length(nodes, layout.gindex("balances"))
    for index in indices:
        within = balances_length is not None and index < balances_length
        checks.append(
            Check(f"validator {index} balance", within, f"index within the proven balances list ({balances_length})")
        )
    validators_length = _list_length(nodes, layout.gindex("validators"))
    leaves = proof.leaf_map()
    for index, pubkey in zip(indices, proof.pubkeys, strict=False):  # none, or one per index (checked)
        matches = leaves[layout.pubkey_gindex(index)] == pubkey_leaf(pubkey)
        within = validators_length is not None and index < validators_length
        checks.append(
            Check(
                f"validator {index} pubkey",
                matches and within,
                ("leaf is hash_tree_root(pubkey)" if matches else "leaf is not hash_tree_root(pubkey)")
                + f", index within the proven validators list ({validators_length})",
            )
        )
    total = proven_total(layout, proof, indices)
    checks.append(
        Check(
            "total_balance",
            total == proof.total_balance,
            f"the proven balances of the {len(indices)} validators sum to {total} gwei"
            + ("" if total == proof.total_balance else f", not {proof.total_balance}"),
        )
    )
    return checks


def verify_multiproof_document(doc: Any) -> list[Check]:
    """Check a multiproof document offline: the proof reaches block_root through state_root and, for a
    pool's proof, proves exactly its validators' balance chunks (and pubkeys), whose balances sum to
    total_balance. Raises ProofError (one line) for a malformed document."""
    proof = StateMultiproof.from_json(doc)
    layout = get_layout_or_fail(proof.layout)
    checks, nodes = _root_checks(proof, layout)
    if nodes is not None and proof.validator_indices:
        checks.extend(_pool_checks(proof, layout, nodes))
    return checks

"""A multiproof document checked offline: the proof reaches block_root through state_root and, for a pool's
proof, proves exactly its validators' balance chunks (and pubkeys), whose balances sum to total_balance. The
checks follow the spec's text (multiproof.calculate_multi_merkle_nodes), sharing no code with the builder."""

from __future__ import annotations

from typing import Any

from oracle.ssz.errors import ProofError
from oracle.ssz.layouts import Layout
from oracle.ssz.multiproof import (
    calculate_multi_merkle_nodes,
)
from oracle.ssz.multiproof_document import (
    StateMultiproof,
    get_layout_or_fail,
    pool_gindices,
    proven_total,
)
from oracle.ssz.state import pubkey_leaf
from oracle.ssz.verify import Check


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

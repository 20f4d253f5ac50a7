"""A many-validator pool's proofs: its balance report cut into batches a transaction can carry, each batch's
proof, and the registration of its validators.

The pool's registry lists its validators in increasing index order; a batch is a run of consecutive registry
positions. Its multiproof proves the distinct balance chunks of its validators (four balances to a chunk) and
the balances list's length mix-in, all against one block root. A chunk shared by two batches is proven in
both; each batch sums only its own validators. The contract derives the gindices from its registry and
builds the length leaf itself, so a batch's calldata carries only the chunks and the witnesses.

`plan_batches` sizes the batches by counting words incrementally (a path walked up until it meets the paths
already taken), without building any proof; `batch_proof` then reads one batch's nodes from the state's tree,
or from any map of known nodes (a node's compact multiproof answer).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from oracle.ssz.errors import ProofError
from oracle.ssz.layouts import Layout
from oracle.ssz.multiproof import calculate_multi_merkle_nodes, get_helper_indices
from oracle.ssz.multiproof_document import BALANCES_PER_CHUNK, check_validator_indices
from oracle.ssz.state import BeaconState, balance_from_leaf
from oracle.ssz.state_multiproof import build_state_multiproof

# proveBalances(uint256 reportId, uint256 first, uint256 count, uint64 length, bytes32[] leaves, bytes32[] w):
# the selector, four words of arguments, two offsets and two lengths, then one word per node.
CALL_OVERHEAD_BYTES = 4 + 32 * 8
WORD_BYTES = 32
# geth's transaction pool refuses transactions over 128 KiB; the rest is the envelope and the signature.
DEFAULT_MAX_CALLDATA_BYTES = 120_000


def max_words_for(calldata_bytes: int) -> int:
    """How many 32-byte nodes a batch may carry within `calldata_bytes` of calldata."""
    words = (calldata_bytes - CALL_OVERHEAD_BYTES) // WORD_BYTES
    if words < 2:
        raise ProofError(f"{calldata_bytes} bytes of calldata cannot carry a batch")
    return words


def length_gindex(layout: Layout) -> int:
    """The balances list's length mix-in, anchored at the block root."""
    return layout.gindex("balances") * 2 + 1


def batch_gindices(layout: Layout, indices: Sequence[int]) -> list[int]:
    """What a batch proves, strictly decreasing: its validators' distinct balance chunks, then the length."""
    chunks = sorted({index // BALANCES_PER_CHUNK for index in indices}, reverse=True)
    return [layout.balance_gindex(chunk * BALANCES_PER_CHUNK) for chunk in chunks] + [length_gindex(layout)]


def batch_words(layout: Layout, indices: Sequence[int]) -> int:
    """Calldata nodes of a batch: its chunks and its witnesses (the length leaf is the contract's)."""
    gindices = batch_gindices(layout, indices)
    return len(gindices) - 1 + len(get_helper_indices(gindices))


class _WordCounter:
    """Leaves + witnesses of a growing multiproof, updated per added leaf in O(new path length)."""

    def __init__(self, first: int) -> None:
        self.path: set[int] = set()
        self.witnesses = 0
        self.leaves = 0
        self._add_path(first)

    def _add_path(self, gindex: int) -> list[int]:
        added: list[int] = []
        node = gindex
        while node > 1 and node not in self.path:
            self.path.add(node)
            added.append(node)
            # `node` was a witness if its sibling was already on the path; else its sibling becomes one.
            self.witnesses += -1 if node ^ 1 in self.path else 1
            node >>= 1
        return added

    def cost_of(self, gindex: int) -> int:
        """The words adding a leaf at `gindex` would add (0 if it is already proven)."""
        if gindex in self.path:
            return 0
        delta, node = 1, gindex
        while node > 1 and node not in self.path:
            delta += -1 if node ^ 1 in self.path else 1
            node >>= 1
        return delta

    def add(self, gindex: int) -> None:
        if gindex not in self.path:
            self.leaves += 1
            self._add_path(gindex)

    @property
    def words(self) -> int:
        return self.leaves + self.witnesses


def plan_batches(layout: Layout, indices: Sequence[int], max_words: int) -> list[tuple[int, int]]:
    """(first position, count) of each batch, greedily as large as `max_words` allows. `indices` are the
    registry's validator indices, strictly increasing."""
    for position in range(1, len(indices)):
        if indices[position] <= indices[position - 1]:
            raise ProofError(f"registry position {position}: validator indices must be strictly increasing")
    check_validator_indices(indices)
    batches: list[tuple[int, int]] = []
    first = 0
    counter = _WordCounter(length_gindex(layout))
    for position, index in enumerate(indices):
        gindex = layout.balance_gindex(index)
        if position > first and counter.words + counter.cost_of(gindex) > max_words:
            batches.append((first, position - first))
            first = position
            counter = _WordCounter(length_gindex(layout))
        counter.add(gindex)
        if counter.words > max_words:
            raise ProofError(f"validator {index} alone needs {counter.words} words, more than {max_words}")
    if len(indices) > first:
        batches.append((first, len(indices) - first))
    return batches


@dataclass(frozen=True)
class BalanceBatch:
    """One batch's calldata and what it proves."""

    first_position: int
    indices: tuple[int, ...]
    balances_length: int
    leaves: tuple[bytes, ...]  # the distinct balance chunks, strictly decreasing gindex
    witnesses: tuple[bytes, ...]  # get_helper_indices(chunks + length), decreasing
    total_gwei: int

    @property
    def count(self) -> int:
        return len(self.indices)

    @property
    def words(self) -> int:
        return len(self.leaves) + len(self.witnesses)


def batch_from_nodes(
    layout: Layout,
    node_at: Callable[[int], bytes],
    first_position: int,
    indices: Sequence[int],
    block_root: bytes,
) -> BalanceBatch:
    """A batch read through `node_at` (block-root gindices), recomputed to `block_root` before it is returned."""
    gindices = batch_gindices(layout, indices)
    leaves = [node_at(g) for g in gindices]
    witnesses = [node_at(h) for h in get_helper_indices(gindices)]
    nodes = calculate_multi_merkle_nodes(leaves, witnesses, gindices)
    if nodes[1] != block_root:
        raise ProofError(f"batch at position {first_position}: its multiproof does not reach the block root")
    length = int.from_bytes(leaves[-1][:8], "little")
    if leaves[-1][8:] != bytes(24):
        raise ProofError(f"batch at position {first_position}: the balances length leaf is not a uint64")
    by_gindex = dict(zip(gindices, leaves, strict=True))
    total = 0
    for index in indices:
        if index >= length:
            raise ProofError(f"validator {index} is past the proven balances list ({length})")
        total += balance_from_leaf(by_gindex[layout.balance_gindex(index)], index)
    return BalanceBatch(first_position, tuple(indices), length, tuple(leaves[:-1]), tuple(witnesses), total)


def batch_from_map(
    layout: Layout, nodes: Mapping[int, bytes], first_position: int, indices: Sequence[int], block_root: bytes
) -> BalanceBatch:
    """A batch from a map of known nodes; a missing node is a ProofError naming its gindex."""

    def node_at(gindex: int) -> bytes:
        node = nodes.get(gindex)
        if node is None:
            raise ProofError(f"batch at position {first_position}: node {gindex} is not among the proven nodes")
        return node

    return batch_from_nodes(layout, node_at, first_position, indices, block_root)


def state_batches(state: BeaconState, indices: Sequence[int], max_words: int) -> list[BalanceBatch]:
    """Every batch of a registry's report, read from a merkleized state."""
    layout = state.layout
    count = state.validator_count
    for index in indices:
        if index >= count:
            raise ProofError(f"validator index {index} is out of range: the state has {count} validators")
    batches: list[BalanceBatch] = []
    for first, size in plan_batches(layout, indices, max_words):
        members = indices[first : first + size]
        proof = build_state_multiproof(state, batch_gindices(layout, members))
        known = dict(zip(proof.gindices, proof.leaves, strict=True))
        known.update(zip(get_helper_indices(proof.gindices), proof.witnesses, strict=True))
        batch = batch_from_map(layout, known, first, members, state.block_root)
        if len(batch.leaves) + len(batch.witnesses) > max_words:
            raise ProofError(f"batch at position {first}: {batch.words} words, planned within {max_words}")
        batches.append(batch)
    return batches


# --- registration: each validator bound once to its index by its pubkey and credentials ---


def registration_gindices(layout: Layout, indices: Sequence[int]) -> list[int]:
    """The contract's leaves' gindices, decreasing: per validator from the highest down, credentials then
    pubkey; last the validators length mix-in."""
    out: list[int] = []
    for index in sorted(indices, reverse=True):
        out += [layout.withdrawal_credentials_gindex(index), layout.pubkey_gindex(index)]
    return [*out, layout.gindex("validators") * 2 + 1]


@dataclass(frozen=True)
class RegistrationProof:
    validators_length: int
    indices: list[int]
    pubkeys: list[bytes]
    witnesses: list[bytes]


def registration_proof(state: BeaconState, indices: Sequence[int]) -> RegistrationProof:
    """registerValidators' arguments for `indices` (their pubkeys and the witnesses; the contract builds the
    leaves), checked against the state's block root by the builder."""
    ordered = sorted(indices)
    proof = build_state_multiproof(state, registration_gindices(state.layout, ordered))
    pubkeys = [bytes(state.validator(i)["pubkey"]) for i in ordered]
    return RegistrationProof(state.validator_count, ordered, pubkeys, list(proof.witnesses))

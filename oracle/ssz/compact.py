"""Lodestar's compact multiproofs ("compactMulti", @chainsafe/persistent-merkle-tree proof/compactMulti.ts).

A compact multiproof names no generalized index: its descriptor is the pre-order walk of the proof's tree,
one bit per node, 0 for a branch and 1 for a leaf (so 2n - 1 bits for n leaves), zero-padded to whole bytes,
and its leaves are the nodes at the walk's leaves, left to right. The leaves are the nodes asked for and the
witnesses the others need, in one list. Lodestar serves them at `GET /eth/v0/beacon/proof/state/{state_id}`,
anchored at the STATE root (gindex 1 is the state root); the engine's pool gindices are anchored at the block
root (layouts.Layout.gindex), hence `state_to_block_gindex` and its inverse.

Pure: hashlib only, no I/O. Every malformed input is a one-line ProofError.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from oracle.ssz.errors import ProofError
from oracle.ssz.hashing import hash_node
from oracle.ssz.layouts import Layout
from oracle.ssz.types import concat_gindices

NODE_SIZE = 32
# Lodestar's CompactMultiProofType: leaves ArrayOf(Root, 10000), descriptor ByteListType(2048).
MAX_COMPACT_LEAVES = 10000
MAX_DESCRIPTOR_BYTES = 2048
# Lodestar's beacon node (api/impl/proof/index.ts): a descriptor is refused when `descriptor.length / 2 >
# maxGindicesInProof`, 512 by default (--api.maxGindicesInProof), with a plain Error, so HTTP 500.
LODESTAR_MAX_GINDICES_IN_PROOF = 512
LODESTAR_MAX_DESCRIPTOR_BYTES = 2 * LODESTAR_MAX_GINDICES_IN_PROOF
LODESTAR_TOO_LARGE = "Requested proof is too large."


def _check_gindex(gindex: object) -> int:
    if isinstance(gindex, bool) or not isinstance(gindex, int) or gindex < 1:
        raise ProofError(f"generalized index {gindex!r} is not a positive integer")
    return gindex


def compute_descriptor(gindices: Iterable[int]) -> bytes:
    """The descriptor of a compact multiproof of `gindices`, byte for byte persistent-merkle-tree's
    computeDescriptor: the gindices and their helpers, less every node on a path to one of them, in order.
    A gindex listed twice counts once and one below another listed gindex hides it, as there; the root
    listed with others (for which computeDescriptor returns no valid descriptor) is refused."""
    wanted = [_check_gindex(g) for g in gindices]
    if not wanted:
        raise ProofError("a compact multiproof needs at least one generalized index")
    if 1 in wanted and any(g != 1 for g in wanted):
        raise ProofError("generalized index 1 (the root) cannot be listed with other generalized indices")
    proof: set[int] = set()
    paths: set[int] = set()
    for gindex in wanted:
        proof.add(gindex)
        node = gindex
        while node > 1:
            proof.add(node ^ 1)
            node >>= 1
            if node == 1 or node in paths:  # the rest of the way up is already walked
                break
            paths.add(node)
    bits = []
    for gindex in sorted(proof - paths, key=lambda g: bin(g)[3:]):  # in order: left to right
        trailing_zeros = (gindex & -gindex).bit_length() - 1
        bits.append("0" * trailing_zeros + "1")
    return bitlist_to_descriptor("".join(bits))


def bitlist_to_descriptor(bits: str) -> bytes:
    """Descriptor bytes of a walk's bits ('0'/'1', first bit the most significant), zero-padded."""
    if not bits or set(bits) - {"0", "1"}:
        raise ProofError("a descriptor's bits are a non-empty string of 0 and 1")
    padded = bits + "0" * (-len(bits) % 8)
    return int(padded, 2).to_bytes(len(padded) // 8, "big")


def descriptor_to_bitlist(descriptor: bytes) -> list[bool]:
    """The walk's bits, checked as persistent-merkle-tree's descriptorToBitlist checks them (same messages):
    the walk ends where the leaves first outnumber the branches, and only that byte's zero padding follows."""
    if not isinstance(descriptor, bytes | bytearray):
        raise ProofError(f"Invalid descriptor: expected bytes, got {type(descriptor).__name__}")
    text = "".join(f"{byte:08b}" for byte in descriptor)
    bools: list[bool] = []
    balance = 0  # ones minus zeros
    for i, char in enumerate(text):
        bit = char == "1"
        bools.append(bit)
        balance += 1 if bit else -1
        if balance > 0:
            rest = text[i + 1 :]
            if len(rest) >= 8:
                raise ProofError("Invalid descriptor: too many bytes")
            if "1" in rest:
                raise ProofError("Invalid descriptor: too many 1 bits")
            return bools
    raise ProofError("Invalid descriptor: not enough 1 bits")


def descriptor_gindices(descriptor: bytes) -> list[int]:
    """The generalized indices of a compact multiproof's leaves, in its order (left to right): the inverse
    of compute_descriptor up to the nodes it hides."""
    gindices: list[int] = []
    gindex = 1
    for bit in descriptor_to_bitlist(descriptor):
        if not bit:
            gindex <<= 1
            continue
        gindices.append(gindex)
        while gindex & 1 and gindex > 1:  # a right child: its parent is complete
            gindex >>= 1
        gindex += 1  # the right sibling of a left child (or past the root, where the walk ends)
    return gindices


def nodes_from_compact(descriptor: bytes, leaves: Sequence[bytes]) -> dict[int, bytes]:
    """Every node a compact multiproof determines, by generalized index from its root (1): its leaves and
    each inner node above them, hashed. Exactly one 32-byte leaf per 1 bit of the descriptor."""
    bits = descriptor_to_bitlist(descriptor)
    expected = (len(bits) + 1) // 2
    if len(leaves) != expected:
        raise ProofError(f"Invalid multiproof: {len(leaves)} leaves, the descriptor has {expected}")
    for position, leaf in enumerate(leaves):
        if not isinstance(leaf, bytes | bytearray) or len(leaf) != NODE_SIZE:
            size = f"{len(leaf)} bytes" if isinstance(leaf, bytes | bytearray) else type(leaf).__name__
            raise ProofError(f"Invalid multiproof: leaves[{position}] is {size}, expected {NODE_SIZE} bytes")
    nodes: dict[int, bytes] = {}
    gindex, position = 1, 0
    for bit in bits:
        if not bit:
            gindex <<= 1
            continue
        nodes[gindex] = bytes(leaves[position])
        position += 1
        while gindex & 1 and gindex > 1:
            gindex >>= 1
            nodes[gindex] = hash_node(nodes[gindex << 1], nodes[(gindex << 1) | 1])
        gindex += 1
    if position != len(leaves) or 1 not in nodes:  # unreachable for a checked bitlist; kept as a guard
        raise ProofError("Invalid multiproof: the leaves do not reach the root")
    return nodes


def leaves_for(nodes: Mapping[int, bytes], wanted: Iterable[int]) -> dict[int, bytes]:
    """The nodes at `wanted`, in its order; ProofError naming the first one the proof does not determine."""
    found: dict[int, bytes] = {}
    for gindex in wanted:
        node = nodes.get(_check_gindex(gindex))
        if node is None:
            raise ProofError(f"generalized index {gindex} is not determined by the compact multiproof")
        found[gindex] = node
    return found


def state_to_block_gindex(layout: Layout, gindex: int) -> int:
    """A state-root generalized index (Lodestar's) as the engine's, from the block root."""
    return concat_gindices(layout.header_state_root_gindex, _check_gindex(gindex))


def block_to_state_gindex(layout: Layout, gindex: int) -> int:
    """A block-root generalized index as one from the state root; ProofError unless it lies in the state."""
    anchor = layout.header_state_root_gindex
    _check_gindex(gindex)
    extra = gindex.bit_length() - anchor.bit_length()
    if extra < 0 or gindex >> extra != anchor:
        raise ProofError(f"generalized index {gindex} does not lie below the block header's state_root ({anchor})")
    return (1 << extra) | (gindex & ((1 << extra) - 1))


def in_order(gindices: Iterable[int]) -> list[int]:
    """Generalized indices sorted left to right (pre-order), the order of a compact multiproof's leaves."""
    return sorted(gindices, key=lambda g: bin(g)[3:])


def split_for_cap(gindices: Sequence[int], max_descriptor_bytes: int) -> list[tuple[list[int], bytes]]:
    """`gindices` as groups whose descriptors fit `max_descriptor_bytes`, each with its descriptor: halves of
    the in-order list, so that each group's paths share their upper levels."""
    ordered = in_order(set(gindices))

    def split(group: list[int]) -> list[tuple[list[int], bytes]]:
        descriptor = compute_descriptor(group)
        if len(descriptor) <= max_descriptor_bytes:
            return [(group, descriptor)]
        if len(group) == 1:
            raise ProofError(
                f"generalized index {group[0]} alone needs a descriptor of {len(descriptor)} bytes, "
                f"more than {max_descriptor_bytes}"
            )
        middle = len(group) // 2
        return split(group[:middle]) + split(group[middle:])

    return split(ordered) if ordered else []


def encode_compact_proof(descriptor: bytes, leaves: Sequence[bytes]) -> bytes:
    """Lodestar's CompactMultiProofType SSZ: {leaves: List[Root, 10000], descriptor: ByteList[2048]}."""
    body = b"".join(leaves)
    return (8).to_bytes(4, "little") + (8 + len(body)).to_bytes(4, "little") + body + bytes(descriptor)


def decode_compact_proof(data: bytes) -> tuple[bytes, list[bytes]]:
    """(descriptor, leaves) of a CompactMultiProofType SSZ value; ProofError for any malformed one."""
    if len(data) < 8:
        raise ProofError(f"compact multiproof: {len(data)} bytes, shorter than its two offsets")
    first, second = int.from_bytes(data[:4], "little"), int.from_bytes(data[4:8], "little")
    if first != 8:
        raise ProofError(f"compact multiproof: the leaves' offset is {first}, expected 8")
    if not 8 <= second <= len(data):
        raise ProofError(f"compact multiproof: the descriptor's offset {second} is outside 8..{len(data)}")
    if (second - 8) % NODE_SIZE:
        raise ProofError(f"compact multiproof: {second - 8} bytes of leaves, not a multiple of {NODE_SIZE}")
    count = (second - 8) // NODE_SIZE
    if count > MAX_COMPACT_LEAVES:
        raise ProofError(f"compact multiproof: {count} leaves, more than {MAX_COMPACT_LEAVES}")
    descriptor = bytes(data[second:])
    if len(descriptor) > MAX_DESCRIPTOR_BYTES:
        raise ProofError(f"compact multiproof: a {len(descriptor)}-byte descriptor, more than {MAX_DESCRIPTOR_BYTES}")
    leaves = [bytes(data[8 + NODE_SIZE * i : 8 + NODE_SIZE * (i + 1)]) for i in range(count)]
    return descriptor, leaves

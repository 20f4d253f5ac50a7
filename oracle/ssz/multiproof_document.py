"""A pool's multiproof document (`pool-oracle/multiproof`) and what a pool's multiproof proves.

The document lists its generalized indices in strictly decreasing order, which is also the order Lodestar's
persistent-merkle-tree returns, so a listed index can be neither repeated nor missed; the witnesses come in
`get_helper_indices` order. Alongside the proof it states which validators it covers and their total balance,
which the offline checks (multiproof_verify) recompute from the proven leaves alone. A pool's gindices are its
validators' balance chunks (four balances to a chunk) and, if asked, their pubkey leaves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from oracle.ssz.errors import ProofError, SSZError
from oracle.ssz.layouts import VALIDATOR_REGISTRY_LIMIT, Layout, get_layout
from oracle.ssz.multiproof import (
    VECTOR_MIN,
    sorted_unique,
)
from oracle.ssz.state import balance_from_leaf, hex0x

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


# The last tuple of indices index_array converted, and its array: prove_pool asks four times for the same
# (a tuple cannot change; the array is read-only).
_LAST_INDICES: tuple[tuple[int, ...], npt.NDArray[np.int64]] | None = None


def index_array(indices: Sequence[int]) -> npt.NDArray[np.int64] | None:
    """The validator indices as an int64 array if they pass check_validator_indices, else None."""
    global _LAST_INDICES
    last = _LAST_INDICES
    if last is not None and last[0] is indices:
        return last[1]
    if not indices or set(map(type, indices)) != {int}:
        return None
    try:
        array = np.fromiter(indices, dtype=np.int64, count=len(indices))
    except OverflowError:
        return None
    if int(array.min()) < 0 or int(array.max()) >= VALIDATOR_REGISTRY_LIMIT:
        return None
    ordered = np.sort(array)
    if bool((ordered[1:] == ordered[:-1]).any()):
        return None
    array.flags.writeable = False
    if isinstance(indices, tuple):
        _LAST_INDICES = (indices, array)
    return array


def _strides(layout: Layout) -> tuple[int, int, int, int]:
    """(balance gindex of validator 0, per balance chunk; pubkey gindex of validator 0, per validator): the
    gindices of a list's elements are consecutive, so a pool's are computed with numpy."""
    balance, pubkey = layout.balance_gindex(0), layout.pubkey_gindex(0)
    return balance, layout.balance_gindex(BALANCES_PER_CHUNK) - balance, pubkey, layout.pubkey_gindex(1) - pubkey


def check_validator_indices(indices: Sequence[int]) -> None:
    """Raise ProofError unless every index is a registry index and none is listed twice."""
    if len(indices) >= VECTOR_MIN and index_array(indices) is not None:
        return
    seen: set[int] = set()
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < VALIDATOR_REGISTRY_LIMIT:
            raise ProofError(f"validator index {index!r} is not an index of the validator registry")
        if index in seen:
            raise ProofError(f"validator index {index} is listed twice")
        seen.add(index)


def balance_chunk_gindices(layout: Layout, indices: Iterable[int]) -> list[int]:
    """The balance chunks holding these validators' balances, each once, in decreasing order."""
    indices = list(indices)
    array = index_array(indices) if len(indices) >= VECTOR_MIN else None
    if array is not None:
        base, step, _, _ = _strides(layout)
        distinct = sorted_unique(array // BALANCES_PER_CHUNK)[::-1]
        listed: list[int] = (base + step * distinct).tolist()
        return listed
    chunks = {index // BALANCES_PER_CHUNK for index in indices}
    return sorted((layout.balance_gindex(chunk * BALANCES_PER_CHUNK) for chunk in chunks), reverse=True)


def pool_gindices(layout: Layout, indices: Sequence[int], with_pubkeys: bool = False) -> list[int]:
    """What a pool's multiproof proves: its validators' balance chunks and, if asked, their pubkey leaves;
    strictly decreasing. A duplicate validator index is an error."""
    check_validator_indices(indices)
    gindices = balance_chunk_gindices(layout, indices)
    if not with_pubkeys:
        return gindices
    array = index_array(indices) if len(indices) >= VECTOR_MIN else None
    if array is not None:
        _, _, base, step = _strides(layout)
        gindices.extend((base + step * array).tolist())
    else:
        gindices.extend(layout.pubkey_gindex(index) for index in indices)
    return sorted(gindices, reverse=True)


def proven_balances(layout: Layout, proof: StateMultiproof, indices: Sequence[int]) -> dict[int, int]:
    """Each validator's balance read from the proof's balance leaves (validator n at byte (n % 4) * 8)."""
    check_validator_indices(indices)
    array = index_array(indices) if len(indices) >= VECTOR_MIN else None
    if array is not None and proof.gindices:
        base, step, _, _ = _strides(layout)
        wanted = base + step * (array // BALANCES_PER_CHUNK)
        if proof.gindices[0] < (1 << 62):  # the largest; numpy takes int64
            increasing = np.fromiter(reversed(proof.gindices), dtype=np.int64, count=len(proof.gindices))
            position = np.minimum(np.searchsorted(increasing, wanted), increasing.shape[0] - 1)
            if bool((increasing[position] == wanted).all()):
                words = np.frombuffer(b"".join(proof.leaves[::-1]), dtype="<u8").reshape(-1, BALANCES_PER_CHUNK)
                values = words[position, array % BALANCES_PER_CHUNK]
                return dict(zip(indices, values.tolist(), strict=True))
        # Otherwise the walk below names the first validator whose chunk is not proven.
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

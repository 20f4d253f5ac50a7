"""Offline verification of a `pool-oracle prove` document: every claim is recomputed from the file alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oracle.ssz.errors import ProofError, SSZError
from oracle.ssz.layouts import BeaconBlockHeader, get_layout
from oracle.ssz.proofs import compute_root
from oracle.ssz.state import balance_from_leaf, pubkey_leaf


@dataclass(frozen=True)
class Check:
    subject: str  # e.g. "validator 12 balance_proof"
    ok: bool
    detail: str


def _bytes(value: Any, where: str, length: int | None = 32) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ProofError(f"{where}: expected a 0x-prefixed hex string, got {value!r}")
    try:
        data = bytes.fromhex(value[2:])
    except ValueError as exc:
        raise ProofError(f"{where}: not hex ({exc})") from None
    if length is not None and len(data) != length:
        raise ProofError(f"{where}: expected {length} bytes, got {len(data)}")
    return data


def _uint(value: Any, where: str) -> int:
    if not isinstance(value, str) or not value.isdigit():
        raise ProofError(f"{where}: expected a decimal string, got {value!r}")
    return int(value)


def _branch(value: Any, where: str) -> list[bytes]:
    if not isinstance(value, list):
        raise ProofError(f"{where}: expected a list of 0x-hex nodes")
    return [_bytes(node, f"{where}[{i}]") for i, node in enumerate(value)]


def header_root(header: dict[str, Any]) -> bytes:
    values = {
        "slot": _uint(header.get("slot"), "block_header.slot"),
        "proposer_index": _uint(header.get("proposer_index"), "block_header.proposer_index"),
        "parent_root": _bytes(header.get("parent_root"), "block_header.parent_root"),
        "state_root": _bytes(header.get("state_root"), "block_header.state_root"),
        "body_root": _bytes(header.get("body_root"), "block_header.body_root"),
    }
    encoded = BeaconBlockHeader.encode(values)
    import numpy as np

    buf = np.frombuffer(encoded, dtype=np.uint8)
    return BeaconBlockHeader.subtree(buf, 0, len(encoded), "block_header").root


def verify_document(doc: dict[str, Any]) -> list[Check]:
    """Check a prove document: header vs block root, each validator's proofs, leaves and gindices."""
    checks: list[Check] = []
    try:
        layout = get_layout(str(doc.get("layout")))
    except SSZError as exc:
        raise ProofError(str(exc)) from None
    block_root = _bytes(doc.get("block_root"), "block_root")
    header = doc.get("block_header")
    if not isinstance(header, dict):
        raise ProofError("block_header: missing")
    computed = header_root(header)
    checks.append(Check("block_header", computed == block_root, f"hash_tree_root(block_header) = 0x{computed.hex()}"))
    state_root = _bytes(doc.get("state_root"), "state_root")
    checks.append(
        Check(
            "state_root",
            state_root == _bytes(header.get("state_root"), "block_header.state_root"),
            "state_root equals block_header.state_root",
        )
    )
    validators = doc.get("validators")
    if not isinstance(validators, list):
        raise ProofError("validators: expected a list")
    for position, entry in enumerate(validators):
        where = f"validators[{position}]"
        if not isinstance(entry, dict):
            raise ProofError(f"{where}: expected an object")
        index = _uint(entry.get("index"), f"{where}.index")
        pubkey = _bytes(entry.get("pubkey"), f"{where}.pubkey", 48)
        credentials = _bytes(entry.get("withdrawal_credentials"), f"{where}.withdrawal_credentials")
        balance = _uint(entry.get("balance"), f"{where}.balance")
        balance_leaf = _bytes(entry.get("balance_leaf"), f"{where}.balance_leaf")
        claims = [
            ("pubkey_proof", "pubkey_gindex", layout.pubkey_gindex(index), pubkey_leaf(pubkey)),
            (
                "withdrawal_credentials_proof",
                "withdrawal_credentials_gindex",
                layout.withdrawal_credentials_gindex(index),
                credentials,
            ),
            ("balance_proof", "balance_gindex", layout.balance_gindex(index), balance_leaf),
        ]
        for proof_key, gindex_key, expected_gindex, leaf in claims:
            subject = f"validator {index} {proof_key}"
            gindex = _uint(entry.get(gindex_key), f"{where}.{gindex_key}")
            if gindex != expected_gindex:
                checks.append(
                    Check(subject, False, f"{gindex_key} {gindex} is not {expected_gindex} for {layout.name}")
                )
                continue
            branch = _branch(entry.get(proof_key), f"{where}.{proof_key}")
            try:
                reached = compute_root(leaf, branch, gindex)
            except ProofError as exc:
                checks.append(Check(subject, False, str(exc)))
                continue
            ok = reached == block_root
            checks.append(
                Check(subject, ok, "reaches block_root" if ok else f"reaches 0x{reached.hex()}, not block_root")
            )
        held = balance_from_leaf(balance_leaf, index)
        checks.append(
            Check(
                f"validator {index} balance",
                held == balance,
                f"balance_leaf holds {held} gwei at byte {(index % 4) * 8}"
                + ("" if held == balance else f", not {balance}"),
            )
        )
    return checks

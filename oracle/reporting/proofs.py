"""A pool validator's proofs as the oracle sends them, and their local verification against the EIP-4788
root: nothing is sent that this module has not verified."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from oracle.ssz.errors import ProofError
from oracle.ssz.layouts import Layout
from oracle.ssz.proofs import compute_root
from oracle.ssz.state import BeaconState, balance_from_leaf, pubkey_leaf


@dataclass(frozen=True)
class ProvenBalance:
    index: int
    pubkey: bytes
    balance: int  # gwei
    balance_leaf: bytes
    pubkey_proof: tuple[bytes, ...]
    balance_proof: tuple[bytes, ...]
    block_root: bytes
    slot: int
    source: str  # "node" (beacon-kit proof endpoints) or "engine" (our own, from the state)
    credentials: bytes | None = None
    credentials_proof: tuple[bytes, ...] | None = None

    def digest(self) -> str:
        """sha256 over every proof node and leaf: what the journal keeps to identify a report's proof."""
        h = hashlib.sha256()
        for part in (self.pubkey, self.balance.to_bytes(8, "little"), self.balance_leaf, *self.pubkey_proof,
                     *self.balance_proof):  # fmt: skip
            h.update(part)
        return h.hexdigest()


def verify(proven: ProvenBalance, layout: Layout, root: bytes) -> list[str]:
    """Problems with `proven` against `root` (the EIP-4788 root); empty when it verifies."""
    problems = []
    checks = [
        ("pubkey", pubkey_leaf(proven.pubkey), proven.pubkey_proof, layout.pubkey_gindex(proven.index)),
        ("balance", proven.balance_leaf, proven.balance_proof, layout.balance_gindex(proven.index)),
    ]
    if proven.credentials is not None and proven.credentials_proof is not None:
        checks.append(
            ("credentials", proven.credentials, proven.credentials_proof,
             layout.withdrawal_credentials_gindex(proven.index))
        )  # fmt: skip
    for kind, leaf, branch, gindex in checks:
        try:
            reached = compute_root(leaf, branch, gindex)
        except ProofError as exc:
            problems.append(f"{kind} proof: {exc}")
            continue
        if reached != root:
            problems.append(f"{kind} proof does not reach the EIP-4788 root")
    if balance_from_leaf(proven.balance_leaf, proven.index) != proven.balance:
        problems.append("balance leaf does not hold the claimed balance")
    return problems


def engine_proof(state: BeaconState, index: int) -> ProvenBalance:
    proof = state.prove_validator(index)
    return ProvenBalance(
        index=index,
        pubkey=proof.pubkey,
        balance=proof.balance,
        balance_leaf=proof.balance_leaf,
        pubkey_proof=proof.pubkey_proof,
        balance_proof=proof.balance_proof,
        block_root=state.block_root,
        slot=state.slot,
        source="engine",
        credentials=proof.withdrawal_credentials,
        credentials_proof=proof.withdrawal_credentials_proof,
    )

"""An independent reference for the multiproofs: Lodestar's SSZ types deserialize and merkleize our random
states of every Ethereum layout, and Lodestar's persistent-merkle-tree (`createProof`, type `multi`, npm
packages pinned in tools/package.json) proves the same generalized indices from the block root. Its leaves,
witnesses and gindices must equal ours, and its gindices for the pool's paths must equal layouts.py's.

Lodestar holds most uint64 fields as JS numbers, exact only below 2^53, so the random states keep every
uint64 below that (real states do: epochs, slots, indices and gwei amounts are far smaller)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from oracle.devnet.tools import TOOLS_DIR, node_path
from oracle.ssz.layouts import LAYOUTS, Layout
from oracle.ssz.multiproof_document import StateMultiproof, pool_gindices
from oracle.ssz.sample import build_state, random_validators, random_value
from oracle.ssz.state import BeaconState, load_state
from oracle.ssz.state_multiproof import build_state_multiproof, prove_pool
from oracle.ssz.types import Container, List, SSZType, UInt, Vector, concat_gindices

pytestmark = pytest.mark.unit

SCRIPT = TOOLS_DIR / "lodestar_multiproof.mjs"
ETHEREUM_LAYOUTS = sorted(name for name, layout in LAYOUTS.items() if layout.family == "ethereum")
JS_SAFE = 2**53
# Fields build_state fills consistently with the validators (or the block's slot); left as it makes them.
_KEPT = {
    "slot",
    "latest_block_header",
    "validators",
    "balances",
    "previous_epoch_participation",
    "current_epoch_participation",
    "inactivity_scores",
}


def js_safe(sszt: SSZType, value: Any) -> Any:
    """`value` with every uint64 reduced below 2^53."""
    if isinstance(sszt, UInt):
        return value % JS_SAFE if sszt.bits == 64 else value
    if isinstance(sszt, Container):
        return {name: js_safe(ftype, value[name]) for name, ftype in sszt.fields}
    if isinstance(sszt, Vector | List):
        if isinstance(value, np.ndarray):  # basic values, pre-serialized
            if isinstance(sszt.elem, UInt) and sszt.elem.bits == 64:
                return (value.view("<u8") % JS_SAFE).astype("<u8").view(np.uint8)
            return value
        return [js_safe(sszt.elem, item) for item in value]
    return value


def random_state(layout: Layout, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    count = int(rng.integers(5, 70))
    validators = random_validators(count, rng)
    overrides = {
        name: js_safe(ftype, random_value(ftype, rng)) for name, ftype in layout.state.fields if name not in _KEPT
    }
    header = js_safe(
        layout.state.element_type("latest_block_header"),
        random_value(layout.state.element_type("latest_block_header"), rng),
    )
    header.update(slot=int(rng.integers(1, 10**6)), state_root=b"\x00" * 32)
    overrides["latest_block_header"] = header
    overrides["slot"] = header["slot"]
    return build_state(layout, validators, seed=seed, slot=header["slot"], overrides=overrides)


def gindex_sets(state: BeaconState, rng: np.random.Generator) -> list[list[int]]:
    """A pool's gindices with and without pubkeys, and a random mix across the header and the state."""
    layout = state.layout
    count = state.validator_count
    pool = sorted(int(i) for i in rng.choice(count, size=int(rng.integers(1, count + 1)), replace=False))
    mix = [8, 9, 10, 12]  # the header's slot, proposer index, parent root and body root
    mix += [layout.gindex(name) for name, _ in layout.state.fields if name not in ("validators", "balances")]
    mix += [layout.gindex("validators", "__len__"), layout.gindex("balances", "__len__")]
    for index in rng.choice(count, size=min(count, 6), replace=False):
        mix.append(layout.withdrawal_credentials_gindex(int(index)))
        mix.append(layout.effective_balance_gindex(int(index)))
        mix.append(layout.balance_gindex(int(index)))
    picked = sorted({int(g) for g in rng.choice(mix, size=int(rng.integers(1, 12)), replace=False)})
    return [pool_gindices(layout, pool, with_pubkeys=True), pool_gindices(layout, pool), picked]


def lodestar_proofs(cases: list[dict[str, Any]], workdir: Path) -> list[dict[str, Any]]:
    assert (TOOLS_DIR / "node_modules" / "@chainsafe" / "persistent-merkle-tree").is_dir(), (
        "run `make setup` (npm install in tools/)"
    )
    request = workdir / "request.json"
    request.write_text(json.dumps({"cases": cases}))
    result = subprocess.run(
        [node_path(), str(SCRIPT), str(request)], capture_output=True, text=True, timeout=120, cwd=TOOLS_DIR
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answers: list[dict[str, Any]] = json.loads(result.stdout)
    return answers


def hex0x(data: bytes) -> str:
    return "0x" + data.hex()


def test_our_multiproofs_equal_lodestars(tmp_path: Path) -> None:
    cases: list[dict[str, Any]] = []
    ours: list[StateMultiproof] = []
    expected_paths: list[list[int]] = []
    for seed, name in enumerate(ETHEREUM_LAYOUTS, start=1):
        layout = LAYOUTS[name]
        data = random_state(layout, seed)
        path = tmp_path / f"{name}.ssz"
        path.write_bytes(data)
        state = load_state(data, layout)
        rng = np.random.default_rng(seed)
        probe = [0, int(rng.integers(1, state.validator_count))]
        # Lodestar's getPathInfo stops at a validator (its validators are packed nodes), so paths end there.
        paths: list[tuple[str, int]] = [p for i in probe for p in (("balances", i), ("validators", i))]
        for _ in range(3):
            for gindices in gindex_sets(state, rng):
                ours.append(build_state_multiproof(state, gindices))
                cases.append(
                    {
                        "fork": name.split("-")[1],
                        "state": str(path),
                        "gindices": [str(g) for g in gindices],
                        "paths": [list(p) for p in paths],
                    }
                )
                expected_paths.append([layout.gindex(*p) for p in paths])
    answers = lodestar_proofs(cases, tmp_path)
    assert len(answers) == len(cases)
    for case, mine, theirs, expected in zip(cases, ours, answers, expected_paths, strict=True):
        where = f"{case['state']} {len(mine.gindices)} gindices"
        assert theirs["state_root"] == hex0x(mine.state_root), where
        assert theirs["block_root"] == hex0x(mine.block_root), where
        assert theirs["gindices"] == [str(g) for g in mine.gindices], where
        assert theirs["leaves"] == [hex0x(n) for n in mine.leaves], where
        assert theirs["witnesses"] == [hex0x(n) for n in mine.witnesses], where
        assert [concat_gindices(11, int(g)) for g in theirs["path_gindices"]] == expected, where


def test_a_pools_document_equals_lodestars_proof(tmp_path: Path) -> None:
    layout = LAYOUTS["ethereum-electra"]
    data = random_state(layout, 77)
    path = tmp_path / "state.ssz"
    path.write_bytes(data)
    state = load_state(data, layout)
    proof = prove_pool(state, list(range(0, state.validator_count, 2)), with_pubkeys=True)
    (theirs,) = lodestar_proofs(
        [{"fork": "electra", "state": str(path), "gindices": [str(g) for g in proof.gindices]}], tmp_path
    )
    doc = proof.to_json()
    assert (theirs["gindices"], theirs["leaves"], theirs["witnesses"]) == (
        doc["gindices"],
        doc["leaves"],
        doc["witnesses"],
    )
    assert theirs["block_root"] == doc["block_root"]
    # Lodestar's tree holds each validator's hash_tree_root(pubkey) at our pubkey gindex.
    leaves = dict(zip(theirs["gindices"], theirs["leaves"], strict=True))
    for index, pubkey in zip(proof.validator_indices, proof.pubkeys, strict=True):
        assert leaves[str(layout.pubkey_gindex(index))] == hex0x(hashlib.sha256(pubkey + bytes(16)).digest())

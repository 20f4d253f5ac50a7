"""An independent reference for the compact multiproofs of Lodestar's GET /eth/v0/beacon/proof/state/{state_id}:
Lodestar's persistent-merkle-tree (npm, pinned in tools/package.json) through tools/lodestar_compact.mjs.
computeDescriptor equals our compute_descriptor on random gindex sets (duplicates and nested gindices
included), descriptorToBitlist accepts and refuses what ours does with the same message; for random
ethereum-electra states, createCompactMultiProof on Lodestar's own merkleization of the state gives the
leaves our builder reads from the engine's tree, and createNodeFromCompactMultiProof rebuilds from our leaves
the root nodes_from_compact does, the state root. Last, Lodestar's API client fetches the devnet route (a
real BeaconApi over a SimulatedChain), as JSON and as SSZ, and gets those leaves and the fork."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web

import tests.test_multiproof_reference as multiproof_reference
from oracle.devnet.anvil import free_port
from oracle.devnet.beacon_api import BeaconApi
from oracle.devnet.chain import ChainConfig, Payload, SimulatedChain
from oracle.devnet.tools import TOOLS_DIR, node_path
from oracle.ssz.compact import (
    block_to_state_gindex,
    compute_descriptor,
    descriptor_gindices,
    descriptor_to_bitlist,
    nodes_from_compact,
)
from oracle.ssz.errors import ProofError
from oracle.ssz.layouts import LAYOUTS
from oracle.ssz.multiproof_document import pool_gindices
from oracle.ssz.state import BeaconState, load_state
from oracle.ssz.state_multiproof import build_compact_proof

pytestmark = pytest.mark.unit

SCRIPT = TOOLS_DIR / "lodestar_compact.mjs"
ELECTRA = LAYOUTS["ethereum-electra"]


def lodestar(request: dict[str, Any], workdir: Path) -> dict[str, Any]:
    assert (TOOLS_DIR / "node_modules" / "@chainsafe" / "persistent-merkle-tree").is_dir(), (
        "run `make setup` (npm install in tools/)"
    )
    path = workdir / "compact-request.json"
    path.write_text(json.dumps(request))
    result = subprocess.run(
        [node_path(), str(SCRIPT), str(path)], capture_output=True, text=True, timeout=180, cwd=TOOLS_DIR
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def hex0x(data: bytes) -> str:
    return "0x" + data.hex()


def random_gindex_set(rng: np.random.Generator) -> list[int]:
    """Random gindices, nested ones and repeats included (computeDescriptor takes them); never the root with
    others, for which computeDescriptor gives no valid descriptor and ours refuses."""
    depth = int(rng.integers(1, 70))
    count = int(rng.integers(1, 60))
    out = []
    for _ in range(count):
        d = int(rng.integers(1, depth + 1))
        out.append((1 << d) | int(rng.integers(0, 1 << min(d, 62))) << max(0, d - 62))
    if rng.random() < 0.3:
        out += out[: int(rng.integers(1, len(out) + 1))]
    return out


def test_descriptors_and_bitlists_equal_lodestars(tmp_path: Path) -> None:
    rng = np.random.default_rng(2026)
    sets = [random_gindex_set(rng) for _ in range(300)] + [[1], [2], [3], [2, 3], [4, 2], [2**100]]
    bitlists = [compute_descriptor(s) for s in sets[:50]]
    bitlists += [rng.bytes(int(rng.integers(0, 6))) for _ in range(200)]
    bitlists += [b"", b"\x00", b"\x80", b"\x80\x00", b"\x90", b"\x60", b"\x01", b"\x00\x01", b"\x0f"]
    answer = lodestar({"descriptors": [[str(g) for g in s] for s in sets], "bitlists": [hex0x(b) for b in bitlists]},
                      tmp_path)  # fmt: skip
    assert answer["descriptors"] == [hex0x(compute_descriptor(s)) for s in sets]
    refused = 0
    for descriptor, theirs in zip(bitlists, answer["bitlists"], strict=True):
        try:
            ours: Any = "".join("1" if bit else "0" for bit in descriptor_to_bitlist(descriptor))
        except ProofError as exc:
            ours = {"error": str(exc)}
            refused += 1
        assert ours == theirs, hex0x(descriptor)
    assert 0 < refused < len(bitlists)


def state_descriptors(state: BeaconState, rng: np.random.Generator) -> list[bytes]:
    """A pool's leaves with and without pubkeys, a random mix of fields, and random nodes of the state."""
    layout = state.layout
    count = state.validator_count
    pool = sorted(int(i) for i in rng.choice(count, size=int(rng.integers(1, count + 1)), replace=False))
    mix = [layout.gindex(name) for name, _ in layout.state.fields]
    mix += [layout.gindex("validators", "__len__"), layout.gindex("balances", "__len__")]
    for index in rng.choice(count, size=min(count, 6), replace=False):
        mix.append(layout.withdrawal_credentials_gindex(int(index)))
        mix.append(layout.effective_balance_gindex(int(index)))
        mix.append(layout.pubkey_gindex(int(index)) * 2 + 1)  # a pubkey's second chunk
        mix.append(layout.gindex("validators", int(index)))
    picked = [int(g) for g in rng.choice(mix, size=int(rng.integers(1, 14)), replace=False)]
    sets = [pool_gindices(layout, pool, with_pubkeys=True), pool_gindices(layout, pool), picked]
    return [compute_descriptor([block_to_state_gindex(layout, g) for g in s]) for s in sets] + [
        compute_descriptor([int(rng.integers(2, 64))]),  # the state's top levels
        compute_descriptor([1]),  # the root alone
    ]


def test_our_compact_proofs_equal_lodestars(tmp_path: Path) -> None:
    cases: list[dict[str, Any]] = []
    expected: list[tuple[bytes, list[bytes], bytes]] = []
    for seed in range(1, 5):
        data = multiproof_reference.random_state(ELECTRA, 300 + seed)
        path = tmp_path / f"state-{seed}.ssz"
        path.write_bytes(data)
        state = load_state(data, ELECTRA)
        rng = np.random.default_rng(seed)
        for descriptor in state_descriptors(state, rng):
            leaves = build_compact_proof(state, descriptor)
            root = nodes_from_compact(descriptor, leaves)[1]
            assert root == state.state_root
            expected.append((descriptor, leaves, root))
            cases.append(
                {
                    "fork": "electra",
                    "state": str(path),
                    "descriptor": hex0x(descriptor),
                    "leaves": [hex0x(leaf) for leaf in leaves],
                }
            )
    answer = lodestar({"cases": cases}, tmp_path)
    assert len(answer["cases"]) == len(cases)
    for (descriptor, leaves, root), theirs in zip(expected, answer["cases"], strict=True):
        where = f"descriptor of {len(descriptor)} bytes, {len(leaves)} leaves"
        assert theirs["state_root"] == hex0x(root), where
        assert theirs["leaves"] == [hex0x(leaf) for leaf in leaves], where
        assert theirs["root_from_own_leaves"] == theirs["root_from_given_leaves"] == hex0x(root), where
        assert len(descriptor_gindices(descriptor)) == len(leaves)


async def test_lodestars_client_reads_the_devnet_route(tmp_path: Path) -> None:
    chain = SimulatedChain(ChainConfig(layout="ethereum-electra", validators=40, slots_per_epoch=4), b"\x22" * 20)
    for slot in (1, 2):
        chain.advance(Payload(block_hash=bytes([slot]) * 32, block_number=slot, timestamp=chain.slot_time(slot)))
    state = chain.state(chain.slot)
    layout = state.layout
    wanted = [*pool_gindices(layout, [0, 3, 4, 5, 17, 39], with_pubkeys=True), layout.gindex("slot")]
    descriptor = compute_descriptor([block_to_state_gindex(layout, g) for g in wanted])
    leaves = [hex0x(leaf) for leaf in build_compact_proof(state, descriptor)]
    runner = web.AppRunner(BeaconApi(chain, {}, 1).app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        request = {"api": {"base_url": f"http://127.0.0.1:{port}", "state_id": "head", "descriptor": hex0x(descriptor)}}
        answer = await asyncio.to_thread(lodestar, request, tmp_path)
    finally:
        await runner.cleanup()
    for wire in ("json", "ssz"):
        got = answer["api"][wire]
        assert got["version"] == "electra", wire
        assert got["descriptor"] == hex0x(descriptor), wire
        assert got["leaves"] == leaves, wire
        assert got["root"] == hex0x(state.state_root), wire

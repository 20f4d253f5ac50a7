"""Where the balance proof comes from on beacon-kit: the node's /bkit/v1/proof answers verified beside our
engine's (reporting.cross_check_state, on by default), or our engine's alone (off: no proof requests)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from oracle.beacon.answers import EndpointError
from oracle.config.loading import load_settings
from oracle.reporting.context import Anchor, Pool
from oracle.reporting.prove import prove
from oracle.ssz.layouts import get_layout
from oracle.ssz.sample import sample_state
from oracle.ssz.state import load_state

pytestmark = pytest.mark.unit


class Node:
    label = "node:1"

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def bkit_proof(self, kind: str, timestamp_id: str, index: int) -> dict[str, Any]:
        self.asked.append(kind)
        raise EndpointError(self.label, kind, "unavailable")


@pytest.mark.parametrize("cross_check", [True, False])
def test_cross_check_state_decides_whether_the_node_is_asked(tmp_path: Path, cross_check: bool) -> None:
    layout = get_layout("beaconkit-electra")
    state = load_state(sample_state(layout.name, 8, seed=3), layout)
    config = tmp_path / "c.yaml"
    config.write_text("chain_id: 1\nbeacon_endpoints: [http://b:1]\nexecution_endpoints: [http://e:1]\n"
                      "contracts: {factory: '0x" + "11" * 20 + "'}\n"
                      f"reporting: {{cross_check_state: {str(cross_check).lower()}}}\n")  # fmt: skip
    ctx = SimpleNamespace(settings=load_settings(config, environ={}))
    node = Node()
    anchor = Anchor(slot=state.slot, block_root=state.block_root, timestamp=1, el_block=1)
    pool = Pool(2, state.validator(2)["pubkey"], "0x" + "33" * 20)
    proven = asyncio.run(prove(ctx, node, anchor, state, pool))  # type: ignore[arg-type]
    assert proven is not None and proven.source == "engine" and proven.balance == state.balance(2)
    assert node.asked == (["validator_pubkey"] if cross_check else [])

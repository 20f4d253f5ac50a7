"""An independent, widely used client reads the devnet's Ethereum-layout Beacon API: Lodestar's API client and
SSZ types (npm `@lodestar/api`, `@lodestar/types`, pinned in tools/package.json) fetch genesis, spec, syncing,
a header, validators and the SSZ debug state, decode the state and hash it. A response Lodestar cannot read,
or a root it computes differently, is a devnet bug."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from oracle.devnet.network import Devnet
from oracle.devnet.tools import TOOLS_DIR, node_path
from oracle.ssz.state import load_state
from tests.devnet.conftest import started

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]
SCRIPT = TOOLS_DIR / "lodestar_read_devnet.mjs"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def ethereum() -> AsyncIterator[Devnet]:
    net = await started(layout="ethereum-electra")
    yield net
    await net.stop()


async def test_lodestar_reads_the_devnet(ethereum: Devnet) -> None:
    assert (TOOLS_DIR / "node_modules" / "@lodestar" / "api").is_dir(), "run `make setup` (npm install in tools/)"
    result = await asyncio.to_thread(
        subprocess.run,
        [node_path(), str(SCRIPT), ethereum.beacon_url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=TOOLS_DIR,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    read = json.loads(result.stdout)
    chain = ethereum.chain
    assert chain is not None
    slot = int(read["header_slot"])
    record = chain.records[slot]
    assert read["genesis_validators_root"] == "0x" + chain.genesis_validators_root.hex()
    assert int(read["seconds_per_slot"]) == chain.config.slot_seconds
    assert read["state_fork"] == "electra" and read["state_slot"] == slot
    assert read["state_validators"] == load_state(record.state).validator_count
    # Lodestar's own hashing of the SSZ state agrees with the devnet's engine, and the block root it derives
    # from the state is the header's root.
    assert read["state_root"] == "0x" + record.state_root.hex() == read["header_state_root"]
    assert record.block_root is not None
    assert read["block_root"] == "0x" + record.block_root.hex() == read["header_root"]
    assert [v["index"] for v in read["validators"]] == [0, 1]
    assert read["validators"][1]["pubkey"] == "0x" + bytes(chain.validators.pubkeys[1]).hex()

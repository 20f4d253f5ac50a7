"""The devnet's Beacon API against the OpenAPI spec, and beacon-kit's proof endpoints against the EIP-4788
root read from anvil (checked from outside, through public interfaces only)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from oracle.beacon.client import BeaconNode
from oracle.devnet.anvil import DevnetError
from oracle.devnet.beacon_roots import BEACON_ROOTS
from oracle.devnet.network import Devnet
from oracle.ssz.bkjson import read_debug_state
from oracle.ssz.compact import block_to_state_gindex, compute_descriptor, leaves_for, nodes_from_compact
from oracle.ssz.multiproof_document import pool_gindices
from oracle.ssz.proofs import compute_root
from oracle.ssz.state import load_state, pubkey_leaf
from oracle.ssz.state_multiproof import build_state_multiproof
from tests import openapi

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]


async def get(devnet: Devnet, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(devnet.beacon_url + path, **kwargs) as response,
    ):
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.read()


async def post(devnet: Devnet, path: str, body: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(devnet.beacon_url + path, json=body) as response,
    ):
        return response.status, await response.json()


SPEC_CHECKS = [
    ("/eth/v1/node/syncing", "/eth/v1/node/syncing"),
    ("/eth/v1/node/version", "/eth/v1/node/version"),
    ("/eth/v1/config/spec", "/eth/v1/config/spec"),
    ("/eth/v1/beacon/genesis", "/eth/v1/beacon/genesis"),
    ("/eth/v1/beacon/headers", "/eth/v1/beacon/headers"),
    ("/eth/v1/beacon/headers/head", "/eth/v1/beacon/headers/{block_id}"),
    ("/eth/v1/beacon/headers/2", "/eth/v1/beacon/headers/{block_id}"),
    ("/eth/v1/beacon/blocks/finalized/root", "/eth/v1/beacon/blocks/{block_id}/root"),
    ("/eth/v1/beacon/states/head/root", "/eth/v1/beacon/states/{state_id}/root"),
    ("/eth/v1/beacon/states/head/validators", "/eth/v1/beacon/states/{state_id}/validators"),
    (
        "/eth/v1/beacon/states/head/validators?id=0&id=3,4&status=active",
        "/eth/v1/beacon/states/{state_id}/validators",
    ),
    (
        "/eth/v1/beacon/states/genesis/validators/1",
        "/eth/v1/beacon/states/{state_id}/validators/{validator_id}",
    ),
    (
        "/eth/v1/beacon/states/head/validator_balances?id=1",
        "/eth/v1/beacon/states/{state_id}/validator_balances",
    ),
]


async def test_responses_fit_the_openapi_schemas(devnet: Devnet) -> None:
    assert devnet.chain is not None
    for url, template in SPEC_CHECKS:
        if "/blocks/" in url and not devnet.chain.ethereum:
            continue  # beacon-kit does not implement blocks/{id}/root (test_layout_specific_endpoints)
        status, body = await get(devnet, url)
        assert status == 200, url
        openapi.validate(template, "get", 200, body)
    status, body = await post(devnet, "/eth/v1/beacon/states/head/validators", {"ids": ["0", "2"], "statuses": None})
    openapi.validate("/eth/v1/beacon/states/{state_id}/validators", "post", 200, body)
    assert [v["index"] for v in body["data"]] == ["0", "2"]
    status, body = await post(devnet, "/eth/v1/beacon/states/head/validator_balances", ["1"])
    openapi.validate("/eth/v1/beacon/states/{state_id}/validator_balances", "post", 200, body)


async def test_validators_match_the_chain(devnet: Devnet) -> None:
    assert devnet.chain is not None
    pubkey = "0x" + bytes(devnet.chain.validators.pubkeys[4]).hex()
    status, body = await get(devnet, f"/eth/v1/beacon/states/head/validators/{pubkey}")
    assert status == 200 and body["data"]["index"] == "4"
    assert body["data"]["status"] == "active_ongoing"
    assert body["data"]["balance"] == str(int(devnet.chain.validators.balances[4]))


@pytest.mark.parametrize(
    ("url", "status", "template"),
    [
        ("/eth/v1/beacon/states/current/root", 400, "/eth/v1/beacon/states/{state_id}/root"),
        # beacon-kit answers 500 for a state it does not have (node-api/middleware/response.go)
        ("/eth/v1/beacon/states/99999999/root", (404, 500), "/eth/v1/beacon/states/{state_id}/root"),
        ("/eth/v1/beacon/states/0x" + "ab" * 32 + "/root", (404, 500), "/eth/v1/beacon/states/{state_id}/root"),
        ("/eth/v1/beacon/headers/nonsense", 400, "/eth/v1/beacon/headers/{block_id}"),
        (
            "/eth/v1/beacon/states/head/validators/777",
            404,
            "/eth/v1/beacon/states/{state_id}/validators/{validator_id}",
        ),
        ("/eth/v1/beacon/states/head/validators?id=0xzz", 400, "/eth/v1/beacon/states/{state_id}/validators"),
        (
            "/eth/v1/beacon/states/head/validators?status=sleeping",
            400,
            "/eth/v1/beacon/states/{state_id}/validators",
        ),
    ],
)
async def test_errors_are_spec_shaped(devnet: Devnet, url: str, status: int | tuple[int, int], template: str) -> None:
    assert devnet.chain is not None
    if isinstance(status, tuple):
        status = status[0] if devnet.chain.ethereum else status[1]
    got, body = await get(devnet, url)
    assert got == status
    openapi.validate(template, "get", status, body)


async def test_debug_state_matches_the_chain(devnet: Devnet) -> None:
    assert devnet.chain is not None
    record = devnet.chain.head
    status, body = await get(devnet, "/eth/v2/debug/beacon/states/head")
    assert status == 200 and body["version"] == "electra"
    # The JSON (beacon-kit's Go encoding, or the Beacon API's) re-encodes to the very state the chain merkleized.
    layout, _, data = read_debug_state(body)
    assert layout is devnet.chain.layout and data == record.state
    status, raw = await get(devnet, "/eth/v2/debug/beacon/states/head", headers={"Accept": "application/octet-stream"})
    if devnet.chain.ethereum:
        openapi.validate("/eth/v2/debug/beacon/states/{state_id}", "get", 200, body)
        assert raw == record.state
        assert load_state(raw).state_root == record.state_root
    else:
        assert isinstance(raw, dict)  # beacon-kit: JSON only, whatever Accept says
        assert body["data"]["latest_block_header"]["state_root"] == "0x" + "00" * 32
        assert "genesis_time" not in body["data"] and "parent_block_root" in body["data"]["latest_block_header"]


async def test_layout_specific_endpoints(devnet: Devnet) -> None:
    assert devnet.chain is not None
    status, body = await get(devnet, "/eth/v1/beacon/states/head/finality_checkpoints")
    health, _ = await get(devnet, "/eth/v1/node/health")
    if devnet.chain.ethereum:
        assert status == 200 and health == 200
        openapi.validate("/eth/v1/beacon/states/{state_id}/finality_checkpoints", "get", 200, body)
    else:
        assert status == 500 and health == 500  # beacon-kit: "not yet implemented", a plain error
        assert set(body) == {"code", "message"} and "not yet implemented" in body["message"]
        status, body = await get(devnet, "/eth/v1/beacon/blocks/head/root")
        assert status == 500 and "not yet implemented" in body["message"]


async def test_missed_slot(devnet: Devnet) -> None:
    assert devnet.chain is not None
    if not devnet.chain.ethereum:
        with pytest.raises(DevnetError, match="beacon-kit has no missed slots"):
            await devnet.step(missed=True)
        return
    slot = await devnet.step(missed=True)
    status, _ = await get(devnet, f"/eth/v1/beacon/headers/{slot}")
    assert status == 404
    status, body = await get(devnet, f"/eth/v1/beacon/states/{slot}/root")
    assert status == 200
    assert body["data"]["root"] == "0x" + devnet.chain.records[slot].state_root.hex()
    await devnet.step()


async def test_lodestar_compact_state_proofs(devnet: Devnet) -> None:
    """Ethereum mode serves Lodestar's /eth/v0/beacon/proof/state/{state_id}; the client fetches the pool's
    leaves through it, anchored at the header's state root. beacon-kit serves no such route: 404, and None."""
    chain = devnet.chain
    assert chain is not None
    layout = chain.layout
    slot = chain.slot
    state_root = chain.records[slot].state_root
    wanted = pool_gindices(layout, chain.pool_indices(), with_pubkeys=True)
    descriptor = compute_descriptor([block_to_state_gindex(layout, g) for g in wanted])
    status, body = await get(devnet, f"/eth/v0/beacon/proof/state/{slot}?format=0x{descriptor.hex()}")
    async with aiohttp.ClientSession() as session:
        node = BeaconNode(devnet.beacon_url, session, timeout=30, retry_budget=2)
        nodes = await node.compact_state_proof(str(slot), wanted, state_root, layout)
    if not chain.ethereum:
        assert status == 404 and nodes is None
        return
    assert status == 200 and body["version"] == "electra"
    leaves = [bytes.fromhex(leaf[2:]) for leaf in body["data"]["leaves"]]
    assert nodes_from_compact(descriptor, leaves)[1] == state_root
    assert nodes is not None and nodes[layout.header_state_root_gindex] == state_root
    state = chain.state(slot)
    assert leaves_for(nodes, wanted) == build_state_multiproof(state, wanted).leaf_map()


async def eip4788_root(devnet: Devnet, timestamp: int) -> bytes:
    result = await devnet.w3.eth.call(
        {
            "to": devnet.w3.to_checksum_address(BEACON_ROOTS),
            "data": "0x" + timestamp.to_bytes(32, "big").hex(),
        }
    )
    return bytes(result)


async def test_bkit_proofs_verify_against_the_eip4788_root(devnet: Devnet) -> None:
    assert devnet.chain is not None
    if devnet.chain.ethereum:
        status, _ = await get(devnet, "/bkit/v1/proof/validator_balance/head/0")
        assert status == 404
        return
    layout = devnet.chain.layout
    await devnet.step()
    timestamp = devnet.chain.slot_time(devnet.chain.slot)
    root = await eip4788_root(devnet, timestamp)
    for index in (0, 3):
        _, pk = await get(devnet, f"/bkit/v1/proof/validator_pubkey/t{timestamp}/{index}")
        _, wc = await get(devnet, f"/bkit/v1/proof/validator_credentials/t{timestamp}/{index}")
        _, bal = await get(devnet, f"/bkit/v1/proof/validator_balance/t{timestamp}/{index}")
        assert pk["beacon_block_root"] == "0x" + root.hex()
        nodes = [bytes.fromhex(n[2:]) for n in pk["validator_pubkey_proof"]]
        leaf = pubkey_leaf(bytes.fromhex(pk["validator_pubkey"][2:]))
        assert compute_root(leaf, nodes, layout.pubkey_gindex(index)) == root
        nodes = [bytes.fromhex(n[2:]) for n in wc["withdrawal_credentials_proof"]]
        leaf = bytes.fromhex(wc["validator_withdrawal_credentials"][2:])
        assert compute_root(leaf, nodes, layout.withdrawal_credentials_gindex(index)) == root
        nodes = [bytes.fromhex(n[2:]) for n in bal["balance_proof"]]
        assert compute_root(bytes.fromhex(bal["balance_leaf"][2:]), nodes, layout.balance_gindex(index)) == root
        assert int(bal["validator_balance"], 16) == int(devnet.chain.state(devnet.chain.slot - 1).balance(index))
        assert bal["beacon_block_header"]["slot"] == hex(devnet.chain.slot - 1)
    _, proposer = await get(devnet, f"/bkit/v1/proof/block_proposer/t{timestamp}")
    index = int(proposer["beacon_block_header"]["proposer_index"], 16)
    nodes = [bytes.fromhex(n[2:]) for n in proposer["proposer_index_proof"]]
    assert compute_root(index.to_bytes(32, "little"), nodes, 9) == root
    status, body = await get(devnet, "/bkit/v1/proof/validator_balance/t1/0")
    assert status == 500 and set(body) == {"code", "message"}  # beacon-kit: not found is a plain 500
    status, body = await get(devnet, "/bkit/v1/proof/validator_balance/head/9999")
    assert status == 500


async def test_random_events_switch_on_and_off(devnet: Devnet) -> None:
    """The soak stops random activity before it checks that every pool settled."""
    before = devnet.random_events
    assert await post(devnet, "/devnet/v1/random_events/on", None) == (200, {"random_events": "on"})
    assert devnet.random_events
    assert await post(devnet, "/devnet/v1/random_events/off", None) == (200, {"random_events": "off"})
    assert not devnet.random_events
    status, body = await post(devnet, "/devnet/v1/random_events/maybe", None)
    assert status == 400 and "on or off" in body["message"]
    devnet.random_events = before

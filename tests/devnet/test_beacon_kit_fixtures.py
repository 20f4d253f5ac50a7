"""The devnet in beacon-kit mode against beacon-kit's own answers (tests/data/beacon-kit/), field by field:
status, key sets, JSON types and number encodings. Where the devnet differs, beacon-kit wins and this fails."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from oracle.devnet.network import Devnet
from tests.beaconkit import fixture, shape_differences
from tests.devnet.conftest import started

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def bkit() -> AsyncIterator[Devnet]:
    net = await started(layout="beaconkit-electra", withdrawal_delay_epochs=100)
    assert net.chain is not None
    net.chain.request_withdrawal(2, 10**9)  # so that pending_partial_withdrawals is there to compare
    await net.step()
    yield net
    await net.stop()


def _ts(net: Devnet) -> str:
    assert net.chain is not None
    return f"t{net.chain.slot_time(net.chain.slot)}"  # the latest EL block: its root is the previous slot's


# fixture -> (method, path on the devnet, JSON body); fixtures not listed are for the unit tests only
# (debug_state_deneb1, proof_deneb_balance: the devnet has no Deneb fork).
REQUESTS: dict[str, tuple[str, Callable[[Devnet], str], Any]] = {
    "node_syncing": ("GET", lambda n: "/eth/v1/node/syncing", None),
    "node_syncing_between_blocks": ("GET", lambda n: "/eth/v1/node/syncing", None),
    "node_version": ("GET", lambda n: "/eth/v1/node/version", None),
    "config_spec": ("GET", lambda n: "/eth/v1/config/spec", None),
    "beacon_genesis": ("GET", lambda n: "/eth/v1/beacon/genesis", None),
    "beacon_header": ("GET", lambda n: "/eth/v1/beacon/headers/2", None),
    "beacon_header_not_found": ("GET", lambda n: "/eth/v1/beacon/headers/99999999", None),
    "beacon_header_unknown_root": ("GET", lambda n: "/eth/v1/beacon/headers/0x" + "ee" * 32, None),
    "beacon_validators_post": ("POST", lambda n: "/eth/v1/beacon/states/head/validators", {"ids": ["2"]}),
    "debug_state_electra": ("GET", lambda n: "/eth/v2/debug/beacon/states/head", None),
    "debug_state_pruned": ("GET", lambda n: "/eth/v2/debug/beacon/states/99999999", None),
    "proof_validator_pubkey": ("GET", lambda n: f"/bkit/v1/proof/validator_pubkey/{_ts(n)}/2", None),
    "proof_validator_credentials": ("GET", lambda n: f"/bkit/v1/proof/validator_credentials/{_ts(n)}/2", None),
    "proof_validator_balance": ("GET", lambda n: f"/bkit/v1/proof/validator_balance/{_ts(n)}/2", None),
    "proof_block_proposer": ("GET", lambda n: f"/bkit/v1/proof/block_proposer/{_ts(n)}", None),
    "proof_unknown_timestamp": ("GET", lambda n: "/bkit/v1/proof/validator_balance/t1/0", None),
    "proof_index_out_of_range": ("GET", lambda n: f"/bkit/v1/proof/validator_balance/{_ts(n)}/1000", None),
    "not_implemented_finality_checkpoints": ("GET", lambda n: "/eth/v1/beacon/states/head/finality_checkpoints", None),
    "not_implemented_node_health": ("GET", lambda n: "/eth/v1/node/health", None),
    "not_implemented_block_root": ("GET", lambda n: "/eth/v1/beacon/blocks/head/root", None),
    "not_implemented_events": ("GET", lambda n: "/eth/v1/events?topics=head", None),
}


async def answer(net: Devnet, method: str, path: str, body: Any) -> tuple[int, dict[str, str], Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, net.beacon_url + path, json=body, headers={"Accept": "application/json"}) as r,
    ):
        return r.status, dict(r.headers), await r.json(content_type=None)


@pytest.mark.parametrize("name", sorted(REQUESTS))
async def test_the_devnet_answers_as_beacon_kit_does(bkit: Devnet, name: str) -> None:
    expected = fixture(name)
    method, path, body = REQUESTS[name]
    status, headers, got = await answer(bkit, method, path(bkit), body)
    assert status == expected["status"], (name, got)
    # Every BeaconState field is omitempty: a zero value is absent on one side and present on the other.
    differences = shape_differences(expected["body"], got)
    if name == "debug_state_electra":
        differences = [d for d in differences if not d.startswith("$.data")]
        differences += shape_differences(expected["body"]["data"], got["data"], "$.data", omitempty=True)
        assert "Eth-Consensus-Version" not in headers  # beacon-kit names the fork in `version` only
        assert got["data"]["pending_partial_withdrawals"][0].keys() == {"ValidatorIndex", "Amount", "WithdrawableEpoch"}
    assert differences == []


async def test_header_root_is_the_body_root(bkit: Devnet) -> None:
    _, _, got = await answer(bkit, "GET", "/eth/v1/beacon/headers/head", None)
    assert got["data"]["root"] == got["data"]["header"]["message"]["body_root"]
    assert got["data"]["header"]["message"]["state_root"] != "0x" + "00" * 32  # filled in, as beacon-kit does

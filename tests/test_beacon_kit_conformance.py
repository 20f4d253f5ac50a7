"""The daemon's Beacon API client against beacon-kit as it really answers: every fixture of
tests/data/beacon-kit/ (shapes read from beacon-kit's Go handlers at 2059e2abe) is parsed by the client, and
the values it yields are checked against each other and against our hashlib verifier."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from oracle.beacon.answers import (
    EndpointError,
    NotFound,
    Syncing,
    error_class,
    header_root,
    parse_bkit_proof,
    parse_genesis,
    parse_header,
    parse_spec,
    parse_syncing,
    parse_validators,
)
from oracle.config.loading import load_settings
from oracle.reporting.endpoints import chain_problem, is_lagging
from oracle.ssz.bkjson import GO_FIELDS, read_debug_state, write_debug_state
from oracle.ssz.errors import SSZError
from oracle.ssz.layouts import LAYOUTS
from oracle.ssz.proofs import compute_root
from oracle.ssz.state import balance_from_leaf, load_state, pubkey_leaf
from tests.beaconkit import fixture, fixture_names

pytestmark = pytest.mark.unit

MAINNET_ROOT = "0xdf609e3b062842c6425ff716aec2d2092c46455d9b2e1a2c9e32c6ba63ff0bda"


def body(name: str) -> Any:
    return fixture(name)["body"]


def electra_state() -> Any:
    layout, _, raw = read_debug_state(body("debug_state_electra"))
    return load_state(raw, layout)


def mainnet_settings(tmp_path: Path, **extra: str) -> Any:
    path = tmp_path / "c.yaml"
    lines = ["preset: berachain-mainnet", "beacon_endpoints: [http://b:1]", "execution_endpoints: [http://e:1]"]
    lines += [f"{key}: {value}" for key, value in extra.items()]
    path.write_text("\n".join(lines) + "\n")
    return load_settings(path, environ={})


@pytest.mark.parametrize(
    ("name", "layout", "version"),
    [("debug_state_electra", "beaconkit-electra", "electra"), ("debug_state_deneb1", "beaconkit-deneb", "deneb1")],
)
def test_debug_state_reads_and_writes_back_exactly(name: str, layout: str, version: str) -> None:
    doc = body(name)
    served, served_version, raw = read_debug_state(doc)
    assert served.name == layout and served_version == version
    state = load_state(raw, served)
    assert state.slot == 0x4D2 and state.validator_count == 3
    assert [state.balance(i) for i in range(3)] == doc["data"]["balances"]
    assert state.validator(2)["withdrawal_credentials"].hex().endswith("e858802ed532c6dad2d196ab5b1f2c15f9cb52b4")
    value = served.state.decode(state.buf, 0, state.buf.shape[0], "BeaconState")
    assert write_debug_state(served, value, version) == doc  # the devnet serves exactly this encoding
    if layout == "beaconkit-electra":
        assert state.field("pending_partial_withdrawals") == [
            {"validator_index": 2, "amount": 10**9, "withdrawable_epoch": 0x27}
        ]
        assert value["total_slashing"] == 0 and value["slashings"] == []  # omitempty: absent means empty


def test_every_beacon_kit_struct_field_has_its_go_name() -> None:
    for layout in LAYOUTS.values():
        if layout.family != "beaconkit":
            continue
        containers = [layout.state] + [t for _, t in layout.state.fields if hasattr(t, "fields")]
        containers += [t.elem for _, t in layout.state.fields if hasattr(getattr(t, "elem", None), "fields")]
        for container in containers:
            assert {name for name, _ in container.fields} <= set(GO_FIELDS[container.name]), container.name


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        # genesis_time makes it an Ethereum (Beacon API) state, which this is not
        (lambda d: d["data"].update(genesis_time="1"), "missing field(s) historical_roots"),
        (lambda d: d["data"]["latest_block_header"].update(slot="1234"), "latest_block_header.slot"),
        (
            lambda d: d["data"]["validators"][1].update(effective_balance="0x1"),
            "unexpected field(s) 'effective_balance'",
        ),
        (lambda d: d["data"].update(balances=["250000000000000"] * 3), "$.data.balances[0]"),
        (lambda d: d["data"].pop("fork"), "missing field(s) fork"),
        (lambda d: d["data"].update(historical_summaries=[]), "unexpected field(s) 'historical_summaries'"),
        (lambda d: d.update(version="gloas"), "unsupported fork 'gloas'"),
        (lambda d: d.update(version="deneb"), "unexpected field(s) 'pending_partial_withdrawals'"),
        (lambda d: d["data"]["fork"].update(current_version="0x04010000"), "is not a electra version"),
        (lambda d: d["data"]["latest_execution_payload_header"].update(baseFeePerGas="0x7"), "baseFeePerGas"),
        (lambda d: d.pop("version"), "needs 'version' and 'data'"),
        (lambda d: d["data"]["eth1_data"].update({"\n": 1}), "unexpected field(s) '\\n' for Eth1Data"),
    ],
)
def test_a_malformed_debug_state_is_one_clear_error(mutate: Any, message: str) -> None:
    doc = copy.deepcopy(body("debug_state_electra"))
    mutate(doc)
    with pytest.raises(SSZError) as info:
        read_debug_state(doc)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_state_with_process_slot_applied_is_refused_with_the_reason() -> None:
    """Older beacon-kit nodes served states whose header's state_root was already filled in."""
    doc = copy.deepcopy(body("debug_state_electra"))
    doc["data"]["latest_block_header"]["state_root"] = "0x" + "11" * 32
    layout, _, raw = read_debug_state(doc)
    with pytest.raises(SSZError, match=r"process_slot was applied.*older beacon-kit nodes"):
        load_state(raw, layout)


def test_header_root_is_computed_not_taken() -> None:
    """beacon-kit's data.root is the BODY root: the client hashes the message for the block root."""
    state = electra_state()
    header = parse_header(body("beacon_header"))
    assert header.root == state.block_root and header.slot == state.slot
    assert body("beacon_header")["data"]["root"] == "0x" + header.body_root.hex()
    assert header_root(header.slot, header.proposer_index, header.parent_root, header.state_root,
                       header.body_root) == state.block_root  # fmt: skip
    forged = copy.deepcopy(body("beacon_header"))
    forged["data"]["root"] = "0x" + "12" * 32
    with pytest.raises(ValueError, match="neither the header's hash_tree_root nor its body root"):
        parse_header(forged)


@pytest.mark.parametrize("kind", ["validator_pubkey", "validator_credentials", "validator_balance"])
def test_proof_answers_parse_and_verify_against_the_block_root(kind: str) -> None:
    state = electra_state()
    proof = parse_bkit_proof(kind, body(f"proof_{kind}"))
    assert proof["block_root"] == state.block_root and proof["slot"] == state.slot
    layout = state.layout
    if kind == "validator_pubkey":
        leaf, gindex = pubkey_leaf(proof["pubkey"]), layout.pubkey_gindex(2)
    elif kind == "validator_credentials":
        leaf, gindex = proof["credentials"], layout.withdrawal_credentials_gindex(2)
    else:
        leaf, gindex = proof["leaf"], layout.balance_gindex(2)
        assert balance_from_leaf(leaf, 2) == proof["balance"] == 251 * 10**12
    assert compute_root(leaf, proof["proof"], gindex) == state.block_root


def test_block_proposer_answer_verifies() -> None:
    state = electra_state()
    doc = body("proof_block_proposer")
    index = int(doc["beacon_block_header"]["proposer_index"], 16)
    nodes = [bytes.fromhex(n[2:]) for n in doc["proposer_index_proof"]]
    assert compute_root(index.to_bytes(32, "little"), nodes, 9) == state.block_root
    nodes = [bytes.fromhex(n[2:]) for n in doc["validator_pubkey_proof"]]
    leaf = pubkey_leaf(bytes.fromhex(doc["validator_pubkey"][2:]))
    assert compute_root(leaf, nodes, state.layout.pubkey_gindex(index)) == state.block_root


def test_syncing_flicker_does_not_set_a_node_aside() -> None:
    steady = parse_syncing(body("node_syncing"))
    between = parse_syncing(body("node_syncing_between_blocks"))
    assert steady == Syncing(1234, False, 0) and between == Syncing(1234, True, 1)
    assert not is_lagging(steady, 4) and not is_lagging(between, 4) and not is_lagging(between, 0)
    assert is_lagging(Syncing(1234, True, 2), 4) and is_lagging(Syncing(1234, False, 9), 4)
    assert not is_lagging(Syncing(1234, False, -1), 4)  # a difference of heights can be negative
    assert body("node_version")["data"]["version"].startswith("beacond/")


def test_five_key_spec_and_genesis_check_the_chain(tmp_path: Path) -> None:
    spec = parse_spec(body("config_spec"))
    genesis = parse_genesis(body("beacon_genesis"))
    assert len(spec) == 5 and "SECONDS_PER_SLOT" not in spec and "DEPOSIT_CHAIN_ID" not in spec
    settings = mainnet_settings(tmp_path)
    assert chain_problem(settings, "beaconkit", genesis, spec) is None
    bepolia = mainnet_settings(tmp_path, chain_id="80069")
    assert "DEPOSIT_NETWORK_ID 80094 is not chain_id 80069" in str(chain_problem(bepolia, "beaconkit", genesis, spec))
    other = mainnet_settings(tmp_path, genesis_validators_root='"0x' + "3c" * 32 + '"')
    assert "a node of another network" in str(chain_problem(other, "beaconkit", genesis, spec))
    bare = {k: v for k, v in spec.items() if k != "DEPOSIT_NETWORK_ID"}
    assert "cannot tell which chain" in str(chain_problem(settings, "beaconkit", genesis, bare))
    # An Ethereum node must say SECONDS_PER_SLOT: its anchor depends on it.
    assert "SECONDS_PER_SLOT" in str(chain_problem(settings, "ethereum", genesis, spec))
    assert "0x" + genesis.validators_root.hex() == MAINNET_ROOT


def test_validators_answer_parses() -> None:
    (entry,) = parse_validators(body("beacon_validators_post"))
    assert entry["index"] == 2 and entry["balance"] == 251 * 10**12 and entry["status"] == "active_ongoing"


@pytest.mark.parametrize(
    ("name", "error_type"),
    [
        ("beacon_header_not_found", NotFound),
        ("beacon_header_unknown_root", NotFound),
        ("proof_unknown_timestamp", NotFound),
        ("proof_index_out_of_range", NotFound),
        ("proof_deneb_balance", EndpointError),
        ("debug_state_pruned", EndpointError),
        ("not_implemented_finality_checkpoints", EndpointError),
        ("not_implemented_node_health", EndpointError),
        ("not_implemented_block_root", EndpointError),
        ("not_implemented_events", EndpointError),
    ],
)
def test_beacon_kit_errors_are_answers_not_outages(name: str, error_type: type[EndpointError]) -> None:
    """A structured 500 is the application answering: never retried (it would cost the whole retry budget,
    about 40 s per pool, before the engine's proof is used)."""
    doc = fixture(name)
    got, retryable, message = error_class(doc["status"], json.dumps(doc["body"]).encode(), "application/json")
    assert got is error_type and not retryable and message == doc["body"]["message"]


def test_outages_are_retried() -> None:
    assert error_class(500, b"<html>oops</html>", "text/html")[1]
    assert error_class(503, b'{"code":503,"message":"busy"}', "application/json")[1]
    assert error_class(429, b"", "text/plain")[1]
    assert error_class(502, b"", "text/plain")[1]
    assert not error_class(400, b'{"code":400,"message":"invalid request"}', "application/json")[1]


def test_every_fixture_is_used() -> None:
    """A fixture added without a test that reads it fails here."""
    source = Path(__file__).read_text()
    # the three validator proofs are read through body(f"proof_{kind}")
    kinds = ("validator_pubkey", "validator_credentials", "validator_balance")
    unused = [name for name in fixture_names() if f'"{name}"' not in source]
    assert [name for name in unused if name.removeprefix("proof_") not in kinds] == []

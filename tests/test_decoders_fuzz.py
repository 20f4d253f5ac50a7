"""Every decoder that takes outside input, fed what hypothesis makes of it: configuration files, beacon-kit's
and the Beacon API's JSON (states and answers), proof documents. Each gives a value or the project's own
clear error, never another exception (a traceback for an operator) and never a hang (pytest-timeout).
SSZ states are fuzzed in test_fuzz.py; JSON-RPC answers in test_execution_client.py."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracle.beacon.answers import (
    EndpointError,
    parse_bkit_proof,
    parse_genesis,
    parse_header,
    parse_spec,
    parse_syncing,
    parse_validators,
)
from oracle.beacon.client import BeaconNode
from oracle.config.loading import load_settings
from oracle.config.settings import ConfigError
from oracle.ssz.bkjson import read_debug_state
from oracle.ssz.errors import ProofError, SSZError
from oracle.ssz.verify import verify_document
from tests.beaconkit import fixture

pytestmark = [pytest.mark.unit, pytest.mark.timeout(300)]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.text(max_size=12)
    | st.sampled_from(["0x", "0x0", "0x" + "00" * 32, "0xzz", "12", "-1", "1e9", "0x" + "ff" * 48, "electra", "head"])
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=25,
)


def mutate(doc: Any, draw: st.DrawFn) -> Any:
    """Replace, delete or retype one node somewhere in a JSON document."""
    doc = copy.deepcopy(doc)
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in list(node):
                paths.append((node, key))
                walk(node[key])
        elif isinstance(node, list):
            for i in range(len(node)):
                paths.append((node, i))
                walk(node[i])

    walk(doc)
    for _ in range(draw(st.integers(1, 3))):
        if not paths:
            break
        parent, key = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "retype"]))
        try:
            if action == "delete":
                del parent[key]
            elif action == "retype":
                value = parent[key]
                parent[key] = str(value) if not isinstance(value, str) else [value]
            else:
                parent[key] = draw(documents)
        except (KeyError, IndexError):
            pass
    return doc


@st.composite
def mutated_state(draw: st.DrawFn) -> Any:
    name = draw(st.sampled_from(["debug_state_electra", "debug_state_deneb1"]))
    return mutate(fixture(name)["body"], draw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_state())
def test_beacon_kit_states_decode_or_fail_clearly(doc: Any) -> None:
    try:
        read_debug_state(doc)
    except SSZError as exc:
        assert str(exc) and "\n" not in str(exc)


@settings(max_examples=200, deadline=None)
@given(documents)
def test_any_json_as_a_state_fails_clearly(doc: Any) -> None:
    with contextlib.suppress(SSZError):
        read_debug_state(doc)


ANSWERS = [
    (parse_genesis, "beacon_genesis"),
    (parse_spec, "config_spec"),
    (parse_syncing, "node_syncing"),
    (parse_header, "beacon_header"),
    (parse_validators, "beacon_validators_post"),
    (lambda b: parse_bkit_proof("validator_balance", b), "proof_validator_balance"),
    (lambda b: parse_bkit_proof("validator_pubkey", b), "proof_validator_pubkey"),
    (lambda b: parse_bkit_proof("validator_credentials", b), "proof_validator_credentials"),
]


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_beacon_answers_parse_or_fail_as_endpoint_errors(data: st.DataObject) -> None:
    parse, name = data.draw(st.sampled_from(ANSWERS))
    body = data.draw(st.one_of(documents, st.builds(lambda d: d, st.just(None)).map(
        lambda _: mutate(fixture(name)["body"], data.draw))))  # fmt: skip
    node = BeaconNode("http://127.0.0.1:1", aiohttp.ClientSession.__new__(aiohttp.ClientSession), 1, 1)
    try:
        node._shape("fuzz", parse, body)
    except EndpointError as exc:
        assert "malformed answer" in str(exc)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_proof_documents_verify_or_fail_clearly(data: st.DataObject) -> None:
    doc = data.draw(st.one_of(documents, st.just(None).map(lambda _: mutate(proof_document(), data.draw))))
    if not isinstance(doc, dict):
        return  # the CLI refuses anything but an object before verify_document (test_cli)
    try:
        verify_document(doc)
    except ProofError as exc:
        assert str(exc)


_PROOF: dict[str, Any] = {}


def proof_document() -> dict[str, Any]:
    if not _PROOF:
        from oracle.ssz.sample import sample_state
        from oracle.ssz.state import load_state, state_json

        state = load_state(sample_state("beaconkit-electra", 6, seed=2))
        _PROOF.update(state_json(state, [state.prove_validator(1)]))
    return _PROOF


SETTING_KEYS = {
    "chain_id": st.integers(-5, 10**6) | st.text(max_size=6),
    "layout": st.sampled_from(["beaconkit-electra", "ethereum-fulu", "nonsense", ""]),
    "beacon_endpoints": st.lists(st.sampled_from(["http://a:1", "ftp://b", "", "http://"]), max_size=3) | scalars,
    "execution_endpoints": st.lists(st.sampled_from(["http://e:1", "x"]), max_size=2) | scalars,
    "contracts": st.dictionaries(
        st.sampled_from(["factory", "withdrawal_vault", "nope"]),
        st.sampled_from(["0x" + "11" * 20, "0x12", 5]),
        max_size=3,
    )
    | scalars,
    "reporting": st.dictionaries(
        st.sampled_from(["interval_seconds", "dry_run", "max_change_per_day", "x"]), scalars, max_size=3
    )
    | scalars,
    "service": st.dictionaries(st.sampled_from(["metrics_address", "log_level", "journal_path"]), scalars, max_size=3)
    | scalars,
    "genesis_validators_root": scalars,
    "preset": st.sampled_from(["berachain-mainnet", "nowhere"]),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.fixed_dictionaries({}, optional=SETTING_KEYS))
def test_configs_load_or_fail_one_line_per_problem(tmp_path: Path, config: dict[str, Any]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    try:
        load_settings(path, environ={})
    except ConfigError as exc:
        assert exc.problems and all(p and "\n" not in p for p in exc.problems)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_any_text_as_a_config_fails_clearly(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    try:
        load_settings(path, environ={})
    except ConfigError as exc:
        assert all("\n" not in p for p in exc.problems)

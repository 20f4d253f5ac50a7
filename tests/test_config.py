from __future__ import annotations

from pathlib import Path

import pytest

from oracle.config.loading import load_settings
from oracle.config.reference import render
from oracle.config.settings import ConfigError

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


VALID = """
chain_id: 80087
beacon_endpoints: [http://127.0.0.1:5052]
execution_endpoints: [http://127.0.0.1:8545]
contracts: {factory: "0x5FbDB2315678afecb367f032d93F642f64180aa3"}
"""


def test_valid_config_without_signer_is_audit_mode(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, VALID), environ={})
    assert s.audit_only and s.chain_id == 80087 and s.reporting.interval_seconds == 30


def test_environment_overrides_any_key(tmp_path: Path) -> None:
    env = {
        "POOL_ORACLE_REPORTING_INTERVAL_SECONDS": "7",
        "POOL_ORACLE_EXECUTION_ENDPOINTS": "http://a:1, http://b:2",
        "POOL_ORACLE_CHAIN_ID": "5",
        "POOL_ORACLE_TRANSACTIONS_MAX_FEE_GWEI": "12.5",
    }
    s = load_settings(write(tmp_path, VALID), environ=env)
    assert s.reporting.interval_seconds == 7
    assert s.execution_endpoints == ("http://a:1", "http://b:2")
    assert s.chain_id == 5 and s.transactions.max_fee_gwei == 12.5


def test_presets_fill_in_the_network(tmp_path: Path) -> None:
    text = "preset: berachain-mainnet\nbeacon_endpoints: [http://b:1]\nexecution_endpoints: [http://e:1]\n"
    s = load_settings(write(tmp_path, text), environ={})
    assert s.chain_id == 80094 and s.contracts.factory == "0xb79b43dBA821Cb67751276Ce050fF4111445fB99"
    # bepolia: the newest published factory (berachain/docs data/contracts.json), so endpoints are enough
    s = load_settings(write(tmp_path, text.replace("mainnet", "bepolia")), environ={})
    assert s.chain_id == 80069 and s.contracts.factory == "0x24b8223864d3936F56e5a24C4245ae7620471D4C"
    assert s.genesis_validators_root.startswith("0x3cbcf75b")


def test_every_problem_is_one_line(tmp_path: Path) -> None:
    text = """
chain_id: 0
layout: nonsense
beacon_endpoints: [ftp://x]
contracts: {factory: "0x12"}
signer: {keystore_file: missing.json}
reporting: {interval_seconds: -1, colour: blue}
service: {metrics_address: nowhere}
"""
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), environ={})
    # Every problem at once: an unknown or malformed key does not hide the others.
    problems = info.value.problems
    assert "reporting.colour: unknown setting" in problems
    info2 = info
    expected = [
        "chain_id: required",
        "layout: 'nonsense' is not one of",
        "beacon_endpoints[0]: ftp:// is not http(s) (x)",  # scheme and host only: a path may be an API key
        "execution_endpoints: at least one URL is required",
        "contracts.factory: '0x12' is not a 0x-prefixed 20-byte address",
        "signer.password_file: required with signer.keystore_file",
        "signer.keystore_file: missing.json is not a readable file",
        "reporting.interval_seconds: must be positive",
        "service.metrics_address: 'nowhere' is not host:port",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in info2.value.problems), (line, info2.value.problems)
    assert all("\n" not in p for p in info2.value.problems)
    # A malformed value is reported once, not again as missing.
    with pytest.raises(ConfigError) as info3:
        load_settings(write(tmp_path, "chain_id: abc\ngenesis_validators_root: '0x12'\n"), environ={})
    assert [p for p in info3.value.problems if p.startswith("chain_id")] == ["chain_id: expected an integer, got 'abc'"]
    assert any(p.startswith("genesis_validators_root: '0x12' is not") for p in info3.value.problems)


def test_bad_yaml_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "chain_id: [unclosed\n"), environ={})
    assert len(info.value.problems) == 1 and "not valid YAML" in info.value.problems[0]


def test_configuration_reference_is_current() -> None:
    committed = (ROOT / "docs" / "CONFIGURATION.md").read_text()
    assert committed == render(), "run: pool-oracle config-reference --output docs/CONFIGURATION.md"


def test_presets_are_valid_apart_from_operator_fields(tmp_path: Path) -> None:
    for preset in ("berachain-mainnet", "berachain-bepolia", "devnet", "ethereum"):
        text = f"preset: {preset}\nbeacon_endpoints: [http://b:1]\nexecution_endpoints: [http://e:1]\n"
        if not preset.startswith("berachain-"):
            text += 'contracts: {factory: "0x5FbDB2315678afecb367f032d93F642f64180aa3"}\n'
        load_settings(write(tmp_path, text), environ={})

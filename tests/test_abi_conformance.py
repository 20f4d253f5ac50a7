"""The contract interface the daemon and the devnet use, against Berachain's published ABIs of the deployed
staking-pool contracts (mainnet and bepolia, tests/data/berachain-staking-pools-abis, origin in ORIGIN.md):
every function, event (with its `indexed` flags) and error the daemon calls, reads or decodes is there
verbatim, and the devnet's reference contracts expose the same selectors and topics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from oracle.devnet.compile import load_artifacts
from oracle.execution.el import abi, decode_revert

pytestmark = pytest.mark.unit
DATA = Path(__file__).resolve().parent / "data"
PUBLISHED = DATA / "berachain-staking-pools-abis"
SOURCES = {
    "AccountingOracle": "contracts-staking-pools/AccountingOracle.json",
    "StakingPoolContractsFactory": "contracts-staking-pools/StakingPoolContractsFactory.json",
    "StakingPool": "contracts-staking-pools/core/StakingPool.json",
    "WithdrawalVault": "contracts-staking-pools/WithdrawalVault.json",
    "SSZErrors": "contracts-staking-pools/libraries/SSZ.json",
    # owner() and OwnableUnauthorizedAccount, to recognise an Ownable oracle: as the Ownable pools have them
    "Ownable": "contracts-staking-pools/core/StakingPool.json",
    "BeaconDeposit": "../../berachain-pol-abis/{network}/BeaconDeposit.json",
}
# The devnet's contract that plays each published one (SSZ's errors are raised by the factory).
DEVNET = {name: name for name in SOURCES} | {
    "SSZErrors": "StakingPoolContractsFactory",
    "Ownable": "OwnableAccountingOracle",
}


def canonical(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        return "(" + ",".join(canonical(c) for c in param["components"]) + ")" + param["type"][5:]
    return str(param["type"])


def signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(canonical(p) for p in entry['inputs'])})"


def identity(entry: dict[str, Any]) -> tuple[str, str, tuple[bool, ...]]:
    """(kind, selector or topic, indexed flags): what must match on chain."""
    digest = keccak(text=signature(entry)).hex()
    if entry["type"] == "event":
        return "event", "0x" + digest, tuple(bool(p.get("indexed")) for p in entry["inputs"])
    return entry["type"], "0x" + digest[:8], ()


def published(network: str, name: str) -> list[dict[str, Any]]:
    path = PUBLISHED / network / SOURCES[name].format(network=network)
    loaded: list[dict[str, Any]] = json.loads(path.read_text())
    return loaded


@pytest.mark.parametrize("network", ["mainnet", "bepolia"])
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_entry_the_daemon_uses_is_in_the_published_abi(network: str, name: str) -> None:
    deployed = published(network, name)
    for entry in abi(name):
        assert entry in deployed, (network, name, entry.get("name"))


def test_the_pol_next_entries_are_those_berachain_published_after_the_abis() -> None:
    """retryFullExit (PoL-Next, newer than the February 2026 ABIs): as the guides' frontend declares it, its
    errors as the operator guide names them (tests/data/berachain-pol-next, ORIGIN.md); and the devnet's vault
    has them."""
    fragments = [json.loads(p.read_text()) for p in sorted((DATA / "berachain-pol-next").glob("*.json"))]
    published_next = [entry for fragment in fragments for entry in fragment]
    assert {signature(e) for e in abi("WithdrawalVaultPoLNext")} == {signature(e) for e in published_next}
    devnet = {identity(e) for e in named(load_artifacts()["contracts"]["WithdrawalVault"]["abi"])}
    assert all(identity(e) in devnet for e in abi("WithdrawalVaultPoLNext"))


# Each devnet contract and the published one it imitates.
IMITATIONS = {
    "AccountingOracle": "contracts-staking-pools/AccountingOracle.json",
    "StakingPoolContractsFactory": "contracts-staking-pools/StakingPoolContractsFactory.json",
    "StakingPool": "contracts-staking-pools/core/StakingPool.json",
    "WithdrawalVault": "contracts-staking-pools/WithdrawalVault.json",
    "SmartOperator": "contracts-staking-pools/core/SmartOperator.json",
    "StakingRewardsVault": "contracts-staking-pools/core/StakingRewardsVault.json",
    "BeaconDeposit": "../../berachain-pol-abis/{network}/BeaconDeposit.json",
}


def named(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["type"] in ("function", "event", "error")]


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_devnet_contracts_expose_what_the_daemon_uses(name: str) -> None:
    devnet = {identity(e) for e in named(load_artifacts()["contracts"][DEVNET[name]]["abi"])}
    missing = [signature(e) for e in named(abi(name)) if identity(e) not in devnet]
    assert missing == [], f"the devnet's {DEVNET[name]} differs from the deployed {name}: {missing}"


@pytest.mark.parametrize("network", ["mainnet", "bepolia"])
@pytest.mark.parametrize("name", sorted(IMITATIONS))
def test_every_devnet_entry_named_as_a_deployed_one_matches_it(network: str, name: str) -> None:
    """Same name, same selector or topic, and for events the same `indexed` flags (a log filter on an
    indexed argument finds nothing when the flags differ)."""
    deployed: dict[tuple[str, str], set[Any]] = {}
    for entry in named(json.loads((PUBLISHED / network / IMITATIONS[name].format(network=network)).read_text())):
        deployed.setdefault((entry["type"], entry["name"]), set()).add(identity(entry))
    differ = [
        signature(entry)
        for entry in named(load_artifacts()["contracts"][name]["abi"])
        if (entry["type"], entry["name"]) in deployed
        and identity(entry) not in deployed[(entry["type"], entry["name"])]
    ]
    assert differ == [], f"{name} on the devnet differs from {network}: {differ}"


def test_the_design_briefs_error_selectors_decode() -> None:
    """Selectors from the published ABIs decode to their names, as the brief lists them."""
    expected = {
        "0xb7d09497": "InvalidTimestamp", "0xa7baf889": "InvalidBeaconBlockRoot", "0x09bde339": "InvalidProof",
        "0xc52e3eff": "InvalidBalance", "0x1390f2a1": "IndexOutOfRange", "0x5f4167e9": "InvalidValidatorPubkeyLength",
        "0x5849603f": "BranchHasExtraItem", "0x1b6661c3": "BranchHasMissingItem",
        "0xe2517d3f": "AccessControlUnauthorizedAccount",
    }  # fmt: skip
    errors = {
        identity(e)[1]: e["name"]
        for network in ("mainnet", "bepolia")
        for name in SOURCES
        for e in named(published(network, name))
        if e["type"] == "error"
    }
    for selector, error in expected.items():
        assert errors.get(selector) == error and decode_revert(selector) == error
    assert decode_revert(identity({"type": "error", "name": "EnforcedPause", "inputs": []})[1]) == "EnforcedPause"


def test_update_total_deposits_selector() -> None:
    (entry,) = [e for e in published("mainnet", "AccountingOracle") if e.get("name") == "updateTotalDeposits"]
    assert identity(entry)[1] == "0x5578e99d"


@pytest.mark.parametrize("network", ["mainnet", "bepolia"])
def test_the_topics_the_daemon_filters_raw_logs_by_are_the_pools_events(network: str) -> None:
    """Raw eth_getLogs filters (one filter for every pool) name events by topic, not through an ABI."""
    from oracle.reporting.books import STAKING_POOL_ACTIVATED
    from oracle.reporting.daily import TOTAL_DEPOSITS_UPDATED

    topics = {e["name"]: identity(e)[1] for e in named(published(network, "StakingPool")) if e["type"] == "event"}
    assert topics["TotalDepositsUpdated"] == TOTAL_DEPOSITS_UPDATED
    assert topics["StakingPoolActivated"] == STAKING_POOL_ACTIVATED

"""The committed contract artifacts and the deployed error selectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from web3 import Web3

from oracle.devnet.compile import compile_contracts, load_artifacts
from tests.devnet.test_contracts import ERRORS


@pytest.mark.unit
def test_design_selectors_are_the_errors_signatures() -> None:
    for signature, selector in ERRORS.items():
        assert "0x" + Web3.keccak(text=signature)[:4].hex().removeprefix("0x") == selector


@pytest.mark.slow
def test_committed_artifacts_are_current() -> None:
    committed = load_artifacts()
    fresh = compile_contracts()
    assert committed["sources_sha256"] == fresh["sources_sha256"], "run python -m oracle.devnet.compile"
    assert committed == fresh


@pytest.mark.unit
def test_the_devnet_vault_has_pol_next_retry_full_exit_as_published() -> None:
    """retryFullExit and FullExitRequestRetried as berachain/guides' frontend ABI has them, and the errors the
    operator guide names (tests/data/berachain-pol-next, origin in ORIGIN.md): same selectors and topics."""
    from tests.test_abi_conformance import identity

    data = Path(__file__).resolve().parents[1] / "data" / "berachain-pol-next"
    published = [
        *json.loads((data / "WithdrawalVault.retryFullExit.json").read_text()),
        *json.loads((data / "WithdrawalVault.retryFullExit-errors.json").read_text()),
    ]
    devnet = {identity(e) for e in load_artifacts()["contracts"]["WithdrawalVault"]["abi"] if "name" in e}
    assert [e["name"] for e in published if identity(e) not in devnet] == []
    (retry,) = [e for e in load_artifacts()["contracts"]["WithdrawalVault"]["abi"] if e.get("name") == "retryFullExit"]
    assert retry["stateMutability"] == "payable"

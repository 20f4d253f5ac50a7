"""The committed contract artifacts and the deployed error selectors."""

from __future__ import annotations

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

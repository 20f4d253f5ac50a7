"""Deposit logs of both kinds: Berachain's BeaconDeposit `Deposit` and Ethereum's deposit contract
`DepositEvent` (little-endian byte fields). Ethereum's is checked on the real contract: the compiled
consensus-specs deposit contract (tests/data/ethereum-deposit-contract/) deployed on anvil, deposits made
with their deposit_data_root, read back through the daemon's ExecutionClient."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from oracle.devnet.anvil import Anvil, free_port
from oracle.execution.deposits import (
    BERACHAIN_DEPOSIT,
    ETHEREUM_DEPOSIT,
    DepositLogError,
    decode_deposit_count,
    decode_deposit_log,
)
from oracle.execution.el import ExecutionClient, abi

DATA = Path(__file__).resolve().parent / "data"
CONTRACT = json.loads((DATA / "ethereum-deposit-contract" / "deposit_contract.json").read_text())
GWEI = 10**9


def signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(p['type'] for p in entry['inputs'])})"


def raw_log(topic: str, data: bytes, block: int = 7) -> dict[str, Any]:
    return {"topics": [bytes.fromhex(topic[2:])], "data": data, "blockNumber": block,
            "transactionHash": b"\xab" * 32}  # fmt: skip


@pytest.mark.unit
def test_the_topics_are_the_published_events() -> None:
    published = json.loads((DATA / "berachain-pol-abis" / "mainnet" / "BeaconDeposit.json").read_text())
    berachain = next(e for e in published if e.get("type") == "event" and e["name"] == "Deposit")
    assert "0x" + keccak(text=signature(berachain)).hex() == BERACHAIN_DEPOSIT
    ethereum = next(e for e in CONTRACT["abi"] if e.get("type") == "event")
    assert "0x" + keccak(text=signature(ethereum)).hex() == ETHEREUM_DEPOSIT
    # The daemon's fragment of Ethereum's contract is the published contract's, entry for entry.
    published_entries = {json.dumps(e, sort_keys=True) for e in CONTRACT["abi"]}
    assert all(json.dumps(e, sort_keys=True) in published_entries for e in abi("EthereumDepositContract"))


@pytest.mark.unit
def test_both_kinds_decode_to_the_same_deposit() -> None:
    pubkey, credentials, signature_ = b"\x11" * 48, b"\x01" + b"\x00" * 31, b"\x22" * 96
    berachain = encode(["bytes", "bytes", "uint64", "bytes", "uint64"], [pubkey, credentials, 32 * GWEI, signature_, 5])
    ethereum = encode(["bytes"] * 5, [pubkey, credentials, (32 * GWEI).to_bytes(8, "little"), signature_,
                                      (5).to_bytes(8, "little")])  # fmt: skip
    for log in (raw_log(BERACHAIN_DEPOSIT, berachain), raw_log(ETHEREUM_DEPOSIT, ethereum)):
        deposit = decode_deposit_log(log)
        assert (deposit.pubkey, deposit.amount_gwei, deposit.index, deposit.block) == (pubkey, 32 * GWEI, 5, 7)
        assert deposit.tx_hash == "0x" + "ab" * 32
    assert decode_deposit_count((9).to_bytes(8, "little")) == 9 and decode_deposit_count(9) == 9


@pytest.mark.unit
def test_a_malformed_deposit_log_is_one_error_naming_it() -> None:
    short_amount = encode(["bytes"] * 5, [b"\x11" * 48, b"", b"\x01\x02", b"", (5).to_bytes(8, "little")])
    with pytest.raises(DepositLogError, match="DepositEvent amount is 2 bytes, not 8"):
        decode_deposit_log(raw_log(ETHEREUM_DEPOSIT, short_amount))
    short_key = encode(["bytes", "bytes", "uint64", "bytes", "uint64"], [b"\x11" * 47, b"", 1, b"", 1])
    with pytest.raises(DepositLogError, match="pubkey is 47 bytes"):
        decode_deposit_log(raw_log(BERACHAIN_DEPOSIT, short_key))
    with pytest.raises(DepositLogError, match="neither deposit event"):
        decode_deposit_log(raw_log("0x" + "00" * 32, b""))


@pytest.mark.unit
@settings(max_examples=300, deadline=None)
@given(topic=st.sampled_from([BERACHAIN_DEPOSIT, ETHEREUM_DEPOSIT]), data=st.binary(max_size=700))
def test_any_bytes_decode_or_fail_with_the_projects_error(topic: str, data: bytes) -> None:
    try:
        decode_deposit_log(raw_log(topic, data))
    except DepositLogError as exc:
        assert "deposit log in transaction 0x" in str(exc)


def deposit_data_root(pubkey: bytes, credentials: bytes, amount_gwei: int, signature_: bytes) -> bytes:
    """hash_tree_root(DepositData), as deposit_contract.sol computes it to check the caller's."""

    def sha(data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    pubkey_root = sha(pubkey + b"\x00" * 16)
    signature_root = sha(sha(signature_[:64]) + sha(signature_[64:] + b"\x00" * 32))
    amount = amount_gwei.to_bytes(8, "little") + b"\x00" * 24
    return sha(sha(pubkey_root + credentials) + sha(amount + signature_root))


@pytest.mark.e2e
def test_deposits_to_ethereums_deposit_contract_are_read_back(tmp_path: Path) -> None:
    node = Anvil("127.0.0.1", free_port(), 31337, int(time.time()))
    asyncio.run(node.start())
    try:
        w3 = Web3(Web3.HTTPProvider(node.url))
        sender = w3.eth.accounts[0]

        def mined(tx_hash: Any) -> Any:  # the devnet's anvil mines only when told
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)

        factory = w3.eth.contract(abi=CONTRACT["abi"], bytecode=CONTRACT["bytecode"])
        receipt = mined(factory.constructor().transact({"from": sender}))
        contract = w3.eth.contract(address=receipt["contractAddress"], abi=CONTRACT["abi"])
        made = []
        for n, gwei in enumerate((32 * GWEI, 1 * GWEI)):
            pubkey, credentials, signature_ = bytes([n + 1]) * 48, b"\x01" + b"\x00" * 11 + b"\x33" * 20, b"\x44" * 96
            root = deposit_data_root(pubkey, credentials, gwei, signature_)
            call = contract.functions.deposit(pubkey, credentials, signature_, root)
            assert mined(call.transact({"from": sender, "value": gwei * GWEI}))["status"] == 1
            made.append((pubkey, gwei, n))

        async def read() -> tuple[list[Any], int]:
            el = ExecutionClient([node.url], timeout=5)
            try:
                found = await el.deposits(contract.address, 0, w3.eth.block_number)
                return found, await el.deposit_count(contract.address)
            finally:
                await el.close()

        found, count = asyncio.run(read())
        assert [(d.pubkey, d.amount_gwei, d.index) for d in found] == made
        assert count == 2
    finally:
        node.stop()

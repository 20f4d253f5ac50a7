"""Deposit-contract logs, of either kind a pool's chain may have: Berachain's BeaconDeposit emits
`Deposit(bytes pubkey, bytes credentials, uint64 amount, bytes signature, uint64 index)` (berachain/abis
`contracts/pol/BeaconDeposit`); Ethereum's deposit contract emits `DepositEvent(bytes pubkey,
bytes withdrawal_credentials, bytes amount, bytes signature, bytes index)` with amount and index as 8
little-endian bytes (consensus-specs `solidity_deposit_contract/deposit_contract.sol`). Both become one
`DepositLog`; anything else, or a log whose data does not decode, is a `DepositLogError` naming it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode
from eth_utils.crypto import keccak

BERACHAIN_DEPOSIT = "0x" + keccak(text="Deposit(bytes,bytes,uint64,bytes,uint64)").hex()
ETHEREUM_DEPOSIT = "0x" + keccak(text="DepositEvent(bytes,bytes,bytes,bytes,bytes)").hex()
DEPOSIT_TOPICS = (BERACHAIN_DEPOSIT, ETHEREUM_DEPOSIT)


class DepositLogError(ValueError):
    """A deposit-contract log that is not a well-formed deposit of either kind."""


@dataclass(frozen=True)
class DepositLog:
    pubkey: bytes
    amount_gwei: int
    index: int
    block: int
    tx_hash: str


def _little_endian_64(value: bytes, name: str, where: str) -> int:
    if len(value) != 8:
        raise DepositLogError(f"{where}: DepositEvent {name} is {len(value)} bytes, not 8")
    return int.from_bytes(value, "little")


def decode_deposit_log(entry: Any) -> DepositLog:
    """A raw log (eth_getLogs) of either deposit event."""
    tx_hash = "0x" + bytes(entry["transactionHash"]).hex()
    where = f"deposit log in transaction {tx_hash}"
    topics = entry.get("topics") or []
    topic = "0x" + bytes(topics[0]).hex() if topics else None
    data = bytes(entry["data"])
    try:
        if topic == BERACHAIN_DEPOSIT:
            pubkey, _, amount, _, index = decode(["bytes", "bytes", "uint64", "bytes", "uint64"], data)
        elif topic == ETHEREUM_DEPOSIT:
            pubkey, _, raw_amount, _, raw_index = decode(["bytes", "bytes", "bytes", "bytes", "bytes"], data)
            amount = _little_endian_64(raw_amount, "amount", where)
            index = _little_endian_64(raw_index, "index", where)
        else:
            raise DepositLogError(f"{where}: topic {topic} is neither deposit event")
    except DepositLogError:
        raise
    except Exception as exc:  # eth_abi's decoding errors: data of the wrong shape
        raise DepositLogError(f"{where}: data does not decode ({type(exc).__name__})") from None
    if len(pubkey) != 48:
        raise DepositLogError(f"{where}: pubkey is {len(pubkey)} bytes, not 48")
    return DepositLog(bytes(pubkey), int(amount), int(index), int(entry["blockNumber"]), tx_hash)


def decode_deposit_count(value: Any) -> int:
    """`depositCount()` (uint64) on Berachain, `get_deposit_count()` (8 little-endian bytes) on Ethereum."""
    if isinstance(value, bytes | bytearray):
        return _little_endian_64(bytes(value), "count", "get_deposit_count")
    return int(value)

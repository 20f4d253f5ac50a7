"""Calldata for the reference ValidatorSetPool contract (contracts/ValidatorSetPool.sol) from a beacon state,
and a small synchronous anvil harness to deploy and drive it (tests, benchmarks/pool_gas.py).

The contract derives every generalized index itself; a caller supplies only what the state holds: for
registration the pubkeys and the witnesses of the multiproof of (credentials, pubkey) per validator plus the
validators list length; for a balances batch the distinct balance chunks (descending) and the witnesses of
their multiproof plus the balances list length.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from oracle.devnet.anvil import Anvil, free_port
from oracle.devnet.beacon_roots import BEACON_ROOTS, BEACON_ROOTS_CODE, HISTORY_BUFFER_LENGTH
from oracle.devnet.compile import load_artifacts
from oracle.ssz.batches import RegistrationProof as RegistrationProof  # re-exported: the harness's callers
from oracle.ssz.batches import registration_gindices as registration_gindices
from oracle.ssz.batches import registration_proof as registration_proof
from oracle.ssz.layouts import Layout
from oracle.ssz.state import BeaconState
from oracle.ssz.state_multiproof import build_state_multiproof

BALANCES_PER_CHUNK = 4
BRANCH_TO_BALANCES_LIST = 39  # 38 data-tree levels and the length mix-in


def length_gindex(list_gindex: int) -> int:
    return 2 * list_gindex + 1


@dataclass(frozen=True)
class BalancesBatch:
    balances_length: int
    leaves: list[bytes]  # the distinct balance chunks, descending, without the length leaf
    witnesses: list[bytes]
    total_gwei: int  # the sum of the batch's validators' balances, as the state has them


def balances_batch(state: BeaconState, indices: Sequence[int]) -> BalancesBatch:
    """The proveBalances arguments for validators `indices` (a batch of the registry, increasing)."""
    layout = state.layout
    chunks = sorted({i // BALANCES_PER_CHUNK for i in indices}, reverse=True)
    base = (2 * layout.gindex("balances")) << 38
    gindices = [base + c for c in chunks]
    proof = build_state_multiproof(state, [*gindices, length_gindex(layout.gindex("balances"))])
    balances = state.balances()
    return BalancesBatch(
        int(balances.shape[0]),
        list(proof.leaves[:-1]),
        list(proof.witnesses),
        sum(int(balances[i]) for i in indices),
    )


@dataclass(frozen=True)
class SingleProofs:
    list_root: bytes
    list_proof: list[bytes]  # from the balances list node to the block root
    chunks: list[bytes]
    proofs: list[bytes]  # 39 words per validator


def single_proofs(state: BeaconState, indices: Sequence[int]) -> SingleProofs:
    """EigenLayer-style arguments for SingleProofReference: one branch per validator to the balances list."""
    layout = state.layout
    list_root, list_proof = state.prove(layout.gindex("balances"))
    chunks, proofs = [], []
    for index in indices:
        chunk, branch = state.prove(layout.balance_gindex(index))
        chunks.append(chunk)
        proofs += branch[:BRANCH_TO_BALANCES_LIST]
    return SingleProofs(list_root, list_proof, chunks, proofs)


@dataclass
class PoolChain:
    """Plain anvil with the EIP-4788 contract, automining, accounts[0] the owner and accounts[1] the reporter."""

    anvil: Anvil | None = None
    w3: Web3 = field(init=False)
    accounts: list[ChecksumAddress] = field(default_factory=list)

    def start(self) -> PoolChain:
        self.anvil = Anvil("127.0.0.1", free_port(), 31337, int(time.time()))
        asyncio.run(self.anvil.start())
        self.w3 = Web3(Web3.HTTPProvider(self.anvil.url, request_kwargs={"timeout": 120}))
        self.rpc("evm_setAutomine", True)
        self.rpc("evm_setBlockGasLimit", hex(2_000_000_000))
        self.rpc("anvil_setCode", BEACON_ROOTS, BEACON_ROOTS_CODE)
        self.accounts = list(self.w3.eth.accounts)
        self.w3.eth.default_account = self.accounts[0]
        return self

    def stop(self) -> None:
        if self.anvil is not None:
            self.anvil.stop()
            self.anvil = None

    def rpc(self, method: str, *params: Any) -> Any:
        response = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in response:
            raise RuntimeError(f"{method}: {response['error']}")
        return response.get("result")

    def deploy(self, name: str, *args: Any) -> Contract:
        artifact = load_artifacts()["contracts"][name]
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        tx = factory.constructor(*args).transact({"from": self.accounts[0], "gas": 10_000_000})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        if receipt["contractAddress"] is None:
            raise RuntimeError(f"{name} was not deployed: {receipt}")
        address = Web3.to_checksum_address(receipt["contractAddress"])
        return self.w3.eth.contract(address=address, abi=artifact["abi"])

    def deploy_pool(self, layout: Layout, prefix: bytes = b"\x02") -> Contract:
        return self.deploy(
            "ValidatorSetPool",
            self.accounts[0],
            self.accounts[1],
            layout.gindex("validators"),
            layout.gindex("balances"),
            prefix,
        )

    def set_beacon_root(self, timestamp: int, root: bytes) -> None:
        """What EIP-4788's system call stores for the block at `timestamp`."""
        slot = timestamp % HISTORY_BUFFER_LENGTH
        self.rpc("anvil_setStorageAt", BEACON_ROOTS, hex(slot), "0x" + timestamp.to_bytes(32, "big").hex())
        self.rpc("anvil_setStorageAt", BEACON_ROOTS, hex(slot + HISTORY_BUFFER_LENGTH), "0x" + root.hex())

    def next_block_at(self, root: bytes) -> int:
        """Makes the next mined block's EIP-4788 root `root`; returns its timestamp."""
        timestamp = int(self.w3.eth.get_block("latest")["timestamp"]) + 12
        self.set_beacon_root(timestamp, root)
        self.rpc("evm_setNextBlockTimestamp", hex(timestamp))
        return timestamp

    def transact(self, call: Any, sender: str | None = None, value: int = 0, gas: int = 1_500_000_000) -> Any:
        tx = call.transact({"from": sender or self.accounts[0], "value": value, "gas": gas})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        if receipt["status"] != 1:
            raise RuntimeError(f"transaction reverted: {receipt}")
        return receipt

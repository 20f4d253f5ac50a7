"""Gas of the reference ValidatorSetPool (one SSZ multiproof per batch) against EigenLayer's shape (one 39-word
branch per validator, SingleProofReference), on its own anvil.

`measure_pool_gas` takes a prebuilt state and index set (the validators' withdrawal credentials must be
`pool_credentials()`: the pool is the first contract deployed on a fresh anvil, so its address is known in
advance), or builds a random ethereum-electra state. Figures are transaction gasUsed, calldata included.

    .venv/bin/python benchmarks/pool_gas.py --validators 20000 --pools 1,48,1000
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from oracle.devnet.validator_set_pool import PoolChain, balances_batch, registration_proof, single_proofs
from oracle.ssz.layouts import get_layout
from oracle.ssz.sample import build_state, random_validators
from oracle.ssz.state import BeaconState, load_state

LAYOUT = "ethereum-electra"
# The first contract anvil's first account deploys (nonce 0).
POOL_ADDRESS = bytes.fromhex("5FbDB2315678afecb367f032d93f642f64180aa3")


def pool_credentials(prefix: bytes = b"\x02") -> bytes:
    return prefix + bytes(11) + POOL_ADDRESS


def pool_indices(validators: int, pool_size: int, placement: str, seed: int = 0) -> list[int]:
    if placement == "contiguous":
        start = validators // 3
        return list(range(start, start + pool_size))
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(validators, size=pool_size, replace=False))


def pool_state(validators: int, indices: Sequence[int], seed: int = 0) -> BeaconState:
    layout = get_layout(LAYOUT)
    rng = np.random.default_rng(seed)
    vs = random_validators(validators, rng)
    vs.withdrawal_credentials[list(indices)] = np.frombuffer(pool_credentials(), dtype=np.uint8)
    return load_state(build_state(layout, vs, seed=seed + 1), layout)


@dataclass
class PoolGas:
    validators: int
    pool_size: int
    placement: str
    register_gas: list[int] = field(default_factory=list)  # per registration transaction
    register_words: int = 0  # witnesses
    start_gas: int = 0
    prove_gas: list[int] = field(default_factory=list)  # per proveBalances transaction
    prove_words: int = 0  # leaves + witnesses
    prove_gas_repeat: list[int] = field(default_factory=list)  # the same batches in a second report
    single_gas: int = 0  # SingleProofReference.verifyBalances, summed over its transactions
    single_words: int = 0  # chunks + branches
    list_root_gas: int = 0  # verifyBalancesListRoot, once per checkpoint

    @property
    def register_per_validator(self) -> float:
        return sum(self.register_gas) / self.pool_size

    @property
    def prove_per_validator(self) -> float:
        return sum(self.prove_gas) / self.pool_size

    @property
    def prove_repeat_per_validator(self) -> float:
        return sum(self.prove_gas_repeat) / self.pool_size

    @property
    def single_per_validator(self) -> float:
        return (self.single_gas + self.list_root_gas) / self.pool_size

    def summary(self) -> str:
        return (
            f"{self.pool_size:>5} {self.placement:<10} of {self.validators}: "
            f"proveBalances {self.prove_per_validator:>9.0f} gas/validator ({sum(self.prove_gas)} in "
            f"{len(self.prove_gas)} tx, {self.prove_words} words; "
            f"second report {self.prove_repeat_per_validator:.0f}); "
            "single branches "
            f"{self.single_per_validator:>9.0f} gas/validator ({self.single_gas} + {self.list_root_gas} list root, "
            f"{self.single_words} words); registration {self.register_per_validator:>7.0f} gas/validator "
            f"({len(self.register_gas)} tx, {self.register_words} witnesses); startReport {self.start_gas}"
        )


def measure_pool_gas(
    state: BeaconState | None = None,
    indices: Sequence[int] | None = None,
    *,
    validators: int = 20_000,
    pool_size: int = 48,
    placement: str = "spread",
    seed: int = 0,
    batch_size: int | None = None,
    register_batch: int = 250,
    single_batch: int = 200,
) -> PoolGas:
    """Registers `indices` (increasing) in transactions of `register_batch`, runs a report proven in batches of
    `batch_size` (all at once by default) and the single-branch reference over the same validators."""
    if indices is None:
        indices = pool_indices(state.validator_count if state else validators, pool_size, placement, seed)
    indices = sorted(indices)
    if state is None:
        state = pool_state(validators, indices, seed)
    result = PoolGas(state.validator_count, len(indices), placement)
    chain = PoolChain().start()
    try:
        pool = chain.deploy_pool(state.layout)
        if bytes.fromhex(pool.address[2:]) != POOL_ADDRESS:
            raise RuntimeError(f"the pool was deployed at {pool.address}, not at the expected address")
        reference = chain.deploy("SingleProofReference", state.layout.gindex("balances"))
        timestamp = chain.next_block_at(state.block_root)
        chain.rpc("evm_mine")
        for first in range(0, len(indices), register_batch):
            proof = registration_proof(state, indices[first : first + register_batch])
            call = pool.functions.registerValidators(
                timestamp, proof.validators_length, proof.indices, proof.pubkeys, proof.witnesses
            )
            result.register_gas.append(int(chain.transact(call)["gasUsed"]))
            result.register_words += len(proof.witnesses)
        size = batch_size or len(indices)
        for gas in (result.prove_gas, result.prove_gas_repeat):
            chain.next_block_at(state.block_root)
            start = int(chain.transact(pool.functions.startReport(), chain.accounts[1])["gasUsed"])
            result.start_gas = result.start_gas or start
            report_id = pool.functions.currentReport().call()[0]
            for first in range(0, len(indices), size):
                part = indices[first : first + size]
                batch = balances_batch(state, part)
                call = pool.functions.proveBalances(
                    report_id, first, len(part), batch.balances_length, batch.leaves, batch.witnesses
                )
                gas.append(int(chain.transact(call, chain.accounts[2])["gasUsed"]))
                if gas is result.prove_gas:
                    result.prove_words += len(batch.leaves) + len(batch.witnesses)
        expected = sum(state.balance(i) for i in indices)
        if pool.functions.lastReport().call()[3] != expected:
            raise RuntimeError("the pool's proven total differs from the state's")
        # One branch per validator: linear, so measured over chunks of `single_batch` validators (a request
        # of a thousand branches, 1.3 MB of calldata, is more than anvil takes).
        total = 0
        for first in range(0, len(indices), single_batch):
            part = list(indices[first : first + single_batch])
            single = single_proofs(state, part)
            call = reference.functions.verifyBalances(single.list_root, part, single.chunks, single.proofs)
            total += call.call()
            result.single_gas += int(chain.transact(call)["gasUsed"])
            result.single_words += len(single.chunks) + len(single.proofs)
        if total != expected:
            raise RuntimeError("the reference's total differs from the state's")
        list_call = reference.functions.verifyBalancesListRoot(state.block_root, single.list_root, single.list_proof)
        result.list_root_gas = int(chain.transact(list_call)["gasUsed"])
    finally:
        chain.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validators", type=int, default=20_000)
    parser.add_argument("--pools", default="1,48,1000")
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args()
    for size in (int(s) for s in args.pools.split(",")):
        for placement in ("contiguous", "spread"):
            print(measure_pool_gas(validators=args.validators, pool_size=size, placement=placement,
                                   batch_size=args.batch_size).summary())  # fmt: skip


if __name__ == "__main__":
    main()

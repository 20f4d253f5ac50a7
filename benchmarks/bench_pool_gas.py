"""Gas per validator of a pool's balance report on anvil at mainnet scale, and a cold `prove --multi` process.

On a synthetic 2,100,000-validator ethereum-electra state (bench_prove.py's validators and seed, with every
pool validator's withdrawal credentials the reference pool's; built once and cached under benchmarks/.data/,
keyed by its parameters), for pools of 1, 48, 1,000 and 10,000 validators placed contiguous and spread
(random), each on its own anvil (its default hardfork, printed):

- registration: `registerValidators` of ValidatorSetPool (oracle/devnet/contracts/ValidatorSetPool.sol) in
  transactions of 100 validators, as the devnet does; one-time gas per validator;
- startReport, once per report;
- proveBalances: the report cut as the daemon cuts it (`state_batches(state, indices, max_words_for(120_000))`,
  at most 120,000 bytes of calldata a transaction): gas per validator, transactions, and the largest batch's
  gas against EIP-7825's per-transaction cap of 2^24;
- the reference in the same run, EigenLayer's checkpoint shape (SingleProofReference): one 39-word branch per
  validator, 80 validators a transaction, plus one verifyBalancesListRoot per report; the ratio of its gas per
  validator to the multiproof's.

Pools of 100,000 and 300,000 validators are sampled: the report is planned for the whole pool, and only the
first batches' validators (at least --sample validators) are registered and proven; a batch carries the
pool's density, so its gas per validator is the whole report's.

Then the cold-process ratio: fresh `pool-oracle prove` processes on the same state file, `--multi` with the
spread 10,000-validator pool's indices against today's whole-state prove of validator 1234567, interleaved,
medians of --runs. Figures are transaction gasUsed (calldata included). Prints a Markdown report.

    .venv/bin/python benchmarks/bench_pool_gas.py --validators 20000 --pools 1,48,1000 --big 10000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from eth_abi import decode, encode
from eth_utils import keccak
from machine import cpu_model  # benchmarks/, this script's directory
from pool_gas import POOL_ADDRESS, pool_credentials  # benchmarks/, this script's directory
from web3.contract import Contract

from oracle.devnet.validator_set_pool import PoolChain, registration_proof, single_proofs
from oracle.ssz.batches import DEFAULT_MAX_CALLDATA_BYTES, max_words_for, plan_batches, state_batches
from oracle.ssz.hashing import warm_up
from oracle.ssz.sample import build_state, random_validators
from oracle.ssz.state import BeaconState, load_state

DATA = Path(__file__).parent / ".data"
LAYOUT = "ethereum-electra"
SEED = 2026  # bench_prove.py's validators
REGISTRATION_BATCH = 100  # validators per registerValidators, as oracle/devnet/network.py sends them
EIGENLAYER_VALIDATORS_PER_TX = 80
EIP_7825_CAP = 1 << 24
CALL_OVERHEAD_BYTES = 4 + 32 * 8  # proveBalances' selector, arguments, offsets and lengths


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _encode_arg(kind: str, value: object) -> bytes:
    """The tail of a dynamic argument: bytes32[], uint64[] or bytes[]."""
    items = list(value)  # type: ignore[call-overload]
    if kind == "bytes32[]":
        return _word(len(items)) + b"".join(bytes(item).ljust(32, b"\0") for item in items)
    if kind.startswith("uint") and kind.endswith("[]"):
        return _word(len(items)) + b"".join(_word(int(item)) for item in items)
    if kind == "bytes[]":
        heads, tails, offset = [], [], 32 * len(items)
        for item in items:
            data = bytes(item)
            tail = _word(len(data)) + data.ljust(-(-len(data) // 32) * 32, b"\0")
            heads.append(_word(offset))
            tails.append(tail)
            offset += len(tail)
        return _word(len(items)) + b"".join(heads) + b"".join(tails)
    raise ValueError(f"unsupported argument type {kind}")


def encode_call(types: list[str], args: tuple[object, ...]) -> bytes:
    """ABI encoding of uint/bytes32 and the arrays above (eth_abi's, checked in `Calls.data`, ~20x faster)."""
    head_size = 32 * len(types)
    heads, tails = [], []
    for kind, value in zip(types, args, strict=True):
        if kind.endswith("[]"):
            heads.append(_word(head_size + sum(map(len, tails))))
            tails.append(_encode_arg(kind, value))
        elif kind == "bytes32":
            heads.append(bytes(value).ljust(32, b"\0"))  # type: ignore[call-overload]
        else:
            heads.append(_word(int(value)))  # type: ignore[call-overload]
    return b"".join(heads) + b"".join(tails)


class Calls:
    """Transactions and calls on anvil's unlocked accounts with the calldata encoded here: web3's encoding of a
    batch's thousands of words costs ~0.5 s a transaction, and its receipt wait sleeps 0.1 s a time."""

    def __init__(self, chain: PoolChain) -> None:
        self.chain = chain
        self.checked: set[str] = set()

    def data(self, contract: Contract, name: str, *args: object) -> str:
        (abi,) = [item for item in contract.abi if item.get("type") == "function" and item["name"] == name]
        types = [arg["type"] for arg in abi["inputs"]]
        encoded = encode_call(types, args)
        if name not in self.checked:  # the first call of each function against eth_abi
            if encoded != encode(types, list(args)):
                raise SystemExit(f"{name}: the calldata differs from eth_abi's")
            self.checked.add(name)
        return "0x" + (keccak(text=f"{name}({','.join(types)})")[:4] + encoded).hex()

    def send(self, contract: Contract, name: str, *args: object, sender: int = 0) -> int:
        """gasUsed of the transaction (which must succeed)."""
        tx = {"from": self.chain.accounts[sender], "to": contract.address, "gas": hex(1_500_000_000),
              "data": self.data(contract, name, *args)}  # fmt: skip
        tx_hash = self.chain.rpc("eth_sendTransaction", tx)
        while (receipt := self.chain.rpc("eth_getTransactionReceipt", tx_hash)) is None:
            time.sleep(0.002)
        if int(receipt["status"], 16) != 1:
            raise SystemExit(f"{name} reverted: {receipt}")
        return int(receipt["gasUsed"], 16)

    def call_uint(self, contract: Contract, name: str, *args: object) -> int:
        tx = {"to": contract.address, "data": self.data(contract, name, *args)}
        result = self.chain.rpc("eth_call", tx, "latest")
        (value,) = decode(["uint256"], bytes.fromhex(result[2:]))
        return int(value)


def pools_for(validators: int, sizes: list[int], seed: int) -> list[tuple[int, str, list[int]]]:
    """(size, placement, increasing indices) of every pool, from one generator: the same for the same args."""
    rng = np.random.default_rng(seed)
    out = []
    for placement in ("contiguous", "spread"):
        for size in sizes:
            if placement == "contiguous":
                start = int(rng.integers(0, validators - size + 1))
                indices = list(range(start, start + size))
            else:
                indices = sorted(int(i) for i in rng.choice(validators, size=size, replace=False))
            out.append((size, placement, indices))
    return out


def state_file(validators: int, pools: list[tuple[int, str, list[int]]], sizes: list[int], seed: int) -> Path:
    """The state with every pool validator's credentials the pool's, built once and kept under .data/."""
    key = hashlib.sha256(json.dumps([LAYOUT, validators, SEED, sizes, seed, POOL_ADDRESS.hex()]).encode())
    path = DATA / f"{LAYOUT}-{validators}-pools-{key.hexdigest()[:12]}.ssz"
    if path.exists():
        return path
    DATA.mkdir(exist_ok=True)
    started = time.perf_counter()
    vs = random_validators(validators, np.random.default_rng(SEED))
    members = np.unique(np.concatenate([np.asarray(indices, dtype=np.int64) for _, _, indices in pools]))
    vs.withdrawal_credentials[members] = np.frombuffer(pool_credentials(), dtype=np.uint8)
    data = build_state(LAYOUT, vs, seed=1, slot=11_000_000)
    part = path.with_suffix(".part")
    part.write_bytes(data)
    part.rename(path)
    print(f"built {path.name}: {len(data) / 1e6:.0f} MB in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    # Start afresh, so that the builder's memory is not in the cold processes' way.
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.argv])
    raise AssertionError("unreachable")


@dataclass
class Row:
    size: int
    placement: str
    proven: int = 0  # validators registered and proven (all of them unless sampled)
    batches_total: int = 0  # the whole report's transactions
    batches_proven: int = 0
    register_gas: list[int] = field(default_factory=list)
    start_gas: int = 0
    prove_gas: list[int] = field(default_factory=list)
    prove_words: int = 0
    max_calldata: int = 0
    single_gas: list[int] = field(default_factory=list)
    list_root_gas: int = 0
    seconds: float = 0.0

    @property
    def sampled(self) -> bool:
        return self.batches_proven < self.batches_total

    @property
    def prove_per_validator(self) -> float:
        return sum(self.prove_gas) / self.proven

    @property
    def single_per_validator(self) -> float:
        return (sum(self.single_gas) + self.list_root_gas) / self.proven

    @property
    def report_ratio(self) -> float:
        """Per report: the reference's branches and list root against startReport and the batches."""
        return (sum(self.single_gas) + self.list_root_gas) / (sum(self.prove_gas) + self.start_gas)


def measure(state: BeaconState, size: int, placement: str, indices: list[int], sample: int) -> Row:
    started = time.perf_counter()
    layout = state.layout
    max_words = max_words_for(DEFAULT_MAX_CALLDATA_BYTES)
    plan = plan_batches(layout, indices, max_words)
    row = Row(size, placement, batches_total=len(plan))
    # The first batches holding at least `sample` validators (the whole report for the small pools).
    taken = 0
    for first, count in plan:
        taken = first + count
        row.batches_proven += 1
        if taken >= sample:
            break
    members = indices[:taken]
    row.proven = len(members)
    chain = PoolChain().start()
    try:
        pool = chain.deploy_pool(layout)
        if bytes.fromhex(pool.address[2:]) != POOL_ADDRESS:
            raise SystemExit(f"the pool was deployed at {pool.address}, not at the expected address")
        reference = chain.deploy("SingleProofReference", layout.gindex("balances"))
        calls = Calls(chain)
        timestamp = chain.next_block_at(state.block_root)
        chain.rpc("evm_mine")
        for first in range(0, len(members), REGISTRATION_BATCH):
            proof = registration_proof(state, members[first : first + REGISTRATION_BATCH])
            gas = calls.send(pool, "registerValidators", timestamp, proof.validators_length, proof.indices,
                             proof.pubkeys, proof.witnesses)  # fmt: skip
            row.register_gas.append(gas)
        chain.next_block_at(state.block_root)
        row.start_gas = calls.send(pool, "startReport", sender=1)
        report_id = pool.functions.currentReport().call()[0]
        batches = state_batches(state, members, max_words)
        if [(b.first_position, b.count) for b in batches] != plan[: row.batches_proven]:
            raise SystemExit(f"pool of {size} ({placement}): the sample's batches are not the report's first ones")
        for batch in batches:
            args = (report_id, batch.first_position, batch.count, batch.balances_length, batch.leaves, batch.witnesses)
            row.prove_gas.append(calls.send(pool, "proveBalances", *args, sender=2))
            row.prove_words += batch.words
            row.max_calldata = max(row.max_calldata, CALL_OVERHEAD_BYTES + 32 * batch.words)
        expected = sum(int(b) for b in state.balances()[members])
        if pool.functions.lastReport().call()[3] != expected:
            raise SystemExit(f"pool of {size} ({placement}): the proven total differs from the state's")
        total = 0
        single = None
        for first in range(0, len(members), EIGENLAYER_VALIDATORS_PER_TX):
            part = members[first : first + EIGENLAYER_VALIDATORS_PER_TX]
            single = single_proofs(state, part)
            args = (single.list_root, part, single.chunks, single.proofs)
            total += calls.call_uint(reference, "verifyBalances", *args)
            row.single_gas.append(calls.send(reference, "verifyBalances", *args))
        if total != expected:
            raise SystemExit(f"pool of {size} ({placement}): the reference's total differs from the state's")
        assert single is not None
        args = (state.block_root, single.list_root, single.list_proof)
        row.list_root_gas = calls.send(reference, "verifyBalancesListRoot", *args)
    finally:
        chain.stop()
    row.seconds = time.perf_counter() - started
    return row


def hardfork() -> str:
    chain = PoolChain().start()
    try:
        return str(chain.rpc("anvil_nodeInfo").get("hardFork", "?"))
    finally:
        chain.stop()


def cold_ratio(path: Path, indices: list[int], index: int, runs: int) -> dict[str, list[float]]:
    """Wall times of fresh processes, interleaved: `prove --multi --indices FILE` of `indices` and the whole-state
    `prove --index index`. (10,000 repeated `--index` options cost argparse ~4 s, quadratic in their number: a
    pool is given as a file or as lists and ranges.)"""
    exe = shutil.which("pool-oracle", path=str(Path(sys.executable).parent)) or "pool-oracle"
    times: dict[str, list[float]] = {"multi": [], "single": []}
    with tempfile.TemporaryDirectory() as out:
        listed = Path(out) / "indices.txt"
        listed.write_text(" ".join(map(str, indices)))
        output = f"{out}/proof.json"
        commands = {
            "multi": [exe, "prove", "--state", str(path), "--multi", "--indices", str(listed), "--output", output],
            "single": [exe, "prove", "--state", str(path), "--index", str(index), "--output", output],
        }  # fmt: skip
        for _ in range(runs):
            for kind, command in commands.items():
                started = time.perf_counter()
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                times[kind].append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--validators", type=int, default=2_100_000)
    parser.add_argument("--pools", default="1,48,1000,10000", help="pool sizes proven whole")
    parser.add_argument("--big", default="100000,300000", help="pool sizes sampled ('' for none)")
    parser.add_argument("--sample", type=int, default=10_000, help="validators at least in a sampled pool's batches")
    parser.add_argument("--runs", type=int, default=3, help="cold process runs of each kind (median)")
    parser.add_argument("--index", type=int, default=1_234_567, help="the whole-state prove's validator")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-process ratio")
    args = parser.parse_args()
    small = [int(s) for s in args.pools.split(",") if s]
    big = [int(s) for s in args.big.split(",") if s]
    sizes = small + big
    if max(sizes) > args.validators:
        raise SystemExit(f"a pool of {max(sizes)} does not fit {args.validators} validators")
    pools = pools_for(args.validators, sizes, SEED)
    path = state_file(args.validators, pools, sizes, SEED)
    warm_up()
    started = time.perf_counter()
    state = load_state(bytearray(path.read_bytes()))
    loaded = time.perf_counter() - started
    fork = hardfork()
    rows = []
    for size, placement, indices in pools:
        rows.append(measure(state, size, placement, indices, args.sample if size in big else size))
        print(f"measured {size} {placement} in {rows[-1].seconds:.0f} s", file=sys.stderr)
    del state
    cold = None
    if not args.no_cold:
        # The spread 10,000-validator pool (or the largest spread one proven whole, on a small state).
        spread = max((ix for size, placement, ix in pools if placement == "spread" and size <= 10_000), key=len)
        cold = cold_ratio(path, spread, min(args.index, args.validators - 1), args.runs)

    cpu = cpu_model()
    print(f"# Pool balance reports on anvil: ethereum-electra, {args.validators:,} validators")
    print()
    print(
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. State {path.name} "
        f"({path.stat().st_size / 1e6:,.0f} MB, merkleized in {loaded:.1f} s). anvil's default hardfork: {fork}. "
        f"Batches as the daemon cuts them: at most {max_words_for(DEFAULT_MAX_CALLDATA_BYTES):,} words "
        f"({DEFAULT_MAX_CALLDATA_BYTES:,} bytes of calldata); registration {REGISTRATION_BATCH} validators a "
        f"transaction; the reference {EIGENLAYER_VALIDATORS_PER_TX} validators a transaction plus one list-root "
        "proof. Gas is transaction gasUsed."
    )
    print()
    print(
        "| pool | placement | proven | proveBalances gas/validator | txs | max batch gas (of the cap 2^24) "
        "| max calldata | startReport | registration gas/validator (one-time) | reference gas/validator "
        "| reference txs | ratio per validator | ratio per report |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        proven = f"all {row.proven:,}"
        if row.sampled:
            proven = f"sampled: first {row.batches_proven} of {row.batches_total} batches ({row.proven:,} validators)"
        top = max(row.prove_gas)
        over = f"{sum(gas > EIP_7825_CAP for gas in row.prove_gas)} of {len(row.prove_gas)} over"
        print(
            f"| {row.size:,} | {row.placement} | {proven} | {row.prove_per_validator:,.0f} | {row.batches_total:,} "
            f"| {top:,} ({top / EIP_7825_CAP:.0%}; {over}) | {row.max_calldata:,} B "
            f"| {row.start_gas:,} | {sum(row.register_gas) / row.proven:,.0f} | {row.single_per_validator:,.0f} "
            f"| {math.ceil(row.size / EIGENLAYER_VALIDATORS_PER_TX):,} "
            f"| {row.single_per_validator / row.prove_per_validator:.1f}x | {row.report_ratio:.1f}x |"
        )
    print()
    print(
        "ratio per validator: the reference's gas per validator (branches and list root) over proveBalances'; "
        "per report: the reference's whole report over startReport and proveBalances. Largest registration "
        f"transaction: {max(max(row.register_gas) for row in rows):,} gas."
    )
    if cold:
        single = statistics.median(cold["single"])
        index = min(args.index, args.validators - 1)
        print()
        print(f"Cold processes on {path.name}, interleaved, medians of {args.runs} (target ≤ 1.2x):")
        print()
        print("| process | median | runs | ratio to the whole-state prove |")
        print("|---|---:|---|---:|")
        labels = {
            "multi": f"`prove --multi --indices FILE` of the spread {len(spread):,}-validator pool",
            "single": f"`prove --index {index}` (whole state, today's cold prove)",
        }
        for kind, label in labels.items():
            runs = ", ".join(f"{t:.2f}" for t in cold[kind])
            median = statistics.median(cold[kind])
            print(f"| {label} | {median:.2f} s | {runs} | {median / single:.2f}x |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

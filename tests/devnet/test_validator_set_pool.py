"""The SSZ multiproof library (contracts/SSZMultiproof.sol) against oracle/ssz/multiproof.py, and the
reference ValidatorSetPool on plain anvil with an EIP-4788 contract: registration of validators proven with
one multiproof, checkpoint-style reports proven in batches, shares, and every refusal by its custom error."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_abi.abi import decode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD

from benchmarks.pool_gas import measure_pool_gas
from oracle.devnet.compile import load_artifacts
from oracle.devnet.validator_set_pool import (
    PoolChain,
    balances_batch,
    registration_proof,
)
from oracle.ssz.layouts import Layout, get_layout
from oracle.ssz.merkle import Subtree
from oracle.ssz.multiproof import build_multiproof, calculate_multi_merkle_root, get_helper_indices
from oracle.ssz.sample import build_state, random_validators
from oracle.ssz.state import BeaconState, load_state, pubkey_leaf
from tests.test_multiproof import nodes_of, trees_and_indices

LAYOUT = get_layout("ethereum-electra")
MINE = [3, 5, 6, 7, 8, 20, 41]  # chunks 0, 1 (5, 6, 7), 2, 5, 10
TWINS = (50, 52)  # the pool's credentials and one pubkey between them
FOREIGN = 10  # another address's credentials
GWEI = 10**9


def _error_types() -> dict[str, tuple[str, list[str]]]:
    out = {}
    for artifact in load_artifacts()["contracts"].values():
        for entry in artifact["abi"]:
            if entry["type"] == "error":
                types = [i["type"] for i in entry["inputs"]]
                selector = "0x" + Web3.keccak(text=f"{entry['name']}({','.join(types)})")[:4].hex().removeprefix("0x")
                out[selector] = (entry["name"], types)
    return out


ERRORS = _error_types()


def reverted(call: Any, sender: str | None = None) -> tuple[Any, ...] | None:
    """The custom error a call reverts with, as (name, *args), or None if it succeeds."""
    try:
        call.call({"from": sender} if sender else {})
    except ContractCustomError as exc:
        data = str(exc.data)
        name, types = ERRORS[data[:10]]
        values = decode(types, bytes.fromhex(data[10:]))
        return (
            name,
            *(Web3.to_checksum_address(v) if t == "address" else v for t, v in zip(types, values, strict=True)),
        )
    return None


def selector_of(name: str) -> str:
    (selector,) = [sel for sel, (n, _) in ERRORS.items() if n == name]
    return selector


def flip(node: bytes) -> bytes:
    return bytes([node[0] ^ 1]) + node[1:]


@pytest.fixture(scope="module")
def chain() -> Iterator[PoolChain]:
    net = PoolChain().start()
    yield net
    net.stop()


@dataclass
class Setup:
    chain: PoolChain
    pool: Contract
    state: BeaconState
    timestamp: int  # a mined block whose EIP-4788 root is the state's block root

    @property
    def owner(self) -> str:
        return self.chain.accounts[0]

    @property
    def reporter(self) -> str:
        return self.chain.accounts[1]

    def register(self, indices: Sequence[int]) -> Any:
        proof = registration_proof(self.state, indices)
        call = self.pool.functions.registerValidators(
            self.timestamp, proof.validators_length, proof.indices, proof.pubkeys, proof.witnesses
        )
        return self.chain.transact(call)

    def start_report(self) -> int:
        self.chain.next_block_at(self.state.block_root)
        self.chain.transact(self.pool.functions.startReport(), self.reporter)
        report_id: int = self.pool.functions.currentReport().call()[0]
        return report_id

    def batch_call(self, report_id: int, first: int, count: int, indices: Sequence[int] | None = None) -> Any:
        batch = balances_batch(self.state, indices if indices is not None else MINE[first : first + count])
        return self.pool.functions.proveBalances(
            report_id, first, count, batch.balances_length, batch.leaves, batch.witnesses
        )


def pool_state(layout: Layout, credentials: bytes, count: int = 64, seed: int = 1) -> BeaconState:
    rng = np.random.default_rng(seed)
    validators = random_validators(count, rng)
    for index in [*MINE, *TWINS]:
        validators.withdrawal_credentials[index] = np.frombuffer(credentials, dtype=np.uint8)
    validators.pubkeys[TWINS[1]] = validators.pubkeys[TWINS[0]]
    return load_state(build_state(layout, validators, seed=seed + 1), layout)


def setup(chain: PoolChain, seed: int = 1) -> Setup:
    pool = chain.deploy_pool(LAYOUT)
    state = pool_state(LAYOUT, bytes(pool.functions.withdrawalCredentials().call()), seed=seed)
    timestamp = chain.next_block_at(state.block_root)
    chain.rpc("evm_mine")
    return Setup(chain, pool, state, timestamp)


def logs(receipt: Any, contract: Contract, event: str) -> list[Any]:
    return list(getattr(contract.events, event)().process_receipt(receipt, errors=DISCARD))


# --- the library against oracle/ssz/multiproof.py ---


@pytest.fixture(scope="module")
def harness(chain: PoolChain) -> Contract:
    return chain.deploy("SSZMultiproofHarness")


def ordered(tree: Subtree, gindices: Sequence[int]) -> tuple[list[int], list[bytes], list[bytes]]:
    desc = sorted(gindices, reverse=True)
    leaves, witnesses = build_multiproof(tree.node_at, desc)
    return desc, leaves, witnesses


CHAIN_SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.e2e
@CHAIN_SETTINGS
@given(trees_and_indices())
def test_the_library_computes_the_python_root(harness: Contract, case: tuple[Subtree, list[int]]) -> None:
    tree, gindices = case
    desc, leaves, witnesses = ordered(tree, gindices)
    expected = calculate_multi_merkle_root(leaves, witnesses, desc)
    assert expected == tree.root
    assert bytes(harness.functions.calculateRoot(desc, leaves, witnesses).call()) == expected
    assert reverted(harness.functions.verify(tree.root, desc, leaves, witnesses)) is None
    assert reverted(harness.functions.verify(flip(tree.root), desc, leaves, witnesses)) == (
        "MultiproofRootMismatch",
        tree.root,
        flip(tree.root),
    )


@pytest.mark.e2e
@CHAIN_SETTINGS
@given(trees_and_indices(), st.data())
def test_the_library_refuses_what_python_refuses(
    harness: Contract, case: tuple[Subtree, list[int]], data: st.DataObject
) -> None:
    tree, gindices = case
    desc, leaves, witnesses = ordered(tree, gindices)
    calc = harness.functions.calculateRoot
    at = data.draw(st.integers(0, len(desc) - 1))
    forged = [*leaves[:at], flip(leaves[at]), *leaves[at + 1 :]]
    assert bytes(calc(desc, forged, witnesses).call()) != tree.root
    if witnesses:
        w = data.draw(st.integers(0, len(witnesses) - 1))
        assert bytes(calc(desc, leaves, [*witnesses[:w], flip(witnesses[w]), *witnesses[w + 1 :]]).call()) != tree.root
        assert reverted(calc(desc, leaves, witnesses[:-1])) == ("MultiproofWitnessesShort",)
    assert reverted(calc(desc, leaves, [*witnesses, tree.root])) == ("MultiproofWitnessesLeft", 1)
    assert reverted(calc(desc, leaves[:-1], witnesses)) == ("MultiproofLengthMismatch",)
    # A duplicate index is not strictly decreasing.
    dup = [*desc[: at + 1], desc[at], *desc[at + 1 :]]
    dup_leaves = [*leaves[: at + 1], leaves[at], *leaves[at + 1 :]]
    assert reverted(calc(dup, dup_leaves, witnesses)) == ("MultiproofIndicesNotDecreasing", at + 1)
    if len(desc) > 1:
        assert reverted(calc(desc[::-1], leaves[::-1], witnesses)) == ("MultiproofIndicesNotDecreasing", 1)
    # An index below another listed one, with the witnesses its set needs, true leaves and all.
    if desc[at] > 1:
        nested = sorted([*desc, desc[at] >> 1], reverse=True)
        nested_leaves = nodes_of(tree, nested)
        helpers = nodes_of(tree, get_helper_indices(nested))
        result = reverted(calc(nested, nested_leaves, helpers))
        assert result is not None and result[0] == "MultiproofNestedIndex"


@pytest.mark.e2e
def test_the_library_edge_cases(harness: Contract) -> None:
    calc = harness.functions.calculateRoot
    node = b"\x11" * 32
    assert bytes(calc([1], [node], []).call()) == node
    assert reverted(calc([], [], [])) == ("MultiproofEmpty",)
    assert reverted(calc([3, 0], [node, node], [])) == ("MultiproofZeroIndex",)
    assert reverted(calc([9, 4], [node, node], [node])) == ("MultiproofNestedIndex", 4)
    assert reverted(calc([9, 1], [node, node], [node, node, node])) == ("MultiproofNestedIndex", 1)
    pubkey = bytes(range(48))
    assert bytes(harness.functions.pubkeyRoot(pubkey).call()) == pubkey_leaf(pubkey)
    assert reverted(harness.functions.pubkeyRoot(pubkey[:47])) == ("MultiproofPubkeyLength", 47)
    assert bytes(harness.functions.toLittleEndian64(0x0102030405060708).call()) == bytes.fromhex(
        "0807060504030201"
    ) + bytes(24)


# --- registration ---


@pytest.mark.e2e
def test_registration_proves_pubkeys_credentials_and_length(chain: PoolChain) -> None:
    s = setup(chain)
    creds = bytes(s.pool.functions.withdrawalCredentials().call())
    assert creds == b"\x02" + bytes(11) + bytes.fromhex(s.pool.address[2:])
    receipt = s.register(MINE[:4])
    events = logs(receipt, s.pool, "ValidatorRegistered")
    assert [(e.args.position, e.args.validatorIndex) for e in events] == list(enumerate(MINE[:4]))
    s.register(MINE[4:])
    assert s.pool.functions.validatorCount().call() == len(MINE)
    assert s.pool.functions.validatorIndices(0, 100).call() == MINE
    assert s.pool.functions.validatorIndices(5, 1).call() == [MINE[5]]
    assert s.pool.functions.validatorIndexAt(6).call() == MINE[6]
    assert s.pool.functions.isRegistered(bytes(s.state.validator(MINE[2])["pubkey"])).call()
    assert not s.pool.functions.isRegistered(bytes(s.state.validator(FOREIGN)["pubkey"])).call()
    assert s.pool.functions.validatorsGindex().call() == LAYOUT.gindex("validators")
    assert s.pool.functions.balancesGindex().call() == LAYOUT.gindex("balances")


@pytest.mark.e2e
def test_registration_refusals(chain: PoolChain) -> None:
    s = setup(chain)

    def call(validators: Sequence[int], **change: Any) -> Any:
        proof = registration_proof(s.state, validators)
        args = {
            "timestamp": s.timestamp,
            "length": proof.validators_length,
            "indices": proof.indices,
            "pubkeys": proof.pubkeys,
            "witnesses": proof.witnesses,
        } | change
        fn = s.pool.functions.registerValidators
        return fn(args["timestamp"], args["length"], args["indices"], args["pubkeys"], args["witnesses"])

    proof = registration_proof(s.state, MINE[:3])
    twin_root = pubkey_leaf(bytes(s.state.validator(TWINS[0])["pubkey"]))
    assert reverted(call(MINE[:3])) is None
    assert reverted(call(list(TWINS))) == ("AlreadyRegistered", twin_root)
    assert reverted(call([MINE[0], FOREIGN])) == ("MultiproofRootMismatch", *reverted_root(call([MINE[0], FOREIGN])))
    assert reverted(call(MINE[:3], indices=[MINE[1], MINE[0], MINE[2]])) == ("IndicesNotIncreasing",)
    assert reverted(call(MINE[:3], indices=[MINE[0], MINE[0], MINE[2]])) == ("IndicesNotIncreasing",)
    assert reverted(call(MINE[:3], length=MINE[2])) == ("IndexOutOfRange", MINE[2])
    assert reverted(call(MINE[:3], length=64 + 1))[0] == "MultiproofRootMismatch"  # type: ignore[index]
    assert reverted(call(MINE[:3], pubkeys=[proof.pubkeys[0], proof.pubkeys[2], proof.pubkeys[1]]))[0] == (  # type: ignore[index]
        "MultiproofRootMismatch"
    )
    assert reverted(call(MINE[:3], pubkeys=proof.pubkeys[:2])) == ("LengthMismatch",)
    assert reverted(call(MINE[:3], witnesses=proof.witnesses[:-1])) == ("MultiproofWitnessesShort",)
    assert reverted(call(MINE[:3], witnesses=[*proof.witnesses, proof.witnesses[0]])) == ("MultiproofWitnessesLeft", 1)
    assert reverted(call(MINE[:3], timestamp=s.timestamp + 1)) == ("BeaconRootUnavailable", s.timestamp + 1)
    # A root for another timestamp: another state's.
    other = pool_state(LAYOUT, bytes(s.pool.functions.withdrawalCredentials().call()), seed=7)
    other_ts = chain.next_block_at(other.block_root)
    chain.rpc("evm_mine")
    assert reverted(call(MINE[:3], timestamp=other_ts))[0] == "MultiproofRootMismatch"  # type: ignore[index]
    assert reverted(call(MINE[:3]), chain.accounts[3]) == ("Unauthorized", chain.accounts[3])
    # Registered once: neither again, nor at or below the last registered index.
    s.register(MINE[:3])
    assert reverted(call(MINE[2:4])) == ("IndicesNotIncreasing",)
    assert reverted(call([MINE[1], MINE[3]])) == ("IndicesNotIncreasing",)
    assert reverted(call(MINE[3:5])) is None
    s.register([TWINS[0]])
    assert reverted(call([TWINS[1]])) == ("AlreadyRegistered", twin_root)
    # Not while a report is open.
    s.start_report()
    assert reverted(call(MINE[3:5])) == ("ReportInProgress",)


def reverted_root(call: Any) -> tuple[bytes, bytes]:
    result = reverted(call)
    assert result is not None and result[0] == "MultiproofRootMismatch"
    return result[1], result[2]


# --- reports ---


def registered(chain: PoolChain, seed: int = 1) -> Setup:
    s = setup(chain, seed)
    s.register(MINE)
    return s


@pytest.mark.e2e
def test_one_batch_report_and_share_price(chain: PoolChain) -> None:
    s = registered(chain)
    user = chain.accounts[2]
    assert s.pool.functions.totalAssets().call() == 0
    chain.transact(s.pool.functions.deposit(user), user, value=10 * 10**18)
    assert s.pool.functions.balanceOf(user).call() == 10 * 10**18
    assert s.pool.functions.totalAssets().call() == 10 * 10**18
    report_id = s.start_report()
    _, root, timestamp, nxt, proven, is_open = s.pool.functions.currentReport().call()
    assert (bytes(root), nxt, proven, is_open) == (s.state.block_root, 0, 0, True)
    # A deposit while the report is open counts once: after its snapshot of the balance.
    chain.transact(s.pool.functions.deposit(user), user, value=2 * 10**18)
    receipt = chain.transact(s.batch_call(report_id, 0, len(MINE)), chain.accounts[4])
    expected = sum(s.state.balance(i) for i in MINE)
    (done,) = logs(receipt, s.pool, "ReportCompleted")
    assert done.args.consensusGwei == expected
    assert done.args.executionBalance == 10 * 10**18
    assert s.pool.functions.lastReport().call() == [report_id, s.state.block_root, timestamp, expected, 10 * 10**18]
    total = expected * GWEI + 12 * 10**18
    assert s.pool.functions.totalAssets().call() == total
    supply = s.pool.functions.totalSupply().call()
    assert s.pool.functions.convertToAssets(10**18).call() == 10**18 * (total + 1) // (supply + 1)
    assert s.pool.functions.currentReport().call()[5] is False
    # Redeem: only from the buffer, only one's own shares.
    shares = s.pool.functions.balanceOf(user).call()
    assets = s.pool.functions.convertToAssets(shares).call()
    assert reverted(s.pool.functions.redeem(shares, user, user), user) == (
        "NotEnoughBuffer",
        12 * 10**18,
        assets,
    )
    assert reverted(s.pool.functions.redeem(1, user, user), chain.accounts[3]) == ("Unauthorized", chain.accounts[3])
    small = shares // 100
    small_assets = s.pool.functions.convertToAssets(small).call()
    receipt = chain.transact(s.pool.functions.redeem(small, user, user), user)
    (w,) = logs(receipt, s.pool, "Withdraw")
    assert (w.args.assets, w.args.shares) == (small_assets, small)
    assert s.pool.functions.totalAssets().call() == total - small_assets


@pytest.mark.e2e
def test_several_batches_with_a_shared_chunk(chain: PoolChain) -> None:
    s = registered(chain)
    report_id = s.start_report()
    # Positions [0, 2) = validators 3, 5 and [2, 5) = 6, 7, 8: chunk 1 (5, 6, 7) is proven in both.
    first = chain.transact(s.batch_call(report_id, 0, 2))
    (proven,) = logs(first, s.pool, "BatchProven")
    assert proven.args.batchGwei == s.state.balance(3) + s.state.balance(5)
    assert reverted(s.batch_call(report_id, 5, 2)) == ("BatchOutOfOrder", 2, 5)
    assert reverted(s.batch_call(report_id, 1, 2)) == ("BatchOutOfOrder", 2, 1)
    skipped = chain.transact(s.batch_call(report_id, 0, 2))
    (skip,) = logs(skipped, s.pool, "BatchSkipped")
    assert (skip.args.firstPosition, skip.args.count) == (0, 2)
    # Cheap: within 20,000 gas of Prague's calldata floor (EIP-7623: 21,000 + 10 per token, 4 tokens a
    # non-zero byte), which a skipped batch's calldata dominates.
    data = bytes(chain.w3.eth.get_transaction(skipped["transactionHash"])["input"])
    floor = 21_000 + 10 * sum(4 if b else 1 for b in data)
    assert skipped["gasUsed"] <= floor + 20_000
    chain.transact(s.batch_call(report_id, 2, 3))
    assert s.pool.functions.currentReport().call()[3] == 5
    assert reverted(s.batch_call(report_id, 5, 3)) == ("BatchOutOfRange", 5, 3)
    assert reverted(s.batch_call(report_id, 5, 0)) == ("EmptyBatch",)
    chain.transact(s.batch_call(report_id, 5, 2))
    assert s.pool.functions.lastReport().call()[3] == sum(s.state.balance(i) for i in MINE)
    assert reverted(s.batch_call(report_id, 5, 2)) == ("NoSuchReport", report_id)


@pytest.mark.e2e
def test_batch_refusals(chain: PoolChain) -> None:
    s = registered(chain)
    report_id = s.start_report()
    batch = balances_batch(s.state, MINE)
    fn = s.pool.functions.proveBalances

    def call(**change: Any) -> Any:
        args = {
            "id": report_id,
            "first": 0,
            "count": len(MINE),
            "length": batch.balances_length,
            "leaves": batch.leaves,
            "witnesses": batch.witnesses,
        } | change
        return fn(args["id"], args["first"], args["count"], args["length"], args["leaves"], args["witnesses"])

    def mismatch(c: Any) -> bool:
        result = reverted(c)
        return result is not None and result[0] == "MultiproofRootMismatch" and result[2] == s.state.block_root

    leaves, witnesses = batch.leaves, batch.witnesses
    assert reverted(call()) is None
    assert mismatch(call(leaves=[flip(leaves[0]), *leaves[1:]]))
    assert mismatch(call(leaves=[*leaves[:-1], flip(leaves[-1])]))
    assert mismatch(call(witnesses=[*witnesses[:3], flip(witnesses[3]), *witnesses[4:]]))
    assert reverted(call(witnesses=witnesses[:-1])) == ("MultiproofWitnessesShort",)
    assert reverted(call(witnesses=[*witnesses, witnesses[0]])) == ("MultiproofWitnessesLeft", 1)
    assert reverted(call(leaves=leaves[:-1])) == ("MultiproofLengthMismatch",)
    assert reverted(call(leaves=[*leaves, leaves[0]])) == ("MultiproofLengthMismatch",)
    # Leaves and witnesses of another index set with as many chunks: a true proof, of the wrong validators.
    other = balances_batch(s.state, [0, 4, 9, 12, 22])
    assert len(other.leaves) == len(leaves)
    wrong = reverted(call(leaves=other.leaves, witnesses=other.witnesses))
    assert wrong is not None and wrong[0] in (
        "MultiproofRootMismatch",
        "MultiproofWitnessesShort",
        "MultiproofWitnessesLeft",
    )
    assert mismatch(call(leaves=other.leaves))
    assert reverted(call(length=MINE[-1])) == ("IndexOutOfRange", MINE[-1])
    assert mismatch(call(length=batch.balances_length + 1))
    assert reverted(call(id=report_id + 1)) == ("NoSuchReport", report_id + 1)
    assert reverted(s.pool.functions.startReport(), s.reporter) == ("ReportInProgress",)
    assert reverted(s.pool.functions.abandonReport(report_id), chain.accounts[3]) == ("Unauthorized", chain.accounts[3])
    # A root for another timestamp: a report pinned on another state's root refuses this state's proof.
    receipt = chain.transact(s.pool.functions.abandonReport(report_id), s.reporter)
    assert logs(receipt, s.pool, "ReportAbandoned")[0].args.reportId == report_id
    assert reverted(call()) == ("NoSuchReport", report_id)
    other_state = pool_state(LAYOUT, bytes(s.pool.functions.withdrawalCredentials().call()), seed=9)
    chain.next_block_at(other_state.block_root)
    chain.transact(s.pool.functions.startReport(), s.reporter)
    assert reverted(call(id=report_id + 1))[:3] == (  # type: ignore[index]
        "MultiproofRootMismatch",
        s.state.block_root,
        other_state.block_root,
    )
    assert reverted(s.pool.functions.startReport(), chain.accounts[3]) == ("Unauthorized", chain.accounts[3])


@pytest.mark.e2e
def test_a_report_without_validators_completes_at_once(chain: PoolChain) -> None:
    s = setup(chain)
    user = chain.accounts[2]
    chain.transact(s.pool.functions.deposit(user), user, value=10**18)
    s.chain.next_block_at(s.state.block_root)
    receipt = chain.transact(s.pool.functions.startReport(), s.reporter)
    (done,) = logs(receipt, s.pool, "ReportCompleted")
    assert (done.args.consensusGwei, done.args.executionBalance, done.args.totalAssets) == (0, 10**18, 10**18)
    assert s.pool.functions.totalAssets().call() == 10**18
    # No root for the block: refused (a block mined at a timestamp with no root, then a call at it).
    latest = int(chain.w3.eth.get_block("latest")["timestamp"])
    chain.rpc("evm_mine", hex(latest + 5))
    try:
        s.pool.functions.startReport().call({"from": s.reporter}, block_identifier="latest")
    except ContractCustomError as exc:
        assert str(exc.data)[:10] == selector_of("BeaconRootUnavailable")
        assert decode(["uint64"], bytes.fromhex(str(exc.data)[10:])) == (latest + 5,)
    else:
        raise AssertionError("startReport passed without a beacon root")


# --- gas ---


@pytest.mark.e2e
@pytest.mark.slow
def test_the_gas_measurement_runs_and_the_multiproof_beats_one_branch_each() -> None:
    """The measurement `make bench` tabulates (benchmarks/bench_pool_gas.py, at 2.1M validators), run small: a
    spread pool's multiproof costs less gas per validator than EigenLayer's branch per validator."""
    result = measure_pool_gas(validators=4_000, pool_size=200, placement="spread", seed=3)
    assert result.prove_per_validator < result.single_per_validator / 2


@pytest.mark.unit
def test_the_exported_abi_is_the_contracts() -> None:
    """oracle/execution/abi/ValidatorSetPool.json, for the daemon, is the compiled contract's whole ABI."""
    exported = json.loads(
        (Path(__file__).resolve().parents[2] / "oracle/execution/abi/ValidatorSetPool.json").read_text()
    )
    compiled = load_artifacts()["contracts"]["ValidatorSetPool"]["abi"]

    def canonical(abi: list[dict[str, Any]]) -> list[str]:
        return sorted(json.dumps(entry, sort_keys=True) for entry in abi)

    assert canonical(exported) == canonical(compiled)

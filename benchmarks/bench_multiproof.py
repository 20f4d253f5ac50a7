"""Micro-benchmark of a pool's SSZ multiproof (`pool-oracle prove --multi`) on a synthetic ethereum-electra state.

For each pool size, as medians over repeated runs on this machine, in process, from a state merkleized once:
- build: `prove_pool` (balance chunks, optionally pubkey leaves; read from the cached tree, self-checked);
- verify: `verify_multiproof_document` of the JSON document (roots, gindices, list bounds, the total);
- size: leaves, witnesses, and the JSON document's bytes, against the nodes of one single proof per validator
  (a balance branch each, plus a pubkey branch each with pubkeys);
- single proofs: `prove_validator` per validator for comparison (its pubkey, credentials and balance proofs;
  measured on up to --single-limit validators, scaled linearly beyond).
Pools are placed two ways: spread (random indices) and contiguous (a run of indices, as a pool registering its
validators in one go gets). Prints a Markdown report.

    .venv/bin/python benchmarks/bench_multiproof.py --validators 100000 --pools 1,48,1000,10000
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from oracle.ssz.hashing import thread_count, warm_up
from oracle.ssz.sample import build_state, random_validators
from oracle.ssz.state import BeaconState, load_state
from oracle.ssz.state_multiproof import prove_pool, verify_multiproof_document

T = TypeVar("T")


def timed(run: Callable[[], T], runs: int) -> tuple[float, T]:
    """(median seconds, the last result) of `runs` calls."""
    times = []
    result: T | None = None
    for _ in range(runs):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    assert result is not None
    return statistics.median(times), result


def pool_indices(count: int, size: int, placement: str, rng: np.random.Generator) -> list[int]:
    if placement == "contiguous":
        start = int(rng.integers(0, count - size + 1))
        return list(range(start, start + size))
    return sorted(int(i) for i in rng.choice(count, size=size, replace=False))


def single_proof_seconds(state: BeaconState, indices: list[int], limit: int) -> float:
    sample = indices[:limit]
    started = time.perf_counter()
    for index in sample:
        state.prove_validator(index)
    return (time.perf_counter() - started) * len(indices) / len(sample)


def row(
    state: BeaconState, size: int, placement: str, with_pubkeys: bool, runs: int, limit: int, rng: np.random.Generator
) -> str:
    indices = pool_indices(state.validator_count, size, placement, rng)
    build, proof = timed(lambda: prove_pool(state, indices, with_pubkeys=with_pubkeys), runs)
    doc = proof.to_json()
    text = json.dumps(doc)
    verify, checks = timed(lambda: verify_multiproof_document(json.loads(text)), runs)
    if not all(check.ok for check in checks):
        raise SystemExit(f"pool of {size} ({placement}): the document does not verify")
    singles = single_proof_seconds(state, indices, limit)
    single_nodes = sum(len(state.block_tree.branch(g)) for g in _single_gindices(state, indices, with_pubkeys))
    return (
        f"| {size:,} | {placement} | {len(proof.leaves):,} | {len(proof.witnesses):,} | {single_nodes:,} "
        f"| {len(text) / 1e3:,.0f} | {build * 1e3:,.1f} | {verify * 1e3:,.1f} | {singles * 1e3:,.0f} |"
    )


def _single_gindices(state: BeaconState, indices: list[int], with_pubkeys: bool) -> list[int]:
    layout = state.layout
    gindices = [layout.balance_gindex(i) for i in indices]
    if with_pubkeys:
        gindices += [layout.pubkey_gindex(i) for i in indices]
    return gindices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validators", type=int, default=2_100_000, help="validators in the state (default mainnet)")
    parser.add_argument("--pools", default="1,48,1000,10000", help="comma-separated pool sizes")
    parser.add_argument("--placements", default="spread,contiguous", help="spread and/or contiguous")
    parser.add_argument("--with-pubkeys", action="store_true", help="also prove each validator's pubkey leaf")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--single-limit", type=int, default=200, help="single proofs timed, then scaled")
    args = parser.parse_args()
    sizes = [int(s) for s in args.pools.split(",")]
    if max(sizes) > args.validators:
        raise SystemExit(f"a pool of {max(sizes)} does not fit {args.validators} validators")
    warm_up()
    rng = np.random.default_rng(2026)
    started = time.perf_counter()
    data = build_state("ethereum-electra", random_validators(args.validators, rng), seed=1, slot=11_000_000)
    built = time.perf_counter() - started
    started = time.perf_counter()
    state = load_state(data)
    loaded = time.perf_counter() - started
    print(f"# Pool multiproofs: ethereum-electra, {args.validators:,} validators")
    print()
    print(
        f"{platform.processor() or platform.machine()}, {thread_count()} hashing threads; state {len(data) / 1e6:,.0f}"
        f" MB built in {built:.1f} s, merkleized once in {loaded:.1f} s. "
        f"{'Balance chunks and pubkey leaves' if args.with_pubkeys else 'Balance chunks'}; medians of {args.runs}."
    )
    print()
    print(
        "| pool | placement | leaves | witnesses | single-proof nodes | JSON kB | build ms | verify ms "
        "| single proofs ms |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for placement in args.placements.split(","):
        for size in sizes:
            print(row(state, size, placement, args.with_pubkeys, args.runs, args.single_limit, rng), flush=True)


if __name__ == "__main__":
    main()

"""Benchmark of a pool's SSZ multiproof (`pool-oracle prove --multi`) on a synthetic ethereum-electra state.

For each pool size and placement, on one state merkleized once (with a MerkleCache):
- cold build: `prove_pool` (balance chunks, optionally pubkey leaves; read from the cached tree, self-checked)
  in a process forked right after the state is loaded, before anything else was proven: its wall time and
  its peak memory above the loaded state (VmHWM at the end minus VmRSS at the fork), and its whole peak;
- warm build: the same after every balance changed and the state was re-merkleized with the cache, as the
  daemon does each cycle: median of --runs in process, and the peak above the state in a forked process;
- verify: `verify_multiproof_document` of the JSON document (roots, gindices, list bounds, the total);
- size: leaves, witnesses and their sum in 32-byte words, the JSON document's bytes, against the nodes of one
  single proof per validator (a balance branch each, plus a pubkey branch each with pubkeys);
- transactions: the multiproof cut into batches of consecutive registry positions whose calldata
  (4 + 32*6 + 32*2 + 32*words bytes) stays within 120,000 bytes (`oracle/ssz/batches.py` `plan_batches`),
  against EigenLayer's checkpoint shape: per validator a 39-word balance proof (38 siblings and the length
  mix-in) and its chunk, 80 validators per transaction;
- single proofs: `prove_validator` per validator for comparison (its pubkey, credentials and balance proofs;
  measured on up to --single-limit validators, scaled linearly beyond).
Pools are placed two ways: spread (random indices) and contiguous (a run of indices, as a pool registering its
validators in one go gets). Prints a Markdown report; BENCHMARKS.md records it.

    .venv/bin/python benchmarks/bench_multiproof.py --validators 100000 --pools 1,48,1000,10000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
from machine import cpu_model  # benchmarks/, this script's directory

from oracle.ssz import hashing
from oracle.ssz.batches import DEFAULT_MAX_CALLDATA_BYTES, max_words_for, plan_batches
from oracle.ssz.hashing import thread_count, warm_up
from oracle.ssz.multiproof_verify import verify_multiproof_document
from oracle.ssz.sample import build_state, random_validators
from oracle.ssz.state import BeaconState, load_state
from oracle.ssz.state_multiproof import prove_pool
from oracle.ssz.types import MerkleCache

T = TypeVar("T")
DATA = Path(__file__).parent / ".data"
# EigenLayer's checkpoint proofs: a balance branch of 38 siblings plus the length mix-in, and the chunk itself.
EIGENLAYER_WORDS_PER_VALIDATOR = 39 + 1
EIGENLAYER_VALIDATORS_PER_TX = 80
# Pools up to this size are built --runs times for the median; bigger ones (seconds each) once.
CHEAP_POOL = 10_000


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


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def in_fork(run: Callable[[], object]) -> tuple[float, float, float]:
    """(seconds, peak MB above the RSS at the fork, whole peak MB) of `run` in a forked child process."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_end)
        status = 1
        try:
            # The parent's hashing threads do not exist here: let the pools start their own.
            hashing._pool.cache_clear()
            hashing.task_pool.cache_clear()
            at_fork = _status_kb("VmRSS")
            started = time.perf_counter()
            run()
            elapsed = time.perf_counter() - started
            peak = _status_kb("VmHWM")
            os.write(write_end, json.dumps([elapsed, (peak - at_fork) / 1024, peak / 1024]).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        reply = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) or not reply:
        raise SystemExit("a forked proof build failed")
    elapsed, above, whole = json.loads(reply)
    return float(elapsed), float(above), float(whole)


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


def _single_gindices(state: BeaconState, indices: list[int], with_pubkeys: bool) -> list[int]:
    layout = state.layout
    gindices = [layout.balance_gindex(i) for i in indices]
    if with_pubkeys:
        gindices += [layout.pubkey_gindex(i) for i in indices]
    return gindices


@dataclass
class Pool:
    size: int
    placement: str
    indices: list[int]
    cold: tuple[float, float, float] = (0.0, 0.0, 0.0)
    warm: float = 0.0
    warm_peak: tuple[float, float, float] = (0.0, 0.0, 0.0)
    cells: str = ""


def measure(state: BeaconState, pool: Pool, with_pubkeys: bool, runs: int, limit: int) -> str:
    """The in-process columns of a pool's row: sizes, JSON, verify, transactions, single proofs."""
    indices = pool.indices
    proof = prove_pool(state, indices, with_pubkeys=with_pubkeys)
    text = json.dumps(proof.to_json())
    verify, checks = timed(lambda: verify_multiproof_document(json.loads(text)), runs)
    if not all(check.ok for check in checks):
        raise SystemExit(f"pool of {pool.size} ({pool.placement}): the document does not verify")
    words = len(proof.leaves) + len(proof.witnesses)
    # A single proof's branch has one sibling per level: the depth of its gindex.
    single_nodes = sum(g.bit_length() - 1 for g in _single_gindices(state, indices, with_pubkeys))
    batches = plan_batches(state.layout, indices, max_words_for(DEFAULT_MAX_CALLDATA_BYTES))
    eigen_txs = math.ceil(len(indices) / EIGENLAYER_VALIDATORS_PER_TX)
    singles = single_proof_seconds(state, indices, limit)
    return (
        f"| {len(proof.leaves):,} | {len(proof.witnesses):,} | {words:,} | {single_nodes:,} "
        f"| {len(text) / 1e3:,.0f} | {verify * 1e3:,.1f} | {len(batches):,} "
        f"| {EIGENLAYER_WORDS_PER_VALIDATOR * len(indices):,} | {eigen_txs:,} | {singles * 1e3:,.0f} |"
    )


def load(validators: int) -> bytearray:
    """The state bench_prove.py builds (same validators and seed), from its file when it is there."""
    path = DATA / f"ethereum-electra-{validators}.ssz"
    if path.exists():
        return bytearray(path.read_bytes())
    rng = np.random.default_rng(2026)
    return bytearray(build_state("ethereum-electra", random_validators(validators, rng), seed=1, slot=11_000_000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--validators", type=int, default=2_100_000, help="validators in the state (default mainnet)")
    parser.add_argument("--pools", default="1,48,1000,10000,100000,300000", help="comma-separated pool sizes")
    parser.add_argument("--placements", default="spread,contiguous", help="spread and/or contiguous")
    parser.add_argument("--with-pubkeys", action="store_true", help="also prove each validator's pubkey leaf")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--single-limit", type=int, default=200, help="single proofs timed, then scaled")
    args = parser.parse_args()
    sizes = [int(s) for s in args.pools.split(",")]
    if max(sizes) > args.validators:
        raise SystemExit(f"a pool of {max(sizes)} does not fit {args.validators} validators")
    warm_up()
    started = time.perf_counter()
    data = load(args.validators)
    built = time.perf_counter() - started
    cache = MerkleCache()
    started = time.perf_counter()
    state = load_state(data, cache=cache)
    loaded = time.perf_counter() - started
    rng = np.random.default_rng(2026)
    pools = [
        Pool(size, placement, pool_indices(args.validators, size, placement, rng))
        for placement in args.placements.split(",")
        for size in sizes
    ]
    pk = args.with_pubkeys

    # Cold: each build in a process forked from this one before it proved anything.
    for pool in pools:
        pool.cold = in_fork(partial(prove_pool, state, pool.indices, with_pubkeys=pk))
    for pool in pools:
        pool.cells = measure(state, pool, pk, args.runs if pool.size <= CHEAP_POOL else 1, args.single_limit)

    # Warm: every balance changes, the state is merkleized again with the cache, then each pool is proven.
    start, end = state.spans["balances"]
    balances = np.frombuffer(data, dtype="<u8", count=(end - start) // 8, offset=start).copy()
    data[start:end] = (balances + rng.integers(1, 1000, size=balances.shape[0], dtype=np.uint64)).tobytes()
    del state
    started = time.perf_counter()
    state = load_state(data, cache=cache)
    rehashed = time.perf_counter() - started
    for pool in pools:
        runs = args.runs if pool.size <= CHEAP_POOL else 1
        pool.warm, _ = timed(partial(prove_pool, state, pool.indices, with_pubkeys=pk), runs)
        pool.warm_peak = in_fork(partial(prove_pool, state, pool.indices, with_pubkeys=pk))

    cpu = cpu_model()
    print(f"# Pool multiproofs: ethereum-electra, {args.validators:,} validators")
    print()
    print(
        f"{cpu}, {os.cpu_count()} cores, {thread_count()} hashing threads; Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}. State {len(data) / 1e6:,.0f} MB read or built in "
        f"{built:.1f} s, merkleized once in {loaded:.1f} s, again after every balance changed in {rehashed:.2f} s "
        f"(with the cache). {'Balance chunks and pubkey leaves' if pk else 'Balance chunks'}; medians of "
        f"{args.runs} for pools up to {CHEAP_POOL:,}, one run beyond. Batches of at most "
        f"{max_words_for(DEFAULT_MAX_CALLDATA_BYTES):,} words ({DEFAULT_MAX_CALLDATA_BYTES:,} bytes of calldata)."
    )
    print()
    print(
        "| pool | placement | leaves | witnesses | words | single-proof words | JSON kB | verify ms | txs "
        "| EigenLayer words | EigenLayer txs | single proofs ms | cold build ms | cold peak MB (+above state) "
        "| warm build ms | warm peak MB (+above state) |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for pool in pools:
        cold_s, cold_above, cold_whole = pool.cold
        _, warm_above, warm_whole = pool.warm_peak
        print(
            f"| {pool.size:,} | {pool.placement} {pool.cells} {cold_s * 1e3:,.1f} "
            f"| {cold_whole:,.0f} (+{cold_above:,.0f}) | {pool.warm * 1e3:,.1f} "
            f"| {warm_whole:,.0f} (+{warm_above:,.0f}) |"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()

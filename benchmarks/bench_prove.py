"""Benchmark of `pool-oracle prove` on a mainnet-sized ethereum-electra state (run by `make bench`).

Measures, as medians over repeated runs on this machine:
- cold prove of one validator from the file: a whole `pool-oracle prove` process, wall time and peak RSS;
- warm re-prove after every balance changes: in process, with the MerkleCache from the previous state;
- reference ratios measured in the same run: the SHA-256 layer kernel against hashlib per 64-byte node,
  and the engine against py-ssz (if installed) rooting the same smaller state.
Prints a Markdown report; BENCHMARKS.md records it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import cpu_model  # benchmarks/, this script's directory

from oracle.ssz.hashing import hash_pairs, warm_up
from oracle.ssz.sample import build_state, random_validators
from oracle.ssz.state import load_state
from oracle.ssz.types import MerkleCache

DATA = Path(__file__).parent / ".data"


def mainnet_state(count: int) -> Path:
    path = DATA / f"ethereum-electra-{count}.ssz"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        started = time.perf_counter()
        validators = random_validators(count, np.random.default_rng(2026))
        path.write_bytes(build_state("ethereum-electra", validators, seed=1, slot=11_000_000))
        print(f"built {path.name}: {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.1f} s")
        # Start afresh: a prove process forked from this one would count the builder's ~1.1 GB in its peak RSS
        # (Linux's ru_maxrss keeps the parent's resident pages a child had before exec).
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, *sys.argv])
    return path


def run_cold(state: Path, index: int, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one whole prove process."""
    exe = shutil.which("pool-oracle", path=str(Path(sys.executable).parent)) or "pool-oracle"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [exe, "prove", "--state", str(state), "--index", str(index), "--output", os.devnull],
        env=env,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"prove failed with exit code {proc.returncode}")
    return elapsed, usage.ru_maxrss / 1024


def bench_warm(state: Path, index: int, runs: int) -> list[float]:
    data = bytearray(state.read_bytes())
    cache = MerkleCache()
    layout_state = load_state(data, cache=cache)
    start, end = layout_state.spans["balances"]
    balances = np.frombuffer(data, dtype="<u8", count=(end - start) // 8, offset=start)
    del layout_state
    times = []
    rng = np.random.default_rng(9)
    for _ in range(runs):
        fresh = balances + rng.integers(1, 1000, size=balances.shape[0], dtype=np.uint64)
        data[start:end] = fresh.tobytes()
        started = time.perf_counter()
        proven = load_state(data, cache=cache)
        proven.prove_validator(index)
        times.append(time.perf_counter() - started)
    return times


def bench_kernel(nodes: int) -> tuple[float, float]:
    data = np.random.default_rng(1).integers(0, 256, size=nodes * 64, dtype=np.uint8)
    raw = data.tobytes()
    kernel, reference = [], []
    for _ in range(3):
        started = time.perf_counter()
        hash_pairs(data)
        kernel.append(time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(0, len(raw), 64):
            hashlib.sha256(raw[i : i + 64]).digest()
        reference.append(time.perf_counter() - started)
    return statistics.median(kernel), statistics.median(reference)


def bench_py_ssz(count: int) -> tuple[float, float] | None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.reference
    try:
        import ssz

        from tests.reference import to_sedes
    except ImportError:
        return None
    from oracle.ssz.layouts import get_layout

    data = build_state("ethereum-electra", random_validators(count, np.random.default_rng(4)), seed=2)
    sedes = to_sedes(get_layout("ethereum-electra").state)
    started = time.perf_counter()
    reference_root = bytes(ssz.get_hash_tree_root(ssz.decode(data, sedes), sedes))
    reference = time.perf_counter() - started
    engine = []
    for _ in range(3):
        started = time.perf_counter()
        root = load_state(data).state_root
        engine.append(time.perf_counter() - started)
    assert root == reference_root
    return statistics.median(engine), reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--validators", type=int, default=2_100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--index", type=int, default=1_234_567)
    parser.add_argument("--reference-only", action="store_true", help="only the same-run reference ratios")
    args = parser.parse_args()
    if args.reference_only:
        kernel, reference = bench_kernel(200_000)
        print(f"kernel {kernel * 1e3:.0f} ms, hashlib {reference * 1e3:.0f} ms: {reference / kernel:.1f}x")
        result = bench_py_ssz(20_000)
        if result:
            engine, ref = result
            print(f"engine {engine * 1e3:.0f} ms, py-ssz {ref * 1e3:.0f} ms: {ref / engine:.0f}x")
        return
    warm_up()
    state = mainnet_state(args.validators)
    index = min(args.index, args.validators - 1)
    size_mb = state.stat().st_size / 1e6

    # One process with an empty JIT cache: what the very first run after installing costs.
    with tempfile.TemporaryDirectory() as empty_cache:
        first_time, first_rss = run_cold(state, index, env=dict(os.environ, NUMBA_CACHE_DIR=empty_cache))
    cold = [run_cold(state, index) for _ in range(args.runs)]
    cold_times = [t for t, _ in cold]
    cold_rss = [r for _, r in cold]
    warm = bench_warm(state, index, args.runs)
    kernel, reference = bench_kernel(200_000)
    py_ssz = bench_py_ssz(20_000)

    cpu = cpu_model()
    print()
    print(f"Machine: {cpu}, {os.cpu_count()} cores; Python {platform.python_version()}")
    print(f"State: ethereum-electra, {args.validators:,} validators, {size_mb:.0f} MB (in the page cache)")
    print()
    print("| measure | median | runs | target |")
    print("|---|---|---|---|")
    print(f"| cold prove, whole process | {statistics.median(cold_times):.2f} s | {args.runs} | ≤ 8 s |")
    print(f"| cold prove, peak RSS | {statistics.median(cold_rss):.0f} MB | {args.runs} | ≤ 1 GB |")
    warm_median = statistics.median(warm)
    print(f"| warm re-prove after all balances change | {warm_median:.2f} s | {args.runs} | ≤ 1.5 s |")
    print(f"| first run after install (JIT compile) | {first_time:.2f} s, {first_rss:.0f} MB | 1 | |")
    print()
    print(f"Cold runs: {', '.join(f'{t:.2f}' for t in cold_times)} s")
    print(f"Warm runs: {', '.join(f'{t:.2f}' for t in warm)} s")
    print()
    print("| reference, same run | engine | reference | ratio |")
    print("|---|---|---|---|")
    print(
        f"| 200k 64-byte nodes: layer kernel vs hashlib | {kernel * 1e3:.0f} ms | {reference * 1e3:.0f} ms "
        f"| {reference / kernel:.1f}x |"
    )
    if py_ssz:
        engine, ref = py_ssz
        label = "root of a 20k-validator state: engine vs py-ssz"
        print(f"| {label} | {engine * 1e3:.0f} ms | {ref * 1e3:.0f} ms | {ref / engine:.0f}x |")


if __name__ == "__main__":
    main()

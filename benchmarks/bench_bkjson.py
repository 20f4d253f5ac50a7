"""Benchmark of reading a beacon-kit debug-state response (Go's JSON of its BeaconState) into SSZ and
merkleizing it, as the daemon does every cycle on Berachain (run by `make bench`).

For each registry size: JSON parse + beacon-kit reader (bkjson) + load_state, median of runs, and in the
same run the Beacon API's JSON reader (jsonfmt) over the same state as the reference. Prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc

import numpy as np

from oracle.ssz.bkjson import read_debug_state, write_debug_state
from oracle.ssz.hashing import warm_up
from oracle.ssz.jsonfmt import from_json, to_json
from oracle.ssz.layouts import get_layout
from oracle.ssz.sample import sample_state
from oracle.ssz.state import load_state


def median_seconds(fn: object, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--validators", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    warm_up()
    layout = get_layout("beaconkit-electra")
    print("| validators | response | beacon-kit JSON -> merkleized state | Beacon API JSON (reference) | ratio |"
          " peak Python heap |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for count in args.validators:
        raw = sample_state(layout.name, count, seed=7)
        value = layout.state.decode(np.frombuffer(raw, dtype=np.uint8), 0, len(raw), "BeaconState")
        value["fork"]["current_version"] = bytes.fromhex("05000000")  # what an electra response carries
        go_text = json.dumps(write_debug_state(layout, value, "electra"))
        api_text = json.dumps({"version": "electra", "data": to_json(layout.state, value)})

        def beacon_kit(text: str = go_text) -> None:
            served, _, ssz = read_debug_state(json.loads(text))
            load_state(ssz, served)

        def beacon_api(text: str = api_text) -> None:
            ssz = layout.state.encode(from_json(layout.state, json.loads(text)["data"]))
            load_state(ssz, layout)

        ours, _ = median_seconds(beacon_kit, args.runs)
        reference, _ = median_seconds(beacon_api, args.runs)
        tracemalloc.start()
        beacon_kit()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"| {count:,} | {len(go_text) / 1e6:.1f} MB | {ours * 1000:,.0f} ms | {reference * 1000:,.0f} ms | "
              f"{ours / reference:.2f} | {peak / 1e6:.0f} MB |")  # fmt: skip


if __name__ == "__main__":
    main()

"""The soak: the real daemon on the devnet (random deposits, stakes and withdrawals on) for N cycles, with
random faults switched on and off in front of its endpoints. Samples RSS, open file descriptors and the
journal's size; at the end, with the faults off and the chain settled, every pool's on-chain totalDeposits
must equal its proven balance. Writes .faults/soak.json and the soak section of RELIABILITY.md.

    python -m tests.faults.soak --cycles 1000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from oracle.devnet.anvil import free_port
from tests.daemon.harness import GWEI, Devnet, daemon_env, exe, scrape
from tests.faults import proxy as faults
from tests.faults.matrix import devnet_beacon, devnet_rpc, metric_sum
from tests.faults.proxy import FaultProxy

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- soak:begin -->", "<!-- soak:end -->"
SLOT_SECONDS, SLOTS_PER_EPOCH, WITHDRAWAL_DELAY_EPOCHS = 1, 32, 1  # the harness devnet's


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def journal_kb(journal: Path) -> float:
    """The journal's size on disk: the database and its write-ahead log."""
    files = [journal, journal.with_name(journal.name + "-wal")]
    return round(sum(f.stat().st_size for f in files if f.exists()) / 1024, 1)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def troughs(devnet: Devnet) -> list[str]:
    """Reports that lowered a pool's share price. On the devnet nothing else can (no slashing; stakes and
    withdrawals trade at the share price, top-ups raise it), so each one is a report that took booked
    deposits out of totalDeposits before the CL credited them: the trough the holds exist to prevent."""
    found = []
    for pool in devnet.pools:
        contract = devnet.pool(pool)
        for event in contract.events.TotalDepositsUpdated.get_logs(from_block=0):
            block = int(event["blockNumber"])
            before = contract.functions.convertToAssets(10**18).call(block_identifier=block - 1)
            after = contract.functions.convertToAssets(10**18).call(block_identifier=block)
            if after * 10**12 < before * (10**12 - 1):  # more than rounding
                found.append(f"{pool.address} at block {block}: {before / 1e18:.6f} -> {after / 1e18:.6f}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="pool-oracle-soak-"))
    devnet = Devnet(workdir, "--random-events", "--validators", "12", "--pools", "6", "--deposit-delay-slots", "3")
    samples: list[dict[str, float]] = []
    fault_log: list[str] = []
    try:
        with FaultProxy(devnet_beacon(devnet)) as beacon, FaultProxy(devnet_rpc(devnet)) as el:
            port = free_port()
            journal = workdir / "soak.sqlite"
            env = daemon_env(
                workdir, "soak", POOL_ORACLE_BEACON_ENDPOINTS=beacon.url, POOL_ORACLE_EXECUTION_ENDPOINTS=el.url,
                POOL_ORACLE_SERVICE_METRICS_ADDRESS=f"127.0.0.1:{port}", POOL_ORACLE_REPORTING_INTERVAL_SECONDS="1",
                POOL_ORACLE_REPORTING_CYCLE_TIMEOUT_SECONDS="30", POOL_ORACLE_TRANSACTIONS_RECEIPT_TIMEOUT_SECONDS="8",
                POOL_ORACLE_TRANSACTIONS_REPLACE_AFTER_SECONDS="4", POOL_ORACLE_ENDPOINTS_REQUEST_TIMEOUT_SECONDS="3",
                POOL_ORACLE_ENDPOINTS_RETRY_BUDGET_SECONDS="4", POOL_ORACLE_SERVICE_LOG_LEVEL="warning",
                POOL_ORACLE_SERVICE_JOURNAL_PATH=str(journal),
                # The devnet's random top-ups move a pool more in the soak's minutes than the daily bound
                # (now counted from the chain) allows in a real day: the bound is not what the soak measures.
                POOL_ORACLE_REPORTING_MAX_CHANGE_PER_DAY="10",
            )  # fmt: skip
            log = (workdir / "daemon.log").open("w")
            daemon = subprocess.Popen([*exe(), "run", "--config", str(devnet.config)], stdout=subprocess.DEVNULL,
                                      stderr=log, env=env)  # fmt: skip
            base = f"http://127.0.0.1:{port}"
            started = time.monotonic()
            next_toggle = started + 20
            choices = [
                ("beacon", "latency", lambda p: faults.latency(1.0)),
                ("beacon", "503", lambda p: faults.status(503)),
                ("beacon", "reset", lambda p: faults.reset()),
                ("beacon", "malformed", lambda p: faults.malformed()),
                ("el", "429", lambda p: faults.status(429)),
                ("el", "swallow sendRawTransaction",
                 lambda p: faults.rpc_methods({"eth_sendRawTransaction": faults.swallow_transactions()})),
            ]  # fmt: skip
            cycles = 0.0
            reports_landed = 0.0
            while True:
                _, body = scrape(base + "/metrics")
                cycles = metric_sum(body, "pool_oracle_cycles_total")
                reports_landed = metric_sum(body, "pool_oracle_reports_total", outcome="landed")
                now = time.monotonic()
                samples.append({
                    "seconds": round(now - started, 1), "cycles": cycles, "rss_mb": round(rss_mb(daemon.pid), 1),
                    "fds": open_fds(daemon.pid), "journal_kb": journal_kb(journal),
                })  # fmt: skip
                if cycles >= args.cycles:
                    break
                assert daemon.poll() is None, (workdir / "daemon.log").read_text()[-3000:]
                if now >= next_toggle:
                    beacon.fault = el.fault = None
                    if rng.random() < 0.5:
                        where, name, make = rng.choice(choices)
                        target = beacon if where == "beacon" else el
                        target.fault = make(target)
                        fault_log.append(f"{round(now - started)} s: {where} {name}")
                    next_toggle = now + rng.uniform(10, 30)
                time.sleep(5)
            beacon.fault = el.fault = None
            # Settle: no more random activity; whatever is in flight lands on the CL within the withdrawal
            # flight window (and leaves the daemon's request window); then every pool must be reported.
            devnet.control("/devnet/v1/random_events/off")
            flight_slots = (WITHDRAWAL_DELAY_EPOCHS + 1) * SLOTS_PER_EPOCH + 1
            devnet.wait_slots(8)
            deadline = time.monotonic() + flight_slots * SLOT_SECONDS + 120
            mismatched: list[str] = []
            while time.monotonic() < deadline:
                mismatched = [p.address for p in devnet.pools
                              if devnet.total_deposits(p) != devnet.cl_balance(p) * GWEI]  # fmt: skip
                if not mismatched:
                    break
                time.sleep(2)
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
            lowered = troughs(devnet)
    finally:
        devnet.stop()
    result = {
        "cycles": cycles,
        "reports_landed": reports_landed,
        "samples": samples,
        "faults": fault_log,
        "unsettled_pools": mismatched,
        "share_price_drops": lowered,
        "minutes": round(samples[-1]["seconds"] / 60, 1),
    }
    out = ROOT / ".faults" / "soak.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    write_section(result)
    print(f"{cycles:.0f} cycles in {result['minutes']} min; unsettled pools: {mismatched or 'none'}; "
          f"reports that lowered a share price: {lowered or 'none'}")  # fmt: skip
    return 1 if mismatched or lowered else 0


def write_section(result: dict[str, object]) -> None:
    samples = result["samples"]
    assert isinstance(samples, list)
    step = max(1, len(samples) // 12)
    picked = samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])
    unsettled = result["unsettled_pools"] or "none"
    lowered = result["share_price_drops"] or "none"
    faults_seen = result["faults"]
    assert isinstance(faults_seen, list)
    lines = [
        f"{result['cycles']:.0f} cycles in {result['minutes']} min, {result['reports_landed']:.0f} reports landed, "
        f"{len(faults_seen)} faults switched on and off; "
        f"pools whose totalDeposits did not end equal to the proven balance: {unsettled}; "
        f"reports that lowered a pool's share price: {lowered}.",
        "",
        "| minute | cycles | RSS (MB) | open fds | journal and its WAL (KB) |",
        "|---|---|---|---|---|",
    ]
    for s in picked:
        lines.append(
            f"| {s['seconds'] / 60:.1f} | {s['cycles']:.0f} | {s['rss_mb']} | {s['fds']} | {s['journal_kb']} |"
        )
    lines += ["", "Faults: " + "; ".join(faults_seen)]
    target = ROOT / "RELIABILITY.md"
    text = target.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    target.write_text(text[:start] + "\n" + "\n".join(lines) + "\n" + text[end:])


if __name__ == "__main__":
    sys.exit(main())

"""`make demo`: the devnet and the daemon together, with a scripted story and random activity on top, and a
table of every pool (CL balance, on-chain totalDeposits, share price) as reports land."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path

from oracle.config.loading import load_settings
from oracle.devnet.anvil import DevnetError, free_port
from oracle.devnet.network import Devnet, DevnetConfig, format_banner
from oracle.execution.signer import load_signer
from oracle.service.daemon import run_daemon
from oracle.service.logs import configure

GWEI, ETHER = 10**9, 10**18


async def pool_table(devnet: Devnet) -> str:
    assert devnet.chain is not None
    lines = [
        f"  slot {devnet.chain.slot}",
        f"  {'pool':<44} {'CL balance':>14} {'totalDeposits':>14} {'share price':>12}",
    ]
    for pool in devnet.pools:
        contract = devnet.pool_contract(pool)
        deposits = await contract.functions.totalDeposits().call()
        price = await contract.functions.convertToAssets(ETHER).call()
        balance = int(devnet.chain.validators.balances[pool.validator_index])
        lines.append(
            f"  {pool.staking_pool:<44} {balance / GWEI:>14,.2f} {deposits / ETHER:>14,.2f} {price / ETHER:>12.6f}"
        )
    return "\n".join(lines)


async def story(devnet: Devnet, stop: asyncio.Event) -> None:
    """A top-up (a report must follow), a stake (held while in flight), a withdrawal, then the table."""
    assert devnet.chain is not None
    script = {
        4: ("operator top-up of 2 BERA straight to the deposit contract: a report will follow", "top_up", 0, 2),
        8: ("a user stakes 5 BERA through pool 1: booked at once, held until the CL credits it", "stake", 1, 5),
        30: ("a user asks the vault for 1 BERA back: held until the CL pays it out", "withdraw", 1, 1),
    }
    start = devnet.chain.slot
    while not stop.is_set():
        offset = devnet.chain.slot - start
        if offset in script:
            text, action, pool_index, amount = script.pop(offset)
            if pool_index < len(devnet.pools):
                pool = devnet.pools[pool_index]
                print(f"\n>>> {text}", flush=True)
                if action == "top_up":
                    await devnet.top_up(pool, amount * ETHER)
                elif action == "stake":
                    await devnet.stake(pool, amount * ETHER)
                else:
                    await devnet.request_withdrawal(pool, amount * GWEI)
        if offset % 10 == 0 and offset:
            print("\n" + await pool_table(devnet), flush=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1)


async def main(seconds: float, workdir: Path) -> None:
    devnet = Devnet(
        DevnetConfig(
            beacon_port=free_port(), rpc_port=free_port(), slot_seconds=1, slots_per_epoch=8,
            deposit_delay_slots=4, random_events=True,
        )
    )  # fmt: skip
    await devnet.start()
    stop = asyncio.Event()
    try:
        print(format_banner(devnet), flush=True)
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "devnet.yaml"
        devnet.write_config(config)
        settings = load_settings(
            config,
            environ={
                "POOL_ORACLE_REPORTING_INTERVAL_SECONDS": "3",
                "POOL_ORACLE_SERVICE_JOURNAL_PATH": str(workdir / "journal.sqlite"),
                "POOL_ORACLE_SERVICE_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
                "POOL_ORACLE_SERVICE_LOG_FORMAT": "console",
            },
        )
        configure("info", "console")
        print(
            f"\nThe daemon reports every 3 s; metrics at http://{settings.service.metrics_address}/metrics\n",
            flush=True,
        )
        tasks = [
            asyncio.create_task(devnet.run(stop)),
            asyncio.create_task(run_daemon(settings, load_signer(settings, config), stop)),
            asyncio.create_task(story(devnet, stop)),
        ]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks)
        print("\nFinal state:\n" + await pool_table(devnet), flush=True)
    finally:
        stop.set()
        await devnet.stop()


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=75, help="how long to run (default 75)")
    parser.add_argument("--workdir", default=".demo", help="where the config and journal go")
    args = parser.parse_args()
    started = time.time()
    try:
        asyncio.run(main(args.seconds, Path(args.workdir)))
    except DevnetError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(f"demo ran {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(cli())

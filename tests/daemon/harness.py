"""End-to-end harness: the devnet and the daemon as a user runs them (subprocesses), and the chain
checked through public interfaces only (JSON-RPC, Beacon API)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from web3 import Web3

from oracle.devnet.anvil import free_port
from oracle.devnet.compile import load_artifacts
from oracle.execution.el import abi

USER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
GOVERNANCE = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ETHER = 10**18
# Berachain's deposit contract takes no less than 10,000 BERA, and a pool sends buffered stake to the CL in
# chunks of at least that (MIN_CL_DEPOSIT_AMOUNT): the devnet's smallest top-up and CL-bound stake.
MIN_DEPOSIT = 10_000 * ETHER
GWEI = 10**9


def exe() -> list[str]:
    script = Path(sys.executable).parent / "pool-oracle"
    return [str(script)] if script.exists() else [sys.executable, "-m", "oracle.cli"]


@dataclass
class Pool:
    index: int
    pubkey: bytes
    address: str


class Devnet:
    """`pool-oracle devnet` in a subprocess, with helpers that act on it from outside."""

    def __init__(self, workdir: Path, *extra: str) -> None:
        self.workdir = workdir
        self.beacon_port, self.rpc_port = free_port(), free_port()
        self.config = workdir / "devnet.yaml"
        self.log = (workdir / "devnet.log").open("w")
        self.proc = subprocess.Popen(
            [*exe(), "devnet", "--beacon-port", str(self.beacon_port), "--rpc-port", str(self.rpc_port),
             "--slot-seconds", "1", "--no-random-events", "--write-config", str(self.config), *extra],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while "running" not in (workdir / "devnet.log").read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("devnet did not start:\n" + (workdir / "devnet.log").read_text())
            time.sleep(0.2)
        self.settings = yaml.safe_load(self.config.read_text())
        self.w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{self.rpc_port}"))
        artifacts = load_artifacts()["contracts"]
        self.factory = self.w3.eth.contract(
            address=self.settings["contracts"]["factory"], abi=artifacts["StakingPoolContractsFactory"]["abi"]
        )
        self.vault = self.w3.eth.contract(
            address=self.settings["contracts"]["withdrawal_vault"], abi=artifacts["WithdrawalVault"]["abi"]
        )
        self.deposit = self.w3.eth.contract(
            address=self.settings["contracts"]["beacon_deposit"], abi=artifacts["BeaconDeposit"]["abi"]
        )
        self.pool_abi = artifacts["StakingPool"]["abi"]
        self.pools = self._pools()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.log.close()

    def beacon(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.beacon_port}{path}", timeout=10) as response:
            return json.load(response)

    def control(self, path: str) -> Any:
        """POST to one of the devnet's own controls (/devnet/v1/...)."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.beacon_port}{path}", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def reorg_from_block(self, block: int) -> dict[str, Any]:
        """Replace the slot whose EL block is `block` and every slot after it (an Ethereum devnet started with
        --reorg-depth): that block and the later ones leave the chain, their transactions dropped."""
        genesis = int(self.beacon("/eth/v1/beacon/genesis")["data"]["genesis_time"])
        seconds = int(self.beacon("/eth/v1/config/spec")["data"]["SECONDS_PER_SLOT"])
        slot = (int(self.w3.eth.get_block(block)["timestamp"]) - genesis) // seconds
        for _ in range(3):  # head may move between reading it and the reorg: then go deeper
            result: dict[str, Any] = self.control(f"/devnet/v1/reorg/{self.head() - slot + 1}")
            if slot in result["forgotten_slots"] or slot > result["head_slot"]:
                return result
        raise AssertionError(f"slot {slot} (block {block}) was not replaced: {result}")

    def _pools(self) -> list[Pool]:
        out = []
        vault = self.settings["contracts"]["withdrawal_vault"].lower()[2:]
        for entry in self.beacon("/eth/v1/beacon/states/head/validators")["data"]:
            if entry["validator"]["withdrawal_credentials"].endswith(vault):
                pubkey = bytes.fromhex(entry["validator"]["pubkey"][2:])
                core = self.factory.functions.getCoreContracts(pubkey).call()
                out.append(Pool(int(entry["index"]), pubkey, core[1]))
        return out

    def pool(self, pool: Pool) -> Any:
        return self.w3.eth.contract(address=pool.address, abi=self.pool_abi)

    def total_deposits(self, pool: Pool) -> int:
        return int(self.pool(pool).functions.totalDeposits().call())

    def cl_balance(self, pool: Pool, state: str = "head") -> int:
        return int(self.beacon(f"/eth/v1/beacon/states/{state}/validators/{pool.index}")["data"]["balance"])

    def head(self) -> int:
        return int(self.beacon("/eth/v1/node/syncing")["data"]["head_slot"])

    def wait_slots(self, count: int) -> None:
        target = self.head() + count
        deadline = time.monotonic() + count * 3 + 10
        while self.head() < target:
            assert time.monotonic() < deadline, "the devnet stopped producing slots"
            time.sleep(0.3)

    def transact(self, call: Any, value: int = 0, sender: str = USER, gas: int = 600_000) -> str:
        tx = call.transact({"from": sender, "value": value, "gas": gas})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx, timeout=30)
        assert receipt["status"] == 1
        return tx.hex()

    def top_up(self, pool: Pool, amount: int) -> None:
        credentials = self.beacon(f"/eth/v1/beacon/states/head/validators/{pool.index}")["data"]["validator"]
        wc = bytes.fromhex(credentials["withdrawal_credentials"][2:])
        # The operator was named by the pool's first deposit: a later deposit passes address(0).
        operator = "0x" + "00" * 20
        self.transact(self.deposit.functions.deposit(pool.pubkey, wc, b"\x00" * 96, operator), value=amount)

    def stake(self, pool: Pool, amount: int) -> None:
        self.transact(self.pool(pool).functions.submit(USER), value=amount)

    def request_withdrawal(self, pool: Pool, gwei: int, sender: str = USER) -> None:
        self.transact(self.vault.functions.requestWithdrawal(pool.pubkey, gwei, 1), value=1, sender=sender)

    def reports(self, pool: Pool, from_block: int = 0) -> list[int]:
        """Every TotalDepositsUpdated value the pool emitted (the chain's record of reports)."""
        event = self.w3.eth.contract(address=pool.address, abi=abi("StakingPool")).events.TotalDepositsUpdated
        return [int(e["args"]["newTotalDeposits"]) for e in event.get_logs(from_block=from_block)]


def daemon_env(workdir: Path, name: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        POOL_ORACLE_SERVICE_JOURNAL_PATH=str(workdir / f"{name}.sqlite"),
        POOL_ORACLE_SERVICE_LOG_FORMAT="json",
        POOL_ORACLE_REPORTING_SEND_JITTER_MAX_SECONDS="0.5",
        POOL_ORACLE_TRANSACTIONS_RECEIPT_TIMEOUT_SECONDS="30",
        # The devnet's config turns every keeper duty on; the report tests watch reports alone (a duty's
        # transaction would take the nonce their assertions count). The keeper's tests switch it on.
        POOL_ORACLE_KEEPER_ENABLED="false",
    )
    env.update(extra)
    return env


def report(devnet: Devnet, env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*exe(), "report", "--once", "--yes", "--config", str(devnet.config), *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


def journal_rows(path: Path) -> list[tuple[Any, ...]]:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT pool, slot, balance_gwei, status, nonce, tx_hash FROM reports ORDER BY id").fetchall()
    finally:
        db.close()


def scrape(url: str) -> tuple[int, str]:
    """(HTTP status, body) of the daemon's metrics or health endpoints; (0, "") while it does not listen."""
    import urllib.error

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, ""

"""The fault matrix: the real daemon (`pool-oracle run`) on the devnet behind fault-injecting proxies, one
fault at a time. Each row: a report falls due during the fault; what the daemon sent (nothing unverified,
no duplicate), the log line and metric that name the fault, what /healthz and /readyz said, and how long
after the fault cleared the good report landed."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from oracle.devnet.anvil import free_port
from tests.daemon.harness import GOVERNANCE, GWEI, MIN_DEPOSIT, Devnet, Pool, daemon_env, exe, scrape
from tests.faults import proxy as faults
from tests.faults.proxy import Fault, FaultProxy

RESULTS = Path(os.environ.get("POOL_ORACLE_FAULT_RESULTS", ".faults/results.json"))


@dataclass(frozen=True)
class Case:
    name: str
    where: str  # "beacon", "el" (a proxy fault) or "chain" (an event on the devnet: on, tick each second, off)
    make: Callable[[FaultProxy], Fault] | None = None
    may_send: bool = False  # the report may land during the fault (failover, latency)
    must_send: bool = False  # the report must land during the fault (the daemon works around it)
    second_el: bool = False  # a healthy second EL endpoint behind the faulty one
    second_el_fault: Callable[[FaultProxy], Fault] | None = None  # the second endpoint's own fault, all row long
    metric: str = "pool_oracle_cycles_total"
    metric_labels: dict[str, str] = field(default_factory=dict)
    observe_seconds: float = 14.0
    on: Callable[[Devnet, Pool], None] | None = None
    tick: Callable[[Devnet, Pool], bool | None] | None = None  # True: the fault has happened, clear it now
    off: Callable[[Devnet, Pool], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    skewable_clock: bool = False  # run the daemon with a wall clock the case can move (on/off)
    on_process: Callable[[int], None] | None = None  # acts on the daemon's process (its pid) when the fault begins
    off_process: Callable[[int], None] | None = None
    layout: str = "beaconkit"  # or "ethereum": the row runs on an Ethereum-layout devnet (see test_matrix.py)
    top_up_wei: int = MIN_DEPOSIT  # what makes the report fall due (the network's minimum deposit or more)
    metric_after_recovery: bool = False  # the fault is an event ending it (a reorganisation): count until recovery
    metric_must_move: bool = False  # the fault must be seen (refused, counted), not merely survived


# The daemon's wall clock, movable: time.time() plus the seconds in SKEW_FILE (monotonic time is untouched, as
# when an operator's host clock is wrong).
SKEW_FILE = Path(tempfile.gettempdir()) / f"pool-oracle-clock-skew-{os.getpid()}"
SKEWED_DAEMON = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "wall, skew = time.time, Path(sys.argv.pop(1))\n"
    "time.time = lambda: wall() + float(skew.read_text() or 0)\n"
    "from oracle.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


SECOND_KEY = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"  # anvil development key 4
SECOND_ADDRESS = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"


def second_reporter_role(devnet: Devnet, pool: Pool) -> None:
    oracle = oracle_contract(devnet)
    devnet.transact(oracle.functions.grantRole(oracle.functions.FEEDER_ROLE().call(), SECOND_ADDRESS),
                    sender=GOVERNANCE)  # fmt: skip


def second_reporter_lands(devnet: Devnet, pool: Pool) -> None:
    """Another reporter (its own key and journal, straight to the nodes) reports as soon as the report is due."""
    if devnet.total_deposits(pool) == devnet.cl_balance(pool) * GWEI:
        return
    workdir = Path(tempfile.mkdtemp(prefix="second-reporter-"))
    key_file = workdir / "second.key"
    key_file.write_text(SECOND_KEY + "\n")
    key_file.chmod(0o600)
    env = daemon_env(workdir, "second", POOL_ORACLE_SIGNER_KEY_FILE=str(key_file))
    subprocess.run([*exe(), "report", "--once", "--yes", "--config", str(devnet.config)], capture_output=True,
                   timeout=60, env=env)  # fmt: skip


def copy_lines(source: Any, target: Any) -> None:
    for line in iter(source.readline, b""):
        target.write(line.decode(errors="replace"))
        target.flush()


def disk_full(pid: int) -> None:
    """Every write the daemon makes to its files fails (RLIMIT_FSIZE of one byte: EFBIG, as a full disk fails
    them with ENOSPC); its log goes through a pipe, as a container's does."""
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))


def disk_freed(pid: int) -> None:
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def journal_files(pid: int) -> list[Path]:
    """The daemon's journal folder, database and write-ahead log, from its environment. The -shm index is
    left alone: SQLite maps it into memory, and writing to a mapping of an immutable file is a SIGBUS."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    variables = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    path = Path(variables["POOL_ORACLE_SERVICE_JOURNAL_PATH"])
    return [p for p in (path.parent, path, path.with_name(path.name + "-wal")) if p.exists()]


def journal_read_only(pid: int) -> None:
    """The journal's volume turned read-only under the running daemon (a remount after I/O errors, a full
    thin pool): its folder and files made immutable (chattr +i), so that every write and every new file fails.
    Permissions would not do: the daemon holds the files open, and they are checked only at open."""
    import pytest

    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("making files the daemon holds open unwritable needs root and chattr")
    subprocess.run(["chattr", "+i", *map(str, journal_files(pid))], check=True, capture_output=True)


def journal_writable(pid: int) -> None:
    subprocess.run(["chattr", "-i", *map(str, journal_files(pid))], check=True, capture_output=True)


def reorganise_the_report(devnet: Devnet, pool: Pool) -> bool:
    """As soon as the pool's report lands, a reorganisation takes its block away, with the blocks after it (an
    Ethereum-layout devnet with --reorg-depth): their transactions are dropped. True once done."""
    from oracle.execution.el import abi

    event = devnet.w3.eth.contract(address=pool.address, abi=abi("StakingPool")).events.TotalDepositsUpdated
    latest = devnet.w3.eth.block_number
    logs = event.get_logs(from_block=max(0, latest - 6))
    # Three blocks on: the daemon has seen the receipt and journalled the report as landed (taken away
    # sooner, the report is merely unmined to it, and replaced as a stuck transaction).
    if not logs or latest - int(logs[-1]["blockNumber"]) < 3:
        return False
    devnet.reorg_from_block(int(logs[-1]["blockNumber"]))
    return True


def skew_clock(seconds: int) -> Callable[[Devnet, Pool], None]:
    return lambda devnet, pool: SKEW_FILE.write_text(str(seconds))


@dataclass
class Row:
    name: str
    sent_during_fault: int
    landed: list[int]
    proven_gwei: int
    unverified: int
    duplicates: int
    log_line: str
    metric: str
    healthz: list[int]
    readyz: list[int]
    recovery_seconds: float | None
    peak_rss_mb: float | None = None


def metric_sum(body: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def first_complaint(stderr: str, since: float) -> str:
    """The first warning or error the daemon logged after the fault began: event and error, short."""
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("level") in ("warning", "error") and _ts(event) >= since:
            keys = ("error", "problems", "reasons", "reason")
            detail = next((str(event[key]) for key in keys if event.get(key)), None)
            if detail is None:  # no error field: the event's own fields say it
                skip = ("event", "level", "timestamp", "pool", "slot")
                detail = ", ".join(f"{key}={value}" for key, value in event.items() if key not in skip)
            return f"{event.get('event')}: {detail}"[:150]
    return "(none)"


def _ts(event: dict[str, Any]) -> float:
    from datetime import datetime

    stamp = event.get("timestamp")
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def run_case(devnet: Devnet, pool: Pool, case: Case, workdir: Path) -> Row:
    with (FaultProxy(devnet_beacon(devnet)) as beacon, FaultProxy(devnet_rpc(devnet)) as el,
          FaultProxy(devnet_rpc(devnet)) as second):  # fmt: skip
        port = free_port()
        if case.second_el_fault is not None:
            second.fault = case.second_el_fault(second)
        second_url = devnet_rpc(devnet) if case.second_el_fault is None else second.url
        endpoints = el.url + ("," + second_url if case.second_el else "")
        env = daemon_env(
            workdir, case.name,
            POOL_ORACLE_BEACON_ENDPOINTS=beacon.url, POOL_ORACLE_EXECUTION_ENDPOINTS=endpoints,
            POOL_ORACLE_SERVICE_METRICS_ADDRESS=f"127.0.0.1:{port}", POOL_ORACLE_REPORTING_INTERVAL_SECONDS="1",
            POOL_ORACLE_REPORTING_CYCLE_TIMEOUT_SECONDS="30", POOL_ORACLE_TRANSACTIONS_RECEIPT_TIMEOUT_SECONDS="8",
            POOL_ORACLE_TRANSACTIONS_REPLACE_AFTER_SECONDS="4", POOL_ORACLE_ENDPOINTS_REQUEST_TIMEOUT_SECONDS="3",
            POOL_ORACLE_ENDPOINTS_RETRY_BUDGET_SECONDS="4", POOL_ORACLE_SERVICE_WATCHDOG_SECONDS="60", **case.env,
        )  # fmt: skip
        log_path = workdir / f"{case.name}.log"
        command = [*exe(), "run", "--config", str(devnet.config)]
        if case.skewable_clock:
            SKEW_FILE.write_text("0")
            command = [sys.executable, "-c", SKEWED_DAEMON, str(SKEW_FILE), "run", "--config", str(devnet.config)]
        log = log_path.open("w")
        if case.on_process is None:
            daemon = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=env)
        else:  # its log through a pipe, copied here: a fault on its files must not reach its log
            daemon = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
            threading.Thread(target=copy_lines, args=(daemon.stderr, log), daemon=True).start()
        process_fault_on = False
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while metric_sum(scrape(base + "/metrics")[1], "pool_oracle_cycles_total", result="ok") < 1:
                assert daemon.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, (
                    "the daemon never completed a cycle:\n" + log_path.read_text()[-3000:]
                )
                time.sleep(0.5)
            _, before = scrape(base + "/metrics")
            start_block = devnet.w3.eth.block_number
            target = beacon if case.where == "beacon" else el
            if case.make is not None:
                target.fault = case.make(target)
            if case.on is not None:
                case.on(devnet, pool)
            if case.on_process is not None:
                case.on_process(daemon.pid)
                process_fault_on = True
            fault_began = time.time()
            devnet.top_up(pool, case.top_up_wei)  # a report falls due once the CL credits it
            healthz, readyz = [], []
            until = time.monotonic() + case.observe_seconds
            while time.monotonic() < until:
                if case.tick is not None and case.tick(devnet, pool):
                    break
                healthz.append(scrape(base + "/healthz")[0])
                readyz.append(scrape(base + "/readyz")[0])
                time.sleep(1)
            _, during = scrape(base + "/metrics")
            sent_during = len(devnet.reports(pool, from_block=start_block))
            target.fault = None
            if case.off is not None:
                case.off(devnet, pool)
            if case.off_process is not None:
                case.off_process(daemon.pid)
                process_fault_on = False
            cleared = time.monotonic()
            proven = devnet.cl_balance(pool)
            recovery = None
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                if devnet.total_deposits(pool) == devnet.cl_balance(pool) * GWEI:
                    recovery = round(time.monotonic() - cleared, 1)
                    break
                time.sleep(0.5)
            if case.metric_after_recovery:
                _, during = scrape(base + "/metrics")
            landed = devnet.reports(pool, from_block=start_block)
            peak = rss_mb(daemon.pid)
        finally:
            if process_fault_on and case.off_process is not None:  # a row that failed midway leaves no trace
                case.off_process(daemon.pid)
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=40)
            except subprocess.TimeoutExpired:
                daemon.kill()
            time.sleep(0.2)
            log.close()
        stderr = log_path.read_text()
        delta = metric_sum(during, case.metric, **case.metric_labels) - metric_sum(
            before, case.metric, **case.metric_labels
        )
        labels = ",".join(f'{k}="{v}"' for k, v in case.metric_labels.items())
        return Row(
            name=case.name,
            sent_during_fault=sent_during,
            landed=landed,
            proven_gwei=proven,
            unverified=sum(1 for value in landed if value != proven * GWEI),
            duplicates=max(0, len(landed) - 1),
            log_line=first_complaint(stderr, fault_began),
            metric=f"{case.metric}{{{labels}}} +{delta:g}",
            healthz=sorted(set(healthz)),
            readyz=sorted(set(readyz)),
            recovery_seconds=recovery,
            peak_rss_mb=round(peak, 1) if peak else None,
        )


def devnet_beacon(devnet: Devnet) -> str:
    return f"http://127.0.0.1:{devnet.beacon_port}"


def devnet_rpc(devnet: Devnet) -> str:
    return f"http://127.0.0.1:{devnet.rpc_port}"


def record(row: Row) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    rows[row.name] = asdict(row)
    RESULTS.write_text(json.dumps(rows, indent=1))


def lie_about_balances(path: str, doc: Any) -> Any:
    """A beacon node whose state and proofs inflate every balance by 1 BERA: consistent everywhere except
    against the EIP-4788 root."""
    if path.startswith("/eth/v2/debug/beacon/states/"):
        doc["data"]["balances"] = [b + 10**9 for b in doc["data"]["balances"]]
    if path.startswith("/bkit/v1/proof/validator_balance/"):
        doc["validator_balance"] = hex(int(doc["validator_balance"], 16) + 10**9)
    return doc


def another_network(path: str, doc: Any) -> Any:
    if path == "/eth/v1/beacon/genesis":
        doc["data"]["genesis_validators_root"] = "0x" + "ab" * 32
    return doc


def signer(devnet: Devnet) -> str:
    from eth_account import Account

    key_file = Path(devnet.settings["signer"]["key_file"])
    return str(Account.from_key(key_file.read_text().strip()).address)


def rpc(devnet: Devnet, method: str, *params: Any) -> None:
    devnet.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]


def oracle_contract(devnet: Devnet) -> Any:
    from oracle.execution.el import abi

    address = devnet.factory.functions.accountingOracle().call()
    return devnet.w3.eth.contract(address=address, abi=abi("AccountingOracle") + ROLE_ADMIN_ABI)


ROLE_ADMIN_ABI = [
    {"type": "function", "name": name, "stateMutability": "nonpayable", "outputs": [],
     "inputs": [{"name": "role", "type": "bytes32"}, {"name": "account", "type": "address"}]}
    for name in ("grantRole", "revokeRole")
]  # fmt: skip


def set_role(granted: bool) -> Callable[[Devnet, Pool], None]:
    def act(devnet: Devnet, pool: Pool) -> None:
        oracle = oracle_contract(devnet)
        role = oracle.functions.FEEDER_ROLE().call()
        call = oracle.functions.grantRole if granted else oracle.functions.revokeRole
        devnet.transact(call(role, signer(devnet)), sender=GOVERNANCE)

    return act


def consume_nonce(devnet: Devnet, pool: Pool) -> None:
    """Someone else using the signer's key (a script, a second tool): a self-transfer at the next nonce,
    paying more than the daemon would, whenever the key has nothing pending."""
    from eth_account import Account

    key = Path(devnet.settings["signer"]["key_file"]).read_text().strip()
    address = Account.from_key(key).address
    pending = devnet.w3.eth.get_transaction_count(address, "pending")
    if pending != devnet.w3.eth.get_transaction_count(address, "latest"):
        return
    tx = {"type": 2, "chainId": devnet.w3.eth.chain_id, "to": address, "value": 0, "gas": 21_000, "nonce": pending,
          "maxFeePerGas": 200 * 10**9, "maxPriorityFeePerGas": 100 * 10**9}  # fmt: skip
    devnet.w3.eth.send_raw_transaction(Account.sign_transaction(tx, key).raw_transaction)


def set_balance(wei: int) -> Callable[[Devnet, Pool], None]:
    return lambda devnet, pool: rpc(devnet, "anvil_setBalance", signer(devnet), hex(wei))


def base_fee(gwei: int) -> Callable[[Devnet, Pool], None]:
    return lambda devnet, pool: rpc(devnet, "anvil_setNextBlockBaseFeePerGas", hex(gwei * 10**9))


def set_paused(paused: bool) -> Callable[[Devnet, Pool], None]:
    """The pool's owner pauses (or unpauses) it: impersonated on anvil."""

    def act(devnet: Devnet, pool: Pool) -> None:
        contract = devnet.pool(pool)
        owner = contract.functions.owner().call()
        rpc(devnet, "anvil_impersonateAccount", owner)
        rpc(devnet, "anvil_setBalance", owner, hex(10**20))
        devnet.transact(contract.functions.pause() if paused else contract.functions.unpause(), sender=owner)

    return act


def older_latest(seconds: int) -> Callable[[Any], Any]:
    """eth_getBlockByNumber answered with its timestamp `seconds` older: an EL endpoint far behind."""

    def change(block: Any) -> Any:
        if isinstance(block, dict) and "timestamp" in block:
            block["timestamp"] = hex(int(block["timestamp"], 16) - seconds)
        return block

    return change


def set_balance_gindex(shift: int) -> Callable[[Devnet, Pool], None]:
    """The factory's owner moves zeroValidatorBalanceGIndex (as after a fork), or moves it back."""

    def act(devnet: Devnet, pool: Pool) -> None:
        current = devnet.factory.functions.zeroValidatorBalanceGIndex().call()
        devnet.transact(devnet.factory.functions.setZeroValidatorBalanceGIndex(current + shift), sender=GOVERNANCE)

    return act


def set_min_effective_balance(above_books: bool) -> Callable[[Devnet, Pool], None]:
    """The pool's owner raises minEffectiveBalance above what a report would book, or sets it back."""

    def act(devnet: Devnet, pool: Pool) -> None:
        value = devnet.total_deposits(pool) + 3 * MIN_DEPOSIT if above_books else 250_000 * 10**18
        devnet.transact(devnet.pool(pool).functions.setMinEffectiveBalance(value), sender=GOVERNANCE)

    return act


JUNK_SENDERS: dict[str, threading.Event] = {}  # pool address -> the stop of its junk sender


def junk_in_mempool(on: bool) -> Callable[[Devnet, Pool], None]:
    """Anyone's junk transaction to the oracle with the pool's pubkey in its input (no function's call), from an
    account holding no role, paying no priority fee, kept pending all along: each time a block takes one (anvil
    takes a zero-tip transaction), the next is sent within 50 ms."""

    def act(devnet: Devnet, pool: Pool) -> None:
        if not on:
            JUNK_SENDERS.pop(pool.address).set()
            return
        stop = JUNK_SENDERS[pool.address] = threading.Event()
        threading.Thread(target=send_junk, args=(devnet, pool, stop), daemon=True).start()

    return act


def send_junk(devnet: Devnet, pool: Pool, stop: threading.Event) -> None:
    from eth_account import Account
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(devnet_rpc(devnet)))  # its own connection: this runs beside the row's thread
    account = Account.create()
    w3.provider.make_request("anvil_setBalance", [account.address, hex(10**21)])  # type: ignore[arg-type]
    data = "0x5578e99d" + "00" * 60 + pool.pubkey.hex()
    oracle, chain_id = oracle_contract(devnet).address, w3.eth.chain_id
    while not stop.is_set():
        try:
            nonce = w3.eth.get_transaction_count(account.address, "pending")
            if nonce == w3.eth.get_transaction_count(account.address, "latest"):
                base = int(w3.eth.fee_history(1, "latest", [])["baseFeePerGas"][-1])
                tx = {"type": 2, "chainId": chain_id, "to": oracle, "value": 0, "gas": 100_000, "nonce": nonce,
                      "data": data, "maxFeePerGas": max(2 * base, 1), "maxPriorityFeePerGas": 0}  # fmt: skip
                w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        except Exception:  # a refused or raced one: the next round sends again
            pass
        stop.wait(0.05)


class StaleAtCeiling:
    """A stale report at the fee ceiling (15 gwei). The base fee is held at 10 gwei, so that the report (2 x base +
    tip) is signed at the ceiling itself. The EL proxy keeps the report pending as a geth node's mempool does
    (anvil would mine it at once, and drops what its base fee outgrows): held, not mined, and replaced only by a
    transaction at its nonce that raises both fee fields by 10 % (else "replacement transaction underpriced"); a
    replacing cancellation is passed on to the node and mined. While the report is held a stake lands in the pool
    (its grounds move). The fault ends once the signer's nonce is taken; then the proxy passes on whatever it
    still holds, as a mempool would once the block has room: a stale report still pending lands then."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.held: dict[str, Any] | None = None  # the pending report: raw, hash, nonce, fees
        self.staked = False
        self.stop = threading.Event()
        self.holder: threading.Thread | None = None

    def fault(self, proxy: FaultProxy) -> Fault:
        async def mempool(request: Any, body: bytes) -> Any:
            from aiohttp import web
            from eth_account.typed_transactions.typed_transaction import TypedTransaction
            from eth_utils.crypto import keccak
            from hexbytes import HexBytes

            call = json.loads(body)
            raw = call["params"][0]
            tx = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
            tx_hash = "0x" + keccak(HexBytes(raw)).hex()
            held = self.held
            if held is None and not bytes(tx["data"]):
                return None  # no report held: a transfer goes on to the node
            if held is not None and held["hash"] == tx_hash:
                return web.json_response({"jsonrpc": "2.0", "id": call["id"],
                                          "error": {"code": -32000, "message": "already known"}})  # fmt: skip
            if held is not None and int(tx["nonce"]) == held["nonce"]:
                if tx["maxFeePerGas"] * 10 < held["max_fee"] * 11 or tx["maxPriorityFeePerGas"] * 10 < held["tip"] * 11:
                    error = {"code": -32000, "message": "replacement transaction underpriced"}
                    return web.json_response({"jsonrpc": "2.0", "id": call["id"], "error": error})
                if not bytes(tx["data"]):  # a cancellation replaces the report: the node gets it, and mines it
                    self.held = None
                    return None
            self.held = {"raw": raw, "hash": tx_hash, "nonce": int(tx["nonce"]), "max_fee": tx["maxFeePerGas"],
                         "tip": tx["maxPriorityFeePerGas"]}  # fmt: skip
            return web.json_response({"jsonrpc": "2.0", "id": call["id"], "result": tx_hash})

        return faults.rpc_methods({"eth_sendRawTransaction": mempool})

    def hold_base_fee(self, url: str) -> None:
        """Each block's base fee set ahead of it (anvil_setNextBlockBaseFeePerGas lasts one block)."""
        from web3 import Web3

        w3 = Web3(Web3.HTTPProvider(url))  # its own connection: this runs beside the row's thread
        while not self.stop.is_set():
            w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(10 * GWEI)])  # type: ignore[arg-type]
            self.stop.wait(0.05)

    def on(self, devnet: Devnet, pool: Pool) -> None:
        self.reset()
        self.holder = threading.Thread(target=self.hold_base_fee, args=(devnet_rpc(devnet),), daemon=True)
        self.holder.start()

    def tick(self, devnet: Devnet, pool: Pool) -> bool:
        held = self.held
        if held is None:
            return self.staked  # the cancellation took the report's place (or nothing was held yet)
        if not self.staked:
            devnet.stake(pool, MIN_DEPOSIT)  # booked at once: the pool's shares and totalDeposits move
            self.staked = True
        return False

    def off(self, devnet: Devnet, pool: Pool) -> None:
        self.stop.set()
        if self.holder is not None:
            self.holder.join(5)
        rpc(devnet, "anvil_setNextBlockBaseFeePerGas", hex(GWEI))
        held, self.held = self.held, None
        if held is not None:
            devnet.w3.eth.send_raw_transaction(held["raw"])


STALE_AT_CEILING = StaleAtCeiling()


CASES = [
    Case("beacon: 0.5 s latency on every answer", "beacon", lambda p: faults.latency(0.5), may_send=True,
         metric="pool_oracle_cycles_total", metric_labels={"result": "ok"}),
    Case("beacon: hangs past every timeout", "beacon", lambda p: faults.hang(),
         metric="pool_oracle_cycles_total", metric_labels={"result": "error"}, observe_seconds=20),
    Case("beacon: connections reset", "beacon", lambda p: faults.reset(),
         metric="pool_oracle_cycles_total", metric_labels={"result": "error"}),
    Case("beacon: 503 burst", "beacon", lambda p: faults.status(503),
         metric="pool_oracle_cycles_total", metric_labels={"result": "error"}),
    Case("beacon: truncated bodies", "beacon", lambda p: faults.truncated(p),
         metric="pool_oracle_cycles_total", metric_labels={"result": "error"}),
    Case("beacon: 300 MB answers", "beacon", lambda p: faults.oversized(300),
         metric="pool_oracle_cycles_total", metric_labels={"result": "error"}),
    Case("beacon: malformed JSON", "beacon", lambda p: faults.malformed(),
         metric="pool_oracle_cycles_total", metric_labels={"result": "error"}),
    Case("beacon: valid JSON of the wrong shape", "beacon", lambda p: faults.wrong_shape(),
         metric="pool_oracle_cycles_total", metric_labels={"result": "error"}),
    Case("beacon: lies about balances (state and proofs)", "beacon", lambda p: faults.tamper(p, lie_about_balances),
         metric="pool_oracle_proof_verification_failures_total"),
    Case("beacon: a node of another network", "beacon", lambda p: faults.tamper(p, another_network),
         metric="pool_oracle_cycles_total", metric_labels={"result": "error"}),
    Case("beacon: the head stops moving (the node says it is in sync)", "beacon", lambda p: faults.frozen_head(p),
         metric="pool_oracle_cycles_total", metric_labels={"result": "error"}),
    Case("beacon: the state of another slot", "beacon", lambda p: faults.state_of_another_slot(p),
         metric="pool_oracle_proof_verification_failures_total", metric_labels={"kind": "state"}),
    Case("EL: 429 burst, healthy second endpoint", "el", lambda p: faults.status(429), may_send=True,
         second_el=True, metric="pool_oracle_el_request_errors_total"),
    Case("EL: 502 burst, single endpoint", "el", lambda p: faults.status(502),
         metric="pool_oracle_cycles_total", metric_labels={"result": "error"}),
    Case("EL: eth_sendRawTransaction refused", "el",
         lambda p: faults.rpc_methods({"eth_sendRawTransaction": faults.rpc_error("internal error")}),
         metric="pool_oracle_transactions_total", metric_labels={"outcome": "failed"}),
    Case("EL: eth_sendRawTransaction accepted, never mined", "el",
         lambda p: faults.rpc_methods({"eth_sendRawTransaction": faults.swallow_transactions()}),
         metric="pool_oracle_transactions_total", metric_labels={"outcome": "timeout"}, observe_seconds=20),
    Case("EL: eth_getLogs refused over wide ranges", "el", lambda p: faults.wide_get_logs_fail(100), may_send=True,
         must_send=True, observe_seconds=45, metric="pool_oracle_el_request_errors_total",
         metric_labels={"reason": "range_refused"}),
    Case("EL: an endpoint of another chain", "el",
         lambda p: faults.rpc_rewrite(p, "eth_chainId", lambda _: "0x1"),
         metric="pool_oracle_cycles_total", metric_labels={"result": "error"}),
    Case("EL: an endpoint far behind (latest block 10 min old)", "el",
         lambda p: faults.rpc_rewrite(p, "eth_getBlockByNumber", older_latest(600)),
         metric="pool_oracle_cycles_total", metric_labels={"result": "error"}),
    Case("chain: the factory's balance gindex moved, then moved back", "chain", on=set_balance_gindex(1),
         off=set_balance_gindex(-1), metric="pool_oracle_contract_mismatch", metric_labels={"what": "gindex"}),
    # The audited report has no minimum rule (May 2026 audit I-2): a true report below the minimum lands.
    Case("chain: minEffectiveBalance raised above the report, then lowered", "chain",
         on=set_min_effective_balance(True), off=set_min_effective_balance(False), may_send=True, must_send=True,
         metric="pool_oracle_reports_total", metric_labels={"outcome": "landed"}),
    Case("chain: FEEDER_ROLE revoked, then granted again", "chain", on=set_role(False), off=set_role(True),
         metric="pool_oracle_reports_total", metric_labels={"outcome": "audit_drift"}),
    Case("chain: the signer's balance runs out, then is topped up", "chain", on=set_balance(0),
         off=set_balance(10**21), metric="pool_oracle_reports_total", metric_labels={"outcome": "failed"}),
    Case("chain: the pool paused by its owner, then unpaused", "chain", on=set_paused(True), off=set_paused(False),
         metric="pool_oracle_pools", metric_labels={"state": "paused"}),
    Case("chain: the signer's nonces taken by another sender of the same key", "chain", tick=consume_nonce,
         may_send=True, metric="pool_oracle_transactions_total", metric_labels={"outcome": "superseded"}),
    Case("host: the clock 5 min ahead, then right", "chain", on=skew_clock(300), off=skew_clock(0),
         skewable_clock=True, metric="pool_oracle_cycles_total", metric_labels={"result": "error"}),
    Case("host: the clock 5 min behind, then right", "chain", on=skew_clock(-300), off=skew_clock(0),
         skewable_clock=True, may_send=True, metric="pool_oracle_reports_total", metric_labels={"outcome": "landed"}),
    Case("host: the journal's volume read-only, then writable", "chain", on_process=journal_read_only,
         off_process=journal_writable, metric="pool_oracle_journal_errors_total"),
    Case("host: the journal's disk full, then freed", "chain", on_process=disk_full, off_process=disk_freed,
         metric="pool_oracle_journal_errors_total"),
    Case("chain: another reporter lands the report first, ours unmined", "el",
         lambda p: faults.rpc_methods({"eth_sendRawTransaction": faults.swallow_transactions()}),
         on=second_reporter_role, tick=second_reporter_lands, may_send=True, observe_seconds=20,
         metric="pool_oracle_transactions_total", metric_labels={"outcome": "cancel_sent"}),
    Case("chain (Ethereum layout): a reorganisation takes away the block holding the report", "chain",
         tick=reorganise_the_report, layout="ethereum", top_up_wei=10**18, observe_seconds=45,
         metric_after_recovery=True, metric="pool_oracle_transactions_total", metric_labels={"outcome": "reorged"}),
    Case("chain: base fee spikes over the fee ceiling, then falls", "chain", tick=base_fee(100), off=base_fee(1),
         env={"POOL_ORACLE_TRANSACTIONS_MAX_FEE_GWEI": "20"},
         metric="pool_oracle_transactions_total", metric_labels={"outcome": "fee_ceiling"}),
    # The first endpoint fails eth_getLogs; the second is 20 blocks behind and would answer up to its own head
    # without an error: no report is decided on its answers, the good one lands once the first is back.
    Case("EL: a lagging second endpoint (20 blocks behind) answers the getLogs the first fails", "el",
         lambda p: faults.rpc_methods({"eth_getLogs": faults.status(503)}), second_el=True,
         second_el_fault=lambda p: faults.lagging(p, 20),
         metric="pool_oracle_el_request_errors_total", metric_labels={"reason": "behind"}),
    Case("EL: a provider that caps log ranges at 10 blocks (Alchemy's words)", "el",
         lambda p: faults.wide_get_logs_fail(9, -32602, "Log response size exceeded. You can make eth_getLogs "
                                             "requests with up to a 10 block range."),
         may_send=True, must_send=True, observe_seconds=45, metric="pool_oracle_el_request_errors_total",
         metric_labels={"reason": "range_refused"}),
    # Anyone can send it for free: the report must not wait for it (only another reporter's priced report counts).
    Case("chain: a junk pending transaction to the oracle (no role, no tip, the pubkey in its input)", "chain",
         on=junk_in_mempool(True), off=junk_in_mempool(False), may_send=True, must_send=True, observe_seconds=20,
         metric="pool_oracle_reports_total", metric_labels={"outcome": "landed"}),
    # beacon-kit's JSON state past endpoints.max_json_state_megabytes (64): refused as it arrives, never decoded.
    Case("beacon: an oversized JSON state (80 MB, over its 64 MiB cap)", "beacon",
         lambda p: faults.oversized_state(p, 80), metric="pool_oracle_cycles_total", metric_labels={"result": "error"},
         metric_must_move=True),
    # The promise: the stale report never lands (nothing during the fault, one report after), its cancellation does.
    Case("chain: a stale report at the fee ceiling (a stake lands while it is pending)", "el", STALE_AT_CEILING.fault,
         on=STALE_AT_CEILING.on, tick=STALE_AT_CEILING.tick, off=STALE_AT_CEILING.off, observe_seconds=30,
         env={"POOL_ORACLE_TRANSACTIONS_MAX_FEE_GWEI": "15"}, metric_after_recovery=True,
         metric="pool_oracle_transactions_total", metric_labels={"outcome": "cancelled"}),
]  # fmt: skip
SHORT = ("beacon: hangs past every timeout", "EL: 429 burst, healthy second endpoint",
         "EL: eth_sendRawTransaction accepted, never mined")  # fmt: skip

"""The keeper on the devnet, with the real daemon (`pool-oracle run`) and its one-shot commands: activation
with proofs of its own while the node serves no /bkit/v1/proof, a staker's withdrawal finalized once due and
paid, processRewards when due and not before, and kill -9 at each step of a duty leaving no duplicate."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import time
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from tests.daemon.harness import ETHER, GOVERNANCE, GWEI, MIN_DEPOSIT, USER, Devnet, Pool, daemon_env, exe

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FINALIZATION_DELAY = 12  # blocks (Berachain: 129,600); more than the 9 in which the CL pays the vault
KEEPER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # the devnet's feeder key: reports and keeps
# anvil's development key 5: no FEEDER_ROLE, gas only: an operator who keeps and cannot report
KEEP_ONLY_KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"
KEEP_ONLY = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    net = Devnet(
        tmp_path_factory.mktemp("keeper"), "--validators", "5", "--pools", "3", "--no-proof-api",
        "--slots-per-epoch", "4", "--deposit-delay-slots", "3", "--withdrawal-delay-epochs", "1",
        "--finalization-delay-blocks", str(FINALIZATION_DELAY),
    )  # fmt: skip
    yield net
    net.stop()


def keeper_env(tmp_path: Path, name: str, **extra: str) -> dict[str, str]:
    return daemon_env(tmp_path, name, POOL_ORACLE_KEEPER_ENABLED="true", POOL_ORACLE_REPORTING_INTERVAL_SECONDS="2",
                      **extra)  # fmt: skip


@contextlib.contextmanager
def daemon(devnet: Devnet, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("w") as out:
        proc = subprocess.Popen([*exe(), "run", "--config", str(devnet.config)], stdout=out, stderr=subprocess.STDOUT,
                                env=env)  # fmt: skip
        try:
            yield proc
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def wait_until(check: Callable[[], Any], seconds: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(what + ("\n" + log.read_text()[-4000:] if log else ""))
        time.sleep(0.5)


def one_shot(devnet: Devnet, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*exe(), *args, "--config", str(devnet.config)], capture_output=True, text=True,
                          timeout=120, env=env)  # fmt: skip


def register(devnet: Devnet, seed: str) -> bytes:
    """install-helpers/register.sh: deployStakingPoolContracts with the first deposit."""
    pubkey = keccak(text=seed) + keccak(text=seed + "-2")[:16]
    credentials = b"\x01" + b"\x00" * 11 + bytes.fromhex(devnet.settings["contracts"]["withdrawal_vault"][2:])
    call = devnet.factory.functions.deployStakingPoolContracts(pubkey, credentials, b"\x00" * 96, GOVERNANCE,
                                                              GOVERNANCE)  # fmt: skip
    devnet.transact(call, value=MIN_DEPOSIT, sender=GOVERNANCE, gas=8_000_000)
    return pubkey


def on_cl(devnet: Devnet, pubkey: bytes) -> int | None:
    for entry in devnet.beacon("/eth/v1/beacon/states/head/validators")["data"]:
        if entry["validator"]["pubkey"] == "0x" + pubkey.hex():
            return int(entry["index"])
    return None


def actions(journal: Path) -> list[tuple[str, str, str | None]]:
    db = sqlite3.connect(journal)
    try:
        return db.execute("SELECT duty, status, tx_hash FROM actions ORDER BY id").fetchall()
    finally:
        db.close()


def keeper_transactions(devnet: Devnet, since: int, to: str, function: str | None = None,
                        sender: str = KEEPER) -> list[str]:  # fmt: skip
    """Hashes of the keeper key's mined transactions to `to` after block `since` (calling `function`, a
    signature, if given)."""
    selector = keccak(text=function)[:4] if function else b""
    out = []
    for number in range(since + 1, devnet.w3.eth.block_number + 1):
        for tx in devnet.w3.eth.get_block(number, full_transactions=True)["transactions"]:
            mine = tx["from"] == sender and tx["to"] and tx["to"].lower() == to.lower()
            if mine and bytes(tx["input"]).startswith(selector):
                out.append(tx["hash"].hex())
    return out


def test_the_daemon_activates_a_registered_pool_with_proofs_of_its_own(devnet: Devnet, tmp_path: Path) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:  # the node serves no proofs: the engine's alone
        devnet.beacon("/bkit/v1/proof/validator_balance/head/0")
    assert refused.value.code == 404
    pubkey = register(devnet, "keeper-activation")
    core = devnet.factory.functions.getCoreContracts(pubkey).call()
    pool = devnet.w3.eth.contract(address=core[1], abi=devnet.pool_abi)
    assert not pool.functions.isActive().call()
    env = keeper_env(tmp_path, "activation")
    before = devnet.w3.eth.block_number
    log = tmp_path / "daemon.log"
    with daemon(devnet, env, log):
        wait_until(lambda: pool.functions.isActive().call(), 90, "the keeper never activated the pool", log)
    assert pool.functions.totalDeposits().call() == MIN_DEPOSIT  # the proven first deposit, booked
    assert len(keeper_transactions(devnet, before, devnet.settings["contracts"]["factory"])) == 1
    assert ("activation", "mined") in [(d, s) for d, s, _ in actions(tmp_path / "activation.sqlite")]
    assert "duty done" in log.read_text()


def test_activate_command_says_why_it_cannot_yet(devnet: Devnet, tmp_path: Path) -> None:
    env = keeper_env(tmp_path, "oneshot")
    pubkey = register(devnet, "keeper-early")
    early = one_shot(devnet, env, "activate", "--pubkey", "0x" + pubkey.hex())
    assert early.returncode == 1 and "not on the CL" in early.stderr, early.stderr
    open_pool = devnet.pools[0]
    active = one_shot(devnet, env, "activate", "--pubkey", "0x" + open_pool.pubkey.hex())
    assert active.returncode == 1 and "is active already" in active.stderr, active.stderr
    wait_until(lambda: on_cl(devnet, pubkey) is not None, 30, "the CL never added the validator")
    devnet.wait_slots(1)  # the proven slot is the one before head
    status = one_shot(devnet, env, "status")
    assert "duty activation" in status.stdout and ": due" in status.stdout, status.stdout + status.stderr
    done = one_shot(devnet, env, "activate", "--pubkey", pubkey.hex())  # without 0x: the same key
    assert done.returncode == 0 and "landed" in done.stdout, done.stdout + done.stderr


def staker_requests_withdrawal(devnet: Devnet, pool: Pool, gwei: int) -> int:
    """USER stakes, then asks for `gwei` back: the request's id."""
    devnet.stake(pool, MIN_DEPOSIT)
    event = devnet.vault.events.WithdrawalRequested
    start = devnet.w3.eth.block_number
    devnet.request_withdrawal(pool, gwei)
    (entry,) = event.get_logs(from_block=start + 1)
    return int(entry["args"]["requestId"])


def test_a_due_withdrawal_is_finalized_by_the_daemon_and_the_staker_paid(devnet: Devnet, tmp_path: Path) -> None:
    pool = devnet.pools[1]
    request_id = staker_requests_withdrawal(devnet, pool, 3 * 10**9)  # 3 BERA from the CL
    request = devnet.vault.functions.getWithdrawalRequest(request_id).call()
    due_at = int(request[4]) + FINALIZATION_DELAY
    paid_before = devnet.w3.eth.get_balance(USER)
    log = tmp_path / "daemon.log"
    done = devnet.vault.events.WithdrawalRequestFinalized
    with daemon(devnet, keeper_env(tmp_path, "finalize"), log):
        wait_until(lambda: done.get_logs(from_block=due_at - FINALIZATION_DELAY), 150, "never finalized", log)
    (entry,) = done.get_logs(from_block=due_at - FINALIZATION_DELAY)
    assert int(entry["args"]["requestId"]) == request_id
    assert int(entry["blockNumber"]) >= due_at  # not before the delay passed
    assert devnet.w3.eth.get_balance(USER) == paid_before + 3 * ETHER  # the staker paid nothing to be paid


def test_process_rewards_happens_when_due_and_not_before(devnet: Devnet, tmp_path: Path) -> None:
    pool = devnet.pools[2]
    rewards_vault = devnet.factory.functions.getCoreContracts(pool.pubkey).call()[2]
    devnet.w3.eth.send_transaction({"from": USER, "to": rewards_vault, "value": ETHER // 2})  # below 1 BERA
    log = tmp_path / "daemon.log"
    received = devnet.pool(pool).events.StakingRewardsReceived
    start = devnet.w3.eth.block_number
    with daemon(devnet, keeper_env(tmp_path, "rewards"), log):
        devnet.wait_slots(8)  # several cycles: under the minimum, nothing
        assert devnet.w3.eth.get_balance(rewards_vault) == ETHER // 2
        devnet.w3.eth.send_transaction({"from": USER, "to": rewards_vault, "value": ETHER})
        wait_until(lambda: devnet.w3.eth.get_balance(rewards_vault) == 0, 60, "processRewards never ran", log)
    assert sum(int(e["args"]["amount"]) for e in received.get_logs(from_block=start)) == ETHER * 3 // 2
    assert len(keeper_transactions(devnet, start, pool.address, "processRewards()")) == 1


@pytest.mark.parametrize("point", ["after_prepare", "after_sign", "after_broadcast", "after_receipt"])
def test_kill_9_during_a_finalization_leaves_no_duplicate(devnet: Devnet, tmp_path: Path, point: str) -> None:
    pool = devnet.pools[1]
    request_id = staker_requests_withdrawal(devnet, pool, 1 * 10**9)
    due_at = int(devnet.vault.functions.getWithdrawalRequest(request_id).call()[4]) + FINALIZATION_DELAY
    wait_until(lambda: devnet.w3.eth.block_number > due_at and devnet.w3.eth.get_balance(devnet.vault.address) >= ETHER,
               120, "the request never became finalizable")  # fmt: skip
    start = devnet.w3.eth.block_number
    env = keeper_env(tmp_path, "kill")
    killed = one_shot(devnet, {**env, "POOL_ORACLE_CRASH_AT": point}, "finalize", "--pool", pool.address)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    again = one_shot(devnet, env, "finalize", "--pool", pool.address)
    devnet.wait_slots(2)
    done = devnet.vault.events.WithdrawalRequestFinalized.get_logs(from_block=start)
    assert [int(e["args"]["requestId"]) for e in done] == [request_id], again.stdout + again.stderr
    # one transaction for the duty, whatever step the kill came at (a resumed one, or one decided afresh)
    finalizing = [keeper_transactions(devnet, start, devnet.vault.address, f) for f in
                  ("finalizeWithdrawalRequest(uint256)", "finalizeWithdrawalRequests(uint256[])")]  # fmt: skip
    assert sum(len(f) for f in finalizing) == 1
    rows = actions(tmp_path / "kill.sqlite")
    assert [s for d, s, _ in rows if s in ("sent", "prepared")] == [], rows


def test_retry_full_exit_happens_when_the_exit_request_was_dropped_and_not_before(
    devnet: Devnet, tmp_path: Path
) -> None:
    """A withdrawal that leaves the pool below its minimum is its full exit (notifyWithdrawalRequest); the CL
    drops that EIP-7002 request (a full queue): the validator stays active, and after the flight delay the
    keeper sends retryFullExit, once; then the CL exits the validator."""
    pool = devnet.pools[0]
    contract = devnet.pool(pool)
    over = (contract.functions.totalDeposits().call() - contract.functions.minEffectiveBalance().call()) // GWEI + 1
    devnet.control("/devnet/v1/exit_requests/drop/1")
    start = devnet.w3.eth.block_number
    devnet.request_withdrawal(pool, over, sender=GOVERNANCE)
    assert contract.functions.isFullyExited().call()
    (exit_event,) = contract.events.FullExitTriggered.get_logs(from_block=start)
    retried = devnet.vault.events.FullExitRequestRetried
    delay = int(devnet.settings["keeper"]["retry_full_exit_after_blocks"])
    log = tmp_path / "daemon.log"
    with daemon(devnet, keeper_env(tmp_path, "retry"), log):
        wait_until(lambda: retried.get_logs(from_block=start), 90, "retryFullExit never sent", log)
        (entry,) = retried.get_logs(from_block=start)
        assert int(entry["blockNumber"]) >= int(exit_event["blockNumber"]) + delay  # not before the delay
        validator = f"/eth/v1/beacon/states/head/validators/{pool.index}"
        wait_until(lambda: devnet.beacon(validator)["data"]["validator"]["exit_epoch"] != str(2**64 - 1), 60,
                   "the CL never took the retried exit", log)  # fmt: skip
        devnet.wait_slots(6)  # cycles after the exit was taken: no second retry
    assert len(retried.get_logs(from_block=start)) == 1
    assert len(keeper_transactions(devnet, start, devnet.vault.address, "retryFullExit(bytes,uint256)")) == 1


@pytest.mark.parametrize("point", ["after_sign", "after_broadcast"])
def test_kill_9_during_an_activation_leaves_no_duplicate(devnet: Devnet, tmp_path: Path, point: str) -> None:
    pubkey = register(devnet, f"keeper-kill-{point}")
    wait_until(lambda: on_cl(devnet, pubkey) is not None, 30, "the CL never added the validator")
    devnet.wait_slots(1)
    start = devnet.w3.eth.block_number
    env = keeper_env(tmp_path, "kill")
    killed = one_shot(devnet, {**env, "POOL_ORACLE_CRASH_AT": point}, "activate", "--pubkey", pubkey.hex())
    assert killed.returncode == -9, killed.stdout + killed.stderr
    again = one_shot(devnet, env, "activate", "--pubkey", pubkey.hex())  # follows the journalled one first
    core = devnet.factory.functions.getCoreContracts(pubkey).call()
    pool = devnet.w3.eth.contract(address=core[1], abi=devnet.pool_abi)
    assert pool.functions.isActive().call(), again.stdout + again.stderr
    assert len(keeper_transactions(devnet, start, devnet.settings["contracts"]["factory"])) == 1


@pytest.mark.parametrize("point", ["after_sign", "after_broadcast"])
def test_kill_9_during_process_rewards_by_a_key_without_the_role(devnet: Devnet, tmp_path: Path, point: str) -> None:
    """A key with gas and no FEEDER_ROLE: an auditor for the reports, a keeper for the duties."""
    key_file = tmp_path / "keep-only.key"
    key_file.write_text(KEEP_ONLY_KEY + "\n")
    key_file.chmod(0o600)
    env = keeper_env(tmp_path, "keep-only", POOL_ORACLE_SIGNER_KEY_FILE=str(key_file))
    pool = devnet.pools[2]
    rewards_vault = devnet.factory.functions.getCoreContracts(pool.pubkey).call()[2]
    devnet.w3.eth.send_transaction({"from": USER, "to": rewards_vault, "value": 2 * ETHER})
    start = devnet.w3.eth.block_number
    report = [*exe(), "report", "--once", "--yes", "--config", str(devnet.config)]
    killed = subprocess.run(
        report, capture_output=True, text=True, timeout=120, env={**env, "POOL_ORACLE_CRASH_AT": point}
    )
    assert killed.returncode == -9, killed.stdout + killed.stderr
    again = subprocess.run(report, capture_output=True, text=True, timeout=120, env=env)
    assert "mode auditor" in again.stdout, again.stdout  # no role: no report, the duties all the same
    wait_until(lambda: devnet.w3.eth.get_balance(rewards_vault) == 0, 30, "processRewards never landed")
    assert len(keeper_transactions(devnet, start, pool.address, "processRewards()", sender=KEEP_ONLY)) == 1

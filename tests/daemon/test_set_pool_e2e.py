"""A many-validator pool (the reference ValidatorSetPool) reported by the daemon on the devnet's Ethereum
layout, checked on the chain: the report goes in batches against the root the contract pinned and equals the
registry's total on that very state; kill -9 at each step between batches resumes without a duplicate; a
top-up in flight holds the report; audit mode names it due and sends nothing. The batches' nodes come from the
devnet's Lodestar route (compact multiproofs) or, switched off, from the whole state. A validator deposited
later is registered by the owner's one-shot command and counted by the next report, whose batch over the gas
bound is halved until it fits."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oracle.devnet.network import TEST_KEYS
from oracle.faultpoints import POINTS
from tests.daemon.harness import GWEI, USER, Devnet, daemon_env, exe, report

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
VALIDATORS, SET_POOL = 260, 240
# ~70 words a batch: the 60 chunks of 240 contiguous validators and their witnesses take three or more.
SMALL_BATCHES = {"POOL_ORACLE_SET_POOLS_MAX_CALLDATA_BYTES": "2500"}
DUE_NOW = {"POOL_ORACLE_SET_POOLS_REPORT_INTERVAL_SECONDS": "1"}
FROM_THE_STATE = {"POOL_ORACLE_SET_POOLS_COMPACT_PROOFS": "false"}


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    net = Devnet(
        tmp_path_factory.mktemp("setpool"), "--layout", "ethereum-electra", "--validators", str(VALIDATORS),
        "--pools", "1", "--set-pool-validators", str(SET_POOL), "--slots-per-epoch", "4",
        "--deposit-delay-slots", "3",
    )  # fmt: skip
    net.wait_slots(14)  # a finalized checkpoint past genesis
    yield net
    net.stop()


def set_pool(devnet: Devnet) -> Any:
    address = devnet.settings["set_pools"]["addresses"][0]
    from oracle.devnet.compile import load_artifacts

    return devnet.w3.eth.contract(address=address, abi=load_artifacts()["contracts"]["ValidatorSetPool"]["abi"])


def events(devnet: Devnet, name: str, from_block: int = 0) -> list[Any]:
    return list(getattr(set_pool(devnet).events, name).get_logs(from_block=from_block))


def set_pool_lines(devnet: Devnet, result: subprocess.CompletedProcess[str]) -> list[str]:
    address = devnet.settings["set_pools"]["addresses"][0]
    return [line for line in result.stdout.splitlines() if line.startswith(address)]


def registry_total_at(devnet: Devnet, block_root: bytes) -> int:
    """The registry's total balance on the state of `block_root`, read through the Beacon API."""
    header = devnet.beacon("/eth/v1/beacon/headers/0x" + block_root.hex())["data"]["header"]["message"]
    balances = devnet.beacon(f"/eth/v1/beacon/states/{header['slot']}/validator_balances")["data"]
    registry = set(set_pool(devnet).functions.validatorIndices(0, SET_POOL).call())
    return sum(int(b["balance"]) for b in balances if int(b["index"]) in registry)


def completed_report(devnet: Devnet, start_block: int) -> tuple[Any, Any, list[Any]]:
    (started,) = events(devnet, "ReportStarted", start_block)
    (completed,) = events(devnet, "ReportCompleted", start_block)
    batches = events(devnet, "BatchProven", start_block)
    return started, completed, batches


def assert_one_clean_report(devnet: Devnet, start_block: int) -> None:
    """Exactly one report since `start_block`: its batches cover the registry once, in order, and it equals the
    pinned state's total."""
    started, completed, batches = completed_report(devnet, start_block)
    report_id = started["args"]["reportId"]
    assert completed["args"]["reportId"] == report_id
    positions = [(b["args"]["firstPosition"], b["args"]["count"]) for b in batches]
    assert [first for first, _ in positions] == [sum(c for _, c in positions[:k]) for k in range(len(positions))]
    assert sum(count for _, count in positions) == SET_POOL
    assert all(b["args"]["reportId"] == report_id for b in batches)
    total = registry_total_at(devnet, bytes(started["args"]["blockRoot"]))
    assert completed["args"]["consensusGwei"] == total == sum(b["args"]["batchGwei"] for b in batches)
    assert completed["args"]["executionBalance"] == started["args"]["executionBalance"]


def test_a_report_in_batches_equals_the_pinned_states_total(devnet: Devnet, tmp_path: Path) -> None:
    start_block = devnet.w3.eth.block_number
    result = report(devnet, daemon_env(tmp_path, "a", **SMALL_BATCHES))
    assert result.returncode == 0, result.stderr[-3000:]
    lines = set_pool_lines(devnet, result)
    assert any("set_report_start" in line and "landed" in line for line in lines), result.stdout
    batches = [line for line in lines if "set_report_batch" in line and "landed" in line]
    assert len(batches) >= 3, result.stdout
    # The devnet serves Lodestar's compact state multiproofs: the batches' nodes come from them, not the state.
    assert all("from the compact multiproof" in line for line in batches), result.stdout
    assert any(line.endswith("completed") for line in lines), result.stdout
    assert_one_clean_report(devnet, start_block)
    pool = set_pool(devnet)
    _, _, _, consensus, execution = pool.functions.lastReport().call()
    assert pool.functions.totalAssets().call() == consensus * GWEI + execution  # no flows since
    again = report(devnet, daemon_env(tmp_path, "a", **SMALL_BATCHES))
    assert any("set_report" in line and "unchanged" in line for line in set_pool_lines(devnet, again)), again.stdout
    assert len(events(devnet, "ReportStarted", start_block)) == 1


# Two crash points here; the other two with `make faults` (make test stays under 30 minutes).
SHORT_POINTS = ("after_sign", "after_broadcast")


@pytest.mark.parametrize(
    "point", [p if p in SHORT_POINTS else pytest.param(p, marks=pytest.mark.faults_full) for p in POINTS]
)
def test_kill_9_between_batches_resumes_without_a_duplicate(devnet: Devnet, tmp_path: Path, point: str) -> None:
    """The crash comes at the second batch's step (the start and the first batch have passed it): the restart
    follows what the journal holds, then carries on from the contract's nextPosition."""
    start_block = devnet.w3.eth.block_number
    env = daemon_env(tmp_path, "k", POOL_ORACLE_CRASH_AT=point, POOL_ORACLE_CRASH_SKIP="2", **SMALL_BATCHES,
                     **DUE_NOW, **FROM_THE_STATE)  # fmt: skip
    killed = report(devnet, env)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr[-2000:]
    assert not events(devnet, "ReportCompleted", start_block)
    restarted = report(devnet, daemon_env(tmp_path, "k", **SMALL_BATCHES, **DUE_NOW, **FROM_THE_STATE))
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    sent = [line for line in set_pool_lines(devnet, restarted) if "set_report_batch" in line]
    assert sent and all("from the state" in line for line in sent), restarted.stdout
    devnet.wait_slots(2)
    assert_one_clean_report(devnet, start_block)
    assert not events(devnet, "BatchSkipped", start_block)  # nothing was sent twice


def test_a_top_up_in_flight_holds_the_report(devnet: Devnet, tmp_path: Path) -> None:
    registry = set_pool(devnet).functions.validatorIndices(0, 1).call()
    record = devnet.beacon(f"/eth/v1/beacon/states/head/validators/{registry[0]}")["data"]["validator"]
    start_block = devnet.w3.eth.block_number
    devnet.transact(
        devnet.deposit.functions.deposit(bytes.fromhex(record["pubkey"][2:]),
                                         bytes.fromhex(record["withdrawal_credentials"][2:]), b"\x00" * 96,
                                         USER),  # its first EL deposit (a genesis validator) names an operator
        value=1 * 10**18,
    )  # fmt: skip
    held = report(devnet, daemon_env(tmp_path, "h", **DUE_NOW))
    assert held.returncode == 0, held.stderr[-3000:]
    assert any("held (deposit_in_flight)" in line for line in set_pool_lines(devnet, held)), held.stdout
    assert not events(devnet, "ReportStarted", start_block)


def test_audit_mode_names_the_report_due_and_sends_nothing(devnet: Devnet, tmp_path: Path) -> None:
    start_block = devnet.w3.eth.block_number
    devnet.wait_slots(16)  # the top-up above is credited and finalized
    command = [*exe(), "report", "--once", "--config", str(devnet.config)]
    env = daemon_env(tmp_path, "audit", POOL_ORACLE_SIGNER_KEY_FILE="", **DUE_NOW)
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert any("due" in line for line in set_pool_lines(devnet, result)), result.stdout
    assert not events(devnet, "ReportStarted", start_block)


def test_a_new_validator_is_registered_by_the_owner_and_counted_by_the_next_report(
    devnet: Devnet, tmp_path: Path
) -> None:
    """A deposit with the pool's credentials adds a validator on the CL; once it is finalized,
    `register-validators` (the owner's key) binds it to its index; the next report covers it too."""
    pool = set_pool(devnet)
    credentials = bytes(pool.functions.withdrawalCredentials().call())
    pubkey = bytes(range(1, 49))
    devnet.transact(devnet.deposit.functions.deposit(pubkey, credentials, b"\x00" * 96, USER), value=32 * 10**18)
    devnet.wait_slots(20)  # credited (3 slots), then finalized
    owner_key = tmp_path / "owner.key"
    owner_key.write_text(TEST_KEYS[0] + "\n")
    owner_key.chmod(0o600)
    env = daemon_env(tmp_path, "r", POOL_ORACLE_SIGNER_KEY_FILE=str(owner_key))
    command = [*exe(), "register-validators", "--pool", pool.address, "--config", str(devnet.config)]
    refused = subprocess.run([*command, "--index", "0"], capture_output=True, text=True, timeout=120, env=env)
    assert refused.returncode == 1 and "credentials are not the pool's" in refused.stderr, refused.stderr[-2000:]
    registered = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert registered.returncode == 0, registered.stdout + registered.stderr[-2000:]
    assert "set_pool_register" in registered.stdout and "landed" in registered.stdout
    assert pool.functions.validatorCount().call() == SET_POOL + 1
    assert pool.functions.isRegistered(pubkey).call()
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert again.returncode == 1 and "beyond its 241 registered ones" in again.stderr, again.stderr[-2000:]
    start_block = devnet.w3.eth.block_number
    # A gas bound below what the one planned batch needs: it is halved until its halves fit (EIP-7825).
    result = report(devnet, daemon_env(tmp_path, "a", POOL_ORACLE_SET_POOLS_MAX_BATCH_GAS="250000", **DUE_NOW))
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(events(devnet, "BatchProven", start_block)) >= 2, result.stdout
    (completed,) = events(devnet, "ReportCompleted", start_block)
    (started,) = events(devnet, "ReportStarted", start_block)
    header = devnet.beacon("/eth/v1/beacon/headers/0x" + bytes(started["args"]["blockRoot"]).hex())
    slot = header["data"]["header"]["message"]["slot"]
    balances = devnet.beacon(f"/eth/v1/beacon/states/{slot}/validator_balances")["data"]
    registry = set(pool.functions.validatorIndices(0, SET_POOL + 1).call())
    assert completed["args"]["consensusGwei"] == sum(int(b["balance"]) for b in balances if int(b["index"]) in registry)

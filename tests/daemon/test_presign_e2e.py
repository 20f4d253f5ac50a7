"""The check before a signature, end to end on the devnet: a rule read from the pool's views that changes between
the decision and the signature (its owner pauses it) keeps the report unsigned; a junk transaction to the oracle
holding the pubkey, kept pending all along, does not keep the report away."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.harness import GWEI, MIN_DEPOSIT, Devnet, Pool, daemon_env, exe, journal_rows, report
from tests.faults.matrix import junk_in_mempool, set_paused, signer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DEPOSIT_DELAY = 3


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    net = Devnet(tmp_path_factory.mktemp("devnet"), "--validators", "6", "--pools", "3", "--slots-per-epoch", "8",
                 "--deposit-delay-slots", str(DEPOSIT_DELAY))  # fmt: skip
    yield net
    net.stop()


def outcome(result: subprocess.CompletedProcess[str], pool: Pool) -> str:
    for line in result.stdout.splitlines():
        if line.startswith(pool.address):
            return line.split(maxsplit=5)[5]
    raise AssertionError(f"pool {pool.address} not in the report:\n{result.stdout}\n{result.stderr[-2000:]}")


def report_due(devnet: Devnet, pool: Pool) -> int:
    """A top-up outside the pool, credited by the CL: a report is due. Returns the proven balance to be."""
    before = devnet.cl_balance(pool)
    devnet.top_up(pool, MIN_DEPOSIT)
    devnet.wait_slots(DEPOSIT_DELAY + 2)
    assert devnet.cl_balance(pool) == before + MIN_DEPOSIT // GWEI
    return before + MIN_DEPOSIT // GWEI


def test_a_pool_paused_between_decision_and_signature_is_never_signed(devnet: Devnet, tmp_path: Path) -> None:
    """Its owner pauses the pool while the daemon waits between deciding the report and signing it: the report
    would revert (updateTotalDeposits is whenNotPaused) and spend its gas. It is dropped as stale: nothing is
    signed, the signer's nonce is untouched. Unpaused, the next report lands."""
    pool = devnet.pools[0]
    balance = report_due(devnet, pool)
    start_block, nonce = devnet.w3.eth.block_number, devnet.w3.eth.get_transaction_count(signer(devnet))
    env = daemon_env(tmp_path, "p", POOL_ORACLE_PAUSE_AT="after_prepare", POOL_ORACLE_PAUSE_SECONDS="6")
    proc = subprocess.Popen([*exe(), "report", "--once", "--yes", "--config", str(devnet.config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    journal = tmp_path / "p.sqlite"

    def prepared() -> bool:
        try:
            return journal.exists() and any(row[0] == pool.address for row in journal_rows(journal))
        except sqlite3.OperationalError:  # the file is there, its tables not yet
            return False

    deadline = time.monotonic() + 60
    while not prepared():
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.2)
    set_paused(True)(devnet, pool)  # lands while the daemon waits between deciding and signing
    try:
        stdout, stderr = proc.communicate(timeout=120)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        assert outcome(result, pool).startswith("stale"), stdout + stderr[-2000:]
        assert "paused" in stdout
        assert devnet.reports(pool, from_block=start_block) == []
        assert devnet.w3.eth.get_transaction_count(signer(devnet)) == nonce  # nothing signed, nothing mined
        assert [row[3] for row in journal_rows(journal) if row[0] == pool.address] == ["stale"]
    finally:
        set_paused(False)(devnet, pool)
    again = report(devnet, daemon_env(tmp_path, "p"))
    assert outcome(again, pool).startswith("landed"), again.stdout + again.stderr[-2000:]
    assert devnet.reports(pool, from_block=start_block) == [balance * GWEI]


def test_a_junk_transaction_to_the_oracle_kept_pending_does_not_keep_the_report_away(
    devnet: Devnet, tmp_path: Path
) -> None:
    """Anyone's zero-tip transaction to the oracle from an account without the role, the pool's pubkey in its
    input, always pending: it is no other reporter's report, and the report lands beside it."""
    pool = devnet.pools[1]
    balance = report_due(devnet, pool)
    start_block = devnet.w3.eth.block_number
    junk_in_mempool(True)(devnet, pool)
    try:
        time.sleep(1.5)
        assert devnet.w3.provider.make_request("txpool_content", [])["result"]["pending"]  # type: ignore[arg-type]
        result = report(devnet, daemon_env(tmp_path, "j", POOL_ORACLE_SERVICE_LOG_LEVEL="info"))
    finally:
        junk_in_mempool(False)(devnet, pool)
    assert outcome(result, pool).startswith("landed"), result.stdout + result.stderr[-2000:]
    assert devnet.reports(pool, from_block=start_block) == [balance * GWEI]
    assert "not another reporter's report" in result.stderr

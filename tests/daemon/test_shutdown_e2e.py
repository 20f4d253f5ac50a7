"""SIGTERM while the daemon waits for a receipt (issue 17, L7): it stops within service.stop_grace_seconds and a
few seconds more, well inside Docker's 10 s and Kubernetes' 30 s, not when the receipt wait times out; the
transaction it journalled before broadcasting is followed by the next start and lands once."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oracle.devnet.anvil import free_port
from tests.daemon.harness import GWEI, MIN_DEPOSIT, Devnet, daemon_env, exe, journal_rows, report
from tests.faults import proxy as faults
from tests.faults.proxy import FaultProxy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DEPOSIT_DELAY = 4


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    net = Devnet(tmp_path_factory.mktemp("devnet"), "--slots-per-epoch", "8",
                 "--deposit-delay-slots", str(DEPOSIT_DELAY))  # fmt: skip
    yield net
    net.stop()


def test_sigterm_during_a_receipt_wait_stops_within_seconds(devnet: Devnet, tmp_path: Path) -> None:
    pool = devnet.pools[0]
    start_block = devnet.w3.eth.block_number
    devnet.top_up(pool, MIN_DEPOSIT)
    devnet.wait_slots(DEPOSIT_DELAY + 2)
    balance = devnet.cl_balance(pool)
    journal = tmp_path / "t.sqlite"
    with FaultProxy(f"http://127.0.0.1:{devnet.rpc_port}") as el:
        # The node takes the transaction and never mines it: the daemon waits for a receipt (up to 120 s).
        el.fault = faults.rpc_methods({"eth_sendRawTransaction": faults.swallow_transactions()})
        env = daemon_env(tmp_path, "t", POOL_ORACLE_EXECUTION_ENDPOINTS=el.url,
                         POOL_ORACLE_TRANSACTIONS_RECEIPT_TIMEOUT_SECONDS="120",
                         POOL_ORACLE_SERVICE_STOP_GRACE_SECONDS="2",
                         POOL_ORACLE_SERVICE_METRICS_ADDRESS=f"127.0.0.1:{free_port()}")  # fmt: skip
        log = (tmp_path / "t.log").open("w")
        daemon = subprocess.Popen([*exe(), "run", "--config", str(devnet.config)], stdout=subprocess.DEVNULL,
                                  stderr=log, env=env)  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while not (journal.exists() and any(row[5] for row in journal_rows(journal) if row[0] == pool.address)):
                assert time.monotonic() < deadline and daemon.poll() is None, (tmp_path / "t.log").read_text()[-3000:]
                time.sleep(0.2)
            time.sleep(3)  # well into the receipt wait
            signalled = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(timeout=30)
            took = time.monotonic() - signalled
        finally:
            if daemon.poll() is None:
                daemon.kill()
            log.close()
    stderr = (tmp_path / "t.log").read_text()
    assert code == 0, stderr[-3000:]
    assert took < 6, f"stopped {took:.1f} s after SIGTERM"
    assert "stopping mid-cycle" in stderr and '"stopped"' in stderr
    assert devnet.reports(pool, from_block=start_block) == []  # swallowed: nothing was mined
    # The next start (the node honest again) follows the journalled transaction: rebroadcast, landed once.
    again = report(devnet, daemon_env(tmp_path, "t"))
    assert again.returncode == 0, again.stderr[-3000:]
    devnet.wait_slots(2)
    assert devnet.reports(pool, from_block=start_block) == [balance * GWEI]
    assert [row[3] for row in journal_rows(journal) if row[0] == pool.address][-1] == "mined"

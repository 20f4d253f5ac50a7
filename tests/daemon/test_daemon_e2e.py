"""The daemon end to end on the devnet, checking the chain: reports land and equal the proven balance;
deposits and withdrawals in flight hold; a tampered proof is never sent; kill -9 at each step gives no
duplicate and no lost transaction; two daemons send one report; audit mode sends nothing; metrics and
health answer."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oracle.faultpoints import POINTS
from tests.daemon.harness import (
    GOVERNANCE,
    GWEI,
    MIN_DEPOSIT,
    Devnet,
    Pool,
    daemon_env,
    exe,
    journal_rows,
    report,
    scrape,
)
from tests.daemon.proxy import TamperingProxy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DEPOSIT_DELAY = 8
# The CL pays a partial withdrawal at the first epoch boundary past this delay: with one epoch, as little as one
# slot after the request, which a slow machine's one-shot report can miss (the hold test then saw "unchanged").
# Three epochs leave at least 17 slots (34 s) for the report.
WITHDRAWAL_DELAY_EPOCHS = 3


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    net = Devnet(
        tmp_path_factory.mktemp("devnet"), "--validators", "10", "--pools", "7",
        "--slots-per-epoch", "8", "--deposit-delay-slots", str(DEPOSIT_DELAY),
        "--withdrawal-delay-epochs", str(WITHDRAWAL_DELAY_EPOCHS),
    )  # fmt: skip
    yield net
    net.stop()


def outcome(result: subprocess.CompletedProcess[str], pool: Pool) -> str:
    for line in result.stdout.splitlines():
        if line.startswith(pool.address):
            return line.split(maxsplit=5)[5]
    raise AssertionError(f"pool {pool.address} not in the report:\n{result.stdout}\n{result.stderr[-2000:]}")


def drift_then_settle(devnet: Devnet, pool: Pool, amount: int = MIN_DEPOSIT) -> int:
    """Top the validator up outside the pool and wait until the CL has credited it; returns the balance."""
    before = devnet.cl_balance(pool)
    devnet.top_up(pool, amount)
    devnet.wait_slots(DEPOSIT_DELAY + 2)
    after = devnet.cl_balance(pool)
    assert after == before + amount // GWEI
    return after


def test_report_lands_and_equals_the_proven_balance(devnet: Devnet, tmp_path: Path) -> None:
    pool = devnet.pools[0]
    balance = drift_then_settle(devnet, pool, MIN_DEPOSIT)
    env = daemon_env(tmp_path, "a")
    result = report(devnet, env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert outcome(result, pool).startswith("landed")
    assert devnet.total_deposits(pool) == balance * GWEI
    assert devnet.reports(pool) == [balance * GWEI]
    rows = journal_rows(tmp_path / "a.sqlite")
    assert [(r[0], r[2], r[3]) for r in rows] == [(pool.address, balance, "mined")]
    again = report(devnet, env)
    assert outcome(again, pool) == "unchanged"
    assert devnet.reports(pool) == [balance * GWEI]


def test_top_ups_on_chain_explain_a_rise_beyond_the_per_report_bound(devnet: Devnet, tmp_path: Path) -> None:
    """Two top-ups by someone else (deposit events the CL credited, never booked by the pool) raise the balance
    by more than the 5 % per-report bound; a stake in between is the pool's own, booked at once. The chain
    explains the rise, so it lands in one report. With a deposit lookback too short to see the top-ups,
    nothing explains it and it is held, as an unexplained move of that size must be."""
    pool = devnet.pools[0]
    devnet.top_up(pool, MIN_DEPOSIT)
    devnet.stake(pool, MIN_DEPOSIT)
    devnet.top_up(pool, 2 * MIN_DEPOSIT)
    devnet.wait_slots(DEPOSIT_DELAY + 2)
    balance = devnet.cl_balance(pool)
    assert (balance * GWEI - devnet.total_deposits(pool)) > 0.05 * devnet.total_deposits(pool)
    blind = report(devnet, daemon_env(tmp_path, "t", POOL_ORACLE_REPORTING_DEPOSIT_LOOKBACK_BLOCKS="1"))
    assert outcome(blind, pool).startswith("held (change_exceeds_per_report_bound"), blind.stdout
    seen = report(devnet, daemon_env(tmp_path, "t"))
    assert outcome(seen, pool).startswith("landed"), seen.stdout + seen.stderr[-2000:]
    assert devnet.total_deposits(pool) == balance * GWEI


def test_deposit_in_flight_holds_the_report(devnet: Devnet, tmp_path: Path) -> None:
    pool = devnet.pools[1]
    before = devnet.total_deposits(pool)
    devnet.stake(pool, MIN_DEPOSIT)  # booked on the EL now, credited on the CL DEPOSIT_DELAY slots later
    assert devnet.total_deposits(pool) == before + MIN_DEPOSIT
    held = report(devnet, daemon_env(tmp_path, "b"))
    assert outcome(held, pool) == "held (deposit_in_flight)"
    assert devnet.reports(pool) == []
    devnet.wait_slots(DEPOSIT_DELAY + 2)
    settled = report(devnet, daemon_env(tmp_path, "b"))
    assert outcome(settled, pool) == "unchanged"
    assert devnet.total_deposits(pool) == devnet.cl_balance(pool) * GWEI
    assert devnet.reports(pool) == []


def test_withdrawal_in_flight_holds_the_report(devnet: Devnet, tmp_path: Path) -> None:
    pool = devnet.pools[2]
    devnet.stake(pool, MIN_DEPOSIT)
    devnet.wait_slots(DEPOSIT_DELAY + 2)
    devnet.request_withdrawal(pool, 2 * GWEI)  # EL books it out now; the CL pays it epochs later
    requested = devnet.head()
    held = report(devnet, daemon_env(tmp_path, "c"))
    assert devnet.head() - requested <= (WITHDRAWAL_DELAY_EPOCHS - 1) * 8, "the report outlasted the payout's margin"
    assert outcome(held, pool) == "held (withdrawal_in_flight)"
    assert devnet.reports(pool) == []
    deadline = time.monotonic() + 120
    while devnet.cl_balance(pool) * GWEI != devnet.total_deposits(pool):
        assert time.monotonic() < deadline, "the withdrawal was never paid out"
        time.sleep(1)
    devnet.wait_slots(2)
    settled = report(devnet, daemon_env(tmp_path, "c"))
    assert outcome(settled, pool) == "unchanged"
    assert devnet.reports(pool) == []


def flip_hex(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def test_a_tampered_node_proof_is_caught_and_never_sent(devnet: Devnet, tmp_path: Path) -> None:
    pool = devnet.pools[3]
    balance = drift_then_settle(devnet, pool)

    def tamper_proof(path: str, body: Any) -> Any:
        if path.startswith("/bkit/v1/proof/validator_balance/"):
            body["validator_balance"] = hex(int(body["validator_balance"], 16) + 10**9)
            body["balance_proof"][5] = flip_hex(body["balance_proof"][5])
        return body

    with TamperingProxy(f"http://127.0.0.1:{devnet.beacon_port}", tamper_proof) as proxy:
        env = daemon_env(tmp_path, "d", POOL_ORACLE_BEACON_ENDPOINTS=proxy.url)
        result = report(devnet, env)
    assert "proof rejected" in result.stderr
    # The node's proof was refused; our engine's own proof of the same slot verified and was sent.
    assert outcome(result, pool).startswith("landed")
    assert devnet.reports(pool) == [balance * GWEI]

    drift_then_settle(devnet, pool)

    def tamper_state(path: str, body: Any) -> Any:
        body = tamper_proof(path, body)
        if path.startswith("/eth/v2/debug/beacon/states/"):
            balances = body["data"]["balances"]
            # beacon-kit writes balances as bare JSON numbers (Go uint64), the Beacon API as strings
            bumped = int(balances[pool.index]) + 10**9
            balances[pool.index] = bumped if isinstance(balances[pool.index], int) else str(bumped)
        return body

    with TamperingProxy(f"http://127.0.0.1:{devnet.beacon_port}", tamper_state) as proxy:
        env = daemon_env(tmp_path, "d", POOL_ORACLE_BEACON_ENDPOINTS=proxy.url)
        result = report(devnet, env)
    assert result.returncode == 1
    assert "does not hash to the anchored block root" in result.stderr
    assert devnet.reports(pool) == [balance * GWEI]  # nothing new was sent


@pytest.mark.parametrize("point", POINTS)
def test_kill_9_at_each_step_then_restart(devnet: Devnet, tmp_path: Path, point: str) -> None:
    pool = devnet.pools[4]
    start_block = devnet.w3.eth.block_number
    balance = drift_then_settle(devnet, pool)
    journal = tmp_path / "e.sqlite"
    # One pool, a report per crash point: four 10,000 BERA moves in minutes pass the daily bound (counted on
    # chain, whatever the journal), which is not what this test is about.
    day = {"POOL_ORACLE_REPORTING_MAX_CHANGE_PER_DAY": "1"}
    killed = report(devnet, daemon_env(tmp_path, "e", POOL_ORACLE_CRASH_AT=point, **day))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    restarted = report(devnet, daemon_env(tmp_path, "e", **day))
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    devnet.wait_slots(2)
    assert devnet.reports(pool, from_block=start_block) == [balance * GWEI]  # exactly one report
    assert devnet.total_deposits(pool) == balance * GWEI
    statuses = [row[3] for row in journal_rows(journal) if row[0] == pool.address]
    assert statuses.count("mined") == 1
    assert all(status in ("mined", "failed") for status in statuses)  # nothing left in flight


def test_sigterm_during_a_send_sees_it_through_then_stops(devnet: Devnet, tmp_path: Path) -> None:
    """SIGTERM (docker stop, a rolling update) while a report is between decision and signature: the daemon
    finishes that report (signed, mined, journalled), then stops with status 0; a restart sends nothing more.
    (A SIGKILL after the grace period is the kill -9 case above.)"""
    from oracle.devnet.anvil import free_port

    pool = devnet.pools[1]
    start_block = devnet.w3.eth.block_number
    balance = drift_then_settle(devnet, pool)
    journal = tmp_path / "g.sqlite"
    env = daemon_env(tmp_path, "g", POOL_ORACLE_PAUSE_AT="after_prepare", POOL_ORACLE_PAUSE_SECONDS="3",
                     POOL_ORACLE_SERVICE_METRICS_ADDRESS=f"127.0.0.1:{free_port()}")  # fmt: skip
    log = (tmp_path / "g.log").open("w")
    daemon = subprocess.Popen([*exe(), "run", "--config", str(devnet.config)], stdout=subprocess.DEVNULL,
                              stderr=log, env=env)  # fmt: skip
    deadline = time.monotonic() + 90
    while not (journal.exists() and any(row[0] == pool.address for row in journal_rows(journal))):
        assert time.monotonic() < deadline and daemon.poll() is None, (tmp_path / "g.log").read_text()[-2000:]
        time.sleep(0.2)
    daemon.send_signal(signal.SIGTERM)  # while it waits at after_prepare
    assert daemon.wait(timeout=90) == 0
    log.close()
    stderr = (tmp_path / "g.log").read_text()
    assert '"stopped"' in stderr and "report landed" in stderr
    assert devnet.reports(pool, from_block=start_block) == [balance * GWEI]
    assert [row[3] for row in journal_rows(journal) if row[0] == pool.address] == ["mined"]
    restarted = report(devnet, daemon_env(tmp_path, "g"))
    assert outcome(restarted, pool) == "unchanged", restarted.stdout
    assert devnet.reports(pool, from_block=start_block) == [balance * GWEI]


def test_two_daemons_send_one_report(devnet: Devnet, tmp_path: Path) -> None:
    pool = devnet.pools[5]
    start_block = devnet.w3.eth.block_number
    balance = drift_then_settle(devnet, pool)
    command = [*exe(), "report", "--once", "--yes", "--config", str(devnet.config)]
    procs = [
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=daemon_env(tmp_path, name)
        )
        for name in ("f1", "f2")
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    devnet.wait_slots(2)
    assert devnet.reports(pool, from_block=start_block) == [balance * GWEI], outputs


def metric(body: str, name: str, **labels: str) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def test_audit_mode_sends_nothing_and_exposes_drift_in_metrics(devnet: Devnet, tmp_path: Path) -> None:
    from oracle.devnet.anvil import free_port

    pool = devnet.pools[6]
    start_block = devnet.w3.eth.block_number
    balance = drift_then_settle(devnet, pool, MIN_DEPOSIT)
    key = tmp_path / "no-role.key"
    key.write_text("0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6\n")  # account 3: no role
    port, configured_port = free_port(), free_port()
    env = daemon_env(
        tmp_path, "g", POOL_ORACLE_SIGNER_KEY_FILE=str(key),
        POOL_ORACLE_SERVICE_METRICS_ADDRESS=f"127.0.0.1:{configured_port}", POOL_ORACLE_REPORTING_INTERVAL_SECONDS="2",
    )  # fmt: skip
    # --metrics-address overrides the configuration
    proc = subprocess.Popen([*exe(), "run", "--config", str(devnet.config), "--metrics-address", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        body = ""
        while time.monotonic() < deadline:
            status, body = scrape(f"http://127.0.0.1:{port}/metrics")
            if status == 200 and 'pool_oracle_cycles_total{result="ok"} 2.0' in body:
                break
            time.sleep(0.5)
        labels = {"network": "devnet", "pool": pool.address, "validator_index": str(pool.index)}
        assert metric(body, "pool_oracle_drift_gwei", **labels) == MIN_DEPOSIT // GWEI
        assert metric(body, "pool_oracle_proven_balance_gwei", **labels) == balance
        assert metric(body, "pool_oracle_onchain_total_deposits_gwei", **labels) == balance - MIN_DEPOSIT // GWEI
        assert (metric(body, "pool_oracle_reports_total", outcome="audit_drift") or 0) >= 1
        assert metric(body, "pool_oracle_build_info", signer="0x90F79bf6EB2c4f870365E785982E1f101E93b906") == 1
        assert scrape(f"http://127.0.0.1:{port}/healthz")[0] == 200
        assert scrape(f"http://127.0.0.1:{port}/readyz")[0] == 200
        assert scrape(f"http://127.0.0.1:{configured_port}/healthz")[0] != 200  # nothing serves there
        assert devnet.reports(pool, from_block=start_block) == []
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr[-2000:]
    assert "0x7c852118294e51e6" not in stderr  # the key never reaches the logs


def test_ethereum_layout_reports_rewards_at_the_finalized_slot(tmp_path_factory: pytest.TempPathFactory) -> None:
    net = Devnet(tmp_path_factory.mktemp("eth"), "--layout", "ethereum-electra", "--slots-per-epoch", "4")
    try:
        net.wait_slots(14)  # rewards after the first epochs, and a finalized checkpoint behind head
        workdir = tmp_path_factory.mktemp("eth-daemon")
        result = report(net, daemon_env(workdir, "h"))
        assert result.returncode == 0, result.stderr[-2000:]
        finalized = int(net.beacon("/eth/v1/beacon/headers/finalized")["data"]["header"]["message"]["slot"])
        slot = int(result.stdout.split()[1])
        assert slot <= finalized < net.head()
        for pool in net.pools:
            assert outcome(result, pool).startswith("landed")
            # What landed is the balance at the finalized slot, not at head.
            assert net.total_deposits(pool) == net.cl_balance(pool, str(slot)) * GWEI
    finally:
        net.stop()


def test_a_report_whose_block_leaves_the_chain_is_sent_again(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Ethereum layout: reports land in blocks after the finalized one, then a reorganisation replaces those
    blocks and drops their transactions. The next cycle finds the journal's landed rows missing from the
    chain, follows them again and rebroadcasts the very transactions (proofs still young, books as decided):
    the same reports land once each, at the same nonces, and nothing else is signed for them."""
    net = Devnet(tmp_path_factory.mktemp("reorg"), "--layout", "ethereum-electra", "--slots-per-epoch", "4",
                 "--reorg-depth", "24")  # fmt: skip
    try:
        net.wait_slots(14)  # rewards after the first epochs: every pool has a report due
        workdir = tmp_path_factory.mktemp("reorg-daemon")
        env = daemon_env(workdir, "r")
        start_block = net.w3.eth.block_number
        first = report(net, env)
        assert all(outcome(first, pool).startswith("landed") for pool in net.pools), first.stdout
        landed = {pool.address: net.reports(pool, from_block=start_block) for pool in net.pools}
        rows = journal_rows(workdir / "r.sqlite")
        blocks = [int(net.w3.eth.get_transaction_receipt(row[5])["blockNumber"]) for row in rows]
        finalized = int(net.beacon("/eth/v1/beacon/headers/finalized")["data"]["header"]["message"]["slot"])
        result = net.reorg_from_block(min(blocks))
        assert min(result["forgotten_slots"]) > finalized
        assert all(net.reports(pool, from_block=start_block) == [] for pool in net.pools)

        second = report(net, env)
        assert second.returncode == 0, second.stderr[-2000:]
        assert second.stderr.count("left the chain (reorganisation)") == len(rows), second.stderr[-3000:]
        for pool in net.pools:  # the same report once, then perhaps a newer one (rewards of a later epoch)
            assert net.reports(pool, from_block=start_block)[0] == landed[pool.address][0]
            assert len(net.reports(pool, from_block=start_block)) <= 2
        again = journal_rows(workdir / "r.sqlite")
        assert again[: len(rows)] == rows  # the same transactions, mined again; no row lost or duplicated
        for row in rows:
            assert net.w3.eth.get_transaction_receipt(row[5])["status"] == 1
    finally:
        net.stop()


def test_dead_endpoints_are_set_aside_for_the_next_ones(devnet: Devnet, tmp_path: Path) -> None:
    from oracle.devnet.anvil import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    env = daemon_env(
        tmp_path, "i",
        POOL_ORACLE_BEACON_ENDPOINTS=f"{dead},http://127.0.0.1:{devnet.beacon_port}",
        POOL_ORACLE_EXECUTION_ENDPOINTS=f"{dead},http://127.0.0.1:{devnet.rpc_port}",
    )  # fmt: skip
    result = report(devnet, env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "beacon endpoint set aside" in result.stderr and "execution endpoint set aside" in result.stderr
    assert all(outcome(result, pool) for pool in devnet.pools)


def test_a_stake_between_decision_and_signature_drops_the_report(devnet: Devnet, tmp_path: Path) -> None:
    """The report is decided, then a stake lands before it is signed: signing it would overwrite
    totalDeposits on grounds that no longer hold, so it is dropped as stale and nothing is sent."""
    pool = devnet.pools[5]
    drift_then_settle(devnet, pool)
    start_block = devnet.w3.eth.block_number
    env = daemon_env(tmp_path, "s", POOL_ORACLE_PAUSE_AT="after_prepare", POOL_ORACLE_PAUSE_SECONDS="6")
    proc = subprocess.Popen([*exe(), "report", "--once", "--yes", "--config", str(devnet.config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    journal = tmp_path / "s.sqlite"

    def prepared() -> bool:
        return journal.exists() and any(row[0] == pool.address for row in journal_rows(journal))

    deadline = time.monotonic() + 60
    while not prepared():
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.2)
    devnet.stake(pool, MIN_DEPOSIT)  # lands while the daemon waits between deciding and signing
    stdout, stderr = proc.communicate(timeout=120)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert outcome(result, pool).startswith("stale"), stdout + stderr[-2000:]
    assert "books moved" in stdout
    assert devnet.reports(pool, from_block=start_block) == []
    assert [row[3] for row in journal_rows(journal) if row[0] == pool.address] == ["stale"]


def test_a_second_reporter_with_another_key_sends_nothing_after_the_first(devnet: Devnet, tmp_path: Path) -> None:
    """Two keys holding FEEDER_ROLE share no nonce. A second reporter that comes after the first's report
    sends nothing: it re-reads totalDeposits, the mempool (txpool_content, others' transactions only) and
    the books right before signing. Two that sign within the same few milliseconds can both land: that
    window is what is left, best effort by design (no coordination between keys)."""
    from tests.faults.matrix import oracle_contract

    second_key = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"  # anvil development key 4
    oracle = oracle_contract(devnet)
    role = oracle.functions.FEEDER_ROLE().call()
    devnet.transact(oracle.functions.grantRole(role, "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"), sender=GOVERNANCE)
    (tmp_path / "second.key").write_text(second_key + "\n")
    (tmp_path / "second.key").chmod(0o600)
    pool = devnet.pools[6]
    start_block = devnet.w3.eth.block_number
    balance = drift_then_settle(devnet, pool)
    first = report(devnet, daemon_env(tmp_path, "k1"))
    assert outcome(first, pool).startswith("landed"), first.stdout + first.stderr[-2000:]
    second = report(devnet, daemon_env(tmp_path, "k2", POOL_ORACLE_SIGNER_KEY_FILE=str(tmp_path / "second.key")))
    assert outcome(second, pool).startswith("unchanged"), second.stdout
    assert devnet.reports(pool, from_block=start_block) == [balance * GWEI]

"""The staking-pool lifecycle of Berachain's contract reference, on the devnet, with the daemon at each stage
(docs/CONTRACTS.md maps each behaviour to its source): registration with the first deposit, activation with
proofs (built from the node's /bkit/v1/proof endpoints, as install-helpers/activate.sh does), the active
threshold, the withdrawal cooldown, withdrawals in flight for longer than the old 64-block window, a report
below a pool's minimum effective balance (it lands: the audited report has no minimum rule), the full exit by a
withdrawal, a CL-forced exit closed by the report of 0, the factory's generalized indices changing, and the
Ownable oracle."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak
from web3.exceptions import ContractCustomError, ContractLogicError

from oracle.execution.el import decode_revert
from tests.daemon.harness import (
    ETHER,
    GOVERNANCE,
    GWEI,
    MIN_DEPOSIT,
    USER,
    Devnet,
    Pool,
    daemon_env,
    exe,
    report,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
# Longer than a `report` run takes on a loaded machine (~9 s): a stake is still in flight when it proves.
DEPOSIT_DELAY = 12
DEFAULT_DEPOSIT_DELAY = 4  # `pool-oracle devnet`'s
SLOTS_PER_EPOCH = 8
WITHDRAWAL_DELAY_EPOCHS = 10  # the CL pays ~88 slots (blocks) after the request: past the old 64-block window
BEACON_ROOTS = "0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02"
ZERO = "0x" + "00" * 20


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    net = Devnet(
        tmp_path_factory.mktemp("lifecycle"), "--validators", "6", "--pools", "3",
        "--slots-per-epoch", str(SLOTS_PER_EPOCH), "--deposit-delay-slots", str(DEPOSIT_DELAY),
        "--withdrawal-delay-epochs", str(WITHDRAWAL_DELAY_EPOCHS),
    )  # fmt: skip
    yield net
    net.stop()


def outcome(result: subprocess.CompletedProcess[str], address: str) -> str:
    for line in result.stdout.splitlines():
        if line.startswith(address):
            return line.split(maxsplit=2)[2].split("  ")[-1].strip()
    raise AssertionError(f"pool {address} not in the report:\n{result.stdout}\n{result.stderr[-3000:]}")


def revert_of(call: Any, sender: str, value: int = 0) -> str:
    try:
        call.call({"from": sender, "value": value})
    except (ContractCustomError, ContractLogicError) as exc:
        return decode_revert(getattr(exc, "data", None))
    return "no revert"


def validator_index(devnet: Devnet, pubkey: bytes, deadline_s: float = 30) -> int:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for entry in devnet.beacon("/eth/v1/beacon/states/head/validators")["data"]:
            if entry["validator"]["pubkey"] == "0x" + pubkey.hex():
                return int(entry["index"])
        time.sleep(0.5)
    raise AssertionError("the CL never added the registered validator")


def proof(devnet: Devnet, kind: str, timestamp: int, index: int) -> dict[str, Any]:
    return devnet.beacon(f"/bkit/v1/proof/{kind}/t{timestamp}/{index}")  # type: ignore[no-any-return]


def activate(devnet: Devnet, pubkey: bytes, index: int) -> str:
    """install-helpers/activate.sh: proofs of one slot from the node's proof endpoints, keyed by the EIP-4788
    timestamp that carries its block root, then factory.activateStakingPool."""
    timestamp = int(devnet.w3.eth.get_block("latest")["timestamp"])
    keyed = proof(devnet, "validator_pubkey", timestamp, index)
    credentials = proof(devnet, "validator_credentials", timestamp, index)
    balance = proof(devnet, "validator_balance", timestamp, index)
    assert keyed["beacon_block_root"] == credentials["beacon_block_root"] == balance["beacon_block_root"]
    hexes = lambda items: [bytes.fromhex(x[2:]) for x in items]  # noqa: E731
    call = devnet.factory.functions.activateStakingPool(
        (pubkey, bytes.fromhex(credentials["validator_withdrawal_credentials"][2:]),
         int(balance["validator_balance"], 16), index),
        (hexes(keyed["validator_pubkey_proof"]), hexes(credentials["withdrawal_credentials_proof"]),
         hexes(balance["balance_proof"]), bytes.fromhex(balance["balance_leaf"][2:])),
        timestamp,
    )  # fmt: skip
    return devnet.transact(call, sender=USER, gas=2_000_000)  # permissionless


def pool_view(devnet: Devnet, pool: Pool, fn: str, *args: Any) -> Any:
    return getattr(devnet.pool(pool).functions, fn)(*args).call()


def wait_until(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def test_registration_activation_threshold_and_cooldown(devnet: Devnet, tmp_path: Path) -> None:
    pubkey = keccak(text="lifecycle-1") + keccak(text="lifecycle-2")[:16]
    credentials = b"\x01" + b"\x00" * 11 + bytes.fromhex(devnet.settings["contracts"]["withdrawal_vault"][2:])
    register = devnet.factory.functions.deployStakingPoolContracts(pubkey, credentials, b"\x00" * 96, GOVERNANCE,
                                                                  GOVERNANCE)  # fmt: skip
    assert revert_of(register, GOVERNANCE, value=MIN_DEPOSIT - GWEI) == "InvalidFirstDepositAmount"
    devnet.transact(register, value=MIN_DEPOSIT, sender=GOVERNANCE, gas=8_000_000)
    core = devnet.factory.functions.getCoreContracts(pubkey).call()
    # The first deposit named the pool's SmartOperator as the validator's operator; a later deposit may not.
    assert devnet.deposit.functions.getOperator(pubkey).call() == core[0]
    again = devnet.deposit.functions.deposit(pubkey, credentials, b"\x00" * 96, USER)
    assert revert_of(again, USER, value=MIN_DEPOSIT) == "OperatorAlreadySet"
    small = devnet.deposit.functions.deposit(pubkey, credentials, b"\x00" * 96, ZERO)
    assert revert_of(small, USER, value=MIN_DEPOSIT - GWEI) == "InsufficientDeposit"
    index = validator_index(devnet, pubkey)
    pool = Pool(index, pubkey, core[1])
    assert not pool_view(devnet, pool, "isActive") and pool_view(devnet, pool, "paused")
    assert revert_of(devnet.pool(pool).functions.submit(USER), USER, value=ETHER) == "EnforcedPause"
    env = daemon_env(tmp_path, "lifecycle")
    # The head has the validator; the slot the daemon proves (the one whose root the latest EL block carries)
    # is the one before: wait a slot so that it has it too.
    devnet.wait_slots(1)
    assert outcome(report(devnet, env), pool.address) == "skipped (not_activated)"  # not "paused"

    activate(devnet, pubkey, index)
    assert pool_view(devnet, pool, "isActive") and not pool_view(devnet, pool, "activeThresholdReached")
    assert pool_view(devnet, pool, "totalDeposits") == MIN_DEPOSIT  # the proven first deposit, booked
    result = report(devnet, env)
    assert outcome(result, pool.address) == "unchanged", result.stdout

    # Stake up to the threshold: all of it goes to the CL at once; the daemon holds until the CL credits it.
    devnet.stake(pool, 240_000 * ETHER)
    assert pool_view(devnet, pool, "activeThresholdReached")
    assert pool_view(devnet, pool, "totalDeposits") == 250_000 * ETHER
    # (a report of the CL's 10,000 would also cross both bounds: every reason is named)
    assert outcome(report(devnet, env), pool.address).startswith("held (deposit_in_flight, change_exceeds")
    wait_until(lambda: devnet.cl_balance(pool) == 250_000 * GWEI, 30, "the CL never credited the stake")
    devnet.wait_slots(1)
    assert outcome(report(devnet, env), pool.address) == "unchanged"
    # Withdrawals wait ENABLE_WITHDRAWAL_COOLDOWN_BLOCKS (43,200) after the threshold.
    withdraw = devnet.vault.functions.requestWithdrawal(pubkey, 1 * GWEI, 1)
    assert revert_of(withdraw, USER, value=1) == "WithdrawalNotAllowed"
    assert devnet.reports(pool) == []


def test_withdrawal_in_flight_past_the_old_event_window_holds(devnet: Devnet, tmp_path: Path) -> None:
    """The CL pays this request ~80 blocks after it: the daemon holds throughout (the vault's
    allocatedWithdrawalsAmount and the CL's queue), also after the 64 blocks the old event window covered."""
    pool = devnet.pools[0]
    start = devnet.w3.eth.block_number
    devnet.request_withdrawal(pool, 2_000 * GWEI, sender=GOVERNANCE)  # the genesis shares' holder
    assert devnet.vault.functions.allocatedWithdrawalsAmount(pool.pubkey).call() == 2_000 * ETHER
    devnet.top_up(pool, MIN_DEPOSIT)  # a report falls due meanwhile
    env = daemon_env(tmp_path, "withdrawal")
    first = outcome(report(devnet, env), pool.address)
    assert first.startswith("held (") and "withdrawal_in_flight" in first
    wait_until(lambda: devnet.w3.eth.block_number > start + 66, 120, "the devnet stopped")
    balance = devnet.cl_balance(pool)
    assert balance * GWEI > devnet.total_deposits(pool)  # not paid yet, past the old window
    late = report(devnet, env)
    assert outcome(late, pool.address) == "held (withdrawal_in_flight)", late.stdout
    assert devnet.reports(pool) == []
    wait_until(lambda: devnet.cl_balance(pool) < balance, 60, "the CL never paid the withdrawal")
    # Paid: the request still counts until it leaves the flight window (the devnet's: 89 blocks).
    wait_until(lambda: devnet.w3.eth.block_number > start + 96, 60, "the devnet stopped")
    landed = report(devnet, env)
    assert outcome(landed, pool.address).startswith("landed"), landed.stdout
    assert devnet.total_deposits(pool) == devnet.cl_balance(pool) * GWEI  # the top-up, after the payout


def test_a_report_below_the_minimum_effective_balance_lands(devnet: Devnet, tmp_path: Path) -> None:
    """The audited StakingPool.updateTotalDeposits (May 2026 audit, I-2) has no minimum rule: a report below
    minEffectiveBalance overwrites totalDeposits and the pool stays open (the minimum bites on the next
    withdrawal request, notifyWithdrawalRequest). The daemon sends it, and says what follows."""
    pool = devnet.pools[1]
    total = devnet.total_deposits(pool)
    raise_min = devnet.pool(pool).functions.setMinEffectiveBalance(total + 2 * MIN_DEPOSIT)
    devnet.transact(raise_min, sender=GOVERNANCE)
    try:
        before = devnet.cl_balance(pool)
        devnet.top_up(pool, MIN_DEPOSIT)
        wait_until(lambda: devnet.cl_balance(pool) > before, 30, "the CL never credited the top-up")
        devnet.wait_slots(1)  # credited at head; the proven slot is the one before
        landed = report(devnet, daemon_env(tmp_path, "minimum"))
        assert outcome(landed, pool.address).startswith("landed"), landed.stdout
        assert any("minEffectiveBalance" in line and '"warning"' in line for line in landed.stderr.splitlines())
        assert devnet.reports(pool) == [total + MIN_DEPOSIT] and not pool_view(devnet, pool, "isFullyExited")
    finally:
        devnet.transact(devnet.pool(pool).functions.setMinEffectiveBalance(250_000 * ETHER), sender=GOVERNANCE)


def test_full_exit_and_cl_forced_exit(devnet: Devnet, tmp_path: Path) -> None:
    """Pool 1 exits as the audited contracts do it (a withdrawal whose CL portion leaves totalDeposits below the
    minimum: frozen total assets, isFullyExited, paused; nobody asks for 0). Pool 2's validator is exited by the
    CL itself while its pool is open: named in the logs and held while it still has a balance, then, once
    swept, the daemon's report of 0 closes the pool (total assets frozen, the vault told) and a staker redeems
    from the vault."""
    exiting, evicted = devnet.pools[1], devnet.pools[2]
    assert revert_of(devnet.vault.functions.requestWithdrawal(exiting.pubkey, 0, 1), GOVERNANCE, value=1) == \
        "InvalidAmount"  # fmt: skip
    price = pool_view(devnet, exiting, "convertToAssets", ETHER)
    excess = devnet.total_deposits(exiting) - pool_view(devnet, exiting, "minEffectiveBalance")
    devnet.request_withdrawal(exiting, excess // GWEI + 1, sender=GOVERNANCE)
    assert pool_view(devnet, exiting, "isFullyExited") and pool_view(devnet, exiting, "paused")
    assert not pool_view(devnet, exiting, "isActive")
    assert pool_view(devnet, exiting, "convertToAssets", ETHER) == price  # total assets frozen
    assert revert_of(devnet.pool(exiting).functions.submit(USER), USER, value=ETHER) == "StakingPoolFullExited"

    # The evicted pool: a top-up the books have not seen (a report is due), a stake in its buffer, then the CL
    # exits the validator by itself.
    before = devnet.cl_balance(evicted)
    devnet.top_up(evicted, MIN_DEPOSIT)
    devnet.stake(evicted, MIN_DEPOSIT // 2)  # below a CL deposit's minimum: stays buffered
    wait_until(lambda: devnet.cl_balance(evicted) > before, 30, "the CL never credited the top-up")
    devnet.control(f"/devnet/v1/validators/{evicted.index}/exit")
    devnet.wait_slots(1)
    env = daemon_env(tmp_path, "exits")
    assert devnet.cl_balance(evicted, "head") > 0
    result = report(devnet, env)
    assert outcome(result, exiting.address) == "skipped (fully_exited)"
    assert outcome(result, evicted.address).startswith("held (") and "cl_forced_exit" in outcome(
        result, evicted.address
    ), result.stdout
    assert any("CL-forced exit" in line for line in result.stderr.splitlines())
    assert devnet.reports(evicted) == [] and not pool_view(devnet, evicted, "isFullyExited")  # no report yet

    wait_until(lambda: devnet.cl_balance(evicted) == 0, 150, "the CL never swept the exited validator")
    devnet.wait_slots(1)
    assets, price = pool_view(devnet, evicted, "totalAssets"), pool_view(devnet, evicted, "convertToAssets", ETHER)
    closed = report(devnet, env)
    assert outcome(closed, evicted.address).startswith("landed"), closed.stdout + closed.stderr[-3000:]
    assert any("CL-forced exit" in line for line in closed.stderr.splitlines())
    assert pool_view(devnet, evicted, "isFullyExited") and pool_view(devnet, evicted, "paused")
    assert pool_view(devnet, evicted, "totalAssets") == assets  # frozen at what the pool held, as audited
    assert pool_view(devnet, evicted, "convertToAssets", ETHER) == price
    assert devnet.reports(evicted) == []  # the report of 0 overwrote nothing: it closed the pool

    # A staker redeems from the vault: at the frozen price, no CL request (the fee comes back), paid once the
    # finalization delay has passed from what the vault holds.
    shares = pool_view(devnet, evicted, "balanceOf", GOVERNANCE) // 2
    owed = pool_view(devnet, evicted, "previewRedeem", shares) // GWEI * GWEI
    start = devnet.w3.eth.block_number
    devnet.transact(devnet.vault.functions.requestRedeem(evicted.pubkey, shares, 1), value=1, sender=GOVERNANCE)
    vault = devnet.vault.events
    assert len(vault.ELWithdrawalTriggered.get_logs(from_block=start + 1)) == 0
    (requested,) = vault.WithdrawalRequested.get_logs(from_block=start + 1)
    assert requested["args"]["amountOfAsset"] == owed and requested["args"]["isFullExitWithdraw"]
    assert devnet.w3.eth.get_balance(devnet.vault.address) >= owed
    finalize = devnet.vault.functions.finalizeWithdrawalRequest(requested["args"]["requestId"])
    assert revert_of(finalize, USER) == "RequestNotReady"  # anyone may, after 129,600 blocks
    again = report(devnet, env)
    assert outcome(again, evicted.address) == "skipped (fully_exited)"


def test_a_gindex_change_on_the_factory_stops_reports_until_it_matches(devnet: Devnet, tmp_path: Path) -> None:
    pool = devnet.pools[0]
    original = devnet.factory.functions.zeroValidatorBalanceGIndex().call()
    devnet.transact(devnet.factory.functions.setZeroValidatorBalanceGIndex(original + 1), sender=GOVERNANCE)
    try:
        check = subprocess.run([*exe(), "check", "--config", str(devnet.config)], capture_output=True, text=True,
                               timeout=120, env=daemon_env(tmp_path, "gindex"))  # fmt: skip
        assert check.returncode == 1
        assert f"factory zeroValidatorBalanceGIndex is {original + 1}" in check.stdout, check.stdout
        before = devnet.cl_balance(pool)
        devnet.top_up(pool, MIN_DEPOSIT)
        wait_until(lambda: devnet.cl_balance(pool) > before, 30, "the CL never credited the top-up")
        devnet.wait_slots(1)  # credited at head; the proven slot is the one before
        refused = report(devnet, daemon_env(tmp_path, "gindex"))
        assert outcome(refused, pool.address) == "preflight_failed (gindex_mismatch)", refused.stdout
    finally:
        devnet.transact(devnet.factory.functions.setZeroValidatorBalanceGIndex(original), sender=GOVERNANCE)
    landed = report(devnet, daemon_env(tmp_path, "gindex"))
    assert outcome(landed, pool.address).startswith("landed"), landed.stdout


def test_the_ownable_oracle_is_recognised(tmp_path_factory: pytest.TempPathFactory) -> None:
    net = Devnet(tmp_path_factory.mktemp("ownable"), "--validators", "3", "--pools", "1", "--ownable-oracle")
    try:
        workdir = tmp_path_factory.mktemp("ownable-daemon")
        check = subprocess.run([*exe(), "check", "--config", str(net.config)], capture_output=True, text=True,
                               timeout=120, env=daemon_env(workdir, "owner"))  # fmt: skip
        assert "Ownable oracle, this key is the owner: it can report" in check.stdout, check.stdout
        pool = net.pools[0]
        net.top_up(pool, MIN_DEPOSIT)
        net.wait_slots(DEFAULT_DEPOSIT_DELAY + 2)
        landed = report(net, daemon_env(workdir, "owner"))
        assert outcome(landed, pool.address).startswith("landed"), landed.stdout
        other = tmp_path_factory.mktemp("other") / "other.key"
        other.write_text("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a\n")
        other.chmod(0o600)
        env = daemon_env(workdir, "other", POOL_ORACLE_SIGNER_KEY_FILE=str(other))
        check = subprocess.run([*exe(), "check", "--config", str(net.config)], capture_output=True, text=True,
                               timeout=120, env=env)  # fmt: skip
        assert "Ownable oracle, this key is NOT the owner: audit mode" in check.stdout, check.stdout
    finally:
        net.stop()


def test_the_daily_bound_counts_every_report_on_chain(devnet: Devnet, tmp_path: Path) -> None:
    """Pool 0 was moved twice today (the withdrawal and gindex tests, 10,000 BERA each, other journals). A
    fresh journal lands a third move (30,000 <= 10% of totalDeposits) and holds a fourth: the bound counts
    the chain's TotalDepositsUpdated events, not this journal's rows."""
    pool = devnet.pools[0]
    assert len(devnet.reports(pool)) == 2
    for name, expected in (("third", "landed"), ("fourth", "held (change_exceeds_daily_bound)")):
        before = devnet.cl_balance(pool)
        devnet.top_up(pool, MIN_DEPOSIT)
        wait_until(lambda: devnet.cl_balance(pool) > before, 30, "the CL never credited the top-up")  # noqa: B023
        devnet.wait_slots(1)
        # A journal that has seen nothing. Top-ups seen on chain explain their move, and net of them there is
        # nothing for the bound to count: a one-block deposit lookback hides them, so each move counts whole.
        result = report(devnet, daemon_env(tmp_path, name, POOL_ORACLE_REPORTING_DEPOSIT_LOOKBACK_BLOCKS="1"))
        assert outcome(result, pool.address).startswith(expected), result.stdout
    assert len(devnet.reports(pool)) == 3

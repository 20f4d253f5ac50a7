"""The daemon's settings: one typed object, each field with its default and help text, from which
`pool-oracle config-reference` generates the configuration reference. `loading` reads and validates it
(YAML, optionally on top of a network preset, with `POOL_ORACLE_<SECTION>_<KEY>` environment overrides).

Secrets never live here: the signer is named by file paths (a keystore plus a password file, or a key
file), read only when the signer is loaded.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, get_origin, get_type_hints

from oracle.ssz.layouts import LAYOUT_NAMES

ENV_PREFIX = "POOL_ORACLE_"


class ConfigError(Exception):
    """Invalid configuration: `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def setting(default: Any, help: str, *, secret_path: bool = False, factory: Any = None) -> Any:
    metadata = {"help": help, "secret_path": secret_path}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Contracts:
    factory: str = setting("", "StakingPoolContractsFactory address (required).")
    withdrawal_vault: str = setting("", "WithdrawalVault address; read from the factory when empty.")
    accounting_oracle: str = setting("", "AccountingOracle address; read from the factory when empty.")
    beacon_deposit: str = setting(
        "0x4242424242424242424242424242424242424242",
        "Deposit contract whose deposit events (Berachain's Deposit, or Ethereum's DepositEvent) show deposits "
        "in flight.",
    )


@dataclass(frozen=True)
class Signer:
    keystore_file: str = setting("", "Encrypted JSON keystore of the reporting key.", secret_path=True)
    password_file: str = setting("", "File holding the keystore's password.", secret_path=True)
    key_file: str = setting("", "File holding a raw hex private key (instead of a keystore).", secret_path=True)

    @property
    def configured(self) -> bool:
        return bool(self.keystore_file or self.key_file)


@dataclass(frozen=True)
class Reporting:
    interval_seconds: float = setting(30.0, "Time between the starts of two report cycles.")
    cycle_timeout_seconds: float = setting(180.0, "A cycle running longer is cancelled and counted as an error.")
    max_change_per_report: float = setting(
        0.05,
        "Hold a report that moves totalDeposits by more than this fraction of it, beyond what deposits the pool "
        "did not book (top-ups, seen on chain and credited by the CL since its last report) explain.",
    )
    max_change_per_day: float = setting(
        0.10,
        "Hold reports that would move totalDeposits by more than this in 24 h (every report on chain, net of top-ups).",
    )
    timestamp_margin_seconds: int = setting(
        120, "Hold a report whose proof would be within this of MAX_TIMESTAMP_AGE when it lands."
    )
    deposit_lookback_blocks: int = setting(
        4096, "How far back to look for deposit events not yet credited on the CL; beyond it, hold all pools."
    )
    withdrawal_lookback_blocks: int = setting(
        49_153,
        "EL withdrawal requests this many blocks before the proven slot's may not be paid by the CL yet: while the "
        "vault's allocatedWithdrawalsAmount for the validator is not zero, its reports wait (Berachain's "
        "WITHDRAWAL_FLIGHT_BLOCK_DELAY, 49,153; the CL's own queue of pending withdrawals counts as well).",
    )
    cross_check_state: bool = setting(
        True,
        "beacon-kit: fetch the node's own proofs (/bkit/v1/proof) too and verify them beside our engine's, proofs "
        "built from the node's state (both against the EIP-4788 root); off: our engine's alone, two requests "
        "fewer per pool.",
    )
    send_jitter_max_seconds: float = setting(
        2.0,
        "Before sending, wait a random time up to this and re-check, so that two reporters do not both send.",
    )
    min_drift_gwei: int = setting(
        0,
        "A report is due only when the proven balance differs from totalDeposits by at least this (gwei; either "
        "way): on Ethereum every epoch's rewards move it, and reporting each one spends more in gas than it "
        "books. 0: any change (beacon-kit applies no rewards). Holds apply as ever to a report that is due.",
    )
    dry_run: bool = setting(False, "Prove, reconcile and pre-flight, but never send.")


@dataclass(frozen=True)
class Transactions:
    max_fee_gwei: float = setting(500.0, "Hard ceiling on maxFeePerGas; a report that needs more waits.")
    priority_fee_gwei: float = setting(1.0, "Minimum priority fee; the eth_feeHistory median is used when higher.")
    fee_bump_percent: float = setting(12.5, "Fee increase when replacing a stuck transaction (nodes require >= 10%).")
    replace_after_seconds: float = setting(45.0, "Replace a transaction not mined within this time.")
    receipt_timeout_seconds: float = setting(
        120.0,
        "Stop waiting for a receipt within a cycle after this long (below reporting.cycle_timeout_seconds); "
        "the transaction stays in the journal and the next cycle follows it first.",
    )
    gas_limit_margin: float = setting(1.25, "Gas limit = estimate x this margin.")


@dataclass(frozen=True)
class Endpoints:
    request_timeout_seconds: float = setting(10.0, "Timeout of one HTTP request to a node.")
    retry_budget_seconds: float = setting(20.0, "Retries of one call stop after this long (then the next endpoint).")
    max_head_lag_slots: int = setting(4, "A beacon endpoint whose head trails the best by more is set aside.")
    max_block_age_seconds: int = setting(120, "An EL endpoint whose latest block is older is set aside.")
    log_range_blocks: int = setting(
        10_000,
        "The widest block range of one eth_getLogs request. An EL endpoint that refuses a range (its provider "
        "caps them lower) gets ranges half as wide, down to 8 blocks, for the life of the process.",
    )
    max_json_state_megabytes: int = setting(
        64,
        "beacon-kit: a JSON debug state longer than this (MiB) is refused. Berachain mainnet's, a few hundred "
        "validators, is ~6 MB (its randao_mixes and root lists ~5.6 MB, ~0.5 KB per validator): 64 leaves room "
        "for ~100,000 validators. (Ethereum clients' SSZ states are read into one buffer, capped at 2 GiB.)",
    )


@dataclass(frozen=True)
class Service:
    metrics_address: str = setting("127.0.0.1:9464", "host:port (or [IPv6]:port) of the metrics and health server.")
    journal_path: str = setting(
        "pool-oracle.sqlite",
        "SQLite journal of every report (put it on a volume); a relative path is taken from the config file's "
        "folder, not the working directory, so that a restart from elsewhere finds its in-flight transactions.",
    )
    log_format: str = setting("auto", "auto (console on a terminal, else JSON), json or console.")
    log_level: str = setting("info", "debug, info, warning or error.")
    watchdog_seconds: float = setting(
        600.0,
        "/healthz fails when no cycle has finished for this long; it must exceed reporting.interval_seconds + "
        "reporting.cycle_timeout_seconds (the longest time between two cycle ends), or a liveness probe restarts "
        "the daemon in a cycle it is allowed to run.",
    )
    stop_grace_seconds: float = setting(
        5.0,
        "On SIGTERM or SIGINT, the cycle in progress gets this long to end by itself (a report being sent is "
        "broadcast, its receipt awaited), then it is cancelled where it waits: a transaction is journalled "
        "before it is broadcast, and the next start follows it. Keep it below the orchestrator's grace period.",
    )


@dataclass(frozen=True)
class Keeper:
    enabled: bool = setting(
        False,
        "Do the pools' permissionless duties after each cycle's reports (any key with gas; FEEDER_ROLE is not "
        "needed). Without a signer the duties due are only logged and counted.",
    )
    pools: tuple[str, ...] = setting(
        None, "StakingPool addresses whose duties this keeper does; empty: every pool discovered.", factory=tuple
    )
    gas_budget_per_cycle: int = setting(
        3_000_000, "Gas (limits, estimate x transactions.gas_limit_margin) the keeper may spend in one cycle."
    )
    activation: bool = setting(
        True,
        "activateStakingPool for a registered pool once its validator is on the CL with its first deposit (three "
        "proofs from our engine at one slot).",
    )
    finalize_withdrawals: bool = setting(
        True, "finalizeWithdrawalRequests for the stakers' requests whose delay has passed and that the vault can pay."
    )
    finalize_lookback_blocks: int = setting(
        518_400,
        "How far back to look for withdrawal requests not finalized yet (read once, then incrementally); four "
        "times Berachain's 129,600-block finalization delay.",
    )
    max_finalize_batch: int = setting(50, "At most this many requests in one finalizeWithdrawalRequests.")
    process_rewards: bool = setting(
        True, "processRewards when a pool's StakingRewardsVault holds at least keeper.min_rewards_gwei."
    )
    min_rewards_gwei: int = setting(
        100_000_000_000, "Rewards waiting (gwei) that make processRewards due (default 100 BERA / ETH)."
    )
    retry_full_exit: bool = setting(
        True,
        "retryFullExit (payable) for a fully exited pool whose validator is still active on the CL "
        "keeper.retry_full_exit_after_blocks after the exit was triggered (its EIP-7002 request was dropped).",
    )
    retry_full_exit_after_blocks: int = setting(
        49_153,
        "Blocks after FullExitTriggered before an exit counts as dropped (Berachain's WITHDRAWAL_FLIGHT_BLOCK_DELAY).",
    )
    max_exit_fee_gwei: float = setting(
        10_000_000.0,
        "Most that retryFullExit pays for the EIP-7002 request fee (getWithdrawalRequestFee, which rises "
        "exponentially with the queue); above it the retry waits (default 0.01 BERA / ETH).",
    )


@dataclass(frozen=True)
class SetPools:
    addresses: tuple[str, ...] = setting(
        None,
        "ValidatorSetPool addresses (many validators each, on Ethereum layouts) whose balances this daemon "
        "reports with SSZ multiproofs in batches; empty: none.",
        factory=tuple,
    )
    report_interval_seconds: int = setting(
        86_400, "Start a report when the last completed one is this old (or its drift passes min_drift_gwei)."
    )
    min_drift_gwei: int = setting(
        1_000_000_000_000,
        "Start a report earlier when the validators' proven total moved this much since the last one (1,000 ETH).",
    )
    max_change_per_report: float = setting(
        0.02,
        "Hold a report that would move totalAssets by more than this fraction (Rocket Pool allows 2 % per update).",
    )
    max_change_per_day: float = setting(
        0.05, "Hold a report whose move, with the completed reports of the last day, passes this fraction."
    )
    max_calldata_bytes: int = setting(120_000, "Calldata of one batch (geth's pool refuses transactions over 128 KiB).")
    max_batch_gas: int = setting(
        15_000_000, "Gas limit of one batch (EIP-7825 caps a transaction at 2^24 = 16,777,216)."
    )
    compact_proofs: bool = setting(
        True,
        "Take the batches' nodes from a Lodestar node's compact state multiproofs (GET /eth/v0/beacon/proof/state, "
        "`--rest.namespace proof`) when it serves them, instead of downloading and merkleizing the whole state.",
    )
    complete_others: bool = setting(
        True,
        "Send the batches of a report someone else started (proveBalances is permissionless: any key with gas).",
    )


@dataclass(frozen=True)
class Settings:
    network: str = setting("custom", "Network name, used in metrics and logs.")
    chain_id: int = setting(0, "EL chain id every endpoint must report (required).")
    layout: str = setting("beaconkit-electra", f"Beacon state layout: one of {', '.join(LAYOUT_NAMES)}.")
    genesis_validators_root: str = setting(
        "", "The network's genesis_validators_root (0x-hex); a beacon node of another network is refused."
    )
    beacon_endpoints: tuple[str, ...] = setting(None, "Beacon API URLs, in order of preference.", factory=tuple)
    execution_endpoints: tuple[str, ...] = setting(None, "EL JSON-RPC URLs, in order of preference.", factory=tuple)
    contracts: Contracts = field(default_factory=Contracts, metadata={"help": ""})
    signer: Signer = field(default_factory=Signer, metadata={"help": ""})
    reporting: Reporting = field(default_factory=Reporting, metadata={"help": ""})
    transactions: Transactions = field(default_factory=Transactions, metadata={"help": ""})
    endpoints: Endpoints = field(default_factory=Endpoints, metadata={"help": ""})
    service: Service = field(default_factory=Service, metadata={"help": ""})
    keeper: Keeper = field(default_factory=Keeper, metadata={"help": ""})
    set_pools: SetPools = field(default_factory=SetPools, metadata={"help": ""})

    @property
    def audit_only(self) -> bool:
        return not self.signer.configured

    @property
    def beaconkit(self) -> bool:
        return self.layout.startswith("beaconkit")


SECTIONS = {name: kind for name, kind in get_type_hints(Settings).items() if dataclasses.is_dataclass(kind)}


def iter_reference() -> list[tuple[str, str, str, str]]:
    """(key, environment variable, default, help) for every setting."""
    rows = []
    hints = get_type_hints(Settings)
    for f in dataclasses.fields(Settings):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            sub_hints = get_type_hints(kind)
            for sub in dataclasses.fields(kind):
                default = sub.default
                rows.append(
                    (
                        f"{f.name}.{sub.name}",
                        f"{ENV_PREFIX}{f.name.upper()}_{sub.name.upper()}",
                        _show(default, sub_hints[sub.name]),
                        sub.metadata["help"],
                    )
                )
        else:
            default = f.default if f.default is not dataclasses.MISSING else ()
            rows.append((f.name, f"{ENV_PREFIX}{f.name.upper()}", _show(default, kind), f.metadata["help"]))
    return rows


def _show(default: Any, kind: Any) -> str:
    if get_origin(kind) is tuple or default == ():
        return "(none)"
    if default == "" or default is None:
        return "(empty)"
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)

"""Metrics, grouped by concern, all `pool_oracle_`-prefixed with units in the names. The registry is the
project's only module-level mutable state."""

from __future__ import annotations

from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

REGISTRY = CollectorRegistry(auto_describe=True)
POOL_LABELS = ["network", "pool", "validator_index"]
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def endpoint_label(url: str) -> str:
    """host:port of an endpoint URL: paths and queries often carry API keys and never reach metrics or logs."""
    parts = urlsplit(url)
    host = parts.hostname or "unknown"
    try:
        port = parts.port
    except ValueError:  # out of range or not a number: the settings refuse it, a label never raises
        port = None
    return f"{host}:{port}" if port else host


def endpoint_labels(urls: list[str] | tuple[str, ...]) -> list[str]:
    """One label per endpoint, unique: two on one host:port (an API gateway's two keys or paths) are told apart
    by their rank among those, `host:port#2` for the second, as their paths never reach a label."""
    labels, seen = [], dict[str, int]()
    for url in urls:
        label = endpoint_label(url)
        seen[label] = seen.get(label, 0) + 1
        labels.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return labels


# Build and mode
BUILD = Info("pool_oracle_build", "Version, network, layout and mode (reporter or auditor).", registry=REGISTRY)

# The cycle
CYCLES = Counter("pool_oracle_cycles_total", "Report cycles by result.", ["result"], registry=REGISTRY)
CYCLE_SECONDS = Histogram(
    "pool_oracle_cycle_duration_seconds", "Duration of report cycles.", ["result"], registry=REGISTRY,
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)  # fmt: skip
LAST_CYCLE = Gauge(
    "pool_oracle_last_cycle_timestamp_seconds",
    "When a cycle last ended, by result.",
    ["result"],
    registry=REGISTRY,
)
HEAD_SLOT = Gauge("pool_oracle_head_slot", "Head slot of the preferred beacon endpoint.", registry=REGISTRY)
FINALIZED_SLOT = Gauge(
    "pool_oracle_finalized_slot", "Finalized slot of the preferred beacon endpoint.", registry=REGISTRY
)
PROVEN_SLOT = Gauge("pool_oracle_proven_slot", "Slot the last cycle proved.", registry=REGISTRY)
POOLS = Gauge(
    "pool_oracle_pools",
    "Discovered pools by state (active, below_threshold, not_activated, paused, exited, operator_mismatch).",
    ["state"],
    registry=REGISTRY,
)
CONTRACT_MISMATCH = Gauge(
    "pool_oracle_contract_mismatch",
    "1 while the deployed contracts disagree with this daemon (gindex: the factory's generalized indices are "
    "not the layout's; no report can land).",
    ["what"],
    registry=REGISTRY,
)
JOURNAL_ERRORS = Counter(
    "pool_oracle_journal_errors_total",
    "Cycles stopped because the journal could not be read or written (disk full, read-only, I/O): nothing is "
    "signed that the journal has not recorded.",
    registry=REGISTRY,
)
CL_FORCED_EXIT = Gauge(
    "pool_oracle_cl_forced_exit",
    "1 while the CL exits a pool's validator by itself (the pool never triggered a full exit), until the report "
    "of 0 that closes the pool lands.",
    POOL_LABELS,
    registry=REGISTRY,
)

# Per pool
PROVEN_BALANCE = Gauge(
    "pool_oracle_proven_balance_gwei", "Validator CL balance proven against the block root.", POOL_LABELS,
    registry=REGISTRY,
)  # fmt: skip
ONCHAIN_DEPOSITS = Gauge(
    "pool_oracle_onchain_total_deposits_gwei",
    "The pool's totalDeposits on chain.",
    POOL_LABELS,
    registry=REGISTRY,
)
DRIFT = Gauge("pool_oracle_drift_gwei", "Proven balance minus on-chain totalDeposits.", POOL_LABELS, registry=REGISTRY)
SHARE_PRICE = Gauge(
    "pool_oracle_share_price",
    "convertToAssets(1e18) / 1e18: assets per share now.",
    POOL_LABELS,
    registry=REGISTRY,
)
PREDICTED_SHARE_PRICE = Gauge(
    "pool_oracle_predicted_share_price", "Assets per share if the proven balance were reported.", POOL_LABELS,
    registry=REGISTRY,
)  # fmt: skip
LAST_REPORT_SLOT = Gauge(
    "pool_oracle_last_report_slot",
    "Slot of the last report that landed for the pool.",
    POOL_LABELS,
    registry=REGISTRY,
)
LAST_REPORT_TIME = Gauge(
    "pool_oracle_last_report_timestamp_seconds", "When the last report for the pool landed.", POOL_LABELS,
    registry=REGISTRY,
)  # fmt: skip
HOLD = Gauge(
    "pool_oracle_hold",
    "1 while the pool's report is held, by reason.",
    [*POOL_LABELS, "reason"],
    registry=REGISTRY,
)
HOLDS = Counter("pool_oracle_holds_total", "Reports held, by reason.", ["reason"], registry=REGISTRY)
REPORTS = Counter(
    "pool_oracle_reports_total", "Per-pool cycle outcomes (landed, unchanged, held, audit_drift, failed, ...).",
    ["outcome"], registry=REGISTRY,
)  # fmt: skip

# Proofs
PROOF_BUILD_SECONDS = Histogram(
    "pool_oracle_proof_build_seconds", "Time to obtain a pool's proofs, by source (node, engine).", ["source"],
    registry=REGISTRY, buckets=LATENCY_BUCKETS,
)  # fmt: skip
PROOF_VERIFY_SECONDS = Histogram(
    "pool_oracle_proof_verification_seconds", "Time to verify proofs locally.", registry=REGISTRY,
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
PROOF_FAILURES = Counter(
    "pool_oracle_proof_verification_failures_total", "Proofs that did not verify, by serving endpoint and kind.",
    ["endpoint", "kind"], registry=REGISTRY,
)  # fmt: skip

# Endpoints
BEACON_SECONDS = Histogram(
    "pool_oracle_beacon_request_duration_seconds", "Beacon API request latency.", ["endpoint", "route"],
    registry=REGISTRY, buckets=LATENCY_BUCKETS,
)  # fmt: skip
BEACON_ERRORS = Counter(
    "pool_oracle_beacon_request_errors_total",
    "Beacon API request failures.",
    ["endpoint", "reason"],
    registry=REGISTRY,
)
EL_SECONDS = Histogram(
    "pool_oracle_el_request_duration_seconds", "EL JSON-RPC request latency.", ["endpoint", "method"],
    registry=REGISTRY, buckets=LATENCY_BUCKETS,
)  # fmt: skip
EL_ERRORS = Counter(
    "pool_oracle_el_request_errors_total",
    "EL JSON-RPC request failures.",
    ["endpoint", "reason"],
    registry=REGISTRY,
)
ENDPOINT_UP = Gauge(
    "pool_oracle_endpoint_up", "1 if the endpoint passed the last consistency check.", ["kind", "endpoint"],
    registry=REGISTRY,
)  # fmt: skip

# Transactions
TRANSACTIONS = Counter(
    "pool_oracle_transactions_total",
    "Transactions by outcome (sent, mined, reverted, replaced, superseded, timeout; stale: not signed because "
    "the report's grounds moved; cancel_sent, cancelled: a stale report's nonce taken back; cancel_refused: a "
    "cancellation a node refused, the report still followed and the cancellation retried; reorged: a mined "
    "report whose block left the chain, followed again).",
    ["outcome"],
    registry=REGISTRY,
)  # fmt: skip
GAS_USED = Counter("pool_oracle_gas_used_total", "Gas used by mined report transactions.", registry=REGISTRY)
GAS_SPENT = Counter("pool_oracle_gas_spent_wei_total", "Fees paid for mined report transactions.", registry=REGISTRY)
PENDING_TX_AGE = Gauge(
    "pool_oracle_pending_transaction_age_seconds", "Age of the oldest unmined report transaction (0 if none).",
    registry=REGISTRY,
)  # fmt: skip
SIGNER_BALANCE = Gauge("pool_oracle_signer_balance_wei", "Balance of the reporting key.", registry=REGISTRY)


CYCLE_RESULTS = ("ok", "error", "timeout")
REPORT_OUTCOMES = (
    "landed", "unchanged", "held", "audit_drift", "dry_run", "proof_failed", "preflight_failed", "failed",
    "reverted", "timeout", "fee_ceiling", "superseded", "already_reported", "pending_elsewhere", "already_journalled",
    "stale", "cancelled", "waiting",
)  # fmt: skip
HOLD_REASONS = (
    "deposit_in_flight", "deposit_lag_unknown", "withdrawal_in_flight", "exit_in_flight",
    "change_exceeds_per_report_bound", "change_exceeds_daily_bound", "proof_too_old",
    "zero_balance_not_exited", "cl_forced_exit",
)  # fmt: skip
TX_OUTCOMES = (
    "sent", "mined", "reverted", "replaced", "superseded", "timeout", "failed", "fee_ceiling", "stale", "cancel_sent",
    "cancelled", "cancel_refused", "reorged",
)  # fmt: skip
POOL_STATES = ("active", "below_threshold", "not_activated", "paused", "exited", "operator_mismatch")
KEEPER_DUTIES = (
    "activation", "finalize", "process_rewards", "retry_full_exit",
    "set_report_start", "set_report_batch", "set_report_abandon", "set_pool_register",
)  # fmt: skip
KEEPER_OUTCOMES = (
    "landed", "due", "waiting", "preflight_failed", "over_budget", "already_journalled", "reverted", "timeout",
    "fee_ceiling", "failed", "superseded", "stale", "cancelled",
)  # fmt: skip
PROOF_KINDS = ("pubkey", "balance", "credentials", "state", "proof")


# The keeper (permissionless duties)
KEEPER_ACTIONS = Counter(
    "pool_oracle_keeper_actions_total",
    "Keeper duties by duty (activation, finalize, process_rewards, retry_full_exit) and outcome (landed; due: "
    "named, not sent, without a signer or in a dry run; waiting: another transaction of this key in flight; "
    "preflight_failed; over_budget: past keeper.gas_budget_per_cycle; then as transactions).",
    ["duty", "outcome"],
    registry=REGISTRY,
)
KEEPER_FINALIZABLE = Gauge(
    "pool_oracle_keeper_finalizable_requests",
    "Withdrawal requests of the keeper's pools whose finalization delay has passed and that nobody finalized yet.",
    registry=REGISTRY,
)
KEEPER_OLDEST_FINALIZABLE = Gauge(
    "pool_oracle_keeper_oldest_finalizable_request_seconds",
    "How long the oldest finalizable request has waited since its delay passed (blocks x seconds per slot).",
    registry=REGISTRY,
)
KEEPER_UNACTIVATED = Gauge(
    "pool_oracle_keeper_unactivated_pools",
    "Registered pools whose validator is on the CL (proofs verified) and that nobody has activated yet.",
    registry=REGISTRY,
)
KEEPER_EXITS_STRANDED = Gauge(
    "pool_oracle_keeper_stranded_exits",
    "Fully exited pools whose validator is still active on the CL past keeper.retry_full_exit_after_blocks.",
    registry=REGISTRY,
)


# Many-validator pools (ValidatorSetPool): reports of their validators' total in multiproof batches
SET_POOL_HOLD_REASONS = (
    "deposit_in_flight", "change_exceeds_per_report_bound", "change_exceeds_daily_bound", "not_reporter",
)  # fmt: skip
SET_POOL_LABELS = ["network", "pool"]
SET_POOL_VALIDATORS = Gauge(
    "pool_oracle_set_pool_validators", "Validators registered in the pool's registry.", SET_POOL_LABELS,
    registry=REGISTRY,
)  # fmt: skip
SET_POOL_PROVEN = Gauge(
    "pool_oracle_set_pool_proven_gwei",
    "The registered validators' total balance on the cycle's proven (finalized) state, in gwei.",
    SET_POOL_LABELS,
    registry=REGISTRY,
)
SET_POOL_REPORTED = Gauge(
    "pool_oracle_set_pool_reported_gwei", "consensusGwei of the pool's last completed report.", SET_POOL_LABELS,
    registry=REGISTRY,
)  # fmt: skip
SET_POOL_LAST_REPORT = Gauge(
    "pool_oracle_set_pool_last_report_timestamp_seconds",
    "EL timestamp of the block whose parent beacon state the last completed report proved.",
    SET_POOL_LABELS,
    registry=REGISTRY,
)
SET_POOL_HOLD = Gauge(
    "pool_oracle_set_pool_hold",
    "1 while the pool's next report is held for this reason.",
    [*SET_POOL_LABELS, "reason"],
    registry=REGISTRY,
)
SET_POOL_BATCH_WORDS = Histogram(
    "pool_oracle_set_pool_batch_words",
    "32-byte nodes (chunks and witnesses) in one proveBalances batch.",
    buckets=(64, 256, 512, 1024, 2048, 3000, 4000),
    registry=REGISTRY,
)


def initialise(beacon_endpoints: list[str], execution_endpoints: list[str]) -> None:
    """Create every labelled series at zero, so that rates, panels and alerts have data from the first scrape."""
    for result in CYCLE_RESULTS:
        CYCLES.labels(result)
    for outcome in REPORT_OUTCOMES:
        REPORTS.labels(outcome)
    for reason in HOLD_REASONS:
        HOLDS.labels(reason)
    for outcome in TX_OUTCOMES:
        TRANSACTIONS.labels(outcome)
    for label in endpoint_labels(beacon_endpoints):
        BEACON_ERRORS.labels(label, "connection")
        ENDPOINT_UP.labels("beacon", label)
        for kind in PROOF_KINDS:
            PROOF_FAILURES.labels(label, kind)
    for kind in PROOF_KINDS:
        PROOF_FAILURES.labels("engine", kind)
    for label in endpoint_labels(execution_endpoints):
        EL_ERRORS.labels(label, "connection")
        ENDPOINT_UP.labels("execution", label)
    for duty in KEEPER_DUTIES:
        for outcome in KEEPER_OUTCOMES:
            KEEPER_ACTIONS.labels(duty, outcome)
    for state in POOL_STATES:
        POOLS.labels(state)
    CONTRACT_MISMATCH.labels("gindex")

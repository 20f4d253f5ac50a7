"""The daemon's settings: one typed, validated object, read from YAML (optionally on top of a network
preset) with `POOL_ORACLE_<SECTION>_<KEY>` environment overrides. Every field carries its help text,
from which `pool-oracle config-reference` generates the configuration reference.

Secrets never live here: the signer is named by file paths (a keystore plus a password file, or a key
file), read only when the signer is loaded.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_origin, get_type_hints

import yaml

from oracle.ssz.layouts import LAYOUT_NAMES

# The repository's config/ (the container copies it and sets POOL_ORACLE_PRESET_DIR).
PRESETS_DIR = Path(os.environ.get("POOL_ORACLE_PRESET_DIR", Path(__file__).resolve().parents[2] / "config"))
ENV_PREFIX = "POOL_ORACLE_"
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
ROOT_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
URL_RE = re.compile(r"^https?://[^\s/]+")


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
        "Deposit contract whose Deposit events show deposits in flight.",
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


@dataclass(frozen=True)
class Service:
    metrics_address: str = setting("127.0.0.1:9464", "host:port of the metrics and health server.")
    journal_path: str = setting(
        "pool-oracle.sqlite",
        "SQLite journal of every report (put it on a volume); a relative path is taken from the config file's "
        "folder, not the working directory, so that a restart from elsewhere finds its in-flight transactions.",
    )
    log_format: str = setting("auto", "auto (console on a terminal, else JSON), json or console.")
    log_level: str = setting("info", "debug, info, warning or error.")
    watchdog_seconds: float = setting(600.0, "/healthz fails when no cycle has finished for this long.")


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

    @property
    def audit_only(self) -> bool:
        return not self.signer.configured

    @property
    def beaconkit(self) -> bool:
        return self.layout.startswith("beaconkit")


SECTIONS = {name: kind for name, kind in get_type_hints(Settings).items() if dataclasses.is_dataclass(kind)}


def _convert(value: Any, kind: Any, where: str, problems: list[str]) -> Any:
    origin = get_origin(kind)
    if origin is tuple:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            problems.append(f"{where}: expected a list of strings")
            return ()
        return tuple(value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        problems.append(f"{where}: expected true or false, got {value!r}")
        return False
    if kind is int:
        if isinstance(value, bool):
            problems.append(f"{where}: expected an integer, got {value!r}")
            return 0
        try:
            return int(str(value), 0)
        except ValueError:
            problems.append(f"{where}: expected an integer, got {value!r}")
            return 0
    if kind is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            problems.append(f"{where}: expected a number, got {value!r}")
            return 0.0
    if kind is str:
        if not isinstance(value, str | int):
            problems.append(f"{where}: expected a string, got {type(value).__name__}")
            return ""
        return str(value)
    raise TypeError(kind)


def _build(cls: Any, data: Mapping[str, Any], prefix: str, problems: list[str]) -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            problems.append(f"{prefix}{key}: unknown setting")
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        kind = hints[f.name]
        raw = data[f.name]
        if dataclasses.is_dataclass(kind):
            if not isinstance(raw, Mapping):
                problems.append(f"{prefix}{f.name}: expected a mapping")
                continue
            values[f.name] = _build(kind, raw, f"{prefix}{f.name}.", problems)
        else:
            values[f.name] = _convert(raw, kind, f"{prefix}{f.name}", problems)
    return cls(**values)


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """POOL_ORACLE_REPORTING_INTERVAL_SECONDS=10 -> {"reporting": {"interval_seconds": "10"}}."""
    out: dict[str, Any] = {}
    top = {f.name for f in dataclasses.fields(Settings)}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key in top and key not in SECTIONS:
            out[key] = value
            continue
        for section in SECTIONS:
            if key.startswith(section + "_"):
                out.setdefault(section, {})[key[len(section) + 1 :]] = value
                break
    return out


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def _read_yaml(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        problems.append(f"{path}: cannot read ({exc.strerror})")
        return {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        reason = " ".join(str(getattr(exc, "problem", None) or exc).split())  # one line, whatever PyYAML says
        problems.append(f"{path}{where}: not valid YAML ({reason})")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path}: expected a mapping of settings")
        return {}
    return data


def load_settings(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, merge (preset < file < environment) and validate. Raises ConfigError with every problem."""
    problems: list[str] = []
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_yaml(Path(path), problems)
    env = _env_overrides(environ)
    preset = env.get("preset") or data.pop("preset", None)
    env.pop("preset", None)
    if preset:
        preset_path = PRESETS_DIR / f"{preset}.yaml"
        if not preset_path.is_file():
            problems.append(f"preset: unknown preset {preset!r}; known: {', '.join(preset_names())}")
        else:
            data = _merge(_read_yaml(preset_path, problems), data)
    data = _merge(data, env)
    files_read = not problems
    settings: Settings = _build(Settings, data, "", problems)
    # Every problem at once, one line each; a setting already reported as malformed is not reported again
    # (and nothing is said of missing settings when a file could not be read at all).
    reported = {problem.split(":", 1)[0] for problem in problems}
    for problem in validate(settings, base=Path(path).parent if path else Path.cwd()) if files_read else []:
        if problem.split(":", 1)[0].split("[", 1)[0] not in reported:
            problems.append(problem)
    if problems:
        raise ConfigError(problems)
    journal = Path(settings.service.journal_path).expanduser()
    if not journal.is_absolute():
        journal = (Path(path).resolve().parent if path else Path.cwd()) / journal
        settings = dataclasses.replace(
            settings, service=dataclasses.replace(settings.service, journal_path=str(journal))
        )
    return settings


def validate(s: Settings, base: Path) -> list[str]:
    problems = []
    if s.chain_id <= 0:
        problems.append("chain_id: required (the EL chain id, e.g. 80094 for Berachain mainnet)")
    if s.layout not in LAYOUT_NAMES:
        problems.append(f"layout: {s.layout!r} is not one of {', '.join(LAYOUT_NAMES)}")
    if s.genesis_validators_root and not ROOT_RE.match(s.genesis_validators_root):
        problems.append(f"genesis_validators_root: {s.genesis_validators_root!r} is not a 0x-prefixed 32-byte hex root")
    for name, urls in (
        ("beacon_endpoints", s.beacon_endpoints),
        ("execution_endpoints", s.execution_endpoints),
    ):
        if not urls:
            problems.append(f"{name}: at least one URL is required")
        for i, url in enumerate(urls):
            if not URL_RE.match(url):
                problems.append(f"{name}[{i}]: {url!r} is not an http(s) URL")
    if not s.contracts.factory:
        problems.append("contracts.factory: required (set it in the config or POOL_ORACLE_CONTRACTS_FACTORY)")
    for name in ("factory", "withdrawal_vault", "accounting_oracle", "beacon_deposit"):
        value = getattr(s.contracts, name)
        if value and not ADDRESS_RE.match(value):
            problems.append(f"contracts.{name}: {value!r} is not a 0x-prefixed 20-byte address")
    signer = s.signer
    if signer.keystore_file and signer.key_file:
        problems.append("signer: give either keystore_file (with password_file) or key_file, not both")
    if signer.keystore_file and not signer.password_file:
        problems.append("signer.password_file: required with signer.keystore_file")
    for name in ("keystore_file", "password_file", "key_file"):
        value = getattr(signer, name)
        if value and not (base / value).expanduser().is_file():
            problems.append(f"signer.{name}: {value} is not a readable file")
    r = s.reporting
    positive = [
        ("reporting.interval_seconds", r.interval_seconds),
        ("reporting.cycle_timeout_seconds", r.cycle_timeout_seconds),
        ("reporting.max_change_per_report", r.max_change_per_report),
        ("reporting.max_change_per_day", r.max_change_per_day),
        ("transactions.max_fee_gwei", s.transactions.max_fee_gwei),
        ("transactions.receipt_timeout_seconds", s.transactions.receipt_timeout_seconds),
        ("transactions.replace_after_seconds", s.transactions.replace_after_seconds),
        ("endpoints.request_timeout_seconds", s.endpoints.request_timeout_seconds),
        ("endpoints.retry_budget_seconds", s.endpoints.retry_budget_seconds),
        ("service.watchdog_seconds", s.service.watchdog_seconds),
    ]
    for name, value in positive:
        if value <= 0:
            problems.append(f"{name}: must be positive, got {value}")
    for name, value in (
        ("reporting.timestamp_margin_seconds", r.timestamp_margin_seconds),
        ("reporting.deposit_lookback_blocks", r.deposit_lookback_blocks),
        ("reporting.withdrawal_lookback_blocks", r.withdrawal_lookback_blocks),
        ("reporting.send_jitter_max_seconds", r.send_jitter_max_seconds),
        ("transactions.priority_fee_gwei", s.transactions.priority_fee_gwei),
    ):
        if value < 0:
            problems.append(f"{name}: must not be negative, got {value}")
    if s.transactions.fee_bump_percent < 10:
        problems.append("transactions.fee_bump_percent: nodes reject replacements below 10%")
    if s.transactions.receipt_timeout_seconds + 10 > r.cycle_timeout_seconds:
        problems.append(
            "transactions.receipt_timeout_seconds: must be at least 10 s below reporting.cycle_timeout_seconds "
            f"({s.transactions.receipt_timeout_seconds:g} >= {r.cycle_timeout_seconds:g} - 10): a cycle must outlive "
            "its wait for a receipt"
        )
    if s.transactions.gas_limit_margin < 1:
        problems.append("transactions.gas_limit_margin: must be at least 1")
    problem = metrics_address_problem(s.service.metrics_address)
    if problem:
        problems.append(f"service.metrics_address: {problem}")
    if s.service.log_format not in ("auto", "json", "console"):
        problems.append(f"service.log_format: {s.service.log_format!r} is not auto, json or console")
    if s.service.log_level not in ("debug", "info", "warning", "error"):
        problems.append(f"service.log_level: {s.service.log_level!r} is not debug, info, warning or error")
    return problems


def resolve_path(settings_path: str | Path | None, value: str) -> Path:
    base = Path(settings_path).parent if settings_path else Path.cwd()
    return (base / value).expanduser()


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


def metrics_address_problem(address: str) -> str | None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return f"{address!r} is not host:port"
    return None

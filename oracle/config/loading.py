"""Reading the settings: YAML, optionally on top of a network preset, then `POOL_ORACLE_<SECTION>_<KEY>`
environment overrides; every value converted to its field's type and every problem reported at once, one
line each."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_origin, get_type_hints
from urllib.parse import urlsplit

import yaml

from oracle.config.settings import ENV_PREFIX, SECTIONS, ConfigError, Settings
from oracle.ssz.layouts import LAYOUT_NAMES

# The repository's config/ (the container copies it and sets POOL_ORACLE_PRESET_DIR).
PRESETS_DIR = Path(os.environ.get("POOL_ORACLE_PRESET_DIR", Path(__file__).resolve().parents[2] / "config"))
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
ROOT_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")


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
        if (key in top and key not in SECTIONS) or key == "preset":  # POOL_ORACLE_PRESET picks the preset
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
    from_file = data.pop("preset", None)
    preset = env.pop("preset", None) or from_file  # POOL_ORACLE_PRESET wins, as every variable does
    if preset:
        preset_path = PRESETS_DIR / f"{preset}.yaml"
        if not isinstance(preset, str) or preset not in preset_names():
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
            problem = url_problem(url)
            if problem:
                problems.append(f"{name}[{i}]: {problem}")
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
        if value and not (base / Path(value).expanduser()).is_file():
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
        ("endpoints.log_range_blocks", s.endpoints.log_range_blocks),
        ("service.watchdog_seconds", s.service.watchdog_seconds),
        ("endpoints.max_json_state_megabytes", s.endpoints.max_json_state_megabytes),
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
        ("reporting.min_drift_gwei", r.min_drift_gwei),
        ("service.stop_grace_seconds", s.service.stop_grace_seconds),
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
    longest_gap = r.interval_seconds + r.cycle_timeout_seconds
    if s.service.watchdog_seconds <= longest_gap:
        problems.append(
            f"service.watchdog_seconds: {s.service.watchdog_seconds:g} must exceed reporting.interval_seconds + "
            f"reporting.cycle_timeout_seconds ({r.interval_seconds:g} + {r.cycle_timeout_seconds:g}): /healthz would "
            "fail, and a liveness probe restart the daemon, in a cycle it is allowed to run"
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
    problems += keeper_problems(s)
    problems += set_pools_problems(s)
    return problems


def resolve_path(settings_path: str | Path | None, value: str) -> Path:
    """A path from the settings: `~` expanded first, then a relative one taken from the config file's folder."""
    base = Path(settings_path).parent if settings_path else Path.cwd()
    return base / Path(value).expanduser()


def url_problem(url: str) -> str | None:
    """What is wrong with an endpoint URL, naming it by scheme and host only (its path may be an API key)."""
    parts = urlsplit(url)
    host = parts.hostname or "no host"
    if parts.scheme not in ("http", "https"):
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}:// is not http(s) ({host})"
        return "not an http(s) URL"
    if not parts.hostname:
        return f"an {parts.scheme} URL without a host"
    try:
        parts.port  # noqa: B018 (raises for a port out of range or not a number)
    except ValueError:
        port = parts.netloc.rsplit(":", 1)[-1]  # said only if it is a number: anything else may be a secret
        return f"port {port} is out of range ({host})" if port.isdigit() else f"the port is not a number ({host})"
    return None


def split_host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of host:port or [IPv6]:port (the brackets dropped), or None if it is neither."""
    host, _, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not host or "[" in host or "]" in host:
            return None
    elif "[" in host or "]" in host:
        return None
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def metrics_address_problem(address: str) -> str | None:
    if split_host_port(address) is None:
        return f"{address!r} is not host:port"
    return None


def keeper_problems(s: Settings) -> list[str]:
    k = s.keeper
    problems = [f"keeper.pools[{i}]: {a!r} is not a 0x-prefixed 20-byte address"
                for i, a in enumerate(k.pools) if not ADDRESS_RE.match(a)]  # fmt: skip
    for name, value, least in (
        ("keeper.gas_budget_per_cycle", k.gas_budget_per_cycle, 21_000),
        ("keeper.max_finalize_batch", k.max_finalize_batch, 1),
        ("keeper.finalize_lookback_blocks", k.finalize_lookback_blocks, 0),
        ("keeper.min_rewards_gwei", k.min_rewards_gwei, 0),
        ("keeper.retry_full_exit_after_blocks", k.retry_full_exit_after_blocks, 0),
        ("keeper.max_exit_fee_gwei", k.max_exit_fee_gwei, 0),
    ):
        if value < least:
            problems.append(f"{name}: must be at least {least}, got {value}")
    return problems


def set_pools_problems(s: Settings) -> list[str]:
    p = s.set_pools
    problems = [f"set_pools.addresses[{i}]: {a!r} is not a 0x-prefixed 20-byte address"
                for i, a in enumerate(p.addresses) if not ADDRESS_RE.match(a)]  # fmt: skip
    if p.addresses and s.beaconkit:
        problems.append("set_pools.addresses: ValidatorSetPools run on Ethereum layouts, the layout is beacon-kit's")
    for name, value, least in (
        ("set_pools.report_interval_seconds", p.report_interval_seconds, 1),
        ("set_pools.min_drift_gwei", p.min_drift_gwei, 0),
        ("set_pools.max_calldata_bytes", p.max_calldata_bytes, 2_000),
        ("set_pools.max_batch_gas", p.max_batch_gas, 100_000),
    ):
        if value < least:
            problems.append(f"{name}: must be at least {least}, got {value}")
    for name, fraction in (("set_pools.max_change_per_report", p.max_change_per_report),
                           ("set_pools.max_change_per_day", p.max_change_per_day)):  # fmt: skip
        if not 0 < fraction <= 1:
            problems.append(f"{name}: a fraction in (0, 1], got {fraction}")
    return problems

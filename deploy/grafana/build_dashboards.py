"""Build the Grafana dashboards (deploy/grafana/dashboards/*.json) from one declaration.

    python deploy/grafana/build_dashboards.py        # rewrite the JSON files

A test checks the files are current, and another evaluates every query against a real Prometheus that
scraped the daemon on the devnet: no dead panels, no misspelled metrics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
SEL = 'network=~"$network"'
POOL = f'{SEL},pool=~"$pool"'


def variables(with_pool: bool) -> list[dict[str, Any]]:
    out = [
        {
            "name": "network",
            "label": "Network",
            "type": "query",
            "datasource": DATASOURCE,
            "query": {"query": "label_values(pool_oracle_build_info, network)", "refId": "network"},
            "definition": "label_values(pool_oracle_build_info, network)",
            "includeAll": True,
            "multi": True,
            "current": {"text": "All", "value": "$__all"},
            "allValue": ".*",
            "refresh": 2,
        }
    ]
    if with_pool:
        query = 'label_values(pool_oracle_proven_balance_gwei{network=~"$network"}, pool)'
        out.append(
            {
                "name": "pool",
                "label": "Pool",
                "type": "query",
                "datasource": DATASOURCE,
                "query": {"query": query, "refId": "pool"},
                "definition": query,
                "includeAll": True,
                "multi": True,
                "current": {"text": "All", "value": "$__all"},
                "allValue": ".*",
                "refresh": 2,
            }
        )
    return out


def panel(title: str, targets: list[tuple[str, str]], *, kind: str = "timeseries", unit: str = "short",
          width: int = 12, height: int = 8, description: str = "") -> dict[str, Any]:  # fmt: skip
    return {
        "title": title,
        "type": kind,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"w": width, "h": height},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom"}} if kind == "timeseries" else {},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend, "datasource": DATASOURCE}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def p95(bucket: str, by: str, window: str = "10m") -> str:
    return f"histogram_quantile(0.95, sum by ({by}) (rate({bucket}[{window}])))"


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]], with_pool: bool) -> dict[str, Any]:
    x = y = 0
    row_height = 0
    for i, p in enumerate(panels):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y = 0, y + row_height
            row_height = 0
        p["gridPos"].update(x=x, y=y)
        p["id"] = i + 1
        x += w
        row_height = max(row_height, h)
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["pool-oracle"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables(with_pool)},
        "panels": panels,
    }


def fleet() -> dict[str, Any]:
    return dashboard(
        "pool-oracle-fleet",
        "pool-oracle: fleet overview",
        "Every pool: proven CL balance against on-chain totalDeposits, share price, report age, holds.",
        [
            panel(
                "Proven CL balance",
                [(f"pool_oracle_proven_balance_gwei{{{POOL}}} / 1e9", "{{pool}}")],
                unit="none",
                description="The validator's balance proven against the beacon block root (native units).",
            ),
            panel(
                "On-chain totalDeposits",
                [(f"pool_oracle_onchain_total_deposits_gwei{{{POOL}}} / 1e9", "{{pool}}")],
                unit="none",
            ),
            panel(
                "Drift: proven minus on chain",
                [(f"pool_oracle_drift_gwei{{{POOL}}} / 1e9", "{{pool}}")],
                unit="none",
                description="Non-zero while a report is due or held.",
            ),
            panel(
                "Share price (assets per share)",
                [
                    (f"pool_oracle_share_price{{{POOL}}}", "{{pool}} now"),
                    (f"pool_oracle_predicted_share_price{{{POOL}}}", "{{pool}} if reported"),
                ],
                unit="none",
            ),
            panel(
                "Age of the last landed report",
                [
                    (f"time() - pool_oracle_last_report_timestamp_seconds{{{POOL}}}", "{{pool}}"),
                ],
                kind="stat",
                unit="s",
                width=8,
            ),
            panel(
                "Active hold reasons per pool",
                [(f"sum by (pool) (pool_oracle_hold{{{POOL}}})", "{{pool}}")],
                kind="stat",
                width=8,
                description="0 when the pool's report is free to go; see holds by reason.",
            ),
            panel("Pools by state", [("pool_oracle_pools", "{{state}}")], kind="stat", width=8),
            panel(
                "Holds by reason (1 h)",
                [("sum by (reason) (increase(pool_oracle_holds_total[1h]))", "{{reason}}")],
                width=24,
            ),
        ],
        with_pool=True,
    )


def reporter() -> dict[str, Any]:
    return dashboard(
        "pool-oracle-reporter",
        "pool-oracle: reporter",
        "The daemon itself: cycles, reports, transactions, gas, the signer, slots.",
        [
            panel(
                "Cycles by result",
                [("sum by (result) (rate(pool_oracle_cycles_total[5m]))", "{{result}}")],
                unit="ops",
            ),
            panel(
                "Cycle duration",
                [
                    (
                        "histogram_quantile(0.5, sum by (le) (rate(pool_oracle_cycle_duration_seconds_bucket[10m])))",
                        "p50",
                    ),
                    (
                        "histogram_quantile(0.95, sum by (le) (rate(pool_oracle_cycle_duration_seconds_bucket[10m])))",
                        "p95",
                    ),
                ],
                unit="s",
            ),
            panel(
                "Reports by outcome (1 h)",
                [("sum by (outcome) (increase(pool_oracle_reports_total[1h]))", "{{outcome}}")],
            ),
            panel(
                "Transactions by outcome (1 h)",
                [("sum by (outcome) (increase(pool_oracle_transactions_total[1h]))", "{{outcome}}")],
            ),
            panel("Gas used (1 h)", [("increase(pool_oracle_gas_used_total[1h])", "gas")], width=8),
            panel(
                "Fees paid (1 h, native)",
                [("increase(pool_oracle_gas_spent_wei_total[1h]) / 1e18", "fees")],
                unit="none",
                width=8,
            ),
            panel(
                "Signer balance (native)",
                [("pool_oracle_signer_balance_wei / 1e18", "balance")],
                kind="stat",
                unit="none",
                width=8,
            ),
            panel(
                "Slots",
                [
                    ("pool_oracle_head_slot", "head"),
                    ("pool_oracle_finalized_slot", "finalized"),
                    ("pool_oracle_proven_slot", "proven"),
                ],
                unit="none",
            ),
            panel("Oldest pending transaction", [("pool_oracle_pending_transaction_age_seconds", "age")], unit="s"),
            # The keeper: the permissionless duties (any key with gas), and what waits for someone to do them.
            panel(
                "Keeper duties by outcome (1 h)",
                [("sum by (duty, outcome) (increase(pool_oracle_keeper_actions_total[1h]))", "{{duty}} {{outcome}}")],
            ),
            panel(
                "Withdrawal requests waiting for finalization",
                [
                    ("pool_oracle_keeper_finalizable_requests", "finalizable"),
                    ("pool_oracle_keeper_oldest_finalizable_request_seconds / 3600", "oldest (h)"),
                ],
                unit="none",
            ),
            panel(
                "Pools waiting for a duty",
                [
                    ("pool_oracle_keeper_unactivated_pools", "registered, not activated"),
                    ("pool_oracle_keeper_stranded_exits", "exited, validator still active"),
                ],
                unit="none",
            ),
            panel(
                "Build and mode",
                [(f"pool_oracle_build_info{{{SEL}}}", "{{version}} {{network}} {{signer}}")],
                kind="table",
                width=24,
                height=5,
            ),
        ],
        with_pool=False,
    )


def endpoints() -> dict[str, Any]:
    beacon = "pool_oracle_beacon_request_duration_seconds_bucket"
    el = "pool_oracle_el_request_duration_seconds_bucket"
    return dashboard(
        "pool-oracle-endpoints",
        "pool-oracle: endpoints",
        "Latency and errors of every beacon and execution endpoint; proofs that failed verification.",
        [
            panel(
                "Endpoint up", [("pool_oracle_endpoint_up", "{{kind}} {{endpoint}}")], kind="stat", width=24, height=5
            ),
            panel(
                "Beacon API latency p95",
                [
                    (f"histogram_quantile(0.95, sum by (le, endpoint) (rate({beacon}[5m])))", "{{endpoint}}"),
                ],
                unit="s",
            ),
            panel(
                "EL JSON-RPC latency p95",
                [
                    (f"histogram_quantile(0.95, sum by (le, endpoint) (rate({el}[5m])))", "{{endpoint}}"),
                ],
                unit="s",
            ),
            panel(
                "Beacon API errors",
                [
                    (
                        "sum by (endpoint, reason) (rate(pool_oracle_beacon_request_errors_total[5m]))",
                        "{{endpoint}} {{reason}}",
                    ),
                ],
                unit="ops",
            ),
            panel(
                "EL errors",
                [
                    (
                        "sum by (endpoint, reason) (rate(pool_oracle_el_request_errors_total[5m]))",
                        "{{endpoint}} {{reason}}",
                    ),
                ],
                unit="ops",
            ),
            panel(
                "Proofs failing verification (1 h)",
                [
                    (
                        "sum by (endpoint, kind) (increase(pool_oracle_proof_verification_failures_total[1h]))",
                        "{{endpoint}} {{kind}}",
                    ),
                ],
            ),
            panel(
                "Proof build and verification p95",
                [
                    (p95("pool_oracle_proof_build_seconds_bucket", "le, source"), "build {{source}}"),
                    (p95("pool_oracle_proof_verification_seconds_bucket", "le"), "verify"),
                ],
                unit="s",
            ),
        ],
        with_pool=False,
    )


DASHBOARDS = {"fleet.json": fleet, "reporter.json": reporter, "endpoints.json": endpoints}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, sort_keys=True) + "\n" for name, build in DASHBOARDS.items()}


def queries() -> list[str]:
    """Every PromQL expression of every panel (variables left in)."""
    out = []
    for build in DASHBOARDS.values():
        for p in build()["panels"]:
            out.extend(t["expr"] for t in p["targets"])
    return out


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")

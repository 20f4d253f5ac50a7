"""A real Prometheus (Debian's package) scrapes the daemon running on the devnet; every PromQL expression
of the dashboards and the alert rules is evaluated against it and must return data; the exposition
passes `promtool check metrics`; every rule evaluates healthily."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from oracle.devnet.anvil import free_port
from tests.daemon.harness import MIN_DEPOSIT, Devnet, daemon_env, exe

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPARISON = re.compile(r"^(?P<query>.*?)\s*(?:>=|<=|==|!=|>|<)\s*[0-9.e+-]+\s*$", re.S)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def query(base: str, expr: str) -> list[Any]:
    body = get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert body["status"] == "success", (expr, body)
    result: list[Any] = body["data"]["result"]
    return result


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus not found: `make setup` installs Debian's prometheus package")
    work = tmp_path_factory.mktemp("observability")
    devnet = Devnet(work)
    metrics_port, prom_port = free_port(), free_port()
    daemon = subprocess.Popen(
        [*exe(), "run", "--config", str(devnet.config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=daemon_env(work, "obs", POOL_ORACLE_SERVICE_METRICS_ADDRESS=f"127.0.0.1:{metrics_port}",
                       POOL_ORACLE_REPORTING_INTERVAL_SECONDS="2"),
    )  # fmt: skip
    shutil.copy(DEPLOY / "prometheus" / "alerts.yml", work / "alerts.yml")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(work / "alerts.yml")],
        "scrape_configs": [{"job_name": "pool-oracle", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom = subprocess.Popen(
        [prometheus, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{prom_port}"
    try:
        devnet.top_up(devnet.pools[0], MIN_DEPOSIT)  # so that a report lands while Prometheus watches
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline, "Prometheus never collected the daemon's metrics"
            try:
                landed = query(base, 'pool_oracle_reports_total{outcome="landed"} > 0')
                samples = query(base, "count_over_time(pool_oracle_head_slot[5m]) > 20")
                if landed and samples:
                    break
            except (OSError, AssertionError):
                pass
            time.sleep(1)
        yield {"base": base, "metrics": f"http://127.0.0.1:{metrics_port}/metrics"}
    finally:
        for proc in (prom, daemon):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        devnet.stop()


def dashboard_queries() -> list[str]:
    spec = importlib.util.spec_from_file_location("build_dashboards", DEPLOY / "grafana" / "build_dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [q.replace("$network", ".*").replace("$pool", ".*") for q in module.queries()]


def test_every_dashboard_query_returns_data(stack: dict[str, Any]) -> None:
    empty = [expr for expr in dashboard_queries() if not query(stack["base"], expr)]
    assert empty == [], f"dead panels: {empty}"
    networks = get(f"{stack['base']}/api/v1/label/network/values?match[]=pool_oracle_build_info")["data"]
    assert networks == ["devnet"]  # the network variable has its value


def test_every_alert_expression_evaluates_on_real_data(stack: dict[str, Any]) -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"][0]["rules"]
    for rule in rules:
        match = COMPARISON.match(rule["expr"])
        assert match, f"{rule['alert']}: expression is not `<query> <comparison> <threshold>`"
        assert query(stack["base"], match["query"]), f"{rule['alert']}: {match['query']} returns no data"
    loaded = get(f"{stack['base']}/api/v1/rules")["data"]["groups"][0]["rules"]
    assert {r["name"] for r in loaded} == {r["alert"] for r in rules}
    assert all(r["health"] == "ok" for r in loaded), [(r["name"], r.get("lastError")) for r in loaded]


def test_exposition_passes_promtool_check_metrics(stack: dict[str, Any]) -> None:
    with urllib.request.urlopen(stack["metrics"], timeout=10) as response:
        exposition = response.read()
    result = subprocess.run(["promtool", "check", "metrics"], input=exposition, capture_output=True)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()

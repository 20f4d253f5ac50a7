"""The deployment kit checked statically (no Docker engine or cluster here): the Dockerfile's promises,
the compose stack, the Kubernetes manifests, generated files kept current, the alert rules with promtool."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from oracle.config.reference import render_env

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def final_stage(dockerfile: str) -> str:
    return dockerfile[dockerfile.rindex("\nFROM ") :]


def test_dockerfile_promises() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2, "multi-stage"
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert "--require-hashes" in text and "requirements/runtime.lock" in text
    final = final_stage(text)
    user = re.findall(r"^USER (\S+)", final, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*", final, re.M | re.S) and "/healthz" in final
    assert "COPY --from=build /opt/venv" in final
    for tool in ("apt-get", "gcc", "build-essential", "pip install"):
        assert tool not in final, f"the final image must not install {tool}"
    assert "VOLUME" in final and "/var/lib/pool-oracle" in final
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".git" in ignored and ".venv" in ignored


def test_compose_stack() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"pool-oracle", "prometheus", "grafana"}
    oracle = services["pool-oracle"]
    mounts = oracle["volumes"]
    assert any(m.endswith("/etc/pool-oracle/config.yaml:ro") for m in mounts)
    assert any(m.endswith("/run/secrets:ro") for m in mounts)
    assert any(m.startswith("journal:") for m in mounts)
    for service in services.values():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("./") and "secrets" not in source:
                assert (DEPLOY / source).exists(), source
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert prometheus["scrape_configs"][0]["static_configs"][0]["targets"] == ["pool-oracle:9464"]


def test_env_example_is_current() -> None:
    assert (DEPLOY / ".env.example").read_text() == render_env(), (
        "run: pool-oracle config-reference --format env --output deploy/.env.example"
    )


def test_dashboards_are_current_and_well_formed() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_dashboards", DEPLOY / "grafana" / "build_dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, text in module.render().items():
        committed = DEPLOY / "grafana" / "dashboards" / name
        assert committed.read_text() == text, "run: python deploy/grafana/build_dashboards.py"
        board = json.loads(text)
        names = [v["name"] for v in board["templating"]["list"]]
        assert "network" in names
        assert all(p["targets"] for p in board["panels"])
    fleet = json.loads((DEPLOY / "grafana" / "dashboards" / "fleet.json").read_text())
    assert "pool" in [v["name"] for v in fleet["templating"]["list"]]


def test_kubernetes_manifests() -> None:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (DEPLOY / "k8s" / resource).is_file()
    sts = yaml.safe_load((DEPLOY / "k8s" / "statefulset.yaml").read_text())
    spec = sts["spec"]
    assert sts["kind"] == "StatefulSet" and spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["signer"]["readOnly"] and mounts["config"]["readOnly"]
    assert [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]] == ["journal"]
    monitor = yaml.safe_load((DEPLOY / "k8s" / "servicemonitor.yaml").read_text())
    assert monitor["kind"] == "ServiceMonitor" and monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: `make setup` installs Debian's prometheus package")
    return path


def test_alert_rules_check_and_unit_tests() -> None:
    folder = DEPLOY / "prometheus"
    check = subprocess.run([promtool(), "check", "rules", "alerts.yml"], cwd=folder, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = subprocess.run([promtool(), "test", "rules", "alerts_test.yml"], cwd=folder, capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    rules = yaml.safe_load((folder / "alerts.yml").read_text())["groups"][0]["rules"]
    tested = (folder / "alerts_test.yml").read_text()
    for rule in rules:
        assert f"alertname: {rule['alert']}" in tested, f"{rule['alert']} has no promtool unit test"


def test_nothing_reads_outside_the_repository() -> None:
    """A user's clone has no ../shared: code, tests, Makefile, Dockerfile and CI read only the repository."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    suffixes = (".py", ".mjs", ".yml", ".yaml", ".toml", ".sh", ".cfg")
    names = ("Makefile", "Dockerfile", "run")
    offenders = []
    for name in tracked:
        if name.startswith("tests/data/") or name == "tests/deploy/test_static.py":
            continue
        if not (name.endswith(suffixes) or Path(name).name in names):
            continue
        text = (ROOT / name).read_text(errors="replace")
        if re.search(r"\.\./shared|parents\[2\]\s*/\s*\"shared\"|/work/", text):
            offenders.append(name)
    assert offenders == []

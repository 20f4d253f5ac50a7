"""Dependencies point down: the ground floor (ssz, metrics, the journal, fault points, the shared types and
decoders) imports nothing above it, and beacon/ and execution/ import neither reporting/ nor the service.
Read from the source with `ast`, so a new import that breaks the rule fails here, not in review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent / "oracle"

GROUND = {
    "oracle.__version__",
    "oracle.ssz",
    "oracle.metrics",
    "oracle.journal",
    "oracle.faultpoints",
    "oracle.types",
    "oracle.safejson",
}
# What each floor may import from the project, besides itself.
ALLOWED: dict[str, set[str]] = {
    **{name: GROUND for name in GROUND},
    "oracle.config": GROUND,
    "oracle.beacon": GROUND | {"oracle.config"},
    "oracle.execution": GROUND | {"oracle.config"},
    "oracle.reporting": GROUND | {"oracle.config", "oracle.beacon", "oracle.execution"},
    # The keeper stands beside reporting/ and reads through its cycle's context; reporting/ never imports it.
    "oracle.keeper": GROUND | {"oracle.config", "oracle.beacon", "oracle.execution", "oracle.reporting"},
    # Many-validator pools' reports send their transactions as the keeper's duties are sent (its journal
    # actions, pre-flight and resume); neither reporting/ nor the keeper imports them.
    "oracle.setpools": GROUND
    | {"oracle.config", "oracle.beacon", "oracle.execution", "oracle.reporting", "oracle.keeper"},
}


def floor(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def project_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "oracle":
                found |= {f"oracle.{alias.name}" for alias in node.names}
            elif node.module.startswith("oracle."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("oracle.")}
    return found


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT.parent).with_suffix("")
    return ".".join(part for part in relative.parts if part != "__init__")


def test_every_floor_imports_only_what_lies_below_it() -> None:
    broken: list[str] = []
    for path in sorted(ROOT.rglob("*.py")):
        module = module_name(path)
        own = floor(module)
        allowed = ALLOWED.get(own)
        if allowed is None:  # the top: cli, ops, service, devnet may use anything below
            continue
        for imported in sorted(project_imports(path)):
            if floor(imported) != own and floor(imported) not in allowed:
                broken.append(f"{module} imports {imported}")
    assert broken == []


def test_the_checker_sees_every_form_of_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from oracle.reporting.context import Context\nfrom oracle import metrics\nimport oracle.beacon.client\n"
    )
    assert project_imports(probe) == {"oracle.reporting.context", "oracle.metrics", "oracle.beacon.client"}

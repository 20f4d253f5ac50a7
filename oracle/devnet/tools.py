"""Where the devnet's node tools live: installed by `make setup` from tools/package-lock.json."""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = Path(os.environ.get("POOL_ORACLE_TOOLS_DIR", PROJECT_ROOT / "tools"))


class ToolMissing(RuntimeError):
    """A node tool the devnet needs is not installed."""


def _platform_package() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    system = platform.system().lower()
    return f"anvil-{system}-{arch}"


def anvil_path() -> Path:
    """The anvil binary: $POOL_ORACLE_ANVIL, else the npm platform package's binary, else PATH."""
    configured = os.environ.get("POOL_ORACLE_ANVIL")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise ToolMissing(f"POOL_ORACLE_ANVIL={configured} is not a file")
        return path
    shipped = TOOLS_DIR / "node_modules" / "@foundry-rs" / _platform_package() / "bin" / "anvil"
    if shipped.is_file():
        return shipped
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise ToolMissing(f"anvil not found (looked for {shipped} and on PATH): run `make setup`")


def solcjs_path() -> Path:
    script = TOOLS_DIR / "node_modules" / "solc" / "solc.js"
    if not script.is_file():
        raise ToolMissing(f"solc (npm) not found at {script}: run `make setup`")
    return script


def node_path() -> str:
    found = shutil.which("node")
    if not found:
        raise ToolMissing("node not found on PATH (needed to run the npm solc compiler)")
    return found

"""Compile the reference contracts with the pinned npm `solc`, into the committed artifacts file.

`python -m oracle.devnet.compile` rewrites `contracts/artifacts.json`; a test recompiles and checks that
the committed artifacts are current.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from oracle.devnet.tools import node_path, solcjs_path

CONTRACTS_DIR = Path(__file__).parent / "contracts"
ARTIFACTS = CONTRACTS_DIR / "artifacts.json"
EVM_VERSION = "cancun"


def sources() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(CONTRACTS_DIR.glob("*.sol"))}


def sources_digest(texts: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(texts):
        digest.update(name.encode() + b"\0" + texts[name].encode() + b"\0")
    return digest.hexdigest()


def compile_contracts() -> dict[str, Any]:
    texts = sources()
    request = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in texts.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": EVM_VERSION,
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "storageLayout"]}
            },
        },
    }
    # Call the solc module directly and write through a file: solcjs's CLI exits before a piped stdout
    # drains, cutting large outputs at 64 KiB.
    with tempfile.TemporaryDirectory() as scratch:
        request_path, output_path = Path(scratch) / "in.json", Path(scratch) / "out.json"
        request_path.write_text(json.dumps(request))
        script = (
            "const fs = require('fs'); const solc = require(process.argv[1]);"
            "fs.writeFileSync(process.argv[3], solc.compile(fs.readFileSync(process.argv[2], 'utf8')));"
        )
        result = subprocess.run(
            [node_path(), "-e", script, str(solcjs_path().parent), str(request_path), str(output_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode or not output_path.exists():
            raise RuntimeError(f"solc failed: {result.stderr.strip()[:500]}")
        output = json.loads(output_path.read_text())
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise RuntimeError("solc: " + "\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))
    version = subprocess.run(
        [node_path(), str(solcjs_path()), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    contracts: dict[str, Any] = {}
    for file_contracts in output["contracts"].values():
        for name, artifact in file_contracts.items():
            if not artifact["evm"]["bytecode"]["object"]:
                continue  # interfaces
            contracts[name] = {
                "abi": artifact["abi"],
                "bytecode": "0x" + artifact["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + artifact["evm"]["deployedBytecode"]["object"],
                # name -> storage slot, for the devnet's genesis fixtures (anvil_setStorageAt)
                "storageSlots": {
                    e["label"]: int(e["slot"]) for e in artifact.get("storageLayout", {}).get("storage", [])
                },
            }
    return {
        "compiler": f"solc {version}",
        "evmVersion": EVM_VERSION,
        "sources_sha256": sources_digest(texts),
        "contracts": dict(sorted(contracts.items())),
    }


def load_artifacts() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ARTIFACTS.read_text())
    return data


def main() -> int:
    artifacts = compile_contracts()
    ARTIFACTS.write_text(json.dumps(artifacts, indent=1, sort_keys=True) + "\n")
    print(
        f"wrote {ARTIFACTS} ({len(artifacts['contracts'])} contracts, {artifacts['compiler']})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The beacon-kit fixtures (tests/data/beacon-kit/): loading, and the shape of a JSON answer, so that the
devnet's answers can be compared with beacon-kit's field by field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

FIXTURES = Path(__file__).resolve().parent / "data" / "beacon-kit"
_HEX = re.compile(r"^0x[0-9a-fA-F]*$")
_BYTE_LENGTHS = {4, 20, 32, 48, 96, 256}
_BYTES_KINDS = {"bytes"} | {f"bytes{n}" for n in _BYTE_LENGTHS}


def fixture(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return doc


def fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def kind(value: Any) -> str:
    """What a JSON scalar is, as beacon-kit's encoders tell them apart."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "number"
    if isinstance(value, str):
        if value.isdigit():
            return "decimal"
        if _HEX.match(value):
            digits = value[2:]
            if len(digits) == 40 and value == to_checksum_address(value):
                return "address (checksummed)"
            if 0 < len(digits) <= 16 and (digits == "0" or not digits.startswith("0")):
                return "hex number"  # math.U64: no leading zeros (a 4-byte version starts 0x0)
            if len(digits) % 2 == 0 and len(digits) // 2 in _BYTE_LENGTHS:
                return f"bytes{len(digits) // 2}"
            return "bytes"
        return "text"
    return type(value).__name__


def _empty(value: Any) -> bool:
    return value in (0, "0x0", [], False)


def shape_differences(expected: Any, actual: Any, path: str = "$", omitempty: bool = False) -> list[str]:
    """Where `actual` is not shaped like `expected`: key sets, JSON types, number and byte encodings. With
    `omitempty` (Go's, on every BeaconState field), a key of this object may be absent on either side: the
    absent side's value is the zero one."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {kind(actual)}"]
        out = []
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                if not omitempty:
                    out.append(f"{path}.{key}: missing")
            elif key not in expected:
                if not omitempty:
                    out.append(f"{path}.{key}: not in beacon-kit's answer")
                elif _empty(actual[key]):
                    out.append(f"{path}.{key}: a zero value beacon-kit leaves out (omitempty)")
            else:
                out.extend(shape_differences(expected[key], actual[key], f"{path}.{key}"))
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {kind(actual)}"]
        if not expected or not actual:
            return []
        out = []
        for i, item in enumerate(actual):
            out.extend(shape_differences(expected[0], item, f"{path}[{i}]"))
        return out[:10]
    if kind(expected) != kind(actual):
        # extraData and similar variable-length bytes: any 0x-hex of whole bytes
        if {kind(expected), kind(actual)} <= {
            "bytes",
            "bytes32",
            "bytes4",
            "bytes20",
            "bytes48",
            "bytes96",
            "bytes256",
        }:
            return []
        return [
            f"{path}: expected {kind(expected)} like {str(expected)[:20]!r}, got {kind(actual)} {str(actual)[:20]!r}"
        ]
    return []

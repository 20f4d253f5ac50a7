"""Beacon API JSON for SSZ values: uints as decimal strings, bytes and bitfields as 0x-hex, containers as
objects. Derived from the type declarations, so every layout's state converts both ways."""

from __future__ import annotations

from typing import Any

import numpy as np

from oracle.ssz.errors import SSZError
from oracle.ssz.types import (
    Bitlist,
    Bitvector,
    Boolean,
    ByteList,
    ByteVector,
    Container,
    List,
    SSZType,
    UInt,
    Vector,
)


def to_json(sszt: SSZType, value: Any) -> Any:
    """Python value (as `decode` returns it) -> Beacon API JSON."""
    if isinstance(sszt, UInt):
        return str(int(value))
    if isinstance(sszt, Boolean):
        return bool(value)
    if isinstance(sszt, ByteVector | ByteList):
        return "0x" + bytes(value).hex()
    if isinstance(sszt, Bitvector | Bitlist):
        return "0x" + sszt.encode(value).hex()
    if isinstance(sszt, Vector | List):
        return [to_json(sszt.elem, item) for item in value]
    if isinstance(sszt, Container):
        return {name: to_json(ftype, value[name]) for name, ftype in sszt.fields}
    raise SSZError(f"no JSON form for {sszt.name}")


def _hex(obj: Any, path: str) -> bytes:
    if not isinstance(obj, str) or not obj.startswith("0x"):
        raise SSZError(f"expected a 0x-hex string, got {str(obj)[:40]!r}", path=path)
    try:
        return bytes.fromhex(obj[2:])
    except ValueError:
        raise SSZError(f"not hex: {obj[:40]!r}", path=path) from None


def json_bool(obj: Any, path: str) -> bool:
    if not isinstance(obj, bool):
        raise SSZError(f"expected true or false, got {str(obj)[:40]!r}", path=path)
    return obj


def sized_bytes(sszt: ByteVector | ByteList, data: bytes, path: str) -> bytes:
    """`data` if it has the length a ByteVector needs, or fits a ByteList's limit."""
    if isinstance(sszt, ByteVector) and len(data) != sszt.length:
        raise SSZError(f"expected {sszt.length} bytes, got {len(data)}", path=path)
    if isinstance(sszt, ByteList) and len(data) > sszt.limit:
        raise SSZError(f"{len(data)} bytes exceed the limit {sszt.limit}", path=path)
    return data


def json_list(sszt: Vector | List, obj: Any, path: str) -> list[Any]:
    """`obj` if it is a list of as many elements as a Vector needs, or a List allows."""
    if not isinstance(obj, list):
        raise SSZError(f"expected a list, got {type(obj).__name__}", path=path)
    if isinstance(sszt, Vector) and len(obj) != sszt.length:
        raise SSZError(f"expected {sszt.length} elements, got {len(obj)}", path=path)
    if isinstance(sszt, List) and len(obj) > sszt.limit:
        raise SSZError(f"{len(obj)} elements exceed the limit {sszt.limit}", path=path)
    return obj


def from_json(sszt: SSZType, obj: Any, path: str = "$") -> Any:
    """Beacon API JSON -> a Python value that `encode` accepts. Raises SSZError naming the JSON path."""
    if isinstance(sszt, UInt):
        if isinstance(obj, bool) or not isinstance(obj, str | int):
            raise SSZError(f"expected a decimal string, got {str(obj)[:40]!r}", path=path)
        text = str(obj)
        if not text.isdigit():
            raise SSZError(f"expected a decimal string, got {text[:40]!r}", path=path)
        number = int(text)
        if number >= 1 << sszt.bits:
            raise SSZError(f"{number} does not fit {sszt.name}", path=path)
        return number
    if isinstance(sszt, Boolean):
        return json_bool(obj, path)
    if isinstance(sszt, ByteVector | ByteList):
        return sized_bytes(sszt, _hex(obj, path), path)
    if isinstance(sszt, Bitvector | Bitlist):
        data = _hex(obj, path)
        buf = np.frombuffer(data, dtype=np.uint8)
        return sszt.decode(buf, 0, len(data), path)
    if isinstance(sszt, Vector | List):
        return [from_json(sszt.elem, item, f"{path}[{i}]") for i, item in enumerate(json_list(sszt, obj, path))]
    if isinstance(sszt, Container):
        if not isinstance(obj, dict):
            raise SSZError(f"expected an object, got {type(obj).__name__}", path=path)
        missing = [name for name, _ in sszt.fields if name not in obj]
        if missing:
            raise SSZError(f"missing field(s) {', '.join(missing)}", path=path)
        return {name: from_json(ftype, obj[name], f"{path}.{name}") for name, ftype in sszt.fields}
    raise SSZError(f"no JSON form for {sszt.name}", path=path)


def ssz_from_json(sszt: SSZType, obj: Any, path: str = "$") -> bytes:
    return sszt.encode(from_json(sszt, obj, path))


def json_from_ssz(sszt: SSZType, data: bytes) -> Any:
    buf = np.frombuffer(data, dtype=np.uint8)
    return to_json(sszt, sszt.decode(buf, 0, len(data), sszt.name))

"""JSON from outside, decoded without risking the process.

py-ecc (imported with eth-account) raises Python's recursion limit to 100,000, so a deeply nested JSON
document no longer stops at a RecursionError: the C decoder overflows the C stack and the process dies
with a segmentation fault. Every outside JSON document is measured first and refused past `MAX_DEPTH`.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

# Beacon API answers and states nest 5 or 6 levels; JSON-RPC a few more.
MAX_DEPTH = 64
_CHUNK = 1 << 20
_OPEN = (ord("["), ord("{"))
_CLOSE = (ord("]"), ord("}"))


def nesting_depth(data: bytes | bytearray | memoryview) -> int:
    """The deepest bracket nesting, counting brackets inside strings too (an over-estimate, never under)."""
    view = np.frombuffer(data, dtype=np.uint8)
    depth = deepest = 0
    for start in range(0, view.shape[0], _CHUNK):
        chunk = view[start : start + _CHUNK]
        steps = ((chunk == _OPEN[0]) | (chunk == _OPEN[1])).astype(np.int32)
        steps -= ((chunk == _CLOSE[0]) | (chunk == _CLOSE[1])).astype(np.int32)
        running = np.cumsum(steps) + depth
        deepest = max(deepest, int(running.max()))
        depth = int(running[-1])
    return deepest


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """json.loads that raises ValueError, and only ValueError, for anything that is not a sane document."""
    raw = data.encode() if isinstance(data, str) else bytes(data) if isinstance(data, memoryview) else data
    if nesting_depth(raw) > MAX_DEPTH:
        raise ValueError(f"JSON nests deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nests too deeply") from None

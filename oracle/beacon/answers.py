"""What a Beacon API node answers, checked: the answer types, their parsers (a malformed answer is an
`EndpointError` naming what is wrong) and how an HTTP error is told from an outage."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from oracle import safejson
from oracle.ssz.compact import MAX_COMPACT_LEAVES, MAX_DESCRIPTOR_BYTES

# A structured error whose message says this is an answer, not an outage: beacon-kit says "not found" with 500.
_NOT_FOUND_WORDS = ("not found", "out of range", "no slot", "not supported for genesis")


class EndpointError(Exception):
    """A node that failed or answered nonsense. `retryable` errors are retried within the time budget."""

    def __init__(self, endpoint: str, route: str, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(f"{endpoint} {route}: {message}")
        self.endpoint = endpoint
        self.route = route
        self.status = status
        self.retryable = retryable


class NotFound(EndpointError):
    """A state, block, timestamp or validator the node does not have (pruned, missed slot, not yet, past the
    end): 404, or beacon-kit's 500 with a not-found message. An answer, never retried."""


@dataclass(frozen=True)
class Genesis:
    time: int
    validators_root: bytes
    fork_version: bytes


@dataclass(frozen=True)
class Header:
    """A block header; `root` is hash_tree_root of the message, computed here (beacon-kit's `data.root` is
    the body root, so the answer's own root is only cross-checked)."""

    slot: int
    proposer_index: int
    parent_root: bytes
    state_root: bytes
    body_root: bytes
    root: bytes


@dataclass(frozen=True)
class Syncing:
    head_slot: int
    is_syncing: bool
    distance: int


def _hex(value: Any, where: str, length: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"{where}: expected 0x-hex, got {str(value)[:40]!r}")
    data = bytes.fromhex(value[2:])
    if length is not None and len(data) != length:
        raise ValueError(f"{where}: expected {length} bytes, got {len(data)}")
    return data


def _uint(value: Any, where: str) -> int:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ValueError(f"{where}: expected a decimal string, got {str(value)[:40]!r}")


def _int(value: Any, where: str) -> int:
    """A signed decimal string (beacon-kit's sync distance is a difference of two heights)."""
    if isinstance(value, str) and value.lstrip("-").isdigit() and value.count("-") <= 1:
        return int(value)
    raise ValueError(f"{where}: expected a decimal string, got {str(value)[:40]!r}")


def _hex_uint(value: Any, where: str) -> int:
    """beacon-kit's numbers: 0x-hex strings."""
    if isinstance(value, str) and value.startswith("0x") and 2 < len(value) <= 18:
        return int(value, 16)
    raise ValueError(f"{where}: expected a 0x-hex number, got {str(value)[:40]!r}")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


# -- answers, parsed: plain functions of the decoded body (the conformance fixtures drive them) ---------------


def parse_genesis(body: Any) -> Genesis:
    d = _object(_object(body, "body")["data"], "data")
    return Genesis(
        _uint(d["genesis_time"], "genesis_time"),
        _hex(d["genesis_validators_root"], "genesis_validators_root", 32),
        _hex(d["genesis_fork_version"], "genesis_fork_version", 4),
    )


def parse_spec(body: Any) -> dict[str, str]:
    data = _object(_object(body, "body")["data"], "data")
    return {str(k): str(v) for k, v in data.items()}


def parse_syncing(body: Any) -> Syncing:
    d = _object(_object(body, "body")["data"], "data")
    if not isinstance(d["is_syncing"], bool):
        raise ValueError("is_syncing: expected true or false")
    return Syncing(_uint(d["head_slot"], "head_slot"), d["is_syncing"], _int(d["sync_distance"], "sync_distance"))


def header_root(slot: int, proposer_index: int, parent_root: bytes, state_root: bytes, body_root: bytes) -> bytes:
    """hash_tree_root(BeaconBlockHeader), on hashlib."""
    leaves = [
        slot.to_bytes(32, "little"),
        proposer_index.to_bytes(32, "little"),
        parent_root,
        state_root,
        body_root,
        b"\x00" * 32,
        b"\x00" * 32,
        b"\x00" * 32,
    ]
    while len(leaves) > 1:
        leaves = [hashlib.sha256(leaves[i] + leaves[i + 1]).digest() for i in range(0, len(leaves), 2)]
    return leaves[0]


def parse_header(body: Any) -> Header:
    d = _object(_object(body, "body")["data"], "data")
    m = _object(_object(d["header"], "header")["message"], "message")
    fields = (
        _uint(m["slot"], "slot"),
        _uint(m["proposer_index"], "proposer_index"),
        _hex(m["parent_root"], "parent_root", 32),
        _hex(m["state_root"], "state_root", 32),
        _hex(m["body_root"], "body_root", 32),
    )
    root = header_root(*fields)
    answered = _hex(d["root"], "root", 32)
    if answered not in (root, fields[4]):  # the block root (the spec), or the body root (beacon-kit)
        raise ValueError("root is neither the header's hash_tree_root nor its body root")
    return Header(*fields, root)


def parse_validators(body: Any) -> list[dict[str, Any]]:
    data = _object(body, "body")["data"]
    if not isinstance(data, list):
        raise ValueError("data: expected a list")
    out = []
    for entry in data:
        v = _object(_object(entry, "data[]")["validator"], "validator")
        out.append(
            {
                "index": _uint(entry["index"], "index"),
                "balance": _uint(entry["balance"], "balance"),
                "status": str(entry["status"]),
                "pubkey": _hex(v["pubkey"], "pubkey", 48),
                "withdrawal_credentials": _hex(v["withdrawal_credentials"], "withdrawal_credentials", 32),
                "exit_epoch": _uint(v["exit_epoch"], "exit_epoch"),
            }
        )
    return out


PROOF_KINDS = ("validator_pubkey", "validator_credentials", "validator_balance")


def parse_bkit_proof(kind: str, body: Any) -> dict[str, Any]:
    """beacon-kit's /bkit/v1/proof answers: no envelope, numbers as 0x-hex, the header as beacon-kit's own
    struct (`parent_block_root`)."""
    b = _object(body, "body")
    h = _object(b["beacon_block_header"], "beacon_block_header")
    parsed: dict[str, Any] = {
        "slot": _hex_uint(h["slot"], "beacon_block_header.slot"),
        "proposer_index": _hex_uint(h["proposer_index"], "beacon_block_header.proposer_index"),
        "parent_root": _hex(h["parent_block_root"], "beacon_block_header.parent_block_root", 32),
        "state_root": _hex(h["state_root"], "beacon_block_header.state_root", 32),
        "body_root": _hex(h["body_root"], "beacon_block_header.body_root", 32),
        "block_root": _hex(b["beacon_block_root"], "beacon_block_root", 32),
    }

    def branch(name: str) -> list[bytes]:
        nodes = b[name]
        if not isinstance(nodes, list) or len(nodes) > 128:
            raise ValueError(f"{name}: expected a list of at most 128 nodes")
        return [_hex(n, f"{name}[]", 32) for n in nodes]

    if kind == "validator_pubkey":
        parsed["pubkey"] = _hex(b["validator_pubkey"], "validator_pubkey", 48)
        parsed["proof"] = branch("validator_pubkey_proof")
    elif kind == "validator_credentials":
        parsed["credentials"] = _hex(b["validator_withdrawal_credentials"], "validator_withdrawal_credentials", 32)
        parsed["proof"] = branch("withdrawal_credentials_proof")
    elif kind == "validator_balance":
        parsed["balance"] = _hex_uint(b["validator_balance"], "validator_balance")
        parsed["leaf"] = _hex(b["balance_leaf"], "balance_leaf", 32)
        parsed["proof"] = branch("balance_proof")
    else:
        raise ValueError(f"unknown proof kind {kind!r}")
    return parsed


def parse_compact_proof(body: Any) -> tuple[bytes, list[bytes]]:
    """Lodestar's /eth/v0/beacon/proof/state answer as JSON (CompactMultiProofType.toJson under `data`):
    (descriptor, leaves), within the type's bounds (10000 leaves, a 2048-byte descriptor)."""
    d = _object(_object(body, "body")["data"], "data")
    leaves = d["leaves"]
    if not isinstance(leaves, list) or len(leaves) > MAX_COMPACT_LEAVES:
        raise ValueError(f"leaves: expected a list of at most {MAX_COMPACT_LEAVES} nodes")
    descriptor = _hex(d["descriptor"], "descriptor")
    if len(descriptor) > MAX_DESCRIPTOR_BYTES:
        raise ValueError(f"descriptor: {len(descriptor)} bytes, more than {MAX_DESCRIPTOR_BYTES}")
    return descriptor, [_hex(leaf, "leaves[]", 32) for leaf in leaves]


def error_class(status: int, body: bytes, content_type: str) -> tuple[type[EndpointError], bool, str]:
    """(error type, retryable, message) of an HTTP error answer. A structured `{"code","message"}` body is
    the application answering (beacon-kit answers 500 for what is not there): never retried, and a
    not-found message is NotFound. Gateways' 502/503/504, 429 and bare 500s are transient."""
    message = body[:300].decode(errors="replace")
    structured = False
    if "json" in content_type:
        try:
            parsed = safejson.loads(body[:65536])
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and "message" in parsed:
            message, structured = str(parsed["message"])[:300], True
    if status == 404 or (structured and any(word in message.lower() for word in _NOT_FOUND_WORDS)):
        return NotFound, False, message
    if structured and status == 500:
        return EndpointError, False, message
    return EndpointError, status >= 500 or status == 429, message


def decode_json(data: bytes) -> Any:
    """JSON from a node: ValueError for anything malformed, a deeply nested body included (safejson)."""
    return safejson.loads(data)


def _mapping(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return dict(pairs)  # Python code at every object: the decoding thread can hand the GIL to the event loop


def decode_json_in_worker(data: bytes) -> Any:
    """decode_json for a large document, in a worker thread: the C decoder holds the GIL from start to end of
    a plain json.loads (~1 s for 50 MB, the loop frozen however it was called); a Python hook at each object
    lets the interpreter switch threads there. The collector is paused meanwhile: a decoded document holds no
    cycles, and full collections over its millions of new objects would hold the GIL for 100 ms at a time."""
    if safejson.nesting_depth(data) > safejson.MAX_DEPTH:
        raise ValueError(f"JSON nests deeper than {safejson.MAX_DEPTH} levels")
    try:
        with _collector_paused():
            return json.loads(data, object_pairs_hook=_mapping)
    except RecursionError:
        raise ValueError("JSON nests too deeply") from None


_collector = {"pauses": 0}
_collector_lock = threading.Lock()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    with _collector_lock:
        _collector["pauses"] += 1
        gc.disable()
    try:
        yield
    finally:
        with _collector_lock:
            _collector["pauses"] -= 1
            if not _collector["pauses"]:
                gc.enable()

"""beacon-kit's debug-state JSON: Go's `encoding/json` of beacon-kit's own `BeaconState` struct, not the
Beacon API's encoding. Both directions, derived from the layouts' declarations plus one table of how
beacon-kit's Go structs name and write each field.

What the table records (github berachain/beacon-kit at 2059e2abe, `consensus-types/types/`):
- `math.U64` and its aliases (Slot, Epoch, Gwei, ValidatorIndex) marshal as 0x-hex strings without leading
  zeros (`primitives/encoding/hex/u64.go`); plain Go `uint64` fields (balances, eth1_deposit_index,
  next_withdrawal_index) as bare JSON numbers; `baseFeePerGas` (a holiman uint256) as a decimal string.
- Keys are snake_case on `BeaconState` (`state.go`) and the header (`parent_block_root`, `header.go`),
  camelCase in `Validator`, `Eth1Data` and `ExecutionPayloadHeader`, and Go's field names in
  `PendingPartialWithdrawal`, which has no JSON tags.
- Every top-level field is `omitempty`: zero numbers and empty lists are left out (roots never are).
- Byte arrays are 0x-hex; the fee recipient is an EIP-55 checksummed address.
The layout comes from the response's `version` (`primitives/version/name.go`): there is no
`Eth-Consensus-Version` header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from oracle.ssz.errors import SSZError
from oracle.ssz.jsonfmt import from_json, json_bool, json_list, sized_bytes
from oracle.ssz.layouts import LAYOUTS, Layout
from oracle.ssz.types import Boolean, ByteList, ByteVector, Container, List, SSZType, UInt, Vector

HEX, NUMBER, DECIMAL = "hex", "number", "decimal"
_HEX_UINT = re.compile(r"^0x[0-9a-fA-F]{1,64}$")


@dataclass(frozen=True)
class GoField:
    """How one SSZ field appears in beacon-kit's Go JSON."""

    key: str
    number: str = HEX  # a uint (or a list's uints): HEX (math.U64), NUMBER (Go uint64), DECIMAL (uint256)
    omitempty: bool = False
    address: bool = False  # common.ExecutionAddress: EIP-55 checksummed


_STATE_NUMBERS = {"eth1_deposit_index": NUMBER, "balances": NUMBER, "next_withdrawal_index": NUMBER}
_CAMEL = {
    "Eth1Data": ["deposit_root", "deposit_count", "block_hash"],
    "Validator": [
        "pubkey",
        "withdrawal_credentials",
        "effective_balance",
        "slashed",
        "activation_eligibility_epoch",
        "activation_epoch",
        "exit_epoch",
        "withdrawable_epoch",
    ],
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


GO_FIELDS: dict[str, dict[str, GoField]] = {
    "Fork": {name: GoField(name) for name in ("previous_version", "current_version", "epoch")},
    "BeaconBlockHeader": {
        "slot": GoField("slot"),
        "proposer_index": GoField("proposer_index"),
        "parent_root": GoField("parent_block_root"),
        "state_root": GoField("state_root"),
        "body_root": GoField("body_root"),
    },
    **{container: {name: GoField(_camel(name)) for name in names} for container, names in _CAMEL.items()},
    "ExecutionPayloadHeader": {
        "parent_hash": GoField("parentHash"),
        "fee_recipient": GoField("feeRecipient", address=True),
        "state_root": GoField("stateRoot"),
        "receipts_root": GoField("receiptsRoot"),
        "logs_bloom": GoField("logsBloom"),
        "prev_randao": GoField("prevRandao"),
        "block_number": GoField("blockNumber"),
        "gas_limit": GoField("gasLimit"),
        "gas_used": GoField("gasUsed"),
        "timestamp": GoField("timestamp"),
        "extra_data": GoField("extraData"),
        "base_fee_per_gas": GoField("baseFeePerGas", DECIMAL),
        "block_hash": GoField("blockHash"),
        "transactions_root": GoField("transactionsRoot"),
        "withdrawals_root": GoField("withdrawalsRoot"),
        "blob_gas_used": GoField("blobGasUsed"),
        "excess_blob_gas": GoField("excessBlobGas"),
    },
    "PendingPartialWithdrawal": {
        "validator_index": GoField("ValidatorIndex"),
        "amount": GoField("Amount"),
        "withdrawable_epoch": GoField("WithdrawableEpoch"),
    },
    "BeaconState": {
        name: GoField(name, _STATE_NUMBERS.get(name, HEX), omitempty=True)
        for layout in LAYOUTS.values()
        if layout.family == "beaconkit"
        for name, _ in layout.state.fields
    },
}

# beacon-kit's fork names (`primitives/version/name.go`) and the state layout each one uses.
VERSION_LAYOUTS = {
    "deneb": "beaconkit-deneb",
    "deneb1": "beaconkit-deneb",
    "electra": "beaconkit-electra",
    "electra1": "beaconkit-electra",
    "fulu": "beaconkit-electra",
}
# The first byte of a fork version: 4 Deneb, 5 Electra, 6 Fulu (`primitives/version/versions.go`).
_VERSION_MAJOR = {"deneb": 4, "deneb1": 4, "electra": 5, "electra1": 5, "fulu": 6}
VERSION_BYTES = {"deneb": "04000000", "deneb1": "04010000", "electra": "05000000", "electra1": "05010000",
                 "fulu": "06000000"}  # fmt: skip


def _go_fields(container: Container) -> dict[str, GoField]:
    table = GO_FIELDS.get(container.name)
    if table is None or any(name not in table for name, _ in container.fields):
        raise SSZError(f"no beacon-kit JSON form declared for {container.name}")
    return table


# -- reading --------------------------------------------------------------------------------------------------


def _uint(obj: Any, sszt: UInt, number: str, path: str) -> int:
    if number == NUMBER:
        if isinstance(obj, bool) or not isinstance(obj, int) or obj < 0:
            raise SSZError(f"expected a JSON number (Go uint64), got {str(obj)[:40]!r}", path=path)
        value = obj
    elif number == DECIMAL:
        if not isinstance(obj, str) or not obj.isdigit() or len(obj) > 78:
            raise SSZError(f"expected a decimal string, got {str(obj)[:40]!r}", path=path)
        value = int(obj)
    else:
        if not isinstance(obj, str) or not _HEX_UINT.match(obj):
            raise SSZError(f"expected a 0x-hex number (math.U64), got {str(obj)[:40]!r}", path=path)
        value = int(obj, 16)
    if value >= 1 << sszt.bits:
        raise SSZError(f"{value} does not fit {sszt.name}", path=path)
    return value


def _bytes(obj: Any, path: str) -> bytes:
    if not isinstance(obj, str) or not obj.startswith("0x") or len(obj) % 2:
        raise SSZError(f"expected 0x-hex bytes, got {str(obj)[:40]!r}", path=path)
    try:
        return bytes.fromhex(obj[2:])
    except ValueError:
        raise SSZError(f"not hex: {obj[:40]!r}", path=path) from None


def _read(sszt: SSZType, obj: Any, path: str, go: GoField | None) -> Any:
    number = go.number if go else HEX
    if isinstance(sszt, UInt):
        return _uint(obj, sszt, number, path)
    if isinstance(sszt, Boolean):
        return json_bool(obj, path)
    if isinstance(sszt, ByteVector | ByteList):
        return sized_bytes(sszt, _bytes(obj, path), path)
    if isinstance(sszt, Vector | List):
        obj = json_list(sszt, obj, path)
        elem_go = GoField("", number) if not isinstance(sszt.elem, Container) else None
        return [_read(sszt.elem, item, f"{path}[{i}]", elem_go) for i, item in enumerate(obj)]
    if isinstance(sszt, Container):
        return _read_container(sszt, obj, path)
    raise SSZError(f"no beacon-kit JSON form for {sszt.name}", path=path)


def _empty(sszt: SSZType) -> Any:
    """The value Go's omitempty leaves out: a zero number, false, an empty list."""
    if isinstance(sszt, UInt):
        return 0
    if isinstance(sszt, Boolean):
        return False
    if isinstance(sszt, List):
        return []
    return None


def _read_container(sszt: Container, obj: Any, path: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise SSZError(f"expected an object, got {type(obj).__name__}", path=path)
    table = _go_fields(sszt)
    keys = {table[name].key for name, _ in sszt.fields}
    unknown = sorted(str(k) for k in obj if k not in keys)
    if unknown:
        raise SSZError(
            # keys repr'd: they come from outside, and an error stays one line whatever they hold
            f"unexpected field(s) {', '.join(repr(k) for k in unknown[:5])} for {sszt.name} (a newer fork than the "
            "layout?)",
            path=path,
        )
    out: dict[str, Any] = {}
    missing = []
    for name, ftype in sszt.fields:
        go = table[name]
        if go.key in obj:
            out[name] = _read(ftype, obj[go.key], f"{path}.{go.key}", go)
        elif go.omitempty and _empty(ftype) is not None:
            out[name] = _empty(ftype)
        else:
            missing.append(go.key)
    if missing:
        raise SSZError(f"missing field(s) {', '.join(missing)}", path=path)
    return out


def layout_for_version(version: Any, family: str = "beaconkit") -> Layout:
    if not isinstance(version, str):
        raise SSZError(f"expected a fork name, got {str(version)[:40]!r}", path="$.version")
    if family == "beaconkit":
        name = VERSION_LAYOUTS.get(version)
    else:
        name = f"ethereum-{version}" if f"ethereum-{version}" in LAYOUTS else None
    if name is None:
        known = sorted(VERSION_LAYOUTS) if family == "beaconkit" else ["deneb", "electra", "fulu"]
        raise SSZError(f"unsupported fork {version!r} (known: {', '.join(known)})", path="$.version")
    return LAYOUTS[name]


def read_debug_state(doc: Any) -> tuple[Layout, str, bytes]:
    """A whole debug-state response, as a node serves it (`{"version", "data", ...}`) -> (layout, fork name,
    SSZ bytes). beacon-kit's Go encoding, or the Beacon API's (Ethereum clients), told apart by
    `genesis_time`, which only Ethereum states have. Raises SSZError naming the JSON path."""
    if not isinstance(doc, dict):
        raise SSZError(f"expected a JSON object, got {type(doc).__name__}", path="$")
    if "data" not in doc or "version" not in doc:
        raise SSZError("not a debug-state response: needs 'version' and 'data'", path="$")
    data = doc["data"]
    if not isinstance(data, dict):
        raise SSZError(f"expected an object, got {type(data).__name__}", path="$.data")
    version = doc["version"]
    if "genesis_time" in data:  # the Beacon API's encoding (an Ethereum client)
        layout = layout_for_version(version, "ethereum")
        return layout, version, layout.state.encode(from_json(layout.state, data, "$.data"))
    layout = layout_for_version(version)
    value = _read_container(layout.state, data, "$.data")
    current = value["fork"]["current_version"]
    if current[0] != _VERSION_MAJOR[version]:
        raise SSZError(
            f"fork.current_version 0x{current.hex()} is not a {version} version", path="$.data.fork.current_version"
        )
    return layout, version, layout.state.encode(value)


# -- writing (the devnet serves states exactly as beacon-kit does) ------------------------------------------------


def _write(sszt: SSZType, value: Any, go: GoField | None) -> Any:
    number = go.number if go else HEX
    if isinstance(sszt, UInt):
        n = int(value)
        return n if number == NUMBER else str(n) if number == DECIMAL else hex(n)
    if isinstance(sszt, Boolean):
        return bool(value)
    if isinstance(sszt, ByteVector | ByteList):
        data = bytes(value)
        return to_checksum_address(data) if go is not None and go.address else "0x" + data.hex()
    if isinstance(sszt, Vector | List):
        elem_go = GoField("", number) if not isinstance(sszt.elem, Container) else None
        return [_write(sszt.elem, item, elem_go) for item in value]
    if isinstance(sszt, Container):
        table = _go_fields(sszt)
        out = {}
        for name, ftype in sszt.fields:
            go_field = table[name]
            item = _write(ftype, value[name], go_field)
            if go_field.omitempty and item in (0, "0x0", [], False):
                continue
            out[go_field.key] = item
        return out
    raise SSZError(f"no beacon-kit JSON form for {sszt.name}")


def write_debug_state(layout: Layout, value: dict[str, Any], version: str) -> dict[str, Any]:
    """A decoded state -> the debug-state response beacon-kit serves (`node-api/handlers/debug/state.go`)."""
    return {
        "version": version,
        "execution_optimistic": False,
        "finalized": True,
        "data": _write(layout.state, value, None),
    }

"""The simulated chain over HTTP: the standard Beacon API endpoints the oracle uses, shaped as the OpenAPI
spec says, and in beacon-kit mode as beacon-kit answers (github berachain/beacon-kit at 2059e2abe, the
shapes pinned by tests/data/beacon-kit/): its proof endpoints; the debug state as Go's JSON of its own
BeaconState, with the fork in `version` and no Eth-Consensus-Version header; a five-key spec; headers whose
`data.root` is the body root; 500 (not 404) for what is not there, except on headers; 500 for the endpoints
it does not implement (finality_checkpoints, node/health, blocks/{id}/root); is_syncing with distance 1
once per block. In Ethereum mode it also serves Lodestar's compact state proofs
(GET /eth/v0/beacon/proof/state/{state_id}?format=<descriptor>, Lodestar's api/impl/proof), which a
beacon-kit node does not (404)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from aiohttp import web

from oracle import __version__
from oracle.devnet.anvil import DevnetError
from oracle.devnet.chain import SimulatedChain
from oracle.ssz.bkjson import VERSION_BYTES, write_debug_state
from oracle.ssz.compact import LODESTAR_MAX_GINDICES_IN_PROOF, LODESTAR_TOO_LARGE, encode_compact_proof
from oracle.ssz.errors import ProofError
from oracle.ssz.jsonfmt import to_json
from oracle.ssz.layouts import BeaconBlockHeader
from oracle.ssz.sample import FAR_FUTURE_EPOCH
from oracle.ssz.state import BeaconState, hex0x, merkleize_state, state_spans
from oracle.ssz.state_multiproof import build_compact_proof, compact_proof_from_tree

STATUSES = [
    "pending_initialized",
    "pending_queued",
    "active_ongoing",
    "active_exiting",
    "active_slashed",
    "exited_unslashed",
    "exited_slashed",
    "withdrawal_possible",
    "withdrawal_done",
]
STATUS_GROUPS = {"pending", "active", "exited", "withdrawal"}
ROOT_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
PUBKEY_RE = re.compile(r"^0x[0-9a-fA-F]{96}$")
HEX_RE = re.compile(r"^[0-9a-fA-F]*$")
MAX_GET_IDS = 64


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"code": status, "message": message}, status=status)


def validator_status(
    activation: int,
    exit_epoch: int,
    withdrawable: int,
    eligibility: int,
    slashed: bool,
    balance: int,
    epoch: int,
) -> str:
    """The Beacon API's validator status at `epoch` (the hackmd specification the API links)."""
    if activation > epoch:
        return "pending_initialized" if eligibility == FAR_FUTURE_EPOCH else "pending_queued"
    if exit_epoch > epoch:
        if slashed:
            return "active_slashed"
        return "active_exiting" if exit_epoch < FAR_FUTURE_EPOCH else "active_ongoing"
    if withdrawable > epoch:
        return "exited_slashed" if slashed else "exited_unslashed"
    return "withdrawal_possible" if balance > 0 else "withdrawal_done"


class BeaconApi:
    def __init__(
        self,
        chain: SimulatedChain,
        el_parent_slots: dict[int, int],
        chain_id: int,
        set_random_events: Callable[[bool], None] | None = None,
        reorg: Callable[[int], Awaitable[dict[str, Any]]] | None = None,
        *,
        proof_api: bool = True,
        drop_exit_requests: Callable[[int], None] | None = None,
        max_gindices_in_proof: int = LODESTAR_MAX_GINDICES_IN_PROOF,
    ) -> None:
        """`el_parent_slots` maps an EL block timestamp to the beacon slot whose root that block carries;
        `set_random_events` switches the network's random activity (POST /devnet/v1/random_events/{on,off});
        `reorg` replaces the newest slots (POST /devnet/v1/reorg/{depth}), where the devnet keeps them;
        `proof_api` off: no /bkit/v1/proof routes (a beacon-kit node with its block store off answers none);
        `drop_exit_requests(n)`: the CL ignores the next n EIP-7002 full-exit requests (POST
        /devnet/v1/exit_requests/drop/{n}), as a full request queue drops them; `max_gindices_in_proof`:
        Lodestar's --api.maxGindicesInProof, the cap of the compact state proofs (Ethereum layouts only)."""
        self.proof_api = proof_api
        self.max_gindices_in_proof = max_gindices_in_proof
        self.drop_exit_requests = drop_exit_requests
        self.set_random_events = set_random_events
        self.reorg = reorg
        self.chain = chain
        self.el_parent_slots = el_parent_slots
        self.chain_id = chain_id
        self.beaconkit = chain.layout.family == "beaconkit"
        self.fork_name = chain.layout.name.split("-", 1)[1]  # "electra": the devnet's only fork
        self._seen_head = (-1, 0.0)  # (slot, when a syncing request first saw it): beacon-kit's flicker

    # -- identifiers -------------------------------------------------------------------------------------

    def _slot_of(self, ident: str, kind: str, header: bool = False) -> int:
        """Resolve a state_id ("state") or block_id ("block") to a slot. beacon-kit answers 500 for what it
        does not have (`node-api/middleware/response.go`), except on headers, which wrap ErrNotFound."""
        chain = self.chain
        label = "state" if kind == "state" else "block"
        if self.beaconkit:
            missing = 404 if header else 500

            def not_found(slot: int) -> ApiError:
                return ApiError(missing, f"{'not found: ' if header else ''}failed to get state from height {slot}")

        else:

            def not_found(slot: int) -> ApiError:
                return ApiError(404, f"{label.capitalize()} not found")

        if (
            ident in ("head", "finalized", "justified") and self.beaconkit
        ) or ident == "head":  # CometBFT: head is final
            slot = chain.slot
        elif ident == "finalized":
            slot = chain.finalized_slot
        elif ident == "justified":
            slot = chain.justified_slot
        elif ident == "genesis":
            slot = 0
        elif ident.isdigit():
            slot = int(ident)
        elif ROOT_RE.match(ident):
            roots = chain.state_slots if kind == "state" else chain.block_slots
            found = roots.get(bytes.fromhex(ident[2:]))
            if found is None:
                if self.beaconkit:  # the block store's miss is not wrapped as not-found (storage/block/store.go)
                    raise ApiError(500, f"failed retrieving slot from block ID {ident}: slot not found at "
                                        f"{'state' if kind == 'state' else 'block'} root: {ident.lower()}")  # fmt: skip
                raise not_found(0)
            slot = found
        else:
            raise ApiError(400, f"Invalid {label} ID: {ident}")
        if slot > chain.slot or slot not in chain.records:
            raise not_found(slot)
        if kind == "block" and chain.records[slot].block_root is None:
            raise not_found(slot)
        return slot

    def _meta(self, slot: int) -> dict[str, Any]:
        return {"execution_optimistic": False, "finalized": self.beaconkit or slot <= self.chain.finalized_slot}

    def _parse_ids(self, ids: list[str]) -> tuple[set[int], set[bytes]]:
        indices: set[int] = set()
        pubkeys: set[bytes] = set()
        for ident in ids:
            if ident.isdigit():
                indices.add(int(ident))
            elif PUBKEY_RE.match(ident):
                pubkeys.add(bytes.fromhex(ident[2:]))
            else:
                raise ApiError(400, f"Invalid validator ID: {ident}")
        return indices, pubkeys

    def _parse_statuses(self, statuses: list[str]) -> set[str]:
        for status in statuses:
            if status not in STATUSES and status not in STATUS_GROUPS:
                raise ApiError(400, f"Invalid validator status: {status}")
        return set(statuses)

    # -- validators --------------------------------------------------------------------------------------

    def _validators(
        self, slot: int, ids: list[str] | None, statuses: list[str] | None, with_record: bool = True
    ) -> list[dict[str, Any]]:
        records, balances = self._columns(slot)
        indices, pubkeys = self._parse_ids(ids) if ids else (set(), set())
        wanted = self._parse_statuses(statuses) if statuses else set()
        epoch = slot // self.chain.config.slots_per_epoch
        out = []
        for index in range(records.shape[0]):
            record = records[index]
            pubkey = record[0:48].tobytes()
            if ids and index not in indices and pubkey not in pubkeys:
                continue
            fields = {
                "eligibility": int.from_bytes(record[89:97].tobytes(), "little"),
                "activation": int.from_bytes(record[97:105].tobytes(), "little"),
                "exit_epoch": int.from_bytes(record[105:113].tobytes(), "little"),
                "withdrawable": int.from_bytes(record[113:121].tobytes(), "little"),
            }
            balance = int(balances[index])
            status = validator_status(
                fields["activation"],
                fields["exit_epoch"],
                fields["withdrawable"],
                fields["eligibility"],
                bool(record[88]),
                balance,
                epoch,
            )
            if wanted and status not in wanted and status.split("_")[0] not in wanted:
                continue
            entry: dict[str, Any] = {"index": str(index), "balance": str(balance)}
            if with_record:
                entry["status"] = status
                entry["validator"] = {
                    "pubkey": hex0x(pubkey),
                    "withdrawal_credentials": hex0x(record[48:80].tobytes()),
                    "effective_balance": str(int.from_bytes(record[80:88].tobytes(), "little")),
                    "slashed": bool(record[88]),
                    "activation_eligibility_epoch": str(fields["eligibility"]),
                    "activation_epoch": str(fields["activation"]),
                    "exit_epoch": str(fields["exit_epoch"]),
                    "withdrawable_epoch": str(fields["withdrawable"]),
                }
            out.append(entry)
        return out

    def _field(self, slot: int, name: str) -> np.ndarray:
        """A top-level field's raw bytes at `slot`: listing validators needs no merkleization."""
        data = self.chain.records[slot].state
        start, end = state_spans(data, self.chain.layout)[name]
        return np.frombuffer(data, dtype=np.uint8)[start:end]

    def _columns(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        return self._field(slot, "validators").reshape(-1, 121), self._field(slot, "balances").view("<u8")

    # -- handlers ----------------------------------------------------------------------------------------

    async def syncing(self, request: web.Request) -> web.Response:
        distance = 0
        if self.beaconkit:
            # beacon-kit sets syncingToHeight in FinalizeBlock and the head moves at Commit: between the two,
            # once per block, it says is_syncing with distance 1. Here: the first 0.3 s a request sees a slot.
            now = time.monotonic()
            if self._seen_head[0] != self.chain.slot:
                self._seen_head = (self.chain.slot, now)
            distance = 1 if now - self._seen_head[1] < 0.3 else 0
        data = {
            "head_slot": str(self.chain.slot),
            "sync_distance": str(distance),
            "is_syncing": distance > 0,
            "is_optimistic": False,
            "el_offline": False,
        }
        return web.json_response({"data": data})

    async def version(self, request: web.Request) -> web.Response:
        mode = "beacon-kit" if self.beaconkit else "ethereum"
        return web.json_response({"data": {"version": f"pool-oracle-devnet/v{__version__} ({mode} mode)"}})

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def not_implemented(self, request: web.Request) -> web.Response:
        """beacon-kit's BaseHandler.NotImplemented: a plain error, so 500 (`node-api/handlers/handlers.go`)."""
        return _error(500, f"endpoint {request.path} is not yet implemented")

    async def spec(self, request: web.Request) -> web.Response:
        config = self.chain.config
        if self.beaconkit:  # the five keys of handlers/config/types/response.go
            return web.json_response(
                {
                    "data": {
                        "DEPOSIT_CONTRACT_ADDRESS": "0x4242424242424242424242424242424242424242",
                        "DEPOSIT_NETWORK_ID": str(self.chain_id),
                        "DOMAIN_AGGREGATE_AND_PROOF": "0x06000000",
                        "INACTIVITY_PENALTY_QUOTIENT": "0",
                        "INACTIVITY_PENALTY_QUOTIENT_ALTAIR": "0",
                    }
                }
            )
        data = {
            "CONFIG_NAME": "pool-oracle-devnet",
            "PRESET_BASE": "mainnet",
            "SECONDS_PER_SLOT": str(config.slot_seconds),
            "SLOTS_PER_EPOCH": str(config.slots_per_epoch),
            "DEPOSIT_CHAIN_ID": str(self.chain_id),
            "DEPOSIT_NETWORK_ID": str(self.chain_id),
            "DEPOSIT_CONTRACT_ADDRESS": "0x4242424242424242424242424242424242424242",
            "GENESIS_FORK_VERSION": "0x04000000",
            "ELECTRA_FORK_VERSION": "0x05000000",
            "ELECTRA_FORK_EPOCH": "0",
            "MIN_VALIDATOR_WITHDRAWABILITY_DELAY": str(config.withdrawal_delay_epochs),
            "SLOTS_PER_HISTORICAL_ROOT": "8192",
            "EPOCHS_PER_HISTORICAL_VECTOR": "65536",
            "VALIDATOR_REGISTRY_LIMIT": str(2**40),
        }
        return web.json_response({"data": data})

    async def genesis(self, request: web.Request) -> web.Response:
        data = {
            "genesis_time": str(self.chain.config.genesis_time),
            "genesis_validators_root": hex0x(self.chain.genesis_validators_root),
            # beacon-kit: the genesis state's fork.current_version (handlers/beacon/genesis.go)
            "genesis_fork_version": "0x" + VERSION_BYTES[self.fork_name] if self.beaconkit else "0x04000000",
        }
        return web.json_response({"data": data})

    def _header_entry(self, slot: int) -> dict[str, Any]:
        record = self.chain.records[slot]
        header = record.header
        assert record.block_root is not None
        message = {
            "slot": str(header["slot"]),
            "proposer_index": str(header["proposer_index"]),
            "parent_root": hex0x(header["parent_root"]),
            "state_root": hex0x(header["state_root"]),
            "body_root": hex0x(header["body_root"]),
        }
        return {
            # beacon-kit answers the body root here (handlers/beacon/header.go); the spec, the block root.
            "root": hex0x(header["body_root"] if self.beaconkit else record.block_root),
            "canonical": True,
            "header": {"message": message, "signature": "0x" + "00" * 96},
        }

    async def headers(self, request: web.Request) -> web.Response:
        slot_param = request.query.get("slot")
        parent = request.query.get("parent_root")
        if slot_param is not None and not slot_param.isdigit():
            raise ApiError(400, f"Invalid slot: {slot_param}")
        if parent is not None and not ROOT_RE.match(parent):
            raise ApiError(400, f"Invalid parent root: {parent}")
        slot = int(slot_param) if slot_param is not None else self.chain.slot
        entries = []
        record = self.chain.records.get(slot)
        if record is not None and record.block_root is not None:
            entry = self._header_entry(slot)
            if parent is None or entry["header"]["message"]["parent_root"] == parent.lower():
                entries.append(entry)
        finalized = bool(entries) and slot <= self.chain.finalized_slot
        return web.json_response({"execution_optimistic": False, "finalized": finalized, "data": entries})

    async def header(self, request: web.Request) -> web.Response:
        slot = self._slot_of(request.match_info["block_id"], "block", header=True)
        return web.json_response({**self._meta(slot), "data": self._header_entry(slot)})

    async def block_root(self, request: web.Request) -> web.Response:
        slot = self._slot_of(request.match_info["block_id"], "block")
        root = self.chain.records[slot].block_root
        assert root is not None
        return web.json_response({**self._meta(slot), "data": {"root": hex0x(root)}})

    async def state_root(self, request: web.Request) -> web.Response:
        slot = self._slot_of(request.match_info["state_id"], "state")
        return web.json_response({**self._meta(slot), "data": {"root": hex0x(self.chain.records[slot].state_root)}})

    async def finality_checkpoints(self, request: web.Request) -> web.Response:
        slot = self._slot_of(request.match_info["state_id"], "state")
        state_type = self.chain.layout.state

        def checkpoint(name: str) -> dict[str, str]:
            raw = self._field(slot, name)
            value = state_type.element_type(name).decode(raw, 0, raw.shape[0], name)
            return {"epoch": str(value["epoch"]), "root": hex0x(value["root"])}

        data = {
            "previous_justified": checkpoint("previous_justified_checkpoint"),
            "current_justified": checkpoint("current_justified_checkpoint"),
            "finalized": checkpoint("finalized_checkpoint"),
        }
        return web.json_response({**self._meta(slot), "data": data})

    async def validators_get(self, request: web.Request) -> web.Response:
        slot = self._slot_of(request.match_info["state_id"], "state")
        ids = _multi(request, "id")
        if len(ids) > MAX_GET_IDS:
            raise ApiError(414, "Too many validator IDs in request")
        data = self._validators(slot, ids or None, _multi(request, "status") or None)
        return web.json_response({**self._meta(slot), "data": data})

    async def validators_post(self, request: web.Request) -> web.Response:
        slot = self._slot_of(request.match_info["state_id"], "state")
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be an object with ids and statuses")
        ids, statuses = body.get("ids"), body.get("statuses")
        for name, value in (("ids", ids), ("statuses", statuses)):
            if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                raise ApiError(400, f"{name} must be a list of strings or null")
        data = self._validators(slot, ids or None, statuses or None)
        return web.json_response({**self._meta(slot), "data": data})

    async def validator(self, request: web.Request) -> web.Response:
        slot = self._slot_of(request.match_info["state_id"], "state")
        data = self._validators(slot, [request.match_info["validator_id"]], None)
        if not data:
            raise ApiError(404, "Validator not found")
        return web.json_response({**self._meta(slot), "data": data[0]})

    async def balances_get(self, request: web.Request) -> web.Response:
        slot = self._slot_of(request.match_info["state_id"], "state")
        ids = _multi(request, "id")
        if len(ids) > MAX_GET_IDS:
            raise ApiError(414, "Too many validator IDs in request")
        data = self._validators(slot, ids or None, None, with_record=False)
        return web.json_response({**self._meta(slot), "data": data})

    async def balances_post(self, request: web.Request) -> web.Response:
        slot = self._slot_of(request.match_info["state_id"], "state")
        body = await _json_body(request)
        if not isinstance(body, list) or not all(isinstance(v, str) for v in body):
            raise ApiError(400, "Request body must be a list of validator IDs")
        data = self._validators(slot, body or None, None, with_record=False)
        return web.json_response({**self._meta(slot), "data": data})

    async def debug_state(self, request: web.Request) -> web.StreamResponse:
        slot = self._slot_of(request.match_info["state_id"], "state")
        record = self.chain.records[slot]
        layout = self.chain.layout
        buf = np.frombuffer(record.state, dtype=np.uint8)
        value = layout.state.decode(buf, 0, len(record.state), "BeaconState")
        if self.beaconkit:  # JSON only, whatever is asked; the fork only in `version`
            return web.json_response(write_debug_state(layout, value, self.fork_name), dumps=json.dumps)
        headers = {"Eth-Consensus-Version": self.fork_name}
        accept = request.headers.get("Accept", "application/json")
        if "application/octet-stream" in accept:
            return web.Response(body=record.state, content_type="application/octet-stream", headers=headers)
        body = {**self._meta(slot), "version": self.fork_name, "data": to_json(layout.state, value)}
        return web.json_response(body, headers=headers, dumps=json.dumps)

    # -- Lodestar's compact state proofs ---------------------------------------------------------------

    async def state_proof(self, request: web.Request) -> web.Response:
        """Lodestar's GET /eth/v0/beacon/proof/state/{state_id}?format=<hex descriptor> (api/impl/proof): a
        compact multiproof from the state root, as {"data": {"leaves", "descriptor"}, "version"} or, asked
        for SSZ, CompactMultiProofType's bytes; the fork in Eth-Consensus-Version either way. As Lodestar: a
        descriptor over 2 * maxGindicesInProof bytes is refused before the state is read (500, its message);
        a malformed descriptor, which Lodestar answers with a 500, is a 400 here."""
        raw = request.query.get("format")
        if raw is None:
            raise ApiError(400, "querystring must have required property 'format'")
        digits = raw[2:] if raw.startswith("0x") else raw
        if len(digits) % 2:
            raise ApiError(400, f"hex string length {len(digits)} must be multiple of 2")
        if not HEX_RE.match(digits):
            raise ApiError(400, "Invalid descriptor: format is not hex")
        descriptor = bytes.fromhex(digits)
        if len(descriptor) / 2 > self.max_gindices_in_proof:
            raise ApiError(500, LODESTAR_TOO_LARGE)
        slot = self._slot_of(request.match_info["state_id"], "state")
        record = self.chain.records[slot]
        try:
            if record.block_root is not None:
                leaves = build_compact_proof(self.chain.state(slot), descriptor)
            else:  # a missed slot's state: no block root commits to it, its tree alone is proven
                tree = merkleize_state(record.state, self.chain.layout)[3]
                leaves = compact_proof_from_tree(tree, descriptor)
        except ProofError as exc:
            raise ApiError(400, str(exc)) from None
        headers = {"Eth-Consensus-Version": self.fork_name, "Access-Control-Expose-Headers": "Eth-Consensus-Version"}
        if "application/octet-stream" in request.headers.get("Accept", ""):
            body = encode_compact_proof(descriptor, leaves)
            return web.Response(body=body, content_type="application/octet-stream", headers=headers)
        data = {"leaves": [hex0x(leaf) for leaf in leaves], "descriptor": hex0x(descriptor)}
        return web.json_response({"data": data, "version": self.fork_name}, headers=headers)

    # -- beacon-kit proofs -------------------------------------------------------------------------------

    def _proof_slot(self, timestamp_id: str) -> int:
        if timestamp_id.startswith("t") and timestamp_id[1:].isdigit():
            slot = self.el_parent_slots.get(int(timestamp_id[1:]))
            if slot is None:  # storage/block/store.go: a plain error, so 500
                raise ApiError(500, f"slot not found at timestamp: {timestamp_id[1:]}")
            return self._slot_of(str(slot), "block")
        return self._slot_of(timestamp_id, "block")

    def _proof_base(self, slot: int) -> tuple[BeaconState, dict[str, Any]]:
        state = self.chain.state(slot)
        header = state.header
        base = {
            "beacon_block_header": {
                "slot": hex(header.slot),
                "proposer_index": hex(header.proposer_index),
                "parent_block_root": hex0x(header.parent_root),
                "state_root": hex0x(header.state_root),
                "body_root": hex0x(header.body_root),
            },
            "beacon_block_root": hex0x(state.block_root),
        }
        return state, base

    def _validator_index(self, request: web.Request, state: BeaconState) -> int:
        raw = request.match_info["validator_index"]
        if not raw.isdigit():
            raise ApiError(400, f"invalid validator index: {raw}")
        index = int(raw)
        if index >= state.validator_count:  # beacon-kit fails reading the state: a plain error, so 500
            raise ApiError(500, f"failed to get validator {index}: collections: not found")
        return index

    def _electra_only(self, state: BeaconState) -> None:
        """Balance and credentials proofs exist from Electra only (proof/merkle/generalized_indexes.go)."""
        if not state.layout.has_field("pending_partial_withdrawals"):
            raise ApiError(500, "unsupported fork version: 0x04000000")

    async def proof_pubkey(self, request: web.Request) -> web.Response:
        state, body = self._proof_base(self._proof_slot(request.match_info["timestamp_id"]))
        index = self._validator_index(request, state)
        _, branch = state.prove(state.layout.pubkey_gindex(index))
        body["validator_pubkey"] = hex0x(state.validator(index)["pubkey"])
        body["validator_pubkey_proof"] = [hex0x(node) for node in branch]
        return web.json_response(body)

    async def proof_credentials(self, request: web.Request) -> web.Response:
        state, body = self._proof_base(self._proof_slot(request.match_info["timestamp_id"]))
        index = self._validator_index(request, state)
        self._electra_only(state)
        _, branch = state.prove(state.layout.withdrawal_credentials_gindex(index))
        body["validator_withdrawal_credentials"] = hex0x(state.validator(index)["withdrawal_credentials"])
        body["withdrawal_credentials_proof"] = [hex0x(node) for node in branch]
        return web.json_response(body)

    async def proof_balance(self, request: web.Request) -> web.Response:
        state, body = self._proof_base(self._proof_slot(request.match_info["timestamp_id"]))
        index = self._validator_index(request, state)
        self._electra_only(state)
        leaf, branch = state.prove(state.layout.balance_gindex(index))
        body["validator_balance"] = hex(state.balance(index))
        body["balance_leaf"] = hex0x(leaf)
        body["balance_proof"] = [hex0x(node) for node in branch]
        return web.json_response(body)

    async def proof_proposer(self, request: web.Request) -> web.Response:
        state, body = self._proof_base(self._proof_slot(request.match_info["timestamp_id"]))
        proposer = state.header.proposer_index
        _, pubkey_branch = state.prove(state.layout.pubkey_gindex(proposer))
        index_gindex = BeaconBlockHeader.field_index["proposer_index"] + (1 << BeaconBlockHeader.depth)
        _, index_branch = state.prove(index_gindex)
        body["validator_pubkey"] = hex0x(state.validator(proposer)["pubkey"])
        body["validator_pubkey_proof"] = [hex0x(node) for node in pubkey_branch]
        body["proposer_index_proof"] = [hex0x(node) for node in index_branch]
        return web.json_response(body)

    # -- wiring ------------------------------------------------------------------------------------------

    # -- the devnet's own controls ---------------------------------------------------------------------

    def _index(self, request: web.Request) -> int:
        raw = request.match_info["validator_index"]
        if not raw.isdigit() or int(raw) >= self.chain.validators.count:
            raise ApiError(404, f"no validator {raw}")
        return int(raw)

    async def devnet_exit(self, request: web.Request) -> web.Response:
        """An exit the CL starts by itself (on Berachain: a validator evicted from a full set)."""
        index = self._index(request)
        self.chain.exit(index)
        return web.json_response({"exit_epoch": str(int(self.chain.validators.exit_epochs[index]))})

    async def devnet_withdraw(self, request: web.Request) -> web.Response:
        """A partial withdrawal queued on the CL without an EL request (on Berachain: the sweep of a balance
        above the maximum effective balance)."""
        index = self._index(request)
        raw = request.match_info["gwei"]
        if not raw.isdigit() or int(raw) == 0:
            raise ApiError(400, f"invalid amount: {raw}")
        self.chain.request_withdrawal(index, int(raw))
        return web.json_response({"queued_gwei": raw})

    async def devnet_random_events(self, request: web.Request) -> web.Response:
        """Random stakes, top-ups and withdrawals on or off (a soak stops them to let the chain settle)."""
        switch = request.match_info["switch"]
        if switch not in ("on", "off") or self.set_random_events is None:
            raise ApiError(400, f"random events: expected on or off, got {switch}")
        self.set_random_events(switch == "on")
        return web.json_response({"random_events": switch})

    async def devnet_drop_exit_requests(self, request: web.Request) -> web.Response:
        """The next `count` full-exit requests (EIP-7002, amount 0) never reach the CL: what retryFullExit is for."""
        raw = request.match_info["count"]
        if not raw.isdigit() or self.drop_exit_requests is None:
            raise ApiError(400, f"exit requests to drop: expected a count, got {raw}")
        self.drop_exit_requests(int(raw))
        return web.json_response({"dropped_exit_requests": int(raw)})

    async def devnet_reorg(self, request: web.Request) -> web.Response:
        """A reorganisation replacing the newest `depth` slots (and their EL blocks)."""
        raw = request.match_info["depth"]
        if self.reorg is None:
            raise ApiError(400, "this devnet keeps no reorganisation points (start it with --reorg-depth)")
        if not raw.isdigit():
            raise ApiError(400, f"invalid depth: {raw}")
        try:
            return web.json_response(await self.reorg(int(raw)))
        except DevnetError as exc:
            raise ApiError(400, str(exc)) from None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_errors])
        routes = [
            ("GET", "/eth/v1/node/syncing", self.syncing),
            ("GET", "/eth/v1/node/version", self.version),
            ("GET", "/eth/v1/config/spec", self.spec),
            ("GET", "/eth/v1/beacon/genesis", self.genesis),
            ("GET", "/eth/v1/beacon/headers", self.headers),
            ("GET", "/eth/v1/beacon/headers/{block_id}", self.header),
            ("GET", "/eth/v1/beacon/states/{state_id}/root", self.state_root),
            ("GET", "/eth/v1/beacon/states/{state_id}/validators", self.validators_get),
            ("POST", "/eth/v1/beacon/states/{state_id}/validators", self.validators_post),
            ("GET", "/eth/v1/beacon/states/{state_id}/validators/{validator_id}", self.validator),
            ("GET", "/eth/v1/beacon/states/{state_id}/validator_balances", self.balances_get),
            ("POST", "/eth/v1/beacon/states/{state_id}/validator_balances", self.balances_post),
            ("GET", "/eth/v2/debug/beacon/states/{state_id}", self.debug_state),
            # The devnet's own: CL events no EL transaction causes, for tests and demos.
            ("POST", "/devnet/v1/validators/{validator_index}/exit", self.devnet_exit),
            ("POST", "/devnet/v1/validators/{validator_index}/withdraw/{gwei}", self.devnet_withdraw),
            ("POST", "/devnet/v1/random_events/{switch}", self.devnet_random_events),
            ("POST", "/devnet/v1/reorg/{depth}", self.devnet_reorg),
            ("POST", "/devnet/v1/exit_requests/drop/{count}", self.devnet_drop_exit_requests),
        ]
        if self.beaconkit and self.proof_api:
            routes += [
                (
                    "GET",
                    "/bkit/v1/proof/validator_pubkey/{timestamp_id}/{validator_index}",
                    self.proof_pubkey,
                ),
                (
                    "GET",
                    "/bkit/v1/proof/validator_credentials/{timestamp_id}/{validator_index}",
                    self.proof_credentials,
                ),
                (
                    "GET",
                    "/bkit/v1/proof/validator_balance/{timestamp_id}/{validator_index}",
                    self.proof_balance,
                ),
                ("GET", "/bkit/v1/proof/block_proposer/{timestamp_id}", self.proof_proposer),
            ]
        if self.beaconkit:
            routes += [
                ("GET", "/eth/v1/node/health", self.not_implemented),
                ("GET", "/eth/v1/beacon/states/{state_id}/finality_checkpoints", self.not_implemented),
                ("GET", "/eth/v1/beacon/blocks/{block_id}/root", self.not_implemented),
                ("GET", "/eth/v1/events", self.not_implemented),  # node-api/handlers/events/routes.go
            ]
        else:
            routes += [
                ("GET", "/eth/v1/node/health", self.health),
                ("GET", "/eth/v1/beacon/states/{state_id}/finality_checkpoints", self.finality_checkpoints),
                ("GET", "/eth/v1/beacon/blocks/{block_id}/root", self.block_root),
                # Lodestar's (with --rest.namespace proof; not in its default namespaces)
                ("GET", "/eth/v0/beacon/proof/state/{state_id}", self.state_proof),
            ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        return app


def _multi(request: web.Request, name: str) -> list[str]:
    """Repeated and comma-separated query values (both forms are used by clients)."""
    values: list[str] = []
    for raw in request.query.getall(name, []):
        values.extend(part for part in raw.split(",") if part)
    return values


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "Request body is not valid JSON") from None


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return _error(exc.status, exc.reason)
        raise

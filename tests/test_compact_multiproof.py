"""Lodestar's compact multiproofs (oracle/ssz/compact.py): descriptors and their walks on random index sets, the
nodes a proof determines against the spec's multiproof on random trees, malformed descriptors, leaves and SSZ
answers refused with one-line errors (fuzzed), the gindex conversion between block and state roots; the
devnet's GET /eth/v0/beacon/proof/state/{state_id} (a real BeaconApi over a SimulatedChain, no anvil) and
`BeaconNode.compact_state_proof` against it: SSZ and JSON answers, splitting at the cap, a tampered answer
refused, a node without the route answered with None. Lodestar itself is the reference in
tests/test_compact_multiproof_reference.py."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import numpy as np
import pytest
import pytest_asyncio
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from oracle.beacon.answers import EndpointError
from oracle.beacon.client import BeaconNode
from oracle.devnet.anvil import free_port
from oracle.devnet.beacon_api import BeaconApi
from oracle.devnet.chain import ChainConfig, Payload, SimulatedChain
from oracle.ssz.compact import (
    LODESTAR_MAX_DESCRIPTOR_BYTES,
    LODESTAR_TOO_LARGE,
    MAX_COMPACT_LEAVES,
    bitlist_to_descriptor,
    block_to_state_gindex,
    compute_descriptor,
    decode_compact_proof,
    descriptor_gindices,
    descriptor_to_bitlist,
    encode_compact_proof,
    in_order,
    leaves_for,
    nodes_from_compact,
    split_for_cap,
    state_to_block_gindex,
)
from oracle.ssz.errors import ProofError
from oracle.ssz.hashing import hash_node
from oracle.ssz.layouts import LAYOUTS, get_layout
from oracle.ssz.multiproof import calculate_multi_merkle_nodes, get_helper_indices
from oracle.ssz.multiproof_document import pool_gindices
from oracle.ssz.sample import sample_state
from oracle.ssz.state import load_state
from oracle.ssz.state_multiproof import build_compact_proof, build_state_multiproof
from oracle.ssz.types import gindex_of

pytestmark = pytest.mark.unit

ELECTRA = get_layout("ethereum-electra")


def independent_set(rng: np.random.Generator, depth: int, count: int) -> list[int]:
    """Random gindices at depths 1..depth, none below another."""
    chosen: list[int] = []
    for _ in range(count * 4):
        d = int(rng.integers(1, depth + 1))
        g = (1 << d) | int(rng.integers(0, 1 << d))
        if not any(is_ancestor_or_same(c, g) or is_ancestor_or_same(g, c) for c in chosen):
            chosen.append(g)
        if len(chosen) == count:
            break
    return chosen


def is_ancestor_or_same(a: int, b: int) -> bool:
    extra = b.bit_length() - a.bit_length()
    return extra >= 0 and b >> extra == a


def walk_reference(bits: list[bool]) -> list[int]:
    """The gindices of a walk's leaves, by recursion as compactMultiProofToNode walks it."""
    out: list[int] = []
    pos = [0]

    def visit(g: int) -> None:
        bit = bits[pos[0]]
        pos[0] += 1
        if bit:
            out.append(g)
        else:
            visit(2 * g)
            visit(2 * g + 1)

    visit(1)
    return out


@pytest.mark.parametrize("seed", range(40))
def test_a_descriptor_walks_to_the_gindices_and_their_helpers(seed: int) -> None:
    rng = np.random.default_rng(seed)
    wanted = independent_set(rng, int(rng.integers(1, 20)), int(rng.integers(1, 30)))
    descriptor = compute_descriptor(wanted)
    bits = descriptor_to_bitlist(descriptor)
    leaves = descriptor_gindices(descriptor)
    assert leaves == walk_reference(bits) == in_order(leaves)
    assert len(bits) == 2 * len(leaves) - 1 and len(descriptor) == -(-len(bits) // 8)
    # The proof's leaves are exactly the wanted gindices and the spec's helpers (unless a wanted one is a helper).
    assert set(leaves) == set(wanted) | set(get_helper_indices(wanted))
    assert compute_descriptor(leaves) == descriptor  # its own leaves describe the same walk
    assert compute_descriptor(wanted + wanted[:3]) == descriptor  # a gindex listed twice counts once


def test_known_descriptors() -> None:
    # Values computed by persistent-merkle-tree's computeDescriptor (also checked live in the reference test).
    assert compute_descriptor([1]) == bytes.fromhex("80")
    assert compute_descriptor([2]) == compute_descriptor([2, 3]) == bytes.fromhex("60")
    assert compute_descriptor([8, 9]) == bytes.fromhex("1e")
    assert compute_descriptor([4, 2]) == bytes.fromhex("38")  # 4 lies below 2: 2 is hidden
    assert compute_descriptor([100, 37, 6]) == bytes.fromhex("13c4f8")
    assert descriptor_gindices(bytes.fromhex("13c4f8")) == [8, 36, 37, 19, 5, 24, 100, 101, 51, 13, 7]


def random_tree(rng: np.random.Generator, depth: int) -> dict[int, bytes]:
    nodes = {(1 << depth) + i: rng.bytes(32) for i in range(1 << depth)}
    for g in range((1 << depth) - 1, 0, -1):
        nodes[g] = hash_node(nodes[2 * g], nodes[2 * g + 1])
    return nodes


@pytest.mark.parametrize("seed", range(30))
def test_the_nodes_equal_the_spec_multiproofs(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    depth = int(rng.integers(1, 9))
    tree = random_tree(rng, depth)
    wanted = independent_set(rng, depth, int(rng.integers(1, 12)))
    descriptor = compute_descriptor(wanted)
    leaves = [tree[g] for g in descriptor_gindices(descriptor)]
    nodes = nodes_from_compact(descriptor, leaves)
    assert nodes[1] == tree[1]
    assert all(tree[g] == node for g, node in nodes.items())
    ordered = sorted(wanted, reverse=True)
    spec = calculate_multi_merkle_nodes([tree[g] for g in ordered], [tree[h] for h in get_helper_indices(ordered)],
                                        ordered)  # fmt: skip
    assert set(spec) <= set(nodes)
    assert leaves_for(nodes, wanted) == {g: tree[g] for g in wanted}
    # One flipped leaf changes the root.
    position = int(rng.integers(0, len(leaves)))
    tampered = [*leaves[:position], bytes(32 - 1) + b"\x01", *leaves[position + 1 :]]
    if tampered[position] != leaves[position]:
        assert nodes_from_compact(descriptor, tampered)[1] != tree[1]


def test_malformed_descriptors_and_leaves_are_refused() -> None:
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: descriptor_to_bitlist(b""), "not enough 1 bits"),
        (lambda: descriptor_to_bitlist(b"\x00\x00"), "not enough 1 bits"),
        (lambda: descriptor_to_bitlist(b"\x80\x00"), "too many bytes"),
        (lambda: descriptor_to_bitlist(b"\x90"), "too many 1 bits"),
        (lambda: descriptor_to_bitlist("80"), "expected bytes"),  # type: ignore[arg-type]
        (lambda: nodes_from_compact(b"\x60", [bytes(32)]), "1 leaves, the descriptor has 2"),
        (lambda: nodes_from_compact(b"\x60", [bytes(32), bytes(31)]), r"leaves\[1\] is 31 bytes"),
        (lambda: nodes_from_compact(b"\x60", [bytes(32), "x" * 32]), r"leaves\[1\] is str"),  # type: ignore[list-item]
        (lambda: compute_descriptor([]), "at least one"),
        (lambda: compute_descriptor([0]), "not a positive integer"),
        (lambda: compute_descriptor([True]), "not a positive integer"),
        (lambda: compute_descriptor([1, 5]), "the root"),
        (lambda: bitlist_to_descriptor("012"), "0 and 1"),
        (lambda: leaves_for({1: bytes(32)}, [2]), "generalized index 2 is not determined"),
        (lambda: block_to_state_gindex(ELECTRA, 12), "does not lie below"),
        (lambda: block_to_state_gindex(ELECTRA, 5), "does not lie below"),
        (lambda: decode_compact_proof(b"\x08\x00\x00"), "shorter than its two offsets"),
        (lambda: decode_compact_proof(b"\x09\x00\x00\x00\x09\x00\x00\x00\x00"), "leaves' offset is 9"),
        (lambda: decode_compact_proof(b"\x08\x00\x00\x00\x0a\x00\x00\x00\x00\x00"), "not a multiple of 32"),
        (lambda: decode_compact_proof(b"\x08\x00\x00\x00\xff\x00\x00\x00"), "outside 8..8"),
        (lambda: decode_compact_proof(b"\x08\x00\x00\x00\x08\x00\x00\x00" + bytes(2049)), "2049-byte descriptor"),
        (lambda: split_for_cap([1 << 200], 8), "alone needs a descriptor"),
    ]
    for call, message in cases:
        with pytest.raises(ProofError, match=message) as info:
            call()
        assert "\n" not in str(info.value)
    count = MAX_COMPACT_LEAVES + 1
    with pytest.raises(ProofError, match="more than 10000"):
        decode_compact_proof((8).to_bytes(4, "little") + (8 + 32 * count).to_bytes(4, "little") + bytes(32 * count))


@given(st.binary(max_size=64))
def test_any_descriptor_bytes_parse_or_fail_in_one_line(data: bytes) -> None:
    try:
        bits = descriptor_to_bitlist(data)
    except ProofError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("Invalid descriptor: ")
        return
    gindices = descriptor_gindices(data)
    assert len(bits) == 2 * len(gindices) - 1
    assert compute_descriptor(gindices) == data  # a valid descriptor is its leaves' descriptor
    nodes = nodes_from_compact(data, [g.to_bytes(32, "little") for g in gindices])
    assert 1 in nodes


@given(st.binary(max_size=64), st.lists(st.binary(min_size=0, max_size=40), max_size=12))
def test_any_descriptor_and_leaves_rebuild_or_fail_in_one_line(descriptor: bytes, leaves: list[bytes]) -> None:
    try:
        nodes = nodes_from_compact(descriptor, leaves)
    except ProofError as exc:
        assert "\n" not in str(exc)
        return
    assert len(leaves) == len(descriptor_gindices(descriptor)) and 1 in nodes


@given(st.binary(max_size=200))
def test_any_ssz_answer_decodes_or_fails_in_one_line(data: bytes) -> None:
    try:
        descriptor, leaves = decode_compact_proof(data)
    except ProofError as exc:
        assert "\n" not in str(exc)
        return
    assert encode_compact_proof(descriptor, leaves) == data


@given(st.lists(st.integers(min_value=1, max_value=2**70), min_size=1, max_size=40))
def test_gindices_convert_between_the_block_and_the_state_root(gindices: list[int]) -> None:
    for gindex in gindices:
        in_block = state_to_block_gindex(ELECTRA, gindex)
        assert block_to_state_gindex(ELECTRA, in_block) == gindex
    assert state_to_block_gindex(ELECTRA, 1) == 11 and block_to_state_gindex(ELECTRA, 11) == 1


def test_pool_gindices_convert_to_lodestars() -> None:
    for name, layout in LAYOUTS.items():
        for path in (("balances", 7), ("validators", 3, "pubkey"), ("slot",)):
            assert block_to_state_gindex(layout, layout.gindex(*path)) == gindex_of(layout.state, list(path))[0], name


@pytest.mark.parametrize("seed", range(6))
def test_split_groups_fit_the_cap_and_cover_every_gindex(seed: int) -> None:
    rng = np.random.default_rng(seed)
    wanted = independent_set(rng, 40, 600)
    cap = int(rng.integers(16, 400))
    groups = split_for_cap(wanted, cap)
    assert sorted(g for group, _ in groups for g in group) == sorted(wanted)
    for group, descriptor in groups:
        assert len(descriptor) <= cap and descriptor == compute_descriptor(group)


# -- the builder on a state --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def electra_state() -> Any:
    return load_state(sample_state("ethereum-electra", 300, seed=3))


def test_the_builder_agrees_with_the_block_root_multiproof(electra_state: Any) -> None:
    state = electra_state
    layout = state.layout
    in_block = pool_gindices(layout, list(range(0, 300, 3)), with_pubkeys=True)
    in_block += [layout.gindex("slot"), layout.gindex("validators", "__len__"), layout.gindex("validators", 5)]
    wanted = [block_to_state_gindex(layout, g) for g in in_block]
    descriptor = compute_descriptor(wanted)
    nodes = nodes_from_compact(descriptor, build_compact_proof(state, descriptor))
    assert nodes[1] == state.state_root
    leaves = build_state_multiproof(state, in_block).leaf_map()
    assert leaves_for(nodes, wanted) == {block_to_state_gindex(layout, g): leaves[g] for g in in_block}
    # A descriptor reaching below a leaf (a uint64's chunk) or past the end of the validators is refused.
    below = compute_descriptor([block_to_state_gindex(layout, layout.gindex("slot")) * 2])
    with pytest.raises(ProofError, match="does not have"):
        build_compact_proof(state, below)
    past = compute_descriptor([block_to_state_gindex(layout, layout.gindex("validators", 400)) * 2])
    with pytest.raises(ProofError, match="does not have"):
        build_compact_proof(state, past)


# -- the devnet's route and the client ---------------------------------------------------------------------


def make_chain(layout: str, validators: int, slots: int = 3) -> SimulatedChain:
    chain = SimulatedChain(ChainConfig(layout=layout, validators=validators, pools=2, slots_per_epoch=4), b"\x11" * 20)
    for slot in range(1, slots + 1):
        payload = Payload(block_hash=bytes([slot]) * 32, block_number=slot, timestamp=chain.slot_time(slot))
        chain.advance(None if slot == 2 and chain.ethereum else payload)  # slot 2 missed on Ethereum
    return chain


class Served:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.port = free_port()
        self.runner = web.AppRunner(app)
        self.url = f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Served:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.runner.cleanup()


@pytest.fixture(scope="module")
def ethereum_chain() -> SimulatedChain:
    return make_chain("ethereum-electra", 64)


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def fetch(session: aiohttp.ClientSession, url: str, accept: str = "application/json") -> tuple[int, Any, Any]:
    async with session.get(url, headers={"Accept": accept}) as response:
        body = await response.read()
        parsed = json.loads(body) if response.content_type == "application/json" else body
        return response.status, parsed, response.headers


async def test_the_route_answers_as_lodestar(ethereum_chain: SimulatedChain, session: aiohttp.ClientSession) -> None:
    chain = ethereum_chain
    layout = chain.layout
    wanted = [block_to_state_gindex(layout, g) for g in pool_gindices(layout, [0, 1, 5, 9], with_pubkeys=True)]
    descriptor = compute_descriptor(wanted)
    async with Served(BeaconApi(chain, {}, 1).app()) as srv:
        base = f"{srv.url}/eth/v0/beacon/proof/state"
        for state_id in ("head", "finalized", "1", "2", "0x" + chain.records[1].state_root.hex()):
            slot = {"head": chain.slot, "finalized": chain.finalized_slot}.get(state_id)
            slot = slot if slot is not None else (1 if state_id.startswith("0x") else int(state_id))
            status, body, headers = await fetch(session, f"{base}/{state_id}?format=0x{descriptor.hex()}")
            assert status == 200 and headers["Eth-Consensus-Version"] == "electra", state_id
            assert body["version"] == "electra" and body["data"]["descriptor"] == "0x" + descriptor.hex()
            leaves = [bytes.fromhex(leaf[2:]) for leaf in body["data"]["leaves"]]
            assert nodes_from_compact(descriptor, leaves)[1] == chain.records[slot].state_root, state_id
            status, raw, headers = await fetch(session, f"{base}/{state_id}?format={descriptor.hex()}",
                                               "application/octet-stream")  # fmt: skip
            assert status == 200 and headers["Content-Type"] == "application/octet-stream"
            assert decode_compact_proof(raw) == (descriptor, leaves)
        assert chain.records[2].block_root is None  # the missed slot's state was proven from its tree alone
        checks = [
            ("head?format=0x90", 400, "too many 1 bits"),
            ("head?format=0x8", 400, "must be multiple of 2"),
            ("head?format=zz", 400, "not hex"),
            ("head", 400, "required property 'format'"),
            (f"head?format=0x{'00' * 1024}01", 500, LODESTAR_TOO_LARGE),  # 1025 bytes: Lodestar's cap
            ("999?format=0x80", 404, "State not found"),
            ("0x" + "ab" * 32 + "?format=0x80", 404, "State not found"),
            ("nonsense?format=0x80", 400, "Invalid state ID"),
            (f"head?format=0x{compute_descriptor([wanted[0] * 4]).hex()}", 400, "does not have"),
        ]
        for path, status_expected, message in checks:
            status, body, _ = await fetch(session, f"{base}/{path}")
            assert status == status_expected and message in body["message"], (path, body)
        # The cap is the descriptor's length: 1024 bytes pass.
        status, _, _ = await fetch(session, f"{base}/head?format=0x{'00' * 1023}01")
        assert status == 400  # well under the cap but not a valid walk


async def test_beacon_kit_does_not_serve_the_route(session: aiohttp.ClientSession) -> None:
    chain = make_chain("beaconkit-electra", 8)
    async with Served(BeaconApi(chain, {}, 1).app()) as srv:
        status, _body, _ = await fetch(session, f"{srv.url}/eth/v0/beacon/proof/state/head?format=0x80")
        assert status == 404
        node = BeaconNode(srv.url, session, timeout=5, retry_budget=1)
        assert await node.compact_state_proof("head", [11 * 2], chain.head.state_root, chain.layout) is None


async def test_the_client_fetches_splits_and_verifies(
    ethereum_chain: SimulatedChain, session: aiohttp.ClientSession
) -> None:
    chain = ethereum_chain
    layout = chain.layout
    state = chain.state(chain.slot)
    in_block = pool_gindices(layout, list(range(64)), with_pubkeys=True)
    expected = build_state_multiproof(state, in_block).leaf_map()
    async with Served(BeaconApi(chain, {}, 1).app()) as srv:
        node = BeaconNode(srv.url, session, timeout=5, retry_budget=1)
        nodes = await node.compact_state_proof("head", in_block, state.state_root, layout)
        assert nodes is not None and leaves_for(nodes, in_block) == expected
        assert nodes[11] == state.state_root
        # Split at a small cap: the same nodes, in more requests.
        small = await node.compact_state_proof("head", in_block, state.state_root, layout, max_descriptor_bytes=40)
        assert small is not None and leaves_for(small, in_block) == expected
        # The wrong anchor is refused, naming the route.
        with pytest.raises(EndpointError, match="state_proof: the compact proof of state head reaches 0x"):
            await node.compact_state_proof("head", in_block, b"\x00" * 32, layout)
        # An unknown state: a 404, so None (the caller falls back to the full state, which says what is missing).
        assert await node.compact_state_proof("999", in_block, state.state_root, layout) is None
        with pytest.raises(ProofError, match="does not lie below"):
            await node.compact_state_proof("head", [12], state.state_root, layout)


async def test_the_client_halves_what_a_lower_cap_refuses(
    ethereum_chain: SimulatedChain, session: aiohttp.ClientSession
) -> None:
    chain = ethereum_chain
    state = chain.state(chain.slot)
    in_block = pool_gindices(chain.layout, list(range(64)), with_pubkeys=True)
    api = BeaconApi(chain, {}, 1, max_gindices_in_proof=16)  # a node started with --api.maxGindicesInProof 16
    requests: list[int] = []

    @web.middleware
    async def count(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
        requests.append(len(request.query.get("format", "")) // 2 - 1)
        return await handler(request)

    app = api.app()
    app.middlewares.insert(0, count)
    async with Served(app) as srv:
        node = BeaconNode(srv.url, session, timeout=5, retry_budget=1)
        nodes = await node.compact_state_proof("head", in_block, state.state_root, chain.layout)
    assert nodes is not None and leaves_for(nodes, in_block) == build_state_multiproof(state, in_block).leaf_map()
    assert requests[0] > 32 and len(requests) > 2 and min(requests) <= 32  # refused, then halved until it fits


def tampering_app(chain: SimulatedChain, tamper: Callable[[dict[str, Any]], None], ssz: bool) -> web.Application:
    """The devnet's answer, altered on its way out, as JSON or SSZ."""
    api = BeaconApi(chain, {}, 1)

    async def handler(request: web.Request) -> web.StreamResponse:
        response = await api.state_proof(request)
        assert isinstance(response.body, bytes)
        body: dict[str, Any]
        if response.content_type == "application/octet-stream":
            descriptor, leaves = decode_compact_proof(response.body)
            body = {"data": {"descriptor": "0x" + descriptor.hex(), "leaves": ["0x" + leaf.hex() for leaf in leaves]}}
        else:
            body = json.loads(response.body)
        tamper(body)
        if ssz:
            descriptor = bytes.fromhex(body["data"]["descriptor"][2:])
            leaves = [bytes.fromhex(leaf[2:]) for leaf in body["data"]["leaves"]]
            return web.Response(body=encode_compact_proof(descriptor, leaves), content_type="application/octet-stream")
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/eth/v0/beacon/proof/state/{state_id}", handler)
    return app


def flip_leaf(body: dict[str, Any]) -> None:
    leaves = body["data"]["leaves"]
    leaves[3] = "0x" + ("00" if leaves[3][2:4] != "00" else "01") + leaves[3][4:]


def drop_leaf(body: dict[str, Any]) -> None:
    body["data"]["leaves"].pop()


def other_descriptor(body: dict[str, Any]) -> None:
    body["data"]["descriptor"] = "0x80"
    body["data"]["leaves"] = body["data"]["leaves"][:1]


def bad_hex(body: dict[str, Any]) -> None:
    body["data"]["leaves"][0] = "0x1234"


@pytest.mark.parametrize(
    ("tamper", "ssz", "message"),
    [
        (flip_leaf, False, "reaches 0x"),
        (flip_leaf, True, "reaches 0x"),
        (drop_leaf, False, "malformed answer: Invalid multiproof: "),
        (drop_leaf, True, "malformed answer: Invalid multiproof: "),
        (other_descriptor, False, "not the one asked"),
        (bad_hex, False, "malformed answer: leaves"),
    ],
)
async def test_a_tampered_answer_is_refused(
    ethereum_chain: SimulatedChain,
    session: aiohttp.ClientSession,
    tamper: Callable[[dict[str, Any]], None],
    ssz: bool,
    message: str,
) -> None:
    chain = ethereum_chain
    state = chain.state(chain.slot)
    in_block = pool_gindices(chain.layout, [0, 1, 2, 7], with_pubkeys=True)
    async with Served(tampering_app(chain, tamper, ssz)) as srv:
        node = BeaconNode(srv.url, session, timeout=5, retry_budget=1)
        with pytest.raises(EndpointError, match=message) as info:
            await node.compact_state_proof("head", in_block, state.state_root, chain.layout)
    assert info.value.route == "state_proof" and "\n" not in str(info.value)


async def test_a_node_without_the_route_is_answered_with_none(session: aiohttp.ClientSession) -> None:
    for status in (404, 405, 501):
        app = web.Application()

        async def refuse(request: web.Request, status: int = status) -> web.Response:
            return web.json_response({"code": status, "message": f"Route GET:{request.path_qs} not found"},
                                     status=status)  # fmt: skip

        app.router.add_get("/eth/v0/beacon/proof/state/{state_id}", refuse)
        async with Served(app) as srv:
            node = BeaconNode(srv.url, session, timeout=5, retry_budget=1)
            assert await node.compact_state_proof("head", [22, 23 * 4], bytes(32), ELECTRA) is None


@pytest.mark.slow
@pytest.mark.parametrize(
    ("validators", "pool", "with_pubkeys"),
    [(4000, range(2000), True), (10000, range(10000), False), (4000, range(0, 4000, 4), True)],
)
async def test_figures_for_2500_leaves(
    session: aiohttp.ClientSession,
    capsys: pytest.CaptureFixture[str],
    validators: int,
    pool: range,
    with_pubkeys: bool,
) -> None:
    """2,500 wanted leaves: the pubkeys of 2,000 validators and their 500 balance chunks on a state of 4,000;
    the 2,500 balance chunks of 10,000; 1,000 pubkeys and 1,000 chunks scattered over 4,000. How many requests
    at Lodestar's cap, how many bytes, how long."""
    chain = make_chain("ethereum-electra", validators, slots=1)
    layout = chain.layout
    state = chain.state(chain.slot)
    in_block = pool_gindices(layout, list(pool), with_pubkeys=with_pubkeys)
    sizes: list[int] = []

    @web.middleware
    async def measure(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
        response = await handler(request)
        assert isinstance(response, web.Response) and isinstance(response.body, bytes)
        sizes.append(len(response.body))
        return response

    app = BeaconApi(chain, {}, 1).app()
    app.middlewares.insert(0, measure)
    async with Served(app) as srv:
        node = BeaconNode(srv.url, session, timeout=60, retry_budget=1)
        started = time.perf_counter()
        nodes = await node.compact_state_proof("head", in_block, state.state_root, layout)
        elapsed = time.perf_counter() - started
    assert nodes is not None
    multiproof = build_state_multiproof(state, in_block)
    assert leaves_for(nodes, in_block) == multiproof.leaf_map()
    groups = split_for_cap([block_to_state_gindex(layout, g) for g in in_block], LODESTAR_MAX_DESCRIPTOR_BYTES)
    with capsys.disabled():
        print(
            f"\n{len(in_block)} wanted of {validators} validators: {len(sizes)} requests, descriptors "
            f"{[len(d) for _, d in groups]} bytes, SSZ answers {sizes} bytes ({sum(sizes)} in all, "
            f"{(sum(sizes) - 8 * len(sizes)) // 32} nodes; the block-root multiproof: {len(multiproof.witnesses)} "
            f"witnesses), {elapsed:.2f} s; the state's SSZ: {len(chain.head.state)} bytes"
        )

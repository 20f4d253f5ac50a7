"""pin_anchor on its own: which slot a cycle proves and the EL timestamp whose EIP-4788 root is that slot's
block root, driven by a stand-in node and EL that hold a small chain of headers and roots."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from oracle.beacon.answers import EndpointError, Header, NotFound, header_root
from oracle.reporting.anchor import pin_anchor, slot_of_block_root
from oracle.reporting.context import CycleError

pytestmark = pytest.mark.unit
GENESIS = 1_700_000_000


def header(slot: int) -> Header:
    fields = (slot, 0, bytes([slot % 256]) * 32, b"\x01" * 32, b"\x02" * 32)
    return Header(*fields, root=header_root(*fields))


class StandInNode:
    """Headers of slots 0..head (none for `missed`); lookups by root answer as beacon-kit's store does when
    `forgets_roots` (500, not retryable) and the finalized checkpoint is `finalized`."""

    label = "node"

    def __init__(self, head: int, missed: tuple[int, ...] = (), forgets_roots: bool = False, finalized: int = 0):
        self.headers = {slot: header(slot) for slot in range(head + 1) if slot not in missed}
        self.head = head
        self.forgets_roots = forgets_roots
        self.finalized = finalized

    async def header(self, block_id: str) -> Header:
        if block_id == "head":
            return self.headers[self.head]
        if block_id == "finalized":
            return self.headers[self.finalized]
        if block_id.startswith("0x"):
            for found in self.headers.values():
                if "0x" + found.root.hex() == block_id and not self.forgets_roots:
                    return found
            raise EndpointError(self.label, "header", "HTTP 500: not found", status=500)
        if int(block_id) not in self.headers:
            raise NotFound(self.label, "header", "HTTP 404")
        return self.headers[int(block_id)]


class StandInEL:
    """EL blocks numbered from 100, one per slot from slot 1 at GENESIS + 2 s × slot, each carrying the root of
    the slot before it (None where `no_root`)."""

    def __init__(self, node: StandInNode, latest_slot: int, no_root: tuple[int, ...] = (), lie: bool = False):
        self.node, self.latest_slot, self.no_root, self.lie = node, latest_slot, no_root, lie

    async def block(self, tag: Any) -> dict[str, int]:
        slot = self.latest_slot if tag == "latest" else int(tag) - 99
        return {"number": 99 + slot, "timestamp": GENESIS + 2 * slot}

    async def beacon_root(self, timestamp: int) -> bytes | None:
        slot = (timestamp - GENESIS) // 2
        if slot in self.no_root or slot > self.latest_slot:
            return None
        parent = max(s for s in self.node.headers if s < slot)
        return b"\xee" * 32 if self.lie else self.node.headers[parent].root

    async def seconds_per_block(self, latest: Any, count: int) -> float:
        return 2.0


def ctx(layout: str, el: StandInEL, seconds_per_slot: int = 2) -> Any:
    family = "beaconkit" if layout.startswith("beaconkit") else "ethereum"
    return SimpleNamespace(layout=SimpleNamespace(family=family), el=el, seconds_per_slot=seconds_per_slot,
                           genesis=SimpleNamespace(time=GENESIS))  # fmt: skip


def test_beacon_kit_proves_the_slot_whose_root_the_latest_block_carries() -> None:
    node = StandInNode(head=20)
    anchor = asyncio.run(pin_anchor(ctx("beaconkit", StandInEL(node, latest_slot=20)), node))
    assert (anchor.slot, anchor.block_root, anchor.el_block) == (19, node.headers[19].root, 119)
    assert anchor.timestamp == GENESIS + 40


def test_beacon_kit_walks_back_past_blocks_without_a_root_and_measures_its_slot_time() -> None:
    node = StandInNode(head=20)
    context = ctx("beaconkit", StandInEL(node, latest_slot=20, no_root=(20, 19)), seconds_per_slot=0)
    anchor = asyncio.run(pin_anchor(context, node))
    assert (anchor.slot, anchor.el_block) == (17, 117)
    assert context.seconds_per_slot == 2  # beacon-kit's spec has no SECONDS_PER_SLOT: measured on the EL
    with pytest.raises(CycleError, match="no EIP-4788 root"):
        asyncio.run(pin_anchor(ctx("beaconkit", StandInEL(node, 20, no_root=(20, 19, 18, 17))), node))


def test_a_root_the_node_no_longer_resolves_is_found_by_walking_back_from_head() -> None:
    node = StandInNode(head=20, forgets_roots=True)
    assert asyncio.run(slot_of_block_root(node, node.headers[16].root)) == 16  # type: ignore[arg-type]


def test_a_root_outside_the_nodes_recent_blocks_says_its_head_is_behind() -> None:
    node = StandInNode(head=20, forgets_roots=True)
    behind = StandInNode(head=10, forgets_roots=True)
    with pytest.raises(EndpointError, match=r"its head \(slot 10\) is behind the EL or on another fork"):
        asyncio.run(slot_of_block_root(behind, node.headers[18].root))  # type: ignore[arg-type]


def test_ethereum_proves_the_finalized_block_at_the_next_block_after_missed_slots() -> None:
    node = StandInNode(head=40, missed=(25, 26), finalized=24)
    anchor = asyncio.run(pin_anchor(ctx("ethereum", StandInEL(node, latest_slot=40)), node))
    assert (anchor.slot, anchor.block_root) == (24, node.headers[24].root)
    assert anchor.timestamp == GENESIS + 2 * 27  # slot 27's block is the first to carry slot 24's root


def test_ethereum_refuses_a_finalized_root_the_el_does_not_hold() -> None:
    node = StandInNode(head=40, finalized=24)
    with pytest.raises(CycleError, match="does not match the finalized block root"):
        asyncio.run(pin_anchor(ctx("ethereum", StandInEL(node, latest_slot=40, lie=True)), node))
    with pytest.raises(CycleError, match="no block after the finalized one yet"):
        asyncio.run(pin_anchor(ctx("ethereum", StandInEL(node, latest_slot=24)), StandInNode(head=24, finalized=24)))

"""Stage 2: the proven slot and the EL timestamp whose EIP-4788 root is its block root."""

from __future__ import annotations

from oracle import metrics
from oracle.beacon.answers import EndpointError, NotFound
from oracle.beacon.client import BeaconNode
from oracle.reporting.context import Anchor, Context, CycleError


async def pin_anchor(ctx: Context, node: BeaconNode) -> Anchor:
    """beacon-kit: the latest EL block's timestamp and the root it carries (head is final there).
    Ethereum: the finalized block and the first EL block after it."""
    if ctx.layout.family == "beaconkit":
        latest = await ctx.el.block("latest")
        if not ctx.seconds_per_slot:  # beacon-kit's spec has no SECONDS_PER_SLOT: one EL block per slot
            measured = await ctx.el.seconds_per_block(latest, 16)
            if measured is not None:
                ctx.seconds_per_slot = max(1, round(measured))
        for back in range(4):
            number = int(latest["number"]) - back
            block = latest if back == 0 else await ctx.el.block(number)
            timestamp = int(block["timestamp"])
            root = await ctx.el.beacon_root(timestamp)
            if root is None:
                continue
            slot = await slot_of_block_root(node, root)
            metrics.FINALIZED_SLOT.set(slot)  # CometBFT: every block is final
            return Anchor(slot, root, timestamp, number)
        raise CycleError("no EIP-4788 root in the latest EL blocks")
    finalized = await node.header("finalized")
    metrics.FINALIZED_SLOT.set(finalized.slot)
    assert ctx.genesis is not None and ctx.seconds_per_slot
    for slot in range(finalized.slot + 1, finalized.slot + 65):
        try:
            await node.header(str(slot))
        except NotFound:
            continue
        timestamp = ctx.genesis.time + slot * ctx.seconds_per_slot
        root = await ctx.el.beacon_root(timestamp)
        if root != finalized.root:
            raise CycleError(f"EIP-4788 root at {timestamp} does not match the finalized block root")
        block = await ctx.el.block("latest")
        return Anchor(finalized.slot, finalized.root, timestamp, int(block["number"]))
    raise CycleError("no block after the finalized one yet")


async def slot_of_block_root(node: BeaconNode, root: bytes, walk: int = 8) -> int:
    """The slot of a block root. beacon-kit resolves roots from an in-memory store of blocks finalized since
    the node started (older ones answer 500), so on a miss walk back from head comparing the roots of the
    headers, which we hash ourselves."""
    try:
        header = await node.header("0x" + root.hex())
        if header.root == root:
            return header.slot
    except EndpointError as exc:
        if exc.retryable:
            raise
    head = await node.header("head")
    for slot in range(head.slot, max(-1, head.slot - walk), -1):
        header = head if slot == head.slot else await node.header(str(slot))
        if header.root == root:
            return header.slot
    raise EndpointError(
        node.label, "header",
        f"its head (slot {head.slot}) is behind the EL or on another fork: the EL's latest EIP-4788 root "
        f"0x{root.hex()} is not among its last {walk} blocks",
    )  # fmt: skip

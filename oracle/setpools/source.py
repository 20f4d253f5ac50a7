"""Where an open report's batches come from: a Lodestar node's compact state multiproofs (only the nodes the
batches need, a few hundred KB, instead of a state of ~300 MB on mainnet), or the whole state merkleized by our
engine. Either way every batch is recomputed to the pinned block root before anything is signed: the block
header is hashed here from its fields, and the compact answers are checked against its state root."""

from __future__ import annotations

import structlog

from oracle.beacon.answers import EndpointError, Header
from oracle.beacon.client import BeaconNode
from oracle.reporting.context import Context
from oracle.setpools.read import pinned_state
from oracle.setpools.view import OpenReport
from oracle.ssz.batches import BalanceBatch, batch_from_map, batch_gindices, plan_batches, state_batches
from oracle.ssz.errors import ProofError
from oracle.ssz.hashing import hash_node
from oracle.ssz.layouts import BeaconBlockHeader, Layout

log = structlog.get_logger("oracle.setpools")
HEADER_LEAVES = 8  # five fields padded to a power of two: gindices 8..15 under the block root


def header_nodes(header: Header) -> dict[int, bytes]:
    """Every node of a block header's tree, by gindex (1 is its root)."""
    values = [header.slot, header.proposer_index, header.parent_root, header.state_root, header.body_root]
    leaves = [BeaconBlockHeader.fields[i][1].encode(v).ljust(32, b"\x00") for i, v in enumerate(values)]
    nodes = {HEADER_LEAVES + i: leaf for i, leaf in enumerate(leaves)}
    nodes.update({HEADER_LEAVES + i: bytes(32) for i in range(len(leaves), HEADER_LEAVES)})
    for gindex in range(HEADER_LEAVES - 1, 0, -1):
        nodes[gindex] = hash_node(nodes[2 * gindex], nodes[2 * gindex + 1])
    return nodes


async def compact_batches(
    ctx: Context, node: BeaconNode, report: OpenReport, layout: Layout, indices: tuple[int, ...], max_words: int
) -> list[BalanceBatch] | None:
    """The batches from the node's compact multiproofs of every chunk they prove; None when the node does not
    serve them. The header is fetched by the pinned root and must hash to it."""
    header = await node.header("0x" + report.block_root.hex())
    if header.root != report.block_root:
        raise EndpointError(node.label, "header", "the header served for the pinned root does not hash to it")
    plans = plan_batches(layout, indices, max_words)
    wanted = sorted({g for first, count in plans for g in batch_gindices(layout, indices[first : first + count])},
                    reverse=True)  # fmt: skip
    nodes = await node.compact_state_proof("0x" + header.state_root.hex(), wanted, header.state_root, layout)
    if nodes is None:
        return None
    above = header_nodes(header)
    if above[1] != report.block_root:  # unreachable after the check above; kept for the invariant
        raise ProofError("the header's tree does not reach the pinned root")
    nodes.update(above)
    return [batch_from_map(layout, nodes, first, indices[first : first + count], report.block_root)
            for first, count in plans]  # fmt: skip


async def report_batches(
    ctx: Context, node: BeaconNode, report: OpenReport, indices: tuple[int, ...], max_words: int
) -> tuple[list[BalanceBatch], str]:
    """(the batches of registry positions `report.next_position` onwards, where they came from)."""
    remaining = indices[report.next_position :]
    batches: list[BalanceBatch] | None = None
    source = "state"
    if ctx.settings.set_pools.compact_proofs and ctx.layout.family == "ethereum":
        batches = await compact_batches(ctx, node, report, ctx.layout, remaining, max_words)
        source = "compact_multiproof"
    if batches is None:
        state = await pinned_state(ctx, node, report)
        batches = state_batches(state, remaining, max_words)
        source = "state"
    return [_renumbered(b, report.next_position) for b in batches], source


def _renumbered(batch: BalanceBatch, offset: int) -> BalanceBatch:
    return BalanceBatch(offset + batch.first_position, batch.indices, batch.balances_length, batch.leaves,
                        batch.witnesses, batch.total_gwei)  # fmt: skip

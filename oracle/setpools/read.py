"""A many-validator pool's views at one EL block, and its registry (append-only: read once, then from where it
ended), and the pinned state of an open report (fetched by its block root, checked against it)."""

from __future__ import annotations

from typing import Any

import structlog
from web3 import AsyncWeb3

from oracle.beacon.client import BeaconNode
from oracle.execution.el import ExecutionError
from oracle.reporting.clview import load_cl_state
from oracle.reporting.context import Anchor, Context
from oracle.setpools.view import CompletedReport, OpenReport, SetPoolView
from oracle.ssz.state import BeaconState

log = structlog.get_logger("oracle.setpools")
CONTRACT = "ValidatorSetPool"
REGISTRY_PAGE = 2_000  # indices per validatorIndices call: ~64 KiB of return data


async def read_registry(ctx: Context, address: str, count: int, block: int) -> tuple[int, ...]:
    """The registry's validator indices in position order; only the positions past the cached ones are read.
    A cache longer than the registry (a reorganisation removed registrations) is read again whole."""
    key = address.lower()
    known = ctx.registries.get(key, ())
    if len(known) > count:
        known = ()
    indices = list(known)
    while len(indices) < count:
        page = min(REGISTRY_PAGE, count - len(indices))
        chunk = await ctx.el.view(CONTRACT, address, "validatorIndices", len(indices), page, block=block)
        if len(chunk) != page:
            raise ExecutionError(f"{CONTRACT}.validatorIndices answered {len(chunk)} indices for {page}")
        indices.extend(int(i) for i in chunk)
    for position in range(max(1, len(known)), len(indices)):
        if indices[position] <= indices[position - 1]:
            raise ExecutionError(f"{CONTRACT} {address}: registry position {position} breaks the increasing order")
    ctx.registries[key] = tuple(indices)
    return ctx.registries[key]


async def read_set_pool(ctx: Context, address: str, block: int) -> SetPoolView:
    async def view(function: str, *args: Any) -> Any:
        return await ctx.el.view(CONTRACT, address, function, *args, block=block)

    count = int(await view("validatorCount"))
    indices = await read_registry(ctx, address, count, block)
    current = await view("currentReport")  # (id, blockRoot, timestamp, nextPosition, provenGwei, open)
    last = await view("lastReport")  # (id, blockRoot, timestamp, consensusGwei, executionBalance)
    checksummed = AsyncWeb3.to_checksum_address(address)
    balance = await ctx.el.timed("eth_getBalance", lambda w3: w3.eth.get_balance(checksummed, block), at_least=block)
    return SetPoolView(
        address=address,
        block=block,
        reporter=str(await view("reporter")),
        indices=indices,
        credentials=bytes(await view("withdrawalCredentials")),
        open=OpenReport(int(current[0]), bytes(current[1]), int(current[2]), int(current[3]), int(current[4]))
        if current[5]
        else None,
        last=CompletedReport(int(last[0]), bytes(last[1]), int(last[2]), int(last[3]), int(last[4])),
        total_assets_wei=int(await view("totalAssets")),
        balance_wei=int(balance),
    )


async def pinned_state(ctx: Context, node: BeaconNode, report: OpenReport) -> BeaconState:
    """The state an open report proves: the beacon block whose root the contract pinned, found by that root and
    merkleized by our engine (its block root must be the pinned one). The last one is kept for the next batch."""
    cached = ctx.pinned_state
    if cached is not None and cached.block_root == report.block_root:
        return cached
    ctx.pinned_state = None  # one state in memory at a time
    header = await node.header("0x" + report.block_root.hex())
    state = await load_cl_state(ctx, node, Anchor(header.slot, report.block_root, report.timestamp, 0))
    ctx.pinned_state = state
    return state

"""retryFullExit: a fully exited pool whose validator is still on the CL, not exiting, long after its exit was
requested: the EIP-7002 request was dropped (a full queue, a fee that rose), and the WithdrawalVault's
`retryFullExit(pubkey, maxFeeToPay)` (payable, PoL-Next) sends it again. The fee is the vault's
`getWithdrawalRequestFee()` now, under the configured cap; any excess is refunded by the vault."""

from __future__ import annotations

from oracle.config.settings import Keeper
from oracle.keeper.view import Action, KeeperView, PoolFacts

WEI_PER_GWEI = 10**9


def stranded(view: KeeperView, settings: Keeper) -> list[PoolFacts]:
    """Fully exited pools whose validator is still active on the CL past the retry delay since its latest exit
    request (the full exit, or a retry: each gets the delay to take effect; one older than the window read
    counts as past it)."""
    out = []
    for pool in view.pools:
        if pool.state != "exited" or pool.validator_index is None or pool.exit_initiated:
            continue  # not exited, already gone from the CL, or its exit is under way
        if (
            pool.exit_requested_block is not None
            and view.block - pool.exit_requested_block < settings.retry_full_exit_after_blocks
        ):
            continue  # the exit request may still take effect
        out.append(pool)
    return out


def fee_above_cap(view: KeeperView, settings: Keeper) -> bool:
    fee = view.withdrawal_request_fee_wei
    return fee is None or fee > int(settings.max_exit_fee_gwei * WEI_PER_GWEI)


def due(view: KeeperView, settings: Keeper) -> list[Action]:
    if not settings.retry_full_exit or fee_above_cap(view, settings):
        return []
    fee = view.withdrawal_request_fee_wei or 0
    return [
        Action(
            "retry_full_exit",
            f"retry_full_exit:{pool.pubkey.hex()}:{view.block}",
            pool.address,
            "WithdrawalVaultPoLNext",  # retryFullExit: newer than the published ABIs
            view.vault,
            "retryFullExit",
            (pool.pubkey, fee),
            value_wei=fee,
            why="the pool fully exited but its validator is still active on the CL",
        )
        for pool in stranded(view, settings)
    ]

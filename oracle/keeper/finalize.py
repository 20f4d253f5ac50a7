"""Withdrawal finalization: a staker's request is paid by `finalizeWithdrawalRequest(s)`, which anyone may
call once WITHDRAWAL_REQUEST_FINALIZATION_BLOCK_DELAY blocks have passed (Oct 2025 audit, M-1: "Anyone can
finalize any withdrawal request"), while the vault is not paused and holds what the request pays
(`RequestNotReady`, `NotEnoughFunds`, `EnforcedPause`)."""

from __future__ import annotations

from oracle.config.settings import Keeper
from oracle.keeper.view import Action, KeeperView, Request


def finalizable(view: KeeperView) -> list[Request]:
    """The requests whose delay has passed, oldest first (the order the vault's balance pays them in)."""
    return [r for r in view.requests if view.block >= r.request_block + view.finalization_delay_blocks]


def payable(view: KeeperView, ready: list[Request]) -> list[Request]:
    """The longest prefix of `ready` that the vault's balance pays whole: a request the vault cannot pay
    yet reverts the whole batch with NotEnoughFunds, and waits for the CL's withdrawal to arrive."""
    out, left = [], view.vault_balance_wei
    for request in ready:
        if request.assets_wei > left:
            break
        out.append(request)
        left -= request.assets_wei
    return out


def due(view: KeeperView, settings: Keeper) -> list[Action]:
    if not settings.finalize_withdrawals or view.vault_paused:
        return []
    requests = payable(view, finalizable(view))[: settings.max_finalize_batch]
    if not requests:
        return []
    ids = [r.request_id for r in requests]
    key = f"finalize:{','.join(str(i) for i in ids)}:{view.block}"
    # One alone by finalizeWithdrawalRequest; a batch by finalizeWithdrawalRequests (each its revert, whole).
    function, args = (
        ("finalizeWithdrawalRequest", (ids[0],)) if len(ids) == 1 else ("finalizeWithdrawalRequests", (ids,))
    )
    why = f"withdrawal request {ids[0]} is due" if len(ids) == 1 else f"{len(ids)} withdrawal requests are due"
    return [Action("finalize", key, "", "WithdrawalVault", view.vault, function, args, why=why)]

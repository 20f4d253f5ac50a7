"""Stage 5: what is in flight between the EL and the CL, and each pool's books on chain."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from eth_utils.crypto import keccak

from oracle.execution.el import ExecutionError
from oracle.reporting.context import Anchor, Context, Pool
from oracle.reporting.reconcile import SHARE, Lags, PoolBooks
from oracle.ssz.state import BeaconState
from oracle.types import FAR_FUTURE_EPOCH

UNSET_INDEX = 2**64 - 1  # deposit_requests_start_index before the first deposit request
# The pool's activation books every deposit made before it (totalDeposits starts at the initial deposit).
STAKING_POOL_ACTIVATED = "0x" + keccak(text="StakingPoolActivated()").hex()


async def collect_lags(
    ctx: Context, anchor: Anchor, state: BeaconState, pools: list[Pool], latest: int
) -> dict[int, Lags]:
    """What is in flight for each pool, from EL events up to block `latest`: the block the pools' books are
    read at too, so that a stake landing meanwhile is in both or in neither (and then moves the books that
    the check before signing compares)."""
    settings = ctx.settings.reporting
    processed = int(state.field("eth1_deposit_index"))
    # EIP-6110 (Electra on Ethereum): once eth1_deposit_index reaches deposit_requests_start_index the legacy
    # bridge has ended and the index stays frozen; every deposit up to the anchor's execution block is then
    # in the state (applied, or queued in pending_deposits, counted below), and only later ones are in flight.
    requests_start = UNSET_INDEX
    if state.layout.has_field("deposit_requests_start_index"):
        requests_start = int(state.field("deposit_requests_start_index"))
    bridge_ended = requests_start != UNSET_INDEX and processed >= requests_start
    start = max(0, anchor.el_block - settings.deposit_lookback_blocks)
    deposit_contract = ctx.settings.contracts.beacon_deposit
    in_flight: dict[bytes, int] = {}
    seen = set()
    pool_keys = {pool.pubkey for pool in pools}
    credited: list[tuple[bytes, int, str, int]] = []  # pubkey, block, tx hash, gwei: in the proven state
    for deposit in await ctx.el.deposits(deposit_contract, start, latest):
        if bridge_ended and deposit.index >= requests_start:
            pending = deposit.block > anchor.el_block
        else:
            pending = deposit.index >= processed
        if pending:
            seen.add(deposit.index)
            in_flight[deposit.pubkey] = in_flight.get(deposit.pubkey, 0) + deposit.amount_gwei
        elif deposit.pubkey in pool_keys:
            credited.append((deposit.pubkey, deposit.block, deposit.tx_hash, deposit.amount_gwei))
    unknown = False
    if not bridge_ended:
        try:
            total = await ctx.el.deposit_count(deposit_contract, block=latest)
            unknown = total - processed > len(seen)
        except ExecutionError:
            unknown = bool(seen) and min(seen) > processed  # older unprocessed deposits than the lookback shows
    topups = await third_party_topups(ctx, pools, credited, anchor.el_block)
    requested = await withdrawal_requests(ctx, anchor, latest)
    queued: dict[int, int] = {}
    if state.layout.has_field("pending_partial_withdrawals"):
        for entry in state.field("pending_partial_withdrawals"):
            queued[int(entry["validator_index"])] = queued.get(int(entry["validator_index"]), 0) + int(entry["amount"])
    pending_deposits: dict[bytes, int] = {}
    if state.layout.has_field("pending_deposits"):
        for entry in state.field("pending_deposits"):
            pending_deposits[entry["pubkey"]] = pending_deposits.get(entry["pubkey"], 0) + 1
    out = {}
    for pool in pools:
        record = state.validator(pool.index)
        allocated: int | None = None
        if requested.get(pool.pubkey):  # only then can it matter: one view, not one per pool
            try:
                allocated = int(await ctx.el.view("WithdrawalVault", ctx.vault, "allocatedWithdrawalsAmount",
                                                  pool.pubkey, block=latest))  # fmt: skip
            except ExecutionError:
                allocated = None  # a vault without the view: the requests alone decide
        out[pool.index] = Lags(
            deposits_in_flight_gwei=in_flight.get(pool.pubkey, 0),
            deposit_lag_unknown=unknown,
            pending_withdrawal_gwei=queued.get(pool.index, 0),
            recent_withdrawal_requests=requested.get(pool.pubkey, 0),
            allocated_withdrawals_wei=allocated,
            # An exit in progress: the balance will be swept to the vault; the report waits for the sweep.
            exiting=record["exit_epoch"] != FAR_FUTURE_EPOCH and state.balance(pool.index) > 0,
            # Every pool here is open (discover sets fully exited ones apart): an exit on the CL that the
            # pool never triggered is the CL's own (an eviction from a full validator set, say).
            forced_exit=record["exit_epoch"] != FAR_FUTURE_EPOCH,
            # Exited and swept: after an exit only the sweep takes a balance to 0. The report of 0 is then due.
            withdrawn=record["exit_epoch"] != FAR_FUTURE_EPOCH and state.balance(pool.index) == 0,
            pending_deposits_in_state=pending_deposits.get(pool.pubkey, 0),
            credited_topups=tuple(topups.get(pool.pubkey, ())),
        )
    return out


async def third_party_topups(
    ctx: Context, pools: list[Pool], credited: list[tuple[bytes, int, str, int]], anchor_block: int
) -> dict[bytes, list[tuple[int, int]]]:
    """Deposits to pool validators that the CL has credited and the pool never booked: anyone's deposit straight
    to the deposit contract (a top-up). Not the pool's own: any deposit in a transaction where the pool itself
    logged something (`submit` books its deposits in totalDeposits in the same transaction, DepositSubmitted),
    nor one made before the pool's activation (which books those). They explain a rise of the proven balance
    over totalDeposits. Per pubkey: [(block, gwei)]. When the pools' logs are unreadable, nothing is
    explained (the bounds apply to the whole change)."""
    if not credited:
        return {}
    by_address = {pool.address.lower(): pool.pubkey for pool in pools}
    blocks = [block for _, block, _, _ in credited]
    try:
        entries = await ctx.el.raw_logs(min(blocks), max(anchor_block, *blocks),
                                        addresses=[pool.address for pool in pools])  # fmt: skip
    except ExecutionError:
        return {}
    pool_txs: set[str] = set()
    activated: dict[bytes, int] = {}
    for entry in entries:
        pool_txs.add("0x" + bytes(entry["transactionHash"]).hex())
        topics = entry.get("topics") or []
        key = by_address.get(str(entry["address"]).lower())
        if key is not None and topics and "0x" + bytes(topics[0]).hex() == STAKING_POOL_ACTIVATED:
            activated[key] = max(activated.get(key, 0), int(entry["blockNumber"]))
    out: dict[bytes, list[tuple[int, int]]] = {}
    for key, block, tx_hash, gwei in credited:
        if tx_hash not in pool_txs and block > activated.get(key, -1):
            out.setdefault(key, []).append((block, gwei))
    return out


async def withdrawal_requests(ctx: Context, anchor: Anchor, latest: int) -> dict[bytes, int]:
    """EL withdrawal requests per validator from `withdrawal_lookback_blocks` before the anchor's block to now:
    any of them may not be paid by the CL yet (on Berachain a partial withdrawal is paid ~49,152 slots after
    its request)."""

    async def fetch(start: int, end: int) -> list[tuple[int, Any]]:
        events = await ctx.el.logs("WithdrawalVault", ctx.vault, "ELWithdrawalTriggered", start, end)
        return [(int(e["blockNumber"]), bytes(e["args"]["pubkey"])) for e in events]

    start = max(0, anchor.el_block - ctx.settings.reporting.withdrawal_lookback_blocks)
    requested: dict[bytes, int] = {}
    for key in await ctx.withdrawal_requests.advance(start, latest, fetch):
        requested[key] = requested.get(key, 0) + 1
    return requested


async def read_books(ctx: Context, pool: Pool, block: int) -> PoolBooks:
    """The pool's books at `block` (the block the cycle's lags were collected at; before signing, a node's
    latest block pinned no older than that), from endpoints at or past it only."""

    def view(fn: str, *args: Any) -> Awaitable[Any]:
        return ctx.el.view("StakingPool", pool.address, fn, *args, block=block)

    return PoolBooks(
        total_deposits_wei=int(await view("totalDeposits")),
        total_assets_wei=int(await view("totalAssets")),
        total_supply=int(await view("totalSupply")),
        share_price_wei=int(await view("convertToAssets", SHARE)),
        min_effective_balance_wei=int(await view("minEffectiveBalance")),
        active_threshold_reached=bool(await view("activeThresholdReached")),
    )

"""processRewards: a pool's EL rewards wait in its StakingRewardsVault until the pool collects them into its
buffer (and from there into CL deposits); `processRewards()` is permissionless (May 2026 audit, I-5: "any
user can ... call StakingPool.processRewards()"). Due when what waits exceeds the configured minimum."""

from __future__ import annotations

from oracle.config.settings import Keeper
from oracle.keeper.view import Action, KeeperView

OPEN = ("active", "below_threshold")  # paused and fully exited pools refuse it (whenNotPaused)


def due(view: KeeperView, settings: Keeper) -> list[Action]:
    if not settings.process_rewards:
        return []
    minimum = int(settings.min_rewards_gwei) * 10**9
    return [
        Action(
            "process_rewards",
            f"process_rewards:{pool.address.lower()}:{view.block}",
            pool.address,
            "StakingPool",
            pool.address,
            "processRewards",
            (),
            why=f"{pool.rewards_waiting_wei / 10**18:.4f} in the rewards vault",
        )
        for pool in view.pools
        if pool.state in OPEN and pool.rewards_waiting_wei > 0 and pool.rewards_waiting_wei >= minimum
    ]

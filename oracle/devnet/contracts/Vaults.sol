// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./Common.sol";

interface IRewardsReceiver {
    function receiveRewards() external payable;
}

/// Holds a pool's EL rewards until the pool collects them (submit, processRewards, the full exit).
contract StakingRewardsVault {
    event StakingRewardsReceived(uint256 amount);
    event RewardsWithdrawn(uint256 amount);

    // The published rewards vault's InvalidSender has no arguments (the pool's and the operator's have two).
    error InvalidSender();

    address public stakingPool;

    receive() external payable {
        emit StakingRewardsReceived(msg.value);
    }

    /// Wired once by the pool's constructor (the deployed vault's initialize(governance, stakingPool)).
    function setStakingPool(address pool) external {
        if (stakingPool != address(0)) revert InvalidSender();
        stakingPool = pool;
    }

    /// The published vault's withdrawRewards(uint256): the pool takes `amount` into its assets.
    function withdrawRewards(uint256 amount) external {
        if (msg.sender != stakingPool) revert InvalidSender();
        emit RewardsWithdrawn(amount);
        IRewardsReceiver(stakingPool).receiveRewards{value: amount}();
    }
}

/// The pool operator's contract. On the devnet its native balance stands for the operator's WBERA (PoL-Next),
/// which counts towards the pool's total assets and which the pool collects (unwrapped) into its buffer.
contract SmartOperator {
    address public stakingPool;

    receive() external payable {}

    function setStakingPool(address pool) external {
        if (stakingPool != address(0)) revert InvalidSender(msg.sender, address(0));
        stakingPool = pool;
    }

    function rebaseableAssets() external view returns (uint256) {
        return address(this).balance;
    }

    /// The operator's WBERA, unwrapped and sent to the pool (SmartOperator.withdrawRewards in the May 2026 audit).
    function withdrawRewards(uint256 amount) external {
        if (msg.sender != stakingPool) revert InvalidSender(msg.sender, stakingPool);
        IRewardsReceiver(stakingPool).receiveRewards{value: amount}();
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// Holds a pool's EL rewards until they are folded into its assets.
contract StakingRewardsVault {
    event StakingRewardsReceived(uint256 amount);

    receive() external payable {
        emit StakingRewardsReceived(msg.value);
    }
}

/// The pool operator's contract. On the devnet its native balance stands for the rebaseable BGT/WBERA
/// that counts towards the pool's total assets.
contract SmartOperator {
    receive() external payable {}

    function rebaseableAssets() external view returns (uint256) {
        return address(this).balance;
    }
}

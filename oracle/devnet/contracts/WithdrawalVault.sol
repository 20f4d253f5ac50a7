// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./Common.sol";

interface IFactory {
    struct CoreContracts {
        address smartOperator;
        address stakingPool;
        address stakingRewardsVault;
        address incentiveCollector;
    }

    function getCoreContracts(bytes calldata pubkey) external view returns (CoreContracts memory);
}

interface IPool {
    function previewRedeem(uint256 shares) external view returns (uint256);
    function notifyWithdrawalRequest(address user, uint256 assets) external returns (uint256, bool, bool);
    function triggerFullExit() external;
    function markFullyExited() external;
    function owner() external view returns (address);
}

/// Receives every pool validator's CL withdrawals (the validators' credentials point here) and turns
/// redemptions into EL-triggered withdrawals (EIP-7002 on a real chain; an event the devnet follows).
contract WithdrawalVault {
    struct WithdrawalRequest {
        bytes pubkey;
        uint256 assetsRequested;
        uint256 sharesBurnt;
        address user;
        uint256 requestBlock;
    }

    uint256 public constant WITHDRAWAL_REQUEST_FINALIZATION_BLOCK_DELAY = 4;
    uint256 public constant WITHDRAWAL_REQUEST_FEE = 1 wei;

    event ELWithdrawalTriggered(bytes pubkey, uint64 amount, uint256 fee);
    event WithdrawalRequested(
        address indexed user, uint256 amountOfAsset, uint256 amountOfShares, uint256 requestId, bool isFullExitWithdraw
    );
    event WithdrawalRequestFinalized(uint256 requestId);

    address public immutable factory;
    address public owner;
    uint256 public nextRequestId = 1;
    mapping(uint256 => WithdrawalRequest) public withdrawalRequests;

    constructor(address factory_) {
        factory = factory_;
        owner = msg.sender;
    }

    receive() external payable {}

    function getWithdrawalRequestFee() external pure returns (uint256) {
        return WITHDRAWAL_REQUEST_FEE;
    }

    function _pool(bytes calldata pubkey) internal view returns (IPool) {
        address pool = IFactory(factory).getCoreContracts(pubkey).stakingPool;
        if (pool == address(0)) revert StakingPoolNotFound();
        return IPool(pool);
    }

    function _fee(uint256 maxFeeToPay) internal view {
        if (maxFeeToPay < WITHDRAWAL_REQUEST_FEE || msg.value < WITHDRAWAL_REQUEST_FEE) revert InsufficientFee();
    }

    function requestRedeem(bytes calldata pubkey, uint256 shares, uint256 maxFeeToPay)
        external
        payable
        returns (uint256)
    {
        _fee(maxFeeToPay);
        IPool pool = _pool(pubkey);
        return _request(pool, pubkey, pool.previewRedeem(shares));
    }

    /// assetsInGWei == 0 asks for a full exit (EIP-7002), allowed to the pool's owner only.
    function requestWithdrawal(bytes calldata pubkey, uint64 assetsInGWei, uint256 maxFeeToPay)
        external
        payable
        returns (uint256)
    {
        _fee(maxFeeToPay);
        IPool pool = _pool(pubkey);
        if (assetsInGWei == 0) {
            if (msg.sender != pool.owner()) revert OwnableUnauthorizedAccount(msg.sender);
            pool.triggerFullExit();
            emit ELWithdrawalTriggered(pubkey, 0, WITHDRAWAL_REQUEST_FEE);
            return 0;
        }
        return _request(pool, pubkey, uint256(assetsInGWei) * 1 gwei);
    }

    function _request(IPool pool, bytes calldata pubkey, uint256 assets) internal returns (uint256 requestId) {
        assets -= assets % 1 gwei;
        (uint256 shares,,) = pool.notifyWithdrawalRequest(msg.sender, assets);
        requestId = nextRequestId++;
        withdrawalRequests[requestId] = WithdrawalRequest(pubkey, assets, shares, msg.sender, block.number);
        emit ELWithdrawalTriggered(pubkey, uint64(assets / 1 gwei), WITHDRAWAL_REQUEST_FEE);
        emit WithdrawalRequested(msg.sender, assets, shares, requestId, false);
    }

    function getWithdrawalRequest(uint256 requestId) external view returns (WithdrawalRequest memory) {
        return withdrawalRequests[requestId];
    }

    function finalizeWithdrawalRequest(uint256 requestId) public {
        WithdrawalRequest memory request = withdrawalRequests[requestId];
        if (request.user == address(0)) revert InvalidAmount();
        if (block.number < request.requestBlock + WITHDRAWAL_REQUEST_FINALIZATION_BLOCK_DELAY) {
            revert RequestNotReady();
        }
        if (address(this).balance < request.assetsRequested) revert NotEnoughFunds();
        delete withdrawalRequests[requestId];
        (bool ok,) = request.user.call{value: request.assetsRequested}("");
        if (!ok) revert NotEnoughFunds();
        emit WithdrawalRequestFinalized(requestId);
    }

    /// After the CL has swept a fully exited validator: its pool is closed for good.
    function notifyFullExitFromCL(bytes calldata pubkey) external {
        if (msg.sender != owner) revert OwnableUnauthorizedAccount(msg.sender);
        _pool(pubkey).markFullyExited();
    }
}

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
    function owner() external view returns (address);
}

/// Receives every pool validator's CL withdrawals (the validators' credentials point here) and turns
/// redemptions into EL-triggered withdrawals (EIP-7002 on a real chain; an event the devnet follows).
/// Each request is a non-transferable ERC-721 owned by the requester, finalizable
/// WITHDRAWAL_REQUEST_FINALIZATION_BLOCK_DELAY blocks after it was made (129,600 on Berachain).
/// allocatedWithdrawalsAmount(pubkey) holds what was requested from the validator's CL stake and not yet
/// finalized: the withdrawals in flight for that validator.
contract WithdrawalVault {
    struct WithdrawalRequest {
        bytes pubkey;
        uint256 assetsRequested;
        uint256 sharesBurnt;
        address user;
        uint256 requestBlock;
    }

    address public constant EIP_7002 = 0x00000961Ef480Eb55e80D19ad83579A64c007002;
    uint256 public immutable WITHDRAWAL_REQUEST_FINALIZATION_BLOCK_DELAY;
    /// The devnet's stand-in for the EIP-7002 contract's fee (its excess-based fee is 1 wei when idle).
    uint256 internal constant EIP_7002_FEE = 1 wei;

    event ELWithdrawalTriggered(bytes pubkey, uint64 amount, uint256 fee);
    event WithdrawalRequested(
        address indexed user, uint256 amountOfAsset, uint256 amountOfShares, uint256 requestId, bool isFullExitWithdraw
    );
    event WithdrawalRequestFinalized(uint256 requestId);
    event OverpaidFeeRefunded(address user, uint256 amount);
    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);

    address public immutable factory;
    address public owner;
    uint256 internal nextRequestId = 1;
    uint256 public totalSupply;
    mapping(uint256 => WithdrawalRequest) public withdrawalRequests;
    mapping(uint256 => bool) internal fromCL;
    mapping(address => uint256) public balanceOf;
    mapping(bytes32 => uint256) internal allocated;

    constructor(address factory_, uint256 finalizationDelay) {
        factory = factory_;
        owner = msg.sender;
        WITHDRAWAL_REQUEST_FINALIZATION_BLOCK_DELAY = finalizationDelay;
    }

    receive() external payable {}

    function name() external pure returns (string memory) {
        return "Staking Pool Withdrawal Request";
    }

    function symbol() external pure returns (string memory) {
        return "SPWR";
    }

    function getWithdrawalRequestFee() public pure returns (uint256) {
        return EIP_7002_FEE;
    }

    function allocatedWithdrawalsAmount(bytes calldata pubkey) external view returns (uint256) {
        return allocated[keccak256(pubkey)];
    }

    function ownerOf(uint256 requestId) public view returns (address user) {
        user = withdrawalRequests[requestId].user;
        if (user == address(0)) revert ERC721NonexistentToken(requestId);
    }

    /// Requests are not transferable.
    function transferFrom(address, address, uint256) external pure {
        revert NonTransferable();
    }

    function _pool(bytes calldata pubkey) internal view returns (IPool) {
        address pool = IFactory(factory).getCoreContracts(pubkey).stakingPool;
        if (pool == address(0)) revert StakingPoolNotFound();
        return IPool(pool);
    }

    /// The EIP-7002 fee is paid from msg.value, never more than maxFeeToPay; the rest is refunded.
    function _fee(uint256 maxFeeToPay) internal returns (uint256 fee) {
        fee = getWithdrawalRequestFee();
        if (maxFeeToPay < fee || msg.value < fee) revert InsufficientFee();
        if (msg.value > fee) {
            (bool ok,) = msg.sender.call{value: msg.value - fee}("");
            if (!ok) revert OverpaidFee();
            emit OverpaidFeeRefunded(msg.sender, msg.value - fee);
        }
    }

    function requestRedeem(bytes calldata pubkey, uint256 shares, uint256 maxFeeToPay)
        external
        payable
        returns (uint256)
    {
        uint256 fee = _fee(maxFeeToPay);
        IPool pool = _pool(pubkey);
        return _request(pool, pubkey, pool.previewRedeem(shares), fee);
    }

    /// assetsInGWei == 0 asks for a full exit (EIP-7002 amount 0), allowed to the pool's owner only.
    function requestWithdrawal(bytes calldata pubkey, uint64 assetsInGWei, uint256 maxFeeToPay)
        external
        payable
        returns (uint256)
    {
        uint256 fee = _fee(maxFeeToPay);
        IPool pool = _pool(pubkey);
        if (assetsInGWei == 0) {
            if (msg.sender != pool.owner()) revert OwnableUnauthorizedAccount(msg.sender);
            pool.triggerFullExit();
            emit ELWithdrawalTriggered(pubkey, 0, fee);
            return 0;
        }
        return _request(pool, pubkey, uint256(assetsInGWei) * 1 gwei, fee);
    }

    function _request(IPool pool, bytes calldata pubkey, uint256 assets, uint256 fee)
        internal
        returns (uint256 requestId)
    {
        assets -= assets % 1 gwei;
        (uint256 shares, bool isFullExit, bool fromBuffer) = pool.notifyWithdrawalRequest(msg.sender, assets);
        requestId = nextRequestId++;
        withdrawalRequests[requestId] = WithdrawalRequest(pubkey, assets, shares, msg.sender, block.number);
        balanceOf[msg.sender] += 1;
        totalSupply += 1;
        emit Transfer(address(0), msg.sender, requestId);
        if (!fromBuffer) {
            fromCL[requestId] = true;
            allocated[keccak256(pubkey)] += assets;
            // A request that takes the pool below its minimum becomes the validator's full exit.
            emit ELWithdrawalTriggered(pubkey, isFullExit ? 0 : uint64(assets / 1 gwei), fee);
        }
        emit WithdrawalRequested(msg.sender, assets, shares, requestId, isFullExit);
    }

    function getWithdrawalRequest(uint256 requestId) external view returns (WithdrawalRequest memory) {
        return withdrawalRequests[requestId];
    }

    function finalizeWithdrawalRequests(uint256[] calldata requestIds) external {
        for (uint256 i = 0; i < requestIds.length; i++) {
            finalizeWithdrawalRequest(requestIds[i]);
        }
    }

    function finalizeWithdrawalRequest(uint256 requestId) public {
        WithdrawalRequest memory request = withdrawalRequests[requestId];
        if (request.user == address(0)) revert ERC721NonexistentToken(requestId);
        if (block.number < request.requestBlock + WITHDRAWAL_REQUEST_FINALIZATION_BLOCK_DELAY) {
            revert RequestNotReady();
        }
        if (address(this).balance < request.assetsRequested) revert NotEnoughFunds();
        delete withdrawalRequests[requestId];
        if (fromCL[requestId]) {
            allocated[keccak256(request.pubkey)] -= request.assetsRequested;
            delete fromCL[requestId];
        }
        balanceOf[request.user] -= 1;
        totalSupply -= 1;
        emit Transfer(request.user, address(0), requestId);
        (bool ok,) = request.user.call{value: request.assetsRequested}("");
        if (!ok) revert NotEnoughFunds();
        emit WithdrawalRequestFinalized(requestId);
    }

    /// Governance's acknowledgement that the CL swept a fully exited validator (in the published interface;
    /// here the pool is already closed when its full exit was triggered, so it only checks).
    function notifyFullExitFromCL(bytes calldata pubkey) external view {
        if (msg.sender != owner) revert OwnableUnauthorizedAccount(msg.sender);
        _pool(pubkey);
    }
}

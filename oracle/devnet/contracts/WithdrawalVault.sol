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
}

/// Receives every pool validator's CL withdrawals (the validators' credentials point here) and turns
/// redemptions into EL-triggered withdrawals (EIP-7002 on a real chain; an event the devnet follows), as the
/// audits quote its _withdraw (Sept 2025 H-1 fix, Oct 2025 M-4, May 2026 M-1) and the operator guide describes
/// retryFullExit (PoL-Next). Each request is a non-transferable ERC-721 owned by the requester, finalizable by
/// anyone WITHDRAWAL_REQUEST_FINALIZATION_BLOCK_DELAY blocks after it was made (129,600 on Berachain).
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
    /// How long the CL may take to pay a partial withdrawal request (49,153 blocks on Berachain): retryFullExit
    /// waits that long after the validator's last one.
    uint256 public immutable WITHDRAWAL_FLIGHT_BLOCK_DELAY;
    /// The devnet's stand-in for the EIP-7002 contract's fee (its excess-based fee is 1 wei when idle).
    uint256 internal constant EIP_7002_FEE = 1 wei;

    event ELWithdrawalTriggered(bytes pubkey, uint64 amount, uint256 fee);
    event WithdrawalRequested(
        address indexed user, uint256 amountOfAsset, uint256 amountOfShares, uint256 requestId, bool isFullExitWithdraw
    );
    event WithdrawalRequestFinalized(uint256 requestId);
    event OverpaidFeeRefunded(address receiver, uint256 amount);
    event FullExitRequestRetried(bytes pubkey);
    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);
    event Paused(address account);
    event Unpaused(address account);

    // The published vault's InvalidSender has no arguments (the pool's has two).
    error InvalidSender();
    // PoL-Next's retryFullExit (docs operators.mdx names them; their arguments are not published: none here).
    error NotFullyExited();
    error PendingWithdrawalInFlight();
    // The published vault's EIP-7002 failures: the devnet's stand-in request cannot fail.
    error ELWithdrawalTriggerFailed();
    error FeeRequestFailed();

    address public immutable factory;
    address public owner;
    bool public paused;
    uint256 internal nextRequestId = 1;
    uint256 public totalSupply;
    mapping(uint256 => WithdrawalRequest) public withdrawalRequests;
    mapping(uint256 => bool) internal fromCL;
    mapping(address => uint256) public balanceOf;
    mapping(bytes32 => uint256) internal allocated;
    mapping(bytes32 => bool) internal fullyExited;
    mapping(bytes32 => uint256) internal lastPartialRequestBlock;

    constructor(address factory_, uint256 finalizationDelay, uint256 flightDelay) {
        factory = factory_;
        owner = msg.sender;
        WITHDRAWAL_REQUEST_FINALIZATION_BLOCK_DELAY = finalizationDelay;
        WITHDRAWAL_FLIGHT_BLOCK_DELAY = flightDelay;
    }

    modifier whenNotPaused() {
        if (paused) revert EnforcedPause();
        _;
    }

    receive() external payable {}

    function name() external pure returns (string memory) {
        return "Staking Pool Withdrawal Request";
    }

    function symbol() external pure returns (string memory) {
        return "SPWR";
    }

    function pause() external {
        if (msg.sender != owner) revert OwnableUnauthorizedAccount(msg.sender);
        if (paused) revert EnforcedPause();
        paused = true;
        emit Paused(msg.sender);
    }

    function unpause() external {
        if (msg.sender != owner) revert OwnableUnauthorizedAccount(msg.sender);
        if (!paused) revert ExpectedPause();
        paused = false;
        emit Unpaused(msg.sender);
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

    function requestRedeem(bytes calldata pubkey, uint256 shares, uint256 maxFeeToPay)
        external
        payable
        whenNotPaused
        returns (uint256)
    {
        // Rounded down to whole gwei (Sept 2025 audit L-2).
        return _withdraw(pubkey, uint64(_pool(pubkey).previewRedeem(shares) / 1 gwei), maxFeeToPay);
    }

    function requestWithdrawal(bytes calldata pubkey, uint64 assetsInGWei, uint256 maxFeeToPay)
        external
        payable
        whenNotPaused
        returns (uint256)
    {
        return _withdraw(pubkey, assetsInGWei, maxFeeToPay);
    }

    /// The audits' _withdraw: nobody asks for 0 (a full exit is the pool's decision, May 2026 M-1); the pool
    /// burns the shares and says whether this is the full exit or a short-circuit; the EIP-7002 request and
    /// its fee only for a validator not fully exited and not short-circuited, the fee refunded otherwise.
    function _withdraw(bytes calldata pubkey, uint64 assetsInGWei, uint256 maxFeeToPay)
        internal
        returns (uint256 requestId)
    {
        if (assetsInGWei == 0) revert InvalidAmount();
        uint256 amountInWei = uint256(assetsInGWei) * 1 gwei;
        bytes32 key = keccak256(pubkey);
        (uint256 shares, bool isFullExitWithdraw, bool isShortCircuit) =
            _pool(pubkey).notifyWithdrawalRequest(msg.sender, amountInWei);
        requestId = _mintRequest(pubkey, amountInWei, shares);
        if (!fullyExited[key] && !isShortCircuit) {
            uint64 requested = assetsInGWei;
            if (isFullExitWithdraw) {
                fullyExited[key] = true;
                requested = 0; // EIP-7002 amount 0: the validator's full exit
            } else {
                lastPartialRequestBlock[key] = block.number;
            }
            fromCL[requestId] = true;
            allocated[key] += amountInWei;
            _triggerExecutionLayerWithdrawal(pubkey, requested, maxFeeToPay);
        } else if (msg.value > 0) {
            _refund(msg.value);
        }
        emit WithdrawalRequested(msg.sender, amountInWei, shares, requestId, isFullExitWithdraw);
    }

    function _mintRequest(bytes calldata pubkey, uint256 assets, uint256 shares) internal returns (uint256 id) {
        id = nextRequestId++;
        withdrawalRequests[id] = WithdrawalRequest(pubkey, assets, shares, msg.sender, block.number);
        balanceOf[msg.sender] += 1;
        totalSupply += 1;
        emit Transfer(address(0), msg.sender, id);
    }

    /// The fee check as the Sept 2025 audit quotes it: more than maxFeeToPay is OverpaidFee, less than the fee
    /// sent is InsufficientFee; the rest of msg.value is refunded.
    function _triggerExecutionLayerWithdrawal(bytes calldata pubkey, uint64 amount, uint256 maxFeeToPay) internal {
        uint256 fee = getWithdrawalRequestFee();
        if (fee > maxFeeToPay) revert OverpaidFee();
        if (msg.value < fee) revert InsufficientFee();
        emit ELWithdrawalTriggered(pubkey, amount, fee);
        if (msg.value > fee) _refund(msg.value - fee);
    }

    function _refund(uint256 amount) internal {
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert RefundFailed();
        emit OverpaidFeeRefunded(msg.sender, amount);
    }

    /// PoL-Next (docs operators.mdx): anyone re-sends a fully exited validator's EIP-7002 full exit, once no
    /// partial withdrawal requested within WITHDRAWAL_FLIGHT_BLOCK_DELAY blocks may still be paid.
    function retryFullExit(bytes calldata pubkey, uint256 maxFeeToPay) external payable whenNotPaused {
        bytes32 key = keccak256(pubkey);
        if (!fullyExited[key]) revert NotFullyExited();
        uint256 last = lastPartialRequestBlock[key];
        if (last != 0 && block.number < last + WITHDRAWAL_FLIGHT_BLOCK_DELAY) revert PendingWithdrawalInFlight();
        _triggerExecutionLayerWithdrawal(pubkey, 0, maxFeeToPay);
        emit FullExitRequestRetried(pubkey);
    }

    function getWithdrawalRequest(uint256 requestId) external view returns (WithdrawalRequest memory) {
        return withdrawalRequests[requestId];
    }

    function finalizeWithdrawalRequests(uint256[] calldata requestIds) external whenNotPaused {
        for (uint256 i = 0; i < requestIds.length; i++) {
            _finalizeWithdrawalRequest(requestIds[i]);
        }
    }

    /// By anyone, for the request's owner (Sept 2025 audit L-5, Oct 2025 C-1 and M-1).
    function finalizeWithdrawalRequest(uint256 requestId) external whenNotPaused {
        _finalizeWithdrawalRequest(requestId);
    }

    function _finalizeWithdrawalRequest(uint256 requestId) internal {
        WithdrawalRequest memory request = withdrawalRequests[requestId];
        if (request.user == address(0)) revert ERC721NonexistentToken(requestId); // Sept 2025 audit I-7
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

    /// From the validator's pool only (Sept 2025 audit H-1), on its report of 0: the CL exited the validator.
    function notifyFullExitFromCL(bytes calldata pubkey) external {
        if (msg.sender != IFactory(factory).getCoreContracts(pubkey).stakingPool) revert InvalidSender();
        fullyExited[keccak256(pubkey)] = true;
    }
}

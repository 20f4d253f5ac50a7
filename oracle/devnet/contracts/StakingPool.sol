// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./Common.sol";
import "./Vaults.sol";

interface IBeaconDeposit {
    function deposit(bytes calldata pubkey, bytes calldata credentials, bytes calldata signature, address operator)
        external
        payable;
}

/// One pool per validator: non-transferable stBERA shares over the validator's stake (ERC-4626 maths,
/// decimals offset 0). `totalDeposits` is booked on the EL when a deposit leaves the buffer, and
/// overwritten by the AccountingOracle with the proven CL balance.
contract StakingPool {
    address public constant BEACON_DEPOSIT = 0x4242424242424242424242424242424242424242;
    uint256 public constant MIN_CL_DEPOSIT_AMOUNT = 1 ether;

    // Event signatures and `indexed` flags as in Berachain's published ABIs (tests/test_abi_conformance.py).
    event DepositSubmitted(
        address indexed receiver,
        uint256 userDepositAmount,
        uint256 shares,
        uint256 rewardsCollected,
        uint256 bufferedAssets,
        uint256 totalDeposits
    );
    event TotalDepositsUpdated(uint256 newTotalDeposits);
    event SharesMinted(address indexed to, uint256 amount);
    event SharesBurned(address indexed from, uint256 amount);
    event FullExitTriggered();
    event Paused(address account);
    event Unpaused(address account);

    bytes internal pubkey;
    bytes32 public immutable withdrawalCredentials;
    address public immutable factory;
    address public immutable accountingOracle;
    address public immutable withdrawalVault;
    StakingRewardsVault public immutable rewardsVault;
    SmartOperator public immutable smartOperator;
    address public owner;

    uint256 public totalDeposits;
    uint256 public bufferedAssets;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    bool public paused;
    bool public isFullyExited;
    bool public fullExitTriggered;

    constructor(
        bytes memory pubkey_,
        bytes32 withdrawalCredentials_,
        address accountingOracle_,
        address withdrawalVault_,
        address payable rewardsVault_,
        address payable smartOperator_,
        address owner_
    ) {
        pubkey = pubkey_;
        withdrawalCredentials = withdrawalCredentials_;
        factory = msg.sender;
        accountingOracle = accountingOracle_;
        withdrawalVault = withdrawalVault_;
        rewardsVault = StakingRewardsVault(rewardsVault_);
        smartOperator = SmartOperator(smartOperator_);
        owner = owner_;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert OwnableUnauthorizedAccount(msg.sender);
        _;
    }

    modifier whenNotPaused() {
        if (paused) revert EnforcedPause();
        _;
    }

    function name() external pure returns (string memory) {
        return "Staked BERA";
    }

    function symbol() external pure returns (string memory) {
        return "stBERA";
    }

    function decimals() external pure returns (uint8) {
        return 18;
    }

    function getValidatorPubkey() external view returns (bytes memory) {
        return pubkey;
    }

    function isActive() external view returns (bool) {
        return totalSupply > 0 && !isFullyExited;
    }

    function totalAssets() public view returns (uint256) {
        return totalDeposits + bufferedAssets + address(rewardsVault).balance + smartOperator.rebaseableAssets();
    }

    function convertToShares(uint256 assets) public view returns (uint256) {
        return assets * (totalSupply + 1) / (totalAssets() + 1);
    }

    function convertToAssets(uint256 shares) public view returns (uint256) {
        return shares * (totalAssets() + 1) / (totalSupply + 1);
    }

    function previewDeposit(uint256 assets) external view returns (uint256) {
        return convertToShares(assets);
    }

    function previewRedeem(uint256 shares) public view returns (uint256) {
        return convertToAssets(shares);
    }

    function previewWithdraw(uint256 assets) public view returns (uint256) {
        uint256 denominator = totalAssets() + 1;
        return (assets * (totalSupply + 1) + denominator - 1) / denominator;
    }

    function submit(address receiver) external payable returns (uint256 shares) {
        if (isFullyExited) revert StakingPoolFullExited();
        if (paused) revert EnforcedPause();
        if (msg.value == 0 || fullExitTriggered) revert InvalidAmount();
        shares = convertToShares(msg.value);
        _mint(receiver, shares);
        bufferedAssets += msg.value;
        _depositBuffer();
        emit DepositSubmitted(receiver, msg.value, shares, 0, bufferedAssets, totalDeposits);
    }

    /// Buffered assets go to the CL in whole gwei once there is at least MIN_CL_DEPOSIT_AMOUNT; they are
    /// booked in totalDeposits at once, before the CL credits them (the lag the oracle must respect).
    function _depositBuffer() internal {
        uint256 amount = bufferedAssets - (bufferedAssets % 1 gwei);
        if (amount < MIN_CL_DEPOSIT_AMOUNT) return;
        bufferedAssets -= amount;
        totalDeposits += amount;
        IBeaconDeposit(BEACON_DEPOSIT).deposit{value: amount}(
            pubkey, abi.encodePacked(withdrawalCredentials), new bytes(96), address(smartOperator)
        );
    }

    function updateTotalDeposits(uint256 newTotalDeposits) external whenNotPaused {
        if (msg.sender != accountingOracle) revert InvalidSender(msg.sender, accountingOracle);
        totalDeposits = newTotalDeposits;
        emit TotalDepositsUpdated(newTotalDeposits);
    }

    /// Called by the WithdrawalVault: burns the user's shares for `assets` and books them out.
    function notifyWithdrawalRequest(address user, uint256 assets)
        external
        whenNotPaused
        returns (uint256 shares, bool isFullExit, bool belowMin)
    {
        if (msg.sender != withdrawalVault) revert InvalidSender(msg.sender, withdrawalVault);
        if (assets == 0 || assets > totalDeposits) revert InvalidAmount();
        shares = previewWithdraw(assets);
        if (balanceOf[user] < shares) revert InsufficientShares();
        balanceOf[user] -= shares;
        totalSupply -= shares;
        totalDeposits -= assets;
        emit SharesBurned(user, shares);
        return (shares, false, false);
    }

    function triggerFullExit() external {
        if (msg.sender != withdrawalVault) revert InvalidSender(msg.sender, withdrawalVault);
        fullExitTriggered = true;
        emit FullExitTriggered();
    }

    function markFullyExited() external {
        if (msg.sender != withdrawalVault) revert InvalidSender(msg.sender, withdrawalVault);
        isFullyExited = true;
        paused = true;
        emit Paused(msg.sender);
    }

    function pause() external onlyOwner {
        paused = true;
        emit Paused(msg.sender);
    }

    function unpause() external onlyOwner {
        if (isFullyExited) revert EnforcedPause();
        paused = false;
        emit Unpaused(msg.sender);
    }

    function _mint(address to, uint256 shares) internal {
        totalSupply += shares;
        balanceOf[to] += shares;
        emit SharesMinted(to, shares);
    }
}

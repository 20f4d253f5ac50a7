// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./Common.sol";
import "./Vaults.sol";

interface IBeaconDeposit {
    function deposit(bytes calldata pubkey, bytes calldata credentials, bytes calldata signature, address operator)
        external
        payable;
}

/// What differs between networks: Berachain's documented amounts, or the devnet's Ethereum-scale ones.
struct PoolParameters {
    uint256 minClDepositAmount; // every CL deposit after the first (BeaconDeposit's minimum)
    uint256 minEffectiveBalance; // activation threshold and full-exit safeguard
    uint256 maxEffectiveBalance; // deposits stop here (MaxCapacityReached)
    uint64 withdrawalCooldownBlocks; // after the threshold is reached, before withdrawals
}

interface IParameterSource {
    function poolParameters() external view returns (PoolParameters memory);
}

interface IFullExitNotified {
    function notifyFullExitFromCL(bytes calldata pubkey) external;
}

/// One pool per validator: non-transferable stBERA shares over the validator's stake (ERC-4626 maths,
/// decimals offset 0), with the lifecycle of Berachain's published contract reference and the code its audits
/// quote (docs/CONTRACTS.md names the audit and finding of each rule):
///  - deployed by the factory with the validator's first deposit already on the CL; paused and inactive;
///  - `activate` (from the factory's activateStakingPool, after it verified the validator's proofs) books
///    the proven balance, mints its shares to the default recipient and opens deposits;
///  - deposits stay buffered until totalDeposits + bufferedAssets reaches minEffectiveBalance (the active
///    threshold: all of it goes to the CL at once); after that, buffered assets go in chunks of at least
///    MIN_CL_DEPOSIT_AMOUNT, up to MAX_EFFECTIVE_BALANCE;
///  - withdrawals: before the threshold only from the buffer; after it, not for
///    ENABLE_WITHDRAWAL_COOLDOWN_BLOCKS; one whose CL portion exceeds totalDeposits or leaves it below
///    minEffectiveBalance triggers the full exit (notifyWithdrawalRequest, May 2026 audit M-1);
///  - the oracle's report overwrites totalDeposits; a report of 0 (the CL exited the validator by itself) is
///    the full exit, and the vault is told (updateTotalDeposits, May 2026 audit I-2). No minimum rule there;
///  - the full exit freezes total assets, sends the buffer, the rewards vault's and the operator's balances to
///    the WithdrawalVault, marks the pool fully exited and pauses it (_triggerFullExit, Sept 2025 audit H-1);
///    stakers then redeem from the vault at the frozen price.
/// `totalDeposits` is booked on the EL when a deposit leaves the buffer, and overwritten by the
/// AccountingOracle with the proven CL balance.
contract StakingPool {
    address public constant BEACON_DEPOSIT = 0x4242424242424242424242424242424242424242;
    uint256 public immutable MIN_CL_DEPOSIT_AMOUNT;
    uint256 public immutable MIN_EFFECTIVE_BALANCE;
    uint256 public immutable MAX_EFFECTIVE_BALANCE;
    uint64 public immutable ENABLE_WITHDRAWAL_COOLDOWN_BLOCKS;

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
    event StakingPoolActivated();
    event ActiveThresholdReached();
    event MaxCapacityReached(bytes pubkey);
    event MinEffectiveBalanceUpdated(uint256 newMinEffectiveBalance);
    event FullExitTriggered();
    event StakingRewardsReceived(uint256 amount);
    event Paused(address account);
    event Unpaused(address account);

    bytes internal pubkey;
    bytes32 public immutable withdrawalCredentials;
    address public immutable factory;
    address public immutable accountingOracle;
    address public immutable withdrawalVault;
    address public immutable defaultSharesRecipient;
    StakingRewardsVault public immutable rewardsVault;
    SmartOperator public immutable smartOperator;
    address public owner;

    uint256 public totalDeposits;
    uint256 public bufferedAssets;
    uint256 public totalSupply;
    uint256 public minEffectiveBalance;
    mapping(address => uint256) public balanceOf;
    bool public paused = true;
    bool internal activated;
    bool public activeThresholdReached;
    uint256 public activeThresholdBlock;
    bool public isFullyExited;
    uint256 internal frozenTotalAssets;

    constructor(
        bytes memory pubkey_,
        bytes32 withdrawalCredentials_,
        address accountingOracle_,
        address withdrawalVault_,
        address payable rewardsVault_,
        address payable smartOperator_,
        address owner_,
        address defaultSharesRecipient_
    ) {
        pubkey = pubkey_;
        withdrawalCredentials = withdrawalCredentials_;
        factory = msg.sender;
        accountingOracle = accountingOracle_;
        withdrawalVault = withdrawalVault_;
        rewardsVault = StakingRewardsVault(rewardsVault_);
        smartOperator = SmartOperator(smartOperator_);
        owner = owner_;
        defaultSharesRecipient = defaultSharesRecipient_;
        PoolParameters memory p = IParameterSource(msg.sender).poolParameters();
        MIN_CL_DEPOSIT_AMOUNT = p.minClDepositAmount;
        MIN_EFFECTIVE_BALANCE = p.minEffectiveBalance;
        MAX_EFFECTIVE_BALANCE = p.maxEffectiveBalance;
        ENABLE_WITHDRAWAL_COOLDOWN_BLOCKS = p.withdrawalCooldownBlocks;
        minEffectiveBalance = p.minEffectiveBalance;
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

    /// Activated through the factory and not fully exited.
    function isActive() external view returns (bool) {
        return activated && !isFullyExited;
    }

    function totalAssets() public view returns (uint256) {
        if (isFullyExited) return frozenTotalAssets;
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

    /// From the factory's activateStakingPool, once the validator's proofs are verified: the proven balance
    /// (the first deposit and whatever else reached the validator) is booked and its shares minted.
    function activate(uint256 initialDepositAmount) external {
        if (msg.sender != factory) revert InvalidSender(msg.sender, factory);
        if (activated) revert StakingPoolAlreadyActivated();
        activated = true;
        paused = false;
        totalDeposits = initialDepositAmount;
        _mint(defaultSharesRecipient, initialDepositAmount);
        emit StakingPoolActivated();
        emit Unpaused(msg.sender);
        _processDeposit();
    }

    /// Shares priced before the rewards are collected (which moves them within total assets), minted after
    /// (May 2026 audit M-2); the rewards join the buffer (Oct 2025 audit M-3's _submit).
    function submit(address receiver) external payable returns (uint256 shares) {
        if (isFullyExited) revert StakingPoolFullExited();
        if (paused) revert EnforcedPause();
        if (msg.value == 0) revert InvalidAmount();
        shares = convertToShares(msg.value);
        uint256 collected = _collectRewards();
        _mint(receiver, shares);
        bufferedAssets += msg.value;
        _processDeposit();
        emit DepositSubmitted(receiver, msg.value, shares, collected, bufferedAssets, totalDeposits);
    }

    /// Permissionless: the rewards vault's and the operator's balances into the buffer, then to the CL as a
    /// deposit would (docs operators.mdx: the same _collectRewards, buffer, _processDeposit sequence).
    function processRewards() external whenNotPaused {
        _collectRewards();
        _processDeposit();
    }

    /// From the rewards vault and the operator only (May 2026 audit I-3, resolved).
    function receiveRewards() external payable {
        if (msg.sender != address(rewardsVault) && msg.sender != address(smartOperator)) {
            revert InvalidSender(msg.sender, address(rewardsVault));
        }
        emit StakingRewardsReceived(msg.value);
    }

    /// The operator's balance first, then the rewards vault's (docs operators.mdx, Automatic WBERA flows).
    function _collectRewards() internal returns (uint256 collected) {
        uint256 operatorBalance = address(smartOperator).balance;
        if (operatorBalance > 0) smartOperator.withdrawRewards(operatorBalance);
        uint256 rewards = address(rewardsVault).balance;
        if (rewards > 0) rewardsVault.withdrawRewards(rewards);
        collected = operatorBalance + rewards;
        bufferedAssets += collected;
    }

    /// Buffered assets go to the CL in whole gwei: all at once when the active threshold is reached, then in
    /// chunks of at least MIN_CL_DEPOSIT_AMOUNT, never past MAX_EFFECTIVE_BALANCE. They are booked in
    /// totalDeposits at once, before the CL credits them (the lag the oracle must respect).
    function _processDeposit() internal {
        uint256 amount = bufferedAssets - (bufferedAssets % 1 gwei);
        if (!activeThresholdReached) {
            if (totalDeposits + amount < minEffectiveBalance) return;
            activeThresholdReached = true;
            activeThresholdBlock = block.number;
            emit ActiveThresholdReached();
            if (amount == 0) return; // the activation itself reached it
        } else if (amount < MIN_CL_DEPOSIT_AMOUNT) {
            return;
        }
        if (totalDeposits + amount > MAX_EFFECTIVE_BALANCE) {
            amount = MAX_EFFECTIVE_BALANCE - totalDeposits;
            amount -= amount % 1 gwei;
            emit MaxCapacityReached(pubkey);
            if (amount == 0) return;
        }
        bufferedAssets -= amount;
        totalDeposits += amount;
        IBeaconDeposit(BEACON_DEPOSIT).deposit{value: amount}(
            pubkey, abi.encodePacked(withdrawalCredentials), new bytes(96), address(0)
        );
    }

    /// The oracle's report, as the May 2026 audit (I-2) quotes it: 0 is the full exit (the CL exited the
    /// validator by itself and swept its stake to the vault), and the vault is told; any other value
    /// overwrites totalDeposits, whatever minEffectiveBalance is.
    function updateTotalDeposits(uint256 newTotalDeposits) external whenNotPaused {
        if (msg.sender != accountingOracle) revert InvalidSender(msg.sender, accountingOracle);
        if (newTotalDeposits == 0) {
            _triggerFullExit();
            IFullExitNotified(withdrawalVault).notifyFullExitFromCL(pubkey);
        } else {
            totalDeposits = newTotalDeposits;
            emit TotalDepositsUpdated(newTotalDeposits);
        }
    }

    /// Called by the WithdrawalVault: burns the user's shares for `assets` and books them out (May 2026 audit
    /// M-1's notifyWithdrawalRequest, the operator covering nothing: the devnet has no WBERA).
    /// Returns (shares, isFullExitWithdraw, isShortCircuit); short-circuit: paid from bufferedAssets (sent
    /// to the vault now), no CL withdrawal.
    function notifyWithdrawalRequest(address user, uint256 assets)
        external
        returns (uint256 shares, bool isFullExit, bool fromBuffer)
    {
        if (msg.sender != withdrawalVault) revert InvalidSender(msg.sender, withdrawalVault);
        if (assets == 0) revert InvalidAmount();
        shares = previewWithdraw(assets);
        if (balanceOf[user] < shares) revert InsufficientShares();
        if (isFullyExited) {
            // After the full exit: at the frozen price, from what the vault holds (no cooldown).
            _burn(user, shares);
            frozenTotalAssets -= assets;
            return (shares, true, false);
        }
        if (!activeThresholdReached) {
            // Short-circuit: the validator is not active, the CL honours no withdrawal request.
            if (assets > bufferedAssets) revert WithdrawalNotAllowed();
            bufferedAssets -= assets;
            _burn(user, shares);
            (bool ok,) = withdrawalVault.call{value: assets}("");
            if (!ok) revert NotEnoughFunds();
            return (shares, false, true);
        }
        if (block.number < activeThresholdBlock + ENABLE_WITHDRAWAL_COOLDOWN_BLOCKS) revert WithdrawalNotAllowed();
        _burn(user, shares);
        uint256 clPortion = assets;
        if (clPortion > totalDeposits || (clPortion > 0 && totalDeposits - clPortion < minEffectiveBalance)) {
            _triggerFullExit();
            frozenTotalAssets -= assets;
            totalDeposits = 0;
            return (shares, true, false);
        }
        totalDeposits -= clPortion;
        return (shares, false, false);
    }

    /// Sept 2025 audit H-1's _triggerFullExit (after its fix the vault is told by the caller): total assets
    /// freeze at their value now, the buffer and the rewards (the operator's, then the rewards vault's) go
    /// to the WithdrawalVault with the pool's whole native balance (May 2026 audit I-3), fully exited, paused.
    function _triggerFullExit() internal {
        frozenTotalAssets = totalAssets();
        _collectRewards();
        bufferedAssets = 0;
        uint256 balance = address(this).balance;
        if (balance > 0) {
            (bool ok,) = withdrawalVault.call{value: balance}("");
            if (!ok) revert NotEnoughFunds();
        }
        isFullyExited = true;
        paused = true;
        emit Paused(msg.sender);
        emit FullExitTriggered();
    }

    function setMinEffectiveBalance(uint256 value) external onlyOwner {
        if (value < MIN_EFFECTIVE_BALANCE || value > MAX_EFFECTIVE_BALANCE) revert InvalidMinEffectiveBalance();
        minEffectiveBalance = value;
        emit MinEffectiveBalanceUpdated(value);
    }

    function pause() external onlyOwner {
        if (paused) revert EnforcedPause();
        paused = true;
        emit Paused(msg.sender);
    }

    function unpause() external onlyOwner {
        if (!paused) revert ExpectedPause();
        if (isFullyExited) revert StakingPoolFullExited();
        if (!activated) revert EnforcedPause();
        paused = false;
        emit Unpaused(msg.sender);
    }

    function _mint(address to, uint256 shares) internal {
        totalSupply += shares;
        balanceOf[to] += shares;
        emit SharesMinted(to, shares);
    }

    function _burn(address from, uint256 shares) internal {
        balanceOf[from] -= shares;
        totalSupply -= shares;
        emit SharesBurned(from, shares);
    }
}

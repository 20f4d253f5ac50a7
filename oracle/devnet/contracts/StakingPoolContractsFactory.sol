// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./Common.sol";
import "./StakingPool.sol";
import "./Vaults.sol";

interface IBeaconDepositOperators {
    function getOperator(bytes calldata pubkey) external view returns (address);
}

/// Deploys each validator's pool contracts with the validator's first deposit, activates a pool once its
/// validator is on the CL (activateStakingPool, with proofs against an EIP-4788 root), and verifies the
/// oracle's proofs; the deployed factory's interface. The generalized indices of validator 0 follow the
/// devnet's state layout.
contract StakingPoolContractsFactory {
    struct CoreContracts {
        address smartOperator;
        address stakingPool;
        address stakingRewardsVault;
        address incentiveCollector;
    }

    struct ValidatorData {
        bytes pubkey;
        bytes withdrawalCredentials;
        uint64 initialDepositAmount;
        uint64 validatorIndex;
    }

    struct ProofData {
        bytes32[] pubkeyProof;
        bytes32[] withdrawalCredentialsProof;
        bytes32[] initialDepositProof;
        bytes32 initialDepositProofLeaf;
    }

    uint64 public constant MAX_TIMESTAMP_AGE = 10 minutes;
    uint256 public immutable FIRST_DEPOSIT_AMOUNT_WEI;
    uint256 public immutable FIRST_DEPOSIT_AMOUNT_GWEI;
    address public constant BEACON_DEPOSIT = 0x4242424242424242424242424242424242424242;
    uint64 internal constant VALIDATOR_REGISTRY_LIMIT = 2 ** 40;

    event StakingPoolContractsDeployed(
        address smartOperator, address stakingPool, address stakingRewardsVault, address incentiveCollector
    );
    event StakingPoolActivated(address stakingPool);
    event ZeroValidatorPubkeyGIndexChanged(uint64 newZeroValidatorPubkeyGIndex);
    event ZeroValidatorWithdrawalCredentialsGIndexChanged(uint64 newZeroValidatorWithdrawalCredentialsGIndex);
    event ZeroValidatorBalanceGIndexChanged(uint64 newZeroValidatorBalanceGIndex);

    address public owner;
    address public accountingOracle;
    address public withdrawalVault;
    uint64 public zeroValidatorPubkeyGIndex;
    uint64 public zeroValidatorWithdrawalCredentialsGIndex;
    uint64 public zeroValidatorBalanceGIndex;
    mapping(bytes32 => CoreContracts) internal coreContracts;
    PoolParameters internal parameters;

    constructor(
        uint64 pubkeyGIndex,
        uint64 credentialsGIndex,
        uint64 balanceGIndex,
        uint256 firstDepositWei,
        PoolParameters memory parameters_
    ) {
        owner = msg.sender;
        FIRST_DEPOSIT_AMOUNT_WEI = firstDepositWei;
        FIRST_DEPOSIT_AMOUNT_GWEI = firstDepositWei / 1 gwei;
        parameters = parameters_;
        zeroValidatorPubkeyGIndex = pubkeyGIndex;
        zeroValidatorWithdrawalCredentialsGIndex = credentialsGIndex;
        zeroValidatorBalanceGIndex = balanceGIndex;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert OwnableUnauthorizedAccount(msg.sender);
        _;
    }

    /// One-time wiring (the deployed factory does this in initialize()).
    function configure(address accountingOracle_, address withdrawalVault_) external onlyOwner {
        if (accountingOracle != address(0)) revert InvalidAddress();
        accountingOracle = accountingOracle_;
        withdrawalVault = withdrawalVault_;
    }

    function setZeroValidatorPubkeyGIndex(uint64 gindex) external onlyOwner {
        zeroValidatorPubkeyGIndex = gindex;
        emit ZeroValidatorPubkeyGIndexChanged(gindex);
    }

    function setZeroValidatorWithdrawalCredentialsGIndex(uint64 gindex) external onlyOwner {
        zeroValidatorWithdrawalCredentialsGIndex = gindex;
        emit ZeroValidatorWithdrawalCredentialsGIndexChanged(gindex);
    }

    function setZeroValidatorBalanceGIndex(uint64 gindex) external onlyOwner {
        zeroValidatorBalanceGIndex = gindex;
        emit ZeroValidatorBalanceGIndexChanged(gindex);
    }

    /// Read by each pool's constructor.
    function poolParameters() external view returns (PoolParameters memory) {
        return parameters;
    }

    /// Registers the validator: deploys its pool contracts and makes its first deposit, naming the pool's
    /// SmartOperator as the validator's operator in the deposit contract. The pool stays inactive until
    /// activateStakingPool.
    function deployStakingPoolContracts(
        bytes calldata pubkey,
        bytes calldata withdrawalCredentials,
        bytes calldata, /* signature */
        address validatorAdmin,
        address defaultSharesRecipient
    )
        external
        payable
        returns (address smartOperator, address stakingPool, address stakingRewardsVault, address incentiveCollector)
    {
        if (msg.value != FIRST_DEPOSIT_AMOUNT_WEI) revert InvalidFirstDepositAmount();
        CoreContracts memory core = _deploy(pubkey, withdrawalCredentials, validatorAdmin, defaultSharesRecipient);
        IBeaconDeposit(BEACON_DEPOSIT).deposit{value: msg.value}(
            pubkey, withdrawalCredentials, new bytes(96), core.smartOperator
        );
        return (core.smartOperator, core.stakingPool, core.stakingRewardsVault, core.incentiveCollector);
    }

    function _deploy(
        bytes calldata pubkey,
        bytes calldata withdrawalCredentials,
        address validatorAdmin,
        address defaultSharesRecipient
    )
        internal
        returns (CoreContracts memory core)
    {
        if (pubkey.length != 48) revert InvalidValidatorPubkeyLength();
        bytes32 expected = bytes32(abi.encodePacked(bytes1(0x01), bytes11(0), withdrawalVault));
        if (withdrawalCredentials.length != 32 || bytes32(withdrawalCredentials) != expected) {
            revert InvalidWithdrawalCredentials();
        }
        bytes32 key = keccak256(pubkey);
        if (coreContracts[key].stakingPool != address(0)) revert InvalidAddress();
        core.smartOperator = address(new SmartOperator());
        core.stakingRewardsVault = address(new StakingRewardsVault());
        core.stakingPool = address(
            new StakingPool(
                pubkey,
                expected,
                accountingOracle,
                withdrawalVault,
                payable(core.stakingRewardsVault),
                payable(core.smartOperator),
                validatorAdmin,
                defaultSharesRecipient
            )
        );
        StakingRewardsVault(payable(core.stakingRewardsVault)).setStakingPool(core.stakingPool);
        SmartOperator(payable(core.smartOperator)).setStakingPool(core.stakingPool);
        coreContracts[key] = core;
        emit StakingPoolContractsDeployed(core.smartOperator, core.stakingPool, core.stakingRewardsVault, address(0));
    }

    /// Permissionless once the validator is on the CL: its pubkey, withdrawal credentials and balance are
    /// proven against the EIP-4788 root of `timestamp`; the deposit contract must name the pool's
    /// SmartOperator as the validator's operator. The proven balance is booked by the pool.
    function activateStakingPool(ValidatorData calldata validator, ProofData calldata proofs, uint64 timestamp)
        external
    {
        CoreContracts memory core = coreContracts[keccak256(validator.pubkey)];
        if (core.stakingPool == address(0)) revert InvalidAddress();
        if (IBeaconDepositOperators(BEACON_DEPOSIT).getOperator(validator.pubkey) != core.smartOperator) {
            revert InvalidOperator();
        }
        if (validator.initialDepositAmount < FIRST_DEPOSIT_AMOUNT_GWEI) revert InvalidInitialDepositAmount();
        bytes32 expected = bytes32(abi.encodePacked(bytes1(0x01), bytes11(0), withdrawalVault));
        if (validator.withdrawalCredentials.length != 32 || bytes32(validator.withdrawalCredentials) != expected) {
            revert InvalidWithdrawalCredentials();
        }
        uint64 index = validator.validatorIndex;
        if (index >= VALIDATOR_REGISTRY_LIMIT) revert IndexOutOfRange();
        bytes32 root = _root(timestamp);
        SSZ.verifyProof(
            proofs.pubkeyProof, root, SSZ.pubkeyLeaf(validator.pubkey), uint256(zeroValidatorPubkeyGIndex) + 8 * uint256(index)
        );
        SSZ.verifyProof(
            proofs.withdrawalCredentialsProof,
            root,
            expected,
            uint256(zeroValidatorWithdrawalCredentialsGIndex) + 8 * uint256(index)
        );
        SSZ.verifyProof(
            proofs.initialDepositProof,
            root,
            proofs.initialDepositProofLeaf,
            uint256(zeroValidatorBalanceGIndex) + index / 4
        );
        if (SSZ.balanceFromLeaf(proofs.initialDepositProofLeaf, index) != validator.initialDepositAmount) {
            revert InvalidBalance();
        }
        StakingPool(payable(core.stakingPool)).activate(uint256(validator.initialDepositAmount) * 1 gwei);
        emit StakingPoolActivated(core.stakingPool);
    }

    function getCoreContracts(bytes calldata pubkey) external view returns (CoreContracts memory) {
        return coreContracts[keccak256(pubkey)];
    }

    function _root(uint64 timestamp) internal view returns (bytes32) {
        if (timestamp > block.timestamp || block.timestamp - timestamp > MAX_TIMESTAMP_AGE) revert InvalidTimestamp();
        return BeaconRoots.parentBlockRoot(timestamp);
    }

    function validatePubkeyProof(
        bytes calldata pubkey,
        bytes32[] calldata pubkeyProof,
        uint64 validatorIndex,
        uint64 timestamp
    ) external view {
        if (validatorIndex >= VALIDATOR_REGISTRY_LIMIT) revert IndexOutOfRange();
        bytes32 leaf = SSZ.pubkeyLeaf(pubkey);
        bytes32 root = _root(timestamp);
        SSZ.verifyProof(pubkeyProof, root, leaf, uint256(zeroValidatorPubkeyGIndex) + 8 * uint256(validatorIndex));
    }

    function validateBalanceProof(
        uint64 balance,
        bytes32 balancesLeaf,
        bytes32[] calldata balanceProof,
        uint64 validatorIndex,
        uint64 timestamp
    ) external view {
        if (validatorIndex >= VALIDATOR_REGISTRY_LIMIT) revert IndexOutOfRange();
        bytes32 root = _root(timestamp);
        SSZ.verifyProof(balanceProof, root, balancesLeaf, uint256(zeroValidatorBalanceGIndex) + validatorIndex / 4);
        if (SSZ.balanceFromLeaf(balancesLeaf, validatorIndex) != balance) revert InvalidBalance();
    }

    /// Not in the deployed interface: lets the devnet check credential proofs the same way.
    function validateWithdrawalCredentialsProof(
        bytes32 withdrawalCredentials,
        bytes32[] calldata proof,
        uint64 validatorIndex,
        uint64 timestamp
    ) external view {
        if (validatorIndex >= VALIDATOR_REGISTRY_LIMIT) revert IndexOutOfRange();
        bytes32 root = _root(timestamp);
        SSZ.verifyProof(
            proof,
            root,
            withdrawalCredentials,
            uint256(zeroValidatorWithdrawalCredentialsGIndex) + 8 * uint256(validatorIndex)
        );
    }
}

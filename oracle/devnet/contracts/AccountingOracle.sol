// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./Common.sol";

interface IProofFactory {
    struct CoreContracts {
        address smartOperator;
        address stakingPool;
        address stakingRewardsVault;
        address incentiveCollector;
    }

    function validatePubkeyProof(bytes calldata, bytes32[] calldata, uint64, uint64) external view;
    function validateBalanceProof(uint64, bytes32, bytes32[] calldata, uint64, uint64) external view;
    function getCoreContracts(bytes calldata pubkey) external view returns (CoreContracts memory);
}

interface IStakingPool {
    function updateTotalDeposits(uint256 newTotalDeposits) external;
}

/// Overwrites a pool's totalDeposits with its validator's proven CL balance. AccessControl with
/// FEEDER_ROLE as deployed; `openReporting` is the devnet's switch for the earlier, open design.
contract AccountingOracle {
    bytes32 public constant DEFAULT_ADMIN_ROLE = 0x00;
    bytes32 public constant FEEDER_ROLE = keccak256("FEEDER_ROLE");

    event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender);
    event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender);
    event OpenReportingSet(bool open);

    error AccessControlBadConfirmation();

    address public immutable factory;
    bool public openReporting;
    mapping(bytes32 => mapping(address => bool)) internal roles;

    constructor(address governance, address factory_) {
        factory = factory_;
        roles[DEFAULT_ADMIN_ROLE][governance] = true;
        emit RoleGranted(DEFAULT_ADMIN_ROLE, governance, msg.sender);
    }

    modifier onlyRole(bytes32 role) {
        if (!roles[role][msg.sender]) revert AccessControlUnauthorizedAccount(msg.sender, role);
        _;
    }

    function hasRole(bytes32 role, address account) public view returns (bool) {
        return roles[role][account];
    }

    function getRoleAdmin(bytes32) external pure returns (bytes32) {
        return DEFAULT_ADMIN_ROLE;
    }

    function grantRole(bytes32 role, address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!roles[role][account]) {
            roles[role][account] = true;
            emit RoleGranted(role, account, msg.sender);
        }
    }

    function revokeRole(bytes32 role, address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (roles[role][account]) {
            roles[role][account] = false;
            emit RoleRevoked(role, account, msg.sender);
        }
    }

    function renounceRole(bytes32 role, address callerConfirmation) external {
        if (callerConfirmation != msg.sender) revert AccessControlBadConfirmation();
        if (roles[role][msg.sender]) {
            roles[role][msg.sender] = false;
            emit RoleRevoked(role, msg.sender, msg.sender);
        }
    }

    function setOpenReporting(bool open) external onlyRole(DEFAULT_ADMIN_ROLE) {
        openReporting = open;
        emit OpenReportingSet(open);
    }

    function updateTotalDeposits(
        bytes calldata pubkey,
        bytes32[] calldata pubkeyProof,
        uint64 balance,
        bytes32 balancesLeaf,
        bytes32[] calldata balanceProof,
        uint64 validatorIndex,
        uint64 timestamp
    ) external {
        if (!openReporting && !roles[FEEDER_ROLE][msg.sender]) {
            revert AccessControlUnauthorizedAccount(msg.sender, FEEDER_ROLE);
        }
        IProofFactory proofs = IProofFactory(factory);
        proofs.validatePubkeyProof(pubkey, pubkeyProof, validatorIndex, timestamp);
        proofs.validateBalanceProof(balance, balancesLeaf, balanceProof, validatorIndex, timestamp);
        address pool = proofs.getCoreContracts(pubkey).stakingPool;
        if (pool == address(0)) revert StakingPoolNotFound();
        IStakingPool(pool).updateTotalDeposits(uint256(balance) * 1 gwei);
    }
}

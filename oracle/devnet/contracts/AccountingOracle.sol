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

/// Overwrites a pool's totalDeposits with its validator's proven CL balance, after the factory verified both
/// proofs against the EIP-4788 root of `timestamp`.
abstract contract ProvenReport {
    function _report(
        address factory,
        bytes calldata pubkey,
        bytes32[] calldata pubkeyProof,
        uint64 balance,
        bytes32 balancesLeaf,
        bytes32[] calldata balanceProof,
        uint64 validatorIndex,
        uint64 timestamp
    ) internal {
        IProofFactory proofs = IProofFactory(factory);
        proofs.validatePubkeyProof(pubkey, pubkeyProof, validatorIndex, timestamp);
        proofs.validateBalanceProof(balance, balancesLeaf, balanceProof, validatorIndex, timestamp);
        // As the Sept 2025 audit (H-2) quotes it: no check of its own that the pool exists.
        IStakingPool(proofs.getCoreContracts(pubkey).stakingPool).updateTotalDeposits(uint256(balance) * 1 gwei);
    }
}

/// AccessControl with FEEDER_ROLE, as the published ABI has it; `openReporting` is the devnet's switch for
/// the earlier, open design.
contract AccountingOracle is ProvenReport {
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
        _report(factory, pubkey, pubkeyProof, balance, balancesLeaf, balanceProof, validatorIndex, timestamp);
    }

    /// ERC-165: IAccessControl (0x7965db0b) and ERC-165 itself, as OpenZeppelin's AccessControl answers.
    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x7965db0b || interfaceId == 0x01ffc9a7;
    }
}

/// The Ownable oracle that Berachain's contract reference page describes: only the owner reports. The
/// devnet deploys it with `--oracle-access ownable`; the daemon tells the two apart at start-up.
contract OwnableAccountingOracle is ProvenReport {
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    address public immutable factory;
    address public owner;

    constructor(address owner_, address factory_) {
        factory = factory_;
        owner = owner_;
        emit OwnershipTransferred(address(0), owner_);
    }

    function transferOwnership(address newOwner) external {
        if (msg.sender != owner) revert OwnableUnauthorizedAccount(msg.sender);
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
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
        if (msg.sender != owner) revert OwnableUnauthorizedAccount(msg.sender);
        _report(factory, pubkey, pubkeyProof, balance, balancesLeaf, balanceProof, validatorIndex, timestamp);
    }
}

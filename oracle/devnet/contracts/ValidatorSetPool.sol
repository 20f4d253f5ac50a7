// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./SSZMultiproof.sol";

error Unauthorized(address account);
error ReportInProgress();
error NoSuchReport(uint256 reportId);
error BatchOutOfOrder(uint256 expected, uint256 got);
error BatchOutOfRange(uint256 firstPosition, uint256 count);
error EmptyBatch();
error LengthMismatch();
error IndicesNotIncreasing();
error IndexOutOfRange(uint64 index);
error AlreadyRegistered(bytes32 pubkeyRoot);
error BeaconRootUnavailable(uint64 timestamp);
error NotEnoughBuffer(uint256 available, uint256 needed);
error ZeroShares();
error TransferFailed();

/// A staking pool of many validators whose consensus balances are proven with one SSZ multiproof per batch.
/// The project's own reference design (not a deployed contract). Registration proves, against an EIP-4788
/// root, each validator's pubkey and that its withdrawal credentials are this contract's. Accounting is
/// checkpoint-style: `startReport` pins the parent beacon block root of the current block and snapshots this
/// contract's balance in the same block, so a withdrawal is counted either in the proven state's balances
/// (not yet swept) or in the snapshot (swept by an earlier EL block), never in both; batches of balances are
/// then proven against that root in registry order by anyone.
contract ValidatorSetPool {
    address internal constant BEACON_ROOTS = 0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02;
    uint256 internal constant VALIDATOR_REGISTRY_DEPTH = 40;
    uint256 internal constant BALANCES_DATA_DEPTH = 38; // 2^40 uint64s, four to a chunk

    uint256 internal immutable VALIDATORS_GINDEX;
    uint256 internal immutable BALANCES_GINDEX;
    bytes32 internal immutable CREDENTIALS;

    address public owner;
    address public reporter;

    uint64[] internal registry;
    mapping(bytes32 => bool) internal registeredPubkey;

    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;

    // Packed: the fields a batch touches share two slots.
    struct Report {
        uint64 id;
        uint64 timestamp;
        uint64 nextPosition;
        bool open;
        bytes32 blockRoot;
        uint128 provenGwei;
        uint128 executionBalance; // wei; the whole ETH supply is far below 2^128
    }

    struct Completed {
        bytes32 blockRoot;
        uint64 id;
        uint64 timestamp;
        uint128 consensusGwei;
        uint128 executionBalance;
    }

    Report internal report;
    Completed internal completed;
    // Net user flows (deposits - redeems) since the start of the last completed report, and since the start of
    // the open one (which become the former when it completes).
    int256 internal flows;
    int256 internal openFlows;

    event ValidatorRegistered(uint256 indexed position, uint64 indexed validatorIndex, bytes pubkey);
    event ReporterSet(address reporter);
    event Deposit(address indexed sender, address indexed owner, uint256 assets, uint256 shares);
    event Withdraw(
        address indexed sender,
        address indexed receiver,
        address indexed owner,
        uint256 assets,
        uint256 shares
    );
    event ReportStarted(uint256 indexed reportId, bytes32 blockRoot, uint64 timestamp, uint256 executionBalance);
    event BatchProven(uint256 indexed reportId, uint256 firstPosition, uint256 count, uint256 batchGwei);
    event BatchSkipped(uint256 indexed reportId, uint256 firstPosition, uint256 count);
    event ReportCompleted(uint256 indexed reportId, uint256 consensusGwei, uint256 executionBalance, uint256 totalAssets);
    event ReportAbandoned(uint256 indexed reportId);

    modifier onlyOwner() {
        if (msg.sender != owner) revert Unauthorized(msg.sender);
        _;
    }

    modifier onlyReporter() {
        if (msg.sender != reporter) revert Unauthorized(msg.sender);
        _;
    }

    constructor(
        address owner_,
        address reporter_,
        uint256 validatorsGindex_,
        uint256 balancesGindex_,
        bytes1 credentialsPrefix_
    ) {
        owner = owner_;
        reporter = reporter_;
        VALIDATORS_GINDEX = validatorsGindex_;
        BALANCES_GINDEX = balancesGindex_;
        CREDENTIALS = bytes32(credentialsPrefix_) | bytes32(uint256(uint160(address(this))));
    }

    // --- registry ---

    function validatorsGindex() external view returns (uint256) {
        return VALIDATORS_GINDEX;
    }

    function balancesGindex() external view returns (uint256) {
        return BALANCES_GINDEX;
    }

    /// credentialsPrefix || 11 zero bytes || address(this).
    function withdrawalCredentials() public view returns (bytes32) {
        return CREDENTIALS;
    }

    function setReporter(address reporter_) external onlyOwner {
        reporter = reporter_;
        emit ReporterSet(reporter_);
    }

    function validatorCount() external view returns (uint256) {
        return registry.length;
    }

    function validatorIndexAt(uint256 position) external view returns (uint64) {
        return registry[position];
    }

    function validatorIndices(uint256 from, uint256 count) external view returns (uint64[] memory out) {
        uint256 length = registry.length;
        if (from > length) from = length;
        if (count > length - from) count = length - from;
        out = new uint64[](count);
        for (uint256 i = 0; i < count; ++i) out[i] = registry[from + i];
    }

    function isRegistered(bytes calldata pubkey) external view returns (bool) {
        if (pubkey.length != 48) return false;
        return registeredPubkey[SSZMultiproof.pubkeyRoot(pubkey)];
    }

    /// Registers validators `indices` (strictly increasing, above every registered one) with one multiproof,
    /// against the EIP-4788 root of `timestamp`, of their pubkeys, their withdrawal credentials (this pool's)
    /// and the validators list length. The leaves are built here, in decreasing gindex order: per validator
    /// from the highest index down its credentials (container * 8 + 1) then its pubkey (container * 8), then
    /// the length mix-in (2 * validatorsGindex + 1).
    function registerValidators(
        uint64 timestamp,
        uint64 validatorsLength,
        uint64[] calldata indices,
        bytes[] calldata pubkeys,
        bytes32[] calldata witnesses
    ) external onlyOwner {
        if (report.open) revert ReportInProgress();
        uint256 n = indices.length;
        if (n == 0) revert EmptyBatch();
        if (pubkeys.length != n) revert LengthMismatch();
        uint256 position = registry.length;
        _checkNewIndices(position, validatorsLength, indices);
        (uint256[] memory gindices, bytes32[] memory leaves) = _registrationLeaves(validatorsLength, indices, pubkeys);
        SSZMultiproof.verify(_beaconRoot(timestamp), gindices, leaves, witnesses);

        for (uint256 i = 0; i < n; ++i) {
            registry.push(indices[i]);
            emit ValidatorRegistered(position + i, indices[i], pubkeys[i]);
        }
    }

    function _checkNewIndices(uint256 position, uint64 validatorsLength, uint64[] calldata indices) internal view {
        uint256 n = indices.length;
        uint256 lowest = position == 0 ? 0 : uint256(registry[position - 1]) + 1;
        for (uint256 i = 0; i < n; ++i) {
            uint64 index = indices[i];
            if (index < lowest) revert IndicesNotIncreasing();
            lowest = uint256(index) + 1;
        }
        // Below the proven length, and within the registry limit (so a gindex never spills out of the subtree).
        uint64 highest = indices[n - 1];
        if (highest >= validatorsLength || highest >= 1 << VALIDATOR_REGISTRY_DEPTH) revert IndexOutOfRange(highest);
    }

    /// Marks the pubkeys registered (the transaction reverts if the proof fails) and builds the leaves.
    function _registrationLeaves(
        uint64 validatorsLength,
        uint64[] calldata indices,
        bytes[] calldata pubkeys
    ) internal returns (uint256[] memory gindices, bytes32[] memory leaves) {
        uint256 n = indices.length;
        gindices = new uint256[](2 * n + 1);
        leaves = new bytes32[](2 * n + 1);
        uint256 base = (2 * VALIDATORS_GINDEX) << VALIDATOR_REGISTRY_DEPTH;
        bytes32 credentials = CREDENTIALS;
        for (uint256 i = 0; i < n; ++i) {
            uint256 k = n - 1 - i;
            uint256 fields = (base + indices[k]) * 8;
            gindices[2 * i] = fields + 1;
            leaves[2 * i] = credentials;
            gindices[2 * i + 1] = fields;
            bytes32 root = SSZMultiproof.pubkeyRoot(pubkeys[k]);
            if (registeredPubkey[root]) revert AlreadyRegistered(root);
            registeredPubkey[root] = true; // also catches a pubkey listed twice in this call
            leaves[2 * i + 1] = root;
        }
        gindices[2 * n] = 2 * VALIDATORS_GINDEX + 1;
        leaves[2 * n] = SSZMultiproof.toLittleEndian64(validatorsLength);
    }

    // --- shares (ERC-4626-like over native ETH) ---

    /// Consensus balances proven by the last completed report, this contract's balance snapshotted at its
    /// start, and the net user flows since then.
    function totalAssets() public view returns (uint256) {
        int256 total = int256(uint256(completed.consensusGwei) * 1 gwei + completed.executionBalance) + flows;
        return total > 0 ? uint256(total) : 0;
    }

    /// OpenZeppelin's virtual offset (one share, one wei) against the inflation attack; rounds down.
    function convertToShares(uint256 assets) public view returns (uint256) {
        return (assets * (totalSupply + 1)) / (totalAssets() + 1);
    }

    function convertToAssets(uint256 shares) public view returns (uint256) {
        return (shares * (totalAssets() + 1)) / (totalSupply + 1);
    }

    function deposit(address receiver) external payable returns (uint256 shares) {
        shares = convertToShares(msg.value);
        if (shares == 0) revert ZeroShares();
        totalSupply += shares;
        balanceOf[receiver] += shares;
        _flow(int256(msg.value));
        emit Deposit(msg.sender, receiver, msg.value, shares);
    }

    /// Pays from this contract's balance (the buffer). No allowances: `owner_` must be the caller (the
    /// ERC-4626 signature is kept for tooling).
    function redeem(uint256 shares, address receiver, address owner_) external returns (uint256 assets) {
        if (owner_ != msg.sender) revert Unauthorized(msg.sender);
        assets = convertToAssets(shares);
        if (assets > address(this).balance) revert NotEnoughBuffer(address(this).balance, assets);
        balanceOf[owner_] -= shares;
        totalSupply -= shares;
        _flow(-int256(assets));
        emit Withdraw(msg.sender, receiver, owner_, assets, shares);
        (bool ok, ) = receiver.call{value: assets}("");
        if (!ok) revert TransferFailed();
    }

    function _flow(int256 amount) internal {
        flows += amount;
        if (report.open) openFlows += amount;
    }

    // --- accounting ---

    /// Pins the parent beacon block root of this block and snapshots this contract's balance in the same
    /// block: the pinned state has every withdrawal up to the previous EL block deducted, and this balance has
    /// them credited.
    function startReport() external onlyReporter returns (uint256 reportId) {
        if (report.open) revert ReportInProgress();
        uint64 timestamp = uint64(block.timestamp);
        bytes32 root = _beaconRoot(timestamp);
        reportId = uint256(report.id) + 1;
        report = Report({
            id: uint64(reportId),
            timestamp: timestamp,
            nextPosition: 0,
            open: true,
            blockRoot: root,
            provenGwei: 0,
            executionBalance: uint128(address(this).balance)
        });
        openFlows = 0;
        emit ReportStarted(reportId, root, timestamp, address(this).balance);
        if (registry.length == 0) _complete();
    }

    /// Proves the balances of registry[firstPosition, firstPosition + count) against the pinned root. The
    /// caller gives the distinct balance chunks of those validators (descending) and the witnesses; the
    /// gindices come from the registry, and the balances length mix-in is appended as the last leaf.
    function proveBalances(
        uint256 reportId,
        uint256 firstPosition,
        uint256 count,
        uint64 balancesLength,
        bytes32[] calldata leaves,
        bytes32[] calldata witnesses
    ) external {
        if (!report.open || reportId != report.id) revert NoSuchReport(reportId);
        uint256 total = registry.length;
        if (count == 0) revert EmptyBatch();
        if (count > total || firstPosition > total - count) revert BatchOutOfRange(firstPosition, count);
        uint256 next = report.nextPosition;
        if (firstPosition + count <= next) {
            emit BatchSkipped(reportId, firstPosition, count);
            return;
        }
        if (firstPosition != next) revert BatchOutOfOrder(next, firstPosition);

        uint64 last = registry[firstPosition + count - 1];
        if (last >= balancesLength) revert IndexOutOfRange(last);
        (uint256[] memory gindices, bytes32[] memory nodes, uint256 batchGwei) = _balanceLeaves(
            firstPosition,
            count,
            leaves
        );
        uint256 m = leaves.length;
        gindices[m] = 2 * BALANCES_GINDEX + 1;
        nodes[m] = SSZMultiproof.toLittleEndian64(balancesLength);
        SSZMultiproof.verify(report.blockRoot, gindices, nodes, witnesses);

        report.provenGwei += uint128(batchGwei); // at most 2^64 * count
        report.nextPosition = uint64(firstPosition + count); // below the registry's length
        emit BatchProven(reportId, firstPosition, count, batchGwei);
        if (firstPosition + count == total) _complete();
    }

    function abandonReport(uint256 reportId) external {
        if (msg.sender != reporter && msg.sender != owner) revert Unauthorized(msg.sender);
        if (!report.open || reportId != report.id) revert NoSuchReport(reportId);
        report.open = false;
        emit ReportAbandoned(reportId);
    }

    function currentReport()
        external
        view
        returns (uint256 id, bytes32 blockRoot, uint64 timestamp, uint256 nextPosition, uint256 provenGwei, bool open)
    {
        Report storage r = report;
        return (r.id, r.blockRoot, r.timestamp, r.nextPosition, r.provenGwei, r.open);
    }

    function lastReport()
        external
        view
        returns (uint256 id, bytes32 blockRoot, uint64 timestamp, uint256 consensusGwei, uint256 executionBalance)
    {
        Completed storage c = completed;
        return (c.id, c.blockRoot, c.timestamp, c.consensusGwei, c.executionBalance);
    }

    /// The balance chunks' gindices and leaves for registry[firstPosition, firstPosition + count), descending,
    /// with one free slot at the end for the length mix-in; and the sum of those validators' balances.
    function _balanceLeaves(
        uint256 firstPosition,
        uint256 count,
        bytes32[] calldata leaves
    ) internal view returns (uint256[] memory gindices, bytes32[] memory nodes, uint256 batchGwei) {
        uint256 m = leaves.length;
        gindices = new uint256[](m + 1);
        nodes = new bytes32[](m + 1);
        uint256 base = (2 * BALANCES_GINDEX) << BALANCES_DATA_DEPTH;
        bool mismatch;
        // One SLOAD per registry slot (four uint64s, position p at bits 64 * (p % 4)), leaves read from calldata.
        assembly ("memory-safe") {
            mstore(0x00, registry.slot)
            let data := keccak256(0x00, 0x20)
            let j := 0 // byte offset of the next chunk in leaves, gindices' data and nodes' data
            let chunk := not(0)
            let leaf := 0
            let p := add(firstPosition, count)
            // The word of position p - 1, unless the loop loads it (p a multiple of 4).
            let word := 0
            if and(p, 3) { word := sload(add(data, shr(2, p))) }
            for {} gt(p, firstPosition) {} {
                p := sub(p, 1)
                if eq(and(p, 3), 3) { word := sload(add(data, shr(2, p))) }
                let index := and(shr(shl(6, and(p, 3)), word), 0xffffffffffffffff)
                if iszero(eq(shr(2, index), chunk)) {
                    if eq(j, shl(5, m)) {
                        mismatch := 1
                        break
                    }
                    chunk := shr(2, index)
                    leaf := calldataload(add(leaves.offset, j))
                    j := add(j, 0x20)
                    mstore(add(gindices, j), add(base, chunk))
                    mstore(add(nodes, j), leaf)
                }
                // The uint64 at bytes [8k, 8k + 8) of the leaf (k = index % 4), little-endian.
                index := and(shr(sub(192, shl(6, and(index, 3))), leaf), 0xffffffffffffffff)
                index := or(shr(8, and(index, 0xFF00FF00FF00FF00)), shl(8, and(index, 0x00FF00FF00FF00FF)))
                index := or(shr(16, and(index, 0xFFFF0000FFFF0000)), shl(16, and(index, 0x0000FFFF0000FFFF)))
                batchGwei := add(batchGwei, or(shr(32, index), and(shl(32, index), 0xFFFFFFFF00000000)))
            }
            if iszero(eq(j, shl(5, m))) { mismatch := 1 }
        }
        if (mismatch) revert MultiproofLengthMismatch();
    }

    function _complete() internal {
        Report storage r = report;
        r.open = false;
        completed = Completed({
            blockRoot: r.blockRoot,
            id: r.id,
            timestamp: r.timestamp,
            consensusGwei: r.provenGwei,
            executionBalance: r.executionBalance
        });
        flows = openFlows;
        emit ReportCompleted(r.id, r.provenGwei, r.executionBalance, totalAssets());
    }

    function _beaconRoot(uint64 timestamp) internal view returns (bytes32 root) {
        (bool ok, bytes memory data) = BEACON_ROOTS.staticcall(abi.encode(uint256(timestamp)));
        if (!ok || data.length != 32) revert BeaconRootUnavailable(timestamp);
        root = abi.decode(data, (bytes32));
        if (root == bytes32(0)) revert BeaconRootUnavailable(timestamp);
    }
}

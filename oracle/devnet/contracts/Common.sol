// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

// Errors with the deployed contracts' selectors (tests/test_abi_conformance.py checks them against the
// published ABIs).
error InvalidTimestamp();
error InvalidBeaconBlockRoot();
error InvalidProof();
error InvalidBalance();
error IndexOutOfRange();
error InvalidValidatorPubkeyLength();
error BranchHasExtraItem();
error BranchHasMissingItem();
error AccessControlUnauthorizedAccount(address account, bytes32 neededRole);
error EnforcedPause();
error InvalidAmount();
error StakingPoolFullExited();
error InvalidSender(address sender, address expected);
error InvalidWithdrawalCredentials();
error InvalidAddress();
error OwnableUnauthorizedAccount(address account);
error InsufficientShares();
error StakingPoolNotFound();
error RequestNotReady();
error NotEnoughFunds();
error InsufficientFee();
error OverpaidFee();
error WithdrawalNotAllowed();
error StakingPoolAlreadyActivated();
error InvalidMinEffectiveBalance();
error InvalidOperator();
error InvalidInitialDepositAmount();
error InvalidFirstDepositAmount();
error NonTransferable();
error ERC721NonexistentToken(uint256 tokenId);
error ExpectedPause();
error RefundFailed();

/// EIP-4788 beacon roots, keyed by the timestamp of the EL block that carried them.
library BeaconRoots {
    address internal constant BEACON_ROOTS = 0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02;

    function parentBlockRoot(uint64 timestamp) internal view returns (bytes32 root) {
        (bool ok, bytes memory data) = BEACON_ROOTS.staticcall(abi.encode(uint256(timestamp)));
        if (!ok || data.length != 32) revert InvalidBeaconBlockRoot();
        root = abi.decode(data, (bytes32));
        if (root == bytes32(0)) revert InvalidBeaconBlockRoot();
    }
}

/// SSZ Merkle branch verification: siblings from the leaf upward, generalized index from the root.
library SSZ {
    function log2(uint256 x) internal pure returns (uint256 n) {
        while (x > 1) {
            x >>= 1;
            n++;
        }
    }

    function verifyProof(bytes32[] calldata proof, bytes32 root, bytes32 leaf, uint256 gindex) internal view {
        if (gindex == 0) revert IndexOutOfRange();
        uint256 depth = log2(gindex);
        if (proof.length < depth) revert BranchHasMissingItem();
        if (proof.length > depth) revert BranchHasExtraItem();
        bytes32 node = leaf;
        for (uint256 i = 0; i < depth; i++) {
            if ((gindex >> i) & 1 == 1) {
                node = sha256(abi.encodePacked(proof[i], node));
            } else {
                node = sha256(abi.encodePacked(node, proof[i]));
            }
        }
        if (node != root) revert InvalidProof();
    }

    /// hash_tree_root of a 48-byte BLS pubkey.
    function pubkeyLeaf(bytes calldata pubkey) internal view returns (bytes32) {
        if (pubkey.length != 48) revert InvalidValidatorPubkeyLength();
        return sha256(abi.encodePacked(pubkey, bytes16(0)));
    }

    /// Balance of validator `index` from its packed leaf: little-endian uint64 at byte (index % 4) * 8.
    function balanceFromLeaf(bytes32 leaf, uint64 index) internal pure returns (uint64 balance) {
        uint256 offset = (index % 4) * 8;
        for (uint256 i = 0; i < 8; i++) {
            balance |= uint64(uint8(leaf[offset + i])) << uint64(8 * i);
        }
    }
}

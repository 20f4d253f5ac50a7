// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./SSZMultiproof.sol";

/// SSZMultiproof exposed for tests.
contract SSZMultiproofHarness {
    function calculateRoot(
        uint256[] memory gindices,
        bytes32[] memory leaves,
        bytes32[] calldata witnesses
    ) external view returns (bytes32) {
        return SSZMultiproof.calculateRoot(gindices, leaves, witnesses);
    }

    function verify(
        bytes32 root,
        uint256[] memory gindices,
        bytes32[] memory leaves,
        bytes32[] calldata witnesses
    ) external view {
        SSZMultiproof.verify(root, gindices, leaves, witnesses);
    }

    function pubkeyRoot(bytes calldata pubkey) external view returns (bytes32) {
        return SSZMultiproof.pubkeyRoot(pubkey);
    }

    function toLittleEndian64(uint64 value) external pure returns (bytes32) {
        return SSZMultiproof.toLittleEndian64(value);
    }
}

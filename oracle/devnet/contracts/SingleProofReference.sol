// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./SSZMultiproof.sol";

error SingleProofInvalid(uint256 position);
error SingleProofLength();

/// EigenLayer's checkpoint shape, for gas comparison with ValidatorSetPool's multiproof only: the balances
/// list root is proven against the block root once, then every validator carries its own 39-word branch (38
/// data-tree siblings and the length mix-in) from its balance chunk to that list root.
contract SingleProofReference {
    uint256 internal constant BRANCH = 39;
    uint256 internal immutable BALANCES_GINDEX;

    constructor(uint256 balancesGindex_) {
        BALANCES_GINDEX = balancesGindex_;
    }

    function verifyBalancesListRoot(bytes32 blockRoot, bytes32 listRoot, bytes32[] calldata proof) external view {
        if (_root(listRoot, proof, 0, BALANCES_GINDEX) != blockRoot) revert SingleProofInvalid(0);
    }

    function verifyBalances(
        bytes32 balancesListRoot,
        uint64[] calldata indices,
        bytes32[] calldata chunks,
        bytes32[] calldata proofs
    ) external view returns (uint256 totalGwei) {
        uint256 n = indices.length;
        if (chunks.length != n || proofs.length != n * BRANCH) revert SingleProofLength();
        for (uint256 i = 0; i < n; ++i) {
            uint64 index = indices[i];
            // Relative to the list root: data root 2, chunk c at 2^39 + c.
            uint256 gindex = (uint256(1) << BRANCH) + (index >> 2);
            if (_root(chunks[i], proofs, i * BRANCH, gindex) != balancesListRoot) revert SingleProofInvalid(i);
            totalGwei += SSZMultiproof.uint64At(chunks[i], index & 3);
        }
    }

    /// The root a branch (siblings leaf first, from proof[offset]) reaches from `leaf` at `gindex`.
    function _root(
        bytes32 leaf,
        bytes32[] calldata proof,
        uint256 offset,
        uint256 gindex
    ) internal view returns (bytes32 node) {
        node = leaf;
        assembly ("memory-safe") {
            let p := add(proof.offset, shl(5, offset))
            let end := add(proof.offset, shl(5, proof.length))
            for {} gt(gindex, 1) { gindex := shr(1, gindex) } {
                if iszero(lt(p, end)) { revert(0, 0) }
                switch and(gindex, 1)
                case 1 {
                    mstore(0x00, calldataload(p))
                    mstore(0x20, node)
                }
                default {
                    mstore(0x00, node)
                    mstore(0x20, calldataload(p))
                }
                if iszero(staticcall(gas(), 0x02, 0x00, 0x40, 0x00, 0x20)) { revert(0, 0) }
                node := mload(0x00)
                p := add(p, 0x20)
            }
        }
    }
}

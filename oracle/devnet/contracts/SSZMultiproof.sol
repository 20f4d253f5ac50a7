// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

error MultiproofEmpty();
error MultiproofLengthMismatch();
error MultiproofIndicesNotDecreasing(uint256 position);
error MultiproofZeroIndex();
error MultiproofNestedIndex(uint256 gindex);
error MultiproofWitnessesShort();
error MultiproofWitnessesLeft(uint256 count);
error MultiproofRootMismatch(bytes32 computed, bytes32 expected);
error MultiproofPubkeyLength(uint256 length);

/// SSZ Merkle multiproofs (consensus-specs ssz/merkle-proofs.md, calculate_multi_merkle_root), as strict as
/// oracle/ssz/multiproof.py: a generalized index listed twice, or lying below another listed index, is refused
/// (the spec's algorithm would leave such a leaf unchecked).
///
/// O(n) without sorting or maps. Nodes are processed in strictly decreasing generalized index order (deepest
/// first, right before left within a level) from two queues whose heads are compared: the leaves (given in
/// decreasing order) and a FIFO of computed parents. The FIFO is itself produced in decreasing order: parents
/// are pushed in the order their children are popped, the popped sequence is decreasing, and g > h implies
/// g >> 1 >= h >> 1 (equality only for siblings, which are popped together), so pushed parents decrease. A
/// popped node g needs its sibling g ^ 1: if g is odd, g - 1 is the largest index below g, so it is present iff
/// it is one of the two heads; if g is even, g + 1 > g would already have been popped (taking g with it), so
/// it is absent. An absent sibling is the next witness. Witnesses are consumed in decreasing order: the popped
/// nodes that take a witness decrease strictly and no two of them are siblings, so their siblings decrease too;
/// this is exactly get_helper_indices's order (siblings of path nodes that are not path nodes, decreasing).
/// A listed index A above another listed index D is caught: D's path reaches A, and every node on it below A
/// is deeper, hence larger, so the computed A is queued before leaf A is popped (alone or as a sibling), and the
/// two heads are then equal. The FIFO never holds more entries than leaves consumed (each step pops at least
/// one node and pushes one), so a ring of n + 1 entries (one kept as the empty mark) suffices.
library SSZMultiproof {
    uint256 private constant ERR_NONE = 0;
    uint256 private constant ERR_NESTED = 1;
    uint256 private constant ERR_SHORT = 2;
    uint256 private constant ERR_LEFT = 3;

    /// The root of a multiproof. `gindices` strictly decreasing, `leaves[i]` the node at `gindices[i]`,
    /// `witnesses` the nodes at get_helper_indices(gindices), decreasing.
    function calculateRoot(
        uint256[] memory gindices,
        bytes32[] memory leaves,
        bytes32[] calldata witnesses
    ) internal view returns (bytes32 root) {
        uint256 n = gindices.length;
        if (n == 0) revert MultiproofEmpty();
        if (leaves.length != n) revert MultiproofLengthMismatch();
        uint256 bad;
        assembly ("memory-safe") {
            let p := add(gindices, 0x20)
            let end := add(p, shl(5, n))
            let prev := mload(p)
            for { p := add(p, 0x20) } lt(p, end) { p := add(p, 0x20) } {
                let g := mload(p)
                if iszero(lt(g, prev)) {
                    bad := shr(5, sub(p, gindices)) // position + 1
                    break
                }
                prev := g
            }
            if iszero(bad) { if iszero(prev) { bad := not(0) } }
        }
        if (bad == type(uint256).max) revert MultiproofZeroIndex();
        if (bad != 0) revert MultiproofIndicesNotDecreasing(bad - 1);

        uint256 err;
        (root, err) = _walk(gindices, leaves, witnesses);
        if (err == ERR_NESTED) revert MultiproofNestedIndex(uint256(root));
        if (err == ERR_SHORT) revert MultiproofWitnessesShort();
        if (err != ERR_NONE) revert MultiproofWitnessesLeft(err - ERR_LEFT);
    }

    /// The walk itself, on checked indices. Returns (root, ERR_NONE), (the index, ERR_NESTED), (0, ERR_SHORT)
    /// or (root, ERR_LEFT + unused witnesses).
    function _walk(
        uint256[] memory gindices,
        bytes32[] memory leaves,
        bytes32[] calldata witnesses
    ) private view returns (bytes32 root, uint256 err) {
        // The ring lives past the free memory pointer (temporary memory: nothing is allocated meanwhile) and
        // holds n + 1 entries of (gindex, node), addressed by absolute pointers: the entry at the tail always
        // has gindex 0, so the FIFO's head gindex is read without a length check (0 when empty). The next
        // leaf's gindex is cached (0 once the leaves are exhausted). The node popped is written at once to its
        // half of the scratch space (right half if odd), its sibling to the other, and the parent's hash
        // straight into the tail entry.
        assembly ("memory-safe") {
            // The parameters' stack slots are reused: `leaves` becomes the offset from a gindex to its leaf,
            // `gindices` the end of the gindices' data.
            let gp := add(gindices, 0x20) // next leaf's gindex
            leaves := sub(leaves, gindices)
            let lg := mload(gp) // next leaf's gindex, 0 once exhausted (n > 0)
            let head := mload(0x40)
            let ringEnd := add(head, shl(6, add(mload(gindices), 1)))
            gindices := add(gp, shl(5, mload(gindices)))
            let tail := head
            mstore(head, 0)
            let wPtr := witnesses.offset
            for {} 1 {} {
                // Pop the larger head.
                let qg := mload(head)
                let g := lg
                let v := 0
                switch gt(lg, qg)
                case 1 {
                    v := mload(add(gp, leaves))
                    gp := add(gp, 0x20)
                    lg := mul(mload(gp), lt(gp, gindices))
                }
                default {
                    if eq(lg, qg) {
                        err := ERR_NESTED
                        root := lg
                        break
                    }
                    g := qg
                    v := mload(add(head, 0x20))
                    head := add(head, 0x40)
                    if eq(head, ringEnd) { head := mload(0x40) }
                }
                if eq(g, 1) {
                    root := v
                    break
                }
                mstore(shl(5, and(g, 1)), v)
                // Its sibling g ^ 1: a head, else the next witness.
                g := xor(g, 1)
                qg := mload(head)
                switch eq(lg, g)
                case 1 {
                    if eq(qg, g) {
                        err := ERR_NESTED
                        root := g
                        break
                    }
                    v := mload(add(gp, leaves))
                    gp := add(gp, 0x20)
                    lg := mul(mload(gp), lt(gp, gindices))
                }
                default {
                    switch eq(qg, g)
                    case 1 {
                        v := mload(add(head, 0x20))
                        head := add(head, 0x40)
                        if eq(head, ringEnd) { head := mload(0x40) }
                    }
                    default {
                        if iszero(lt(wPtr, add(witnesses.offset, shl(5, witnesses.length)))) {
                            err := ERR_SHORT
                            root := 0
                            break
                        }
                        v := calldataload(wPtr)
                        wPtr := add(wPtr, 0x20)
                    }
                }
                mstore(shl(5, and(g, 1)), v)
                // Push the parent, sha256(left || right), at the tail; the next entry becomes the empty mark.
                mstore(tail, shr(1, g))
                if iszero(staticcall(gas(), 0x02, 0x00, 0x40, add(tail, 0x20), 0x20)) { revert(0, 0) }
                tail := add(tail, 0x40)
                if eq(tail, ringEnd) { tail := mload(0x40) }
                mstore(tail, 0)
            }
            if iszero(err) {
                let left := shr(5, sub(add(witnesses.offset, shl(5, witnesses.length)), wPtr))
                if left { err := add(ERR_LEFT, left) }
            }
        }
    }

    /// Reverts MultiproofRootMismatch unless the multiproof reaches `root`.
    function verify(
        bytes32 root,
        uint256[] memory gindices,
        bytes32[] memory leaves,
        bytes32[] calldata witnesses
    ) internal view {
        bytes32 computed = calculateRoot(gindices, leaves, witnesses);
        if (computed != root) revert MultiproofRootMismatch(computed, root);
    }

    /// hash_tree_root of a Bytes48 (a BLS pubkey): sha256(pubkey[0:32] || pubkey[32:48] || 16 zero bytes).
    function pubkeyRoot(bytes calldata pubkey) internal view returns (bytes32 root) {
        if (pubkey.length != 48) revert MultiproofPubkeyLength(pubkey.length);
        assembly ("memory-safe") {
            mstore(0x20, 0)
            calldatacopy(0x00, pubkey.offset, 48)
            if iszero(staticcall(gas(), 0x02, 0x00, 0x40, 0x00, 0x20)) { revert(0, 0) }
            root := mload(0x00)
        }
    }

    /// An SSZ uint64 leaf: the number little-endian in the first 8 bytes, zero-padded to 32.
    function toLittleEndian64(uint64 value) internal pure returns (bytes32) {
        return bytes32(uint256(swap64(value)) << 192);
    }

    /// The uint64 at bytes [8k, 8k + 8) of a packed leaf (k < 4), little-endian.
    function uint64At(bytes32 leaf, uint256 k) internal pure returns (uint64) {
        return swap64(uint64(uint256(leaf) >> (192 - 64 * k)));
    }

    function swap64(uint64 v) internal pure returns (uint64) {
        v = ((v & 0xFF00FF00FF00FF00) >> 8) | ((v & 0x00FF00FF00FF00FF) << 8);
        v = ((v & 0xFFFF0000FFFF0000) >> 16) | ((v & 0x0000FFFF0000FFFF) << 16);
        return (v >> 32) | (v << 32);
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IssuerGate} from "./IssuerGate.sol";
import {TrustRegistry} from "./TrustRegistry.sol";

/// @title Anchor registry for Merkle roots of credential issuance batches
/// @notice An accredited issuer anchors one root per batch, whatever the batch size. Roots are immutable.
/// @dev Trees are OpenZeppelin `StandardMerkleTree`s with leaf encoding `["bytes32"]`: a leaf is
/// keccak256(keccak256(abi.encode(value))) and inner nodes hash the sorted pair, as OZ `MerkleProof` does.
/// See credcore/merkle.py. Each anchor fits one storage slot (issuer index instead of address) and issuer standing
/// is read from the local {IssuerGate} copy, which keeps `anchor` under 50,000 gas.
contract AnchorRegistry is IssuerGate {
    struct Anchor {
        uint32 issuerIndex; // TrustRegistry issuer index (1-based); 0 = not anchored
        uint64 count;
        uint64 timestamp;
        uint64 blockNumber;
    }

    /// @dev A zero root is never valid.
    error AnchorRegistryZeroRoot();
    /// @dev A batch has at least one credential.
    error AnchorRegistryEmptyBatch();
    /// @dev `root` is already anchored; roots are immutable.
    error AnchorRegistryRootExists(bytes32 root);

    /// @notice Emitted after `issuer` anchored `root` of a batch of `count` credentials.
    event RootAnchored(address indexed issuer, bytes32 indexed root, uint64 count);

    mapping(bytes32 root => Anchor) private _anchors;

    /// @param trust The TrustRegistry that says who is an accredited issuer (attach this registry to it).
    constructor(address trust) IssuerGate(trust) {}

    /// @notice Anchor the Merkle `root` of a batch of `count` issued credentials.
    /// @param root The StandardMerkleTree root; not zero, not anchored before.
    /// @param count Number of leaves in the batch (at least 1).
    function anchor(bytes32 root, uint64 count) external {
        uint32 index = _activeIssuerIndex();
        if (root == bytes32(0)) revert AnchorRegistryZeroRoot();
        if (count == 0) revert AnchorRegistryEmptyBatch();
        Anchor storage a = _anchors[root];
        if (a.issuerIndex != 0) revert AnchorRegistryRootExists(root);
        _anchors[root] = Anchor(index, count, uint64(block.timestamp), uint64(block.number));
        emit RootAnchored(msg.sender, root, count);
    }

    /// @notice The anchor of `root`; `issuer` is the zero address if `root` was never anchored.
    /// @param root A Merkle root.
    function anchorOf(bytes32 root)
        external
        view
        returns (address issuer, uint64 count, uint64 timestamp, uint64 blockNumber)
    {
        Anchor memory a = _anchors[root];
        if (a.issuerIndex == 0) return (address(0), 0, 0, 0);
        return (TrustRegistry(_trustAddress()).issuerAt(a.issuerIndex), a.count, a.timestamp, a.blockNumber);
    }

    /// @notice Whether `value` is a leaf of the anchored tree `root`, by an OpenZeppelin inclusion proof.
    /// @param root An anchored root (false if not anchored).
    /// @param value The leaf value (a credential digest).
    /// @param proof Sibling hashes from the leaf up, as `StandardMerkleTree.getProof` returns them.
    function verifyInclusion(bytes32 root, bytes32 value, bytes32[] calldata proof) external view returns (bool) {
        if (root == bytes32(0) || _anchors[root].issuerIndex == 0) return false;
        bytes32 node = keccak256(bytes.concat(keccak256(abi.encode(value))));
        for (uint256 i = 0; i < proof.length; ++i) {
            bytes32 sibling = proof[i];
            node = node < sibling
                ? keccak256(abi.encodePacked(node, sibling))
                : keccak256(abi.encodePacked(sibling, node));
        }
        return node == root;
    }
}

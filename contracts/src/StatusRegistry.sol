// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IssuerGate} from "./IssuerGate.sol";

/// @title Status registry: digests of issuers' published Token Status Lists
/// @notice Per (issuer, list id) the digest and version of the latest published list. Versions only go up,
/// so a stale or compromised HTTP server cannot roll revocations back: verifiers accept a fetched list only
/// if its SHA-256 equals the digest here.
/// @dev The digest is sha256 of the status list JWT text (ASCII). The URI travels in the event only. Issuer
/// standing is read from the local {IssuerGate} copy, which keeps an update under 40,000 gas.
contract StatusRegistry is IssuerGate {
    struct Entry {
        bytes32 digest;
        uint64 version;
        uint64 updatedAt;
    }

    /// @dev A zero digest is never valid.
    error StatusRegistryZeroDigest();
    /// @dev `version` is not greater than the list's current version `current`.
    error StatusRegistryStaleVersion(uint64 listId, uint64 current, uint64 version);
    /// @dev The URI is empty or longer than 512 bytes.
    error StatusRegistryInvalidUri();

    /// @notice Emitted after `issuer` published `version` of status list `listId`, fetchable at `uri`.
    event StatusListPublished(
        address indexed issuer, uint64 indexed listId, uint64 version, bytes32 digest, string uri
    );

    uint256 private constant _MAX_URI = 512;

    mapping(address issuer => mapping(uint64 listId => Entry)) private _lists;

    /// @param trust The TrustRegistry that says who is an accredited issuer (attach this registry to it).
    constructor(address trust) IssuerGate(trust) {}

    /// @notice Publish the digest of version `version` of the caller's status list `listId`.
    /// @param listId The issuer's list number (as in the list's URI).
    /// @param version Greater than the list's current version (the first is at least 1).
    /// @param digest sha256 of the status list JWT; not zero.
    /// @param uri Where the list is served (`<issuer base URL>/status-lists/<listId>`).
    function publish(uint64 listId, uint64 version, bytes32 digest, string calldata uri) external {
        _activeIssuerIndex();
        if (digest == bytes32(0)) revert StatusRegistryZeroDigest();
        uint256 n = bytes(uri).length;
        if (n == 0 || n > _MAX_URI) revert StatusRegistryInvalidUri();
        Entry storage e = _lists[msg.sender][listId];
        if (version <= e.version) revert StatusRegistryStaleVersion(listId, e.version, version);
        e.digest = digest;
        e.version = version;
        e.updatedAt = uint64(block.timestamp);
        emit StatusListPublished(msg.sender, listId, version, digest, uri);
    }

    /// @notice The latest published digest of `issuer`'s list `listId`; version 0 if never published.
    /// @param issuer The issuer's account.
    /// @param listId The list number.
    function latest(address issuer, uint64 listId)
        external
        view
        returns (bytes32 digest, uint64 version, uint64 updatedAt)
    {
        Entry memory e = _lists[issuer][listId];
        return (e.digest, e.version, e.updatedAt);
    }
}

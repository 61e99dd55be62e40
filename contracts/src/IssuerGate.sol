// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Issuer gate: a registry's local copy of issuer standing, written only by the TrustRegistry
/// @notice The TrustRegistry is the only authority on who is an accredited, unsuspended issuer. It pushes every
/// change (accreditation, suspension) to the registries attached to it, which keep a one-slot copy per account.
/// @dev Why a pushed copy instead of a call per transaction: asking the TrustRegistry costs a cold account access,
/// a cold SLOAD and call overhead (~5,200 gas), which put `anchor` over its 50,000 gas budget and a status update
/// over 40,000. Reading the local copy costs one cold SLOAD (2,100). Accreditation and suspension are rare.
abstract contract IssuerGate {
    struct Standing {
        uint32 index; // TrustRegistry issuer index (1-based); 0 = never accredited
        bool active; // accredited and not suspended
    }

    /// @dev Only the TrustRegistry this registry was built with may update standing.
    error IssuerGateNotTrustRegistry(address caller);
    /// @dev The caller is not an accredited, unsuspended issuer.
    error IssuerGateNotActiveIssuer(address caller);

    address private immutable _trust;
    mapping(address account => Standing) private _standing;

    /// @param trust The TrustRegistry that owns issuer standing.
    constructor(address trust) {
        _trust = trust;
    }

    /// @notice Record `account`'s standing; called by the TrustRegistry on accreditation and suspension.
    /// @param account The issuer account.
    /// @param index Its TrustRegistry index (1-based).
    /// @param active Whether it may act now.
    function updateStanding(address account, uint32 index, bool active) external {
        if (msg.sender != _trust) revert IssuerGateNotTrustRegistry(msg.sender);
        _standing[account] = Standing(index, active);
    }

    /// @notice The TrustRegistry this registry follows.
    function trustRegistry() external view returns (address) {
        return _trust;
    }

    /// @notice Whether `account` is an accredited, unsuspended issuer (as last pushed by the TrustRegistry).
    /// @param account Any account.
    function isActiveIssuer(address account) external view returns (bool) {
        return _standing[account].active;
    }

    /// @dev The caller's issuer index; reverts unless it is active.
    function _activeIssuerIndex() internal view returns (uint32) {
        Standing memory s = _standing[msg.sender];
        if (!s.active) revert IssuerGateNotActiveIssuer(msg.sender);
        return s.index;
    }

    /// @dev The TrustRegistry's address, for views that resolve issuer indexes.
    function _trustAddress() internal view returns (address) {
        return _trust;
    }
}

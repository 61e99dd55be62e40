// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IssuerGate} from "./IssuerGate.sol";

/// @title Trust registry: accredited credential issuers and their signing keys
/// @notice The registry admin accredits and suspends issuers; each issuer account manages its own signing keys.
/// Nothing is ever deleted, so a verifier can always ask whether key K of issuer I was in force at time T.
/// @dev Keys are identified by their RFC 7638 JWK thumbprint (SHA-256, 32 bytes). The P-256 public key itself is
/// stored (SEC1 compressed) and emitted; verifiers recompute the thumbprint off chain. Credential types are SD-JWT VC
/// `vct` strings: storage keeps their keccak256 hashes, events carry the strings. Times are unix seconds.
/// Registries that act for issuers (anchors, status lists) are attached with {attachRegistry}; every change of an
/// issuer's standing is pushed to them (see IssuerGate for why).
contract TrustRegistry {
    /// @dev Hot per-issuer state, packed in one slot so other registries check standing with one SLOAD.
    struct Standing {
        uint32 index; // 1-based position in `_accounts`; 0 = never accredited
        uint64 accreditedAt;
        uint64 suspendedAt; // 0 = not suspended
    }

    /// @dev One slot: the window, the revocation time and the SEC1 prefix (0x02/0x03; 0 = no such key).
    struct Key {
        uint64 validFrom;
        uint64 validUntil; // 0 = open-ended
        uint64 revokedAt; // 0 = not revoked
        uint8 prefix;
    }

    /// @notice A key as returned by {keyOf}.
    struct KeyView {
        bytes publicKey;
        uint64 validFrom;
        uint64 validUntil;
        uint64 revokedAt;
    }

    /// @dev The caller is not the registry admin.
    error TrustRegistryNotAdmin(address caller);
    /// @dev The caller may not manage keys of `issuer` (it is neither that issuer nor the admin).
    error TrustRegistryNotIssuerOperator(address caller, address issuer);
    /// @dev The zero address cannot be admin or issuer.
    error TrustRegistryZeroAddress();
    /// @dev `account` is already accredited (accreditation is permanent; suspension is final).
    error TrustRegistryIssuerExists(address account);
    /// @dev `identifier` already names another issuer.
    error TrustRegistryIdentifierTaken(string identifier);
    /// @dev Identifier or name is empty, or longer than 256 bytes.
    error TrustRegistryInvalidText();
    /// @dev `account` was never accredited.
    error TrustRegistryUnknownIssuer(address account);
    /// @dev `account` is suspended and may not perform this action.
    error TrustRegistryIssuerSuspended(address account);
    /// @dev The issuer already has (or never had) the credential type.
    error TrustRegistryCredentialTypeUnchanged(address account, string credentialType);
    /// @dev A credential type string is empty or longer than 256 bytes.
    error TrustRegistryInvalidCredentialType();
    /// @dev The public key is not a 33-byte SEC1 compressed point, or the thumbprint is zero.
    error TrustRegistryInvalidKey();
    /// @dev `thumbprint` is already registered for the issuer (thumbprints are never reused).
    error TrustRegistryKeyExists(address issuer, bytes32 thumbprint);
    /// @dev The issuer has no key with `thumbprint`.
    error TrustRegistryUnknownKey(address issuer, bytes32 thumbprint);
    /// @dev The key was already revoked.
    error TrustRegistryKeyAlreadyRevoked(address issuer, bytes32 thumbprint);
    /// @dev The requested window is empty, starts in the past, or would lengthen or back-date a key's validity.
    error TrustRegistryInvalidWindow(uint64 validFrom, uint64 validUntil);
    /// @dev A revocation time lies in the future (use an expiry for that).
    error TrustRegistryRevocationInFuture(uint64 revokedAt);
    /// @dev `registry` is already attached, or does not follow this TrustRegistry.
    error TrustRegistryInvalidRegistry(address registry);

    /// @notice Emitted after the admin role moved from `previousAdmin` to `newAdmin`.
    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);
    /// @notice Emitted after `registry` was attached and told every issuer's standing.
    event RegistryAttached(address indexed registry);
    /// @notice Emitted after `account` was accredited under `identifier` for `credentialTypes`.
    event IssuerAccredited(address indexed account, string identifier, string name, string[] credentialTypes);
    /// @notice Emitted after `account` was suspended from time `suspendedAt`.
    event IssuerSuspended(address indexed account, uint64 suspendedAt);
    /// @notice Emitted after `account` may issue `credentialType` too.
    event CredentialTypeGranted(address indexed account, string credentialType);
    /// @notice Emitted after `account` may no longer issue `credentialType`.
    event CredentialTypeWithdrawn(address indexed account, string credentialType);
    /// @notice Emitted after `issuer` registered the key `thumbprint` (P-256 SEC1 compressed `publicKey`).
    event KeyAdded(
        address indexed issuer, bytes32 indexed thumbprint, bytes publicKey, uint64 validFrom, uint64 validUntil
    );
    /// @notice Emitted after the key's validity was cut short to end at `validUntil` (a rotation).
    event KeyExpirySet(address indexed issuer, bytes32 indexed thumbprint, uint64 validUntil);
    /// @notice Emitted after the key was revoked from `revokedAt` on, by `by` (the issuer or the admin).
    event KeyRevoked(address indexed issuer, bytes32 indexed thumbprint, uint64 revokedAt, address by);

    uint256 private constant _MAX_TEXT = 256;

    address private _admin;
    address[] private _accounts;
    address[] private _registries;
    mapping(address account => Standing) private _standing;
    mapping(address account => string) private _identifiers;
    mapping(address account => string) private _names;
    mapping(bytes32 identifierHash => address) private _byIdentifier;
    mapping(address account => mapping(bytes32 typeHash => bool)) private _types;
    mapping(address issuer => mapping(bytes32 thumbprint => Key)) private _keys;
    mapping(address issuer => mapping(bytes32 thumbprint => bytes32)) private _keyX;

    modifier onlyAdmin() {
        if (msg.sender != _admin) revert TrustRegistryNotAdmin(msg.sender);
        _;
    }

    /// @param firstAdmin The first registry admin.
    constructor(address firstAdmin) {
        if (firstAdmin == address(0)) revert TrustRegistryZeroAddress();
        _admin = firstAdmin;
        emit AdminTransferred(address(0), firstAdmin);
    }

    // --- admin ------------------------------------------------------------------------------------

    /// @notice Hand the admin role to `newAdmin`.
    /// @param newAdmin The new admin; must not be the zero address.
    function transferAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert TrustRegistryZeroAddress();
        address previous = _admin;
        _admin = newAdmin;
        emit AdminTransferred(previous, newAdmin);
    }

    /// @notice Attach a registry (an IssuerGate built with this TrustRegistry) and push all standing to it.
    /// @param registry The registry; attached at most once.
    function attachRegistry(address registry) external onlyAdmin {
        if (IssuerGate(registry).trustRegistry() != address(this)) revert TrustRegistryInvalidRegistry(registry);
        for (uint256 i = 0; i < _registries.length; ++i) {
            if (_registries[i] == registry) revert TrustRegistryInvalidRegistry(registry);
        }
        _registries.push(registry);
        for (uint256 i = 0; i < _accounts.length; ++i) {
            Standing memory s = _standing[_accounts[i]];
            IssuerGate(registry).updateStanding(_accounts[i], s.index, s.suspendedAt == 0);
        }
        emit RegistryAttached(registry);
    }

    /// @notice Accredit `account` as an issuer of `credentialTypes` (SD-JWT VC `vct` strings).
    /// @param account The issuer's operating account (it manages its keys, anchors and status lists).
    /// @param identifier The issuer's `iss` value, e.g. a did:ethr DID; unique across issuers.
    /// @param name Display name.
    /// @param credentialTypes Types the issuer may issue (may be empty; see {grantCredentialType}).
    function accreditIssuer(
        address account,
        string calldata identifier,
        string calldata name,
        string[] calldata credentialTypes
    ) external onlyAdmin {
        if (account == address(0)) revert TrustRegistryZeroAddress();
        if (_standing[account].index != 0) revert TrustRegistryIssuerExists(account);
        _checkText(identifier);
        _checkText(name);
        bytes32 idHash = keccak256(bytes(identifier));
        if (_byIdentifier[idHash] != address(0)) revert TrustRegistryIdentifierTaken(identifier);
        _accounts.push(account);
        _standing[account] = Standing(uint32(_accounts.length), uint64(block.timestamp), 0);
        _identifiers[account] = identifier;
        _names[account] = name;
        _byIdentifier[idHash] = account;
        for (uint256 i = 0; i < credentialTypes.length; ++i) {
            _checkType(credentialTypes[i]);
            _types[account][keccak256(bytes(credentialTypes[i]))] = true;
        }
        _pushStanding(account, uint32(_accounts.length), true);
        emit IssuerAccredited(account, identifier, name, credentialTypes);
    }

    /// @notice Suspend `account` from now on: it can no longer add keys, anchor or publish status lists, and
    /// verifiers reject what it issued from this time. Suspension is final; re-accredit under a new account.
    /// @param account An accredited, not yet suspended issuer.
    function suspendIssuer(address account) external onlyAdmin {
        Standing storage s = _existing(account);
        if (s.suspendedAt != 0) revert TrustRegistryIssuerSuspended(account);
        s.suspendedAt = uint64(block.timestamp);
        _pushStanding(account, s.index, false);
        emit IssuerSuspended(account, uint64(block.timestamp));
    }

    /// @notice Allow `account` to issue `credentialType` as well.
    /// @param account An accredited issuer.
    /// @param credentialType The `vct` string.
    function grantCredentialType(address account, string calldata credentialType) external onlyAdmin {
        _existing(account);
        _checkType(credentialType);
        bytes32 h = keccak256(bytes(credentialType));
        if (_types[account][h]) revert TrustRegistryCredentialTypeUnchanged(account, credentialType);
        _types[account][h] = true;
        emit CredentialTypeGranted(account, credentialType);
    }

    /// @notice Stop `account` from issuing `credentialType` from now on.
    /// @param account An accredited issuer.
    /// @param credentialType A `vct` string the issuer currently has.
    function withdrawCredentialType(address account, string calldata credentialType) external onlyAdmin {
        _existing(account);
        bytes32 h = keccak256(bytes(credentialType));
        if (!_types[account][h]) revert TrustRegistryCredentialTypeUnchanged(account, credentialType);
        _types[account][h] = false;
        emit CredentialTypeWithdrawn(account, credentialType);
    }

    // --- issuer keys ---------------------------------------------------------------------------------

    /// @notice Register a signing key of the calling issuer.
    /// @param thumbprint RFC 7638 SHA-256 thumbprint of the key's JWK (not checked on chain).
    /// @param publicKey P-256 public key, SEC1 compressed (33 bytes, prefix 0x02 or 0x03).
    /// @param validFrom Start of validity; 0 = now. May not lie in the past.
    /// @param validUntil End of validity (exclusive); 0 = open-ended.
    function addKey(bytes32 thumbprint, bytes calldata publicKey, uint64 validFrom, uint64 validUntil) external {
        _requireActive(msg.sender);
        _addKey(msg.sender, thumbprint, publicKey, validFrom, validUntil);
    }

    /// @notice Rotate: register `newThumbprint` valid from `switchAt` and end `oldThumbprint` at the same time.
    /// @param oldThumbprint A current key of the calling issuer.
    /// @param newThumbprint The new key's thumbprint.
    /// @param publicKey The new key, SEC1 compressed.
    /// @param switchAt When the new key takes over; 0 = now. May not lie in the past.
    function rotateKey(bytes32 oldThumbprint, bytes32 newThumbprint, bytes calldata publicKey, uint64 switchAt)
        external
    {
        _requireActive(msg.sender);
        uint64 when = switchAt == 0 ? uint64(block.timestamp) : switchAt;
        _addKey(msg.sender, newThumbprint, publicKey, when, 0);
        _setExpiry(msg.sender, oldThumbprint, when);
    }

    /// @notice End the validity of one of the caller's keys at `validUntil` (now or later; only shortens).
    /// @param thumbprint A key of the calling issuer.
    /// @param validUntil New end of validity; 0 = now.
    function setKeyExpiry(bytes32 thumbprint, uint64 validUntil) external {
        _existing(msg.sender);
        _setExpiry(msg.sender, thumbprint, validUntil == 0 ? uint64(block.timestamp) : validUntil);
    }

    /// @notice Revoke a key of `issuer` from `revokedAt` on. The issuer itself or the admin may revoke;
    /// a suspended issuer may still revoke its keys. Back-dating is allowed (a compromise found late).
    /// @param issuer_ The key's issuer.
    /// @param thumbprint The key.
    /// @param revokedAt Revocation time; 0 = now; not in the future.
    function revokeKey(address issuer_, bytes32 thumbprint, uint64 revokedAt) external {
        if (msg.sender != issuer_ && msg.sender != _admin) revert TrustRegistryNotIssuerOperator(msg.sender, issuer_);
        Key storage k = _keys[issuer_][thumbprint];
        if (k.prefix == 0) revert TrustRegistryUnknownKey(issuer_, thumbprint);
        if (k.revokedAt != 0) revert TrustRegistryKeyAlreadyRevoked(issuer_, thumbprint);
        uint64 when = revokedAt == 0 ? uint64(block.timestamp) : revokedAt;
        if (when > block.timestamp) revert TrustRegistryRevocationInFuture(when);
        k.revokedAt = when;
        emit KeyRevoked(issuer_, thumbprint, when, msg.sender);
    }

    // --- views ---------------------------------------------------------------------------------------

    /// @notice The current registry admin.
    function admin() external view returns (address) {
        return _admin;
    }

    /// @notice The registries that receive issuer standing.
    function registries() external view returns (address[] memory) {
        return _registries;
    }

    /// @notice Number of issuers ever accredited.
    function issuerCount() external view returns (uint256) {
        return _accounts.length;
    }

    /// @notice The account of the issuer with 1-based `index` (see {standing}).
    /// @param index 1-based accreditation order.
    function issuerAt(uint32 index) external view returns (address) {
        if (index == 0 || index > _accounts.length) revert TrustRegistryUnknownIssuer(address(0));
        return _accounts[index - 1];
    }

    /// @notice Cheap standing check for the other registries: the issuer's index and whether it may act now.
    /// @param account Any account.
    /// @return index 1-based issuer index, 0 if never accredited.
    /// @return active True if accredited and not suspended.
    function standing(address account) external view returns (uint32 index, bool active) {
        Standing memory s = _standing[account];
        return (s.index, s.index != 0 && s.suspendedAt == 0);
    }

    /// @notice Everything stored about issuer `account`.
    /// @param account An accredited issuer.
    function issuer(address account)
        external
        view
        returns (string memory identifier, string memory name, uint64 accreditedAt, uint64 suspendedAt)
    {
        Standing storage s = _existing(account);
        return (_identifiers[account], _names[account], s.accreditedAt, s.suspendedAt);
    }

    /// @notice The account registered under `identifier`, or the zero address.
    /// @param identifier An issuer identifier (`iss`).
    function issuerByIdentifier(string calldata identifier) external view returns (address) {
        return _byIdentifier[keccak256(bytes(identifier))];
    }

    /// @notice Whether `account` may currently issue the type whose keccak256 is `typeHash`.
    /// @param account Any account.
    /// @param typeHash keccak256 of the `vct` string.
    function mayIssue(address account, bytes32 typeHash) external view returns (bool) {
        Standing memory s = _standing[account];
        return s.index != 0 && s.suspendedAt == 0 && _types[account][typeHash];
    }

    /// @notice The key `thumbprint` of `issuer_`; reverts if there is none.
    /// @param issuer_ The issuer.
    /// @param thumbprint The key's thumbprint.
    function keyOf(address issuer_, bytes32 thumbprint) external view returns (KeyView memory) {
        Key memory k = _keys[issuer_][thumbprint];
        if (k.prefix == 0) revert TrustRegistryUnknownKey(issuer_, thumbprint);
        bytes memory pub = abi.encodePacked(bytes1(k.prefix), _keyX[issuer_][thumbprint]);
        return KeyView(pub, k.validFrom, k.validUntil, k.revokedAt);
    }

    /// @notice Was key `thumbprint` of `issuer_` in force at time `t`? False after the issuer's suspension too.
    /// @param issuer_ The issuer.
    /// @param thumbprint The key's thumbprint.
    /// @param t A unix time, typically a credential's `iat`.
    function wasKeyValidAt(address issuer_, bytes32 thumbprint, uint64 t) external view returns (bool) {
        Key memory k = _keys[issuer_][thumbprint];
        if (k.prefix == 0 || t < k.validFrom) return false;
        if (k.validUntil != 0 && t >= k.validUntil) return false;
        if (k.revokedAt != 0 && t >= k.revokedAt) return false;
        uint64 suspendedAt = _standing[issuer_].suspendedAt;
        return suspendedAt == 0 || t < suspendedAt;
    }

    // --- internals -----------------------------------------------------------------------------------

    function _addKey(address issuer_, bytes32 thumbprint, bytes calldata publicKey, uint64 validFrom, uint64 until)
        private
    {
        if (thumbprint == bytes32(0) || publicKey.length != 33 || (publicKey[0] != 0x02 && publicKey[0] != 0x03)) {
            revert TrustRegistryInvalidKey();
        }
        Key storage k = _keys[issuer_][thumbprint];
        if (k.prefix != 0) revert TrustRegistryKeyExists(issuer_, thumbprint);
        uint64 from = validFrom == 0 ? uint64(block.timestamp) : validFrom;
        if (from < block.timestamp || (until != 0 && until <= from)) revert TrustRegistryInvalidWindow(from, until);
        k.validFrom = from;
        k.validUntil = until;
        k.prefix = uint8(publicKey[0]);
        _keyX[issuer_][thumbprint] = bytes32(publicKey[1:33]);
        emit KeyAdded(issuer_, thumbprint, publicKey, from, until);
    }

    function _setExpiry(address issuer_, bytes32 thumbprint, uint64 until) private {
        Key storage k = _keys[issuer_][thumbprint];
        if (k.prefix == 0) revert TrustRegistryUnknownKey(issuer_, thumbprint);
        if (k.revokedAt != 0) revert TrustRegistryKeyAlreadyRevoked(issuer_, thumbprint);
        bool lengthens = k.validUntil != 0 && until >= k.validUntil;
        if (until < block.timestamp || until <= k.validFrom || lengthens) {
            revert TrustRegistryInvalidWindow(k.validFrom, until);
        }
        k.validUntil = until;
        emit KeyExpirySet(issuer_, thumbprint, until);
    }

    function _pushStanding(address account, uint32 index, bool active) private {
        for (uint256 i = 0; i < _registries.length; ++i) {
            IssuerGate(_registries[i]).updateStanding(account, index, active);
        }
    }

    function _existing(address account) private view returns (Standing storage s) {
        s = _standing[account];
        if (s.index == 0) revert TrustRegistryUnknownIssuer(account);
    }

    function _requireActive(address account) private view {
        Standing storage s = _existing(account);
        if (s.suspendedAt != 0) revert TrustRegistryIssuerSuspended(account);
    }

    function _checkText(string calldata text) private pure {
        uint256 n = bytes(text).length;
        if (n == 0 || n > _MAX_TEXT) revert TrustRegistryInvalidText();
    }

    function _checkType(string calldata credentialType) private pure {
        uint256 n = bytes(credentialType).length;
        if (n == 0 || n > _MAX_TEXT) revert TrustRegistryInvalidCredentialType();
    }
}

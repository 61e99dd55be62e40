// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {TrustRegistry} from "./TrustRegistry.sol";

/// @title BLS12-381 over the EIP-2537 precompiles: hash-to-G2 (RFC 9380) and aggregate-signature checks
/// @dev Points use EIP-2537 encoding: each Fp element as 64 bytes big-endian (16 zero bytes + 48), G1 = x || y
/// (128 bytes), G2 = x.c0 || x.c1 || y.c0 || y.c1 (256 bytes), the point at infinity as all zeros.
/// Ciphersuite: IETF BLS, proof-of-possession, public keys in G1, signatures in G2 (as py_ecc.bls implements it).
library BLS12381 {
    // EIP-2537 precompiles (Prague) and EIP-198 modexp.
    uint256 private constant _MODEXP = 0x05;
    uint256 private constant _G2ADD = 0x0d;
    uint256 private constant _PAIRING = 0x0f;
    uint256 private constant _MAP_FP2_TO_G2 = 0x11;

    // p, 64-byte padded, as two words.
    uint256 private constant _P_HI = 0x1a0111ea397fe69a4b1ba7b6434bacd7;
    uint256 private constant _P_LO = 0x64774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab;
    // (p - 1) / 2 as 16 + 32 bytes: y above it is the "larger" root (ZCash compressed-point sign flag).
    uint256 private constant _HALF_P_HI = 0xd0088f51cbff34d258dd3db21a5d66b;
    uint256 private constant _HALF_P_LO = 0xb23ba5c279c2895fb39869507b587b120f55ffff58a9ffffdcff7fffffffd555;
    // -G1 (the generator with y negated), 64-byte padded coordinates.
    uint256 private constant _GX_HI = 0x17f1d3a73197d7942695638c4fa9ac0f;
    uint256 private constant _GX_LO = 0xc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb;
    uint256 private constant _NGY_HI = 0x114d1d6855d545a8aa7d76c8cf2e21f2;
    uint256 private constant _NGY_LO = 0x67816aef1db507c96655b9d5caac42364e6f38ba0ecb751bad54dcd6b939c2ca;

    /// @dev A precompile call failed (invalid point, coordinate >= p) or an input was too long.
    error BLS12381PrecompileFailed(uint256 precompile);

    /// @notice hash_to_curve for G2 (BLS12381G2_XMD:SHA-256_SSWU_RO_, RFC 9380) written as 256 bytes at `dstPtr`.
    /// @dev hash_to_field: expand_message_xmd (SHA-256 precompile) to 256 bytes, each 64-byte chunk reduced mod p
    /// with modexp(x, 1, p). MAP_FP2_TO_G2 maps and clears the cofactor; clearing is linear, so
    /// map(u0) + map(u1) equals the RFC's clear_cofactor(map(u0) + map(u1)). All in assembly over scratch memory
    /// past the free-memory pointer (never allocated): the plain Solidity version cost ~6k more gas per proposal.
    function hashToG2(bytes memory message, bytes memory dst, uint256 dstPtr) internal view {
        bool ok = dst.length <= 255;
        assembly ("memory-safe") {
            let msgLen := mload(message)
            let dstLen := mload(dst)
            let a := mload(0x40) // sha256 input
            let u := add(a, and(add(add(msgLen, dstLen), 0x9f), not(0x1f))) // 8 x 32 uniform bytes
            let m := add(u, 0x100) // modexp input (225 bytes)
            let r := add(m, 0x100) // u0.c0 | u0.c1 | u1.c0 | u1.c1, reduced
            let q := add(r, 0x100) // map(u0) | map(u1)
            // b0 = H(Z_pad(64) || msg || I2OSP(256, 2) || I2OSP(0, 1) || DST || I2OSP(len(DST), 1))
            mstore(a, 0)
            mstore(add(a, 0x20), 0)
            mcopy(add(a, 0x40), add(message, 0x20), msgLen)
            let t := add(add(a, 0x40), msgLen)
            mstore(t, 0x0100000000000000000000000000000000000000000000000000000000000000) // 0x01 0x00 0x00
            mcopy(add(t, 3), add(dst, 0x20), dstLen)
            mstore8(add(add(t, 3), dstLen), dstLen)
            ok := and(ok, staticcall(gas(), 0x02, a, sub(add(add(t, 4), dstLen), a), 0x00, 0x20))
            let b0 := mload(0x00)
            // b_i = H(strxor(b0, b_(i-1)) || I2OSP(i, 1) || DST_prime); DST_prime is written once after 33 bytes
            mcopy(add(a, 0x21), add(dst, 0x20), dstLen)
            mstore8(add(add(a, 0x21), dstLen), dstLen)
            let prev := 0
            for { let i := 1 } lt(i, 9) { i := add(i, 1) } {
                mstore(a, xor(b0, prev))
                mstore8(add(a, 0x20), i)
                ok := and(ok, staticcall(gas(), 0x02, a, add(0x22, dstLen), add(u, mul(sub(i, 1), 0x20)), 0x20))
                prev := mload(add(u, mul(sub(i, 1), 0x20)))
            }
            // e_j = OS2IP(uniform[64j : 64j + 64]) mod p
            mstore(m, 64)
            mstore(add(m, 0x20), 1)
            mstore(add(m, 0x40), 64)
            for { let j := 0 } lt(j, 4) { j := add(j, 1) } {
                mcopy(add(m, 0x60), add(u, mul(j, 64)), 64)
                mstore8(add(m, 0xa0), 1)
                mstore(add(m, 0xa1), _P_HI)
                mstore(add(m, 0xc1), _P_LO)
                ok := and(ok, staticcall(gas(), _MODEXP, m, 225, add(r, mul(j, 64)), 64))
            }
            ok := and(ok, staticcall(gas(), _MAP_FP2_TO_G2, r, 128, q, 256))
            ok := and(ok, staticcall(gas(), _MAP_FP2_TO_G2, add(r, 128), 128, add(q, 256), 256))
            ok := and(ok, staticcall(gas(), _G2ADD, q, 512, dstPtr, 256))
        }
        if (!ok) revert BLS12381PrecompileFailed(_MAP_FP2_TO_G2);
    }

    /// @notice Write the 48-byte field element `src[offset:offset+48]` padded to 64 bytes (EIP-2537) at `dstPtr`.
    function pad48(uint256 dstPtr, bytes memory src, uint256 offset) internal pure {
        assembly ("memory-safe") {
            mstore(dstPtr, 0)
            mcopy(add(dstPtr, 16), add(add(src, 0x20), offset), 48)
        }
    }

    /// @notice ZCash-compressed encoding (48 bytes) of the G1 point `xy` (x || y, 96 bytes): what PopProve signs.
    function compressG1(bytes memory xy) internal pure returns (bytes memory out) {
        out = new bytes(48);
        uint256 yHi;
        uint256 yLo;
        assembly ("memory-safe") {
            mcopy(add(out, 0x20), add(xy, 0x20), 48)
            yHi := shr(128, mload(add(xy, 0x50)))
            yLo := mload(add(xy, 0x60))
        }
        bool larger = yHi > _HALF_P_HI || (yHi == _HALF_P_HI && yLo > _HALF_P_LO);
        out[0] = bytes1(uint8(out[0]) | 0x80 | (larger ? 0x20 : 0));
    }

    /// @notice Write -G1 (128 bytes) at `dstPtr`.
    function negG1(uint256 dstPtr) internal pure {
        assembly ("memory-safe") {
            mstore(dstPtr, _GX_HI)
            mstore(add(dstPtr, 0x20), _GX_LO)
            mstore(add(dstPtr, 0x40), _NGY_HI)
            mstore(add(dstPtr, 0x60), _NGY_LO)
        }
    }

    /// @notice e(buf[0:128], buf[128:384]) * e(buf[384:512], buf[512:768]) == 1; false also for invalid points.
    /// @dev The precompile checks that every point is on its curve and in the r-order subgroup.
    function pairingCheck(bytes memory buf) internal view returns (bool result) {
        assembly ("memory-safe") {
            let ok := staticcall(gas(), _PAIRING, add(buf, 0x20), 768, 0x00, 0x20)
            result := and(ok, eq(mload(0x00), 1))
        }
    }
}

/// @title Consortium governance of a TrustRegistry: k-of-n BLS aggregate signatures, one pairing per proposal
/// @notice Holds the TrustRegistry's admin role. Members (BLS12-381 public keys, G1) sign a proposal digest off
/// chain; anyone submits the aggregate signature with a bitmap of the signers, and the action runs if at least
/// `threshold` members signed. Proposals bind chain id, this contract and a sequential nonce, so each signature
/// counts once, here only. Every member key's proof of possession is checked when it joins, which makes summing
/// keys safe against rogue-key attacks.
/// @dev Member keys live in a data contract (SSTORE2: code = 0x00 || n x 128-byte EIP-2537 G1 points): one cold
/// EXTCODECOPY instead of 4 cold SLOADs per signer is what keeps a 3-of-5 approval under 200k gas. The config
/// (key pointer, nonce, threshold, count) is one slot. Digests: see credcore/bls.py (same abi.encode layout).
contract TrustGovernance {
    struct Config {
        address keys; // data contract holding the member keys
        uint64 nonce; // next proposal's nonce
        uint8 threshold;
        uint8 count;
    }

    /// @notice Action codes; each action's payload layout is listed in credcore/bls.py `Action`.
    uint8 public constant ACCREDIT_ISSUER = 1;
    uint8 public constant SUSPEND_ISSUER = 2;
    uint8 public constant ADD_MEMBER = 3;
    uint8 public constant REMOVE_MEMBER = 4;
    uint8 public constant SET_THRESHOLD = 5;
    uint8 public constant TRANSFER_REGISTRY_ADMIN = 6;
    /// @notice Members fit a uint256 signer bitmap; 64 bounds the cost of membership changes.
    uint256 public constant MAX_MEMBERS = 64;

    bytes32 private constant _PROPOSAL_TAG = keccak256("civicpass.TrustGovernance.Proposal.v1");
    bytes32 private constant _SNAPSHOT_TAG = keccak256("civicpass.TrustGovernance.Snapshot.v1");
    bytes private constant _SIG_DST = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
    bytes private constant _POP_DST = "BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

    /// @dev `nonce` is not the next proposal's nonce (already executed, or not yet due).
    error GovernanceStaleNonce(uint64 expected, uint64 given);
    /// @dev The action code is unknown.
    error GovernanceUnknownAction(uint8 action);
    /// @dev The signer bitmap names a position beyond the member list, or nobody.
    error GovernanceUnknownSigner(uint256 signers);
    /// @dev Fewer signers than the threshold.
    error GovernanceTooFewSigners(uint256 signers, uint8 threshold);
    /// @dev The aggregate signature is malformed or does not verify for the signers' keys.
    error GovernanceInvalidSignature();
    /// @dev A member key is malformed, the identity, or already a member.
    error GovernanceInvalidMemberKey();
    /// @dev The proof of possession does not verify (rogue-key defence).
    error GovernanceInvalidProofOfPossession();
    /// @dev The key to remove is not a member.
    error GovernanceUnknownMember();
    /// @dev The threshold must lie in [1, member count] (also after a removal), and members in [1, MAX_MEMBERS].
    error GovernanceInvalidThreshold(uint256 threshold, uint256 members);
    /// @dev Writing the member key data contract failed.
    error GovernanceStorageFailed();

    /// @notice Emitted after proposal `nonce` (action `action`) ran, signed by the members in bitmap `signers`.
    /// @dev The digest is left out (256 gas): it follows from the transaction's input, see {proposalDigest}.
    event ProposalExecuted(uint64 indexed nonce, uint8 action, uint256 signers);
    /// @notice Emitted after the key `publicKey` (x || y, 96 bytes) joined at position `index`.
    event MemberAdded(uint256 index, bytes publicKey);
    /// @notice Emitted after the key `publicKey` left.
    event MemberRemoved(bytes publicKey);
    /// @notice Emitted after the threshold became `threshold`.
    event ThresholdChanged(uint8 threshold);

    /// @notice The governed registry (this contract must be its admin for actions on it to succeed).
    TrustRegistry public immutable registry;
    Config private _config;

    /// @param registry_ The TrustRegistry; its admin then calls `transferAdmin(address(this))`.
    /// @param publicKeys Founding members' keys, x || y (96 bytes each).
    /// @param proofs Their proofs of possession, x.c0 || x.c1 || y.c0 || y.c1 (192 bytes each).
    /// @param threshold_ Signatures needed per proposal.
    constructor(TrustRegistry registry_, bytes[] memory publicKeys, bytes[] memory proofs, uint8 threshold_) {
        registry = registry_;
        if (publicKeys.length != proofs.length) revert GovernanceInvalidMemberKey();
        bytes memory keys = "";
        for (uint256 i = 0; i < publicKeys.length; ++i) {
            keys = bytes.concat(keys, _admit(keys, publicKeys[i], proofs[i]));
            emit MemberAdded(i, publicKeys[i]);
        }
        _store(keys, threshold_, 0);
        emit ThresholdChanged(threshold_);
    }

    // --- proposals -----------------------------------------------------------------------------------------

    /// @notice Run a proposal signed by at least `threshold` members.
    /// @param nonce_ Must equal {nonce}; it is consumed.
    /// @param action One of the action constants.
    /// @param payload The action's ABI-encoded arguments (see credcore/bls.py `Action`).
    /// @param signers Bitmap: bit i set if member i signed.
    /// @param signature Aggregate signature, uncompressed G2 without padding (192 bytes).
    function execute(uint64 nonce_, uint8 action, bytes calldata payload, uint256 signers, bytes calldata signature)
        external
    {
        Config memory c = _config;
        if (nonce_ != c.nonce) revert GovernanceStaleNonce(c.nonce, nonce_);
        if (action == 0 || action > TRANSFER_REGISTRY_ADMIN) revert GovernanceUnknownAction(action);
        if (signers == 0 || signers >> c.count != 0) revert GovernanceUnknownSigner(signers);
        uint256 k = _popcount(signers);
        if (k < c.threshold) revert GovernanceTooFewSigners(k, c.threshold);
        bytes32 digest = _proposalDigest(nonce_, action, keccak256(payload));
        if (!_verify(c, signers, digest, signature)) revert GovernanceInvalidSignature();
        _config.nonce = nonce_ + 1;
        emit ProposalExecuted(nonce_, action, signers);
        _apply(c, action, payload);
    }

    function _apply(Config memory c, uint8 action, bytes calldata payload) private {
        if (action == ACCREDIT_ISSUER) {
            (address account, string memory identifier, string memory name, string[] memory types) =
                abi.decode(payload, (address, string, string, string[]));
            registry.accreditIssuer(account, identifier, name, types);
        } else if (action == SUSPEND_ISSUER) {
            registry.suspendIssuer(abi.decode(payload, (address)));
        } else if (action == TRANSFER_REGISTRY_ADMIN) {
            registry.transferAdmin(abi.decode(payload, (address)));
        } else if (action == SET_THRESHOLD) {
            uint8 t = abi.decode(payload, (uint8));
            if (t == 0 || t > c.count) revert GovernanceInvalidThreshold(t, c.count);
            _config.threshold = t;
            emit ThresholdChanged(t);
        } else {
            bytes memory keys = _keys(c);
            if (action == ADD_MEMBER) {
                (bytes memory publicKey, bytes memory proof) = abi.decode(payload, (bytes, bytes));
                keys = bytes.concat(keys, _admit(keys, publicKey, proof));
                emit MemberAdded(c.count, publicKey);
            } else {
                bytes memory publicKey = abi.decode(payload, (bytes));
                keys = _without(keys, publicKey);
                emit MemberRemoved(publicKey);
            }
            _store(keys, c.threshold, c.nonce + 1);
        }
    }

    // --- views ---------------------------------------------------------------------------------------------

    /// @notice The nonce the next proposal must carry.
    function nonce() external view returns (uint64) {
        return _config.nonce;
    }

    /// @notice Signatures needed per proposal.
    function threshold() external view returns (uint8) {
        return _config.threshold;
    }

    /// @notice Member keys in bitmap order, x || y (96 bytes each).
    function members() external view returns (bytes[] memory out) {
        Config memory c = _config;
        bytes memory keys = _keys(c);
        out = new bytes[](c.count);
        for (uint256 i = 0; i < c.count; ++i) {
            out[i] = new bytes(96);
            for (uint256 j = 0; j < 48; ++j) {
                out[i][j] = keys[i * 128 + 16 + j];
                out[i][48 + j] = keys[i * 128 + 80 + j];
            }
        }
    }

    /// @notice The 32-byte message members sign for proposal (`nonce`, `action`, `payload`).
    function proposalDigest(uint64 nonce_, uint8 action, bytes calldata payload) external view returns (bytes32) {
        return _proposalDigest(nonce_, action, keccak256(payload));
    }

    /// @notice The message members sign for a trust snapshot file whose keccak256 is `contentHash`.
    function snapshotDigest(bytes32 contentHash, uint64 blockNumber) external view returns (bytes32) {
        return keccak256(abi.encode(_SNAPSHOT_TAG, block.chainid, address(this), blockNumber, contentHash));
    }

    /// @notice RFC 9380 hash_to_curve to G2 as computed on chain (EIP-2537 encoding); exposed for test vectors.
    function hashToG2(bytes calldata message, bytes calldata dst) external view returns (bytes memory point) {
        point = new bytes(256);
        uint256 ptr;
        assembly ("memory-safe") {
            ptr := add(point, 0x20)
        }
        BLS12381.hashToG2(message, dst, ptr);
    }

    // --- internals -----------------------------------------------------------------------------------------

    function _proposalDigest(uint64 nonce_, uint8 action, bytes32 payloadHash) private view returns (bytes32) {
        return keccak256(abi.encode(_PROPOSAL_TAG, block.chainid, address(this), nonce_, action, payloadHash));
    }

    /// @dev e(sum of signers' keys, H(digest)) == e(G1, signature), as one two-pair pairing check.
    function _verify(Config memory c, uint256 signers, bytes32 digest, bytes calldata signature)
        private
        view
        returns (bool)
    {
        if (signature.length != 192) return false;
        bytes memory buf = new bytes(768); // aggPk(128) | H(m)(256) | -G1(128) | sig(256)
        address keys = c.keys;
        uint256 base;
        bool ok = true;
        assembly ("memory-safe") {
            base := add(buf, 0x20)
            // Sum the signers' keys: the first goes to buf[0:128], each next to buf[128:256], then G1ADD in place.
            // No subgroup check is needed here: every key passed the pairing precompile's check at admission.
            let to := base
            for { let i := 0 } gt(shr(i, signers), 0) { i := add(i, 1) } {
                if and(shr(i, signers), 1) {
                    extcodecopy(keys, to, add(1, mul(i, 128)), 128)
                    if gt(to, base) { ok := and(ok, staticcall(gas(), 0x0b, base, 256, base, 128)) }
                    to := add(base, 128)
                }
            }
            // the signature, 4 x 48 bytes, padded to 4 x 64
            let sig := add(base, 512)
            for { let j := 0 } lt(j, 4) { j := add(j, 1) } {
                let dst := add(sig, mul(j, 64))
                mstore(dst, 0)
                calldatacopy(add(dst, 16), add(signature.offset, mul(j, 48)), 48)
            }
            // an aggregate key at infinity would accept the signature at infinity
            ok := and(ok, gt(or(or(mload(base), mload(add(base, 0x20))), or(mload(add(base, 0x40)), mload(add(base, 0x60)))), 0))
        }
        if (!ok) return false;
        BLS12381.hashToG2(abi.encodePacked(digest), _SIG_DST, base + 128);
        BLS12381.negG1(base + 384);
        return BLS12381.pairingCheck(buf);
    }

    /// @dev Check a joining key (not the identity, not a duplicate, valid PoP); returns its 128-byte encoding.
    function _admit(bytes memory keys, bytes memory publicKey, bytes memory proof)
        private
        view
        returns (bytes memory padded)
    {
        if (publicKey.length != 96 || proof.length != 192) revert GovernanceInvalidMemberKey();
        padded = new bytes(128);
        uint256 p;
        assembly ("memory-safe") {
            p := add(padded, 0x20)
        }
        BLS12381.pad48(p, publicKey, 0);
        BLS12381.pad48(p + 64, publicKey, 48);
        if (keccak256(padded) == keccak256(new bytes(128))) revert GovernanceInvalidMemberKey();
        if (_indexOf(keys, padded) != type(uint256).max) revert GovernanceInvalidMemberKey();
        bytes memory buf = new bytes(768);
        uint256 base;
        assembly ("memory-safe") {
            base := add(buf, 0x20)
            mcopy(base, p, 128)
        }
        BLS12381.hashToG2(BLS12381.compressG1(publicKey), _POP_DST, base + 128);
        BLS12381.negG1(base + 384);
        for (uint256 j = 0; j < 4; ++j) {
            BLS12381.pad48(base + 512 + j * 64, proof, j * 48);
        }
        if (!BLS12381.pairingCheck(buf)) revert GovernanceInvalidProofOfPossession();
    }

    function _without(bytes memory keys, bytes memory publicKey) private pure returns (bytes memory out) {
        if (publicKey.length != 96) revert GovernanceUnknownMember();
        bytes memory padded = new bytes(128);
        uint256 p;
        assembly ("memory-safe") {
            p := add(padded, 0x20)
        }
        BLS12381.pad48(p, publicKey, 0);
        BLS12381.pad48(p + 64, publicKey, 48);
        uint256 index = _indexOf(keys, padded);
        if (index == type(uint256).max) revert GovernanceUnknownMember();
        uint256 last = keys.length / 128 - 1;
        out = new bytes(last * 128);
        assembly ("memory-safe") {
            let src := add(keys, 0x20)
            let dst := add(out, 0x20)
            mcopy(dst, src, mul(last, 128))
            // swap-remove: the last key takes the removed key's position
            if lt(index, last) { mcopy(add(dst, mul(index, 128)), add(src, mul(last, 128)), 128) }
        }
    }

    function _indexOf(bytes memory keys, bytes memory padded) private pure returns (uint256) {
        bytes32 h = keccak256(padded);
        for (uint256 i = 0; i < keys.length / 128; ++i) {
            bytes32 k;
            assembly ("memory-safe") {
                k := keccak256(add(add(keys, 0x20), mul(i, 128)), 128)
            }
            if (k == h) return i;
        }
        return type(uint256).max;
    }

    function _keys(Config memory c) private view returns (bytes memory keys) {
        keys = new bytes(uint256(c.count) * 128);
        address pointer = c.keys;
        assembly ("memory-safe") {
            extcodecopy(pointer, add(keys, 0x20), 1, mload(keys))
        }
    }

    /// @dev Deploy `keys` as a data contract and record it with `threshold_` and `nonce_`.
    function _store(bytes memory keys, uint8 threshold_, uint64 nonce_) private {
        uint256 count = keys.length / 128;
        if (count == 0 || count > MAX_MEMBERS || threshold_ == 0 || threshold_ > count) {
            revert GovernanceInvalidThreshold(threshold_, count);
        }
        bytes memory code = bytes.concat(hex"00", keys);
        // creation code: PUSH4 len, DUP1, PUSH1 14, PUSH1 0, CODECOPY, PUSH1 0, RETURN (then the runtime bytes)
        bytes memory init = abi.encodePacked(hex"63", uint32(code.length), hex"80600e6000396000f3", code);
        address pointer;
        assembly ("memory-safe") {
            pointer := create(0, add(init, 0x20), mload(init))
        }
        if (pointer == address(0)) revert GovernanceStorageFailed();
        _config = Config(pointer, nonce_, threshold_, uint8(count));
    }

    function _popcount(uint256 x) private pure returns (uint256 n) {
        for (; x != 0; x &= x - 1) ++n;
    }
}

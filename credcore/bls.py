"""BLS12-381 aggregate signatures for consortium governance of the trust registry.

Why BLS: k of n consortium members sign a proposal off chain and *one* 96-byte aggregate signature goes on chain,
where TrustGovernance.sol checks it with one EIP-2537 pairing whatever k is. The scheme is the IETF BLS signature
draft's proof-of-possession ciphersuite exactly as ``py_ecc.bls.G2ProofOfPossession`` implements it (public keys
in G1, 48 bytes; signatures in G2, 96 bytes; hash-to-curve BLS12381G2_XMD:SHA-256_SSWU_RO_, RFC 9380). A member
proves possession of its key when it registers, which is what makes summing public keys safe (rogue-key attack:
a "key" chosen as ``X - sum(others)`` has no PoP).

Two backends (credcore/_bls_backends.py) give byte-identical results: ``py_ecc`` (pure Python, the reference, slow:
a pairing is a lot of big-integer arithmetic) and arkworks (native, chosen automatically when installed). Everything
here is pure: no I/O, no clock, no randomness (keys come from a caller-supplied seed, IETF KeyGen).

Messages are 32-byte keccak digests that bind the chain id, the governance contract and (for proposals) its nonce,
so a signature is good for one proposal on one contract on one chain, once. The encodings mirror
contracts/src/TrustGovernance.sol byte for byte (``abi.encode``); a test checks the contract's view of each digest.
A *signed trust snapshot* is the same aggregate signature over a snapshot file's digest, so an offline counter that
pinned the consortium's member keys can check a file it received over an untrusted path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from py_ecc.bls.ciphersuites import G2ProofOfPossession as _Reference

from credcore._b64 import b64u_decode, b64u_encode
from credcore._bls_backends import Backend, BlsEncodingError, available_backends
from credcore.errors import CredError, MalformedInputError, RefusedError, SignatureError

__all__ = [
    "BACKENDS",
    "MAX_MEMBERS",
    "POP_DST",
    "PROPOSAL_TAG",
    "SIG_DST",
    "SNAPSHOT_TAG",
    "Action",
    "Backend",
    "BlsEncodingError",
    "Proposal",
    "QuorumNotMetError",
    "SignedSnapshot",
    "SnapshotBinding",
    "SnapshotSignatureError",
    "aggregate",
    "default_backend",
    "fast_aggregate_verify",
    "g1_from_xy",
    "g1_xy",
    "g2_xy",
    "keygen",
    "proposal_digest",
    "prove_possession",
    "public_key",
    "sign",
    "sign_snapshot",
    "signer_bitmap",
    "snapshot_digest",
    "verify",
    "verify_possession",
    "verify_quorum",
    "verify_signed_snapshot",
]

SIG_DST: Final = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
POP_DST: Final = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
#: Domain tag of signed trust snapshots (proposals use another tag, so neither signature can pass as the other).
SNAPSHOT_TAG: Final = keccak(b"civicpass.TrustGovernance.Snapshot.v1")
PROPOSAL_TAG: Final = keccak(b"civicpass.TrustGovernance.Proposal.v1")
_R: Final = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001  # group order
MAX_MEMBERS: Final = 64


class QuorumNotMetError(RefusedError):
    """Fewer distinct known signers than the threshold, or a signer that is not a member."""

    code = "quorum_not_met"
    title = "Not enough consortium signatures"


class SnapshotSignatureError(SignatureError):
    """The aggregate signature does not match the signed content."""

    code = "snapshot_signature_invalid"
    title = "Trust snapshot signature invalid"


#: Every installed backend by name; the first is the default (native when installed).
BACKENDS: Final[dict[str, Backend]] = available_backends()


def default_backend() -> Backend:
    return next(iter(BACKENDS.values()))


def _b(backend: Backend | None) -> Backend:
    return default_backend() if backend is None else backend


def _sk(sk: int) -> int:
    if not isinstance(sk, int) or not 0 < sk < _R:
        raise BlsEncodingError("a secret key is an integer in [1, r)")
    return sk


# --- keys, signatures ------------------------------------------------------------------------------------


def keygen(seed: bytes, key_info: bytes = b"") -> int:
    """IETF BLS KeyGen (HKDF-SHA256): the secret key for ``seed`` (at least 32 bytes of secret entropy)."""
    if len(seed) < 32:
        raise BlsEncodingError("a BLS key seed needs at least 32 bytes")
    return int(_Reference.KeyGen(seed, key_info))


def public_key(sk: int, *, backend: Backend | None = None) -> bytes:
    """The 48-byte compressed G1 public key of ``sk``."""
    return _b(backend).sk_to_pk(_sk(sk))


def sign(sk: int, message: bytes, *, backend: Backend | None = None) -> bytes:
    """Sign ``message`` (96-byte compressed G2) under the PoP ciphersuite's signing DST."""
    return _b(backend).sign(_sk(sk), message, SIG_DST)


def prove_possession(sk: int, *, backend: Backend | None = None) -> bytes:
    """PopProve: a signature over the compressed public key under the PoP DST."""
    b = _b(backend)
    return b.sign(_sk(sk), b.sk_to_pk(sk), POP_DST)


def verify_possession(pk: bytes, proof: bytes, *, backend: Backend | None = None) -> bool:
    """PopVerify. False for a proof that does not match; BlsEncodingError for bytes that are not points."""
    return _b(backend).verify(pk, pk, proof, POP_DST)


def verify(pk: bytes, message: bytes, signature: bytes, *, backend: Backend | None = None) -> bool:
    """Verify one signature. Raises BlsEncodingError for bytes that are not subgroup points."""
    return _b(backend).verify(pk, message, signature, SIG_DST)


def aggregate(signatures: Sequence[bytes], *, backend: Backend | None = None) -> bytes:
    """Sum of G2 signatures (each decoded and subgroup-checked)."""
    if not signatures:
        raise BlsEncodingError("nothing to aggregate")
    return _b(backend).add_g2(signatures)


def fast_aggregate_verify(
    pks: Sequence[bytes], message: bytes, signature: bytes, *, backend: Backend | None = None
) -> bool:
    """FastAggregateVerify: every key signed the same ``message``. Keys must have had their PoP checked."""
    if not pks:
        return False
    b = _b(backend)
    return b.verify(b.add_g1(pks), message, signature, SIG_DST)


def g1_xy(pk: bytes, *, backend: Backend | None = None) -> bytes:
    """``x || y`` (48 + 48 bytes, big-endian) of a public key: the form TrustGovernance.sol takes."""
    return _b(backend).g1_xy(pk)


def g1_from_xy(xy: bytes, *, backend: Backend | None = None) -> bytes:
    """The compressed public key for ``x || y`` (what TrustGovernance.members() returns); checks the subgroup."""
    return _b(backend).g1_from_xy(xy)


def g2_xy(signature: bytes, *, backend: Backend | None = None) -> bytes:
    """``x.c0 || x.c1 || y.c0 || y.c1`` (4 x 48 bytes) of a signature (EIP-2537 order, without padding)."""
    return _b(backend).g2_xy(signature)


# --- quorum over a member list ---------------------------------------------------------------------------


def signer_bitmap(indices: Sequence[int]) -> int:
    """Bit i set for member index i, as TrustGovernance.sol reads it."""
    bitmap = 0
    for i in indices:
        if not 0 <= i < MAX_MEMBERS or bitmap >> i & 1:
            raise QuorumNotMetError("signer indices must be distinct member positions", index=i)
        bitmap |= 1 << i
    return bitmap


def verify_quorum(
    message: bytes,
    signature: bytes,
    signers: int,
    *,
    members: Sequence[bytes],
    threshold: int,
    backend: Backend | None = None,
) -> None:
    """Check that the members in bitmap ``signers`` (at least ``threshold`` of them) signed ``message``.

    Raises:
        QuorumNotMetError: a bit outside the member list, or fewer signers than the threshold.
        SnapshotSignatureError: the aggregate signature does not verify.
        BlsEncodingError: a member key or the signature is not a valid point.
    """
    if signers <= 0 or signers >> len(members):
        raise QuorumNotMetError("the signer bitmap names a non-member")
    chosen = [members[i] for i in range(len(members)) if signers >> i & 1]
    if threshold < 1 or len(chosen) < threshold:
        raise QuorumNotMetError("fewer signers than the threshold", signers=len(chosen), threshold=threshold)
    if not fast_aggregate_verify(chosen, message, signature, backend=backend):
        raise SnapshotSignatureError("aggregate signature does not match")


@dataclass(frozen=True, slots=True)
class SnapshotBinding:
    """What a snapshot signature is bound to besides the content: the chain, the governance contract, a block."""

    chain_id: int
    governance: str  # 0x-address of the TrustGovernance contract
    block_number: int


def snapshot_digest(content: bytes, binding: SnapshotBinding) -> bytes:
    """The 32-byte message members sign for a trust snapshot file's ``content``."""
    try:
        return keccak(
            abi_encode(
                ["bytes32", "uint256", "address", "uint64", "bytes32"],
                [SNAPSHOT_TAG, binding.chain_id, binding.governance, binding.block_number, keccak(content)],
            )
        )
    except Exception as exc:  # eth_abi's encoding errors share no base class worth naming
        raise MalformedInputError("snapshot binding is not encodable") from exc


# --- proposals -------------------------------------------------------------------------------------------


class Action(IntEnum):
    """What a proposal does; the numbers are TrustGovernance.sol's ``action`` codes."""

    ACCREDIT_ISSUER = 1  # (address account, string identifier, string name, string[] credentialTypes)
    SUSPEND_ISSUER = 2  # (address account)
    ADD_MEMBER = 3  # (bytes publicKeyXY, bytes proofOfPossessionXY)
    REMOVE_MEMBER = 4  # (bytes publicKeyXY)
    SET_THRESHOLD = 5  # (uint8 threshold)
    TRANSFER_REGISTRY_ADMIN = 6  # (address newAdmin): hand the TrustRegistry to a successor


_PAYLOAD_TYPES: Final[dict[Action, list[str]]] = {
    Action.ACCREDIT_ISSUER: ["address", "string", "string", "string[]"],
    Action.SUSPEND_ISSUER: ["address"],
    Action.ADD_MEMBER: ["bytes", "bytes"],
    Action.REMOVE_MEMBER: ["bytes"],
    Action.SET_THRESHOLD: ["uint8"],
    Action.TRANSFER_REGISTRY_ADMIN: ["address"],
}


@dataclass(frozen=True, slots=True)
class Proposal:
    """A governance action and its ABI-encoded arguments (see :class:`Action` for each layout)."""

    action: Action
    payload: bytes

    @classmethod
    def of(cls, action: Action, *args: Any) -> Proposal:
        """Encode ``args`` for ``action`` (e.g. ``Proposal.of(Action.SUSPEND_ISSUER, "0x...")``)."""
        try:
            return cls(Action(action), abi_encode(_PAYLOAD_TYPES[Action(action)], list(args)))
        except CredError:
            raise
        except Exception as exc:
            raise MalformedInputError(f"arguments do not fit {Action(action).name}") from exc

    @classmethod
    def add_member(cls, pk: bytes, proof: bytes, *, backend: Backend | None = None) -> Proposal:
        """Add ``pk``; its proof of possession travels with the proposal and is checked on chain."""
        return cls.of(Action.ADD_MEMBER, g1_xy(pk, backend=backend), g2_xy(proof, backend=backend))

    @classmethod
    def remove_member(cls, pk: bytes, *, backend: Backend | None = None) -> Proposal:
        return cls.of(Action.REMOVE_MEMBER, g1_xy(pk, backend=backend))

    def arguments(self) -> tuple[Any, ...]:
        """The decoded arguments (for showing a member what they are about to sign)."""
        try:
            return tuple(abi_decode(_PAYLOAD_TYPES[self.action], self.payload))
        except Exception as exc:
            raise MalformedInputError("proposal payload does not decode") from exc


def proposal_digest(proposal: Proposal, *, chain_id: int, governance: str, nonce: int) -> bytes:
    """The 32-byte message members sign: TrustGovernance.proposalDigest(nonce, action, payload) on ``chain_id``."""
    try:
        return keccak(
            abi_encode(
                ["bytes32", "uint256", "address", "uint64", "uint8", "bytes32"],
                [PROPOSAL_TAG, chain_id, governance, nonce, int(proposal.action), keccak(proposal.payload)],
            )
        )
    except Exception as exc:
        raise MalformedInputError("proposal binding is not encodable") from exc


# --- signed trust snapshots ------------------------------------------------------------------------------

_SNAPSHOT_FORMAT: Final = "civicpass-signed-trust-snapshot-v1"


@dataclass(frozen=True, slots=True)
class SignedSnapshot:
    """A trust snapshot file's bytes with the consortium's aggregate signature over :func:`snapshot_digest`."""

    content: bytes
    binding: SnapshotBinding
    signers: int  # bitmap over the member list the counter pinned
    signature: bytes

    def to_bytes(self) -> bytes:
        doc = {
            "format": _SNAPSHOT_FORMAT,
            "chain_id": self.binding.chain_id,
            "governance": self.binding.governance,
            "block_number": self.binding.block_number,
            "signers": self.signers,
            "signature": b64u_encode(self.signature),
            "content": b64u_encode(self.content),
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedSnapshot:
        try:
            doc = json.loads(data)
            if doc["format"] != _SNAPSHOT_FORMAT:
                raise ValueError("format")
            ints = (doc["chain_id"], doc["block_number"], doc["signers"])
            if not all(type(v) is int and v >= 0 for v in ints) or not isinstance(doc["governance"], str):
                raise ValueError("types")
            binding = SnapshotBinding(doc["chain_id"], doc["governance"], doc["block_number"])
            signed = cls(b64u_decode(doc["content"]), binding, doc["signers"], b64u_decode(doc["signature"]))
        except (ValueError, KeyError, TypeError, CredError) as exc:
            raise MalformedInputError("not a signed trust snapshot") from exc
        # one encoding per snapshot: no spare whitespace, key order or base64 slack for an attacker to vary
        if signed.to_bytes() != data:
            raise MalformedInputError("signed trust snapshot is not in canonical form")
        return signed


def sign_snapshot(sk: int, content: bytes, binding: SnapshotBinding, *, backend: Backend | None = None) -> bytes:
    """One member's share of a snapshot signature (aggregate the shares with :func:`aggregate`)."""
    return sign(sk, snapshot_digest(content, binding), backend=backend)


def verify_signed_snapshot(
    data: bytes,
    *,
    members: Sequence[bytes],
    threshold: int,
    chain_id: int,
    governance: str,
    backend: Backend | None = None,
) -> SignedSnapshot:
    """Parse and check a signed snapshot file against the counter's pinned consortium; returns it when good.

    Raises:
        MalformedInputError: the file does not parse.
        SnapshotSignatureError: signed for another chain or contract, or the signature does not match.
        QuorumNotMetError: fewer than ``threshold`` pinned members signed.
    """
    signed = SignedSnapshot.from_bytes(data)
    b = signed.binding
    if b.chain_id != chain_id or b.governance.lower() != governance.lower():
        raise SnapshotSignatureError("snapshot signed for another chain or governance contract")
    verify_quorum(
        snapshot_digest(signed.content, b), signed.signature, signed.signers,
        members=members, threshold=threshold, backend=backend,
    )
    return signed

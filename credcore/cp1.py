"""Compact QR credentials, ``CP1:``: a CWT signed by the issuer, shown with a holder proof (docs/architecture.md).

Wire format (all CBOR in deterministic encoding, RFC 8949 §4.2; then Base45 after the ``CP1:`` prefix)::

    credential   = 18([ << {1: -7, 4: kid8} >>, {}, << claims >>, issuer_signature ])    ; COSE_Sign1, ES256
    claims       = { 4: exp, 6: iat, 8: holder_key, -1: profile_id, -2: [list_id, index], -3: {key: value} }
    presentation = [ credential (bstr), time_step, nonce / null, holder_signature ]
    holder_signature = ES256 over ["CP1-holder-proof", sha256(credential), time_step, nonce / null]

- ``kid8`` is :func:`credcore.trust.kid8` of the issuer key's RFC 7638 thumbprint. It sits in the protected
  header (same size as unprotected here, and signed). There is no ``iss``: the key identifies the issuer.
- ``exp``/``iat`` are RFC 8392 claims 4/6. Claim 8 (``cnf``, RFC 8747) holds the holder's P-256 key as a
  33-byte SEC1 compressed point rather than a 45-byte COSE_Key map: the byte budget, in a closed format.
- Claims -1..-3 are CP1's own, one CBOR byte each: the profile (:mod:`credcore.profiles`), the status
  list reference (the issuer's list id and index; the list itself comes from the trust snapshot), and the
  profile's claims under the profile's small keys. They are unassigned in the IANA CWT registry's
  standards-action range; a private-use key (< -65536) would cost 5 bytes each, and only civicpass reads
  CP1. The draft Token Status List CWT claim (65535 with a URI) would not fit the budget at all.
- The holder proof signs the credential digest (also the Merkle leaf value), a 30-second time step and
  the verifier's nonce when it gave one. The verifier accepts steps within one of its own and each
  (digest, step, nonce) once, through its replay guard. No zlib: CBOR of this size does not compress.

Budget: at most 300 bytes before Base45, so the QR is version 13-M or lower. :func:`issue_cp1` refuses a
credential over :data:`MAX_CREDENTIAL_BYTES`, which leaves room for the largest holder proof (a 32-char
nonce), so every presentation of an issued credential fits by construction.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, NamedTuple

from credcore import _cose
from credcore.errors import (
    InvalidKeyError,
    MalformedInputError,
    MalformedPresentationError,
    PayloadTooLargeError,
    UnsupportedAlgorithmError,
)
from credcore.keys import PublicKey, SigningKey
from credcore.ports import ReplayGuard
from credcore.profiles import PROFILES, PROFILES_BY_ID, Profile
from credcore.qr import decode_qr_text, encode_qr_text
from credcore.trust import IssuerKey, TrustedIssuer, TrustSnapshot, kid8
from credcore.verification import Check, CheckRecorder, Code, StopVerification, VerificationResult

__all__ = [
    "FORMAT",
    "MAX_CREDENTIAL_BYTES",
    "MAX_NONCE_CHARS",
    "MAX_PRESENTATION_BYTES",
    "MAX_TEXT_CHARS",
    "PREFIX",
    "PROFILES",
    "TIME_STEP",
    "DecodedCp1",
    "credential_digest",
    "decode_cp1",
    "issue_cp1",
    "present_cp1",
    "verify_cp1",
]

FORMAT: Final = "cp1"
PREFIX: Final = "CP1:"
TIME_STEP: Final = 30
#: The design budget for a presentation, before Base45.
MAX_PRESENTATION_BYTES: Final = 300
MAX_NONCE_CHARS: Final = 32
#: Room the holder proof needs at most: array head, bstr head, step, nonce text, 64-byte signature.
_PROOF_OVERHEAD: Final = 1 + 2 + 5 + (2 + MAX_NONCE_CHARS) + (2 + 64)
MAX_CREDENTIAL_BYTES: Final = MAX_PRESENTATION_BYTES - _PROOF_OVERHEAD
#: Verifiers refuse longer text before decoding anything (a v13-M QR holds 483 characters).
MAX_TEXT_CHARS: Final = 1_000

_EXP, _IAT, _CNF = 4, 6, 8  # RFC 8392 §4, RFC 8747 §3.1
_PROFILE, _STATUS, _CLAIMS = -1, -2, -3
_CLAIM_KEYS: Final = frozenset({_EXP, _IAT, _CNF, _PROFILE, _STATUS, _CLAIMS})
_TIME_MAX: Final = 2**32 - 1  # unix seconds until 2106: times and time steps fit 5 CBOR bytes
_U32_MAX: Final = 2**32 - 1
_NONCE: Final = re.compile(rf"[A-Za-z0-9._~-]{{1,{MAX_NONCE_CHARS}}}")
_HOLDER_CONTEXT: Final = "CP1-holder-proof"


def credential_digest(credential: bytes) -> bytes:
    """SHA-256 of the issuer-signed COSE_Sign1 bytes: the Merkle leaf value and the holder proof's subject."""
    return hashlib.sha256(credential).digest()


def _uint(value: object, limit: int) -> bool:
    return type(value) is int and 0 <= value <= limit


# --- parsing ------------------------------------------------------------------------------------------
class _Credential(NamedTuple):  # NamedTuple, not a frozen dataclass: built on every verification
    raw: bytes
    digest: bytes
    sign1: _cose.Sign1
    alg: int | str
    kid: bytes
    iat: int
    exp: int
    holder_key: bytes
    profile_id: int
    status_list_id: int
    status_index: int
    claims: dict[int, Any]


def _parse_credential(raw: bytes) -> _Credential:
    """Strictly parse the issuer-signed part; raises :class:`MalformedInputError`. Nothing is verified."""
    if type(raw) is not bytes:
        raise MalformedInputError("CP1 credential is not bytes")
    common = _read_credential(raw)
    return _decode_credential(raw) if common is None else common


def _decode_credential(raw: bytes) -> _Credential:
    """:func:`_parse_credential` by the general path: any CBOR in the strict subset, then the checks."""
    sign1 = _cose.parse_sign1(raw, "CP1 credential")
    header = sign1.header
    alg, kid = header.get(_cose.HDR_ALG), header.get(_cose.HDR_KID)
    if set(header) != {_cose.HDR_ALG, _cose.HDR_KID} or not isinstance(alg, int | str) or type(alg) is bool:
        raise MalformedInputError("CP1 protected header must hold exactly alg and kid")
    if type(kid) is not bytes or len(kid) != 8:
        raise MalformedInputError("CP1 kid must be 8 bytes")
    claims = _cose.loads(sign1.payload, "CP1 claims")
    if type(claims) is not dict or set(claims) != _CLAIM_KEYS:
        raise MalformedInputError("CP1 claims are not the expected set")
    iat, exp, holder, profile_id, status, profile_claims = (
        claims[_IAT],
        claims[_EXP],
        claims[_CNF],
        claims[_PROFILE],
        claims[_STATUS],
        claims[_CLAIMS],
    )
    if not (_uint(iat, _TIME_MAX) and _uint(exp, _TIME_MAX) and _uint(profile_id, 0xFFFF)):
        raise MalformedInputError("CP1 iat, exp or profile is not a bounded unsigned integer")
    if type(holder) is not bytes or len(holder) != 33 or holder[0] not in (2, 3):
        raise MalformedInputError("CP1 cnf is not a compressed P-256 point")
    if type(status) is not list or len(status) != 2 or not all(_uint(v, _U32_MAX) for v in status):
        raise MalformedInputError("CP1 status is not [list id, index]")
    if type(profile_claims) is not dict or not all(_plain_claim(k, v) for k, v in profile_claims.items()):
        raise MalformedInputError("CP1 profile claims have unexpected keys or types")
    return _Credential(
        raw, credential_digest(raw), sign1, alg, kid, iat, exp, holder, profile_id, status[0], status[1], profile_claims
    )


def _plain_claim(key: object, value: object) -> bool:
    # The types any profile may use (see credcore.profiles.ClaimType); the profile checks the rest.
    if not _uint(key, 23):
        return False
    if type(value) is list:
        return len(value) <= 23 and all(_uint(v, _U32_MAX) for v in value)
    return type(value) in (bool, bytes) or _uint(value, _U32_MAX)


class _Presentation(NamedTuple):
    credential: _Credential
    step: int
    nonce: str | None
    signature: bytes
    size: int


def _parse_presentation(text: str) -> _Presentation:
    try:
        data = decode_qr_text(text, PREFIX, max_chars=MAX_TEXT_CHARS)
        common = _read_presentation(data)
        return _decode_presentation(data) if common is None else common
    except PayloadTooLargeError:
        raise
    except MalformedInputError as err:
        raise MalformedPresentationError(err.detail) from None


def _decode_presentation(data: bytes) -> _Presentation:
    """The presentation bytes (after Base45) by the general path; raises :class:`MalformedInputError`."""
    envelope = _cose.loads(data, "CP1 presentation")
    if type(envelope) is not list or len(envelope) != 4:
        raise MalformedInputError("CP1 presentation is not a four-element array")
    raw, step, nonce, signature = envelope
    if not _uint(step, _TIME_MAX) or type(signature) is not bytes or len(signature) != 64:
        raise MalformedInputError("CP1 holder proof has the wrong types")
    if nonce is not None and (type(nonce) is not str or _NONCE.fullmatch(nonce) is None):
        raise MalformedInputError("CP1 nonce is not a short URL-safe string")
    if type(raw) is not bytes:
        raise MalformedInputError("CP1 credential is not bytes")
    return _Presentation(_decode_credential(raw), step, nonce, signature, len(data))


# --- the common shape, read at fixed offsets -----------------------------------------------------------
# Every presentation an issue_cp1/present_cp1 pair makes has one layout: the same heads at the same places,
# with only integers, strings and the claims map varying. The general path (_cose.loads, then the checks in
# _decode_credential / _decode_presentation) makes Python calls per CBOR item, while reading this layout
# directly is a handful of slices. The readers below accept only bytes that the general
# path accepts too and return exactly what it would return; at the first byte that differs from the layout
# (another alg, a non-minimal head, a truncated string, an unexpected type...) they return None, and the
# general path decides, with its own error. So the fast path can change speed, never a verdict or an error;
# tests/unit/credcore/test_cp1_fast_path.py checks that differentially, including every single-byte change.

_SIGN1_ES256_KID8: Final = b"\xd2\x84\x4d\xa2\x01\x26\x04\x48"  # 18([<<{1: -7, 4: h'<8 bytes>'}>>, ...
_SIG64: Final = b"\x58\x40"  # bstr of 64 bytes


class _Unusual(Exception):
    """Internal: the bytes leave the common layout; the general parser takes over."""


def _read_uint(data: bytes, pos: int) -> tuple[int, int]:
    """An unsigned integer below 2**32 in its shortest head at ``pos``, and the position after it."""
    head = data[pos]
    if head < 0x18:
        return head, pos + 1
    if head == 0x18:
        value = data[pos + 1]
        if value < 0x18:
            raise _Unusual
        return value, pos + 2
    if head == 0x19:
        end = pos + 3
        value = int.from_bytes(data[pos + 1 : end], "big")
        if value < 0x100:
            raise _Unusual
        return value, end
    if head == 0x1A:
        end = pos + 5
        value = int.from_bytes(data[pos + 1 : end], "big")
        if value < 0x1_0000:
            raise _Unusual
        return value, end
    raise _Unusual


def _read_bstr(data: bytes, pos: int) -> tuple[bytes, int]:
    """A byte string of at most 255 bytes in its shortest head at ``pos``, and the position after it."""
    head = data[pos]
    if 0x40 <= head < 0x58:
        start = pos + 1
        end = start + head - 0x40
    elif head == 0x58 and data[pos + 1] >= 0x18:
        start = pos + 2
        end = start + data[pos + 1]
    else:
        raise _Unusual
    if end > len(data):
        raise _Unusual
    return data[start:end], end


def _read_plain_claims(data: bytes, pos: int) -> tuple[dict[int, Any], int]:
    """The profile claims map: keys 0..23 ascending; values as :func:`_plain_claim` allows."""
    head = data[pos]
    if not 0xA0 <= head < 0xB8:
        raise _Unusual
    pos += 1
    claims: dict[int, Any] = {}
    previous = -1
    for _ in range(head - 0xA0):
        key, value = data[pos], data[pos + 1]
        if key <= previous or key >= 0x18:
            raise _Unusual
        previous = key
        if value < 0x18:  # small integers inline: most claims are codes or list items below 24
            claims[key] = value
            pos += 2
        elif value in (0xF4, 0xF5):
            claims[key] = value == 0xF5
            pos += 2
        elif value < 0x20:
            claims[key], pos = _read_uint(data, pos + 1)
        elif 0x40 <= value <= 0x58:
            claims[key], pos = _read_bstr(data, pos + 1)
        elif 0x80 <= value < 0x98:
            pos += 2
            items = []
            for _ in range(value - 0x80):
                item = data[pos]
                if item < 0x18:
                    items.append(item)
                    pos += 1
                else:
                    item, pos = _read_uint(data, pos)
                    items.append(item)
            claims[key] = items
        else:
            raise _Unusual
    return claims, pos


# The fixed start of a common credential, up to the profile id: tag, array and protected header with alg -7 and
# an 8-byte kid, empty unprotected map, payload head (one length byte), then in the payload the map head, exp and
# iat as 4-byte integers (any time after 1970-01-01T18:12Z), and the holder key as a 33-byte string.
_COMMON_START: Final = struct.Struct(">8s8s2sB3sI2sI3s33sB")
_COMMON_MARKS: Final = (_SIGN1_ES256_KID8, b"\xa0\x58", b"\xa6\x04\x1a", b"\x06\x1a", b"\x08\x58\x21", 0x20)
_PAYLOAD_AT: Final = 19  # raw[19:] is the payload
_PROFILE_AT: Final = _COMMON_START.size  # the profile id's head, after the 0x20 (-1) key at the end of it


def _read_credential(raw: bytes) -> _Credential | None:
    """:func:`_parse_credential` for the common layout, or None (see above)."""
    try:
        # 18([<<{1: -7, 4: kid}>>, {}, <<{4: exp, 6: iat, 8: holder_key, -1: profile, -2: [list id, index],
        #     -3: claims}>>, signature])
        magic, kid, between, size, exp_head, exp, iat_head, iat, cnf_head, holder, profile_key = (
            _COMMON_START.unpack_from(raw)
        )
        end = _PAYLOAD_AT + size
        if (
            (magic, between, exp_head, iat_head, cnf_head, profile_key) != _COMMON_MARKS
            or size < 0x18
            or raw[end : end + 2] != _SIG64
            or end + 66 != len(raw)
            or exp < 0x1_0000  # shorter heads are required for smaller values
            or iat < 0x1_0000
            or holder[0] not in (2, 3)
        ):
            return None
        # -1: profile id, -2: [list id, ...]; both one byte in the common case
        profile_id, list_mark, list_id = raw[_PROFILE_AT], raw[_PROFILE_AT + 1 : _PROFILE_AT + 3], raw[_PROFILE_AT + 3]
        pos = _PROFILE_AT + 4
        if profile_id >= 0x18 or list_mark != b"\x21\x82" or list_id >= 0x18:
            profile_id, pos = _read_uint(raw, _PROFILE_AT)
            if profile_id > 0xFFFF or raw[pos : pos + 2] != b"\x21\x82":
                return None
            list_id, pos = _read_uint(raw, pos + 2)
        index, pos = _read_uint(raw, pos)
        if raw[pos] != 0x22:
            return None
        claims, pos = _read_plain_claims(raw, pos + 1)
        if pos != end:
            return None
    except (_Unusual, IndexError, struct.error):
        return None
    header = {_cose.HDR_ALG: _cose.ALG_ES256, _cose.HDR_KID: kid}
    sign1 = _cose.Sign1(raw[3:16], header, raw[_PAYLOAD_AT:end], raw[-64:])
    return _Credential(
        raw, credential_digest(raw), sign1, _cose.ALG_ES256, kid, iat, exp, holder, profile_id, list_id, index, claims
    )


def _read_presentation(data: bytes) -> _Presentation | None:
    """:func:`_parse_presentation` for the common layout (after Base45), or None (see above)."""
    try:
        if data[0] != 0x84:  # [credential, step, nonce / null, holder signature]
            return None
        raw, pos = _read_bstr(data, 1)
        step, pos = _read_uint(data, pos)
        head = data[pos]
        if head == 0xF6:
            nonce = None
            pos += 1
        else:
            if 0x60 <= head < 0x78:
                start, end = pos + 1, pos + 1 + head - 0x60
            elif head == 0x78 and data[pos + 1] >= 0x18:
                start, end = pos + 2, pos + 2 + data[pos + 1]
            else:
                return None
            nonce = data[start:end].decode("ascii")  # anything else fails _NONCE anyway
            if end > len(data) or _NONCE.fullmatch(nonce) is None:
                return None
            pos = end
        if data[pos : pos + 2] != _SIG64 or pos + 66 != len(data):
            return None
    except (_Unusual, IndexError, UnicodeDecodeError):
        return None
    credential = _read_credential(raw)
    if credential is None:
        return None
    return _Presentation(credential, step, nonce, data[-64:], len(data))


def _holder_input(digest: bytes, step: int, nonce: str | None) -> bytes:
    return _cose.holder_proof_input(_HOLDER_CONTEXT, digest, step, nonce)


# --- issuer and holder ------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _signer_kid8(point: bytes) -> bytes:
    # An issuer signs thousands of copies with one key: derive its thumbprint (JWK + JSON + SHA-256) once.
    return kid8(PublicKey.from_bytes("P-256", point).thumbprint_bytes())


def issue_cp1(
    claims: Mapping[str, Any],
    *,
    profile: str,
    signer: SigningKey,
    holder_key: PublicKey,
    status_list_id: int,
    status_index: int,
    iat: int,
    exp: int,
) -> bytes:
    """Issue one single-use CP1 credential (the COSE_Sign1 bytes) for ``holder_key``.

    ``claims`` are the profile's claims by name, in the profile's types (:mod:`credcore.profiles`).

    Raises:
        MalformedInputError: unknown profile, claims that do not fit it, bad numbers, ``exp <= iat``.
        UnsupportedAlgorithmError: a signer or holder key other than P-256 (ES256).
        PayloadTooLargeError: over :data:`MAX_CREDENTIAL_BYTES`, so a presentation could exceed the budget.
    """
    spec = PROFILES.get(profile)
    if spec is None:
        raise MalformedInputError("unknown CP1 profile", profile=profile)
    if signer.alg != "ES256" or holder_key.curve != "P-256":
        raise UnsupportedAlgorithmError("CP1 uses ES256 (P-256) issuer and holder keys only")
    if not (_uint(iat, _TIME_MAX) and _uint(exp, _TIME_MAX) and exp > iat):
        raise MalformedInputError("iat and exp must be unix seconds with exp after iat")
    if not (_uint(status_list_id, _U32_MAX) and _uint(status_index, _U32_MAX)):
        raise MalformedInputError("status list id and index must be 32-bit unsigned integers")
    payload = _cose.dumps(
        {
            _EXP: exp,
            _IAT: iat,
            _CNF: holder_key.to_bytes(compressed=True),
            _PROFILE: spec.id,
            _STATUS: [status_list_id, status_index],
            _CLAIMS: spec.encode_claims(claims),
        }
    )
    header = {_cose.HDR_ALG: _cose.ALG_ES256, _cose.HDR_KID: _signer_kid8(signer.public_key.to_bytes())}
    credential = _cose.sign1(header, payload, signer)
    if len(credential) > MAX_CREDENTIAL_BYTES:
        raise PayloadTooLargeError("CP1 credential exceeds its byte budget", limit=MAX_CREDENTIAL_BYTES)
    return credential


def present_cp1(credential: bytes, *, holder_key: SigningKey, now: int, nonce: str | None = None) -> str:
    """The ``CP1:`` text for a QR code: ``credential`` with a holder proof for the time step of ``now``.

    Raises:
        MalformedInputError: the credential does not parse, or the nonce is not 1-32 URL-safe characters.
        InvalidKeyError: ``holder_key`` is not the key the credential was issued to.
    """
    parsed = _parse_credential(credential)
    if holder_key.curve != "P-256" or holder_key.public_key.to_bytes(compressed=True) != parsed.holder_key:
        raise InvalidKeyError("holder key does not match the credential")
    if nonce is not None and (not isinstance(nonce, str) or _NONCE.fullmatch(nonce) is None):
        raise MalformedInputError(f"nonce must be 1 to {MAX_NONCE_CHARS} URL-safe characters")
    if not _uint(now, _TIME_MAX):
        raise MalformedInputError("now must be unix seconds")
    step = now // TIME_STEP
    signature = holder_key.sign(_holder_input(parsed.digest, step, nonce))
    return encode_qr_text(PREFIX, _cose.dumps([credential, step, nonce, signature]))


# --- verifier ---------------------------------------------------------------------------------------------
def verify_cp1(
    text: str,
    *,
    trust: TrustSnapshot,
    now: int,
    nonce: str | None = None,
    replay: ReplayGuard | None = None,
) -> VerificationResult:
    """Verify ``CP1:`` text against ``trust`` at ``now``; every failure is a failed check with a code.

    Checks in the pipeline's order (credcore.verification): format, trust, key, signature, validity, status, holder
    binding (nonce, freshness, holder signature, replay). ``nonce`` is the verifier's, or ``None`` if it gave none:
    a presentation must carry exactly that.

    Raises:
        PayloadTooLargeError: text over :data:`MAX_TEXT_CHARS`, refused before decoding.
        MalformedPresentationError: text that is not a well-formed CP1 presentation.
    """
    presentation = _parse_presentation(text)
    rec = CheckRecorder(FORMAT, trust, now)
    try:
        return rec.result(_check(presentation, rec, nonce, replay))
    except StopVerification:
        return rec.result()


def _check(p: _Presentation, rec: CheckRecorder, nonce: str | None, replay: ReplayGuard | None) -> dict[str, Any]:
    cred = p.credential
    rec.credential_digest = cred.digest
    if type(cred.alg) is not int or cred.alg != _cose.ALG_ES256:
        raise rec.fail(Check.FORMAT, Code.UNSUPPORTED_ALGORITHM, "CP1 allows ES256 only")
    profile = PROFILES_BY_ID.get(cred.profile_id)
    if profile is None:
        raise rec.fail(Check.FORMAT, Code.WRONG_TYPE, "unknown CP1 profile")
    rec.profile, rec.credential_type = profile.name, profile.vct
    try:
        claims = profile.decode_claims(cred.claims)
    except MalformedInputError:
        raise rec.fail(Check.FORMAT, Code.MALFORMED, "claims do not match the profile") from None
    rec.ok(Check.FORMAT)

    found = _issuer_key(cred, profile, rec.trust, rec.now)
    if found is None:
        raise rec.fail(Check.TRUST, Code.UNKNOWN_KEY, "no trusted issuer key has this key id")
    issuer = rec.check_trust(found[0], profile.vct)
    key = rec.check_key(found[1], cred.iat)
    if not key.public_key.verify(cred.sign1.signature, cred.sign1.to_be_signed(), "ES256"):
        raise rec.fail(Check.SIGNATURE, Code.SIGNATURE_INVALID, "issuer signature does not verify")
    rec.ok(Check.SIGNATURE)
    rec.check_validity(cred.iat, cred.exp)
    rec.check_status_in(rec.trust.status_list_by_id(issuer.issuer_id, cred.status_list_id), cred.status_index)

    if p.nonce != nonce:
        raise rec.fail(Check.HOLDER_BINDING, Code.NONCE_MISMATCH, "nonce is not the one this verifier gave")
    if abs(p.step - rec.now // TIME_STEP) > 1:
        raise rec.fail(Check.HOLDER_BINDING, Code.PROOF_NOT_FRESH, "holder proof is not from the current time step")
    try:
        holder = PublicKey.from_bytes("P-256", cred.holder_key)
    except InvalidKeyError:
        raise rec.fail(Check.HOLDER_BINDING, Code.MALFORMED, "holder key is not a P-256 point") from None
    message = _holder_input(cred.digest, p.step, p.nonce)
    if not holder.verify(p.signature, message, "ES256"):
        raise rec.fail(Check.HOLDER_BINDING, Code.HOLDER_SIGNATURE_INVALID, "holder signature does not verify")
    if replay is not None:
        # One acceptance per (credential, step, nonce); once step + 1 is over the step is stale anyway.
        rec.check_replay(replay, hashlib.sha256(message).digest(), (p.step + 2) * TIME_STEP)
    rec.ok(Check.HOLDER_BINDING)
    return claims


def _issuer_key(
    cred: _Credential, profile: Profile, trust: TrustSnapshot, now: int
) -> tuple[TrustedIssuer, IssuerKey] | None:
    """The (issuer, key) the kid names. A kid8 may match several keys; prefer one that passes everything."""
    candidates = trust.keys_by_kid8(cred.kid)
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    tbs = cred.sign1.to_be_signed()
    signed = [(i, k) for i, k in candidates if k.public_key.verify(cred.sign1.signature, tbs, "ES256")]
    for issuer, key in signed:
        if issuer.may_issue(profile.vct) and not issuer.suspended(now) and key.valid_at(cred.iat):
            return issuer, key
    return (signed or list(candidates))[0]


# --- inspection -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DecodedCp1:
    """A CP1 presentation taken apart for display (``civicpass inspect``). Nothing here is verified."""

    profile: str | None
    profile_id: int
    vct: str | None
    alg: int | str
    kid: bytes
    iat: int
    exp: int
    holder_key: bytes
    status_list_id: int
    status_index: int
    claims: Mapping[str, Any]
    time_step: int
    nonce: str | None
    credential: bytes
    credential_digest: bytes
    size_bytes: int
    size_chars: int

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "verified": False,
            "profile": self.profile,
            "profile_id": self.profile_id,
            "vct": self.vct,
            "header": {"alg": "ES256" if self.alg == _cose.ALG_ES256 else self.alg, "kid": self.kid.hex()},
            "iat": self.iat,
            "exp": self.exp,
            "cnf": {"holder_key": self.holder_key.hex()},
            "status": {"list_id": self.status_list_id, "index": self.status_index},
            "claims": {k: v.hex() if isinstance(v, bytes) else v for k, v in self.claims.items()},
            "holder_proof": {"time_step": self.time_step, "nonce": self.nonce},
            "credential_digest": self.credential_digest.hex(),
            "size": {"bytes": self.size_bytes, "chars": self.size_chars},
        }


def decode_cp1(text: str) -> DecodedCp1:
    """Take ``CP1:`` text apart without verifying anything. Raises like :func:`verify_cp1` for bad text."""
    p = _parse_presentation(text)
    cred = p.credential
    profile = PROFILES_BY_ID.get(cred.profile_id)
    claims: Mapping[str, Any]
    try:
        claims = profile.decode_claims(cred.claims) if profile else {}
    except MalformedInputError:
        profile = None
    if profile is None:
        claims = {str(k): v for k, v in sorted(cred.claims.items())}
    return DecodedCp1(
        profile=profile.name if profile else None,
        profile_id=cred.profile_id,
        vct=profile.vct if profile else None,
        alg=cred.alg,
        kid=cred.kid,
        iat=cred.iat,
        exp=cred.exp,
        holder_key=cred.holder_key,
        status_list_id=cred.status_list_id,
        status_index=cred.status_index,
        claims=claims,
        time_step=p.step,
        nonce=p.nonce,
        credential=cred.raw,
        credential_digest=cred.digest,
        size_bytes=p.size,
        size_chars=len(text),
    )

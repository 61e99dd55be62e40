"""CP1 bytes: the format's constants, the parsed shapes, and the two readers of the same bytes.

The general path (:func:`decode_credential`, :func:`decode_presentation`) reads any CBOR in the strict subset and
then checks it; the fixed-layout readers (:func:`read_credential`, :func:`read_presentation`) take the one layout
:mod:`credcore.cp1.issue` and :mod:`credcore.cp1.present` make in a handful of slices, and step aside for
anything else. :func:`parse_credential` and :func:`parse_presentation` try the second, then the first. The wire
format itself is described in :mod:`credcore.cp1`.
"""

from __future__ import annotations

import hashlib
import re
import struct
from typing import Any, Final, NamedTuple

from credcore import _cose
from credcore.errors import MalformedInputError, MalformedPresentationError, PayloadTooLargeError
from credcore.qr import decode_qr_text

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

EXP, IAT, CNF = 4, 6, 8  # RFC 8392 §4, RFC 8747 §3.1
PROFILE, STATUS, CLAIMS = -1, -2, -3
_CLAIM_KEYS: Final = frozenset({EXP, IAT, CNF, PROFILE, STATUS, CLAIMS})
TIME_MAX: Final = 2**32 - 1  # unix seconds until 2106: times and time steps fit 5 CBOR bytes
U32_MAX: Final = 2**32 - 1
NONCE: Final = re.compile(rf"[A-Za-z0-9._~-]{{1,{MAX_NONCE_CHARS}}}")
_HOLDER_CONTEXT: Final = "CP1-holder-proof"


def credential_digest(credential: bytes) -> bytes:
    """SHA-256 of the issuer-signed COSE_Sign1 bytes: the Merkle leaf value and the holder proof's subject."""
    return hashlib.sha256(credential).digest()


def uint(value: object, limit: int) -> bool:
    return type(value) is int and 0 <= value <= limit


# --- parsing ------------------------------------------------------------------------------------------
class Credential(NamedTuple):  # NamedTuple, not a frozen dataclass: built on every verification
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


def parse_credential(raw: bytes) -> Credential:
    """Strictly parse the issuer-signed part; raises :class:`MalformedInputError`. Nothing is verified."""
    if type(raw) is not bytes:
        raise MalformedInputError("CP1 credential is not bytes")
    common = read_credential(raw)
    return decode_credential(raw) if common is None else common


def decode_credential(raw: bytes) -> Credential:
    """:func:`parse_credential` by the general path: any CBOR in the strict subset, then the checks."""
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
        claims[IAT],
        claims[EXP],
        claims[CNF],
        claims[PROFILE],
        claims[STATUS],
        claims[CLAIMS],
    )
    if not (uint(iat, TIME_MAX) and uint(exp, TIME_MAX) and uint(profile_id, 0xFFFF)):
        raise MalformedInputError("CP1 iat, exp or profile is not a bounded unsigned integer")
    if type(holder) is not bytes or len(holder) != 33 or holder[0] not in (2, 3):
        raise MalformedInputError("CP1 cnf is not a compressed P-256 point")
    if type(status) is not list or len(status) != 2 or not all(uint(v, U32_MAX) for v in status):
        raise MalformedInputError("CP1 status is not [list id, index]")
    if type(profile_claims) is not dict or not all(_plain_claim(k, v) for k, v in profile_claims.items()):
        raise MalformedInputError("CP1 profile claims have unexpected keys or types")
    return Credential(
        raw, credential_digest(raw), sign1, alg, kid, iat, exp, holder, profile_id, status[0], status[1], profile_claims
    )


def _plain_claim(key: object, value: object) -> bool:
    # The types any profile may use (see credcore.profiles.ClaimType); the profile checks the rest.
    if not uint(key, 23):
        return False
    if type(value) is list:
        return len(value) <= 23 and all(uint(v, U32_MAX) for v in value)
    return type(value) in (bool, bytes) or uint(value, U32_MAX)


class Presentation(NamedTuple):
    credential: Credential
    step: int
    nonce: str | None
    signature: bytes
    size: int


def parse_presentation(text: str) -> Presentation:
    try:
        data = decode_qr_text(text, PREFIX, max_chars=MAX_TEXT_CHARS)
        common = read_presentation(data)
        return decode_presentation(data) if common is None else common
    except PayloadTooLargeError:
        raise
    except MalformedInputError as err:
        raise MalformedPresentationError(err.detail) from None


def decode_presentation(data: bytes) -> Presentation:
    """The presentation bytes (after Base45) by the general path; raises :class:`MalformedInputError`."""
    envelope = _cose.loads(data, "CP1 presentation")
    if type(envelope) is not list or len(envelope) != 4:
        raise MalformedInputError("CP1 presentation is not a four-element array")
    raw, step, nonce, signature = envelope
    if not uint(step, TIME_MAX) or type(signature) is not bytes or len(signature) != 64:
        raise MalformedInputError("CP1 holder proof has the wrong types")
    if nonce is not None and (type(nonce) is not str or NONCE.fullmatch(nonce) is None):
        raise MalformedInputError("CP1 nonce is not a short URL-safe string")
    if type(raw) is not bytes:
        raise MalformedInputError("CP1 credential is not bytes")
    return Presentation(decode_credential(raw), step, nonce, signature, len(data))


# --- the common shape, read at fixed offsets -----------------------------------------------------------
# Every presentation an issue_cp1/present_cp1 pair makes has one layout: the same heads at the same places,
# with only integers, strings and the claims map varying. The general path (_cose.loads, then the checks in
# decode_credential / decode_presentation) makes Python calls per CBOR item, while reading this layout
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


def read_credential(raw: bytes) -> Credential | None:
    """:func:`parse_credential` for the common layout, or None (see above)."""
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
    return Credential(
        raw, credential_digest(raw), sign1, _cose.ALG_ES256, kid, iat, exp, holder, profile_id, list_id, index, claims
    )


def read_presentation(data: bytes) -> Presentation | None:
    """:func:`parse_presentation` for the common layout (after Base45), or None (see above)."""
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
            nonce = data[start:end].decode("ascii")  # anything else fails NONCE anyway
            if end > len(data) or NONCE.fullmatch(nonce) is None:
                return None
            pos = end
        if data[pos : pos + 2] != _SIG64 or pos + 66 != len(data):
            return None
    except (_Unusual, IndexError, UnicodeDecodeError):
        return None
    credential = read_credential(raw)
    if credential is None:
        return None
    return Presentation(credential, step, nonce, data[-64:], len(data))


def holder_input(digest: bytes, step: int, nonce: str | None) -> bytes:
    return _cose.holder_proof_input(_HOLDER_CONTEXT, digest, step, nonce)

"""IETF Token Status List (draft-ietf-oauth-status-list): the bit array, its compressed form and its JWT.

Each referenced token has an index; its status is ``bits`` wide (1, 2, 4 or 8). Entry ``i`` lives in byte
``i * bits // 8`` starting at the least significant bit (§4.1). The list travels zlib-compressed (RFC 1950)
and base64url-encoded as ``lst``. A decompression bound protects verifiers from zlib bombs.

The issuer serves each list as a Status List Token in JWT form (§5.1): ``typ: statuslist+jwt``, claims
``sub`` (the list's URI), ``iat``, optional ``exp``/``ttl``, and ``status_list``. The chain holds
:func:`status_list_digest` of that exact JWT text, so a verifier accepts a served list only if its digest
matches the chain (so a stale or compromised server cannot roll revocations back), and then checks it with
:func:`verify_status_list_jwt` (§8.3).
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from credcore import jws
from credcore._b64 import b64u_decode, b64u_encode
from credcore.errors import MalformedInputError, PayloadTooLargeError, RefusedError
from credcore.keys import ALGORITHMS, PublicKey, SigningKey

__all__ = [
    "MAX_LIST_BYTES",
    "STATUS_LIST_JWT_TYP",
    "ParsedStatusListJwt",
    "Status",
    "StatusList",
    "StatusListExpiredError",
    "StatusListUriMismatchError",
    "sign_status_list_jwt",
    "status_list_digest",
    "stricter_only",
    "unsafe_decode_status_list_jwt",
    "verify_status_list_jwt",
]

#: Largest decompressed list accepted (8 Mi entries at 1 bit); larger is refused as a zlib bomb.
MAX_LIST_BYTES: Final = 1 << 20
_BITS: Final = frozenset({1, 2, 4, 8})


class Status(IntEnum):
    """Status values registered by the draft (§7.1); 0x03 is application specific and unused here."""

    VALID = 0x00
    INVALID = 0x01
    SUSPENDED = 0x02


@dataclass(frozen=True, slots=True)
class StatusList:
    """An immutable status list. ``set`` returns a new list."""

    bits: int
    data: bytes

    def __post_init__(self) -> None:
        if self.bits not in _BITS:
            raise MalformedInputError("status list 'bits' must be 1, 2, 4 or 8")
        if len(self.data) > MAX_LIST_BYTES:
            raise PayloadTooLargeError("status list is larger than allowed")

    @classmethod
    def empty(cls, size: int, bits: int = 2) -> StatusList:
        """A list of ``size`` entries, all VALID."""
        return cls(bits, bytes((size * bits + 7) // 8))

    @property
    def size(self) -> int:
        return len(self.data) * 8 // self.bits

    def get(self, index: int) -> int:
        """The status at ``index``; raises :class:`MalformedInputError` outside the list."""
        if not 0 <= index < self.size:
            raise MalformedInputError("status index outside the list")
        bit = index * self.bits
        return (self.data[bit // 8] >> (bit % 8)) & ((1 << self.bits) - 1)

    def set(self, index: int, value: int) -> StatusList:
        if not 0 <= value < (1 << self.bits):
            raise MalformedInputError("status value does not fit the list's bits")
        self.get(index)  # bounds check
        bit = index * self.bits
        buf = bytearray(self.data)
        mask = ((1 << self.bits) - 1) << (bit % 8)
        buf[bit // 8] = (buf[bit // 8] & ~mask & 0xFF) | (value << (bit % 8))
        return StatusList(self.bits, bytes(buf))

    def compress(self) -> bytes:
        return zlib.compress(self.data, 9)

    @classmethod
    def decompress(cls, bits: int, compressed: bytes) -> StatusList:
        decomp = zlib.decompressobj()
        try:
            data = decomp.decompress(compressed, MAX_LIST_BYTES + 1)
        except zlib.error:
            raise MalformedInputError("status list is not valid zlib data") from None
        if len(data) > MAX_LIST_BYTES or decomp.unconsumed_tail:
            raise PayloadTooLargeError("status list is larger than allowed")
        if not decomp.eof:
            raise MalformedInputError("status list zlib stream is truncated")
        return cls(bits, data)

    def to_json(self) -> dict[str, object]:
        """The ``status_list`` claim: ``{"bits": n, "lst": base64url(zlib(list))}`` (§4.2)."""
        return {"bits": self.bits, "lst": b64u_encode(self.compress())}

    @classmethod
    def from_json(cls, obj: object) -> StatusList:
        if not isinstance(obj, dict):
            raise MalformedInputError("status_list claim is not an object")
        bits, lst = obj.get("bits"), obj.get("lst")
        if not isinstance(bits, int) or isinstance(bits, bool) or not isinstance(lst, str):
            raise MalformedInputError("status_list claim needs integer 'bits' and string 'lst'")
        if bits not in _BITS:
            raise MalformedInputError("status list 'bits' must be 1, 2, 4 or 8")
        return cls.decompress(bits, b64u_decode(lst))


# --- Status List Token, JWT form (§5.1) -------------------------------------------------------------
STATUS_LIST_JWT_TYP: Final = "statuslist+jwt"
_ANY_ALG: Final = frozenset(ALGORITHMS)  # the key decides; PublicKey.verify refuses an alg that is not its own


#: How strict a status is: valid < suspended < revoked; an unknown value counts as strictest (fail closed).
_RANKS: Final = {int(Status.VALID): 0, int(Status.SUSPENDED): 1, int(Status.INVALID): 2}


def _rank(value: int) -> int:
    return _RANKS.get(value, 3)


def stricter_only(held: StatusList, newer: StatusList) -> StatusList:
    """``held`` with only those entries of ``newer`` that make a status stricter (valid -> suspended -> revoked).

    For a list the issuer signed but whose digest is not on chain yet (the chain is down): it may revoke or
    suspend at once, but only the chain's digest may relax a status (reinstate), so a stale or compromised
    server can still not roll a revocation back. Lists of another shape are refused.
    """
    if held.bits != newer.bits or len(held.data) != len(newer.data):
        raise MalformedInputError("status lists of different shapes cannot be merged")
    if held.data == newer.data:
        return held
    bits, mask = held.bits, (1 << held.bits) - 1
    out = bytearray(held.data)
    chunk = 4096  # changes are sparse: compare slices, then look at the bytes of differing slices only
    for start in range(0, len(out), chunk):
        if held.data[start : start + chunk] == newer.data[start : start + chunk]:
            continue
        for i in range(start, min(start + chunk, len(out))):
            a, b = held.data[i], newer.data[i]
            if a == b:
                continue
            for shift in range(0, 8, bits):
                va, vb = (a >> shift) & mask, (b >> shift) & mask
                if _rank(vb) > _rank(va):
                    out[i] = (out[i] & ~(mask << shift) & 0xFF) | (vb << shift)
    return StatusList(bits, bytes(out))


class StatusListExpiredError(RefusedError):
    code = "status_list_expired"
    title = "Status list token has expired"


class StatusListUriMismatchError(RefusedError):
    code = "status_list_uri_mismatch"
    title = "Status list token is for another URI"


@dataclass(frozen=True, slots=True)
class ParsedStatusListJwt:
    """The verified content of a Status List Token."""

    uri: str
    status_list: StatusList
    iat: int
    exp: int | None
    ttl: int | None


def status_list_digest(token: str) -> bytes:
    """What the chain records for a published list: ``sha256`` of the exact JWT text (32 bytes)."""
    try:
        return hashlib.sha256(token.encode("ascii")).digest()
    except (UnicodeEncodeError, AttributeError):
        raise MalformedInputError("status list token is not ASCII text") from None


def sign_status_list_jwt(
    status_list: StatusList,
    *,
    uri: str,
    signer: SigningKey,
    iat: int,
    exp: int | None = None,
    ttl: int | None = None,
) -> str:
    """Sign ``status_list`` as a ``statuslist+jwt`` for ``uri``; ``kid`` is the signer's RFC 7638 thumbprint."""
    if not isinstance(uri, str) or not uri:
        raise MalformedInputError("status list URI is required")
    if exp is not None and exp <= iat:
        raise MalformedInputError("status list 'exp' must be after 'iat'")
    if ttl is not None and ttl <= 0:
        raise MalformedInputError("status list 'ttl' must be positive")
    claims: dict[str, Any] = {"sub": uri, "iat": iat, "status_list": status_list.to_json()}
    if exp is not None:
        claims["exp"] = exp
    if ttl is not None:
        claims["ttl"] = ttl
    header = {"typ": STATUS_LIST_JWT_TYP, "kid": signer.public_key.thumbprint()}
    return jws.sign(claims, signer, header=header)


def _int_claim(payload: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedInputError(f"status list token '{name}' must be a non-negative integer")
    return value


def _parse_claims(parsed: jws.ParsedJws) -> ParsedStatusListJwt:
    payload = parsed.payload
    sub = payload.get("sub")
    if not isinstance(sub, str) or not sub:
        raise MalformedInputError("status list token needs a 'sub' URI")
    iat = _int_claim(payload, "iat", required=True)
    assert iat is not None
    ttl = _int_claim(payload, "ttl", required=False)
    if ttl == 0:
        raise MalformedInputError("status list token 'ttl' must be positive")
    return ParsedStatusListJwt(
        uri=sub,
        status_list=StatusList.from_json(payload.get("status_list")),
        iat=iat,
        exp=_int_claim(payload, "exp", required=False),
        ttl=ttl,
    )


def verify_status_list_jwt(
    token: str, key: PublicKey, *, now: int, expected_uri: str | None
) -> ParsedStatusListJwt:
    """Verify a Status List Token under ``key`` and return its list (§8.3 validation rules).

    ``expected_uri`` is the ``uri`` of the referenced token's ``status`` claim; ``sub`` must equal it
    (``None`` skips that check, for a list fetched without a referencing token, e.g. in the CLI).

    Raises:
        MalformedInputError: not a ``statuslist+jwt`` or claims malformed (or the list is too large).
        UnsupportedAlgorithmError / SignatureError: algorithm not allowed / signature does not verify.
        StatusListUriMismatchError: ``sub`` is not ``expected_uri``.
        StatusListExpiredError: ``now`` is at or after ``exp``.
    """
    parsed = _parse_claims(jws.verify(token, key, algorithms=_ANY_ALG, typ=STATUS_LIST_JWT_TYP))
    if expected_uri is not None and parsed.uri != expected_uri:
        raise StatusListUriMismatchError()
    if parsed.exp is not None and now >= parsed.exp:
        raise StatusListExpiredError()
    return parsed


def unsafe_decode_status_list_jwt(token: str) -> tuple[dict[str, Any], ParsedStatusListJwt]:
    """Header and claims of a Status List Token WITHOUT checking its signature or expiry (for inspection)."""
    parsed = jws.parse(token, algorithms=_ANY_ALG, typ=STATUS_LIST_JWT_TYP)
    return parsed.header, _parse_claims(parsed)

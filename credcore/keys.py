"""Signing and verification keys, JWK import/export and RFC 7638 thumbprints.

Keys are small wrappers over ``cryptography`` objects. Algorithms come from a fixed allow-list
(:data:`ALGORITHMS`): ``none`` and every HMAC algorithm are absent by construction, so a public key can
never be mistaken for a shared secret. A JWK's ``use``/``key_ops``/``alg`` members are honoured (RFC 7517
§4.2-§4.4). Signatures are raw ``r || s`` (IEEE P1363), as JWS (RFC 7518 §3.4) and COSE (RFC 9053 §2.1) use.

Key generation is the one place credcore draws on OS randomness (through ``cryptography``); ECDSA
signing draws its own nonces inside ``cryptography`` as well. Everything else is deterministic.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from credcore._b64 import b64u_decode, b64u_encode
from credcore.errors import InvalidKeyError, MalformedInputError, UnsupportedAlgorithmError

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "Curve",
    "PublicKey",
    "SigningKey",
    "jwk_thumbprint",
]

Curve = Literal["P-256", "secp256k1", "Ed25519"]
Algorithm = Literal["ES256", "ES256K", "EdDSA"]


@dataclass(frozen=True, slots=True)
class _AlgSpec:
    kty: str
    crv: Curve
    coord_size: int


#: The only algorithms civicpass signs or verifies with. Anything else (``none``, ``HS*``, ``RS*``) is refused.
ALGORITHMS: Final[Mapping[str, _AlgSpec]] = {
    "ES256": _AlgSpec("EC", "P-256", 32),
    "ES256K": _AlgSpec("EC", "secp256k1", 32),
    "EdDSA": _AlgSpec("OKP", "Ed25519", 32),
}
_ALG_FOR_CURVE: Final[Mapping[str, str]] = {spec.crv: alg for alg, spec in ALGORITHMS.items()}
_EC_CURVES: Final[Mapping[str, ec.EllipticCurve]] = {"P-256": ec.SECP256R1(), "secp256k1": ec.SECP256K1()}
_SHA256 = hashes.SHA256()
_ECDSA_SHA256 = ec.ECDSA(_SHA256)  # built once: it sits on the hot path of every verification
# Verification hashes with hashlib and hands OpenSSL the digest: the same ECDSA-with-SHA-256 check, cheaper per call.
_ECDSA_PREHASHED_SHA256 = ec.ECDSA(Prehashed(_SHA256))
_sha256 = hashlib.sha256
_SEC1_COMPRESSED: Final = (b"\x02", b"\x03")  # SEC1 compressed point prefix by the parity of y
# DER headers of an ECDSA-Sig-Value {r, s} for 32-byte r and s with no leading zero byte, by (r >= 2**255, s >= 2**255):
# a leading 0x00 keeps a high-bit INTEGER positive. Exactly the bytes encode_dss_signature gives for such r and s.
_DER_HEADS: Final = {
    (r_high, s_high): (
        bytes((0x30, 68 + r_high + s_high, 0x02, 32 + r_high)) + b"\x00" * r_high,
        bytes((0x02, 32 + s_high)) + b"\x00" * s_high,
    )
    for r_high in (0, 1)
    for s_high in (0, 1)
}


def _der_signature(signature: bytes) -> bytes:
    """DER ECDSA-Sig-Value for raw 64-byte ``r || s``, byte for byte what ``encode_dss_signature`` returns."""
    if signature[0] and signature[32]:  # the common case: no leading zero byte to strip
        head_r, head_s = _DER_HEADS[signature[0] >> 7, signature[32] >> 7]
        return head_r + signature[:32] + head_s + signature[32:]
    return encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))


def _coord(jwk: Mapping[str, Any], name: str, size: int) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise InvalidKeyError(f"JWK member {name!r} missing or not a string")
    raw = b64u_decode(value)
    if len(raw) != size:
        raise InvalidKeyError(f"JWK member {name!r} has the wrong length for the curve")
    return raw


def _check_intent(jwk: Mapping[str, Any], op: str) -> None:
    # RFC 7517 §4.2/§4.3: a key marked for encryption, or whose key_ops omit this operation, is not ours to use.
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise InvalidKeyError("JWK 'use' is not 'sig'")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or op not in ops):
        raise InvalidKeyError(f"JWK 'key_ops' does not allow {op!r}")


def _check_alg(jwk: Mapping[str, Any], curve: Curve) -> None:
    # RFC 7517 §4.4: a key whose 'alg' names another algorithm (Wycheproof: ES521 on a P-256 key) is refused.
    alg = jwk.get("alg")
    if alg is not None and alg != _ALG_FOR_CURVE[curve] and not (curve == "Ed25519" and alg == "Ed25519"):
        raise InvalidKeyError("JWK 'alg' does not match its key type")


def _curve_of(jwk: Mapping[str, Any]) -> Curve:
    kty, crv = jwk.get("kty"), jwk.get("crv")
    for spec in ALGORITHMS.values():
        if spec.kty == kty and spec.crv == crv:
            return spec.crv
    raise UnsupportedAlgorithmError("key type or curve not allowed")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint (base64url) of a public JWK's required members."""
    kty = jwk.get("kty")
    if kty == "EC":
        members: tuple[str, ...] = ("crv", "kty", "x", "y")
    elif kty == "OKP":
        members = ("crv", "kty", "x")
    else:
        raise UnsupportedAlgorithmError("key type not allowed")
    try:
        canonical = {m: jwk[m] for m in members}
    except KeyError:
        raise InvalidKeyError("JWK lacks a required member") from None
    data = json.dumps(canonical, separators=(",", ":"), sort_keys=True).encode()
    return b64u_encode(hashlib.sha256(data).digest())


def _encoded(key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> tuple[bytes, bytes | None]:
    """``(compressed, uncompressed)`` SEC1 points of an EC key; ``(raw, None)`` for Ed25519."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw), None
    return key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint), key.public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint
    )


@dataclass(frozen=True, slots=True, eq=False)
class PublicKey:
    """A verification key on an allowed curve.

    Build one with :meth:`from_jwk` or :meth:`from_bytes` (or :attr:`SigningKey.public_key`). Besides the
    ``cryptography`` key it keeps the key's encoded point, fixed at construction: ``public_bytes`` serialises
    afresh on every call, and ``to_bytes``, ``==`` and ``hash`` sit on the issuer's per-copy path.
    """

    curve: Curve
    _key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey = field(repr=False)
    # SEC1 compressed point (EC) or the 32 raw bytes (Ed25519): the key's identity for ==, hash and to_bytes().
    _compressed: bytes = field(repr=False)
    # SEC1 uncompressed point when the constructor had it for free (an EC JWK, 65-byte SEC1, a SigningKey).
    _uncompressed: bytes | None = field(repr=False)

    # --- constructors ---------------------------------------------------------------------------
    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> PublicKey:
        """Import a public JWK (private members, if present, are ignored). Raises on anything off-curve."""
        if not isinstance(jwk, Mapping):
            raise InvalidKeyError("JWK is not an object")
        curve = _curve_of(jwk)
        _check_alg(jwk, curve)
        _check_intent(jwk, "verify")
        if curve == "Ed25519":
            return cls._from_key(curve, ed25519.Ed25519PublicKey.from_public_bytes(_coord(jwk, "x", 32)))
        x, y = _coord(jwk, "x", 32), _coord(jwk, "y", 32)
        return cls._from_sec1(curve, b"\x04" + x + y)

    @classmethod
    def from_bytes(cls, curve: Curve, data: bytes) -> PublicKey:
        """Import SEC1 (compressed or uncompressed) for EC curves, or 32 raw bytes for Ed25519."""
        if curve == "Ed25519":
            if len(data) != 32:
                raise InvalidKeyError("Ed25519 public key must be 32 bytes")
            return cls._from_key(curve, ed25519.Ed25519PublicKey.from_public_bytes(data))
        if curve not in _EC_CURVES:
            raise UnsupportedAlgorithmError("curve not allowed")
        return cls._from_sec1(curve, data)

    @classmethod
    def _from_sec1(cls, curve: Curve, data: bytes) -> PublicKey:
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(_EC_CURVES[curve], data)
        except ValueError:
            raise InvalidKeyError("point is not on the curve") from None
        # Accepted, so ``data`` is 02/03 || x or 04 || x || y with x, y < p (OpenSSL refuses coordinates of
        # p or more; tests pin that), which is what public_bytes would return: take the points from it.
        # (from_encoded_point takes bytes only, so ``data`` is not a buffer someone could change later.)
        if data[0] == 4:
            return cls(curve, key, _SEC1_COMPRESSED[data[-1] & 1] + data[1:33], data)
        return cls(curve, key, data, None)

    @classmethod
    def _from_key(cls, curve: Curve, key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> PublicKey:
        return cls(curve, key, *_encoded(key))

    # --- export ---------------------------------------------------------------------------------
    @property
    def alg(self) -> str:
        return _ALG_FOR_CURVE[self.curve]

    def to_bytes(self, *, compressed: bool = True) -> bytes:
        """SEC1 point (33 bytes compressed) for EC keys; 32 raw bytes for Ed25519."""
        if compressed or self.curve == "Ed25519":
            return self._compressed
        if self._uncompressed is not None:
            return self._uncompressed
        return self._key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)

    def to_jwk(self) -> dict[str, str]:
        if isinstance(self._key, ed25519.Ed25519PublicKey):
            return {"kty": "OKP", "crv": "Ed25519", "x": b64u_encode(self.to_bytes())}
        raw = self.to_bytes(compressed=False)
        return {"kty": "EC", "crv": self.curve, "x": b64u_encode(raw[1:33]), "y": b64u_encode(raw[33:])}

    def thumbprint(self) -> str:
        """RFC 7638 thumbprint, base64url."""
        return jwk_thumbprint(self.to_jwk())

    def thumbprint_bytes(self) -> bytes:
        return b64u_decode(self.thumbprint())

    # --- verification ---------------------------------------------------------------------------
    def verify(self, signature: bytes, data: bytes, alg: str | None = None) -> bool:
        """True if ``signature`` (raw r||s, or Ed25519) is valid over ``data``. Never raises on bad input."""
        if alg is not None and alg != _ALG_FOR_CURVE[self.curve]:
            return False
        key = self._key
        if isinstance(key, ed25519.Ed25519PublicKey):
            try:
                key.verify(signature, data)
            except InvalidSignature:
                return False
            return True
        if len(signature) != 64:
            return False
        try:
            key.verify(_der_signature(signature), _sha256(data).digest(), _ECDSA_PREHASHED_SHA256)
        except (InvalidSignature, ValueError):
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and self._compressed == other._compressed

    def __hash__(self) -> int:
        return hash(self._compressed)


@dataclass(frozen=True, slots=True, eq=False)
class SigningKey:
    """A private key on an allowed curve. ``repr`` never shows key material."""

    curve: Curve
    _key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey = field(repr=False)
    # Derived once here: an issuer reads it for every copy it signs, and building it is not free.
    _public: PublicKey = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_public", PublicKey._from_key(self.curve, self._key.public_key()))

    @classmethod
    def generate(cls, curve: Curve = "P-256") -> SigningKey:
        if curve == "Ed25519":
            return cls(curve, ed25519.Ed25519PrivateKey.generate())
        if curve not in _EC_CURVES:
            raise UnsupportedAlgorithmError("curve not allowed")
        return cls(curve, ec.generate_private_key(_EC_CURVES[curve]))

    @classmethod
    def from_secret(cls, curve: Curve, secret: bytes) -> SigningKey:
        """Build from the 32-byte private scalar (EC) or seed (Ed25519)."""
        if len(secret) != 32:
            raise InvalidKeyError("private key must be 32 bytes")
        if curve == "Ed25519":
            return cls(curve, ed25519.Ed25519PrivateKey.from_private_bytes(secret))
        if curve not in _EC_CURVES:
            raise UnsupportedAlgorithmError("curve not allowed")
        try:
            key = ec.derive_private_key(int.from_bytes(secret, "big"), _EC_CURVES[curve])
        except ValueError:
            raise InvalidKeyError("private scalar out of range") from None
        return cls(curve, key)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> SigningKey:
        if not isinstance(jwk, Mapping):
            raise InvalidKeyError("JWK is not an object")
        curve = _curve_of(jwk)
        _check_alg(jwk, curve)
        _check_intent(jwk, "sign")
        key = cls.from_secret(curve, _coord(jwk, "d", 32))
        public = {m: jwk[m] for m in ("kty", "crv", "x", "y") if m in jwk}  # key_ops may say "sign" only
        if key.public_key.to_jwk() != PublicKey.from_jwk(public).to_jwk():
            raise InvalidKeyError("JWK private and public members do not match")
        return key

    @property
    def public_key(self) -> PublicKey:
        return self._public

    @property
    def alg(self) -> str:
        return _ALG_FOR_CURVE[self.curve]

    def secret_bytes(self) -> bytes:
        """The raw private scalar or seed. For encrypted-at-rest storage only; never log it."""
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

            return self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return self._key.private_numbers().private_value.to_bytes(32, "big")

    def to_jwk(self) -> dict[str, str]:
        """Private JWK. Handle like the key itself."""
        return {**self.public_key.to_jwk(), "d": b64u_encode(self.secret_bytes())}

    def sign(self, data: bytes) -> bytes:
        """Sign ``data``: raw r||s for ECDSA with SHA-256, or an Ed25519 signature."""
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            return self._key.sign(data)
        r, s = decode_dss_signature(self._key.sign(data, _ECDSA_SHA256))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def require_alg(alg: object, allowed: frozenset[str] = frozenset({"ES256"})) -> str:
    """Return ``alg`` if it is a string in ``allowed`` (a subset of :data:`ALGORITHMS`), else raise."""
    if not isinstance(alg, str) or alg not in allowed or alg not in ALGORITHMS:
        raise UnsupportedAlgorithmError("algorithm not allowed")
    return alg


def parse_json_object(raw: bytes, what: str) -> dict[str, Any]:
    """Parse a JSON object strictly: no duplicate members (RFC 7515 §5.2), no NaN/Infinity."""

    def _no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise MalformedInputError(f"{what} has a duplicate member")
            out[k] = v
        return out

    def _no_constants(_: str) -> Any:
        raise MalformedInputError(f"{what} is not strict JSON")

    try:
        # RFC 7515 §5.2 / RFC 8259 §8.1: UTF-8 only. json.loads(bytes) would also take UTF-16/32 and a BOM.
        text = raw.decode("utf-8")
        if text.startswith("\ufeff"):
            raise ValueError("byte order mark")
        value = json.loads(text, object_pairs_hook=_no_dupes, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise MalformedInputError(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedInputError(f"{what} is not a JSON object")
    return value

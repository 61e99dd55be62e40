"""Compact JWE (RFC 7516) for encrypted OpenID4VP responses (``direct_post.jwt``, OpenID4VP 1.0 §8.3).

One profile only: key agreement ``ECDH-ES`` (direct, RFC 7518 §4.6) on P-256 and content encryption
``A128GCM`` or ``A256GCM``. The cryptography is joserfc's; this module is the strict edge around it:
the protected header is read and checked before any key work (size cap, five parts, strict base64url,
a JSON object without duplicate members, ``alg``/``enc`` from the allow-list so ``none``, ``dir`` and
key wrapping never reach the library, no ``zip``: a decompression bomb is refused unread, no ``crit``,
an ``epk`` on the recipient's curve). A payload is a JSON object (the response parameters).

Encryption draws the ephemeral key and IV from the OS (as key generation does); decryption is pure.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, Final

from joserfc import jwe as _jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from credcore._b64 import b64u_decode, b64u_encode
from credcore.errors import (
    JweAlgorithmError,
    JweDecryptionError,
    MalformedInputError,
    MalformedJweError,
    PayloadTooLargeError,
)
from credcore.keys import parse_json_object

__all__ = [
    "ALGS",
    "ENCS",
    "MAX_JWE_BYTES",
    "check_recipient",
    "decrypt",
    "encrypt",
    "generate_key",
    "protected_header",
    "public_jwk",
]

ALGS: Final = frozenset({"ECDH-ES"})
ENCS: Final = ("A128GCM", "A256GCM")
#: Upper bound on one compact JWE; larger input is refused before it is split.
MAX_JWE_BYTES: Final = 64 * 1024
_MAX_HEADER: Final = 2048
_REGISTRY: Final = _jwe.JWERegistry(algorithms=[*ALGS, *ENCS], strict_check_header=False)


def generate_key(kid: str) -> dict[str, str]:
    """A fresh P-256 key-agreement key as a private JWK (``use: enc``, ``alg: ECDH-ES``, ``kid``)."""
    key = ECKey.generate_key("P-256", private=True)
    jwk = {k: str(v) for k, v in key.as_dict(private=True).items() if k in ("kty", "crv", "x", "y", "d")}
    return {**jwk, "use": "enc", "alg": "ECDH-ES", "kid": kid}


def public_jwk(private: Mapping[str, str]) -> dict[str, str]:
    """The public half of :func:`generate_key`'s JWK, as a verifier advertises it."""
    return {k: v for k, v in private.items() if k != "d"}


def _ec_key(jwk: Mapping[str, Any], what: str) -> ECKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise JweAlgorithmError(f"{what} must be an EC P-256 key")
    try:
        return ECKey.import_key({k: jwk[k] for k in ("kty", "crv", "x", "y", "d") if k in jwk})
    except (JoseError, ValueError, TypeError):
        raise MalformedJweError(f"{what} is not a valid P-256 key") from None


def check_recipient(jwk: Mapping[str, Any]) -> None:
    """Refuse a recipient key :func:`encrypt` could not use (wrong type or curve, point not on P-256)."""
    if jwk.get("alg", "ECDH-ES") not in ALGS:
        raise JweAlgorithmError("recipient key is not an ECDH-ES key")
    _ec_key(jwk, "recipient key")


def protected_header(token: str, *, encs: Collection[str] = ENCS) -> dict[str, Any]:
    """Read and check a compact JWE's protected header without decrypting.

    Raises:
        PayloadTooLargeError: more than :data:`MAX_JWE_BYTES`.
        MalformedJweError: not five base64url parts, header not a JSON object, ``epk`` missing or bad.
        JweAlgorithmError: ``alg`` not ECDH-ES, ``enc`` not in ``encs``, ``zip`` or ``crit`` present.
    """
    if len(token) > MAX_JWE_BYTES:
        raise PayloadTooLargeError(f"encrypted response is larger than {MAX_JWE_BYTES} bytes")
    parts = token.split(".")
    if len(parts) != 5:
        raise MalformedJweError("an encrypted response is a compact JWE of five parts")
    if len(parts[0]) > _MAX_HEADER:
        raise MalformedJweError("JWE protected header is too large")
    try:
        header = parse_json_object(b64u_decode(parts[0]), "JWE protected header")
        for p in parts[1:]:
            b64u_decode(p)
    except MalformedInputError as exc:
        raise MalformedJweError(exc.detail) from None
    if header.get("alg") not in ALGS:
        raise JweAlgorithmError("JWE alg must be ECDH-ES")
    if header.get("enc") not in encs:
        raise JweAlgorithmError(f"JWE enc must be one of {', '.join(encs)}")
    if "zip" in header or "crit" in header:
        raise JweAlgorithmError("JWE zip and crit are not accepted")
    if parts[1]:
        raise MalformedJweError("ECDH-ES (direct) has an empty encrypted key")
    epk = header.get("epk")
    if not isinstance(epk, dict):
        raise MalformedJweError("JWE header has no epk")
    _ec_key(epk, "JWE epk")  # on the curve, or refused here (invalid-curve attacks)
    return header


def encrypt(
    payload: Mapping[str, Any],
    recipient: Mapping[str, Any],
    *,
    enc: str,
    apu: bytes | None = None,
    apv: bytes | None = None,
) -> str:
    """Encrypt ``payload`` (a JSON object) to ``recipient`` (a public P-256 JWK); its ``kid`` is carried over."""
    if enc not in ENCS:
        raise JweAlgorithmError(f"JWE enc must be one of {', '.join(ENCS)}")
    check_recipient(recipient)
    header: dict[str, Any] = {"alg": "ECDH-ES", "enc": enc}
    if isinstance(recipient.get("kid"), str):
        header["kid"] = recipient["kid"]
    if apu is not None:
        header["apu"] = b64u_encode(apu)
    if apv is not None:
        header["apv"] = b64u_encode(apv)
    plaintext = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return _jwe.encrypt_compact(header, plaintext, _ec_key(recipient, "recipient key"), registry=_REGISTRY)


def decrypt(token: str, private: Mapping[str, Any], *, encs: Collection[str] = ENCS) -> dict[str, Any]:
    """Decrypt a compact JWE made for ``private`` and return its JSON object payload.

    Raises:
        the errors of :func:`protected_header`, and
        JweDecryptionError: the JWE was not made for this key, or was altered (deliberately opaque).
    """
    protected_header(token, encs=encs)
    key = _ec_key(private, "decryption key")
    try:
        plaintext = _jwe.decrypt_compact(token, key, registry=_REGISTRY).plaintext
    except (JoseError, ValueError):
        raise JweDecryptionError("the encrypted response does not decrypt with this request's key") from None
    if plaintext is None:
        raise JweDecryptionError("the encrypted response is empty")
    try:
        return parse_json_object(plaintext, "decrypted response")
    except MalformedInputError as exc:
        raise MalformedJweError(exc.detail) from None

"""Issuing a CP1 credential: the issuer's COSE_Sign1 over the profile's claims, within the byte budget."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from credcore import _cose
from credcore.cp1.codec import CLAIMS, CNF, EXP, IAT, MAX_CREDENTIAL_BYTES, PROFILE, STATUS, TIME_MAX, U32_MAX, uint
from credcore.errors import MalformedInputError, PayloadTooLargeError, UnsupportedAlgorithmError
from credcore.keys import PublicKey, SigningKey
from credcore.profiles import PROFILES
from credcore.trust import kid8

__all__ = ["issue_cp1"]


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
    if not (uint(iat, TIME_MAX) and uint(exp, TIME_MAX) and exp > iat):
        raise MalformedInputError("iat and exp must be unix seconds with exp after iat")
    if not (uint(status_list_id, U32_MAX) and uint(status_index, U32_MAX)):
        raise MalformedInputError("status list id and index must be 32-bit unsigned integers")
    payload = _cose.dumps(
        {
            EXP: exp,
            IAT: iat,
            CNF: holder_key.to_bytes(compressed=True),
            PROFILE: spec.id,
            STATUS: [status_list_id, status_index],
            CLAIMS: spec.encode_claims(claims),
        }
    )
    header = {_cose.HDR_ALG: _cose.ALG_ES256, _cose.HDR_KID: _signer_kid8(signer.public_key.to_bytes())}
    credential = _cose.sign1(header, payload, signer)
    if len(credential) > MAX_CREDENTIAL_BYTES:
        raise PayloadTooLargeError("CP1 credential exceeds its byte budget", limit=MAX_CREDENTIAL_BYTES)
    return credential

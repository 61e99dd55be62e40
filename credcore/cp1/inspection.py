"""Taking CP1 text apart for display (``civicpass inspect``, the wallet's list): nothing here is verified."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from credcore import _cose
from credcore.cp1.codec import FORMAT, parse_presentation
from credcore.errors import MalformedInputError
from credcore.profiles import PROFILES_BY_ID

__all__ = ["DecodedCp1", "decode_cp1"]


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
    p = parse_presentation(text)
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

"""DPoP proofs (RFC 9449): the wallet's key that access and refresh tokens are bound to.

A wallet that sends a ``DPoP`` header at the token endpoint gets tokens bound to that key's RFC 7638
thumbprint (``jkt``, §6) and a refresh token (§5: a public client's refresh token must be sender-constrained);
every later use of those tokens needs a fresh proof by the same key. Checked here (§4.3): ``typ``
``dpop+jwt``, ES256 only, the public key in ``jwk`` (private members refused), ``htm`` and ``htu`` the
request's method and URL (our published URL, without query or fragment), ``iat`` within ``max_age`` (and
not ahead beyond clock skew), a ``jti`` not seen before from this key within that time (kept hashed in the
single-use ``nonces`` table until it could no longer be fresh), and with an access token ``ath`` =
base64url(SHA-256(token)). Server-provided DPoP nonces (§8) are not used.

Written on credcore.jws because no library the project uses checks DPoP proofs on the server side.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from credcore import jws
from credcore._b64 import b64u_encode
from credcore.errors import CredError
from credcore.keys import PublicKey
from issuer.errors import InvalidDpopProofError
from issuer.store.models import Nonce

__all__ = ["DPOP_TYP", "DpopProof", "access_token_hash", "record_use", "verify_dpop"]

DPOP_TYP = "dpop+jwt"
CLOCK_SKEW = 60


def access_token_hash(token: str) -> str:
    """``ath`` (§4.2): base64url of SHA-256 of the access token's ASCII bytes."""
    return b64u_encode(hashlib.sha256(token.encode("ascii")).digest())


@dataclass(frozen=True, slots=True)
class DpopProof:
    """A verified proof: the key's thumbprint (``jkt``) and its ``jti``, to record as used."""

    jkt: str
    jti_hash: str
    fresh_until: int


def verify_dpop(
    proof: str | None, *, method: str, url: str, now: int, max_age: int, access_token: str | None = None
) -> DpopProof:
    """Verify one DPoP proof (no state touched; :func:`record_use` makes it single use).

    Raises:
        InvalidDpopProofError: missing, malformed, wrongly signed, stale, or for another request or token.
    """
    if not proof:
        raise InvalidDpopProofError("a DPoP proof (DPoP header) is required")
    try:
        parsed = jws.parse(proof, typ=DPOP_TYP)
        jwk = parsed.header.get("jwk")
        if not isinstance(jwk, dict) or "d" in jwk:
            raise InvalidDpopProofError("DPoP proof must carry its public key in 'jwk'")
        key = PublicKey.from_jwk(jwk)
    except InvalidDpopProofError:
        raise
    except CredError as exc:
        raise InvalidDpopProofError(f"DPoP proof is not acceptable: {exc.code}") from None
    if not parsed.verify_with(key):
        raise InvalidDpopProofError("DPoP proof signature does not verify under its jwk")
    claims = parsed.payload
    if claims.get("htm") != method or claims.get("htu") != url:
        raise InvalidDpopProofError("DPoP proof is for another request (htm/htu)")
    iat = claims.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool) or not now - max_age <= iat <= now + CLOCK_SKEW:
        raise InvalidDpopProofError("DPoP proof 'iat' is missing or not fresh")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 8 <= len(jti) <= 200:
        raise InvalidDpopProofError("DPoP proof needs a 'jti' of 8 to 200 characters")
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(ath, access_token_hash(access_token)):
            raise InvalidDpopProofError("DPoP proof 'ath' does not match the access token")
    jkt = key.thumbprint()
    seen = hashlib.sha256(f"dpop|{jkt}|{jti}".encode()).hexdigest()
    return DpopProof(jkt, seen, now + max_age + CLOCK_SKEW)


def record_use(session: Session, proof: DpopProof) -> None:
    """Mark the proof's ``jti`` used, in the caller's transaction; raises if it was used before."""
    try:
        with session.begin_nested():
            session.add(Nonce(nonce_hash=proof.jti_hash, expires_at=proof.fresh_until))
    except IntegrityError:
        raise InvalidDpopProofError("DPoP proof was already used (jti replayed)") from None

"""DPoP proofs (RFC 9449): the wallet's key that access and refresh tokens are bound to.

A wallet that sends a ``DPoP`` header at the token endpoint gets tokens bound to that key's RFC 7638
thumbprint (``jkt``, §6) and a refresh token (§5: a public client's refresh token must be sender-constrained);
every later use of those tokens needs a fresh proof by the same key. Checked here (§4.3): ``typ``
``dpop+jwt``, ES256 only, the public key in ``jwk`` (private members refused), ``htm`` and ``htu`` the
request's method and URL (our published URL, without query or fragment), ``iat`` within ``max_age`` (and
not ahead beyond clock skew), a ``jti`` not seen before from this key within that time (kept hashed in the
single-use ``nonces`` table until it could no longer be fresh), and with an access token ``ath`` =
base64url(SHA-256(token)). With server-provided nonces on (:class:`DpopNonces`, §8 at the token endpoint and §9
at the credential and notification endpoints), a proof must also carry a ``nonce`` this issuer gave out within
``ttl`` seconds; every answer gives a fresh one in a ``DPoP-Nonce`` header, and a proof without a good one is
refused with ``use_dpop_nonce`` and a new nonce, which the wallet puts in its next proof. A proof made in
advance (a script that ran in the wallet's page, say) is then good for ``ttl`` seconds at most.

Written on credcore.jws because no library the project uses checks DPoP proofs on the server side.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from credcore import jws
from credcore._b64 import b64u_decode, b64u_encode
from credcore.errors import CredError
from credcore.keys import PublicKey
from issuer.errors import InvalidDpopProofError, UseDpopNonceError
from issuer.store.models import Nonce

__all__ = ["DPOP_TYP", "DpopNonces", "DpopProof", "access_token_hash", "record_use", "verify_dpop"]

DPOP_TYP = "dpop+jwt"
CLOCK_SKEW = 60


def access_token_hash(token: str) -> str:
    """``ath`` (§4.2): base64url of SHA-256 of the access token's ASCII bytes."""
    return b64u_encode(hashlib.sha256(token.encode("ascii")).digest())


class DpopNonces:
    """Server-provided DPoP nonces, kept nowhere: a nonce is the second it was made and an HMAC of it under a key
    derived from the issuer's key passphrase, so every replica accepts every other's, and one is good for ``ttl``
    seconds from then (not before it was made, beyond clock skew)."""

    _MAC = 16

    def __init__(self, key: bytes, ttl: int) -> None:
        self._key, self.ttl = key, ttl

    def _mac(self, made: bytes) -> bytes:
        return hmac.new(self._key, b"civicpass dpop nonce|" + made, hashlib.sha256).digest()[: self._MAC]

    def issue(self, now: int) -> str:
        made = struct.pack(">Q", now)
        return b64u_encode(made + self._mac(made))

    def valid(self, nonce: object, now: int) -> bool:
        if not isinstance(nonce, str) or len(nonce) > 64:
            return False
        try:
            raw = b64u_decode(nonce)
        except (ValueError, CredError):
            return False
        if len(raw) != 8 + self._MAC or not hmac.compare_digest(raw[8:], self._mac(raw[:8])):
            return False
        (made,) = struct.unpack(">Q", raw[:8])
        return now - self.ttl <= made <= now + CLOCK_SKEW


@dataclass(frozen=True, slots=True)
class DpopProof:
    """A verified proof: the key's thumbprint (``jkt``) and its ``jti``, to record as used."""

    jkt: str
    jti_hash: str
    fresh_until: int


def verify_dpop(
    proof: str | None, *, method: str, url: str, now: int, max_age: int, access_token: str | None = None,
    nonces: DpopNonces | None = None,
) -> DpopProof:
    """Verify one DPoP proof (no state touched; :func:`record_use` makes it single use).

    Raises:
        UseDpopNonceError: ``nonces`` are on and the proof carries none of them, or one too old (with a new one).
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
    if nonces is not None and not nonces.valid(claims.get("nonce"), now):
        raise UseDpopNonceError("DPoP proof must carry the nonce this issuer gave (DPoP-Nonce header)",
                                nonce=nonces.issue(now))
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

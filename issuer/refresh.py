"""Refresh grants: new batches of an issued credential without a new offer (OAuth 2.0 refresh tokens, RFC 6749 §6).

OpenID4VCI 1.0 §6.3 lets the token endpoint return a refresh token, and re-issuance is a refresh followed by
credential requests. Here a refresh token is only given to a wallet that proved a DPoP key at the token
endpoint (RFC 9449 §5: a public client's refresh token must be sender-constrained), and every use needs a
fresh proof by that key, so a copied token is useless without the wallet's key.

Policy: ``refresh_batches_per_day`` refreshes per credential per (UTC) day; none once the credential is
revoked (its sealed claims are wiped then) or while it is suspended; none past the credential's ``exp`` or
the grant's own ``refresh_token_ttl`` (expired grants are deleted by the workers). Each refresh gives one
access token that may fetch each configuration of the type once (an SD-JWT batch and a CP1 batch), signed
now, with the credential's original ``exp`` and its status: revoking the credential revokes every copy ever
issued for it.

Privacy: re-signing needs the claims, and the issuer keeps none once an offer is done. The grant keeps them
sealed (AES-256-GCM) under a key derived (HKDF-SHA256) from the refresh token, which the store holds only as
a SHA-256 hash; a refresh re-seals them under the new access token for its short life. A database dump
alone reads no personal data.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from credcore.status_list import Status
from issuer.errors import (
    GrantCredentialRevokedError,
    GrantCredentialSuspendedError,
    InvalidDpopProofError,
    InvalidGrantError,
    InvalidTokenError,
    RefreshLimitError,
)
from issuer.offers import secret_hash
from issuer.store.models import Credential, Offer, RefreshGrant

__all__ = ["Refreshed", "check_credential", "credential_of", "forget", "grant_for_token", "open_claims",
           "open_grant", "redeem_refresh", "sweep"]


def _aead(secret: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"civicpass refresh grant claims").derive(
        secret.encode("ascii")
    )
    return AESGCM(key)


def _seal(secret: str, grant_id: str, claims_json: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + _aead(secret).encrypt(nonce, claims_json.encode(), grant_id.encode())


def open_claims(secret: str, grant: RefreshGrant, blob: bytes) -> str:
    """The claims sealed under ``secret`` (the refresh token or the current access token)."""
    try:
        return _aead(secret).decrypt(blob[:12], blob[12:], grant.id.encode()).decode()
    except InvalidTag:  # the token matched its hash, so this is a damaged row
        raise InvalidGrantError("refresh grant cannot be opened") from None


def open_grant(session: Session, offer: Offer, *, jkt: str, claims_json: str, now: int, ttl: int) -> str:
    """Store a grant for ``offer``'s credential, bound to ``jkt``; returns the refresh token."""
    token = secrets.token_urlsafe(32)
    grant_id = secrets.token_hex(16)
    session.add(RefreshGrant(id=grant_id, offer_id=offer.id, vct=offer.vct, jkt=jkt, refresh_hash=secret_hash(token),
                             sealed_claims=_seal(token, grant_id, claims_json), expires_at=now + ttl, day=0,
                             day_count=0, issued_configs="", created_at=now))  # fmt: skip
    return token


def _credential(session: Session, grant: RefreshGrant) -> Credential | None:
    offer = session.get(Offer, grant.offer_id)
    return session.get(Credential, offer.credential_id) if offer and offer.credential_id else None


def check_credential(cred: Credential | None, *, now: int) -> Credential:
    """The credential a grant refreshes, if new copies of it may still be issued."""
    if cred is None:
        raise InvalidGrantError("nothing was issued under this grant yet; use the offer's access token first")
    if cred.status == Status.INVALID:
        raise GrantCredentialRevokedError("the credential was revoked")
    if cred.status == Status.SUSPENDED:
        raise GrantCredentialSuspendedError("the credential is suspended")
    if now >= cred.exp:
        raise InvalidGrantError("the credential has expired")
    return cred


@dataclass(frozen=True, slots=True)
class Refreshed:
    access_token: str
    refresh_token_expires_at: int


def redeem_refresh(
    session: Session, refresh_token: str, *, jkt: str, now: int, per_day: int, token_ttl: int
) -> Refreshed:
    """A refresh (RFC 6749 §6) by the grant's DPoP key: a new access token for one new batch per configuration."""
    grant = session.scalars(
        select(RefreshGrant).where(RefreshGrant.refresh_hash == secret_hash(refresh_token)).with_for_update()
    ).first()
    if grant is None or now >= grant.expires_at:
        raise InvalidGrantError("refresh token is unknown or expired")
    if grant.jkt != jkt:  # RFC 9449 §5: the proof must be by the key the refresh token is bound to
        raise InvalidDpopProofError("DPoP proof is not by the key this refresh token is bound to")
    cred = check_credential(_credential(session, grant), now=now)
    day = now // 86400
    used = grant.day_count if grant.day == day else 0
    if used >= per_day:
        raise RefreshLimitError(f"at most {per_day} new batches a day; try again tomorrow (UTC)")
    claims = open_claims(refresh_token, grant, grant.sealed_claims)
    access = secrets.token_urlsafe(32)
    grant.day, grant.day_count = day, used + 1
    grant.token_hash, grant.token_expires_at = secret_hash(access), min(now + token_ttl, cred.exp)
    grant.token_claims = _seal(access, grant.id, claims)
    grant.issued_configs = ""
    return Refreshed(access, min(grant.expires_at, cred.exp))


def grant_for_token(session: Session, token: str, *, now: int, lock: bool = True) -> RefreshGrant | None:
    """The grant whose current access token is ``token`` (None if no grant issued it)."""
    q = select(RefreshGrant).where(RefreshGrant.token_hash == secret_hash(token))
    grant = session.scalars(q.with_for_update() if lock else q).first()
    if grant is not None and (grant.token_expires_at or 0) <= now:
        raise InvalidTokenError("access token is unknown or expired")
    return grant


def credential_of(session: Session, grant: RefreshGrant, *, now: int) -> Credential:
    return check_credential(_credential(session, grant), now=now)


def sweep(session: Session, *, now: int) -> int:
    """Delete grants past their lifetime (with the sealed claims they kept). Returns how many."""
    result = session.execute(delete(RefreshGrant).where(RefreshGrant.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)


def forget(session: Session, credential_id: str) -> None:
    """Wipe the sealed claims of a revoked credential's grants, in the caller's transaction. The rows stay
    until they expire, so a wallet that refreshes learns the credential was revoked (not just "unknown")."""
    offers_of = select(Offer.id).where(Offer.credential_id == credential_id)
    session.execute(update(RefreshGrant).where(RefreshGrant.offer_id.in_(offers_of))
                    .values(sealed_claims=b"", token_claims=None))

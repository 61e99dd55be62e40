"""OpenID4VCI 1.0 pre-authorized code flow: offers, transaction codes, access tokens, nonces and proofs.

Secrets (pre-authorized codes, access tokens, c_nonces) are 256-bit random strings stored only as
SHA-256 hashes, so a database dump cannot be replayed. The transaction code (a PIN the clerk reads out,
§5.1.1 ``tx_code``) is compared in constant time and allowed ``tx_code_attempts`` wrong tries before the
offer locks; each wrong try is committed even though the request fails (that is the point of counting).
A pre-authorized code is single use (§6.1); an access token authorises each offered configuration once.

Proofs (§F.1 ``jwt`` proof type): ``typ`` ``openid4vci-proof+jwt``, ``alg`` ES256 only, the holder key in
the ``jwk`` header (private members refused), ``aud`` = our credential issuer identifier, ``iat`` within
``proof_max_age`` (and not in the future beyond clock skew), ``nonce`` = a c_nonce from our nonce
endpoint, consumed once per credential request. Distinct proofs must carry distinct keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from credcore import jws
from credcore.errors import CredError
from credcore.keys import PublicKey
from issuer.errors import (
    InvalidCredentialRequestError,
    InvalidGrantError,
    InvalidNonceError,
    InvalidNotificationRequestError,
    InvalidProofError,
    InvalidTokenError,
    OAuthRequestError,
)
from issuer.store.models import DeskHolderIndex, Nonce, Offer

__all__ = [
    "NOTIFICATION_EVENTS",
    "PRE_AUTH_GRANT",
    "PROOF_TYP",
    "NewOffer",
    "check_proofs",
    "consume_nonce",
    "create_offer",
    "find_offer_for_token",
    "issue_nonce",
    "offer_for_token",
    "parse_credential_request",
    "parse_notification",
    "redeem",
    "sweep",
]

PRE_AUTH_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
PROOF_TYP = "openid4vci-proof+jwt"
CLOCK_SKEW = 60


def secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _pin_hash(offer_id: str, pin: str) -> str:
    return hashlib.sha256(f"{offer_id}:{pin}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewOffer:
    offer_id: str
    pre_authorized_code: str
    tx_code: str
    expires_at: int


def create_offer(
    session: Session, *, vct: str, claims_json: str, actor: str, now: int, ttl: int, pin_length: int
) -> NewOffer:
    offer_id = secrets.token_hex(16)
    code = secrets.token_urlsafe(32)
    pin = "".join(secrets.choice("0123456789") for _ in range(pin_length))
    session.add(
        Offer(
            id=offer_id,
            vct=vct,
            claims_json=claims_json,
            code_hash=secret_hash(code),
            tx_code_hash=_pin_hash(offer_id, pin),
            tx_attempts=0,
            expires_at=now + ttl,
            state="open",
            issued_configs="",
            created_at=now,
            created_by=actor,
        )
    )
    return NewOffer(offer_id, code, pin, now + ttl)


@dataclass(frozen=True, slots=True)
class Redemption:
    """What the token endpoint decided; ``commit_then_raise`` is set for a wrong PIN (count it, then fail)."""

    access_token: str | None
    error: CredError | None
    offer: Offer | None = None


def redeem(
    session: Session, *, code: str, tx_code: str | None, now: int, max_attempts: int, token_ttl: int
) -> Redemption:
    """Exchange a pre-authorized code (+ PIN) for an access token (§6.1). Locks the offer row on PostgreSQL."""
    offer = session.scalars(select(Offer).where(Offer.code_hash == secret_hash(code)).with_for_update()).first()
    if offer is None:
        return Redemption(None, InvalidGrantError("pre-authorized code is unknown"))
    if offer.state != "open":
        return Redemption(None, InvalidGrantError("pre-authorized code was already used or is locked"))
    if now >= offer.expires_at:
        offer.state, offer.claims_json = "expired", None
        _forget_holder(session, offer.id)
        return Redemption(None, InvalidGrantError("pre-authorized code has expired"))
    if tx_code is None or tx_code == "":
        return Redemption(None, OAuthRequestError("this offer needs tx_code"))
    if not hmac.compare_digest(_pin_hash(offer.id, tx_code), offer.tx_code_hash):
        offer.tx_attempts += 1
        if offer.tx_attempts >= max_attempts:
            offer.state, offer.claims_json = "locked", None
            _forget_holder(session, offer.id)
        return Redemption(None, InvalidGrantError("transaction code is wrong"))
    token = secrets.token_urlsafe(32)
    offer.state, offer.token_hash, offer.token_expires_at = "redeemed", secret_hash(token), now + token_ttl
    return Redemption(token, None, offer)


def sweep(session: Session, *, now: int) -> int:
    """Expire open offers past their time and drop their claims (a person's data is kept only while an
    offer can still be redeemed), and the holder index rows of those that made no credential; delete
    used-up nonces. Returns the number of offers expired."""
    ending = and_(Offer.state.in_(("open", "redeemed")), Offer.expires_at <= now,
                  or_(Offer.token_expires_at.is_(None), Offer.token_expires_at <= now))
    # An offer redeemed for some formats but not all also expires here; its credential keeps its rows.
    session.execute(delete(DeskHolderIndex).where(DeskHolderIndex.offer_id.in_(
        select(Offer.id).where(ending, Offer.credential_id.is_(None)))))
    result = session.execute(update(Offer).where(ending).values(state="expired", claims_json=None))
    session.execute(delete(Nonce).where(Nonce.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)


def _forget_holder(session: Session, offer_id: str) -> None:
    """An offer that ends without a credential leaves nothing for its holder index rows to find."""
    session.execute(delete(DeskHolderIndex).where(DeskHolderIndex.offer_id == offer_id))


def offer_for_token(session: Session, token: str | None, *, now: int, lock: bool = True) -> Offer:
    """The offer an access token was issued for (row-locked unless ``lock`` is False); raises InvalidTokenError."""
    offer = find_offer_for_token(session, token, now=now, lock=lock)
    if offer is None:
        raise InvalidTokenError("access token is unknown or expired")
    return offer


def find_offer_for_token(session: Session, token: str | None, *, now: int, lock: bool = True) -> Offer | None:
    """Like :func:`offer_for_token`, but None when no offer issued ``token`` (it may be a refresh grant's)."""
    if not token:
        raise InvalidTokenError("access token required")
    q = select(Offer).where(Offer.token_hash == secret_hash(token))
    offer = session.scalars(q.with_for_update() if lock else q).first()
    if offer is None:
        return None
    if offer.state not in {"redeemed", "done"} or (offer.token_expires_at or 0) <= now:
        raise InvalidTokenError("access token is unknown or expired")
    return offer


def issue_nonce(session: Session, *, now: int, ttl: int) -> str:
    value = secrets.token_urlsafe(32)
    session.add(Nonce(nonce_hash=secret_hash(value), expires_at=now + ttl))
    if secrets.randbelow(64) == 0:  # sweep expired nonces now and then, not on every call
        session.execute(delete(Nonce).where(Nonce.expires_at <= now))
    return value


def consume_nonce(session: Session, value: str, *, now: int) -> None:
    """Use up a c_nonce atomically; raises :class:`InvalidNonceError` if unknown, used or expired."""
    result = session.execute(
        delete(Nonce).where(Nonce.nonce_hash == secret_hash(value), Nonce.expires_at > now)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise InvalidNonceError("c_nonce is unknown, used or expired")


@dataclass(frozen=True, slots=True)
class ProofKeys:
    nonce: str
    keys: tuple[PublicKey, ...]


def check_proofs(proofs: Sequence[Any], *, audience: str, now: int, max_age: int) -> ProofKeys:
    """Verify each ``openid4vci-proof+jwt`` and return the holder keys in order (nonce still unconsumed)."""
    keys: list[PublicKey] = []
    nonces: set[str] = set()
    for proof in proofs:
        key, nonce = _check_proof(proof, audience=audience, now=now, max_age=max_age)
        if key in keys:
            raise InvalidProofError("each proof must carry a different key")
        keys.append(key)
        nonces.add(nonce)
    if len(nonces) != 1:
        raise InvalidProofError("all proofs of one request must carry the same nonce")
    return ProofKeys(nonces.pop(), tuple(keys))


def _check_proof(proof: Any, *, audience: str, now: int, max_age: int) -> tuple[PublicKey, str]:
    if not isinstance(proof, str):
        raise InvalidProofError("proof is not a compact JWT")
    try:
        parsed = jws.parse(proof, typ=PROOF_TYP)
        jwk = parsed.header.get("jwk")
        if not isinstance(jwk, dict) or "d" in jwk or "kid" in parsed.header or "x5c" in parsed.header:
            raise InvalidProofError("proof must name its key in 'jwk' (public members only)")
        key = PublicKey.from_jwk(jwk)
    except InvalidProofError:
        raise
    except CredError as exc:
        raise InvalidProofError(f"proof is not acceptable: {exc.code}") from None
    if not parsed.verify_with(key):
        raise InvalidProofError("proof signature does not verify under its jwk")
    claims = parsed.payload
    aud = claims.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise InvalidProofError("proof 'aud' is not this credential issuer")
    iat = claims.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise InvalidProofError("proof 'iat' missing or not an integer")
    if iat < now - max_age or iat > now + CLOCK_SKEW:
        raise InvalidProofError("proof 'iat' is not fresh")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise InvalidNonceError("proof carries no c_nonce")
    return key, nonce


def parse_credential_request(request: object) -> tuple[str, list[Any]]:
    """§8.2: ``credential_configuration_id`` and ``proofs`` with exactly one proof type, ``jwt``."""
    if not isinstance(request, dict):
        raise InvalidCredentialRequestError("credential request must be a JSON object")
    if "credential_identifier" in request:
        raise InvalidCredentialRequestError("credential_identifier is not used by this issuer")
    config_id = request.get("credential_configuration_id")
    if not isinstance(config_id, str):
        raise InvalidCredentialRequestError("credential_configuration_id is required")
    if "proof" in request:
        raise InvalidCredentialRequestError("use 'proofs' (OpenID4VCI 1.0), not 'proof'")
    proofs = request.get("proofs")
    if not isinstance(proofs, dict) or set(proofs) != {"jwt"} or not isinstance(proofs["jwt"], list):
        raise InvalidCredentialRequestError("proofs must be {'jwt': [...]}")
    return config_id, proofs["jwt"]


NOTIFICATION_EVENTS = frozenset({"credential_accepted", "credential_failure", "credential_deleted"})


def parse_notification(request: object) -> tuple[str, str]:
    """§11.1: the ``notification_id`` a credential response gave, and what the wallet did with the credential."""
    if not isinstance(request, dict) or not isinstance(request.get("notification_id"), str):
        raise InvalidNotificationRequestError("notification_id is required")
    event = request.get("event")
    if event not in NOTIFICATION_EVENTS:
        raise InvalidNotificationRequestError("event must be credential_accepted, credential_failure or "
                                              "credential_deleted")
    return request["notification_id"], str(event)

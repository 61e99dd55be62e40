"""Verifying CP1 text: the pipeline's checks (:mod:`credcore.verification`) on a parsed presentation.

:func:`verify_cp1_deferred` leaves the replay decision open (a :class:`~credcore.verification.PendingVerification`
keyed on the holder proof); :func:`verify_cp1` settles it with a synchronous guard.
"""

from __future__ import annotations

import hashlib
from typing import Any

from credcore import _cose
from credcore.cp1.codec import FORMAT, TIME_STEP, Credential, Presentation, holder_input, parse_presentation
from credcore.errors import InvalidKeyError, MalformedInputError
from credcore.keys import PublicKey
from credcore.ports import ReplayGuard
from credcore.profiles import PROFILES_BY_ID, Profile
from credcore.trust import IssuerKey, TrustedIssuer, TrustSnapshot
from credcore.verification import Check, CheckRecorder, Code, PendingVerification, StopVerification, VerificationResult

__all__ = ["verify_cp1", "verify_cp1_deferred"]


def verify_cp1(
    text: str,
    *,
    trust: TrustSnapshot,
    now: int,
    nonce: str | None = None,
    replay: ReplayGuard | None = None,
) -> VerificationResult:
    """Verify ``CP1:`` text against ``trust`` at ``now``; every failure is a failed check with a code.

    Checks in the pipeline's order (credcore.verification): format, trust, key, signature, validity, status, holder
    binding (nonce, freshness, holder signature, replay). ``nonce`` is the verifier's, or ``None`` if it gave none:
    a presentation must carry exactly that. ``replay`` is asked once, after the pure checks; ``None`` checks no
    replay.

    Raises:
        PayloadTooLargeError: text over :data:`MAX_TEXT_CHARS`, refused before decoding.
        MalformedPresentationError: text that is not a well-formed CP1 presentation.
    """
    return verify_cp1_deferred(text, trust=trust, now=now, nonce=nonce).settle_with(replay)


def verify_cp1_deferred(text: str, *, trust: TrustSnapshot, now: int, nonce: str | None = None) -> PendingVerification:
    """:func:`verify_cp1` with the replay decision left to the caller: settle the result with the guard's answer.

    The replay key covers (credential, time step, nonce) and expires once the step is stale.

    Raises:
        PayloadTooLargeError: text over :data:`MAX_TEXT_CHARS`, refused before decoding.
        MalformedPresentationError: text that is not a well-formed CP1 presentation.
    """
    presentation = parse_presentation(text)
    rec = CheckRecorder(FORMAT, trust, now)
    try:
        return rec.pending(_check(presentation, rec, nonce))
    except StopVerification:
        return rec.pending()


def _check(p: Presentation, rec: CheckRecorder, nonce: str | None) -> dict[str, Any]:
    cred = p.credential
    rec.credential_digest = cred.digest
    if type(cred.alg) is not int or cred.alg != _cose.ALG_ES256:
        raise rec.fail(Check.FORMAT, Code.UNSUPPORTED_ALGORITHM, "CP1 allows ES256 only")
    profile = PROFILES_BY_ID.get(cred.profile_id)
    if profile is None:
        raise rec.fail(Check.FORMAT, Code.WRONG_TYPE, "unknown CP1 profile")
    rec.profile, rec.credential_type = profile.name, profile.vct
    try:
        claims = profile.decode_claims(cred.claims)
    except MalformedInputError:
        raise rec.fail(Check.FORMAT, Code.MALFORMED, "claims do not match the profile") from None
    rec.ok(Check.FORMAT)

    found = _issuer_key(cred, profile, rec.trust, rec.now)
    if found is None:
        raise rec.fail(Check.TRUST, Code.UNKNOWN_KEY, "no trusted issuer key has this key id")
    issuer = rec.check_trust(found[0], profile.vct)
    key = rec.check_key(found[1], cred.iat)
    if not key.public_key.verify(cred.sign1.signature, cred.sign1.to_be_signed(), "ES256"):
        raise rec.fail(Check.SIGNATURE, Code.SIGNATURE_INVALID, "issuer signature does not verify")
    rec.ok(Check.SIGNATURE)
    rec.check_validity(cred.iat, cred.exp)
    rec.check_status_in(rec.trust.status_list_by_id(issuer.issuer_id, cred.status_list_id), cred.status_index)

    if p.nonce != nonce:
        raise rec.fail(Check.HOLDER_BINDING, Code.NONCE_MISMATCH, "nonce is not the one this verifier gave")
    if abs(p.step - rec.now // TIME_STEP) > 1:
        raise rec.fail(Check.HOLDER_BINDING, Code.PROOF_NOT_FRESH, "holder proof is not from the current time step")
    try:
        holder = PublicKey.from_bytes("P-256", cred.holder_key)
    except InvalidKeyError:
        raise rec.fail(Check.HOLDER_BINDING, Code.MALFORMED, "holder key is not a P-256 point") from None
    message = holder_input(cred.digest, p.step, p.nonce)
    if not holder.verify(p.signature, message, "ES256"):
        raise rec.fail(Check.HOLDER_BINDING, Code.HOLDER_SIGNATURE_INVALID, "holder signature does not verify")
    # One acceptance per (credential, step, nonce); once step + 1 is over the step is stale anyway.
    rec.defer_replay(hashlib.sha256(message).digest(), (p.step + 2) * TIME_STEP)
    rec.ok(Check.HOLDER_BINDING)
    return claims


def _issuer_key(
    cred: Credential, profile: Profile, trust: TrustSnapshot, now: int
) -> tuple[TrustedIssuer, IssuerKey] | None:
    """The (issuer, key) the kid names. A kid8 may match several keys; prefer one that passes everything."""
    candidates = trust.keys_by_kid8(cred.kid)
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    tbs = cred.sign1.to_be_signed()
    signed = [(i, k) for i, k in candidates if k.public_key.verify(cred.sign1.signature, tbs, "ES256")]
    for issuer, key in signed:
        if issuer.may_issue(profile.vct) and not issuer.suspended(now) and key.valid_at(cred.iat):
            return issuer, key
    return (signed or list(candidates))[0]

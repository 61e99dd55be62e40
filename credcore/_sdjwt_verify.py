"""The SD-JWT verification pipeline behind :func:`credcore.sdjwt.verify_sd_jwt_vc` and ``verify_sd_jwt``.

Checks run in the pipeline's order (:mod:`credcore.verification`) through
:class:`~credcore.verification.CheckRecorder`: format (every part parses; ``typ``, ``alg``, ``_sd_alg``), trust, key
(by ``kid`` = RFC 7638 thumbprint; without a usable ``kid`` each of the issuer's keys is tried), signature,
validity, status, holder binding (KB-JWT: holder signature under ``cnf.jwk``, ``sd_hash``, nonce, audience,
freshness, then the replay point), disclosures. :func:`verify` returns a
:class:`~credcore.verification.PendingVerification`: the caller settles the replay key with its guard.

Two modes. ``vc=True`` is civicpass's strict SD-JWT VC profile: ``typ: dc+sd-jwt``, string ``iss`` and
``vct``, numeric ``iat``, a ``kid`` (when present) that names a key registered to the issuer, a usable
P-256 ``cnf.jwk`` and a KB-JWT whenever the credential has ``cnf``, and none of the never-disclosable
claims inside top-level disclosures. ``vc=False`` is plain RFC 9901 (published vectors, other issuers'
SD-JWTs): any ``typ``, optional registered claims, a ``kid`` that is not a thumbprint is only a hint.
In both modes a KB-JWT is required when the caller passes a nonce or an audience, and checked whenever
present. A missing ``nonce``/``audience`` argument means "not compared" (offline checks with no challenge).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

from credcore import jws
from credcore._sdjwt_jose import b64u_encode, parse_jws
from credcore._sdjwt_parse import Envelope, split
from credcore.disclosure import SD_ALG, SD_ALG_KEY, Disclosure, DisclosureCheckError, parse_disclosure, unpack
from credcore.errors import CredError, InvalidKeyError, MalformedInputError, UnsupportedAlgorithmError
from credcore.keys import PublicKey
from credcore.trust import ANY_ISSUER, IssuerKey, TrustedIssuer, TrustSnapshot
from credcore.verification import (
    CLOCK_SKEW,
    Check,
    CheckOutcome,
    CheckRecorder,
    Code,
    PendingVerification,
    StopVerification,
)

__all__ = ["KB_MAX_AGE", "KB_TYP", "NEVER_DISCLOSED", "VC_TYP", "verify"]

VC_TYP: Final = "dc+sd-jwt"
KB_TYP: Final = "kb+jwt"
#: How old a KB-JWT may be (seconds, on top of CLOCK_SKEW): a presentation is made for one exchange.
KB_MAX_AGE: Final = 300
#: SD-JWT VC §3.2.2.2 claims that must never be selectively disclosed, plus ``iat`` which civicpass keeps plain.
NEVER_DISCLOSED: Final = frozenset({"iss", "iat", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"})
_ES256: Final = frozenset({"ES256"})
_REPLAY_DOMAIN: Final = b"civicpass/sd-jwt+kb/v1\x00"


class _Bad(Exception):
    """A format problem with its code; turned into a failed FORMAT check."""

    def __init__(self, code: Code, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _b64sha256(text: str) -> str:
    return b64u_encode(hashlib.sha256(text.encode("ascii")).digest())


def _sd_hash(env: Envelope, issuer_hash: Any) -> str:
    """``_b64sha256(env.sd_hash_input)``, continuing ``issuer_hash`` (SHA-256 of the issuer JWT, which the input
    starts with) instead of hashing the issuer JWT a second time."""
    text, prefix = env.sd_hash_input, env.issuer_jwt
    if not text.startswith(prefix):  # split() never builds such an envelope; kept so the result cannot differ
        return _b64sha256(text)
    h = issuer_hash.copy()
    h.update(text[len(prefix) :].encode("ascii"))
    return b64u_encode(h.digest())


@lru_cache(maxsize=1024)
def _cached_key(kty: str, crv: str, x: str, y: str) -> PublicKey:
    return PublicKey.from_jwk({"kty": kty, "crv": crv, "x": x, "y": y})


def _uncached_key(jwk: dict[str, Any]) -> PublicKey:
    try:
        return PublicKey.from_jwk(jwk)
    except UnsupportedAlgorithmError:
        raise _Bad(Code.UNSUPPORTED_ALGORITHM, "holder key type is not allowed") from None
    except (InvalidKeyError, MalformedInputError):
        raise _Bad(Code.MALFORMED, "holder key in 'cnf' cannot be used") from None


def _holder_key(cnf: object) -> PublicKey:
    # Only cnf.jwk is understood (SD-JWT VC §3.2.2.2); holders prove possession with ES256.
    jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    if not isinstance(jwk, dict):
        raise _Bad(Code.MALFORMED, "'cnf' does not hold a 'jwk'")
    if len(jwk) != 4:
        key = _uncached_key(jwk)
    else:  # exactly kty, crv, x, y: the form issuers write; cached, since holders present again and again
        try:
            key = _cached_key(jwk["kty"], jwk["crv"], jwk["x"], jwk["y"])
        except (KeyError, TypeError, CredError):  # other members, unhashable or bad values: judged uncached
            key = _uncached_key(jwk)
    if key.alg not in _ES256:
        raise _Bad(Code.UNSUPPORTED_ALGORITHM, "holder key type is not allowed")
    return key


def _time(claims: Mapping[str, Any], name: str, *, required: bool) -> int | None:
    value = claims.get(name)
    if type(value) is int:  # the common case first: this runs for every presentation
        return value
    if value is None and not required:
        return None
    if type(value) is not float:
        raise _Bad(Code.MALFORMED, f"'{name}' is missing or not a NumericDate")
    return int(value)


def _string(claims: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = claims.get(name)
    if type(value) is str and value:
        return value
    if value is None and not required:
        return None
    raise _Bad(Code.MALFORMED, f"'{name}' is missing or not a string")


def _status_ref(claims: Mapping[str, Any]) -> tuple[str, int] | None:
    if "status" not in claims:
        return None
    ref = claims["status"].get("status_list") if isinstance(claims["status"], dict) else None
    idx, uri = (ref.get("idx"), ref.get("uri")) if isinstance(ref, dict) else (None, None)
    if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0 or not isinstance(uri, str):
        raise _Bad(Code.MALFORMED, "'status' is not a status_list reference {idx, uri}")
    return uri, idx


class _Parsed:
    """Everything the format step extracted, for the later steps."""

    __slots__ = ("cnf", "disclosures", "exp", "iat", "iss", "jwss", "kb", "kids", "nbf", "payload", "status", "vct")

    def __init__(self, env: Envelope, vc: bool) -> None:
        jwss: list[jws.ParsedJws] = []
        try:
            for sig in env.signatures:
                parsed = parse_jws(sig.compact, _ES256)
                if vc and parsed.header.get("typ") != VC_TYP:
                    raise _Bad(Code.WRONG_TYPE, f"issuer JWT 'typ' is not '{VC_TYP}'")
                jwss.append(parsed)
        except UnsupportedAlgorithmError:
            raise _Bad(Code.UNSUPPORTED_ALGORITHM, "issuer JWT algorithm is not allowed") from None
        except MalformedInputError as exc:
            raise _Bad(Code.MALFORMED, f"issuer JWT: {exc.detail}") from None
        self.jwss = jwss
        if len(jwss) == 1:  # compact serialization: one signature
            self.kids = [jwss[0].header.get("kid", env.signatures[0].unprotected_kid)]
        else:
            self.kids = [p.header.get("kid", s.unprotected_kid) for p, s in zip(jwss, env.signatures, strict=True)]
        payload = self.payload = jwss[0].payload
        if payload.get(SD_ALG_KEY, SD_ALG) != SD_ALG:
            raise _Bad(Code.UNSUPPORTED_ALGORITHM, "'_sd_alg' is not sha-256")
        # _string/_time are called only when the value is not already of the plain form they return unchanged.
        get = payload.get
        iss, vct, iat, exp, nbf = get("iss"), get("vct"), get("iat"), get("exp"), get("nbf")
        self.iss = iss if type(iss) is str and iss else _string(payload, "iss", required=vc)
        self.vct = vct if type(vct) is str and vct else _string(payload, "vct", required=vc)
        self.iat = iat if type(iat) is int else _time(payload, "iat", required=vc)
        self.exp = exp if type(exp) is int else _time(payload, "exp", required=False)
        self.nbf = nbf if type(nbf) is int else _time(payload, "nbf", required=False)
        self.status = _status_ref(payload)
        # A plain SD-JWT may carry a cnf we cannot use (RSA, kid-only); it matters only if a KB-JWT needs it.
        self.cnf = _holder_key(payload["cnf"]) if vc and "cnf" in payload else None
        try:
            self.disclosures = [parse_disclosure(d) for d in env.disclosures]
        except MalformedInputError as exc:
            raise _Bad(Code.MALFORMED, exc.detail) from None
        self.kb = _parse_kb(env.kb_jwt) if env.kb_jwt is not None else None


def _parse_kb(token: str) -> jws.ParsedJws:
    try:
        kb = parse_jws(token, _ES256)
    except UnsupportedAlgorithmError:
        raise _Bad(Code.UNSUPPORTED_ALGORITHM, "KB-JWT algorithm is not allowed") from None
    except MalformedInputError as exc:
        raise _Bad(Code.MALFORMED, f"KB-JWT: {exc.detail}") from None
    if kb.header.get("typ") != KB_TYP:
        raise _Bad(Code.WRONG_TYPE, f"KB-JWT 'typ' is not '{KB_TYP}'")
    claims = kb.payload
    if type(claims.get("iat")) is not int:  # the common case needs no call; _time judges (and raises) otherwise
        _time(claims, "iat", required=True)
    for name in ("nonce", "aud", "sd_hash"):
        value = claims.get(name)
        if type(value) is not str or not value:
            _string(claims, name, required=True)  # raises
    return kb


def _check_signature(rec: CheckRecorder, trust: TrustSnapshot, issuer: TrustedIssuer, p: _Parsed, vc: bool) -> None:
    """Key (registered to this issuer, valid at iat) and issuer signature."""
    trials: list[tuple[jws.ParsedJws, IssuerKey]] = []
    for parsed, kid in zip(p.jwss, p.kids, strict=True):
        found = trust.key_by_thumbprint(kid) if isinstance(kid, str) else None
        if found is not None:
            if found[0].issuer_id == issuer.issuer_id:  # a kid naming another issuer's key never falls back
                trials.append((parsed, found[1]))
        elif kid is None or not vc:
            trials.extend((parsed, key) for key in issuer.keys)
        else:  # a kid that is no thumbprint: only keys given as JWKs with that kid, or with none (offline trust)
            trials.extend((parsed, key) for key in issuer.keys if key.any_kid or key.jwk_kid == kid)
    if not trials:
        raise rec.fail(Check.KEY, Code.UNKNOWN_KEY, "signing key is not registered for the issuer")
    iat = rec.now if p.iat is None else p.iat
    if len(trials) > 1:  # several candidates (JSON serialization, or no kid): keys in force at iat first
        trials.sort(key=lambda trial: not trial[1].valid_at(iat))
    for parsed, key in trials:
        # parsed.verify_with(key.public_key), without the extra frame
        if key.public_key.verify(parsed.signature, parsed.signing_input, parsed.alg):
            rec.check_key(key, iat)
            rec.ok(Check.SIGNATURE)
            return
    if len(trials) == 1:
        rec.check_key(trials[0][1], iat)
    raise rec.fail(Check.SIGNATURE, Code.SIGNATURE_INVALID, "issuer signature does not verify")


def _check_status(rec: CheckRecorder, trust: TrustSnapshot, issuer: TrustedIssuer, p: _Parsed) -> None:
    if p.status is None:
        rec.outcomes.append(CheckOutcome(Check.STATUS, True, None, "credential carries no status claim"))
        return
    uri, idx = p.status
    record = trust.status_list_by_uri(uri)
    if record is not None and record.issuer_id not in (issuer.issuer_id, p.iss, ANY_ISSUER):  # a tuple: no set built
        record = None  # another issuer's list says nothing about this credential
    rec.check_status_in(record, idx)


def _check_holder_binding(
    rec: CheckRecorder, env: Envelope, p: _Parsed, *, audience: str | None, nonce: str | None, issuer_hash: Any,
) -> None:
    if p.kb is None:
        if p.cnf is not None or nonce is not None or audience is not None:
            raise rec.fail(Check.HOLDER_BINDING, Code.HOLDER_BINDING_MISSING, "no key-binding JWT")
        return
    if "cnf" not in p.payload:
        raise rec.fail(Check.HOLDER_BINDING, Code.HOLDER_BINDING_MISSING, "credential has no holder key ('cnf')")
    try:
        holder = p.cnf or _holder_key(p.payload["cnf"])
    except _Bad as bad:
        raise rec.fail(Check.HOLDER_BINDING, bad.code, bad.detail) from None
    kb = p.kb
    if not holder.verify(kb.signature, kb.signing_input, kb.alg):  # kb.verify_with(holder), without the extra frame
        raise rec.fail(Check.HOLDER_BINDING, Code.HOLDER_SIGNATURE_INVALID, "KB-JWT signature does not verify")
    claims = p.kb.payload
    sd_hash = claims["sd_hash"]
    if sd_hash != _sd_hash(env, issuer_hash):
        raise rec.fail(Check.HOLDER_BINDING, Code.SD_HASH_MISMATCH, "KB-JWT sd_hash does not match")
    if nonce is not None and claims["nonce"] != nonce:
        raise rec.fail(Check.HOLDER_BINDING, Code.NONCE_MISMATCH, "KB-JWT nonce does not match")
    if audience is not None and claims["aud"] != audience:
        raise rec.fail(Check.HOLDER_BINDING, Code.AUDIENCE_MISMATCH, "KB-JWT audience does not match")
    kb_iat = int(claims["iat"])
    if not rec.now - KB_MAX_AGE - CLOCK_SKEW <= kb_iat <= rec.now + CLOCK_SKEW:
        raise rec.fail(Check.HOLDER_BINDING, Code.PROOF_NOT_FRESH, "KB-JWT is too old or from the future")
    # Keyed on what the holder signed, not on the signature: ECDSA signatures are malleable ((r, n-s)).
    parts = (claims["aud"], claims["nonce"], sd_hash, str(claims.get("jti", "")))
    key = hashlib.sha256(_REPLAY_DOMAIN + "\x00".join(parts).encode("utf-8")).digest()
    rec.defer_replay(key, kb_iat + KB_MAX_AGE + CLOCK_SKEW)
    rec.ok(Check.HOLDER_BINDING)


def _check_disclosures(rec: CheckRecorder, p: _Parsed, vc: bool) -> dict[str, Any]:
    by_digest: dict[str, Disclosure] = {}
    for d in p.disclosures:
        if d.digest in by_digest:
            raise rec.fail(Check.DISCLOSURES, Code.DUPLICATE_DISCLOSURE, "a disclosure appears more than once")
        by_digest[d.digest] = d
    try:
        claims, used = unpack(p.payload, by_digest)
    except DisclosureCheckError as exc:
        raise rec.fail(Check.DISCLOSURES, exc.code, exc.detail) from None
    if len(used) != len(by_digest):
        raise rec.fail(Check.DISCLOSURES, Code.UNREFERENCED_DISCLOSURE, "a disclosure is not referenced")
    if vc:
        never = [d for d in used if d.name in NEVER_DISCLOSED]
        if never:  # only then is the set of top-level digests needed
            top = p.payload.get("_sd")
            top_digests = {t for t in top if isinstance(t, str)} if isinstance(top, list) else set()
            if any(d.digest in top_digests for d in never):
                raise rec.fail(Check.DISCLOSURES, Code.MALFORMED, "a never-disclosable claim is disclosed")
    claims.pop(SD_ALG_KEY, None)
    rec.ok(Check.DISCLOSURES)
    return claims


def verify(
    text: str, *, trust: TrustSnapshot, now: int, audience: str | None, nonce: str | None, vc: bool,
) -> PendingVerification:
    """Run the pipeline up to the replay decision; raises only ``MalformedInputError`` (envelope unparseable)."""
    env = split(text)
    rec = CheckRecorder(format="sd-jwt-vc" if vc else "sd-jwt", trust=trust, now=now)
    try:
        try:
            p = _Parsed(env, vc)
        except _Bad as bad:
            raise rec.fail(Check.FORMAT, bad.code, bad.detail) from None
        issuer_hash = hashlib.sha256(env.issuer_jwt.encode("ascii"))
        rec.credential_digest = issuer_hash.digest()
        rec.credential_type = p.vct
        rec.ok(Check.FORMAT)
        issuer = rec.check_trust(trust.issuer_for(p.iss or ""), p.vct or "")
        rec.issuer = p.iss or issuer.issuer_id
        _check_signature(rec, trust, issuer, p, vc)
        rec.check_validity(now if p.iat is None else p.iat, p.exp, p.nbf)
        _check_status(rec, trust, issuer, p)
        _check_holder_binding(rec, env, p, audience=audience, nonce=nonce, issuer_hash=issuer_hash)
        claims = _check_disclosures(rec, p, vc)
    except StopVerification:
        return rec.pending()
    return rec.pending(claims)

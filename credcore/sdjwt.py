"""SD-JWT VC (RFC 9901 SD-JWT + IETF SD-JWT VC, ``typ: dc+sd-jwt``, ES256): issue, present, verify, inspect.

Roles are functions (STYLE rule 5): the issuer calls :func:`issue_sd_jwt_vc`, the holder
:func:`disclosable_claims` and :func:`present_sd_jwt`, the verifier :func:`verify_sd_jwt_vc` (through
:func:`credcore.presentations.verify_presentation`). ``iss``, ``iat``, ``exp``, ``nbf``, ``vct``, ``cnf``
and ``status`` are never selectively disclosable (SD-JWT VC §3.2.2.2); every other claim may be, down to
nested members and single array elements, named by paths like ``"address/street"`` or ``"nationalities/0"``.

Written over credcore's strict JWS rules rather than PyJWT or an SD-JWT library: the verifier must refuse
lenient encodings and report each RFC 9901 rule as a stable code, and this is the hot path of every online
presentation (its throughput budget is checked in tests/bench). The hot path decodes with
:mod:`credcore._sdjwt_jose`, the same rules as :mod:`credcore.jws` without its per-call setup. The
OpenWallet Foundation ``sd-jwt`` library is an interop peer in the tests, both ways.

Modules: :mod:`credcore.disclosure` (disclosures, §7.1 rules), ``_sdjwt_paths`` (claim paths, packing),
``_sdjwt_parse`` (compact and JSON envelopes), ``_sdjwt_verify`` (the check pipeline).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from credcore import jws
from credcore._b64 import b64u_decode, b64u_encode
from credcore._sdjwt_jose import sign_jws
from credcore._sdjwt_parse import MAX_DISCLOSURES, split
from credcore._sdjwt_paths import Packer, check_claim_names, format_path, parse_path, path_tree, value_at
from credcore._sdjwt_verify import KB_MAX_AGE, KB_TYP, NEVER_DISCLOSED, VC_TYP, verify
from credcore.disclosure import (
    ARRAY_KEY,
    SD_ALG,
    SD_ALG_KEY,
    SD_KEY,
    Disclosure,
    DisclosureCheckError,
    digest_of,
    unpack,
)
from credcore.disclosure import parse_disclosure as _parse_disclosure
from credcore.errors import (
    InvalidKeyError,
    MalformedDisclosureError,
    MalformedInputError,
    PayloadTooLargeError,
    ReservedClaimError,
    UnsupportedAlgorithmError,
)
from credcore.keys import PublicKey, SigningKey, parse_json_object
from credcore.ports import ReplayGuard, SaltSource
from credcore.trust import TrustSnapshot
from credcore.verification import PendingVerification, VerificationResult

__all__ = [
    "KB_MAX_AGE",
    "KB_TYP",
    "NEVER_DISCLOSED",
    "VC_TYP",
    "credential_digest",
    "disclosable_claims",
    "issue_sd_jwt_vc",
    "present_sd_jwt",
    "unsafe_decode",
    "verify_sd_jwt",
    "verify_sd_jwt_vc",
    "verify_sd_jwt_vc_deferred",
]

#: Set by the issuer through keyword arguments, so refused inside ``claims``.
_SET_BY_ISSUER: Final = frozenset({"iss", "iat", "exp", "vct", "cnf", "status"})


@lru_cache(maxsize=64)
def _kid(curve: str, point: bytes) -> str:
    return PublicKey.from_bytes(curve, point).thumbprint()  # type: ignore[arg-type]  # curve from a SigningKey


def _require_es256(key: SigningKey | PublicKey, role: str) -> None:
    if key.alg != "ES256":
        raise UnsupportedAlgorithmError(f"{role} key must be P-256 (ES256)")


def _status_claim(status: Mapping[str, Any]) -> dict[str, Any]:
    ref = status.get("status_list") if isinstance(status, Mapping) else None
    if not isinstance(ref, Mapping):
        raise MalformedInputError("status must be {'status_list': {'idx': int >= 0, 'uri': str}}")
    idx, uri = ref.get("idx"), ref.get("uri")
    if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0 or not isinstance(uri, str) or not uri:
        raise MalformedInputError("status must be {'status_list': {'idx': int >= 0, 'uri': str}}")
    return {**status, "status_list": {**ref, "idx": idx, "uri": uri}}


def issue_sd_jwt_vc(
    claims: Mapping[str, Any],
    *,
    vct: str,
    issuer: str,
    signer: SigningKey,
    holder_key: PublicKey | None,
    iat: int,
    exp: int | None,
    salts: SaltSource,
    status: Mapping[str, Any] | None = None,
    disclosable: Collection[str] | None = None,
    decoys: int = 0,
) -> str:
    """Issue an SD-JWT VC in compact form ``<issuer-jwt>~<disclosure>~...~`` (RFC 9901 §4).

    Args:
        disclosable: paths to make selectively disclosable; ``None`` means every top-level claim.
        decoys: how many decoy digests to add to the top-level ``_sd`` (§4.2.5).

    Raises:
        ReservedClaimError: ``claims`` holds a name the issuer sets, or SD-JWT's ``_sd``/``...``/``_sd_alg``,
            or ``disclosable`` names a never-disclosable claim.
        MalformedInputError: a path names no claim, or claims are not JSON.
        UnsupportedAlgorithmError: signer or holder key is not P-256.
    """
    _require_es256(signer, "issuer")
    if holder_key is not None:
        _require_es256(holder_key, "holder")
    if not isinstance(vct, str) or not vct or not isinstance(issuer, str) or not issuer:
        raise MalformedInputError("vct and issuer must be non-empty strings")
    for name, when in (("iat", iat), ("exp", exp)):
        if when is not None and (isinstance(when, bool) or not isinstance(when, int)):
            raise MalformedInputError(f"{name} must be unix seconds (int)")
    if isinstance(decoys, bool) or not isinstance(decoys, int) or not 0 <= decoys <= MAX_DISCLOSURES:
        raise MalformedInputError("decoys must be a small non-negative int")
    if not _SET_BY_ISSUER.isdisjoint(claims):
        raise ReservedClaimError("iss, iat, exp, vct, cnf and status are set by the issuer, not in claims")
    check_claim_names(claims)
    if isinstance(disclosable, str):
        raise MalformedInputError("disclosable must be a collection of paths, not one string")
    paths = [(k,) for k in claims if k not in NEVER_DISCLOSED] if disclosable is None else [
        parse_path(p) for p in disclosable
    ]
    if any(p[0] in NEVER_DISCLOSED for p in paths):
        raise ReservedClaimError("iss, iat, exp, nbf, vct, cnf and status are never selectively disclosable")
    packer = Packer(salts)
    decoy_digests = [digest_of(salts.salt()) for _ in range(decoys)]
    try:
        body = packer.object(claims, path_tree(paths), decoy_digests)
    except (TypeError, ValueError) as exc:
        raise MalformedInputError("claims are not JSON") from exc
    if len(packer.disclosures) > MAX_DISCLOSURES:
        raise PayloadTooLargeError("too many disclosable claims")
    payload: dict[str, Any] = {"iss": issuer, "iat": iat}
    if exp is not None:
        payload["exp"] = exp
    payload["vct"] = vct
    payload.update(body)
    if holder_key is not None:
        payload["cnf"] = {"jwk": holder_key.to_jwk()}
    if status is not None:
        payload["status"] = _status_claim(status)
    payload[SD_ALG_KEY] = SD_ALG
    public = signer.public_key
    header = {"typ": VC_TYP, "kid": _kid(public.curve, public.to_bytes(compressed=False))}
    try:
        token = sign_jws(payload, signer, header)
    except (TypeError, ValueError) as exc:
        raise MalformedInputError("claims are not JSON") from exc
    if len(token) > jws.MAX_JWS_BYTES:
        raise PayloadTooLargeError("issuer-signed JWT is larger than verifiers accept")
    return "~".join((token, *(d.encoded for d in packer.disclosures), ""))


# --- holder side ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Entry:
    path: tuple[str, ...]
    disclosure: Disclosure
    ancestors: tuple[Disclosure, ...]


def _index(value: Any, by_digest: Mapping[str, Disclosure], path: tuple[str, ...],
           ancestors: tuple[Disclosure, ...], out: list[_Entry]) -> None:
    """Every disclosure with its path in the fully disclosed claims and the disclosures it sits inside."""
    if isinstance(value, dict):
        for name, item in value.items():
            if name != SD_KEY:
                _index(item, by_digest, (*path, name), ancestors, out)
        digests = value.get(SD_KEY)
        for digest in digests if isinstance(digests, list) else ():
            found = by_digest.get(digest) if isinstance(digest, str) else None
            if found is not None and found.name is not None:
                entry = _Entry((*path, found.name), found, ancestors)
                out.append(entry)
                _index(found.value, by_digest, entry.path, (*ancestors, found), out)
    elif isinstance(value, list):
        position = 0
        for item in value:
            if isinstance(item, dict) and len(item) == 1 and ARRAY_KEY in item:
                digest = item[ARRAY_KEY]
                found = by_digest.get(digest) if isinstance(digest, str) else None
                if found is None or found.name is not None:
                    continue  # decoys take no position in the disclosed array
                entry = _Entry((*path, str(position)), found, ancestors)
                out.append(entry)
                _index(found.value, by_digest, entry.path, (*ancestors, found), out)
            else:
                _index(item, by_digest, (*path, str(position)), ancestors, out)
            position += 1


@dataclass(frozen=True, slots=True)
class _Holding:
    issuer_jwt: str
    payload: dict[str, Any]
    disclosures: tuple[Disclosure, ...]
    entries: tuple[_Entry, ...]
    claims: dict[str, Any]


def _hold(sd_jwt: str) -> _Holding:
    env = split(sd_jwt)
    if env.serialization != "compact" or env.kb_jwt is not None:
        raise MalformedInputError("expected an issued SD-JWT in compact form, without a key-binding JWT")
    payload = jws.parse(env.issuer_jwt).payload
    disclosures = tuple(_parse_disclosure(d) for d in env.disclosures)
    by_digest = {d.digest: d for d in disclosures}
    try:
        claims, _ = unpack(payload, by_digest)
    except DisclosureCheckError:
        raise MalformedDisclosureError("disclosures do not fit the credential") from None
    entries: list[_Entry] = []
    _index(payload, by_digest, (), (), entries)
    return _Holding(env.issuer_jwt, payload, disclosures, tuple(entries), claims)


def disclosable_claims(sd_jwt: str) -> dict[str, Any]:
    """Paths the holder can disclose (``"address"``, ``"address/street"``) -> their fully disclosed values."""
    held = _hold(sd_jwt)
    return {format_path(e.path): value_at(held.claims, e.path)[1] for e in held.entries}


def present_sd_jwt(
    sd_jwt: str,
    *,
    disclose: Collection[str],
    holder_key: SigningKey | None,
    audience: str,
    nonce: str,
    now: int,
) -> str:
    """Make a presentation disclosing ``disclose`` (paths), with a KB-JWT when ``holder_key`` is given (§4.3).

    A path discloses that claim with everything beneath it; a deeper path (``"address/street"``) discloses
    only that claim and the disclosures that contain it. Paths to always-visible claims are accepted.

    Raises:
        MalformedInputError: ``sd_jwt`` is not an issued SD-JWT, or a path names no claim in it.
        InvalidKeyError: ``holder_key`` is not the key in the credential's ``cnf``.
    """
    if isinstance(disclose, str):
        raise MalformedInputError("disclose must be a collection of paths, not one string")
    held = _hold(sd_jwt)
    chosen: set[str] = set()
    for raw in disclose:
        path = parse_path(raw)
        if not value_at(held.claims, path)[0]:
            raise MalformedInputError("a path to disclose names no claim in the credential")
        for e in held.entries:
            if e.path[: len(path)] == path or path[: len(e.path)] == e.path:
                chosen.add(e.disclosure.digest)
                chosen.update(a.digest for a in e.ancestors)
    parts = [held.issuer_jwt, *(d.encoded for d in held.disclosures if d.digest in chosen), ""]
    text = "~".join(parts)
    if holder_key is None:
        return text
    _require_es256(holder_key, "holder")
    cnf = held.payload.get("cnf")
    jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    if not isinstance(jwk, dict) or PublicKey.from_jwk(jwk) != holder_key.public_key:
        raise InvalidKeyError("holder key is not the key the credential is bound to")
    sd_hash = b64u_encode(hashlib.sha256(text.encode("ascii")).digest())
    kb = sign_jws({"iat": now, "aud": audience, "nonce": nonce, "sd_hash": sd_hash}, holder_key, {"typ": KB_TYP})
    return text + kb


# --- verifier side -------------------------------------------------------------------------------------
def verify_sd_jwt_vc(
    text: str,
    *,
    trust: TrustSnapshot,
    now: int,
    audience: str | None = None,
    nonce: str | None = None,
    replay: ReplayGuard | None = None,
) -> VerificationResult:
    """Verify an SD-JWT VC presentation (compact or JWS JSON) under civicpass's strict profile.

    Checks: format, trust (issuer accredited for ``vct``), key (by ``kid`` thumbprint, valid at ``iat``),
    signature, validity, status, holder binding (required when the credential has ``cnf`` or a nonce or
    audience is given; the KB-JWT may be at most ``KB_MAX_AGE`` seconds old), replay (for a KB-JWT: keyed
    on its audience, nonce, ``sd_hash`` and ``jti``), disclosures. A credential without a ``status`` claim
    passes the status check with the detail "credential carries no status claim"; civicpass issuers always
    set one. JWS JSON serialization (flattened or general, RFC 9901 §8) is accepted as well as compact.

    ``replay`` is asked once, after the pure checks; ``None`` checks no replay.

    Raises:
        MalformedInputError: ``text`` has no SD-JWT envelope at all (MalformedPresentationError) or is too large.
    """
    return verify(text, trust=trust, now=now, audience=audience, nonce=nonce, vc=True).settle_with(replay)


def verify_sd_jwt_vc_deferred(
    text: str,
    *,
    trust: TrustSnapshot,
    now: int,
    audience: str | None = None,
    nonce: str | None = None,
) -> PendingVerification:
    """:func:`verify_sd_jwt_vc` with the replay decision left to the caller: settle the result with the guard's
    answer (:class:`~credcore.verification.PendingVerification`). A presentation with a KB-JWT that reaches the
    end of holder binding carries one replay key; one without key binding carries none.

    Raises:
        MalformedInputError: ``text`` has no SD-JWT envelope at all (MalformedPresentationError) or is too large.
    """
    return verify(text, trust=trust, now=now, audience=audience, nonce=nonce, vc=True)


def verify_sd_jwt(
    text: str,
    *,
    trust: TrustSnapshot,
    now: int,
    audience: str | None = None,
    nonce: str | None = None,
    replay: ReplayGuard | None = None,
) -> VerificationResult:
    """Verify a plain RFC 9901 SD-JWT: no ``typ``/``vct``/``kid`` requirement (other issuers, published vectors).

    Same checks as :func:`verify_sd_jwt_vc`; keys without a matching ``kid`` are found by trying the
    issuer's keys, and a KB-JWT is required only when a nonce or audience is given (checked if present).
    """
    return verify(text, trust=trust, now=now, audience=audience, nonce=nonce, vc=False).settle_with(replay)


def credential_digest(sd_jwt: str) -> bytes:
    """The Merkle leaf value: SHA-256 of the issuer-signed JWT only, so disclosure choices do not change it."""
    return hashlib.sha256(split(sd_jwt).issuer_jwt.encode("ascii")).digest()


# --- inspection ----------------------------------------------------------------------------------------
def _decode_jwt(token: str, what: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedInputError(f"{what} must have three parts")
    return {
        "header": parse_json_object(b64u_decode(parts[0]), f"{what} header"),
        "payload": parse_json_object(b64u_decode(parts[1]), f"{what} payload"),
    }


def unsafe_decode(text: str) -> dict[str, Any]:
    """Decode without verifying anything, for ``civicpass inspect``. Salts are left out.

    Returns ``header``, ``payload``, ``disclosures`` (digest, name, value), ``kb_jwt`` (header and payload,
    or ``None``), ``claims`` (payload with the given disclosures applied, ``None`` if they do not fit)
    and ``serialization``. Raises :class:`MalformedInputError` when the envelope or issuer JWT cannot be read.
    """
    env = split(text)
    issuer = _decode_jwt(env.issuer_jwt, "issuer JWT")
    listed: list[dict[str, Any]] = []
    by_digest: dict[str, Disclosure] = {}
    for encoded in env.disclosures:
        try:
            d = _parse_disclosure(encoded)
        except MalformedInputError:
            listed.append({"encoded": encoded, "error": MalformedDisclosureError.code})
            continue
        by_digest[d.digest] = d
        listed.append({"digest": d.digest, "name": d.name, "value": d.value})
    try:
        claims: dict[str, Any] | None = unpack(issuer["payload"], by_digest)[0]
    except DisclosureCheckError:
        claims = None
    if claims is not None:
        claims.pop(SD_ALG_KEY, None)
    return {
        "serialization": env.serialization,
        "header": issuer["header"],
        "payload": issuer["payload"],
        "disclosures": listed,
        "kb_jwt": _decode_jwt(env.kb_jwt, "KB-JWT") if env.kb_jwt else None,
        "claims": claims,
    }

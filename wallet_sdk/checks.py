"""Checks a wallet runs on each credential it receives, before storing anything.

The wallet runs credcore's own verification pipeline, as a verifier would, on a presentation it makes
to itself with the key it just proved to the issuer: format, trust (issuer accredited on the app's
:class:`~credcore.trust.TrustSnapshot` for this type), issuer key valid at ``iat``, issuer signature,
validity, holder binding (so the credential is bound to *our* key, not someone else's), and for SD-JWT
every disclosure's digest. One rule is set aside: status. A receipt check is not where revocation is
decided (:mod:`wallet_sdk.status` tells the holder), and the pipeline stops at the first failure, so a
status list the app has not fetched would hide every later check. Where ``trust`` has no list for the
credential's status reference, a neutral all-valid list is supplied for this check only.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import Any, Final

from credcore._b64 import b64u_decode
from credcore.errors import CredError
from credcore.keys import SigningKey
from credcore.status_list import StatusList
from credcore.trust import StatusListRecord, TrustSnapshot
from credcore.verification import VerificationResult
from wallet_sdk.errors import CredentialRejectedError
from wallet_sdk.records import Cp1Copy, StatusRef

__all__ = [
    "CP1_FORMAT",
    "SD_JWT_FORMAT",
    "Facts",
    "check_cp1_copy",
    "check_sd_jwt",
    "cp1_facts",
    "sd_jwt_facts",
]

SD_JWT_FORMAT: Final = "dc+sd-jwt"
#: The credential format identifier civicpass issuers use for single-use CP1 copies in OpenID4VCI.
CP1_FORMAT: Final = "civicpass-cp1"
_SELF_AUDIENCE: Final = "civicpass-wallet:receipt-check"
_MAX_NEUTRAL_INDEX: Final = 4_000_000  # 2-bit entries: 1 MB, credcore's cap on one list


@dataclass(frozen=True, slots=True)
class Facts:
    """What a wallet lists about a credential, read from the (already checked) credential itself."""

    vct: str
    issuer: str
    issued_at: int
    expires_at: int | None
    status: StatusRef | None


def _reject(result: VerificationResult, what: str) -> CredentialRejectedError:
    failed = result.failures()
    check = str(failed[0].check) if failed else "format"
    return CredentialRejectedError(
        f"{what} failed the {check} check ({result.code})", check=check, reason=result.code or "unverified"
    )


def _with_neutral_status(trust: TrustSnapshot, records: list[StatusListRecord]) -> TrustSnapshot:
    return dataclasses.replace(trust, status_lists=(*trust.status_lists, *records)) if records else trust


def _neutral(issuer: str, list_id: int, uri: str, index: int) -> StatusListRecord:
    if not 0 <= index < _MAX_NEUTRAL_INDEX:
        raise CredentialRejectedError("status index is out of range", check="format", reason="malformed")
    return StatusListRecord(issuer_id=issuer, list_id=list_id, uri=uri, status_list=StatusList.empty(index + 1))


# --- SD-JWT VC -------------------------------------------------------------------------------------------
def sd_jwt_facts(sd_jwt: str) -> Facts:
    from credcore.sdjwt import unsafe_decode

    payload = unsafe_decode(sd_jwt)["payload"]
    ref = (payload.get("status") or {}).get("status_list") if isinstance(payload.get("status"), dict) else None
    status = StatusRef(str(ref["uri"]), int(ref["idx"])) if isinstance(ref, dict) else None
    exp = payload.get("exp")
    return Facts(
        str(payload["vct"]), str(payload["iss"]), int(payload["iat"]), exp if isinstance(exp, int) else None, status
    )


def check_sd_jwt(
    value: Any, holder_key: SigningKey, *, trust: TrustSnapshot, now: int, expected_vct: str | None
) -> str:
    """Check an issued SD-JWT VC; returns its text. Raises :class:`CredentialRejectedError`."""
    from credcore.sdjwt import disclosable_claims, present_sd_jwt, verify_sd_jwt_vc

    if not isinstance(value, str):
        raise CredentialRejectedError("SD-JWT VC is not a string", check="format", reason="malformed")
    try:
        facts = sd_jwt_facts(value)
        neutral = []
        if facts.status and trust.status_list_by_uri(facts.status.uri) is None:
            neutral.append(_neutral(facts.issuer, -1, facts.status.uri, facts.status.index))
        top = {path.split("/")[0] for path in disclosable_claims(value)}
        nonce = secrets.token_urlsafe(16)
        pres = present_sd_jwt(value, disclose=top, holder_key=holder_key, audience=_SELF_AUDIENCE, nonce=nonce, now=now)
        result = verify_sd_jwt_vc(
            pres, trust=_with_neutral_status(trust, neutral), now=now, audience=_SELF_AUDIENCE, nonce=nonce
        )
    except CredentialRejectedError:
        raise
    except (CredError, KeyError, TypeError, ValueError) as exc:
        reason = exc.code if isinstance(exc, CredError) else "malformed"
        raise CredentialRejectedError(
            "SD-JWT VC cannot be read or is not bound to our key", check="format", reason=reason
        ) from None
    if not result.verified:
        raise _reject(result, "SD-JWT VC")
    if expected_vct is not None and facts.vct != expected_vct:
        raise CredentialRejectedError("SD-JWT VC is not of the offered type", check="format", reason="wrong_type")
    return value


# --- CP1 -------------------------------------------------------------------------------------------------
def cp1_facts(
    credential: bytes, holder_key: SigningKey, *, now: int, trust: TrustSnapshot, status_base: str | None = None
) -> Facts:
    """Facts of one CP1 copy, read through a local presentation (credcore decodes presentations only).

    CP1 names its issuer by key id alone, so the issuer is the one ``trust`` holds that key for.
    """
    from credcore.cp1 import decode_cp1, present_cp1

    d = decode_cp1(present_cp1(credential, holder_key=holder_key, now=now))
    found = trust.keys_by_kid8(d.kid)
    issuer = found[0][0].issuer_id if found else ""
    return Facts(d.vct or "", issuer, d.iat, d.exp, _cp1_status(status_base, d.status_list_id, d.status_index))


def check_cp1_copy(
    value: Any, holder_key: SigningKey, *, trust: TrustSnapshot, now: int, status_base: str | None = None
) -> Cp1Copy:
    """Check one issued CP1 copy (base64url COSE_Sign1 bytes) bound to ``holder_key``.

    ``status_base`` is the issuer's base URL; the copy's status list is ``<base>/status-lists/<list id>``.

    Raises:
        CredentialRejectedError: unreadable, not bound to ``holder_key``, or any verification check failed.
    """
    from credcore.cp1 import decode_cp1, present_cp1, verify_cp1

    if not isinstance(value, str):
        raise CredentialRejectedError("CP1 copy is not a string", check="format", reason="malformed")
    try:
        raw = b64u_decode(value)
        text = present_cp1(raw, holder_key=holder_key, now=now)
        d = decode_cp1(text)
        neutral = [
            _neutral(issuer.issuer_id, d.status_list_id, f"cp1:{issuer.issuer_id}/{d.status_list_id}", d.status_index)
            for issuer, _ in trust.keys_by_kid8(d.kid)
            if trust.status_list_by_id(issuer.issuer_id, d.status_list_id) is None
        ]
        result = verify_cp1(text, trust=_with_neutral_status(trust, neutral), now=now)
    except CredentialRejectedError:
        raise
    except CredError as exc:
        raise CredentialRejectedError(
            "CP1 copy cannot be read or is not bound to our key", check="format", reason=exc.code
        ) from None
    if not result.verified:
        raise _reject(result, "CP1 copy")
    return Cp1Copy(raw, holder_key, d.profile or "", _cp1_status(status_base, d.status_list_id, d.status_index))


def _cp1_status(base: str | None, list_id: int, index: int) -> StatusRef | None:
    # The issuer serves a status list at <issuer base URL>/status-lists/<list id>.
    return StatusRef(f"{base.rstrip('/')}/status-lists/{list_id}", index) if base else None

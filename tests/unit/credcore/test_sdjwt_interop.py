"""Interop with the OpenWallet Foundation reference library (``sd-jwt``), both ways.

What civicpass issues and presents, sd-jwt's verifier accepts with the same claims; what sd-jwt issues
(as an SD-JWT VC with a thumbprint ``kid``) and presents, civicpass verifies, and civicpass's holder can
present it too. sd-jwt stamps its KB-JWT with the wall clock, so those checks use the wall clock as ``now``.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from credcore._b64 import b64u_encode
from credcore.keys import SigningKey
from credcore.sdjwt import issue_sd_jwt_vc, present_sd_jwt, verify_sd_jwt_vc
from credcore.trust import IssuerKey, TrustedIssuer, TrustSnapshot
from credcore.verification import Code

ISS = "did:ethr:0x539:0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
VCT = "urn:civicpass:ResidentCredential:1"
IK = SigningKey.from_secret("P-256", bytes(range(1, 33)))
HK = SigningKey.from_secret("P-256", bytes(range(2, 34)))
TRUST = TrustSnapshot(issuers=(TrustedIssuer(ISS, "City", frozenset({VCT}), (IssuerKey(IK.public_key),)),))
CLAIMS: dict[str, Any] = {
    "given_name": "Ana",
    "address": {"street": "1 Jongno", "city": "Seoul"},
    "nationalities": ["KR", "US"],
    "age_over_19": True,
}


class Salts:
    def __init__(self) -> None:
        self._n = itertools.count()

    def salt(self) -> str:
        return b64u_encode(next(self._n).to_bytes(16, "big"))


def _jwk(key: SigningKey, *, private: bool) -> JWK:
    return JWK.from_json(json.dumps(key.to_jwk() if private else key.public_key.to_jwk()))


def _their_verify(text: str, *, aud: str, nonce: str) -> dict[str, Any]:
    verifier = SDJWTVerifier(text, lambda iss, header: _jwk(IK, private=False), expected_aud=aud, expected_nonce=nonce)
    payload: dict[str, Any] = verifier.get_verified_payload()
    return payload


def _ours_issued(now: int) -> str:
    return issue_sd_jwt_vc(
        CLAIMS, vct=VCT, issuer=ISS, signer=IK, holder_key=HK.public_key, iat=now - 60, exp=now + 3600,
        salts=Salts(), disclosable=["given_name", "address", "address/city", "nationalities/1", "age_over_19"],
        decoys=2,
    )


def test_sd_jwt_library_verifies_what_we_issue_and_present() -> None:
    now = int(time.time())
    text = present_sd_jwt(_ours_issued(now), disclose=["address/city", "nationalities/1", "age_over_19"],
                          holder_key=HK, audience="https://verifier", nonce="n-1", now=now)
    theirs = _their_verify(text, aud="https://verifier", nonce="n-1")
    ours = verify_sd_jwt_vc(text, trust=TRUST, now=now, audience="https://verifier", nonce="n-1")
    assert ours.verified
    assert theirs == dict(ours.claims)
    assert theirs["address"] == {"street": "1 Jongno", "city": "Seoul"} and theirs["nationalities"] == ["KR", "US"]


def test_sd_jwt_library_holder_presents_what_we_issue_and_we_verify() -> None:
    now = int(time.time())
    holder = SDJWTHolder(_ours_issued(now))
    holder.create_presentation({"given_name": True, "nationalities": [None, True]}, nonce="n-2",
                               aud="https://verifier", holder_key=_jwk(HK, private=True))
    result = verify_sd_jwt_vc(holder.sd_jwt_presentation, trust=TRUST, now=int(time.time()),
                              audience="https://verifier", nonce="n-2")
    assert result.verified, result.to_json()["checks"]
    assert result.claims["given_name"] == "Ana" and result.claims["nationalities"] == ["KR", "US"]
    assert "age_over_19" not in result.claims


def _their_issued() -> str:
    user_claims = {
        "iss": ISS, "iat": int(time.time()) - 60, "vct": VCT,
        SDObj("given_name"): "Ana",
        "address": {SDObj("street"): "1 Jongno", "city": "Seoul"},
        "nationalities": ["KR", SDObj("US")],
        SDObj("age_over_19"): True,
    }
    issuer = SDJWTIssuer(
        user_claims, _jwk(IK, private=True), holder_key=_jwk(HK, private=False), add_decoy_claims=True,
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": IK.public_key.thumbprint()},
    )
    issuance: str = issuer.sd_jwt_issuance
    return issuance


def test_we_verify_what_the_sd_jwt_library_issues_and_presents() -> None:
    holder = SDJWTHolder(_their_issued())
    holder.create_presentation({"address": {"street": True}, "nationalities": [None, True]}, nonce="n-3",
                               aud="https://verifier", holder_key=_jwk(HK, private=True))
    result = verify_sd_jwt_vc(holder.sd_jwt_presentation, trust=TRUST, now=int(time.time()),
                              audience="https://verifier", nonce="n-3")
    assert result.verified, result.to_json()["checks"]
    assert result.claims["address"] == {"street": "1 Jongno", "city": "Seoul"}
    assert result.claims["nationalities"] == ["KR", "US"]
    assert "given_name" not in result.claims


def test_our_holder_presents_what_the_sd_jwt_library_issues() -> None:
    now = int(time.time())
    text = present_sd_jwt(_their_issued(), disclose=["age_over_19"], holder_key=HK, audience="v", nonce="n-4", now=now)
    result = verify_sd_jwt_vc(text, trust=TRUST, now=now, audience="v", nonce="n-4")
    assert result.verified and result.claims["age_over_19"] is True
    assert _their_verify(text, aud="v", nonce="n-4")["age_over_19"] is True


def test_a_library_presentation_replayed_with_our_nonce_mismatch_is_refused() -> None:
    holder = SDJWTHolder(_their_issued())
    holder.create_presentation({}, nonce="n-5", aud="v", holder_key=_jwk(HK, private=True))
    result = verify_sd_jwt_vc(holder.sd_jwt_presentation, trust=TRUST, now=int(time.time()), audience="v", nonce="x")
    assert result.code == Code.NONCE_MISMATCH

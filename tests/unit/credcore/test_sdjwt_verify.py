"""verify_sd_jwt_vc: one test per failure code, the order of checks, and the JSON serializations."""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

import pytest

from credcore import jws
from credcore._b64 import b64u_decode, b64u_encode
from credcore._defaults import MemoryReplayGuard
from credcore._sdjwt_parse import split, to_json
from credcore.disclosure import digest_of, make_disclosure
from credcore.errors import MalformedInputError, MalformedPresentationError, PayloadTooLargeError
from credcore.keys import SigningKey
from credcore.sdjwt import issue_sd_jwt_vc, present_sd_jwt, verify_sd_jwt, verify_sd_jwt_vc
from credcore.status_list import Status, StatusList
from credcore.trust import ANY_ISSUER, IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot
from credcore.verification import Check, Code, VerificationResult

NOW = 1_795_000_000
ISS = "did:ethr:0x539:0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
VCT = "urn:civicpass:ResidentCredential:1"
URI = "https://issuer.example/status-lists/1"
IK = SigningKey.from_secret("P-256", bytes(range(1, 33)))
HK = SigningKey.from_secret("P-256", bytes(range(2, 34)))
KID = IK.public_key.thumbprint()
LIST = StatusList.empty(64).set(5, Status.INVALID).set(6, Status.SUSPENDED)


def _trust(*, key: IssuerKey | None = None, suspended_at: int | None = None, types: frozenset[str] = frozenset({VCT}),
           lists: tuple[StatusListRecord, ...] = (StatusListRecord(ISS, 1, URI, LIST),)) -> TrustSnapshot:
    issuer = TrustedIssuer(ISS, "City", types, (key or IssuerKey(IK.public_key),), suspended_at=suspended_at)
    return TrustSnapshot(issuers=(issuer,), status_lists=lists, block_number=42, synced_at=NOW - 5)


TRUST = _trust()


class Salts:
    def __init__(self) -> None:
        self._n = itertools.count()

    def salt(self) -> str:
        return b64u_encode(next(self._n).to_bytes(16, "big"))


def _issue(idx: int = 3, **kw: Any) -> str:
    args: dict[str, Any] = {"vct": VCT, "issuer": ISS, "signer": IK, "holder_key": HK.public_key, "iat": NOW - 100,
                            "exp": NOW + 86_400, "salts": Salts(), "status": {"status_list": {"idx": idx, "uri": URI}}}
    args.update(kw)
    return issue_sd_jwt_vc({"given_name": "Ana", "age_over_19": True}, **args)


def _present(sd: str, *, now: int = NOW, nonce: str = "n", aud: str = "aud") -> str:
    return present_sd_jwt(sd, disclose=["given_name"], holder_key=HK, audience=aud, nonce=nonce, now=now)


def _verify(text: str, trust: TrustSnapshot = TRUST, **kw: Any) -> VerificationResult:
    args: dict[str, Any] = {"now": NOW, "audience": "aud", "nonce": "n", "replay": None}
    args.update(kw)
    return verify_sd_jwt_vc(text, trust=trust, **args)


def _forge(payload: dict[str, Any], disclosures: list[str], *, header: dict[str, Any] | None = None,
           signer: SigningKey = IK, drop: tuple[str, ...] = ()) -> str:
    """An issued SD-JWT with any payload: what a buggy or hostile issuer could sign."""
    base = {"iss": ISS, "iat": NOW - 100, "vct": VCT, "cnf": {"jwk": HK.public_key.to_jwk()}, "_sd_alg": "sha-256"}
    body = {k: v for k, v in {**base, **payload}.items() if k not in drop}
    hdr = {k: v for k, v in {"typ": "dc+sd-jwt", "kid": KID, **(header or {})}.items() if v is not None}
    token = jws.sign(body, signer, header=hdr)
    return "~".join([token, *disclosures, ""])


def _kb(text: str, *, key: SigningKey = HK, **claims: Any) -> str:
    sd_hash = b64u_encode(hashlib.sha256(text.encode()).digest())
    body = {"iat": NOW, "aud": "aud", "nonce": "n", "sd_hash": sd_hash, **claims}
    return text + jws.sign(body, key, header={"typ": "kb+jwt"})


def _outcome(result: VerificationResult) -> tuple[str, str | None]:
    failed = result.failures()
    assert len(failed) == 1 and failed[0] is result.outcomes[-1]  # the pipeline stops at the first failure
    return str(failed[0].check), failed[0].code


# --- passing -----------------------------------------------------------------------------------------------
def test_valid_presentation_passes_every_check_in_design_order() -> None:
    result = _verify(_present(_issue()), replay=MemoryReplayGuard())
    assert result.verified
    assert [o.check for o in result.outcomes] == [
        Check.FORMAT, Check.TRUST, Check.KEY, Check.SIGNATURE, Check.VALIDITY, Check.STATUS,
        Check.HOLDER_BINDING, Check.DISCLOSURES,
    ]
    assert result.claims["given_name"] == "Ana" and "_sd_alg" not in result.claims
    assert (result.trust_block, result.trust_age, result.checked_at) == (42, 5, NOW)


def test_credential_without_status_claim_passes_status_with_a_note() -> None:
    result = _verify(_present(_issue(status=None)))
    status = next(o for o in result.outcomes if o.check == Check.STATUS)
    assert result.verified and status.passed and status.detail == "credential carries no status claim"


def test_kid_less_credential_is_checked_against_each_issuer_key() -> None:
    other = IssuerKey(SigningKey.generate().public_key)
    trust = TrustSnapshot(issuers=(TrustedIssuer(ISS, "City", frozenset({VCT}), (other, IssuerKey(IK.public_key))),))
    assert _verify(_kb(_forge({}, [], header={"kid": None})), trust).verified


def test_offline_snapshot_from_bare_jwks_verifies() -> None:
    trust = TrustSnapshot.from_issuer_jwks({ISS: [IK.public_key.to_jwk()]})
    assert _verify(_present(_issue(status=None)), trust).verified


# --- format ---------------------------------------------------------------------------------------------
def test_wrong_typ_fails_format() -> None:
    assert _outcome(_verify(_kb(_forge({}, [], header={"typ": "vc+sd-jwt"})))) == ("format", Code.WRONG_TYPE)


def test_sd_alg_other_than_sha256_fails_format() -> None:
    assert _outcome(_verify(_kb(_forge({"_sd_alg": "sha-512"}, [])))) == ("format", Code.UNSUPPORTED_ALGORITHM)


def test_issuer_alg_outside_the_allow_list_fails_format() -> None:
    text = _kb(_forge({}, [], signer=SigningKey.generate("secp256k1")))
    assert _outcome(_verify(text)) == ("format", Code.UNSUPPORTED_ALGORITHM)


@pytest.mark.parametrize("payload", [{"vct": 5}, {"iat": "soon"}, {"iss": None}, {"exp": True},
                                     {"status": {"status_list": {"idx": "1", "uri": URI}}}, {"cnf": {"kid": "x"}}])
def test_bad_registered_claims_fail_format(payload: dict[str, Any]) -> None:
    assert _outcome(_verify(_kb(_forge(payload, [])))) == ("format", Code.MALFORMED)


def test_holder_key_on_another_curve_fails_format() -> None:
    cnf = {"jwk": SigningKey.generate("Ed25519").public_key.to_jwk()}
    assert _outcome(_verify(_kb(_forge({"cnf": cnf}, [])))) == ("format", Code.UNSUPPORTED_ALGORITHM)


@pytest.mark.parametrize("disclosure", ["WyJzYWx0IiwgImEiLCAxXQ==", "*", "", b64u_encode(b'["s", "_sd", 1]'),
                                        b64u_encode(b'["s", "...", 1]')])
def test_bad_or_reserved_disclosures_fail_format(disclosure: str) -> None:
    assert _outcome(_verify(_kb(_forge({}, [disclosure])))) == ("format", Code.MALFORMED)


def test_kb_jwt_with_wrong_typ_fails_format() -> None:
    text = _forge({}, [])
    kb = jws.sign({"iat": NOW, "aud": "aud", "nonce": "n", "sd_hash": "x"}, HK, header={"typ": "jwt"})
    assert _outcome(_verify(text + kb)) == ("format", Code.WRONG_TYPE)


def test_kb_jwt_missing_sd_hash_fails_format() -> None:
    text = _forge({}, [])
    kb = jws.sign({"iat": NOW, "aud": "aud", "nonce": "n"}, HK, header={"typ": "kb+jwt"})
    assert _outcome(_verify(text + kb)) == ("format", Code.MALFORMED)


@pytest.mark.parametrize("text", ["plain text", "", "{not json", '{"payload": 1}', '["array"]'])
def test_text_without_an_envelope_raises(text: str) -> None:
    with pytest.raises(MalformedInputError):
        _verify(text)


def test_text_without_a_tilde_raises_malformed_presentation() -> None:
    with pytest.raises(MalformedPresentationError):
        _verify("a.b.c")


def test_oversized_text_raises() -> None:
    with pytest.raises(PayloadTooLargeError):
        _verify("~" * 300_000)


# --- trust, key, signature ---------------------------------------------------------------------------------
def test_unknown_issuer_fails_trust() -> None:
    assert _outcome(_verify(_kb(_forge({"iss": "did:other"}, [])))) == ("trust", Code.ISSUER_NOT_ACCREDITED)


def test_suspended_issuer_fails_trust() -> None:
    assert _outcome(_verify(_present(_issue()), _trust(suspended_at=NOW - 1))) == ("trust", Code.ISSUER_SUSPENDED)


def test_issuer_not_accredited_for_the_type_fails_trust() -> None:
    trust = _trust(types=frozenset({"urn:civicpass:MerchantCredential:1"}))
    assert _outcome(_verify(_present(_issue()), trust)) == ("trust", Code.TYPE_NOT_ACCREDITED)


def test_kid_that_is_not_registered_fails_key() -> None:
    assert _outcome(_verify(_kb(_forge({}, [], header={"kid": "unknown"})))) == ("key", Code.UNKNOWN_KEY)


def test_kid_of_another_issuers_key_fails_key() -> None:
    other_key = SigningKey.generate()
    other = TrustedIssuer("did:other", "Other", frozenset({VCT}), (IssuerKey(other_key.public_key),))
    trust = TrustSnapshot(issuers=(*TRUST.issuers, other))
    text = _kb(_forge({}, [], header={"kid": other_key.public_key.thumbprint()}, signer=other_key))
    assert _outcome(_verify(text, trust)) == ("key", Code.UNKNOWN_KEY)


def test_key_not_yet_valid_at_iat_fails_key() -> None:
    trust = _trust(key=IssuerKey(IK.public_key, valid_from=NOW))
    assert _outcome(_verify(_present(_issue()), trust)) == ("key", Code.KEY_NOT_VALID_AT_ISSUANCE)


def test_key_revoked_after_issuance_still_verifies() -> None:
    trust = _trust(key=IssuerKey(IK.public_key, revoked_at=NOW - 50))
    assert _verify(_present(_issue()), trust).verified


def test_tampered_payload_fails_signature() -> None:
    jwt, *rest = _present(_issue()).split("~")
    head, body, sig = jwt.split(".")
    payload = json.loads(b64u_decode(body))
    payload["iat"] -= 1
    forged = f"{head}.{b64u_encode(json.dumps(payload).encode())}.{sig}"
    assert _outcome(_verify("~".join([forged, *rest]))) == ("signature", Code.SIGNATURE_INVALID)


# --- validity and status -----------------------------------------------------------------------------------
def test_expired_credential_fails_validity() -> None:
    assert _outcome(_verify(_present(_issue(exp=NOW - 3600)))) == ("validity", Code.EXPIRED)


def test_credential_from_the_future_fails_validity() -> None:
    assert _outcome(_verify(_present(_issue(iat=NOW + 3600)))) == ("validity", Code.NOT_YET_VALID)


def test_nbf_in_the_future_fails_validity() -> None:
    assert _outcome(_verify(_kb(_forge({"nbf": NOW + 3600}, [])))) == ("validity", Code.NOT_YET_VALID)


def test_revoked_credential_fails_status() -> None:
    assert _outcome(_verify(_present(_issue(idx=5)))) == ("status", Code.REVOKED)


def test_suspended_credential_fails_status() -> None:
    assert _outcome(_verify(_present(_issue(idx=6)))) == ("status", Code.SUSPENDED)


def test_status_list_missing_from_the_snapshot_fails_status() -> None:
    assert _outcome(_verify(_present(_issue()), _trust(lists=()))) == ("status", Code.STATUS_UNKNOWN)


def test_status_index_outside_the_list_fails_status() -> None:
    assert _outcome(_verify(_present(_issue(idx=10_000)))) == ("status", Code.STATUS_UNKNOWN)


def test_another_issuers_list_at_the_uri_says_nothing() -> None:
    trust = _trust(lists=(StatusListRecord("did:other", 1, URI, StatusList.empty(64)),))
    assert _outcome(_verify(_present(_issue()), trust)) == ("status", Code.STATUS_UNKNOWN)


# --- holder binding and replay -------------------------------------------------------------------------------
def test_missing_kb_jwt_fails_holder_binding() -> None:
    assert _outcome(_verify(_forge({}, []))) == ("holder_binding", Code.HOLDER_BINDING_MISSING)


def test_kb_jwt_without_cnf_fails_holder_binding() -> None:
    text = _kb(_forge({}, [], drop=("cnf",)))
    assert _outcome(_verify(text)) == ("holder_binding", Code.HOLDER_BINDING_MISSING)


def test_kb_jwt_signed_by_another_key_fails_holder_binding() -> None:
    text = _kb(_forge({}, []), key=SigningKey.generate())
    assert _outcome(_verify(text)) == ("holder_binding", Code.HOLDER_SIGNATURE_INVALID)


def test_wrong_nonce_fails_holder_binding() -> None:
    assert _outcome(_verify(_present(_issue(), nonce="other"))) == ("holder_binding", Code.NONCE_MISMATCH)


def test_wrong_audience_fails_holder_binding() -> None:
    assert _outcome(_verify(_present(_issue(), aud="other"))) == ("holder_binding", Code.AUDIENCE_MISMATCH)


@pytest.mark.parametrize("age", [400, -120])
def test_stale_or_future_kb_jwt_fails_holder_binding(age: int) -> None:
    assert _outcome(_verify(_present(_issue(), now=NOW - age))) == ("holder_binding", Code.PROOF_NOT_FRESH)


def test_sd_hash_over_other_disclosures_fails_holder_binding() -> None:
    sd = _issue()
    kb = _present(sd).split("~")[-1]
    jwt, *disclosures, _ = sd.split("~")
    text = "~".join([jwt, disclosures[1], kb])  # swap in another disclosure, keep the KB-JWT
    assert _outcome(_verify(text)) == ("holder_binding", Code.SD_HASH_MISMATCH)


def test_second_use_of_a_presentation_fails_replay() -> None:
    guard = MemoryReplayGuard()
    text = _present(_issue())
    assert _verify(text, replay=guard).verified
    assert _outcome(_verify(text, replay=guard)) == ("holder_binding", Code.REPLAYED)


def test_replay_key_ignores_signature_malleability() -> None:
    # (r, n - s) is a second valid ECDSA signature over the same KB-JWT: it must count as the same presentation.
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    guard = MemoryReplayGuard()
    text = _present(_issue())
    prefix, sig = text.rsplit(".", 1)
    raw = b64u_decode(sig)
    s = int.from_bytes(raw[32:], "big")
    twin = f"{prefix}.{b64u_encode(raw[:32] + (n - s).to_bytes(32, 'big'))}"
    assert _verify(twin, replay=guard).verified
    assert _verify(text, replay=guard).code == Code.REPLAYED


def test_unbound_credential_needs_a_kb_jwt_only_when_the_verifier_sends_a_challenge() -> None:
    text = _forge({}, [], drop=("cnf",))
    assert _outcome(_verify(text)) == ("holder_binding", Code.HOLDER_BINDING_MISSING)
    result = _verify(text, nonce=None, audience=None)
    assert result.verified and Check.HOLDER_BINDING not in [o.check for o in result.outcomes]


def test_nonce_and_audience_are_not_compared_when_not_given() -> None:
    assert _verify(_present(_issue(), nonce="x", aud="y"), nonce=None, audience=None).verified


# --- disclosures ---------------------------------------------------------------------------------------------
def test_duplicate_disclosure_fails_disclosures() -> None:
    d = make_disclosure("salt-a", "a", 1)
    text = _kb(_forge({"_sd": [d.digest]}, [d.encoded, d.encoded]))
    assert _outcome(_verify(text)) == ("disclosures", Code.DUPLICATE_DISCLOSURE)


def test_duplicate_digest_fails_disclosures() -> None:
    d = make_disclosure("salt-a", "a", 1)
    text = _kb(_forge({"_sd": [d.digest], "x": {"_sd": [d.digest]}}, [d.encoded]))
    assert _outcome(_verify(text)) == ("disclosures", Code.DUPLICATE_DIGEST)


def test_unreferenced_disclosure_fails_disclosures() -> None:
    d = make_disclosure("salt-a", "a", 1)
    text = _kb(_forge({"_sd": [digest_of("other")]}, [d.encoded]))
    assert _outcome(_verify(text)) == ("disclosures", Code.UNREFERENCED_DISCLOSURE)


def test_disclosure_of_the_wrong_kind_fails_disclosures() -> None:
    d = make_disclosure("salt-a", None, 1)
    text = _kb(_forge({"_sd": [d.digest]}, [d.encoded]))
    assert _outcome(_verify(text)) == ("disclosures", Code.DISCLOSURE_MISMATCH)


@pytest.mark.parametrize("name", ["status", "exp", "nbf", "cnf"])
def test_disclosed_never_disclosable_claim_fails_disclosures(name: str) -> None:
    value: Any = {"jwk": HK.public_key.to_jwk()} if name == "cnf" else NOW + 10_000
    d = make_disclosure("salt-a", name, value)
    if name == "cnf":  # the only way to disclose cnf is to leave it out of the payload
        result = _verify(_forge({"_sd": [d.digest]}, [d.encoded], drop=("cnf",)), audience=None, nonce=None)
    else:
        result = _verify(_kb(_forge({"_sd": [d.digest]}, [d.encoded])))
    assert _outcome(result) == ("disclosures", Code.MALFORMED)


def test_generic_verifier_allows_what_the_vc_profile_refuses() -> None:
    d = make_disclosure("salt-a", "nbf", NOW - 10)
    text = _kb(_forge({"_sd": [d.digest]}, [d.encoded], header={"typ": "example+sd-jwt", "kid": "label"}))
    result = verify_sd_jwt(text, trust=TRUST, now=NOW, audience="aud", nonce="n")
    assert result.verified and result.format == "sd-jwt" and result.claims["nbf"] == NOW - 10


# --- JWS JSON serialization ------------------------------------------------------------------------------------
def test_flattened_json_presentation_verifies() -> None:
    text = to_json(split(_present(_issue())))
    assert json.loads(text).keys() == {"payload", "protected", "header", "signature"}
    assert _verify(text).verified


def test_general_json_presentation_with_a_second_foreign_signature_verifies() -> None:
    compact = _present(_issue())
    env = split(compact)
    doc = json.loads(to_json(env, flattened=False))
    stranger = SigningKey.generate()
    protected = doc["signatures"][0]["protected"]
    sig = b64u_encode(stranger.sign(f"{protected}.{doc['payload']}".encode()))
    doc["signatures"].append({"protected": protected, "header": {"kid": "x"}, "signature": sig})
    assert _verify(json.dumps(doc)).verified
    doc["signatures"].reverse()  # disclosures must then be in the first signature's header
    with pytest.raises(MalformedPresentationError):
        _verify(json.dumps(doc))


def test_json_presentation_with_foreign_signature_only_fails_signature() -> None:
    doc = json.loads(to_json(split(_present(_issue()))))
    doc["signature"] = b64u_encode(SigningKey.generate().sign(b"x"))
    assert _outcome(_verify(json.dumps(doc))) == ("signature", Code.SIGNATURE_INVALID)


def test_offline_wildcard_snapshot_reports_the_credentials_issuer() -> None:
    trust = TrustSnapshot.from_issuer_jwks({ANY_ISSUER: [IK.public_key.to_jwk()]})
    result = _verify(_present(_issue(status=None)), trust)
    assert result.verified and result.issuer == ISS

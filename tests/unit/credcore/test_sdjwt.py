"""SD-JWT VC issuance, holder-side presentation and inspection (credcore.sdjwt)."""

from __future__ import annotations

import hashlib
import itertools
import json

import pytest

from credcore import jws
from credcore._b64 import b64u_decode, b64u_encode
from credcore.errors import (
    InvalidKeyError,
    MalformedInputError,
    MalformedPresentationError,
    PayloadTooLargeError,
    ReservedClaimError,
    UnsupportedAlgorithmError,
)
from credcore.keys import SigningKey
from credcore.presentations import verify_presentation
from credcore.sdjwt import (
    credential_digest,
    disclosable_claims,
    issue_sd_jwt_vc,
    present_sd_jwt,
    unsafe_decode,
    verify_sd_jwt_vc,
)
from credcore.status_list import StatusList
from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot

NOW = 1_795_000_000
ISS = "did:ethr:0x539:0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
VCT = "urn:civicpass:ResidentCredential:1"
URI = "https://issuer.example/status-lists/1"
IK = SigningKey.from_secret("P-256", bytes(range(1, 33)))
HK = SigningKey.from_secret("P-256", bytes(range(2, 34)))
CLAIMS = {
    "given_name": "Ana",
    "family_name": "Kim",
    "address": {"street": "1 Jongno", "city": "Seoul", "district": "Jongno-gu"},
    "nationalities": ["KR", "US"],
    "age_over_19": True,
}
TRUST = TrustSnapshot(
    issuers=(TrustedIssuer(ISS, "City", frozenset({VCT}), (IssuerKey(IK.public_key),)),),
    status_lists=(StatusListRecord(ISS, 1, URI, StatusList.empty(64)),),
)


class Salts:
    def __init__(self) -> None:
        self._n = itertools.count()

    def salt(self) -> str:
        return b64u_encode(next(self._n).to_bytes(16, "big"))


def _issue(**kw: object) -> str:
    args: dict[str, object] = {
        "vct": VCT, "issuer": ISS, "signer": IK, "holder_key": HK.public_key, "iat": NOW - 100, "exp": NOW + 86_400,
        "salts": Salts(), "status": {"status_list": {"idx": 3, "uri": URI}},
    }
    args.update(kw)
    claims = args.pop("claims", CLAIMS)
    return issue_sd_jwt_vc(claims, **args)  # type: ignore[arg-type]


def _present(sd: str, disclose: list[str]) -> str:
    return present_sd_jwt(sd, disclose=disclose, holder_key=HK, audience="aud", nonce="n", now=NOW)


def _verified(text: str) -> dict[str, object]:
    result = verify_sd_jwt_vc(text, trust=TRUST, now=NOW, audience="aud", nonce="n")
    assert result.verified, result.to_json()["checks"]
    return dict(result.claims)


def _payload(sd: str) -> dict[str, object]:
    return unsafe_decode(sd)["payload"]  # type: ignore[no-any-return]


# --- issuance ------------------------------------------------------------------------------------------
def test_issued_header_is_dc_sd_jwt_es256_with_thumbprint_kid() -> None:
    header = unsafe_decode(_issue())["header"]
    assert header == {"alg": "ES256", "typ": "dc+sd-jwt", "kid": IK.public_key.thumbprint()}


def test_issued_payload_keeps_registered_claims_plain_and_hides_the_rest() -> None:
    payload = _payload(_issue())
    assert {k: payload[k] for k in ("iss", "iat", "exp", "vct", "status")} == {
        "iss": ISS, "iat": NOW - 100, "exp": NOW + 86_400, "vct": VCT,
        "status": {"status_list": {"idx": 3, "uri": URI}},
    }
    assert payload["cnf"] == {"jwk": HK.public_key.to_jwk()}
    assert payload["_sd_alg"] == "sha-256"
    assert not set(CLAIMS) & set(payload)
    digests = payload["_sd"]
    assert isinstance(digests, list) and len(digests) == len(CLAIMS) and digests == sorted(digests)


def test_issued_text_ends_with_a_tilde_and_has_one_disclosure_per_claim() -> None:
    sd = _issue()
    assert sd.endswith("~") and len(sd.split("~")) == len(CLAIMS) + 2


def test_decoys_add_sorted_digests_without_disclosures() -> None:
    sd = _issue(decoys=4)
    digests = _payload(sd)["_sd"]
    assert isinstance(digests, list) and len(digests) == len(CLAIMS) + 4 and digests == sorted(digests)
    assert len(unsafe_decode(sd)["disclosures"]) == len(CLAIMS)
    assert _verified(_present(sd, ["given_name"]))["given_name"] == "Ana"


def test_nested_member_and_array_element_paths() -> None:
    sd = _issue(disclosable=["address/street", "nationalities/1"])
    payload = _payload(sd)
    assert "_sd" not in payload
    address, nationalities = payload["address"], payload["nationalities"]
    assert isinstance(address, dict) and set(address) == {"city", "district", "_sd"}
    assert isinstance(nationalities, list) and nationalities[0] == "KR" and set(nationalities[1]) == {"..."}
    assert disclosable_claims(sd) == {"address/street": "1 Jongno", "nationalities/1": "US"}


def test_recursive_disclosure_when_parent_and_child_are_both_disclosable() -> None:
    sd = _issue(disclosable=["address", "address/city"])
    held = disclosable_claims(sd)
    assert held == {"address": CLAIMS["address"], "address/city": "Seoul"}
    claims = _verified(_present(sd, ["address/street"]))  # street is plain inside address: address discloses it
    assert claims["address"] == {"street": "1 Jongno", "district": "Jongno-gu"}


def test_path_escapes_follow_json_pointer() -> None:
    sd = _issue(claims={"a/b": 1, "c~d": 2}, disclosable=["a~1b", "c~0d"])
    assert disclosable_claims(sd) == {"a~1b": 1, "c~0d": 2}


def test_nbf_in_claims_stays_plain_when_everything_is_disclosable() -> None:
    payload = _payload(_issue(claims={"nbf": NOW - 10, "x": 1}))
    assert payload["nbf"] == NOW - 10


@pytest.mark.parametrize("name", ["iss", "iat", "exp", "vct", "cnf", "status"])
def test_claims_may_not_carry_what_the_issuer_sets(name: str) -> None:
    with pytest.raises(ReservedClaimError):
        _issue(claims={name: 1})


@pytest.mark.parametrize("claims", [{"_sd": []}, {"a": {"_sd": 1}}, {"a": [{"...": "x"}]}, {"_sd_alg": "x"}])
def test_claims_may_not_use_sd_jwt_names_anywhere(claims: dict[str, object]) -> None:
    with pytest.raises(ReservedClaimError):
        _issue(claims=claims)


@pytest.mark.parametrize("path", ["nbf", "vct"])
def test_never_disclosable_claims_cannot_be_marked(path: str) -> None:
    with pytest.raises(ReservedClaimError):
        _issue(claims={"nbf": 1}, disclosable=[path])


@pytest.mark.parametrize(
    "path", ["missing", "address/zip", "nationalities/2", "nationalities/01", "given_name/x", "", "/a"]
)
def test_paths_must_name_existing_claims(path: str) -> None:
    with pytest.raises(MalformedInputError):
        _issue(disclosable=[path])


def test_a_single_string_is_not_mistaken_for_a_collection_of_paths() -> None:
    with pytest.raises(MalformedInputError):
        _issue(disclosable="given_name")
    with pytest.raises(MalformedInputError):
        _present(_issue(), "given_name")  # type: ignore[arg-type]


def test_non_json_claims_are_refused() -> None:
    with pytest.raises(MalformedInputError):
        _issue(claims={"a": object()})
    with pytest.raises(MalformedInputError):
        _issue(claims={1: "a"})


@pytest.mark.parametrize("status", [{"status_list": {"idx": -1, "uri": URI}}, {"status_list": {"idx": 1}}, {"x": 1}])
def test_status_must_be_a_status_list_reference(status: dict[str, object]) -> None:
    with pytest.raises(MalformedInputError):
        _issue(status=status)


def test_only_p256_issuer_and_holder_keys() -> None:
    with pytest.raises(UnsupportedAlgorithmError):
        _issue(signer=SigningKey.generate("secp256k1"))
    with pytest.raises(UnsupportedAlgorithmError):
        _issue(holder_key=SigningKey.generate("Ed25519").public_key)


def test_oversized_credentials_are_refused_at_issuance() -> None:
    with pytest.raises(PayloadTooLargeError):
        _issue(claims={"blob": "x" * 70_000}, disclosable=[])


def test_exp_none_omits_exp_and_holder_none_omits_cnf() -> None:
    payload = _payload(_issue(exp=None, holder_key=None))
    assert "exp" not in payload and "cnf" not in payload


# --- holder --------------------------------------------------------------------------------------------
def test_present_discloses_only_the_chosen_claims_with_key_binding() -> None:
    text = _present(_issue(), ["given_name", "age_over_19"])
    claims = _verified(text)
    assert claims["given_name"] == "Ana" and claims["age_over_19"] is True
    assert not {"family_name", "address", "nationalities"} & set(claims)
    kb = unsafe_decode(text)["kb_jwt"]
    assert kb["header"] == {"alg": "ES256", "typ": "kb+jwt"}
    assert kb["payload"]["sd_hash"] == b64u_encode(hashlib.sha256(text[: text.rfind("~") + 1].encode()).digest())


def test_present_a_parent_path_discloses_its_whole_subtree() -> None:
    sd = _issue(disclosable=["address", "address/street", "address/city"])
    assert _verified(_present(sd, ["address"]))["address"] == CLAIMS["address"]
    assert _verified(_present(sd, ["address/city"]))["address"] == {"city": "Seoul", "district": "Jongno-gu"}


def test_present_an_array_element() -> None:
    sd = _issue(disclosable=["nationalities/0", "nationalities/1"])
    assert _verified(_present(sd, ["nationalities/1"]))["nationalities"] == ["US"]
    assert _verified(_present(sd, []))["nationalities"] == []


def test_present_accepts_paths_to_plain_claims_and_refuses_unknown_ones() -> None:
    sd = _issue()
    assert "given_name" not in _verified(_present(sd, ["vct"]))
    with pytest.raises(MalformedInputError):
        _present(sd, ["shoe_size"])


def test_present_without_holder_key_has_no_kb_jwt() -> None:
    sd = _issue(holder_key=None)
    text = present_sd_jwt(sd, disclose=["given_name"], holder_key=None, audience="a", nonce="n", now=NOW)
    assert text.endswith("~") and unsafe_decode(text)["kb_jwt"] is None
    assert verify_sd_jwt_vc(text, trust=TRUST, now=NOW).verified


def test_present_refuses_a_holder_key_the_credential_is_not_bound_to() -> None:
    with pytest.raises(InvalidKeyError):
        present_sd_jwt(_issue(), disclose=[], holder_key=SigningKey.generate(), audience="a", nonce="n", now=NOW)


def test_present_refuses_a_presentation_as_input() -> None:
    with pytest.raises(MalformedInputError):
        _present(_present(_issue(), []), [])


def test_disclosable_claims_lists_every_disclosure_by_path() -> None:
    assert disclosable_claims(_issue()) == CLAIMS


def test_presentation_order_follows_issuance_order() -> None:
    sd = _issue()
    text = _present(sd, ["age_over_19", "given_name"])
    assert text.split("~")[1:3] == [sd.split("~")[1], sd.split("~")[5]]


# --- inspection and digest -------------------------------------------------------------------------------
def test_unsafe_decode_shows_disclosures_without_salts() -> None:
    decoded = unsafe_decode(_issue())
    assert decoded["serialization"] == "compact"
    assert decoded["claims"]["address"] == CLAIMS["address"]
    assert all(set(d) == {"digest", "name", "value"} for d in decoded["disclosures"])
    assert "salt" not in json.dumps(decoded)


def test_unsafe_decode_marks_broken_disclosures_instead_of_failing() -> None:
    sd = _issue()
    jwt, *_ = sd.split("~")
    decoded = unsafe_decode(f"{jwt}~not+base64~")
    assert decoded["disclosures"] == [{"encoded": "not+base64", "error": "malformed_disclosure"}]


def test_unsafe_decode_of_text_without_an_envelope_raises() -> None:
    with pytest.raises(MalformedPresentationError):
        unsafe_decode("no separators here")


def test_credential_digest_is_over_the_issuer_jwt_only() -> None:
    sd = _issue()
    jwt = sd.split("~")[0]
    assert credential_digest(sd) == hashlib.sha256(jwt.encode()).digest()
    assert credential_digest(_present(sd, ["given_name"])) == credential_digest(sd)
    result = verify_sd_jwt_vc(_present(sd, []), trust=TRUST, now=NOW, audience="aud", nonce="n")
    assert result.credential_digest == credential_digest(sd)


def test_verify_presentation_dispatches_sd_jwt_text() -> None:
    result = verify_presentation(_present(_issue(), ["given_name"]), trust=TRUST, now=NOW, audience="aud", nonce="n")
    assert result.verified and result.format == "sd-jwt-vc"
    assert (result.credential_type, result.issuer) == (VCT, ISS)


def test_kb_jwt_is_a_plain_es256_jws_under_the_holder_key() -> None:
    kb = _present(_issue(), []).split("~")[-1]
    parsed = jws.verify(kb, HK.public_key, typ="kb+jwt")
    assert set(parsed.payload) == {"iat", "aud", "nonce", "sd_hash"} and parsed.payload["iat"] == NOW
    assert b64u_decode(kb.split(".")[2]) == parsed.signature

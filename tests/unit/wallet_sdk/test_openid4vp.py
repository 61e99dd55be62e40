"""Online presentation with OpenID4VP 1.0 against a spec-built verifier: consent shows exactly what is asked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from wallet_fake_issuer import ISSUER_ID, RESIDENT_VCT, FakeIssuer
from wallet_fake_verifier import FakeVerifier
from wallet_helpers import NOW

from credcore.status_list import StatusList
from credcore.trust import StatusListRecord, TrustSnapshot
from wallet_sdk.errors import PresentationRequestError
from wallet_sdk.openid4vp import decline, prepare, resolve_request, respond
from wallet_sdk.qr import decode_qr_image, render_png
from wallet_sdk.receive import receive
from wallet_sdk.records import StoredCredential
from wallet_sdk.store import Wallet


def _dcql(*paths: list[Any], vct: str = RESIDENT_VCT, **extra: Any) -> dict[str, Any]:
    query: dict[str, Any] = {"id": "resident", "format": "dc+sd-jwt", "meta": {"vct_values": [vct]}, **extra}
    if paths:
        query["claims"] = [{"path": p} for p in paths]
    return {"credentials": [query]}


@pytest.fixture
def issuer() -> FakeIssuer:
    return FakeIssuer(now=NOW)


@pytest.fixture
def held(wallet: Wallet, issuer: FakeIssuer) -> StoredCredential:
    return receive(wallet, issuer.offer(), tx_code=issuer.pin, http=issuer.client(), trust=issuer.trust(), now=NOW)


@pytest.fixture
def verifier(issuer: FakeIssuer) -> FakeVerifier:
    record = StatusListRecord(ISSUER_ID, 1, "https://issuer.example/city/status-lists/1", StatusList.empty(64))
    trust = TrustSnapshot(issuers=issuer.trust().issuers, status_lists=(record,))
    return FakeVerifier(now=NOW, trust=trust)


def test_request_asking_for_more_than_needed_shows_exactly_what_is_asked(
    wallet: Wallet, held: StoredCredential, verifier: FakeVerifier
) -> None:
    # The verifier's policy needs only age_over_19, but it asks for name, birth date and city too.
    uri = verifier.request(_dcql(["name"], ["birth_date"], ["city"], ["age_over_19"]))
    req = resolve_request(uri, http=verifier.client(), now=NOW)
    consent = prepare(wallet, req)
    assert req.verifier == verifier.client_id.removeprefix("decentralized_identifier:") and req.authenticated
    assert consent.asked() == {"resident": ("name", "birth_date", "city", "age_over_19")}
    assert consent.matches["resident"].credential_id == held.id
    assert set(consent.values["resident"]) == {"name", "birth_date", "city", "age_over_19"}
    assert consent.values["resident"]["city"] == "Busan"
    respond(wallet, consent, http=verifier.client(), now=NOW)
    [result] = verifier.results
    assert result.verified, result.to_json()
    disclosed = {k for k in result.claims if k not in {"iss", "iat", "exp", "vct", "cnf", "status"}}
    assert disclosed == {"name", "birth_date", "city", "age_over_19"}


def test_only_the_asked_claims_leave_the_wallet(wallet: Wallet, held: StoredCredential, verifier: FakeVerifier) -> None:
    uri = verifier.request(_dcql(["age_over_19"]))
    consent = prepare(wallet, resolve_request(uri, http=verifier.client(), now=NOW))
    respond(wallet, consent, http=verifier.client(), now=NOW)
    [result] = verifier.results
    assert result.verified
    assert "age_over_19" in result.claims
    assert not {"name", "birth_date", "city", "district"} & set(result.claims)
    vp_token = json.loads(verifier.answers[0]["vp_token"])
    assert list(vp_token) == ["resident"] and len(vp_token["resident"]) == 1
    assert "Kim" not in vp_token["resident"][0]


def test_query_without_claims_discloses_nothing_selective(
    wallet: Wallet, held: StoredCredential, verifier: FakeVerifier
) -> None:
    consent = prepare(wallet, resolve_request(verifier.request(_dcql()), http=verifier.client(), now=NOW))
    assert consent.matches["resident"].disclose == ()
    respond(wallet, consent, http=verifier.client(), now=NOW)
    assert verifier.results[0].verified and "city" not in verifier.results[0].claims


def test_answer_carries_state_and_is_logged_with_claim_names_only(
    wallet: Wallet, held: StoredCredential, verifier: FakeVerifier
) -> None:
    uri = verifier.request(_dcql(["city"]))
    consent = prepare(wallet, resolve_request(uri, http=verifier.client(), now=NOW))
    respond(wallet, consent, http=verifier.client(), now=NOW)
    assert verifier.answers[0]["state"] == consent.request.state
    [entry] = wallet.history()
    assert (entry.kind, entry.verifier, entry.claims, entry.outcome) == (
        "openid4vp",
        verifier.client_id,
        ("city",),
        "accepted",
    )


def test_request_from_a_photo_of_its_qr_code(wallet: Wallet, held: StoredCredential, verifier: FakeVerifier) -> None:
    [text] = decode_qr_image(render_png(verifier.request(_dcql(["city"]))))
    assert resolve_request(text, http=verifier.client(), now=NOW).nonce


def test_decline_tells_the_verifier_access_denied(
    wallet: Wallet, held: StoredCredential, verifier: FakeVerifier
) -> None:
    consent = prepare(wallet, resolve_request(verifier.request(_dcql(["city"])), http=verifier.client(), now=NOW))
    decline(consent, http=verifier.client())
    assert verifier.answers[0]["error"] == "access_denied" and not verifier.results


def test_asking_for_a_type_the_wallet_does_not_hold_cannot_be_answered(
    wallet: Wallet, held: StoredCredential, verifier: FakeVerifier
) -> None:
    uri = verifier.request(_dcql(["market"], vct="urn:civicpass:MerchantCredential:1"))
    consent = prepare(wallet, resolve_request(uri, http=verifier.client(), now=NOW))
    assert consent.missing == ("resident",) and not consent.can_answer
    assert consent.asked() == {"resident": ("market",)}
    with pytest.raises(PresentationRequestError):
        respond(wallet, consent, http=verifier.client(), now=NOW)
    assert verifier.answers == []


def test_values_constraint_that_does_not_hold_is_not_matched(
    wallet: Wallet, held: StoredCredential, verifier: FakeVerifier
) -> None:
    dcql = {"credentials": [{"id": "resident", "format": "dc+sd-jwt", "meta": {"vct_values": [RESIDENT_VCT]},
                             "claims": [{"path": ["city"], "values": ["Seoul"]}]}]}  # fmt: skip
    consent = prepare(wallet, resolve_request(verifier.request(dcql), http=verifier.client(), now=NOW))
    assert consent.missing == ("resident",)


def test_claim_sets_pick_the_first_option_the_credential_satisfies(
    wallet: Wallet, held: StoredCredential, verifier: FakeVerifier
) -> None:
    dcql = {"credentials": [{
        "id": "resident", "format": "dc+sd-jwt", "meta": {"vct_values": [RESIDENT_VCT]},
        "claims": [{"id": "m", "path": ["market"]}, {"id": "c", "path": ["city"]},
                   {"id": "a", "path": ["age_over_19"]}],
        "claim_sets": [["m"], ["c", "a"]],
    }]}  # fmt: skip
    consent = prepare(wallet, resolve_request(verifier.request(dcql), http=verifier.client(), now=NOW))
    assert consent.matches["resident"].disclose == ("city", "age_over_19")


def test_unsigned_redirect_uri_request_works_but_is_marked_unauthenticated(
    wallet: Wallet, held: StoredCredential, verifier: FakeVerifier
) -> None:
    req = resolve_request(verifier.unsigned_request(_dcql(["city"])), http=verifier.client(), now=NOW)
    assert not req.authenticated and req.verifier == "https://verifier.example/response"
    respond(wallet, prepare(wallet, req), http=verifier.client(), now=NOW)
    assert verifier.results[0].verified


def test_unsigned_request_sending_answers_elsewhere_is_refused(verifier: FakeVerifier) -> None:
    uri = verifier.unsigned_request(_dcql(["city"]), response_uri="https://elsewhere.example/collect")
    with pytest.raises(PresentationRequestError):
        resolve_request(uri, http=verifier.client(), now=NOW)


@pytest.mark.parametrize("tamper", ["foreign_signer", "kid", "client_id"])
def test_request_object_not_signed_by_the_client_is_refused(verifier: FakeVerifier, tamper: str) -> None:
    with pytest.raises(PresentationRequestError) as exc:
        resolve_request(verifier.request(_dcql(["city"]), tamper=tamper), http=verifier.client(), now=NOW)
    assert exc.value.code == "wallet_bad_request"


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": NOW - 120},
        {"response_mode": "direct_post.jwt"},
        {"response_type": "code"},
        {"response_uri": "http://verifier.example/response"},
        {"nonce": ""},
        {"dcql_query": {"credentials": []}},
        {"dcql_query": {"credentials": [{"id": "a b", "format": "dc+sd-jwt"}]}},
        {"presentation_definition": {}},
    ],
)
def test_invalid_requests_are_refused_with_a_code(verifier: FakeVerifier, overrides: dict[str, Any]) -> None:
    with pytest.raises(PresentationRequestError):
        resolve_request(verifier.request(_dcql(["city"]), **overrides), http=verifier.client(), now=NOW)


@pytest.mark.parametrize(
    "uri",
    [
        "openid4vp://?request_uri=https%3A%2F%2Fverifier.example%2Frequests%2Fx",
        "openid4vp://?client_id=x509_san_dns%3Averifier.example&request_uri=https%3A%2F%2Fverifier.example%2Fr",
        "openid4vp://?client_id=decentralized_identifier%3Adid%3Akey%3Azx",
        "mailto:someone@example.com",
    ],
)
def test_malformed_or_unsupported_uris_are_refused(verifier: FakeVerifier, uri: str) -> None:
    with pytest.raises(PresentationRequestError):
        resolve_request(uri, http=verifier.client(), now=NOW)


# --- request_uri_method=post and direct_post.jwt (OpenID4VP 1.0 §5.10, §8.3) -------------------------
def _jwt_meta(key: dict[str, Any], **extra: Any) -> dict[str, Any]:
    from credcore import jwe

    return {"jwks": {"keys": [jwe.public_jwk(key)]}, **extra}


def test_post_fetch_sends_wallet_metadata_and_a_nonce_that_must_come_back(
    held: StoredCredential, verifier: FakeVerifier
) -> None:
    uri = verifier.request(_dcql(["age_over_19"])) + "&request_uri_method=post"
    with pytest.raises(PresentationRequestError, match="wallet_nonce"):
        resolve_request(uri, http=verifier.client(), now=NOW)
    [form] = verifier.fetch_forms
    meta = json.loads(form["wallet_metadata"])
    assert len(form["wallet_nonce"]) >= 16 and meta["request_object_signing_alg_values_supported"] == ["ES256"]
    assert meta["authorization_encryption_enc_values_supported"] == ["A128GCM", "A256GCM"]


def test_encrypted_answer_is_a_jwe_to_the_verifiers_key(
    wallet: Wallet, held: StoredCredential, verifier: FakeVerifier
) -> None:
    from credcore import jwe

    key = jwe.generate_key("k1")
    meta = _jwt_meta(key, encrypted_response_enc_values_supported=["A128CBC-HS256", "A256GCM"])
    uri = verifier.request(_dcql(["age_over_19"]), response_mode="direct_post.jwt", client_metadata=meta)
    request = resolve_request(uri, http=verifier.client(), now=NOW)
    assert (request.response_mode, request.encryption_enc) == ("direct_post.jwt", "A256GCM")
    respond(wallet, prepare(wallet, request), http=verifier.client(), now=NOW)
    [form] = verifier.answers
    assert set(form) == {"response"}
    header = jwe.protected_header(form["response"])
    assert (header["kid"], header["enc"], header["alg"]) == ("k1", "A256GCM", "ECDH-ES")
    inner = jwe.decrypt(form["response"], key)
    assert inner["state"] == request.state and list(inner["vp_token"]) == ["resident"]


@pytest.mark.parametrize(("meta", "match"), [
    ({}, "jwks"),
    ({"jwks": {"keys": [{"kty": "RSA", "n": "x", "e": "AQAB", "alg": "RSA-OAEP"}]}}, "no P-256"),
    ({"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "alg": "ECDH-ES"}]}}, "not a valid"),
    ("sig-key", "no P-256"),
    ("cbc-only", "content encryption"),
])
def test_encrypted_requests_the_wallet_cannot_serve_are_refused(
    held: StoredCredential, verifier: FakeVerifier, meta: Any, match: str
) -> None:
    from credcore import jwe

    if meta == "sig-key":
        meta = {"jwks": {"keys": [{**jwe.public_jwk(jwe.generate_key("s")), "use": "sig"}]}}
    elif meta == "cbc-only":
        meta = _jwt_meta(jwe.generate_key("c"), encrypted_response_enc_values_supported=["A128CBC-HS256"])
    uri = verifier.request(_dcql(["age_over_19"]), response_mode="direct_post.jwt", client_metadata=meta)
    with pytest.raises(PresentationRequestError, match=match):
        resolve_request(uri, http=verifier.client(), now=NOW)

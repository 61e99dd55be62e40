"""OpenID4VCI 1.0 from the outside: a wallet written from the spec receives credentials, and every
credential it gets verifies with credcore against only what the issuer publishes."""

from __future__ import annotations

import base64

import pytest
from issuer_world import (
    BASE,
    CLERK,
    GRANT,
    GRANT_CLAIMS,
    MERCHANT,
    MERCHANT_CLAIMS,
    OPERATOR,
    RESIDENT,
    RESIDENT_CLAIMS,
    HolderKey,
    Wallet,
    signing_key_of,
    trust_from_issuer,
)

from credcore import cp1, sdjwt
from credcore._b64 import b64u_decode
from credcore.presentations import verify_presentation


def offer(client, vct=RESIDENT, claims=RESIDENT_CLAIMS):
    r = client.post("/v1/offers", headers=CLERK, json={"vct": vct, "claims": claims})
    assert r.status_code == 201, r.text
    return r.json()


def test_metadata_lists_sd_jwt_and_cp1_configurations(client):
    meta = client.get("/.well-known/openid-credential-issuer").json()
    assert meta["credential_issuer"] == BASE
    assert meta["nonce_endpoint"] == f"{BASE}/nonce"
    configs = meta["credential_configurations_supported"]
    assert configs["ResidentCredential"]["format"] == "dc+sd-jwt"
    assert configs["ResidentCredential"]["vct"] == RESIDENT
    assert configs["ResidentCredential_cp1"] == configs["ResidentCredential_cp1"] | {"format": "civicpass-cp1",
                                                                                       "profile": "resident-basic"}
    assert "GrantEligibilityCredential_cp1" not in configs
    asm = client.get("/.well-known/oauth-authorization-server").json()
    assert asm["token_endpoint"] == f"{BASE}/token" and asm["pre-authorized_grant_anonymous_access_supported"]


def test_offer_returns_uri_pin_and_a_png_qr(client):
    body = offer(client)
    assert body["credential_offer_uri"].startswith("openid-credential-offer://?credential_offer=")
    assert body["tx_code"].isdigit() and len(body["tx_code"]) == 6
    assert base64.b64decode(body["qr_png_base64"]).startswith(b"\x89PNG\r\n\x1a\n")
    parsed = Wallet.parse_offer(body["credential_offer_uri"])
    assert parsed.tx_code == {"input_mode": "numeric", "length": 6, "description": "The PIN the clerk shows you"}


def test_full_exchange_resident_credentials_verify(client, service, clock):
    body = offer(client)
    wallet = Wallet(client, clock.now())
    got = wallet.receive(body["credential_offer_uri"], body["tx_code"], copies=4)
    service.worker.run_once(force=True)
    trust = trust_from_issuer(client, service.issuer_id, [1])

    # SD-JWT VC: bound to the first proof key; disclose two claims only
    assert sdjwt.disclosable_claims(got["sd_jwt"])["district"] == "해운대구"
    pres = sdjwt.present_sd_jwt(got["sd_jwt"], disclose=["age_over_19", "city"],
                                holder_key=signing_key_of(got["sd_key"]), audience="counter-1", nonce="n-1",
                                now=clock.now())
    result = verify_presentation(pres, trust=trust, now=clock.now(), audience="counter-1", nonce="n-1")
    assert result.verified, result.to_json()
    assert result.claims["age_over_19"] is True and "name" not in result.claims

    # CP1 copies: one per proof key, each verifies with its own key, each in its own status slot
    assert len(got["cp1"]) == 4
    for text, key in zip(got["cp1"], got["cp1_keys"], strict=True):
        qr = cp1.present_cp1(b64u_decode(text), holder_key=signing_key_of(key), now=clock.now())
        result = verify_presentation(qr, trust=trust, now=clock.now())
        assert result.verified, result.to_json()
        assert result.claims["district"] == 26350
    slots = {(c.status_list_id, c.status_index) for c in (cp1.decode_cp1(cp1.present_cp1(
        b64u_decode(t), holder_key=signing_key_of(k), now=clock.now())) for t, k in zip(got["cp1"], got["cp1_keys"],
                                                                                    strict=True))}
    assert len(slots) == 4


def test_merchant_and_grant_offers(client, clock):
    wallet = Wallet(client, clock.now())
    body = offer(client, MERCHANT, MERCHANT_CLAIMS)
    got = wallet.receive(body["credential_offer_uri"], body["tx_code"], copies=2)
    assert len(got["cp1"]) == 2 and sdjwt.disclosable_claims(got["sd_jwt"])["programmes"] == [7, 3]
    body = offer(client, GRANT, GRANT_CLAIMS)
    got = wallet.receive(body["credential_offer_uri"], body["tx_code"])
    assert got["cp1"] == [] and sdjwt.disclosable_claims(got["sd_jwt"])["amount_krw"] == 500000


# --- token endpoint: codes and PINs -------------------------------------------------------------------
def test_wrong_pin_is_invalid_grant_and_locks_after_the_limit(client, clock, settings):
    body = offer(client)
    wallet = Wallet(client, clock.now())
    code = wallet.parse_offer(body["credential_offer_uri"]).code
    wrong = "000000" if body["tx_code"] != "000000" else "111111"
    for _ in range(settings.tx_code_attempts):
        r = wallet.token(code, wrong)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = wallet.token(code, body["tx_code"])  # the right PIN, too late
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_missing_pin_is_invalid_request(client, clock):
    body = offer(client)
    wallet = Wallet(client, clock.now())
    r = wallet.token(wallet.parse_offer(body["credential_offer_uri"]).code, None)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_unknown_code_is_invalid_grant(client, clock):
    r = Wallet(client, clock.now()).token("not-a-code", "123456")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert r.headers["content-type"].startswith("application/json")


def test_code_is_single_use(client, clock):
    body = offer(client)
    wallet = Wallet(client, clock.now())
    code = wallet.parse_offer(body["credential_offer_uri"]).code
    assert wallet.token(code, body["tx_code"]).status_code == 200
    r = wallet.token(code, body["tx_code"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_expired_code_is_invalid_grant(client, clock, settings):
    body = offer(client)
    clock.advance(settings.offer_ttl + 1)
    wallet = Wallet(client, clock.now())
    r = wallet.token(wallet.parse_offer(body["credential_offer_uri"]).code, body["tx_code"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_other_grant_types_are_refused(client):
    r = client.post("/token", data={"grant_type": "authorization_code", "code": "x"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


# --- credential endpoint: proofs -------------------------------------------------------------------
@pytest.fixture
def redeemed(client, clock):
    body = offer(client)
    wallet = Wallet(client, clock.now())
    token = wallet.token(wallet.parse_offer(body["credential_offer_uri"]).code, body["tx_code"]).json()["access_token"]
    return wallet, token


def _error(r):
    assert r.status_code in {400, 401}, r.text
    return r.json()["error"]


def test_wrong_nonce_is_invalid_nonce(redeemed):
    wallet, token = redeemed
    wallet.nonce()
    proof = HolderKey().proof(aud=BASE, nonce="made-up", iat=wallet.now)
    assert _error(wallet.request(token, "ResidentCredential", [proof])) == "invalid_nonce"


def test_missing_nonce_is_invalid_nonce(redeemed):
    wallet, token = redeemed
    proof = HolderKey().proof(aud=BASE, nonce=None, iat=wallet.now)
    assert _error(wallet.request(token, "ResidentCredential", [proof])) == "invalid_nonce"


def test_nonce_is_single_use(redeemed):
    wallet, token = redeemed
    nonce = wallet.nonce()
    assert wallet.request(token, "ResidentCredential", [HolderKey().proof(aud=BASE, nonce=nonce, iat=wallet.now)]
                          ).status_code == 200
    proofs = [HolderKey().proof(aud=BASE, nonce=nonce, iat=wallet.now)]
    assert _error(wallet.request(token, "ResidentCredential_cp1", proofs)) == "invalid_nonce"


def test_wrong_audience_is_invalid_proof(redeemed):
    wallet, token = redeemed
    proof = HolderKey().proof(aud="https://elsewhere.example", nonce=wallet.nonce(), iat=wallet.now)
    assert _error(wallet.request(token, "ResidentCredential", [proof])) == "invalid_proof"


def test_old_iat_is_invalid_proof(redeemed, settings):
    wallet, token = redeemed
    proof = HolderKey().proof(aud=BASE, nonce=wallet.nonce(), iat=wallet.now - settings.proof_max_age - 1)
    assert _error(wallet.request(token, "ResidentCredential", [proof])) == "invalid_proof"


def test_future_iat_is_invalid_proof(redeemed):
    wallet, token = redeemed
    proof = HolderKey().proof(aud=BASE, nonce=wallet.nonce(), iat=wallet.now + 3600)
    assert _error(wallet.request(token, "ResidentCredential", [proof])) == "invalid_proof"


def test_alg_none_is_invalid_proof(redeemed):
    wallet, token = redeemed
    key = HolderKey()
    import jwt as pyjwt

    proof = pyjwt.encode({"aud": BASE, "iat": wallet.now, "nonce": wallet.nonce()}, None, algorithm="none",
                         headers={"typ": "openid4vci-proof+jwt", "jwk": key.jwk})
    assert _error(wallet.request(token, "ResidentCredential", [proof])) == "invalid_proof"


def test_key_not_matching_signature_is_invalid_proof(redeemed):
    wallet, token = redeemed
    proof = HolderKey().proof(aud=BASE, nonce=wallet.nonce(), iat=wallet.now, jwk=HolderKey().jwk)
    assert _error(wallet.request(token, "ResidentCredential", [proof])) == "invalid_proof"


def test_wrong_typ_is_invalid_proof(redeemed):
    wallet, token = redeemed
    proof = HolderKey().proof(aud=BASE, nonce=wallet.nonce(), iat=wallet.now, typ="JWT")
    assert _error(wallet.request(token, "ResidentCredential", [proof])) == "invalid_proof"


def test_same_key_twice_in_a_batch_is_invalid_proof(redeemed):
    wallet, token = redeemed
    key, nonce = HolderKey(), wallet.nonce()
    proofs = [key.proof(aud=BASE, nonce=nonce, iat=wallet.now), key.proof(aud=BASE, nonce=nonce, iat=wallet.now)]
    assert _error(wallet.request(token, "ResidentCredential_cp1", proofs)) == "invalid_proof"


def test_batch_larger_than_advertised_is_refused(redeemed, settings):
    wallet, token = redeemed
    nonce = wallet.nonce()
    proofs = [HolderKey().proof(aud=BASE, nonce=nonce, iat=wallet.now) for _ in range(settings.batch_size + 1)]
    assert _error(wallet.request(token, "ResidentCredential_cp1", proofs)) == "invalid_credential_request"


def test_sd_jwt_batch_gives_one_unlinkable_credential_per_proof_key(redeemed, service, client, clock):
    wallet, token = redeemed
    keys, nonce = [HolderKey() for _ in range(3)], wallet.nonce()
    r = wallet.request(token, "ResidentCredential", [k.proof(aud=BASE, nonce=nonce, iat=wallet.now) for k in keys])
    assert r.status_code == 200, r.text
    creds = [c["credential"] for c in r.json()["credentials"]]
    assert len(creds) == 3 and len(set(creds)) == 3
    service.worker.run_once(force=True)
    trust = trust_from_issuer(client, service.issuer_id, [1])
    seen = []
    for text, key in zip(creds, keys, strict=True):
        payload = sdjwt.unsafe_decode(text)["payload"]
        seen.append((payload["status"]["status_list"]["idx"], payload["cnf"]["jwk"]["x"], frozenset(payload["_sd"])))
        pres = sdjwt.present_sd_jwt(text, disclose=["city"], holder_key=signing_key_of(key), audience="a", nonce="n",
                                    now=clock.now())
        assert verify_presentation(pres, trust=trust, now=clock.now(), audience="a", nonce="n").verified
        assert payload["cnf"]["jwk"] == key.jwk  # bound to its own proof's key, in the order of the proofs
    # no shared status slot, holder key or digest between copies (salts differ, so digests do)
    for i in range(3):
        assert len({s[i] for s in seen}) == 3


def test_sd_jwt_batch_larger_than_advertised_is_refused(redeemed, settings):
    wallet, token = redeemed
    nonce = wallet.nonce()
    proofs = [HolderKey().proof(aud=BASE, nonce=nonce, iat=wallet.now) for _ in range(settings.batch_size + 1)]
    assert _error(wallet.request(token, "ResidentCredential", proofs)) == "invalid_credential_request"


def test_configuration_not_offered_is_refused(redeemed):
    wallet, token = redeemed
    proof = HolderKey().proof(aud=BASE, nonce=wallet.nonce(), iat=wallet.now)
    assert _error(wallet.request(token, "MerchantCredential", [proof])) == "unknown_credential_configuration"


def test_configuration_is_issued_once_per_offer(redeemed):
    wallet, token = redeemed
    assert wallet.request(token, "ResidentCredential", [HolderKey().proof(aud=BASE, nonce=wallet.nonce(),
                                                                          iat=wallet.now)]).status_code == 200
    proof = HolderKey().proof(aud=BASE, nonce=wallet.nonce(), iat=wallet.now)
    assert _error(wallet.request(token, "ResidentCredential", [proof])) == "credential_request_denied"


def test_the_notification_id_is_the_credential_id_and_the_notification_is_audited(redeemed, client, service):
    wallet, token = redeemed
    assert client.get("/.well-known/openid-credential-issuer").json()["notification_endpoint"] == f"{BASE}/notification"
    r = wallet.request(token, "ResidentCredential", [HolderKey().proof(aud=BASE, nonce=wallet.nonce(), iat=wallet.now)])
    nid = r.json()["notification_id"]
    listed = client.get("/v1/credentials", headers=CLERK).json()["credentials"]
    assert nid in {c["id"] for c in listed}  # what the operator revokes by
    auth = {"Authorization": f"Bearer {token}"}
    r = wallet.http.post("/notification", json={"notification_id": nid, "event": "credential_accepted"}, headers=auth)
    assert r.status_code == 204, r.text
    events, _ = service.admin.audit_entries(after=0, limit=1000)
    assert any(e["action"] == "credential.notified" and e["target"] == nid for e in events)


@pytest.mark.parametrize(("body", "error"), [
    ({"notification_id": "someone-elses", "event": "credential_accepted"}, "invalid_notification_id"),
    ({"event": "credential_accepted"}, "invalid_notification_request"),
    ({"notification_id": "x", "event": "credential_lost"}, "invalid_notification_request"),
    ([], "malformed_input"),  # not a JSON object: refused by the shared edge before the endpoint
])
def test_bad_notifications_are_refused(redeemed, body, error):
    wallet, token = redeemed
    r = wallet.http.post("/notification", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.json()["code"] == error, r.text
    if isinstance(body, dict):
        r = wallet.http.post("/notification", json=body)
        assert r.status_code == 401 and r.json()["error"] == "invalid_token"


def test_bad_or_expired_access_token_is_invalid_token(redeemed, clock, settings):
    wallet, token = redeemed
    proof = HolderKey().proof(aud=BASE, nonce=wallet.nonce(), iat=wallet.now)
    r = wallet.request("nope", "ResidentCredential", [proof])
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert "invalid_token" in r.headers["www-authenticate"]
    clock.advance(settings.access_token_ttl)
    assert _error(wallet.request(token, "ResidentCredential", [proof])) == "invalid_token"


@pytest.mark.parametrize("body", [
    {"credential_configuration_id": "ResidentCredential", "proof": {"proof_type": "jwt", "jwt": "x"}},
    {"credential_configuration_id": "ResidentCredential", "proofs": {"jwt": "x"}},
    {"credential_configuration_id": "ResidentCredential", "proofs": {"jwt": [], "ldp_vp": []}},
    {"proofs": {"jwt": ["x"]}},
    {"credential_configuration_id": "ResidentCredential", "proofs": {"jwt": [17]}},
])
def test_malformed_credential_requests_are_4xx(redeemed, body):
    wallet, token = redeemed
    r = wallet.http.post("/credential", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.json()["error"] in {"invalid_credential_request", "invalid_proof"}


def test_failed_credential_request_leaves_no_state(redeemed, client, service):
    wallet, token = redeemed
    nonce = wallet.nonce()
    good = HolderKey().proof(aud=BASE, nonce=nonce, iat=wallet.now)
    bad = HolderKey().proof(aud="https://elsewhere", nonce=nonce, iat=wallet.now)
    assert _error(wallet.request(token, "ResidentCredential_cp1", [good, bad])) == "invalid_proof"
    assert client.get("/v1/credentials", headers=OPERATOR).json()["credentials"] == []
    # the nonce was not consumed by the failed request, and the configuration can still be issued
    assert wallet.request(token, "ResidentCredential_cp1", [good]).status_code == 200


def test_unredeemed_offers_lose_their_claims_when_they_expire(client, service, clock, settings):
    from issuer.store.models import Offer

    body = offer(client)
    kept = offer(client)
    wallet = Wallet(client, clock.now())
    token = wallet.token(wallet.parse_offer(kept["credential_offer_uri"]).code, kept["tx_code"])
    assert token.status_code == 200
    clock.advance(settings.offer_ttl - 1)
    service.worker.run_once()
    with service.sessions() as s:
        assert s.get(Offer, body["offer_id"]).claims_json is not None  # still redeemable
    clock.advance(2)
    service.worker.run_once()
    with service.sessions() as s:
        gone = s.get(Offer, body["offer_id"])
        assert gone.state == "expired" and gone.claims_json is None
        assert s.get(Offer, kept["offer_id"]).claims_json is None  # its access token expired too

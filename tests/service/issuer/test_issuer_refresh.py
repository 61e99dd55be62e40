"""Refresh: a wallet that proved a DPoP key (RFC 9449) gets a refresh token and later new batches of the same
credential without a new offer; limited per day, refused for revoked or suspended credentials, and the tokens
are useless without the wallet's key. DPoP proofs are made with PyJWT, written from the RFC."""

from __future__ import annotations

import base64

import pytest
from issuer_world import BASE, CLERK, OPERATOR, RESIDENT, RESIDENT_CLAIMS, DpopKey, HolderKey, Wallet, signing_key_of
from issuer_world import trust_from_issuer as trust_of

from credcore import cp1, sdjwt
from credcore._b64 import b64u_decode
from credcore.presentations import verify_presentation

PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


def offer(client):
    r = client.post("/v1/offers", headers=CLERK, json={"vct": RESIDENT, "claims": RESIDENT_CLAIMS})
    assert r.status_code == 201, r.text
    return r.json()


def token(client, clock, key, body):
    code = Wallet.parse_offer(body["credential_offer_uri"]).code
    form = {"grant_type": PRE_AUTH, "pre-authorized_code": code, "tx_code": body["tx_code"]}
    return key.post(client, "/token", iat=clock.now(), data=form)


def request(client, clock, key, access, config_id, n=1, *, scheme="DPoP", dpop=None):
    holders = [HolderKey() for _ in range(n)]
    nonce = client.post("/nonce").json()["c_nonce"]
    body = {"credential_configuration_id": config_id,
            "proofs": {"jwt": [h.proof(aud=BASE, nonce=nonce, iat=clock.now()) for h in holders]}}
    headers = {"Authorization": f"{scheme} {access}"}
    if dpop is not None:
        return client.post("/credential", json=body, headers={**headers, "DPoP": dpop}), holders
    return key.post(client, "/credential", iat=clock.now(), token=access, json=body, headers=headers), holders


def refresh(client, clock, key, refresh_token):
    return key.post(client, "/token", iat=clock.now(),
                    data={"grant_type": "refresh_token", "refresh_token": refresh_token})


@pytest.fixture
def granted(client, clock):
    """A wallet with a DPoP key that received the SD-JWT VC and CP1 copies of one offer."""
    key = DpopKey()
    r = token(client, clock, key, offer(client))
    assert r.status_code == 200, r.text
    body = r.json()
    for config_id in ("ResidentCredential", "ResidentCredential_cp1"):
        got, _ = request(client, clock, key, body["access_token"], config_id)
        assert got.status_code == 200, got.text
    return key, body


def test_dpop_at_the_token_endpoint_binds_the_tokens_and_adds_a_refresh_token(client, clock):
    key = DpopKey()
    body = token(client, clock, key, offer(client)).json()
    assert body["token_type"] == "DPoP" and body["refresh_token"] and body["access_token"]
    # the token is bound: as a bearer token, or with a proof by another key, the credential endpoint (a protected
    # resource, RFC 9449 §7.1 and §7.2) refuses it with 401 and a DPoP challenge
    r, _ = request(client, clock, key, body["access_token"], "ResidentCredential", scheme="Bearer")
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert r.headers["www-authenticate"] == 'DPoP error="invalid_token"'
    r, _ = request(client, clock, DpopKey(), body["access_token"], "ResidentCredential")
    assert r.status_code == 401 and r.json()["error"] == "invalid_dpop_proof"
    assert r.headers["www-authenticate"] == 'DPoP error="invalid_dpop_proof"'
    r, _ = request(client, clock, key, body["access_token"], "ResidentCredential", dpop="not.a.jwt")
    assert r.status_code == 401 and r.json()["error"] == "invalid_dpop_proof", r.text
    assert r.json()["code"] == "resource_dpop_proof_invalid"
    r, _ = request(client, clock, key, body["access_token"], "ResidentCredential")
    assert r.status_code == 200, r.text


def test_without_dpop_there_is_no_refresh_token(client, clock):
    body = offer(client)
    code = Wallet.parse_offer(body["credential_offer_uri"]).code
    r = client.post("/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code, "tx_code": body["tx_code"]})
    assert r.json()["token_type"] == "Bearer" and "refresh_token" not in r.json()


def test_metadata_advertises_dpop_and_the_refresh_grant(client):
    meta = client.get("/.well-known/oauth-authorization-server").json()
    assert meta["dpop_signing_alg_values_supported"] == ["ES256"] and "refresh_token" in meta["grant_types_supported"]


def test_refresh_gives_a_new_batch_of_the_same_credential_that_verifies(client, clock, service, granted):
    key, body = granted
    clock.advance(3600)
    r = refresh(client, clock, key, body["refresh_token"])
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]
    assert r.json()["token_type"] == "DPoP" and "refresh_token" not in r.json()  # bound, so not rotated
    sd, sd_keys = request(client, clock, key, access, "ResidentCredential", n=3)
    copies, cp1_keys = request(client, clock, key, access, "ResidentCredential_cp1", n=5)
    assert sd.status_code == 200 and copies.status_code == 200, (sd.text, copies.text)
    assert sd.json()["credentials"] and len(copies.json()["credentials"]) == 5
    original = client.get("/v1/credentials", headers=OPERATOR).json()["credentials"]
    assert len(original) == 1 and original[0]["copies"] == 2 + 3 + 5  # one credential: the batch is more of it

    service.worker.run_once(force=True)
    trust = trust_of(client, service.issuer_id, [1])
    now = clock.now()
    for c, h in zip([c["credential"] for c in sd.json()["credentials"]], sd_keys, strict=True):
        payload = sdjwt.unsafe_decode(c)["payload"]
        assert payload["iat"] == now and payload["exp"] == original[0]["exp"]  # signed now, expiry unchanged
        pres = sdjwt.present_sd_jwt(c, disclose=["city"], holder_key=signing_key_of(h), audience="a", nonce="n",
                                    now=now)
        assert verify_presentation(pres, trust=trust, now=now, audience="a", nonce="n").verified
    for c, h in zip([c["credential"] for c in copies.json()["credentials"]], cp1_keys, strict=True):
        qr = cp1.present_cp1(b64u_decode(c), holder_key=signing_key_of(h), now=now)
        assert verify_presentation(qr, trust=trust, now=now).verified

    # each configuration once per refresh
    again, _ = request(client, clock, key, access, "ResidentCredential")
    assert again.status_code == 400 and again.json()["error"] == "credential_request_denied"

    # revoking the credential revokes the refreshed copies too (same credential, same status)
    cid = original[0]["id"]
    assert client.post(f"/v1/credentials/{cid}/revoke", headers=OPERATOR).status_code == 200
    service.worker.run_once(force=True)
    trust = trust_of(client, service.issuer_id, [1])
    c, h = copies.json()["credentials"][0]["credential"], cp1_keys[0]
    qr = cp1.present_cp1(b64u_decode(c), holder_key=signing_key_of(h), now=now)
    assert verify_presentation(qr, trust=trust, now=now).code == "revoked"


def test_refresh_needs_the_wallets_key(client, clock, granted):
    _, body = granted
    r = refresh(client, clock, DpopKey(), body["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof"
    r = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof"
    r = refresh(client, clock, DpopKey(), "made-up")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_dpop_proofs_are_single_use_and_for_one_request(client, clock, granted):
    key, body = granted
    form = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    proof = key.proof(f"{BASE}/token", iat=clock.now(), jti="fixed-jti-123")
    assert client.post("/token", data=form, headers={"DPoP": proof}).status_code == 200
    replay = client.post("/token", data=form, headers={"DPoP": proof})
    assert replay.status_code == 400 and replay.json()["code"] == "invalid_dpop_proof"
    now = clock.now()
    for bad in (key.proof(f"{BASE}/credential", iat=now), key.proof(f"{BASE}/token", iat=now, htm="GET"),
                key.proof(f"{BASE}/token", iat=now - 3600), "not.a.jwt"):
        r = client.post("/token", data=form, headers={"DPoP": bad})
        assert r.status_code == 400 and r.json()["code"] == "invalid_dpop_proof", r.text


def test_refreshes_are_limited_per_day(client, clock, settings, granted):
    key, body = granted
    for _ in range(settings.refresh_batches_per_day):
        assert refresh(client, clock, key, body["refresh_token"]).status_code == 200
    r = refresh(client, clock, key, body["refresh_token"])
    assert r.status_code == 429 and r.json()["code"] == "refresh_limit_reached"
    clock.advance(86400)
    assert refresh(client, clock, key, body["refresh_token"]).status_code == 200


def test_no_refresh_for_a_suspended_or_revoked_credential(client, clock, service, granted):
    from sqlalchemy import text

    key, body = granted
    cid = client.get("/v1/credentials", headers=OPERATOR).json()["credentials"][0]["id"]
    assert client.post(f"/v1/credentials/{cid}/suspend", headers=OPERATOR).status_code == 200
    r = refresh(client, clock, key, body["refresh_token"])
    assert r.status_code == 400 and (r.json()["error"], r.json()["code"]) == ("invalid_grant",
                                                                             "refresh_credential_suspended")
    assert client.post(f"/v1/credentials/{cid}/reinstate", headers=OPERATOR).status_code == 200
    r = refresh(client, clock, key, body["refresh_token"])
    assert r.status_code == 200
    access = r.json()["access_token"]
    assert client.post(f"/v1/credentials/{cid}/revoke", headers=OPERATOR).status_code == 200
    # revoked after the refresh: the batch it allowed is refused too
    got, _ = request(client, clock, key, access, "ResidentCredential_cp1", n=2)
    assert got.status_code == 400 and got.json()["code"] == "refresh_credential_revoked"
    r = refresh(client, clock, key, body["refresh_token"])
    assert r.status_code == 400 and r.json()["code"] == "refresh_credential_revoked"
    with service.engine.connect() as conn:  # nothing kept to sign again with: the sealed claims are wiped
        assert conn.execute(text("SELECT sealed_claims FROM refresh_grants")).scalar_one() == b""


def test_grants_are_deleted_with_their_sealed_claims_when_expired(client, clock, service, settings, granted):
    from sqlalchemy import text

    def grants() -> int:
        with service.engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM refresh_grants")).scalar_one())

    assert grants() == 1
    service.worker.run_once()
    assert grants() == 1
    clock.advance(settings.refresh_token_ttl)
    service.worker.run_once()
    assert grants() == 0
    r = refresh(client, clock, granted[0], granted[1]["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_refresh_before_anything_was_issued_is_refused(client, clock):
    key = DpopKey()
    body = token(client, clock, key, offer(client)).json()
    r = refresh(client, clock, key, body["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_the_store_keeps_no_readable_claims_for_refresh(client, clock, service, granted):
    from sqlalchemy import text

    with service.engine.connect() as conn:
        rows = conn.execute(text("SELECT sealed_claims, token_claims, refresh_hash FROM refresh_grants")).all()
    assert rows
    for sealed, token_claims, refresh_hash in rows:
        assert RESIDENT_CLAIMS["name"].encode() not in sealed and b"birth" not in sealed
        assert token_claims is None and refresh_hash != granted[1]["refresh_token"]


def test_refresh_token_off_by_policy(tmp_path, clock):
    from issuer_world import TestClient, make_settings

    from issuer.api.app import build_service, create_app

    settings = make_settings(f"sqlite:///{tmp_path}/off.db", refresh_batches_per_day=0)
    svc = build_service(settings, clock=clock)
    with TestClient(create_app(settings, service=svc)) as client:
        body = token(client, clock, DpopKey(), offer(client)).json()
        assert body["token_type"] == "DPoP" and "refresh_token" not in body
        r = refresh(client, clock, DpopKey(), "x")
        assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    svc.sessions.kw["bind"].dispose()


def test_a_dpop_bound_token_notifies_with_a_proof_made_for_the_notification_endpoint(client, clock):
    key = DpopKey()
    access = token(client, clock, key, offer(client)).json()["access_token"]
    got, _ = request(client, clock, key, access, "ResidentCredential")
    body = {"notification_id": got.json()["notification_id"], "event": "credential_accepted"}
    r = client.post("/notification", json=body, headers={"Authorization": f"Bearer {access}"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    for htu, status in ((f"{BASE}/credential", 401), (f"{BASE}/notification", 204)):
        proof = key.proof(htu, iat=clock.now(), token=access)
        r = client.post("/notification", json=body, headers={"Authorization": f"DPoP {access}", "DPoP": proof})
        assert r.status_code == status, r.text


# --- server-provided DPoP nonces (RFC 9449 §8, §9) ------------------------------------------------------
def test_a_proof_without_the_issuers_nonce_is_refused_with_one_and_the_next_proof_carries_it(client, clock):
    key, body = DpopKey(), offer(client)
    code = Wallet.parse_offer(body["credential_offer_uri"]).code
    form = {"grant_type": PRE_AUTH, "pre-authorized_code": code, "tx_code": body["tx_code"]}
    r = client.post("/token", data=form, headers={"DPoP": key.proof(f"{BASE}/token", iat=clock.now())})
    assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce", r.text  # §8: 400 at the token endpoint
    assert r.json()["code"] == "dpop_nonce_required" and r.headers["dpop-nonce"]
    key.nonce = r.headers["dpop-nonce"]
    r = client.post("/token", data=form, headers={"DPoP": key.proof(f"{BASE}/token", iat=clock.now())})
    assert r.status_code == 200, r.text  # the offer was not spent by the refusal
    access, key.nonce = r.json()["access_token"], r.headers["dpop-nonce"]  # each answer gives the next one
    got, _ = request(client, clock, key, access, "ResidentCredential")
    assert got.status_code == 200 and got.headers["dpop-nonce"], got.text


@pytest.mark.parametrize("nonce", ["forged", "stale", "none"])
def test_the_credential_endpoint_asks_for_a_new_nonce_with_a_dpop_challenge(client, clock, service, nonce):
    key = DpopKey()
    access = token(client, clock, key, offer(client)).json()["access_token"]
    if nonce == "forged":
        key.nonce = base64.urlsafe_b64encode(clock.now().to_bytes(8, "big") + b"\0" * 16).rstrip(b"=").decode()
    elif nonce == "stale":
        key.nonce = service.oid4vci.dpop_nonces.issue(clock.now() - 301)  # this issuer's own, past its 300 s
    else:
        key.nonce = None
    proof = key.proof(f"{BASE}/credential", iat=clock.now(), token=access)
    r, _ = request(client, clock, key, access, "ResidentCredential", dpop=proof)
    assert r.status_code == 401 and r.json()["code"] == "resource_dpop_nonce_required", r.text  # §9
    assert r.headers["www-authenticate"] == 'DPoP error="use_dpop_nonce"' and r.headers["dpop-nonce"]


def test_a_wallet_without_dpop_gets_no_nonce_and_nonces_can_be_turned_off(client, clock, tmp_path):
    from issuer_world import TestClient, make_settings

    from issuer.api.app import build_service, create_app

    body = offer(client)
    code = Wallet.parse_offer(body["credential_offer_uri"]).code
    r = client.post("/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code, "tx_code": body["tx_code"]})
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer" and "dpop-nonce" not in r.headers
    settings = make_settings(f"sqlite:///{tmp_path}/no-nonces.db", dpop_nonce_ttl=0)
    svc = build_service(settings, clock=clock)
    with TestClient(create_app(settings, service=svc)) as off:
        key = DpopKey()
        code = Wallet.parse_offer((body := offer(off))["credential_offer_uri"]).code
        form = {"grant_type": PRE_AUTH, "pre-authorized_code": code, "tx_code": body["tx_code"]}
        r = off.post("/token", data=form, headers={"DPoP": key.proof(f"{BASE}/token", iat=clock.now())})
        assert r.status_code == 200 and "dpop-nonce" not in r.headers, r.text
    svc.sessions.kw["bind"].dispose()


def test_nonces_hold_across_replicas_for_their_lifetime_and_nothing_else_passes():
    from issuer.dpop import DpopNonces

    ours, replica, other = DpopNonces(b"k" * 32, 300), DpopNonces(b"k" * 32, 300), DpopNonces(b"x" * 32, 300)
    nonce = ours.issue(1_000_000)
    assert replica.valid(nonce, 1_000_000) and replica.valid(nonce, 1_000_300)  # same passphrase, same key
    assert not replica.valid(nonce, 1_000_301) and not ours.valid(nonce, 999_000)  # too old; far before it was made
    assert not other.valid(nonce, 1_000_000)
    for bad in (None, 7, "", "!!!", "a" * 65, nonce[:-2], nonce + "A"):
        assert not ours.valid(bad, 1_000_000)

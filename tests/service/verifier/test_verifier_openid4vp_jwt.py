"""OpenID4VP 1.0 request_uri_method=post (§5.10) and encrypted direct_post.jwt answers (§8.3), over HTTP.

The wallet side is written here against the spec; tests/interop drives a third-party wallet library.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwe as joserfc_jwe
from joserfc.jwk import ECKey
from test_verifier_openid4vp import answer, wallet_fetch
from verifier_world import TestClient

from credcore import jwe, jws
from credcore._b64 import b64u_encode

JWT = {"response_mode": "direct_post.jwt"}


def begin(client, **body) -> dict:
    r = client.post("/v1/requests", json={"policy": "age-over-19", **body})
    assert r.status_code == 200, r.text
    return r.json()


def fetch_post(client, req: dict, **form) -> object:
    return client.post(req["request_uri"], data=form)


def vp_token(world, ro: dict) -> dict:
    cred = world.credential()
    return {"cred": [world.present(cred, disclose=("age_over_19",), audience=ro["client_id"], nonce=ro["nonce"])]}


def encrypted(ro: dict, inner: dict, *, enc: str = "A128GCM", key: dict | None = None) -> str:
    jwk = key or ro["client_metadata"]["jwks"]["keys"][0]
    return jwe.encrypt(inner, jwk, enc=enc, apv=ro["nonce"].encode())


def result(client, req: dict) -> dict:
    return client.get(f"/v1/requests/{req['id']}").json()


# --- request_uri_method=post -------------------------------------------------------------------------
def test_post_method_is_in_the_uri_and_echoes_the_wallet_nonce(client):
    req = begin(client, request_uri_method="post")
    query = {k: v[0] for k, v in parse_qs(urlsplit(req["uri"]).query).items()}
    assert query["request_uri_method"] == "post" and query["request_uri"] == req["request_uri"]
    meta = {"vp_formats_supported": {"dc+sd-jwt": {}}, "request_object_signing_alg_values_supported": ["ES256"]}
    r = fetch_post(client, req, wallet_nonce="qPmxiNFCR3QTm19POc8u", wallet_metadata=json.dumps(meta), other="x")
    assert r.status_code == 200 and r.headers["content-type"] == "application/oauth-authz-req+jwt"
    ro = jws.parse(r.text, typ="oauth-authz-req+jwt").payload
    assert ro["wallet_nonce"] == "qPmxiNFCR3QTm19POc8u" and "iss" not in ro
    # Without a body (no wallet_metadata, no wallet_nonce) the POST still answers; GET keeps working too.
    bare = client.post(req["request_uri"])
    assert bare.status_code == 200 and "wallet_nonce" not in jws.parse(bare.text).payload
    assert "wallet_nonce" not in wallet_fetch(client, req["uri"].replace("&request_uri_method=post", ""))


def test_post_method_request_answers_like_any_other(client, world):
    req = begin(client, request_uri_method="post")
    ro = jws.parse(fetch_post(client, req, wallet_nonce="n1").text).payload
    assert answer(client, world, ro).status_code == 200
    assert result(client, req)["result"]["verified"] is True


@pytest.mark.parametrize(("form", "status", "code"), [
    ({"wallet_metadata": "{not json"}, 400, "malformed_input"),
    ({"wallet_metadata": "[1]"}, 400, "malformed_input"),
    ({"wallet_nonce": "n" * 257}, 400, "malformed_input"),
    ({"wallet_nonce": ""}, 400, "malformed_input"),
    ({"wallet_metadata": json.dumps({"request_object_signing_alg_values_supported": ["EdDSA"]})}, 422,
     "wallet_metadata_unsupported"),
    ({"wallet_metadata": "{" + " " * 17000 + "}"}, 413, "payload_too_large"),
])
def test_bad_request_uri_posts_are_refused(client, form, status, code):
    r = fetch_post(client, begin(client, request_uri_method="post"), **form)
    assert (r.status_code, r.json()["code"]) == (status, code)


def test_request_uri_post_must_be_a_form(client):
    r = client.post(begin(client)["request_uri"], json={"wallet_nonce": "x"})
    assert (r.status_code, r.json()["code"]) == (415, "unsupported_media_type")


def test_wallet_metadata_narrows_or_refuses_response_encryption(client):
    req = begin(client, request_uri_method="post", **JWT)
    meta = {"authorization_encryption_alg_values_supported": ["ECDH-ES"],
            "authorization_encryption_enc_values_supported": ["A256GCM", "A128CBC-HS256"]}
    ro = jws.parse(fetch_post(client, req, wallet_metadata=json.dumps(meta)).text).payload
    assert ro["client_metadata"]["encrypted_response_enc_values_supported"] == ["A256GCM"]
    for meta in ({"authorization_encryption_enc_values_supported": ["A128CBC-HS256"]},
                 {"authorization_encryption_alg_values_supported": ["RSA-OAEP-256"]}):
        r = fetch_post(client, req, wallet_metadata=json.dumps(meta))
        assert (r.status_code, r.json()["code"]) == (422, "wallet_metadata_unsupported")


# --- direct_post.jwt ---------------------------------------------------------------------------------
def test_encrypted_request_object_advertises_a_key_for_this_request_only(client):
    req = begin(client, **JWT)
    ro = wallet_fetch(client, req["uri"])
    assert ro["response_mode"] == "direct_post.jwt"
    meta = ro["client_metadata"]
    [key] = meta["jwks"]["keys"]
    assert key["kid"] == req["id"] and (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256",
                                                                                              "ECDH-ES", "enc")
    assert "d" not in key and meta["encrypted_response_enc_values_supported"] == ["A128GCM", "A256GCM"]
    other = wallet_fetch(client, begin(client, **JWT)["uri"])["client_metadata"]["jwks"]["keys"][0]
    assert (other["x"], other["y"]) != (key["x"], key["y"])
    assert result(client, req)["response_mode"] == "direct_post.jwt"


@pytest.mark.parametrize("enc", ["A128GCM", "A256GCM"])
def test_encrypted_answer_verifies_and_cannot_be_replayed(client, world, enc):
    req = begin(client, **JWT)
    ro = wallet_fetch(client, req["uri"])
    token = encrypted(ro, {"vp_token": vp_token(world, ro), "state": ro["state"]}, enc=enc)
    r = client.post(ro["response_uri"], data={"response": token})
    assert (r.status_code, r.json()) == (200, {})
    done = result(client, req)
    assert done["status"] == "done" and done["result"]["verified"] is True
    assert done["result"]["claims"]["age_over_19"] is True
    again = client.post(ro["response_uri"], data={"response": token})
    assert (again.status_code, again.json()["code"]) == (409, "request_used")


def test_vp_token_as_json_text_inside_the_jwe_is_accepted(client, world):
    req = begin(client, **JWT)
    ro = wallet_fetch(client, req["uri"])
    token = encrypted(ro, {"vp_token": json.dumps(vp_token(world, ro)), "state": ro["state"]})
    assert client.post(ro["response_uri"], data={"response": token}).status_code == 200
    assert result(client, req)["result"]["verified"] is True


def _refused(client, world, make, status: int, code: str) -> None:
    req = begin(client, **JWT)
    ro = wallet_fetch(client, req["uri"])
    r = client.post(ro["response_uri"], data={"response": make(ro, world)})
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    # A refused encrypted answer does not spend the request: the real wallet can still answer.
    assert result(client, req)["status"] == "pending"
    good = encrypted(ro, {"vp_token": vp_token(world, ro), "state": ro["state"]})
    assert client.post(ro["response_uri"], data={"response": good}).status_code == 200
    assert result(client, req)["result"]["verified"] is True


def _hdr(**fields) -> str:
    return b64u_encode(json.dumps(fields).encode())


def _with_header(ro, **fields) -> str:
    epk = jwe.public_jwk(jwe.generate_key("x"))
    return f"{_hdr(kid=ro['client_metadata']['jwks']['keys'][0]['kid'], epk=epk, **fields)}..AAAA.AAAA.AAAA"


def _other_key(ro, world):
    wrong = {**jwe.public_jwk(jwe.generate_key("x")), "kid": ro["client_metadata"]["jwks"]["keys"][0]["kid"]}
    return encrypted(ro, {"vp_token": vp_token(world, ro), "state": ro["state"]}, key=wrong)


def _tampered(ro, world):
    parts = encrypted(ro, {"vp_token": vp_token(world, ro), "state": ro["state"]}).split(".")
    parts[3] = ("A" if parts[3][0] != "A" else "B") + parts[3][1:]
    return ".".join(parts)


def _cbc(ro, world):
    key = ECKey.import_key(ro["client_metadata"]["jwks"]["keys"][0])
    inner = json.dumps({"vp_token": vp_token(world, ro), "state": ro["state"]}).encode()
    return joserfc_jwe.encrypt_compact({"alg": "ECDH-ES", "enc": "A128CBC-HS256", "kid": key.kid}, inner, key)


@pytest.mark.parametrize(("make", "status", "code"), [
    (lambda ro, w: "not-a-jwe", 400, "malformed_jwe"),
    (lambda ro, w: _with_header(ro, alg="none", enc="A128GCM"), 422, "jwe_algorithm_refused"),
    (lambda ro, w: _with_header(ro, alg="RSA-OAEP", enc="A128GCM"), 422, "jwe_algorithm_refused"),
    (lambda ro, w: _with_header(ro, alg="ECDH-ES", enc="A128GCM", zip="DEF"), 422, "jwe_algorithm_refused"),
    (_cbc, 422, "jwe_algorithm_refused"),
    (_other_key, 422, "jwe_decryption_failed"),
    (_tampered, 422, "jwe_decryption_failed"),
    (lambda ro, w: encrypted(ro, {"vp_token": {}, "state": ro["state"]}, key={
        **ro["client_metadata"]["jwks"]["keys"][0], "kid": "no-such-request"}), 404, "unknown_request"),
    (lambda ro, w: encrypted(ro, {"vp_token": {}, "state": ro["state"]}, key={
        k: v for k, v in ro["client_metadata"]["jwks"]["keys"][0].items() if k != "kid"}), 400, "malformed_input"),
    (lambda ro, w: encrypted(ro, {"vp_token": vp_token(w, ro), "state": "another-state"}), 400, "state_mismatch"),
    (lambda ro, w: encrypted(ro, {"vp_token": vp_token(w, ro)}), 400, "state_mismatch"),
])
def test_bad_encrypted_answers_are_refused_with_a_code(client, world, make, status, code):
    _refused(client, world, make, status, code)


def test_oversized_encrypted_answer_is_413(client):
    ro = wallet_fetch(client, begin(client, **JWT)["uri"])
    r = client.post(ro["response_uri"], data={"response": "a" * (64 * 1024)})
    assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")


def test_answer_encrypted_for_one_request_cannot_answer_another(client, world):
    first, second = (wallet_fetch(client, begin(client, **JWT)["uri"]) for _ in range(2))
    # Encrypted to the second request's key (its kid) but carrying the first's state: refused, both stay open.
    token = encrypted(second, {"vp_token": vp_token(world, first), "state": first["state"]})
    r = client.post(first["response_uri"], data={"response": token})
    assert (r.status_code, r.json()["code"]) == (400, "state_mismatch")


def test_response_mode_must_match_the_request(client, world):
    req = begin(client, **JWT)
    ro = wallet_fetch(client, req["uri"])
    r = answer(client, world, ro)  # plain vp_token to a request that asked for encryption
    assert (r.status_code, r.json()["code"]) == (400, "response_mode_mismatch")
    assert result(client, req)["status"] == "pending"
    plain_req = begin(client)
    plain = wallet_fetch(client, plain_req["uri"])
    # An encrypted answer naming (by kid) a request that asked for plain direct_post.
    token = encrypted(plain, {"state": plain["state"]}, key={**jwe.public_jwk(jwe.generate_key("x")),
                                                             "kid": plain_req["id"]})
    r = client.post(plain["response_uri"], data={"response": token})
    assert (r.status_code, r.json()["code"]) == (400, "response_mode_mismatch")


def test_encrypted_answer_after_expiry_is_410(client, world):
    req = begin(client, **JWT)
    ro = wallet_fetch(client, req["uri"])
    world.clock.t += 301
    r = client.post(ro["response_uri"], data={"response": encrypted(ro, {"vp_token": vp_token(world, ro),
                                                                       "state": ro["state"]})})
    assert (r.status_code, r.json()["code"]) == (410, "request_expired")


def test_wallet_error_may_come_unencrypted(client):
    req = begin(client, **JWT)
    ro = wallet_fetch(client, req["uri"])
    r = client.post(ro["response_uri"], data={"error": "access_denied", "state": ro["state"]})
    assert r.status_code == 200 and result(client, req)["status"] == "error"


def test_encrypted_wallet_error_is_recorded(client):
    req = begin(client, **JWT)
    ro = wallet_fetch(client, req["uri"])
    token = encrypted(ro, {"error": "access_denied", "state": ro["state"]})
    assert client.post(ro["response_uri"], data={"response": token}).status_code == 200
    assert result(client, req)["result"]["code"] == "wallet_error"


def test_unknown_modes_are_refused_by_the_schema(client):
    for body in ({"response_mode": "fragment"}, {"request_uri_method": "put"}):
        r = client.post("/v1/requests", json={"policy": "age-over-19", **body})
        assert (r.status_code, r.json()["code"]) == (400, "malformed_input")


def test_requests_keep_working_across_a_restart(world, settings, client):
    req = begin(client, **JWT)
    from verifier.api.app import create_app
    from verifier.service import StaticTrust

    again = TestClient(create_app(settings, clock=world.clock, trust=StaticTrust(world.snapshot())))
    ro = wallet_fetch(again, req["uri"])
    token = encrypted(ro, {"vp_token": vp_token(world, ro), "state": ro["state"]})
    assert again.post(ro["response_uri"], data={"response": token}).status_code == 200
    assert result(again, req)["result"]["verified"] is True

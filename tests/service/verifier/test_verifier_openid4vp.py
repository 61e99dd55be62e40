"""OpenID4VP cross-device flow, played by a minimal wallet written against the spec in this test."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from verifier_world import RESIDENT

from credcore import jws
from credcore.did import resolve_did_key


def start(client, policy="age-over-19"):
    r = client.post("/v1/requests", json={"policy": policy})
    assert r.status_code == 200, r.text
    return r.json()


def wallet_fetch(client, uri: str) -> dict:
    """What a wallet does with the QR: read client_id and request_uri, fetch and check the request object."""
    parts = urlsplit(uri)
    assert parts.scheme == "openid4vp"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert set(query) == {"client_id", "request_uri"}
    r = client.get(query["request_uri"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/oauth-authz-req+jwt"
    parsed = jws.parse(r.text, typ="oauth-authz-req+jwt")
    did = query["client_id"].removeprefix("decentralized_identifier:")
    assert parsed.header["kid"].startswith(did + "#")
    assert parsed.verify_with(resolve_did_key(parsed.header["kid"]))
    assert parsed.payload["client_id"] == query["client_id"]
    return parsed.payload


def answer(client, world, request_object: dict, **overrides) -> object:
    cred = world.credential()
    vp = world.present(cred, disclose=("age_over_19",), audience=overrides.pop("aud", request_object["client_id"]),
                       nonce=overrides.pop("nonce", request_object["nonce"]))
    form = {"vp_token": json.dumps({"cred": [vp]}), "state": request_object["state"], **overrides}
    return client.post(request_object["response_uri"], data=form)


def test_request_object_follows_openid4vp(client):
    req = start(client)
    assert req["qr_png"].startswith("data:image/png;base64,")
    ro = wallet_fetch(client, req["uri"])
    assert ro["response_type"] == "vp_token" and ro["response_mode"] == "direct_post"
    assert ro["response_uri"].endswith("/v1/openid4vp/response")
    assert ro["dcql_query"] == {"credentials": [{"id": "cred", "format": "dc+sd-jwt",
                                                 "meta": {"vct_values": [RESIDENT]},
                                                 "claims": [{"path": ["age_over_19"]}]}]}
    assert ro["client_id"].startswith("decentralized_identifier:did:key:z")
    assert ro["nonce"] and ro["state"] and ro["exp"] == req["expires_at"]
    # Wallets that read iss require the kid to start with it; the prefixed client_id never does (issue 14, 3).
    assert "iss" not in ro


def test_full_flow_verifies_and_is_seen_by_polling_and_events(client, world):
    req = start(client)
    assert client.get(f"/v1/requests/{req['id']}").json()["status"] == "pending"
    r = answer(client, world, wallet_fetch(client, req["uri"]))
    assert r.status_code == 200 and r.json() == {}
    polled = client.get(f"/v1/requests/{req['id']}").json()
    assert polled["status"] == "done"
    assert polled["result"]["verified"] is True and polled["result"]["claims"]["age_over_19"] is True
    with client.stream("GET", f"/v1/requests/{req['id']}/events") as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        text = "".join(events.iter_text())
    assert text.startswith("event: status\ndata: ")
    assert json.loads(text.split("data: ", 1)[1])["result"]["verified"] is True


def test_state_and_nonce_are_single_use(client, world):
    req = start(client)
    ro = wallet_fetch(client, req["uri"])
    assert answer(client, world, ro).status_code == 200
    r = answer(client, world, ro)
    assert (r.status_code, r.json()["code"]) == (409, "request_used")
    assert client.get(req["request_uri"]).json()["code"] == "request_used"


def test_wrong_nonce_or_audience_fails_verification(client, world):
    for override in ({"nonce": "some-other-nonce"}, {"aud": "https://other.test"}):
        req = start(client)
        assert answer(client, world, wallet_fetch(client, req["uri"]), **override).status_code == 200
        result = client.get(f"/v1/requests/{req['id']}").json()["result"]
        assert result["verified"] is False
        assert result["code"] in {"nonce_mismatch", "audience_mismatch"}


def test_requests_expire(client, world):
    req = start(client)
    ro = wallet_fetch(client, req["uri"])
    world.clock.t += 301
    assert client.get(f"/v1/requests/{req['id']}").json()["status"] == "expired"
    assert client.get(req["request_uri"]).status_code == 410
    r = answer(client, world, ro)
    assert (r.status_code, r.json()["code"]) == (410, "request_expired")


def test_wallet_error_is_recorded(client):
    req = start(client)
    ro = wallet_fetch(client, req["uri"])
    r = client.post(ro["response_uri"], data={"error": "access_denied", "state": ro["state"]})
    assert r.status_code == 200
    assert client.get(f"/v1/requests/{req['id']}").json()["status"] == "error"


@pytest.mark.parametrize("form", [{"state": "nope", "vp_token": "{}"}, {"vp_token": "{}"}])
def test_unknown_or_missing_state(client, form):
    r = client.post("/v1/openid4vp/response", data=form)
    assert r.status_code in (400, 404) and "code" in r.json()


def test_malformed_vp_token_consumes_the_request(client):
    req = start(client)
    ro = wallet_fetch(client, req["uri"])
    r = client.post(ro["response_uri"], data={"vp_token": "[]", "state": ro["state"]})
    assert r.status_code == 400
    assert client.get(f"/v1/requests/{req['id']}").json()["result"]["code"] == "malformed_vp_token"


def test_direct_post_must_be_form_encoded(client):
    r = client.post("/v1/openid4vp/response", json={"state": "x"})
    assert (r.status_code, r.json()["code"]) == (415, "unsupported_media_type")


def test_unknown_policy_and_request(client):
    assert client.post("/v1/requests", json={"policy": "nope"}).status_code == 404
    assert client.get("/v1/requests/nope").json()["code"] == "unknown_request"


def test_dcql_for_grant_policy_asks_for_policy_claims_only(client):
    ro = wallet_fetch(client, start(client, "grant-traditional-market")["uri"])
    query = ro["dcql_query"]["credentials"][0]
    assert [c["path"] for c in query["claims"]] == [["small_business"], ["market"], ["programmes"]]


def test_old_requests_are_purged(client, world):
    req = start(client)
    parts = client.app.state.parts
    assert parts.requests.purge() == 0
    world.clock.t += 300 + 24 * 3600 + 1
    assert parts.requests.purge() == 1
    assert client.get(f"/v1/requests/{req['id']}").status_code == 404


def test_replay_cache_down_is_503_and_the_request_says_why(world, tmp_path):
    from verifier_world import AUDIENCE, TestClient

    from verifier.api.app import create_app
    from verifier.service import StaticTrust
    from verifier.settings import VerifierSettings

    settings = VerifierSettings(environment="test", data_dir=tmp_path, audience=AUDIENCE, public_url="http://testserver",
                                replay_backend="redis", redis_url="redis://127.0.0.1:1/0")
    client = TestClient(create_app(settings, clock=world.clock, trust=StaticTrust(world.snapshot())))
    r = client.post("/v1/verify", json={"presentation": world.present(world.credential()), "policy": "age-over-19"})
    assert (r.status_code, r.json()["code"]) == (503, "infrastructure_unavailable")
    req = start(client)
    assert answer(client, world, wallet_fetch(client, req["uri"])).status_code == 503
    polled = client.get(f"/v1/requests/{req['id']}").json()
    assert polled["status"] == "error" and polled["result"]["code"] == "infrastructure_unavailable"


def test_request_object_names_the_verifier_for_the_resident(client):
    ro = wallet_fetch(client, start(client)["uri"])
    assert ro["client_metadata"]["client_name"] == "civicpass verifier"  # the default of client_name

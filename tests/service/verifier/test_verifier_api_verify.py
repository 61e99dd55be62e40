"""POST /v1/verify: the verdict for each way a presentation can fail, and problem+json for bad bodies."""

from __future__ import annotations

import pytest
from verifier_world import FIXED_NOW, REVOKED_IDX, SUSPENDED_IDX, World, verify

from credcore.keys import SigningKey


def failed(body) -> tuple[str, str]:
    bad = [c for c in body["checks"] if not c["passed"]]
    return bad[0]["check"], bad[0]["code"]


def test_valid_presentation_is_verified_with_claims_and_trust(client, world):
    body = verify(client, world.present(world.credential()), nonce="n-0123456789")
    assert body["verified"] is True
    assert body["claims"]["age_over_19"] is True
    assert body["credential_type"] == "urn:civicpass:ResidentCredential:1"
    assert body["trust"] == {"block": 42, "age_seconds": 10, "stale": False, "max_age_seconds": 86400}
    assert body["checks"][-1] == {"check": "policy", "passed": True, "code": None}
    assert body["policy"]["eligible"] is True


def test_undisclosed_claims_are_not_returned(client, world):
    body = verify(client, world.present(world.credential(), disclose=("age_over_19",)))
    assert body["verified"] is True
    assert "district" not in body["claims"]


@pytest.mark.parametrize(
    ("idx", "code"), [(REVOKED_IDX, "revoked"), (SUSPENDED_IDX, "suspended"), (10_000, "status_unknown")]
)
def test_status_refusals(client, world, idx, code):
    body = verify(client, world.present(world.credential(idx=idx)))
    assert (body["verified"], failed(body)) == (False, ("status", code))


def test_expired_credential(client, world):
    cred = world.credential(iat=FIXED_NOW - 10_000, exp=FIXED_NOW - 3_600)
    assert failed(verify(client, world.present(cred))) == ("validity", "expired")


def test_wrong_nonce(client, world):
    body = verify(client, world.present(world.credential(), nonce="other-nonce-123"), nonce="n-0123456789")
    assert failed(body) == ("holder_binding", "nonce_mismatch")


def test_wrong_audience(client, world):
    body = verify(client, world.present(world.credential(), audience="https://elsewhere.test"))
    assert failed(body) == ("holder_binding", "audience_mismatch")


def test_request_audience_overrides_the_default(client, world):
    body = verify(client, world.present(world.credential(), audience="https://shop.test"), audience="https://shop.test")
    assert body["verified"] is True


def test_replayed_presentation(client, world):
    p = world.present(world.credential())
    assert verify(client, p)["verified"] is True
    assert failed(verify(client, p)) == ("holder_binding", "replayed")


def test_unknown_issuer(client, world):
    other = "did:ethr:0x539:0x00000000000000000000000000000000000000B2"
    cred = world.credential(signer=SigningKey.generate(), issuer=other)
    assert failed(verify(client, world.present(cred))) == ("trust", "issuer_not_accredited")


def test_key_not_registered_for_issuer(client, world):
    cred = world.credential(signer=SigningKey.generate())  # right iss, a key the chain never registered
    assert failed(verify(client, world.present(cred))) == ("key", "unknown_key")


def test_key_rotated_in_after_issuance(world, settings):
    world.key_valid_from = FIXED_NOW - 50  # the key came into force after this credential's iat
    c = _client(world, settings)
    late = world.present(world.credential(iat=FIXED_NOW - 100))
    assert failed(verify(c, late)) == ("key", "key_not_valid_at_issuance")


def test_key_revoked_before_issuance_but_not_after(world, settings):
    world.key_revoked_at = FIXED_NOW - 200
    c = _client(world, settings)
    late = world.present(world.credential(iat=FIXED_NOW - 100))
    assert failed(verify(c, late)) == ("key", "key_not_valid_at_issuance")
    assert verify(c, world.present(world.credential(iat=FIXED_NOW - 300)))["verified"] is True


def test_tampered_issuer_signature(client, world):
    cred = world.credential()
    jwt, rest = cred.split("~", 1)
    head, payload, sig = jwt.split(".")
    tampered = f"{head}.{payload}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBA'}~{rest}"
    body = verify(client, world.present(tampered))
    assert failed(body)[1] in {"signature_invalid", "malformed"}
    assert body["verified"] is False


def test_policy_refusal_is_a_verdict_with_reasons(client, world):
    cred = world.credential({"city": 26000, "district": 26350, "age_over_19": False})
    body = verify(client, world.present(cred))
    assert body["verified"] is False
    assert body["checks"][-1] == {"check": "policy", "passed": False, "code": "age_below_minimum"}
    assert body["policy"]["reasons"][0]["message"]["ko"]


def test_wrong_credential_type_for_policy(client, world):
    cred = world.credential({"market": 3, "small_business": True}, vct="urn:civicpass:MerchantCredential:1")
    body = verify(client, world.present(cred, disclose=("market", "small_business")))
    assert body["policy"]["code"] == "credential_type_not_accepted"


def test_stale_snapshot_is_reported_and_each_policy_decides(world, settings):
    world.synced_at = FIXED_NOW - 2 * 86400
    c = _client(world, settings)
    adult = verify(c, world.present(world.credential()), policy="age-over-19")
    assert adult["trust"]["stale"] is True and adult["verified"] is True
    resident = verify(c, world.present(world.credential()), policy="resident-basic")
    assert resident["verified"] is False and resident["policy"]["code"] == "trust_stale"


def test_trust_endpoint_reports_freshness(client):
    assert client.get("/v1/trust").json()["stale"] is False


def _client(world: World, settings):
    from verifier_world import TestClient

    from verifier.api.app import create_app
    from verifier.service import StaticTrust

    return TestClient(create_app(settings, clock=world.clock, trust=StaticTrust(world.snapshot())))


# --- bad input: problem+json, never a 500 ------------------------------------------------------------------
def _problem(r, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code


@pytest.mark.parametrize("text", ["", "garbage", "CP1:", "CP1:!!!!", "a~b~c", "{}", "{\"payload\":1}", "~" * 500,
                                  "eyJhbGciOiJub25lIn0.e30.~", "\x00\xff"])
def test_unparsable_presentations_are_a_failed_format_check(client, text):
    body = verify(client, text)
    assert body["verified"] is False and body["checks"][0]["check"] == "format"


def test_unknown_policy_is_404(client, world):
    r = client.post("/v1/verify", json={"presentation": "x", "policy": "no-such-policy"})
    _problem(r, 404, "unknown_policy")


def test_invalid_json_is_400(client):
    _problem(client.post("/v1/verify", content=b"{not json", headers={"content-type": "application/json"}), 400,
             "malformed_json")


@pytest.mark.parametrize("body", [{}, {"presentation": 1, "policy": "age-over-19"}, {"policy": "age-over-19"},
                                  {"presentation": "x", "policy": "age-over-19", "extra": 1}, [], "x", 1])
def test_schema_violations_are_400_malformed_input(client, body):
    # One edge for both services (httpedge): input that does not fit the schema is malformed input.
    _problem(client.post("/v1/verify", json=body), 400, "malformed_input")


def test_empty_body_is_400(client):
    _problem(client.post("/v1/verify", content=b"", headers={"content-type": "application/json"}), 400,
             "malformed_json")


def test_openapi_documents_the_verify_body(client):
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/verify"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["required"]) == {"presentation", "policy"}


def test_body_over_the_limit_is_413(client):
    _problem(client.post("/v1/verify", content=b"x" * 70_000, headers={"content-type": "application/json"}), 413,
             "payload_too_large")


def test_chunked_body_over_the_limit_is_413(client):
    def chunks():
        for _ in range(100):
            yield b"x" * 1024

    _problem(client.post("/v1/verify", content=chunks(), headers={"content-type": "application/json"}), 413,
             "payload_too_large")


def test_unknown_route_and_method_are_problems(client):
    _problem(client.get("/v1/nothing"), 404, "not_found")
    _problem(client.get("/v1/verify"), 405, "method_not_allowed")


# --- the remaining credcore check codes, each reached through the API -----------------------------------
def _rebind(world: World, text: str) -> str:
    """Re-sign the KB-JWT over ``text`` (an SD-JWT without KB), as a holder who altered the disclosures would."""
    import hashlib

    from credcore import jws
    from credcore._b64 import b64u_encode

    sd_hash = b64u_encode(hashlib.sha256(text.encode("ascii")).digest())
    kb = jws.sign({"iat": FIXED_NOW, "aud": "https://verifier.test", "nonce": "n-0123456789", "sd_hash": sd_hash},
                  world.holder_key, header={"typ": "kb+jwt"})
    return text + kb


def test_not_yet_valid(client, world):
    cred = world.credential(iat=FIXED_NOW + 3600)
    assert failed(verify(client, world.present(cred))) == ("validity", "not_yet_valid")


def test_issuer_suspended(world, settings):
    world.suspended_at = FIXED_NOW - 1
    assert failed(verify(_client(world, settings), world.present(world.credential()))) == ("trust", "issuer_suspended")


def test_type_not_accredited(client, world):
    cred = world.credential({"grant": True}, vct="urn:civicpass:GrantEligibilityCredential:1")
    assert failed(verify(client, world.present(cred, disclose=("grant",)))) == ("trust", "type_not_accredited")


def test_holder_binding_missing(client, world):
    from credcore.sdjwt import present_sd_jwt

    bare = present_sd_jwt(world.credential(), disclose=("age_over_19",), holder_key=None, audience="a", nonce="n",
                          now=FIXED_NOW)
    assert failed(verify(client, bare)) == ("holder_binding", "holder_binding_missing")


def test_holder_signature_invalid(client, world):
    p = world.present(world.credential())
    sig = p.rsplit(".", 1)[1]
    forged = p[: -len(sig)] + ("A" if sig[0] != "A" else "B") + sig[1:]
    assert failed(verify(client, forged)) == ("holder_binding", "holder_signature_invalid")


def test_sd_hash_mismatch(client, world):
    cred = world.credential()
    full = world.present(cred)
    kb = full.rsplit("~", 1)[1]
    fewer = world.present(cred, disclose=("age_over_19",)).rsplit("~", 1)[0] + "~"
    assert failed(verify(client, fewer + kb)) == ("holder_binding", "sd_hash_mismatch")


def test_duplicate_disclosure(client, world):
    from credcore.sdjwt import present_sd_jwt

    bare = present_sd_jwt(world.credential(), disclose=("age_over_19",), holder_key=None, audience="a", nonce="n",
                          now=FIXED_NOW)
    jwt, disclosure, _ = bare.split("~")
    body = verify(client, _rebind(world, f"{jwt}~{disclosure}~{disclosure}~"))
    assert failed(body) == ("disclosures", "duplicate_disclosure")


def test_unreferenced_disclosure(client, world):
    from credcore.sdjwt import present_sd_jwt

    def bare(cred: str, claim: str) -> list[str]:
        return present_sd_jwt(cred, disclose=(claim,), holder_key=None, audience="a", nonce="n",
                              now=FIXED_NOW).split("~")

    jwt, mine, _ = bare(world.credential(), "age_over_19")
    _, foreign, _ = bare(world.credential({"city": 1, "extra": "x"}), "extra")
    body = verify(client, _rebind(world, f"{jwt}~{mine}~{foreign}~"))
    assert failed(body)[0] == "disclosures" and failed(body)[1] in {"unreferenced_disclosure", "disclosure_mismatch"}


@pytest.mark.parametrize("raw", [
    b'{"presentation":"x","policy":"no-such-policy","policy":"age-over-19"}',
    b' {"presentation":"x","policy":"age-over-19","presentation":"y"}',
    b'{"presentation":"x","policy":"age-over-19","received_programmes":[{"a":1,"a":2}]}',
])
@pytest.mark.parametrize("ctype", ["application/json", "text/plain"])
def test_a_json_body_with_a_duplicate_member_is_refused(client, raw, ctype):
    # Parsers disagree on which duplicate wins; the issuer refuses them, and so does the verifier.
    _problem(client.post("/v1/verify", content=raw, headers={"content-type": ctype}), 400, "malformed_json")


def test_duplicate_members_are_refused_on_every_json_route(client):
    raw = b'{"policy":"age-over-19","policy":"age-over-19"}'
    _problem(client.post("/v1/requests", content=raw, headers={"content-type": "application/json"}), 400,
             "malformed_json")

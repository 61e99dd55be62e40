"""The admin API from the outside: roles, problem+json errors, issuance, status changes, audit log."""

from __future__ import annotations

import pytest
from issuer_world import (
    CLERK,
    GRANT,
    GRANT_CLAIMS,
    OPERATOR,
    RESIDENT,
    RESIDENT_CLAIMS,
    HolderKey,
    signing_key_of,
    trust_from_issuer,
)

from credcore import cp1, sdjwt
from credcore._b64 import b64u_decode
from credcore.presentations import verify_presentation
from credcore.status_list import Status, StatusList

pytestmark = pytest.mark.usefixtures("service")


def issue(client, copies=2, vct=RESIDENT, claims=RESIDENT_CLAIMS):
    keys = [HolderKey() for _ in range(copies + 1)]
    r = client.post("/v1/credentials", headers=CLERK, json={"vct": vct, "claims": claims,
                                                            "holder_jwks": [k.jwk for k in keys]})
    assert r.status_code == 201, r.text
    return r.json(), keys


def counts(client):
    creds = client.get("/v1/credentials", headers=OPERATOR).json()["credentials"]
    audit = client.get("/v1/audit", headers=OPERATOR).json()
    return len(creds), audit["verified_events"]


def assert_problem(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == code and body["status"] == status and body["type"].endswith("/" + code)


# --- authentication and roles ------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer "}])
def test_admin_calls_without_a_valid_token_are_401(client, headers):
    r = client.post("/v1/offers", headers=headers, json={"vct": RESIDENT, "claims": RESIDENT_CLAIMS})
    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "headers"), [
    ("post", "/v1/offers", OPERATOR),
    ("post", "/v1/credentials", OPERATOR),
    ("post", "/v1/credentials/x/revoke", CLERK),
    ("post", "/v1/credentials/x/suspend", CLERK),
    ("post", "/v1/credentials/x/reinstate", CLERK),
    ("get", "/v1/keys", CLERK),
    ("post", "/v1/keys/rotate", CLERK),
    ("post", "/v1/types", CLERK),
    ("get", "/v1/audit", CLERK),
])
def test_wrong_role_is_403(client, method, path, headers):
    body = {"vct": RESIDENT, "claims": {}, "holder_jwks": [{}]}
    r = client.request(method.upper(), path, headers=headers, json=body if method == "post" else None)
    assert_problem(r, 403, "forbidden")


def test_token_comparison_is_constant_time_by_construction():
    from issuer.api.deps import TokenTable
    from issuer.settings import IssuerSettings

    table = TokenTable(IssuerSettings(environment="test"))
    assert table.lookup("dev-clerk-token").role == "clerk"
    assert table.lookup("dev-operator-token").role == "operator"
    assert table.lookup("dev-clerk-tokeN") is None
    assert table.lookup("dev-clerk-token").actor.startswith("clerk:")


# --- bad input: 4xx, never 500, never state --------------------------------------------------------
def test_schema_invalid_claims_are_400_and_leave_nothing(client):
    before = counts(client)
    bad = {**RESIDENT_CLAIMS, "birth_date": "19-11-2000"}
    r = client.post("/v1/credentials", headers=CLERK, json={"vct": RESIDENT, "claims": bad,
                                                            "holder_jwks": [HolderKey().jwk]})
    assert_problem(r, 400, "claims_invalid")
    assert "19-11-2000" not in r.text  # never echo claim values
    r = client.post("/v1/offers", headers=CLERK, json={"vct": RESIDENT, "claims": {**RESIDENT_CLAIMS, "x": 1}})
    assert_problem(r, 400, "claims_invalid")
    r = client.post("/v1/offers", headers=CLERK, json={"vct": RESIDENT, "claims": {**RESIDENT_CLAIMS,
                                                                                     "age_over_19": True}})
    assert_problem(r, 400, "claims_invalid")  # a derived claim cannot be typed in
    assert counts(client) == before


def test_unknown_type_is_404(client):
    r = client.post("/v1/offers", headers=CLERK, json={"vct": "urn:x:Nope:1", "claims": {}})
    assert_problem(r, 404, "not_found")


@pytest.mark.parametrize("body", [
    b"{", b"[]", b"null", b'{"vct": 5, "claims": {}}',
    b'{"vct": "urn:civicpass:ResidentCredential:1", "claims": []}', b'{"vct": "\xed\xa0\x80"}', b"\xff\xfe",
])
def test_malformed_bodies_are_400(client, body):
    r = client.post("/v1/offers", headers={**CLERK, "Content-Type": "application/json"}, content=body)
    assert_problem(r, 400, "malformed_input")


def test_a_body_with_a_duplicate_member_is_400_before_any_route(client):
    # The shared edge refuses it for both services (httpedge/limits.py), as JSON with no single meaning.
    r = client.post("/v1/offers", headers={**CLERK, "Content-Type": "application/json"},
                    content=b'{"vct": "a", "vct": "b", "claims": {}}')
    assert_problem(r, 400, "malformed_json")


ED25519 = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}


@pytest.mark.parametrize("jwks", [[{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}], [{"kty": "oct", "k": "x"}],
                                  [ED25519], [{"kty": "EC"}] * 2])
def test_bad_holder_keys_are_4xx_and_leave_nothing(client, jwks):
    before = counts(client)
    r = client.post("/v1/credentials", headers=CLERK, json={"vct": RESIDENT, "claims": RESIDENT_CLAIMS,
                                                            "holder_jwks": jwks})
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert counts(client) == before


def test_cp1_copies_of_a_type_without_profile_are_refused(client):
    keys = [HolderKey().jwk, HolderKey().jwk]
    r = client.post("/v1/credentials", headers=CLERK, json={"vct": GRANT, "claims": GRANT_CLAIMS, "holder_jwks": keys})
    assert r.status_code == 400 and r.json()["code"] == "malformed_input"  # the admin API answers problems
    assert r.headers["content-type"] == "application/problem+json"


def test_oversize_bodies_are_413(client, settings):
    big = b'{"vct": "' + b"a" * settings.max_body_bytes + b'"}'
    r = client.post("/v1/offers", headers={**CLERK, "Content-Type": "application/json"}, content=big)
    assert_problem(r, 413, "payload_too_large")

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    r = client.post("/credential", headers={"Content-Type": "application/json"}, content=chunks())
    assert_problem(r, 413, "payload_too_large")


def test_unknown_routes_are_problem_404(client):
    assert_problem(client.get("/v1/nothing-here", headers=OPERATOR), 404, "not_found")


# --- issuance and status --------------------------------------------------------------------------
def test_direct_issuance_returns_sd_jwt_and_cp1_copies(client):
    body, _ = issue(client, copies=3)
    formats = [c["format"] for c in body["credentials"]]
    assert formats == ["dc+sd-jwt"] + ["civicpass-cp1"] * 3
    view = client.get(f"/v1/credentials/{body['id']}", headers=CLERK).json()
    assert view["status"] == "valid" and view["copies"] == 4 and view["vct"] == RESIDENT
    assert "name" not in view and "김민지" not in str(view)  # no subject data in the record


def test_every_view_of_a_credential_counts_the_copies_its_status_covers(client):
    body, _ = issue(client, copies=10)  # one SD-JWT VC and ten CP1 copies
    cid = body["id"]
    [listed] = client.get("/v1/credentials", headers=OPERATOR).json()["credentials"]
    views = [client.get(f"/v1/credentials/{cid}", headers=CLERK).json(), listed] + [
        client.post(f"/v1/credentials/{cid}/{action}", headers=OPERATOR).json()
        for action in ("suspend", "reinstate", "revoke")]
    assert [v["copies"] for v in views] == [11] * 5


def test_revoke_suspend_reinstate_change_the_published_list(client, service, clock):
    body, keys = issue(client, copies=1)
    cid = body["id"]
    sd, cp = body["credentials"][0]["credential"], body["credentials"][1]["credential"]
    idx_sd = sdjwt.unsafe_decode(sd)["payload"]["status"]["status_list"]["idx"]
    service.worker.run_once(force=True)

    def status_now():
        from credcore import jws

        token = client.get("/status-lists/1").text
        lst = StatusList.from_json(jws.parse(token, typ="statuslist+jwt").payload["status_list"])
        return lst.get(idx_sd)

    assert status_now() == Status.VALID
    assert client.post(f"/v1/credentials/{cid}/suspend", headers=OPERATOR).json()["status"] == "suspended"
    assert status_now() == Status.VALID  # not yet published: the publisher runs at most every interval
    clock.advance(2)
    service.worker.run_once()
    assert status_now() == Status.SUSPENDED
    assert client.post(f"/v1/credentials/{cid}/reinstate", headers=OPERATOR).json()["status"] == "valid"
    assert client.post(f"/v1/credentials/{cid}/revoke", headers=OPERATOR).json()["status"] == "revoked"
    clock.advance(2)
    service.worker.run_once()
    assert status_now() == Status.INVALID

    trust = trust_from_issuer(client, service.issuer_id, [1])
    qr = cp1.present_cp1(b64u_decode(cp), holder_key=signing_key_of(keys[1]), now=clock.now())
    assert verify_presentation(qr, trust=trust, now=clock.now()).code == "revoked"

    assert_problem(client.post(f"/v1/credentials/{cid}/reinstate", headers=OPERATOR), 409, "already_revoked")
    assert_problem(client.post(f"/v1/credentials/{cid}/revoke", headers=OPERATOR), 409, "already_revoked")
    assert_problem(client.post("/v1/credentials/nope/revoke", headers=OPERATOR), 404, "not_found")
    assert client.post(f"/v1/credentials/{cid}/destroy", headers=OPERATOR).status_code == 400


def test_status_list_digest_goes_to_the_chain(client, service, chain):
    import hashlib

    issue(client)
    service.worker.run_once(force=True)
    token = client.get("/status-lists/1").text
    assert chain.statuses[1][-1] == hashlib.sha256(token.encode("ascii")).digest()


def test_the_list_whose_digest_goes_to_the_chain_is_served_before_it_is_sent(client, service, chain, clock):
    # A verifier that sees the digest the moment it lands must find the list at /status-lists/{id} or at /latest.
    import hashlib

    served_when_sent: list[bool] = []
    publish = chain.publish_status

    def publish_status(list_id: int, digest: bytes, uri: str):
        served = {client.get(f"/status-lists/{list_id}{tail}").text for tail in ("", "/latest")}
        served_when_sent.append(digest in {hashlib.sha256(t.encode("ascii")).digest() for t in served})
        return publish(list_id, digest, uri)

    chain.publish_status = publish_status
    body, _ = issue(client)
    service.worker.run_once(force=True)  # the first list: nothing was served before it
    client.post(f"/v1/credentials/{body['id']}/suspend", headers=OPERATOR)
    clock.advance(5)
    service.worker.run_once()
    assert served_when_sent == [True, True]
    assert client.get("/status-lists/1/latest").text == client.get("/status-lists/1").text


def test_status_list_not_published_while_the_chain_is_down(client, service, chain, clock):
    body, _ = issue(client)
    service.worker.run_once(force=True)
    served = client.get("/status-lists/1").text
    client.post(f"/v1/credentials/{body['id']}/revoke", headers=OPERATOR)
    chain.down = True
    clock.advance(5)
    service.worker.run_once()
    assert client.get("/status-lists/1").text == served  # still the one the chain knows
    chain.down = False
    clock.advance(5)
    service.worker.run_once()
    assert client.get("/status-lists/1").text != served


def test_unknown_status_list_is_404(client):
    assert_problem(client.get("/status-lists/999"), 404, "not_found")
    assert client.get("/status-lists/abc").status_code == 400


def test_list_credentials_filters(client):
    a, _ = issue(client)
    issue(client)
    client.post(f"/v1/credentials/{a['id']}/suspend", headers=OPERATOR)
    found = client.get("/v1/credentials", params={"status": "suspended"}, headers=CLERK).json()["credentials"]
    assert [c["id"] for c in found] == [a["id"]]
    assert client.get("/v1/credentials", params={"status": "odd"}, headers=CLERK).status_code == 400


# --- audit ---------------------------------------------------------------------------------------
def test_every_change_is_in_the_hash_chained_audit_log(client):
    body, _ = issue(client)
    client.post(f"/v1/credentials/{body['id']}/revoke", headers=OPERATOR)
    log = client.get("/v1/audit", headers=OPERATOR).json()
    actions = [e["action"] for e in log["events"]]
    assert actions[-2:] == ["credential.issued", "credential.revoke"]
    assert log["verified_events"] == len(log["events"])
    assert log["events"][-1]["actor"].startswith("operator:")


def test_publication_is_rate_limited_not_clocked(client, service, clock, chain):
    # The interval limits how often lists go out; it does not make a change after a quiet spell wait for a tick.
    body, _ = issue(client)
    service.worker.run_once(force=True)
    published = len(chain.statuses[1])
    clock.advance(5)
    service.worker.run_once()  # nothing changed: nothing published, and the limit does not restart
    assert len(chain.statuses[1]) == published and service.status.publisher.seconds_until_allowed() == 0
    assert not service.worker.wake.is_set()
    client.post(f"/v1/credentials/{body['id']}/revoke", headers=OPERATOR)
    assert service.worker.wake.is_set()  # the worker thread would run its round now
    service.worker.run_once()
    assert len(chain.statuses[1]) == published + 1
    assert service.status.publisher.seconds_until_allowed() == 1.0  # the settings' interval, on the test clock


def test_worker_wakes_for_changes_and_when_the_limit_lapses():
    import threading
    import time
    from types import SimpleNamespace

    from issuer.api.app import _work

    rounds: list[float] = []
    wait = {"left": 0.2}
    svc = SimpleNamespace(
        settings=SimpleNamespace(anchor_interval=30, status_publish_interval=30),
        worker=SimpleNamespace(wake=threading.Event(), run_once=lambda: rounds.append(time.monotonic())),
        status=SimpleNamespace(publisher=SimpleNamespace(seconds_until_allowed=lambda: wait["left"])),
    )
    stop = threading.Event()
    worker = threading.Thread(target=_work, args=(svc, stop))
    worker.start()
    try:
        while len(rounds) < 2:
            time.sleep(0.01)
        assert rounds[1] - rounds[0] < 0.6  # due when the limit lapses (0.2 s), not after the 1 s round
        wait["left"] = 0.0
        time.sleep(0.05)
        before = len(rounds)
        svc.worker.wake.set()
        deadline = time.monotonic() + 0.5
        while len(rounds) == before:
            assert time.monotonic() < deadline, "a status change did not wake the worker"
            time.sleep(0.01)
    finally:
        stop.set()
        svc.worker.wake.set()
        worker.join(timeout=5)
    assert not worker.is_alive()

"""A third-party wallet receives credentials from our issuer by OpenID4VCI, then presents one to our verifier.

openid4vci_wallet.mjs drives the OpenWallet Foundation's @openid4vc/openid4vci (pinned in package.json)
against a running issuer (uvicorn, SQLite, no chain): credential offer by value, issuer and authorization
server metadata, pre-authorized code with the clerk's transaction code, nonce endpoint, one
``openid4vci-proof+jwt`` per credential, credential endpoint. It receives a single ``dc+sd-jwt`` credential,
a batch of them and a batch of single-use CP1 copies, every copy bound to the key of its own proof; with a
DPoP key (RFC 9449) it also gets a refresh token and new batches of both without a new offer. The
single SD-JWT VC is then presented by the third-party OpenID4VP wallet (../verifier/openid4vp_wallet.mjs) to
a running verifier that trusts what the issuer publishes, by ``direct_post.jwt``: both protocols, both sides
third-party. Skips without node, fails under CI.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import serve_app

from credcore import jws
from credcore._b64 import b64u_decode
from credcore.cp1 import present_cp1
from credcore.keys import PublicKey, SigningKey
from credcore.presentations import verify_presentation
from credcore.sdjwt import present_sd_jwt, unsafe_decode
from credcore.status_list import StatusList
from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot
from issuer.api.app import build_service, create_app
from issuer.settings import IssuerSettings
from verifier.api.app import create_app as create_verifier_app
from verifier.service import StaticTrust
from verifier.settings import VerifierSettings

pytestmark = [pytest.mark.node]
HERE = Path(__file__).resolve().parent
VCI_WALLET = HERE / "openid4vci_wallet.mjs"
VP_WALLET = HERE.parent / "verifier" / "openid4vp_wallet.mjs"
CLERK = {"Authorization": "Bearer dev-clerk-token"}
OPERATOR = {"Authorization": "Bearer dev-operator-token"}
RESIDENT = "urn:civicpass:ResidentCredential:1"
CLAIMS = {"name": "김민지", "birth_date": "2000-03-01", "city": "부산광역시", "district": "해운대구",
          "resident_since": "2019-05-02"}


@pytest.fixture(scope="module")
def issuer(tmp_path_factory) -> Iterator[tuple[str, Any]]:
    db = tmp_path_factory.mktemp("issuer") / "issuer.db"
    made: dict[str, Any] = {}

    def make(base: str) -> Any:
        settings = IssuerSettings(environment="test", database_url=f"sqlite:///{db}", base_url=base,
                                  run_workers=False)
        made["service"] = build_service(settings)
        return create_app(settings, service=made["service"])

    with serve_app(make) as base:
        yield base, made["service"]
    made["service"].sessions.kw["bind"].dispose()


def _node(node_modules: Path, script: Path, payload: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(["node", str(script)], input=json.dumps(payload), capture_output=True, text=True,
                          timeout=90, cwd=node_modules.parent, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def _trust(base: str, service: Any) -> TrustSnapshot:
    """What the issuer publishes: its keys, and its status lists (signature-checked)."""
    service.worker.run_once(force=True)
    keys = tuple(IssuerKey(PublicKey.from_jwk(k["jwk"]), k["valid_from"], k["valid_until"])
                 for k in httpx.get(f"{base}/v1/keys", headers=OPERATOR).json()["keys"])
    records = []
    for list_id in range(1, 4):
        r = httpx.get(f"{base}/status-lists/{list_id}")
        if r.status_code != 200:
            continue
        parsed = jws.parse(r.text, typ="statuslist+jwt")
        assert any(parsed.verify_with(k.public_key) for k in keys)
        records.append(StatusListRecord(service.issuer_id, list_id, parsed.payload["sub"],
                                        StatusList.from_json(parsed.payload["status_list"])))
    issuer = TrustedIssuer(service.issuer_id, "test city", frozenset({RESIDENT}), keys)
    return TrustSnapshot(issuers=(issuer,), status_lists=tuple(records), block_number=1, synced_at=int(time.time()))


def _offer(base: str) -> dict[str, Any]:
    r = httpx.post(f"{base}/v1/offers", headers=CLERK, json={"vct": RESIDENT, "claims": CLAIMS})
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_third_party_wallet_receives_single_sd_jwt_and_a_cp1_batch_then_presents(
    node_modules, issuer, tmp_path
):
    base, service = issuer
    offer = _offer(base)
    got = _node(node_modules, VCI_WALLET, {"offer": offer["credential_offer_uri"], "txCode": offer["tx_code"],
                                           "requests": [{"configuration": "ResidentCredential", "proofs": 1},
                                                        {"configuration": "ResidentCredential_cp1", "proofs": 5}]})
    assert got["offered"] == ["ResidentCredential", "ResidentCredential_cp1"]
    sd, cp1 = got["issued"]
    # The library sent credential_accepted to the notification endpoint under the id the issuer gave (§11).
    assert sd["notificationId"] and (sd["notified"], cp1["notified"]) == (204, 204)
    assert (sd["format"], len(sd["credentials"])) == ("dc+sd-jwt", 1)
    decoded = unsafe_decode(sd["credentials"][0])
    assert decoded["header"]["typ"] == "dc+sd-jwt" and decoded["payload"]["vct"] == RESIDENT
    holder = sd["holderJwks"][0]
    assert decoded["payload"]["cnf"]["jwk"]["x"] == holder["x"]  # bound to the key the library proved
    assert decoded["claims"]["name"] == CLAIMS["name"]

    # The batch: five distinct copies, each bound to the key of its own proof, each verifying.
    assert (cp1["format"], len(cp1["credentials"])) == ("civicpass-cp1", 5)
    assert len(set(cp1["credentials"])) == 5
    trust = _trust(base, service)
    now = int(time.time())
    for text, jwk in zip(cp1["credentials"], cp1["holderJwks"], strict=True):
        shown = present_cp1(b64u_decode(text), holder_key=SigningKey.from_jwk(jwk), now=now)  # refuses another key
        result = verify_presentation(shown, trust=trust, now=now)
        assert result.verified, result.to_json()["checks"]
    assert len({j["x"] for j in cp1["holderJwks"]}) == 5

    # The SD-JWT VC goes to our verifier through the third-party OpenID4VP wallet, encrypted (direct_post.jwt).
    def verifier_app(vbase: str) -> Any:
        settings = VerifierSettings(environment="test", data_dir=tmp_path / "verifier", public_url=vbase,
                                    audience="https://verifier.test")
        return create_verifier_app(settings, trust=StaticTrust(trust))

    with serve_app(verifier_app) as vbase:
        req = httpx.post(f"{vbase}/v1/requests", json={"policy": "resident-basic",
                                                        "response_mode": "direct_post.jwt"}).json()
        out = _node(node_modules, VP_WALLET, {"uri": req["uri"], "credential": sd["credentials"][0],
                                              "holderJwk": holder})
        assert out["status"] == 200, out
        verdict = httpx.get(f"{vbase}/v1/requests/{req['id']}").json()
    assert verdict["status"] == "done" and verdict["result"]["verified"] is True, verdict
    assert verdict["result"]["issuer"] == service.issuer_id
    claims = verdict["result"]["claims"]
    assert (claims["city"], claims["district"]) == (CLAIMS["city"], CLAIMS["district"]) and "name" not in claims


def test_third_party_wallet_with_a_wrong_transaction_code_gets_invalid_grant(node_modules, issuer):
    base, _ = issuer
    offer = _offer(base)
    wrong = "000000" if offer["tx_code"] != "000000" else "111111"
    payload = {"offer": offer["credential_offer_uri"], "txCode": wrong,
               "requests": [{"configuration": "ResidentCredential", "proofs": 1}]}
    proc = subprocess.run(["node", str(VCI_WALLET)], input=json.dumps(payload), capture_output=True, text=True,
                          timeout=90, cwd=node_modules.parent, check=False)
    assert proc.returncode != 0 and "invalid_grant" in proc.stderr, proc.stderr[-2000:]


def test_third_party_wallet_receives_a_batch_of_sd_jwt_vcs_each_bound_to_its_own_key(node_modules, issuer):
    base, service = issuer
    offer = _offer(base)
    got = _node(node_modules, VCI_WALLET, {"offer": offer["credential_offer_uri"], "txCode": offer["tx_code"],
                                           "requests": [{"configuration": "ResidentCredential", "proofs": 3}]})
    [batch] = got["issued"]
    assert (batch["format"], len(batch["credentials"])) == ("dc+sd-jwt", 3)
    decoded = [unsafe_decode(c) for c in batch["credentials"]]
    # Copy i is bound to proof i's key; the copies share no key and no status slot (unlinkable single-use copies).
    assert [d["payload"]["cnf"]["jwk"]["x"] for d in decoded] == [j["x"] for j in batch["holderJwks"]]
    assert len({json.dumps(d["payload"]["status"], sort_keys=True) for d in decoded}) == 3
    trust = _trust(base, service)
    now = int(time.time())
    for text, jwk in zip(batch["credentials"], batch["holderJwks"], strict=True):
        shown = present_sd_jwt(text, disclose=("city",), holder_key=SigningKey.from_jwk(jwk), audience="a",
                               nonce="n", now=now)
        result = verify_presentation(shown, trust=trust, now=now, audience="a", nonce="n")
        assert result.verified and result.claims["city"] == CLAIMS["city"], result.to_json()["checks"]



def test_third_party_wallet_refreshes_with_dpop_and_gets_a_new_batch_without_an_offer(node_modules, issuer):
    base, service = issuer
    offer = _offer(base)
    requests = [{"configuration": "ResidentCredential", "proofs": 2}, {"configuration": "ResidentCredential_cp1",
                                                                       "proofs": 3}]
    got = _node(node_modules, VCI_WALLET, {"offer": offer["credential_offer_uri"], "txCode": offer["tx_code"],
                                           "requests": requests, "dpop": True, "refresh": requests})
    assert got["tokenType"].lower() == "dpop"  # the library proved a key, so the issuer bound the tokens to it
    assert {b["notified"] for b in got["issued"]} == {204}  # DPoP-bound notifications too
    first, again = got["issued"], got["refreshed"]
    assert [len(b["credentials"]) for b in again] == [2, 3]
    trust = _trust(base, service)
    now = int(time.time())
    for old, new in zip(first, again, strict=True):
        assert not set(old["credentials"]) & set(new["credentials"])  # new copies, not the old ones again
    for text, jwk in zip(again[0]["credentials"], again[0]["holderJwks"], strict=True):
        assert unsafe_decode(text)["claims"]["name"] == CLAIMS["name"]  # the same credential, new copies
        shown = present_sd_jwt(text, disclose=("city",), holder_key=SigningKey.from_jwk(jwk), audience="a",
                               nonce="n", now=now)
        assert verify_presentation(shown, trust=trust, now=now, audience="a", nonce="n").verified
    for text, jwk in zip(again[1]["credentials"], again[1]["holderJwks"], strict=True):
        shown = present_cp1(b64u_decode(text), holder_key=SigningKey.from_jwk(jwk), now=now)
        assert verify_presentation(shown, trust=trust, now=now).verified


def test_third_party_wallet_notifies_after_a_refresh(node_modules, issuer):
    base, _ = issuer
    offer = _offer(base)
    requests = [{"configuration": "ResidentCredential", "proofs": 1}]
    got = _node(node_modules, VCI_WALLET, {"offer": offer["credential_offer_uri"], "txCode": offer["tx_code"],
                                           "requests": requests, "dpop": True, "refresh": requests})
    assert got["refreshed"][0]["notificationId"] and got["refreshed"][0]["notified"] == 204

"""An issuer key a standard verifier can find (SD-JWT VC §3.5, JWT VC Issuer Metadata), the chain still the root.

A real chain (py-evm in-process) accredits one issuer under its HTTPS URL and one under its did:ethr (as every
issuer was before). The HTTPS issuer's credentials carry that URL as ``iss`` and the key's thumbprint as
``kid``; its ``/.well-known/jwt-vc-issuer`` lists every key the chain registered for it, rotated-out ones too.
The OpenWallet Foundation's ``sd-jwt`` verifies what it issues, finding the key through that document alone,
and civicpass's verifier (trusting only the chain) accepts the library's presentations. A metadata document
that disagrees with the chain is refused. The did:ethr issuer keeps issuing under its DID and its
credentials verify as before.
"""

from __future__ import annotations

import json
import time
import warnings

import pytest
from eth_account import Account
from eth_utils import keccak
from issuer_world import CLERK, OPERATOR, RESIDENT, RESIDENT_CLAIMS, FixedClock, HolderKey, make_settings
from jwcrypto.jwk import JWK
from sd_jwt.holder import SDJWTHolder
from sd_jwt.verifier import SDJWTVerifier
from web3 import EthereumTesterProvider, Web3

from contracts import Signer, TrustSync, deploy_all, registries
from credcore import sdjwt
from credcore._defaults import SecretsSaltSource
from credcore.did import did_ethr
from credcore.issuer_metadata import (
    IssuerMetadataMismatchError,
    MalformedIssuerMetadataError,
    check_against_chain,
    metadata_url,
    parse_issuer_metadata,
)
from credcore.keys import SigningKey
from credcore.presentations import verify_presentation
from credcore.status_list import verify_status_list_jwt
from issuer.api.app import build_service, create_app
from issuer.chain import Web3Chain
from verifier.api.app import create_app as create_verifier_app
from verifier.service import StaticTrust
from verifier.settings import VerifierSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.chain
CITY = "https://city.test"
LEGACY = "http://legacy.test"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jwtvc")
    w3 = Web3(EthereumTesterProvider())
    admin, city, legacy = (Account.from_key(keccak(text=f"civicpass-jwtvc-{r}")) for r in ("admin", "city", "legacy"))
    for acct in (admin, city, legacy):
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": acct.address, "value": 10**21}))
    deployment = deploy_all(w3, admin, dev=True)
    trust = registries(w3, deployment)[0]
    trust.accredit_issuer(city.address, identifier=CITY, name="Busan", credential_types=[RESIDENT],
                          sender=Signer(w3, admin)).wait()
    trust.accredit_issuer(legacy.address, identifier=did_ethr(legacy.address, deployment.chain_id), name="Old",
                          credential_types=[RESIDENT], sender=Signer(w3, admin)).wait()
    clock = FixedClock(int(w3.eth.get_block("latest")["timestamp"]))
    clients, services = {}, {}
    for name, acct, base in (("city", city, CITY), ("legacy", legacy, LEGACY)):
        svc = build_service(make_settings(f"sqlite:///{tmp}/{name}.db", base_url=base), clock=clock,
                            chain=Web3Chain(w3, deployment, acct.key))
        services[name] = svc
        clients[name] = TestClient(create_app(svc.settings, service=svc), base_url=base).__enter__()
    clock.t = int(w3.eth.get_block("latest")["timestamp"]) + 1
    yield w3, deployment, clock, clients, services
    for name, client in clients.items():
        client.__exit__(None, None, None)
        services[name].sessions.kw["bind"].dispose()


def issue(client):
    key = HolderKey()
    r = client.post("/v1/credentials", headers=CLERK, json={"vct": RESIDENT, "claims": RESIDENT_CLAIMS,
                                                            "holder_jwks": [key.jwk]})
    assert r.status_code == 201, r.text
    sk = SigningKey.from_secret("P-256", key.private.private_numbers().private_value.to_bytes(32, "big"))
    return r.json()["credentials"][0]["credential"], sk


def chain_trust(w3, deployment, now, clients=None):
    """What a verifier believes: registry events, and (with ``clients``) the status lists the chain confirms."""
    state = TrustSync(w3, deployment).sync()
    for pending in state.pending_status_lists if clients else ():
        client = next(c for c in clients.values() if pending.uri.startswith(str(c.base_url)))
        token = client.get(pending.uri).text
        issuer = state.snapshot(now=now).issuer(pending.issuer_id)
        key = next(k.public_key for k in issuer.keys if k.thumbprint == _kid(token))
        parsed = verify_status_list_jwt(token, key, now=now, expected_uri=pending.uri)
        state.accept_status_list(pending, token, parsed.status_list, fetched_at=now)
    return state.snapshot(now=now)


def _kid(token):
    from credcore import jws

    return jws.parse(token, typ="statuslist+jwt").header["kid"]


def fetch_metadata(clients, iss):
    """GET the well-known document for ``iss``, the only thing a generic verifier knows (the test's web)."""
    url = metadata_url(iss)
    client = next(c for c in clients.values() if url.startswith(str(c.base_url)))
    r = client.get(url)
    assert r.status_code == 200, r.text
    return r.json()


def test_https_issuer_signs_with_its_url_and_the_keys_its_metadata_lists(world):
    w3, deployment, clock, clients, _ = world
    text, _ = issue(clients["city"])
    decoded = sdjwt.unsafe_decode(text)
    assert decoded["payload"]["iss"] == CITY
    meta = fetch_metadata(clients, CITY)
    assert meta["issuer"] == CITY
    assert decoded["header"]["kid"] in {k["kid"] for k in meta["jwks"]["keys"]}
    # the chain and the document agree, so civicpass's check passes and names the chain's issuer
    parsed = parse_issuer_metadata(meta, expected_issuer=CITY)
    assert check_against_chain(parsed, chain_trust(w3, deployment, clock.now())).name == "Busan"


def test_a_generic_library_verifies_by_the_well_known_route_and_our_verifier_takes_its_presentation(world, tmp_path):
    w3, deployment, _, clients, services = world
    text, holder = issue(clients["city"])
    services["city"].worker.run_once(force=True)
    seen = []

    def issuer_key(iss, header):  # sd-jwt's hook: all it gets is iss and the header; it goes to the web
        seen.append(iss)
        keys = {k["kid"]: k for k in fetch_metadata(clients, iss)["jwks"]["keys"]}
        return JWK.from_json(json.dumps(keys[header["kid"]]))

    kb = JWK.from_json(json.dumps(holder.to_jwk()))
    holder_lib = SDJWTHolder(text)
    holder_lib.create_presentation({"city": True, "age_over_19": True}, nonce="n-1", aud="https://verifier.test",
                                   holder_key=kb, sign_alg="ES256")
    pres = holder_lib.sd_jwt_presentation
    payload = SDJWTVerifier(pres, issuer_key, expected_aud="https://verifier.test", expected_nonce="n-1"
                            ).get_verified_payload()
    assert seen == [CITY] and payload["city"] == "부산광역시" and "name" not in payload

    # the library's presentation (KB-JWT stamped with the wall clock) at civicpass's verifier, chain trust only
    now = int(time.time())
    settings = VerifierSettings(environment="test", data_dir=tmp_path / "v", public_url="https://verifier.test")
    trust = StaticTrust(chain_trust(w3, deployment, now, clients))
    app = create_verifier_app(settings, clock=FixedClock(now), trust=trust)
    with TestClient(app, base_url="https://verifier.test") as verifier:
        created = verifier.post("/v1/verify", json={"presentation": pres, "policy": "age-over-19",
                                                    "audience": "https://verifier.test", "nonce": "n-1"})
    body = created.json()
    assert created.status_code == 200 and body["verified"] is True, body


def test_metadata_that_disagrees_with_the_chain_is_refused(world):
    w3, deployment, clock, clients, _ = world
    trust = chain_trust(w3, deployment, clock.now())
    meta = fetch_metadata(clients, CITY)
    stranger = SigningKey.generate("P-256").public_key
    extra = {**stranger.to_jwk(), "kid": stranger.thumbprint()}
    cases = {
        "a key the chain never registered": {**meta, "jwks": {"keys": [*meta["jwks"]["keys"], extra]}},
        "a chain kid naming other key material": {
            **meta, "jwks": {"keys": [{**stranger.to_jwk(), "kid": meta["jwks"]["keys"][0]["kid"]}]}},
        "another issuer's key": {**meta, "jwks": {"keys": fetch_metadata(clients, CITY)["jwks"]["keys"]},
                                 "issuer": "https://elsewhere.test"},
    }
    for doc in cases.values():
        with pytest.raises(IssuerMetadataMismatchError):
            check_against_chain(parse_issuer_metadata(doc, expected_issuer=doc["issuer"]), trust)
    # and a credential signed with the stranger's key (whatever the document says) fails at our verifier
    forged = sdjwt.issue_sd_jwt_vc({"city": "x"}, vct=RESIDENT, issuer=CITY, signer=SigningKey.generate("P-256"),
                                   holder_key=stranger, iat=clock.now(), exp=clock.now() + 60,
                                   salts=SecretsSaltSource(), disclosable=["city"])
    result = verify_presentation(forged, trust=trust, now=clock.now())
    assert not result.verified and result.code == "unknown_key"


@pytest.mark.parametrize("doc", [
    [], {"issuer": CITY}, {"issuer": CITY, "jwks_uri": f"{CITY}/jwks"}, {"issuer": CITY, "jwks": {"keys": [{}]}},
    {"issuer": "https://other.test", "jwks": {"keys": []}},
])
def test_malformed_metadata_is_refused(doc):
    with pytest.raises(MalformedIssuerMetadataError):
        parse_issuer_metadata(doc, expected_issuer=CITY)


def test_rotated_out_keys_stay_listed(world):
    w3, _, clock, clients, services = world
    before = services["city"].keys.ring.active_kid
    clock.advance(5)
    w3.provider.ethereum_tester.time_travel(clock.now())
    assert clients["city"].post("/v1/keys/rotate", headers=OPERATOR).status_code == 201
    kids = [k["kid"] for k in fetch_metadata(clients, CITY)["jwks"]["keys"]]
    assert before in kids and services["city"].keys.ring.active_kid in kids


def test_did_ethr_issuer_keeps_its_did_and_its_credentials_verify(world):
    w3, deployment, clock, clients, services = world
    text, holder = issue(clients["legacy"])
    iss = sdjwt.unsafe_decode(text)["payload"]["iss"]
    assert iss.startswith("did:ethr:") and iss == services["legacy"].issuer_id
    services["legacy"].worker.run_once(force=True)
    pres = sdjwt.present_sd_jwt(text, disclose=["city"], holder_key=holder, audience="a", nonce="n", now=clock.now())
    result = verify_presentation(pres, trust=chain_trust(w3, deployment, clock.now(), clients), now=clock.now(),
                                 audience="a", nonce="n")
    assert result.verified, result.to_json()
    assert clients["legacy"].get("/.well-known/jwt-vc-issuer").status_code == 404


def test_the_verifiers_trust_sync_refuses_metadata_that_disagrees_with_the_chain(world, tmp_path):
    import httpx

    from verifier.trust_sync import TrustKeeper

    w3, deployment, clock, clients, _ = world
    tamper = {}

    def web(request: httpx.Request) -> httpx.Response:  # the issuers' web servers, one of them tampered with
        client = next(c for c in clients.values() if str(request.url).startswith(str(c.base_url)))
        r = client.get(str(request.url))
        if str(request.url) in tamper:
            return httpx.Response(200, json=tamper[str(request.url)])
        return httpx.Response(r.status_code, content=r.content, headers={"content-type": r.headers["content-type"]})

    keeper = TrustKeeper(snapshot_path=tmp_path / "snap.json", clock=clock, sync=TrustSync(w3, deployment),
                         http=httpx.Client(transport=httpx.MockTransport(web)), metadata_check_s=60)
    assert keeper.sync_once().ok and keeper.metadata_verdicts == {CITY: "ok"}  # the did:ethr issuer has none

    doc = fetch_metadata(clients, CITY)
    stranger = SigningKey.generate("P-256").public_key
    doc["jwks"]["keys"].append({**stranger.to_jwk(), "kid": stranger.thumbprint()})
    tamper[metadata_url(CITY)] = doc
    keeper.sync_once()
    assert keeper.metadata_verdicts == {CITY: "ok"}  # not due yet: checked once per interval
    clock.advance(61)
    report = keeper.sync_once()
    assert keeper.metadata_verdicts == {CITY: "issuer_metadata_mismatch"}
    assert (CITY, "issuer_metadata_mismatch") in report.rejected
    # the chain still decides: the issuer's own keys are the chain's, the stranger's key is not trusted
    assert keeper.current().key_by_thumbprint(stranger.thumbprint()) is None

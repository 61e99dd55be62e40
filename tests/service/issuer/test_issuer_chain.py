"""The issuer against a real chain (py-evm through web3's EthereumTesterProvider, in-process): keys are
registered in the TrustRegistry, batches anchored in the AnchorRegistry, status digests published in the
StatusRegistry, and a verifier that trusts only the chain (contracts.TrustSync) accepts what was issued,
sees a revocation, and still accepts credentials signed before a key rotation."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils import keccak
from issuer_world import (
    CLERK,
    MERCHANT,
    OPERATOR,
    RESIDENT,
    RESIDENT_CLAIMS,
    FixedClock,
    HolderKey,
    TestClient,
    make_settings,
    signing_key_of,
)
from web3 import EthereumTesterProvider, Web3

from contracts import Signer, TrustSync, deploy_all, registries
from credcore import cp1, sdjwt
from credcore._b64 import b64u_decode
from credcore.did import did_ethr
from credcore.presentations import verify_presentation
from credcore.status_list import verify_status_list_jwt
from issuer.api.app import build_service, create_app
from issuer.chain import Web3Chain

pytestmark = pytest.mark.chain


@pytest.fixture
def world(tmp_path):
    w3 = Web3(EthereumTesterProvider())
    admin, issuer = (Account.from_key(keccak(text=f"civicpass-issuer-test-{r}")) for r in ("admin", "issuer"))
    for acct in (admin, issuer):
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": acct.address, "value": 10**21}))
    deployment = deploy_all(w3, admin, dev=True)
    trust = registries(w3, deployment)[0]
    trust.accredit_issuer(issuer.address, identifier=did_ethr(issuer.address, deployment.chain_id), name="Busan",
                          credential_types=[RESIDENT, MERCHANT], sender=Signer(w3, admin)).wait()
    chain = Web3Chain(w3, deployment, issuer.key)
    clock = FixedClock(int(w3.eth.get_block("latest")["timestamp"]))
    svc = build_service(make_settings(f"sqlite:///{tmp_path}/i.db"), clock=clock, chain=chain)
    clock.t = int(w3.eth.get_block("latest")["timestamp"]) + 1  # the key's window starts at its block
    with TestClient(create_app(svc.settings, service=svc), raise_server_exceptions=False) as client:
        yield w3, deployment, chain, svc, clock, client
    svc.sessions.kw["bind"].dispose()


def chain_snapshot(w3, deployment, client, now):
    """What a verifier believes: registry events, plus status lists whose sha256 matches the chain."""
    state = TrustSync(w3, deployment).sync()
    for pending in state.pending_status_lists:
        path = pending.uri.removeprefix("http://issuer.test")
        token = client.get(path).text
        issuer = state.snapshot(now=now).issuer(pending.issuer_id)
        key = next(k.public_key for k in issuer.keys if k.thumbprint == _kid(token))
        parsed = verify_status_list_jwt(token, key, now=now, expected_uri=pending.uri)
        state.accept_status_list(pending, token, parsed.status_list, fetched_at=now)
    return state.snapshot(now=now)


def _kid(token):
    from credcore import jws

    return jws.parse(token, typ="statuslist+jwt").header["kid"]


def issue(client, copies=1):
    keys = [HolderKey() for _ in range(copies + 1)]
    body = {"vct": RESIDENT, "claims": RESIDENT_CLAIMS, "holder_jwks": [k.jwk for k in keys]}
    r = client.post("/v1/credentials", headers=CLERK, json=body)
    assert r.status_code == 201, r.text
    return r.json(), keys


def check(snapshot, issued, keys, now):
    sd, cp = issued["credentials"][0]["credential"], issued["credentials"][1]["credential"]
    pres = sdjwt.present_sd_jwt(sd, disclose=["city"], holder_key=signing_key_of(keys[0]), audience="a", nonce="n",
                                now=now)
    qr = cp1.present_cp1(b64u_decode(cp), holder_key=signing_key_of(keys[1]), now=now)
    return (verify_presentation(pres, trust=snapshot, now=now, audience="a", nonce="n").code,
            verify_presentation(qr, trust=snapshot, now=now).code)


def test_issue_anchor_publish_and_verify_from_the_chain(world):
    w3, deployment, chain, svc, clock, client = world
    assert chain.trust.key(chain.address, svc.keys.ring.active_kid) is not None  # registered at first start
    issued, keys = issue(client)
    svc.worker.run_once(force=True)

    snapshot = chain_snapshot(w3, deployment, client, clock.now())
    assert check(snapshot, issued, keys, clock.now()) == (None, None)

    items = client.get(f"/v1/credentials/{issued['id']}/anchor", headers=CLERK).json()["items"]
    for item in items:
        root, digest = bytes.fromhex(item["root"][2:]), bytes.fromhex(item["digest"][2:])
        assert chain.anchors.anchor_of(root).block_number == item["block"]
        assert chain.anchors.verify_inclusion(root, digest, [bytes.fromhex(p[2:]) for p in item["proof"]])
        assert root in snapshot.anchored_roots

    assert client.post(f"/v1/credentials/{issued['id']}/revoke", headers=OPERATOR).status_code == 200
    clock.advance(2)
    svc.worker.run_once()
    snapshot = chain_snapshot(w3, deployment, client, clock.now())
    assert check(snapshot, issued, keys, clock.now()) == ("revoked", "revoked")


def test_key_rotation_keeps_old_credentials_verifying(world):
    w3, deployment, chain, svc, clock, client = world
    old_kid = svc.keys.ring.active_kid
    before, before_keys = issue(client)
    clock.advance(10)
    w3.provider.ethereum_tester.time_travel(clock.now())
    r = client.post("/v1/keys/rotate", headers=OPERATOR)
    assert r.status_code == 201 and r.json()["kid"] != old_kid
    clock.advance(10)
    w3.provider.ethereum_tester.time_travel(clock.now())
    after, after_keys = issue(client)
    svc.worker.run_once(force=True)

    keys = client.get("/v1/keys", headers=OPERATOR).json()["keys"]
    assert [k["active"] for k in keys] == [False, True] and all(k["on_chain"] for k in keys)
    # The old key's window ends a grace after the new key's start, on chain exactly where the issuer closed it.
    record = chain.trust.key(chain.address, old_kid)
    assert record.valid_until == keys[0]["valid_until"] >= keys[1]["valid_from"] + svc.settings.key_close_grace
    snapshot = chain_snapshot(w3, deployment, client, clock.now())
    assert check(snapshot, before, before_keys, clock.now()) == (None, None)
    assert check(snapshot, after, after_keys, clock.now()) == (None, None)


def test_chain_down_then_back(world, monkeypatch):
    _, _, chain, svc, clock, client = world
    real = chain.anchor_root

    def down(root, count):
        raise ConnectionError("node unreachable")

    monkeypatch.setattr(chain, "anchor_root", down)
    issued, _ = issue(client)
    svc.worker.run_once(force=True)
    assert {i["state"] for i in client.get(f"/v1/credentials/{issued['id']}/anchor", headers=CLERK).json()["items"]
            } == {"pending"}
    monkeypatch.setattr(chain, "anchor_root", real)
    clock.advance(60)
    svc.worker.run_once()
    items = client.get(f"/v1/credentials/{issued['id']}/anchor", headers=CLERK).json()["items"]
    assert {i["state"] for i in items} == {"anchored"}
    assert chain.anchors.anchor_of(bytes.fromhex(items[0]["root"][2:])) is not None

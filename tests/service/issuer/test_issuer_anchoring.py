"""Anchoring with an in-memory chain: batching, durability while the chain is down, no double anchoring,
and inclusion proofs that verify against the anchored root."""

from __future__ import annotations

import pytest
from issuer_world import CLERK, OPERATOR, RESIDENT, RESIDENT_CLAIMS, HolderKey
from sqlalchemy import func, select

from credcore.merkle import verify_proof
from issuer.store.models import AnchorBatch, CredentialItem


def issue(client, copies=2):
    keys = [HolderKey().jwk for _ in range(copies + 1)]
    body = {"vct": RESIDENT, "claims": RESIDENT_CLAIMS, "holder_jwks": keys}
    r = client.post("/v1/credentials", headers=CLERK, json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def anchor_of(client, cid):
    r = client.get(f"/v1/credentials/{cid}/anchor", headers=CLERK)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def queued(service):
    with service.sessions() as s:
        return s.scalar(select(func.count()).where(CredentialItem.batch_id.is_(None)))


def test_issued_digests_are_queued_then_anchored_with_valid_proofs(client, service, chain):
    ids = [issue(client) for _ in range(3)]
    assert queued(service) == 9
    assert {i["state"] for i in anchor_of(client, ids[0])} == {"queued"}
    service.worker.run_once(force=True)
    assert queued(service) == 0
    for cid in ids:
        items = anchor_of(client, cid)
        assert [i["kind"] for i in items] == ["dc+sd-jwt", "civicpass-cp1", "civicpass-cp1"]
        for item in items:
            assert item["state"] == "anchored" and item["tx_hash"].startswith("0x") and item["block"] > 100
            root = bytes.fromhex(item["root"][2:])
            assert root in chain.anchors
            proof = [bytes.fromhex(p[2:]) for p in item["proof"]]
            assert verify_proof(root, bytes.fromhex(item["digest"][2:]), proof)
    assert chain.anchor_calls == 1  # one transaction per batch


def test_batches_form_at_batch_size_or_interval(settings, clock, chain, tmp_path):
    from issuer_world import make_settings

    from issuer.api.app import build_service

    svc = build_service(make_settings(settings.database_url, anchor_batch_size=4, anchor_interval=30), clock=clock,
                        chain=chain)
    keys = [HolderKey() for _ in range(3)]
    from credcore.keys import PublicKey

    pub = [PublicKey.from_jwk(k.jwk) for k in keys]
    svc.admin.issue_direct("t", RESIDENT, RESIDENT_CLAIMS, pub)  # 3 digests: below the batch size
    svc.worker.run_once()
    assert len(chain.anchors) == 1  # the first round is always due
    svc.admin.issue_direct("t", RESIDENT, RESIDENT_CLAIMS, pub)
    clock.advance(5)
    svc.worker.run_once()
    assert len(chain.anchors) == 1  # 3 waiting, interval not over
    svc.admin.issue_direct("t", RESIDENT, RESIDENT_CLAIMS, pub)
    svc.worker.run_once()
    assert len(chain.anchors) == 2 and sorted(chain.anchors.values()) == [3, 4]  # 6 waiting: one full batch of 4
    clock.advance(30)
    svc.worker.run_once()
    assert sorted(chain.anchors.values()) == [2, 3, 4]
    svc.sessions.kw["bind"].dispose()


def test_chain_down_issuance_succeeds_and_anchoring_retries_with_backoff(client, service, chain, clock):
    chain.down = True
    cid = issue(client)
    service.worker.run_once(force=True)
    items = anchor_of(client, cid)
    assert {i["state"] for i in items} == {"pending"} and chain.anchors == {}
    with service.sessions() as s:
        batch = s.scalars(select(AnchorBatch)).one()
        assert batch.attempts == 1 and batch.next_attempt_at == clock.now() + 2
    chain.down = False
    service.worker.run_once()  # not due yet: backing off
    assert chain.anchors == {}
    clock.advance(2)
    service.worker.run_once()
    assert {i["state"] for i in anchor_of(client, cid)} == {"anchored"}
    assert chain.anchor_calls == 1


def test_crash_after_send_is_not_anchored_twice(client, service, chain, clock):
    cid = issue(client)
    real = chain.anchor_root

    def sent_then_lost(root, count):
        real(root, count)
        raise TimeoutError("receipt lost")

    chain.anchor_root = sent_then_lost
    service.worker.run_once(force=True)
    assert {i["state"] for i in anchor_of(client, cid)} == {"pending"}
    chain.anchor_root = real
    clock.advance(10)
    service.worker.run_once()
    assert {i["state"] for i in anchor_of(client, cid)} == {"anchored"}
    assert chain.anchor_calls == 1 and len(chain.anchors) == 1


def test_without_a_chain_digests_stay_queued(sqlite_url, clock):
    from issuer_world import make_settings

    from credcore.keys import PublicKey
    from issuer.api.app import build_service

    svc = build_service(make_settings(sqlite_url), clock=clock, chain=None)
    svc.admin.issue_direct("t", RESIDENT, RESIDENT_CLAIMS, [PublicKey.from_jwk(HolderKey().jwk)])
    svc.worker.run_once(force=True)
    assert queued(svc) == 1
    assert svc.status.served(1) is not None  # status lists are still served
    svc.sessions.kw["bind"].dispose()


def test_unknown_credential_anchor_is_404(client):
    r = client.get("/v1/credentials/nope/anchor", headers=OPERATOR)
    assert r.status_code == 404 and r.json()["code"] == "not_found"


@pytest.mark.parametrize("copies", [0, 10])
def test_every_artefact_has_its_own_leaf(client, service, copies):
    cid = issue(client, copies)
    service.worker.run_once(force=True)
    items = anchor_of(client, cid)
    assert len(items) == copies + 1 and len({i["digest"] for i in items}) == copies + 1


def test_no_issuance_until_the_signing_key_is_on_chain(sqlite_url, clock, chain):
    from issuer_world import make_settings

    from credcore.errors import ChainUnavailableError
    from credcore.keys import PublicKey
    from issuer.api.app import build_service

    chain.down = True
    svc = build_service(make_settings(sqlite_url), clock=clock, chain=chain)  # starts anyway
    key = [PublicKey.from_jwk(HolderKey().jwk)]
    with pytest.raises(ChainUnavailableError):  # a credential no verifier could check is not issued
        svc.admin.issue_direct("t", RESIDENT, RESIDENT_CLAIMS, key)
    chain.down = False
    svc.worker.run_once()
    assert svc.keys.ring.active_kid in chain.keys
    assert svc.admin.issue_direct("t", RESIDENT, RESIDENT_CLAIMS, key).credential_id
    svc.sessions.kw["bind"].dispose()


def test_key_rotation_needs_the_chain(client, chain):
    chain.down = True
    r = client.post("/v1/keys/rotate", headers=OPERATOR)
    assert r.status_code == 503 and r.json()["code"] == "chain_unavailable"
    assert [k["active"] for k in client.get("/v1/keys", headers=OPERATOR).json()["keys"]] == [True]
    chain.down = False
    assert client.post("/v1/keys/rotate", headers=OPERATOR).status_code == 201
    keys = client.get("/v1/keys", headers=OPERATOR).json()["keys"]
    assert [k["active"] for k in keys] == [False, True] and keys[0]["valid_until"] is not None

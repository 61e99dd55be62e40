"""Concurrent issuance: 100 parallel HTTP issuances get distinct status slots (small lists, so slots
collide and lists roll over under load), every digest is queued and anchored exactly once, and the
audit chain stays linear. On SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from issuer_world import CLERK, RESIDENT, RESIDENT_CLAIMS, HolderKey, TestClient, make_settings
from sqlalchemy import func, select

from credcore.merkle import StandardMerkleTree
from issuer import audit
from issuer.api.app import build_service, create_app
from issuer.store.models import AnchorBatch, CredentialItem, StatusListRow

pytestmark = pytest.mark.slow


def test_parallel_issuances_get_unique_slots_and_are_anchored_once(db_url, clock, chain):
    settings = make_settings(db_url, status_list_size=256, status_list_max_fill=0.5, anchor_batch_size=64)
    svc = build_service(settings, clock=clock, chain=chain)
    keys = [[HolderKey().jwk for _ in range(3)] for _ in range(100)]
    with TestClient(create_app(settings, service=svc), raise_server_exceptions=False) as client:
        def issue(jwks):
            body = {"vct": RESIDENT, "claims": RESIDENT_CLAIMS, "holder_jwks": jwks}
            return client.post("/v1/credentials", headers=CLERK, json=body).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            codes = list(pool.map(issue, keys))
    assert codes == [201] * 100

    with svc.sessions() as s:
        slots = s.execute(select(CredentialItem.list_id, CredentialItem.idx)).all()
        assert len(slots) == 300 and len(set(slots)) == 300
        lists = s.scalars(select(StatusListRow.id)).all()
        assert len(lists) >= 3  # 300 slots at most half of 256 per list
        for list_id in lists:
            used = s.scalar(select(func.count()).where(CredentialItem.list_id == list_id))
            assert used <= 256
        assert audit.verify_chain(s) == 101  # key.created + 100 issuances

    svc.worker.run_once(force=True)
    with svc.sessions() as s:
        assert s.scalar(select(func.count()).where(CredentialItem.batch_id.is_(None))) == 0
        batches = s.scalars(select(AnchorBatch)).all()
        assert sum(b.count for b in batches) == 300 and all(b.state == "anchored" for b in batches)
        for b in batches:
            leaves = s.scalars(select(CredentialItem.digest).where(CredentialItem.batch_id == b.id)
                               .order_by(CredentialItem.id)).all()
            assert StandardMerkleTree.of(list(leaves)).root == b.root
    assert chain.anchor_calls == len(batches) and sum(chain.anchors.values()) == 300
    svc.sessions.kw["bind"].dispose()


def test_deadlock_victims_are_retried_and_other_errors_are_not():
    from sqlalchemy.exc import DBAPIError

    from issuer.transactions import retry_transient

    class Orig(Exception):
        def __init__(self, sqlstate):
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    calls = []

    def flaky(state):
        def run():
            calls.append(state)
            if len(calls) < 2:
                raise DBAPIError("INSERT", {}, Orig(state))
            return "stored"
        return run

    assert retry_transient(flaky("40P01")) == "stored" and calls == ["40P01", "40P01"]
    calls.clear()
    with pytest.raises(DBAPIError):
        retry_transient(flaky("23505"))  # a real constraint violation is not retried
    assert calls == ["23505"]

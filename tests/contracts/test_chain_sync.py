"""TrustSync: registry events -> credcore TrustSnapshot, incrementally; status lists accepted only by digest."""

from __future__ import annotations

import pytest

from contracts import TrustSync
from contracts.errors import StatusDigestMismatchError, StatusListNotPendingError
from credcore.keys import SigningKey
from credcore.merkle import StandardMerkleTree
from credcore.status_list import Status, StatusList, sign_status_list_jwt, status_list_digest, verify_status_list_jwt

pytestmark = pytest.mark.chain

RESIDENT = "urn:civicpass:ResidentCredential:1"
MERCHANT = "urn:civicpass:MerchantCredential:1"
URI = "https://issuer.civicpass.example/status-lists/7"


def test_snapshot_carries_issuers_keys_windows_suspension_and_roots(chain, deployed):
    trust, anchors, _ = deployed
    k1, k2 = SigningKey.generate("P-256"), SigningKey.generate("P-256")
    trust.add_key(k1.public_key, sender=chain.issuer).wait()
    switch = chain.now() + 100
    trust.rotate_key(k1.public_key.thumbprint(), k2.public_key, switch_at=switch, sender=chain.issuer).wait()
    trust.grant_credential_type(chain.issuer.address, MERCHANT, sender=chain.admin).wait()
    chain.accredit(trust, chain.issuer2, types=[MERCHANT])
    root = StandardMerkleTree.of([b"\x01" * 32, b"\x02" * 32]).root
    anchors.anchor(root, 2, sender=chain.issuer).wait()
    trust.suspend_issuer(chain.issuer2.address, sender=chain.admin).wait()

    state = TrustSync(chain.w3, chain.base).sync()
    snap = state.snapshot(now=1_800_000_000)
    assert snap.block_number == chain.w3.eth.block_number and snap.synced_at == 1_800_000_000
    record = trust.issuer(chain.issuer.address)
    assert record is not None
    issuer = snap.issuer(record.identifier)
    assert issuer is not None and issuer.account == chain.issuer.address and issuer.suspended_at is None
    assert issuer.credential_types == frozenset({RESIDENT, MERCHANT})
    found = snap.key_by_thumbprint(k1.public_key.thumbprint())
    assert found is not None and found[1].valid_until == switch and found[1].public_key == k1.public_key
    new = snap.key_by_thumbprint(k2.public_key.thumbprint())
    assert new is not None and new[1].valid_from == switch and new[1].valid_at(switch)
    assert snap.keys_by_kid8(new[1].kid8)
    suspended = [i for i in snap.issuers if i.account == chain.issuer2.address]
    assert suspended and suspended[0].suspended_at is not None
    assert root in snap.anchored_roots
    assert not state.rejected_keys


def test_sync_is_incremental_and_range_bounded(chain, deployed):
    trust, _, _ = deployed
    sync = TrustSync(chain.w3, chain.base, max_block_range=2)
    state = sync.sync()
    first_block = state.block_number
    key = SigningKey.generate("P-256").public_key
    trust.add_key(key, sender=chain.issuer).wait()
    trust.revoke_key(key.thumbprint(), sender=chain.issuer).wait()
    applied = state.events_applied
    sync.sync(state)
    assert state.block_number > first_block and state.events_applied == applied + 2
    found = state.snapshot(now=0).key_by_thumbprint(key.thumbprint())
    assert found is not None and found[1].revoked_at is not None
    full = TrustSync(chain.w3, chain.base).sync()  # one wide range gives the same snapshot
    assert full.snapshot(now=0) == state.snapshot(now=0)


def test_sync_reports_its_progress_after_each_block_range(chain, deployed):
    calls: list[tuple[int, int, int]] = []
    state = TrustSync(chain.w3, chain.base, max_block_range=2).sync(progress=lambda *a: calls.append(a))
    start, head = chain.base.from_block, state.block_number
    assert [c[1] for c in calls] == [*range(start + 1, head, 2), head]
    assert len(calls) == (head - start + 2) // 2 and all(c[0] == start and c[2] == head for c in calls)


def test_key_whose_thumbprint_does_not_match_is_rejected(chain, deployed):
    trust, _, _ = deployed
    key = SigningKey.generate("P-256").public_key
    chain.raw(trust, "addKey", [b"\x09" * 32, key.to_bytes(), 0, 0], chain.issuer)
    state = TrustSync(chain.w3, chain.base).sync()
    assert state.rejected_keys == [(chain.issuer.address, b"\x09" * 32)]
    assert not any(i.keys for i in state.snapshot(now=0).issuers)


def _publish_list(chain, statuses, signer: SigningKey, version: int, revoked: int | None = None) -> tuple[str, bytes]:
    status_list = StatusList.empty(64)
    if revoked is not None:
        status_list = status_list.set(revoked, Status.INVALID)
    token = sign_status_list_jwt(status_list, uri=URI, signer=signer, iat=1_790_000_000 + version)
    statuses.publish(7, version, status_list_digest(token), URI, sender=chain.issuer).wait()
    return token, status_list_digest(token)


def test_status_lists_are_pending_until_a_matching_list_is_accepted(chain, deployed):
    _, _, statuses = deployed
    signer = SigningKey.generate("P-256")
    token, digest = _publish_list(chain, statuses, signer, version=1, revoked=3)
    sync = TrustSync(chain.w3, chain.base)
    state = sync.sync()
    (pending,) = state.pending_status_lists
    assert (pending.list_id, pending.version, pending.digest, pending.uri) == (7, 1, digest, URI)
    assert state.snapshot(now=0).status_lists == ()

    parsed = verify_status_list_jwt(token, signer.public_key, now=1_790_000_100, expected_uri=URI)
    with pytest.raises(StatusDigestMismatchError):
        state.accept_status_list(pending, token + "x", parsed.status_list, fetched_at=5)
    record = state.accept_status_list(pending, token, parsed.status_list, fetched_at=5)
    assert state.pending_status_lists == ()
    snap = state.snapshot(now=10)
    assert snap.status_list_by_uri(URI) == record and record.status_list.get(3) == Status.INVALID
    assert snap.status_list_by_id(pending.issuer_id, 7) == record

    _publish_list(chain, statuses, signer, version=2, revoked=4)
    sync.sync(state)
    assert [p.version for p in state.pending_status_lists] == [2]
    assert state.snapshot(now=20).status_lists == ()  # a superseded list is not used (fail closed)
    with pytest.raises(StatusListNotPendingError):
        state.accept_status_list(pending, token, parsed.status_list, fetched_at=21)

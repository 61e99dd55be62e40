"""The persisted trust snapshot: a faithful round trip, atomic replacement, and damage reported as such."""

from __future__ import annotations

import json

import pytest

from credcore.errors import MalformedInputError
from credcore.keys import SigningKey
from credcore.status_list import Status, StatusList
from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot
from verifier.snapshot_file import load_snapshot, save_snapshot, snapshot_to_json


def snapshot() -> TrustSnapshot:
    key = SigningKey.generate().public_key
    issuer = TrustedIssuer("did:ethr:0x539:0xAb", "City", frozenset({"a", "b"}),
                           (IssuerKey(key, 10, 20, 15),), suspended_at=99, account="0xAb")
    lst = StatusList.empty(16).set(3, Status.INVALID)
    return TrustSnapshot(issuers=(issuer,), status_lists=(StatusListRecord(issuer.issuer_id, 7, "u", lst, 2, b"\1" * 32,
                                                                            5),),
                         anchored_roots=frozenset({b"\2" * 32}), block_number=123, synced_at=456)


def test_round_trip_keeps_everything_the_verifier_uses(tmp_path):
    snap = snapshot()
    save_snapshot(tmp_path / "s.json", snap, cursor={"block": 9})
    loaded, cursor = load_snapshot(tmp_path / "s.json")
    assert cursor == {"block": 9}
    assert snapshot_to_json(loaded) == snapshot_to_json(snap)
    assert loaded.status_list_by_id("did:ethr:0x539:0xAb", 7).status_list.get(3) == Status.INVALID
    key = snap.issuers[0].keys[0]
    assert loaded.key_by_thumbprint(key.thumbprint)[1].valid_at(12) and not loaded.issuers[0].keys[0].valid_at(16)


def test_missing_file_is_none_and_no_temporary_files_are_left(tmp_path):
    assert load_snapshot(tmp_path / "none.json") is None
    save_snapshot(tmp_path / "s.json", snapshot())
    save_snapshot(tmp_path / "s.json", snapshot())
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


@pytest.mark.parametrize("text", ["not json", "[]", '{"format": "other"}',
                                  '{"format": "civicpass-trust-snapshot-v1", "issuers": 1}'])
def test_damaged_files_are_malformed_input(tmp_path, text):
    (tmp_path / "s.json").write_text(text)
    with pytest.raises(MalformedInputError):
        load_snapshot(tmp_path / "s.json")


def test_damaged_snapshot_at_start_up_starts_empty_rather_than_crashing(tmp_path):
    from verifier.trust_sync import TrustKeeper

    (tmp_path / "s.json").write_text(json.dumps({"format": "civicpass-trust-snapshot-v1"}))

    class Clock:
        def now(self) -> int:
            return 0

    assert TrustKeeper(snapshot_path=tmp_path / "s.json", clock=Clock()).current().issuers == ()

"""Anchor proofs: kept only when they lead from this credential's own digests to a root the chain anchored."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from wallet_fake_issuer import FakeIssuer
from wallet_helpers import NOW

from credcore.merkle import StandardMerkleTree
from credcore.trust import TrustSnapshot
from wallet_sdk.anchor import attach_anchor_proofs, credential_digests
from wallet_sdk.errors import CredentialRejectedError
from wallet_sdk.receive import receive
from wallet_sdk.records import StoredCredential
from wallet_sdk.store import Wallet


@pytest.fixture
def held(wallet: Wallet) -> StoredCredential:
    issuer = FakeIssuer(now=NOW)
    return receive(wallet, issuer.offer(), tx_code=issuer.pin, http=issuer.client(), trust=issuer.trust(), now=NOW,
                   copies=3)  # fmt: skip


def _batch(digests: list[bytes]) -> tuple[bytes, list[dict[str, Any]]]:
    """An issuer's anchoring batch: this credential's digests among others; proofs in the issuer's JSON form."""
    others = [hashlib.sha256(bytes([i])).digest() for i in range(9)]
    tree = StandardMerkleTree.of([*others, *digests])
    root = "0x" + tree.root.hex()
    proofs = [
        {
            "digest": "0x" + d.hex(),
            "state": "anchored",
            "root": root,
            "proof": ["0x" + s.hex() for s in tree.get_proof(d)],
        }
        for d in digests
    ]
    return tree.root, proofs


def test_anchored_proofs_are_checked_and_kept(wallet: Wallet, held: StoredCredential) -> None:
    digests = sorted(credential_digests(held))
    assert len(digests) == 4
    root, proofs = _batch(digests)
    report = attach_anchor_proofs(wallet, held.id, proofs, trust=TrustSnapshot(anchored_roots=frozenset({root})))
    assert (report.anchored, report.pending, report.total) == (4, 0, 4)
    kept = wallet.load(held.id).anchor_proofs
    assert set(kept) == {d.hex() for d in digests} and kept[digests[0].hex()]["root"] == "0x" + root.hex()
    assert wallet.summary(held.id).used == frozenset()  # rewriting the blob keeps the index entry's state


def test_root_not_anchored_on_chain_is_refused(wallet: Wallet, held: StoredCredential) -> None:
    _, proofs = _batch(sorted(credential_digests(held)))
    with pytest.raises(CredentialRejectedError) as exc:
        attach_anchor_proofs(wallet, held.id, proofs, trust=TrustSnapshot())
    assert exc.value.context["reason"] == "not_anchored"
    assert wallet.load(held.id).anchor_proofs == {}


def test_tampered_path_is_refused(wallet: Wallet, held: StoredCredential) -> None:
    root, proofs = _batch(sorted(credential_digests(held)))
    proofs[1]["proof"][0] = "0x" + "00" * 32
    with pytest.raises(CredentialRejectedError) as exc:
        attach_anchor_proofs(wallet, held.id, proofs, trust=TrustSnapshot(anchored_roots=frozenset({root})))
    assert exc.value.context["reason"] == "anchor_mismatch"


def test_proof_for_someone_elses_digest_is_refused(wallet: Wallet, held: StoredCredential) -> None:
    root, proofs = _batch([hashlib.sha256(b"not mine").digest()])
    with pytest.raises(CredentialRejectedError):
        attach_anchor_proofs(wallet, held.id, proofs, trust=TrustSnapshot(anchored_roots=frozenset({root})))


def test_pending_proofs_are_counted_not_kept(wallet: Wallet, held: StoredCredential) -> None:
    digest = sorted(credential_digests(held))[0]
    pending = [{"digest": "0x" + digest.hex(), "state": "pending", "root": None, "proof": []}]
    report = attach_anchor_proofs(wallet, held.id, pending, trust=TrustSnapshot())
    assert (report.anchored, report.pending) == (0, 1)

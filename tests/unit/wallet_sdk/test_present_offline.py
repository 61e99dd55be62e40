"""Offline presentation: fresh single-use copies, holder proof per time step, QR images, verifier verdicts."""

from __future__ import annotations

import pytest
from wallet_fake_issuer import ISSUER_ID, FakeIssuer
from wallet_helpers import NOW, PASS

from credcore._defaults import MemoryReplayGuard
from credcore.cp1 import decode_cp1
from credcore.presentations import verify_presentation
from credcore.status_list import StatusList
from credcore.trust import StatusListRecord, TrustSnapshot
from wallet_sdk.errors import NoUnusedCopyError
from wallet_sdk.present import present_offline, refresh
from wallet_sdk.qr import decode_qr_image
from wallet_sdk.receive import receive
from wallet_sdk.records import StoredCredential
from wallet_sdk.store import Wallet


@pytest.fixture
def issuer() -> FakeIssuer:
    return FakeIssuer(now=NOW)


@pytest.fixture
def held(wallet: Wallet, issuer: FakeIssuer) -> StoredCredential:
    return receive(wallet, issuer.offer(), tx_code=issuer.pin, http=issuer.client(), trust=issuer.trust(), now=NOW,
                   copies=5)  # fmt: skip


def _verifier_trust(issuer: FakeIssuer, revoked: int | None = None) -> TrustSnapshot:
    lst = StatusList.empty(1024)
    if revoked is not None:
        lst = lst.set(revoked, 1)
    record = StatusListRecord(
        issuer_id=ISSUER_ID, list_id=1, uri="https://issuer.example/city/status-lists/1", status_list=lst
    )
    base = issuer.trust()
    return TrustSnapshot(issuers=base.issuers, status_lists=(record,))


def test_a_shown_qr_verifies_at_the_counter(wallet: Wallet, issuer: FakeIssuer, held: StoredCredential) -> None:
    shown = present_offline(wallet, held.id, now=NOW + 100)
    result = verify_presentation(shown.text, trust=_verifier_trust(issuer), now=NOW + 110)
    assert result.verified, result.to_json()
    assert result.claims == {"city": 26000, "district": 26350, "age_over_19": True}


def test_each_showing_spends_a_different_copy(wallet: Wallet, held: StoredCredential) -> None:
    a = present_offline(wallet, held.id, now=NOW)
    b = present_offline(wallet, held.id, now=NOW)
    da, db = decode_cp1(a.text), decode_cp1(b.text)
    assert a.copy_index != b.copy_index
    assert da.credential_digest != db.credential_digest and da.holder_key != db.holder_key
    assert da.status_index != db.status_index
    assert Wallet.open(wallet.path, PASS).summary(held.id).used == frozenset({a.copy_index, b.copy_index})


def test_replayed_qr_is_refused_by_the_verifier(wallet: Wallet, issuer: FakeIssuer, held: StoredCredential) -> None:
    shown = present_offline(wallet, held.id, now=NOW)
    guard = MemoryReplayGuard()
    trust = _verifier_trust(issuer)
    assert verify_presentation(shown.text, trust=trust, now=NOW, replay=guard).verified
    assert verify_presentation(shown.text, trust=trust, now=NOW + 5, replay=guard).code == "replayed"


def test_old_qr_is_refused_as_not_fresh(wallet: Wallet, issuer: FakeIssuer, held: StoredCredential) -> None:
    shown = present_offline(wallet, held.id, now=NOW)
    later = NOW + 120
    assert verify_presentation(shown.text, trust=_verifier_trust(issuer), now=later).code == "proof_not_fresh"


def test_refresh_reproves_the_same_copy_for_the_new_step(
    wallet: Wallet, issuer: FakeIssuer, held: StoredCredential
) -> None:
    shown = present_offline(wallet, held.id, now=NOW)
    again = refresh(wallet, shown, now=NOW + 120)
    assert again.copy_index == shown.copy_index and again.time_step == shown.time_step + 4
    assert decode_cp1(again.text).credential_digest == decode_cp1(shown.text).credential_digest
    assert verify_presentation(again.text, trust=_verifier_trust(issuer), now=NOW + 125).verified
    assert wallet.summary(held.id).used == frozenset({shown.copy_index})


def test_verifier_nonce_is_carried(wallet: Wallet, issuer: FakeIssuer, held: StoredCredential) -> None:
    shown = present_offline(wallet, held.id, now=NOW, nonce="counter-7f3a")
    trust = _verifier_trust(issuer)
    assert verify_presentation(shown.text, trust=trust, now=NOW, nonce="counter-7f3a").verified
    assert verify_presentation(shown.text, trust=trust, now=NOW, nonce="other").code == "nonce_mismatch"


def test_revoked_copy_is_refused_by_the_verifier(wallet: Wallet, issuer: FakeIssuer, held: StoredCredential) -> None:
    shown = present_offline(wallet, held.id, now=NOW)
    index = decode_cp1(shown.text).status_index
    assert verify_presentation(shown.text, trust=_verifier_trust(issuer, revoked=index), now=NOW).code == "revoked"


def test_few_copies_left_asks_for_a_new_batch_then_none_left_is_an_error(
    wallet: Wallet, held: StoredCredential
) -> None:
    shown = [present_offline(wallet, held.id, now=NOW) for _ in range(5)]
    assert [s.remaining for s in shown] == [4, 3, 2, 1, 0]
    assert [s.low for s in shown] == [False, True, True, True, True]
    assert "few_copies_left" in shown[-1].warnings
    with pytest.raises(NoUnusedCopyError):
        present_offline(wallet, held.id, now=NOW)


def test_unknown_profile_is_refused(wallet: Wallet, held: StoredCredential) -> None:
    with pytest.raises(NoUnusedCopyError):
        present_offline(wallet, held.id, now=NOW, profile="merchant-eligibility")


def test_png_and_svg_carry_the_same_text(wallet: Wallet, held: StoredCredential) -> None:
    shown = present_offline(wallet, held.id, now=NOW)
    assert decode_qr_image(shown.png()) == [shown.text]
    svg = shown.svg()
    assert svg.startswith("<svg") and "</svg>" in svg
    assert "▀" in shown.terminal() or "▄" in shown.terminal()
    assert shown.payload_bytes <= 300 and shown.qr_version <= 13


def test_each_showing_is_in_the_holders_history(wallet: Wallet, held: StoredCredential) -> None:
    present_offline(wallet, held.id, now=NOW)
    [entry] = wallet.history()
    assert (entry.kind, entry.credential_id, entry.profile, entry.verifier) == ("cp1", held.id, "resident-basic", "")

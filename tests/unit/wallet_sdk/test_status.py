"""Status: the holder learns of revocation or suspension from a signed list, and nothing from a bad one."""

from __future__ import annotations

import httpx
import pytest
from wallet_fake_issuer import ISSUER_URL, FakeIssuer
from wallet_helpers import NOW

from credcore.keys import SigningKey
from credcore.status_list import StatusList, sign_status_list_jwt, status_list_digest
from wallet_sdk.receive import receive
from wallet_sdk.records import StoredCredential
from wallet_sdk.status import check_status
from wallet_sdk.store import Wallet

URI = f"{ISSUER_URL}/status-lists/1"


@pytest.fixture
def issuer() -> FakeIssuer:
    return FakeIssuer(now=NOW)


@pytest.fixture
def held(wallet: Wallet, issuer: FakeIssuer) -> StoredCredential:
    return receive(wallet, issuer.offer(), tx_code=issuer.pin, http=issuer.client(), trust=issuer.trust(), now=NOW,
                   copies=3)  # fmt: skip


def _publish(
    issuer: FakeIssuer, changes: dict[int, int], *, signer: SigningKey | None = None, exp: int | None = None
) -> str:
    lst = StatusList.empty(1024)
    for index, value in changes.items():
        lst = lst.set(index, value)
    issuer.status_list_jwt = sign_status_list_jwt(lst, uri=URI, signer=signer or issuer.key, iat=NOW, exp=exp)
    return issuer.status_list_jwt


def _check(wallet: Wallet, issuer: FakeIssuer, held: StoredCredential, **kw: object):
    return check_status(wallet, held.id, http=issuer.client(), trust=issuer.trust(), now=NOW + 10, **kw)  # type: ignore[arg-type]


def test_valid_credential_is_reported_valid_and_recorded(
    wallet: Wallet, issuer: FakeIssuer, held: StoredCredential
) -> None:
    _publish(issuer, {})
    report = _check(wallet, issuer, held)
    assert (report.status, report.code, report.lists_checked) == ("valid", None, 1)
    assert wallet.summary(held.id).status == "valid" and wallet.summary(held.id).status_checked_at == NOW + 10


def test_revoked_credential_is_reported(wallet: Wallet, issuer: FakeIssuer, held: StoredCredential) -> None:
    _publish(issuer, {7: 1})
    assert _check(wallet, issuer, held).status == "revoked"
    assert wallet.summary(held.id).status == "revoked"


def test_suspended_credential_is_reported(wallet: Wallet, issuer: FakeIssuer, held: StoredCredential) -> None:
    _publish(issuer, {7: 2})
    assert _check(wallet, issuer, held).status == "suspended"


def test_a_revoked_unspent_copy_counts(wallet: Wallet, issuer: FakeIssuer, held: StoredCredential) -> None:
    _publish(issuer, {101: 1})
    assert _check(wallet, issuer, held).status == "revoked"


def test_list_signed_by_another_key_is_not_believed(wallet: Wallet, issuer: FakeIssuer, held: StoredCredential) -> None:
    _publish(issuer, {}, signer=SigningKey.generate())
    report = _check(wallet, issuer, held)
    assert (report.status, report.code) == ("unknown", "signature_invalid")
    assert wallet.summary(held.id).status is None


def test_list_whose_digest_differs_from_the_chain_is_not_believed(
    wallet: Wallet, issuer: FakeIssuer, held: StoredCredential
) -> None:
    # The chain recorded the list with the revocation; the server serves an older, all-valid one (rollback).
    chain_digest = status_list_digest(_publish(issuer, {7: 1}))
    _publish(issuer, {})
    report = _check(wallet, issuer, held, expected_digests={URI: chain_digest})
    assert (report.status, report.code) == ("unknown", "status_list_digest_mismatch")


def test_list_matching_the_chain_digest_is_believed(wallet: Wallet, issuer: FakeIssuer, held: StoredCredential) -> None:
    digest = status_list_digest(_publish(issuer, {7: 1}))
    assert _check(wallet, issuer, held, expected_digests={URI: digest}).status == "revoked"


def test_expired_list_gives_unknown(wallet: Wallet, issuer: FakeIssuer, held: StoredCredential) -> None:
    _publish(issuer, {}, exp=NOW + 5)
    assert _check(wallet, issuer, held).code == "status_list_expired"


def test_unreachable_issuer_gives_unknown_not_valid(wallet: Wallet, issuer: FakeIssuer, held: StoredCredential) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    offline = httpx.Client(transport=httpx.MockTransport(down))
    report = check_status(wallet, held.id, http=offline, trust=issuer.trust(), now=NOW)
    assert (report.status, report.code) == ("unknown", "wallet_peer_unreachable")


def test_empty_answer_gives_unknown(wallet: Wallet, issuer: FakeIssuer, held: StoredCredential) -> None:
    issuer.status_list_jwt = ""
    assert _check(wallet, issuer, held).status == "unknown"

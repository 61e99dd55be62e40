"""Receiving with OpenID4VCI 1.0 against a spec-built fake issuer: happy paths, refusals, tampering."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from wallet_fake_issuer import ISSUER_ID, ISSUER_URL, RESIDENT_VCT, FakeIssuer
from wallet_helpers import NOW as FIXED_NOW

from credcore.keys import SigningKey
from credcore.sdjwt import disclosable_claims
from credcore.trust import TrustSnapshot
from wallet_sdk.errors import CredentialRejectedError, IssuerRefusedError, PresentationRequestError
from wallet_sdk.qr import decode_qr_image, render_png
from wallet_sdk.receive import receive, well_known
from wallet_sdk.store import Wallet


@pytest.fixture
def issuer() -> FakeIssuer:
    return FakeIssuer(now=FIXED_NOW)


def _receive(wallet: Wallet, issuer: FakeIssuer, offer: str | None = None, pin: str | None = None, **kw: object):
    return receive(
        wallet,
        offer or issuer.offer(),
        tx_code=issuer.pin if pin is None else pin,
        http=issuer.client(),
        trust=kw.pop("trust", None) or issuer.trust(),  # type: ignore[arg-type]
        now=FIXED_NOW,
        **kw,  # type: ignore[arg-type]
    )


def test_offer_by_value_stores_one_sd_jwt_and_a_batch_of_cp1_copies(wallet: Wallet, issuer: FakeIssuer) -> None:
    stored = _receive(wallet, issuer, copies=4)
    assert stored.vct == RESIDENT_VCT and stored.issuer == ISSUER_ID
    assert stored.sd_jwt is not None and "city" in disclosable_claims(stored.sd_jwt)
    assert [c.profile for c in stored.copies] == ["resident-basic"] * 4
    assert stored.status is not None and stored.status.index == 7
    assert {c.status.index for c in stored.copies if c.status} == {100, 101, 102, 103}
    assert stored.copies[0].status is not None and stored.copies[0].status.uri == f"{ISSUER_URL}/status-lists/1"
    assert stored.name == "Resident credential"
    assert [s.id for s in Wallet.open(wallet.path, "correct horse battery staple").summaries()] == [stored.id]


def test_each_copy_and_the_sd_jwt_get_their_own_holder_key(wallet: Wallet, issuer: FakeIssuer) -> None:
    stored = _receive(wallet, issuer, copies=3)
    jwks = [json.dumps(p["header"]["jwk"], sort_keys=True) for p in issuer.proofs_seen]
    assert len(jwks) == 4 and len(set(jwks)) == 4
    assert stored.sd_jwt_key is not None
    keys = {stored.sd_jwt_key.public_key, *(c.holder_key.public_key for c in stored.copies)}
    assert len(keys) == 4


def test_proofs_follow_appendix_f1(wallet: Wallet, issuer: FakeIssuer) -> None:
    _receive(wallet, issuer)
    for p in issuer.proofs_seen:
        assert p["header"]["typ"] == "openid4vci-proof+jwt" and p["header"]["alg"] == "ES256"
        assert "d" not in p["header"]["jwk"]
        assert p["payload"]["aud"] == ISSUER_URL and p["payload"]["iat"] == FIXED_NOW
        assert "iss" not in p["payload"]


def test_copies_are_capped_by_the_issuers_batch_size(wallet: Wallet, issuer: FakeIssuer) -> None:
    issuer.batch_size = 2
    assert len(_receive(wallet, issuer, copies=10).copies) == 2


def test_offer_by_reference_is_fetched(wallet: Wallet, issuer: FakeIssuer) -> None:
    stored = _receive(wallet, issuer, issuer.offer(by_reference=True))
    assert stored.sd_jwt is not None


def test_offer_from_a_photo_of_its_qr_code(wallet: Wallet, issuer: FakeIssuer) -> None:
    [text] = decode_qr_image(render_png(issuer.offer(by_reference=True)))
    assert _receive(wallet, issuer, text).copies


def test_the_issuer_is_told_the_credentials_were_accepted(wallet: Wallet, issuer: FakeIssuer) -> None:
    _receive(wallet, issuer)
    assert {n["event"] for n in issuer.notifications} == {"credential_accepted"}


def test_the_issuers_id_for_the_credential_is_kept_and_listed(wallet: Wallet, issuer: FakeIssuer) -> None:
    issuer.notification_id = "9c1b0e7d"  # a civicpass issuer gives its credential id, the id its operators use
    stored = _receive(wallet, issuer)
    assert stored.issuer_ref == "9c1b0e7d" and wallet.summary(stored.id).issuer_ref == "9c1b0e7d"
    assert wallet.load(stored.id).issuer_ref == "9c1b0e7d"


def test_differing_notification_ids_name_no_single_credential(wallet: Wallet, issuer: FakeIssuer) -> None:
    assert _receive(wallet, issuer).issuer_ref == ""  # this issuer gives one id per configuration


def test_wrong_transaction_code_is_refused_and_nothing_is_stored(wallet: Wallet, issuer: FakeIssuer) -> None:
    with pytest.raises(IssuerRefusedError) as exc:
        _receive(wallet, issuer, pin="000000")
    assert exc.value.context["error"] == "invalid_grant"
    assert wallet.summaries() == []


def test_missing_transaction_code_is_asked_for_before_any_request(wallet: Wallet, issuer: FakeIssuer) -> None:
    with pytest.raises(PresentationRequestError):
        receive(wallet, issuer.offer(), tx_code=None, http=issuer.client(), trust=issuer.trust(), now=FIXED_NOW)
    assert not any(issuer.codes.values())


@pytest.mark.parametrize(
    ("tamper", "check"),
    [("signature", "signature"), ("foreign_key", "key"), ("holder", "format"), ("vct", "format")],
)
def test_tampered_credentials_are_refused_on_receipt(
    wallet: Wallet, issuer: FakeIssuer, tamper: str, check: str
) -> None:
    issuer.tamper = tamper
    with pytest.raises(CredentialRejectedError) as exc:
        _receive(wallet, issuer)
    assert exc.value.code == "wallet_credential_rejected"
    assert exc.value.context["check"] == check
    assert wallet.summaries() == []
    assert {n["event"] for n in issuer.notifications} <= {"credential_failure"}


def test_tampered_cp1_copy_alone_is_refused(wallet: Wallet, issuer: FakeIssuer) -> None:
    issuer.tamper = "signature"
    with pytest.raises(CredentialRejectedError) as exc:
        _receive(wallet, issuer, issuer.offer(configs=("resident_cp1",)))
    assert exc.value.context["check"] == "signature"
    assert wallet.summaries() == []


def test_cp1_only_offer_names_the_issuer_from_the_trust_snapshot(wallet: Wallet, issuer: FakeIssuer) -> None:
    stored = _receive(wallet, issuer, issuer.offer(configs=("resident_cp1",)))
    assert stored.sd_jwt is None and stored.issuer == ISSUER_ID and stored.vct == RESIDENT_VCT


def test_credentials_from_an_issuer_the_app_does_not_trust_are_refused(wallet: Wallet, issuer: FakeIssuer) -> None:
    stranger = TrustSnapshot.from_issuer_jwks({ISSUER_ID: [SigningKey.generate().public_key.to_jwk()]})
    with pytest.raises(CredentialRejectedError):
        _receive(wallet, issuer, trust=stranger)
    assert wallet.summaries() == []


def test_stale_nonce_is_retried_once_with_a_fresh_one(wallet: Wallet, issuer: FakeIssuer) -> None:
    issuer.tamper = "stale_nonce_once"
    assert _receive(wallet, issuer).sd_jwt is not None


def test_copies_of_another_type_than_the_sd_jwt_are_refused(wallet: Wallet, issuer: FakeIssuer) -> None:
    issuer.tamper = "cp1_other_type"
    with pytest.raises(CredentialRejectedError) as exc:
        _receive(wallet, issuer)
    assert exc.value.context["reason"] == "wrong_type"
    assert wallet.summaries() == []


def test_metadata_naming_another_issuer_is_refused(wallet: Wallet, issuer: FakeIssuer) -> None:
    issuer.tamper = "metadata_issuer"
    with pytest.raises(IssuerRefusedError):
        _receive(wallet, issuer)


def test_response_without_one_credential_per_proof_is_refused(wallet: Wallet, issuer: FakeIssuer) -> None:
    issuer.tamper = "count"
    with pytest.raises(IssuerRefusedError):
        _receive(wallet, issuer, issuer.offer(configs=("resident_cp1",)))


def test_deferred_issuance_is_reported_not_half_handled(wallet: Wallet, issuer: FakeIssuer) -> None:
    issuer.tamper = "deferred"
    with pytest.raises(IssuerRefusedError, match="deferred"):
        _receive(wallet, issuer)


def test_unknown_format_alone_is_refused(wallet: Wallet, issuer: FakeIssuer) -> None:
    issuer.cp1_format = "mso_mdoc"
    with pytest.raises(IssuerRefusedError):
        _receive(wallet, issuer, issuer.offer(configs=("resident_cp1",)))


@pytest.mark.parametrize(
    "offer",
    [
        "https://example.com/not-an-offer",
        "openid-credential-offer://?credential_offer=%7B%7D&credential_offer_uri=https%3A%2F%2Fx",
        "openid-credential-offer://?credential_offer=" + quote('{"credential_issuer":"https://i.example"}'),
        "openid-credential-offer://?credential_offer="
        + quote(
            json.dumps(
                {
                    "credential_issuer": "https://i.example",
                    "credential_configuration_ids": ["a"],
                    "grants": {"authorization_code": {}},
                }
            )
        ),
        "openid-credential-offer://?credential_offer="
        + quote(
            json.dumps(
                {
                    "credential_issuer": "http://i.example",
                    "credential_configuration_ids": ["a"],
                    "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {"pre-authorized_code": "x"}},
                }
            )
        ),
        "openid-credential-offer://?credential_offer=not-json",
    ],
)
def test_malformed_or_unsafe_offers_are_refused_with_a_code(wallet: Wallet, issuer: FakeIssuer, offer: str) -> None:
    with pytest.raises(PresentationRequestError) as exc:
        _receive(wallet, issuer, offer)
    assert exc.value.code == "wallet_bad_request"


def test_well_known_inserts_between_host_and_path() -> None:
    assert well_known("https://i.example/city", "openid-credential-issuer") == (
        "https://i.example/.well-known/openid-credential-issuer/city"
    )
    assert well_known("https://i.example", "oauth-authorization-server") == (
        "https://i.example/.well-known/oauth-authorization-server"
    )

"""Round trips between wallet_sdk and the real issuer and verifier apps (``create_app``, in-process ASGI).

Issuer (OpenID4VCI, SQLite, no chain) -> wallet -> verifier: offline CP1 QR and online OpenID4VP, replay of
an old QR refused, revocation seen by the wallet through the issuer's signed status list and by the verifier.
The trust snapshot is built from what the issuer publishes (its keys, its status lists); chain-synced trust
has its own tests in the verifier and contracts suites.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from wallet_helpers import FAST_KDF, NOW, PASS

from credcore import jws
from credcore.keys import PublicKey
from credcore.status_list import StatusList
from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot
from issuer.api.app import build_service, create_app
from issuer.settings import IssuerSettings
from verifier.api.app import create_app as create_verifier_app
from verifier.service import StaticTrust
from verifier.settings import VerifierSettings
from wallet_sdk.errors import IssuerRefusedError
from wallet_sdk.openid4vp import prepare, resolve_request, respond
from wallet_sdk.present import present_offline
from wallet_sdk.receive import receive
from wallet_sdk.status import check_status
from wallet_sdk.store import Wallet

with warnings.catch_warnings():  # starlette warns that its TestClient prefers httpx2; httpx is what we pin
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ISSUER_BASE, VERIFIER_BASE = "http://issuer.test", "http://verifier.test"
CLERK = {"Authorization": "Bearer dev-clerk-token"}
OPERATOR = {"Authorization": "Bearer dev-operator-token"}
RESIDENT = "urn:civicpass:ResidentCredential:1"
CLAIMS = {"name": "김민지", "birth_date": "2000-03-01", "city": "부산광역시", "district": "해운대구",
          "resident_since": "2019-05-02"}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.t = NOW

    def now(self) -> int:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer(tmp_path: Path, clock: Clock) -> Iterator[tuple[TestClient, Any]]:
    settings = IssuerSettings(environment="test", database_url=f"sqlite:///{tmp_path}/issuer.db",
                              base_url=ISSUER_BASE, run_workers=False)  # fmt: skip
    service = build_service(settings, clock=clock)
    with TestClient(create_app(settings, service=service), base_url=ISSUER_BASE) as client:
        yield client, service
    service.sessions.kw["bind"].dispose()


def _trust(client: TestClient, service: Any) -> TrustSnapshot:
    """Issuer keys from its key list; every published status list, signature-checked."""
    service.worker.run_once(force=True)
    keys = tuple(IssuerKey(PublicKey.from_jwk(k["jwk"]), k["valid_from"], k["valid_until"])
                 for k in client.get("/v1/keys", headers=OPERATOR).json()["keys"])  # fmt: skip
    records = []
    for list_id in range(1, 4):
        r = client.get(f"/status-lists/{list_id}")
        if r.status_code != 200:
            continue
        parsed = jws.parse(r.text, typ="statuslist+jwt")
        assert any(parsed.verify_with(k.public_key) for k in keys)
        lst = StatusList.from_json(parsed.payload["status_list"])
        records.append(StatusListRecord(service.issuer_id, list_id, parsed.payload["sub"], lst))
    issuer = TrustedIssuer(service.issuer_id, "test city", frozenset({RESIDENT}), keys)
    return TrustSnapshot(issuers=(issuer,), status_lists=tuple(records), block_number=1, synced_at=NOW)


@pytest.fixture
def held(tmp_path: Path, issuer: tuple[TestClient, Any], clock: Clock) -> tuple[Wallet, str, str]:
    client, service = issuer
    wallet = Wallet.create(tmp_path / "wallet", PASS, kdf=FAST_KDF)
    offer = client.post("/v1/offers", headers=CLERK, json={"vct": RESIDENT, "claims": CLAIMS}).json()
    stored = receive(wallet, offer["credential_offer_uri"], tx_code=offer["tx_code"], http=client,
                     trust=_trust(client, service), now=clock.now(), copies=4, allow_http=True)  # fmt: skip
    credential_id = client.get("/v1/credentials", headers=OPERATOR).json()["credentials"][0]["id"]
    return wallet, stored.id, credential_id


def _verifier(tmp_path: Path, trust: TrustSnapshot, clock: Clock) -> TestClient:
    settings = VerifierSettings(environment="test", data_dir=tmp_path / "verifier", public_url=VERIFIER_BASE)
    app = create_verifier_app(settings, clock=clock, trust=StaticTrust(trust))
    return TestClient(app, base_url=VERIFIER_BASE)


def test_real_issuer_batch_is_received_and_checked(
    held: tuple[Wallet, str, str], issuer: tuple[TestClient, Any]
) -> None:
    wallet, wid, _ = held
    record = wallet.load(wid)
    assert record.vct == RESIDENT and record.issuer == issuer[1].issuer_id and record.sd_jwt is not None
    assert len(record.copies) == 4 and {c.profile for c in record.copies} == {"resident-basic"}
    assert record.credential_issuer == ISSUER_BASE and record.name


def test_wrong_transaction_code_against_the_real_issuer(
    tmp_path: Path, issuer: tuple[TestClient, Any], clock: Clock
) -> None:
    client, service = issuer
    wallet = Wallet.create(tmp_path / "w2", PASS, kdf=FAST_KDF)
    offer = client.post("/v1/offers", headers=CLERK, json={"vct": RESIDENT, "claims": CLAIMS}).json()
    wrong = "0" * 6 if offer["tx_code"] != "0" * 6 else "1" * 6
    with pytest.raises(IssuerRefusedError) as exc:
        receive(wallet, offer["credential_offer_uri"], tx_code=wrong, http=client, trust=_trust(client, service),
                now=clock.now(), allow_http=True)  # fmt: skip
    assert exc.value.context["error"] == "invalid_grant"
    assert wallet.summaries() == []


def test_offline_qr_verifies_at_the_real_verifier_and_its_replay_is_refused(
    tmp_path: Path, held: tuple[Wallet, str, str], issuer: tuple[TestClient, Any], clock: Clock
) -> None:
    wallet, wid, _ = held
    with _verifier(tmp_path, _trust(*issuer), clock) as verifier:
        shown = present_offline(wallet, wid, now=clock.now())
        first = verifier.post("/v1/verify", json={"presentation": shown.text, "policy": "resident-basic"}).json()
        assert first["verified"] is True, first
        again = verifier.post("/v1/verify", json={"presentation": shown.text, "policy": "resident-basic"}).json()
        assert again["verified"] is False and again["code"] == "replayed"
        clock.t += 120  # an old QR: its time step is past
        old = present_offline(wallet, wid, now=clock.t - 120)
        stale = verifier.post("/v1/verify", json={"presentation": old.text, "policy": "resident-basic"}).json()
        assert stale["verified"] is False and stale["code"] == "proof_not_fresh"


def test_online_presentation_to_the_real_verifier(
    tmp_path: Path, held: tuple[Wallet, str, str], issuer: tuple[TestClient, Any], clock: Clock
) -> None:
    wallet, wid, _ = held
    with _verifier(tmp_path, _trust(*issuer), clock) as verifier:
        created = verifier.post("/v1/requests", json={"policy": "age-over-19"}).json()
        request = resolve_request(created["uri"], http=verifier, now=clock.now(), allow_http=True)
        consent = prepare(wallet, request)
        assert request.authenticated and consent.asked() == {"cred": ("age_over_19",)}
        assert consent.matches["cred"].credential_id == wid
        respond(wallet, consent, http=verifier, now=clock.now(), allow_http=True)
        result = verifier.get(f"/v1/requests/{created['id']}").json()
    assert result["status"] == "done" and result["result"]["verified"] is True, result
    assert result["result"]["claims"]["age_over_19"] is True and "name" not in result["result"]["claims"]
    assert query_of(created["uri"])["client_id"] == request.client_id


def test_encrypted_answer_after_a_post_fetch_to_the_real_verifier(
    tmp_path: Path, held: tuple[Wallet, str, str], issuer: tuple[TestClient, Any], clock: Clock
) -> None:
    wallet, _, _ = held
    with _verifier(tmp_path, _trust(*issuer), clock) as verifier:
        body = {"policy": "age-over-19", "response_mode": "direct_post.jwt", "request_uri_method": "post"}
        created = verifier.post("/v1/requests", json=body).json()
        request = resolve_request(created["uri"], http=verifier, now=clock.now(), allow_http=True)
        assert request.response_mode == "direct_post.jwt" and request.wallet_nonce
        assert request.raw["wallet_nonce"] == request.wallet_nonce and request.encryption_enc == "A128GCM"
        respond(wallet, prepare(wallet, request), http=verifier, now=clock.now(), allow_http=True)
        result = verifier.get(f"/v1/requests/{created['id']}").json()
    assert result["status"] == "done" and result["result"]["verified"] is True, result


def test_sd_jwt_batch_copies_are_each_presented_once_then_refused(
    tmp_path: Path, issuer: tuple[TestClient, Any], clock: Clock
) -> None:
    from credcore.sdjwt import unsafe_decode
    from wallet_sdk.errors import NoUnusedCopyError

    client, service = issuer
    wallet = Wallet.create(tmp_path / "wb", PASS, kdf=FAST_KDF)
    offer = client.post("/v1/offers", headers=CLERK, json={"vct": RESIDENT, "claims": CLAIMS}).json()
    stored = receive(wallet, offer["credential_offer_uri"], tx_code=offer["tx_code"], http=client,
                     trust=_trust(client, service), now=clock.now(), copies=2, sd_jwt_copies=3,
                     allow_http=True)  # fmt: skip
    record = Wallet.open(wallet.path, PASS).load(stored.id)
    assert len(record.sd_jwts) == 3 and wallet.summary(stored.id).sd_jwt_count == 3
    keys_seen = set()
    with _verifier(tmp_path, _trust(client, service), clock) as verifier:
        for _ in range(3):
            created = verifier.post("/v1/requests", json={"policy": "age-over-19"}).json()
            request = resolve_request(created["uri"], http=verifier, now=clock.now(), allow_http=True)
            respond(wallet, prepare(wallet, request), http=verifier, now=clock.now(), allow_http=True)
            result = verifier.get(f"/v1/requests/{created['id']}").json()
            assert result["result"]["verified"] is True, result
        for i in range(3):
            keys_seen.add(unsafe_decode(record.sd_jwts[i].text)["payload"]["cnf"]["jwk"]["x"])
        assert len(keys_seen) == 3 and wallet.summary(stored.id).unused_sd_jwts() == []
        with pytest.raises(NoUnusedCopyError):
            wallet.take_sd_jwt(stored.id)


def test_copies_running_low_are_refreshed_without_an_offer_until_revoked(
    tmp_path: Path, held: tuple[Wallet, str, str], issuer: tuple[TestClient, Any], clock: Clock
) -> None:
    from wallet_sdk.errors import IssuerRefusedError
    from wallet_sdk.refresh import refresh_credential, top_up

    wallet, wid, credential_id = held
    client, service = issuer
    assert wallet.summary(wid).refreshable  # the issuer bound its tokens to our DPoP key and gave a refresh token
    before = {c.credential for c in wallet.load(wid).copies}
    assert top_up(wallet, http=client, trust=_trust(client, service), now=clock.now(), allow_http=True) == []
    for _ in range(2):  # 4 copies -> 2 left: at or below LOW_COPIES
        present_offline(wallet, wid, now=clock.now())
    clock.t += 600
    done = top_up(wallet, http=client, trust=_trust(client, service), now=clock.now(), allow_http=True)
    assert [(d.credential_id, d.outcome) for d in done] == [(wid, "refreshed")]
    record = wallet.load(wid)
    assert len(record.copies) == 4 and not before & {c.credential for c in record.copies}
    assert len(wallet.summary(wid).unused()) == 4
    with _verifier(tmp_path, _trust(client, service), clock) as verifier:
        shown = present_offline(wallet, wid, now=clock.now())
        verdict = verifier.post("/v1/verify", json={"presentation": shown.text, "policy": "resident-basic"}).json()
    assert verdict["verified"] is True, verdict

    assert client.post(f"/v1/credentials/{credential_id}/revoke", headers=OPERATOR).status_code == 200
    with pytest.raises(IssuerRefusedError) as exc:
        refresh_credential(wallet, wid, http=client, trust=_trust(client, service), now=clock.now(), allow_http=True)
    assert exc.value.context["code"] == "refresh_credential_revoked"
    summary = Wallet.open(wallet.path, PASS).summary(wid)
    assert summary.status == "revoked" and not summary.refreshable


def test_revocation_reaches_the_wallet_and_the_verifier(
    tmp_path: Path, held: tuple[Wallet, str, str], issuer: tuple[TestClient, Any], clock: Clock
) -> None:
    wallet, wid, credential_id = held
    client, service = issuer
    assert (
        check_status(wallet, wid, http=client, trust=_trust(client, service), now=clock.now(), allow_http=True).status
        == "valid"
    )
    assert client.post(f"/v1/credentials/{credential_id}/revoke", headers=OPERATOR).status_code == 200
    trust = _trust(client, service)  # publishes the changed list
    report = check_status(wallet, wid, http=client, trust=trust, now=clock.now(), allow_http=True)
    assert report.status == "revoked" and Wallet.open(wallet.path, PASS).summary(wid).status == "revoked"
    with _verifier(tmp_path, trust, clock) as verifier:
        shown = present_offline(wallet, wid, now=clock.now())
        verdict = verifier.post("/v1/verify", json={"presentation": shown.text, "policy": "resident-basic"}).json()
    assert verdict["verified"] is False and verdict["code"] == "revoked"
    assert "revoked" in shown.warnings


class Chain:
    """The issuer's ChainGateway, in memory: what the app would read back from the registries."""

    issuer_id = "did:ethr:0x539:0x00000000000000000000000000000000000000A1"

    def __init__(self) -> None:
        self.roots: set[bytes] = set()
        self.status: dict[str, bytes] = {}
        self.block = 10

    def _receipt(self) -> Any:
        from issuer.anchoring import ChainReceipt

        self.block += 1
        return ChainReceipt("0x" + "ab" * 32, self.block)

    def anchor_root(self, root: bytes, count: int) -> Any:
        self.roots.add(root)
        return self._receipt()

    def find_anchor(self, root: bytes) -> Any:
        return self._receipt() if root in self.roots else None

    def publish_status(self, list_id: int, digest: bytes, uri: str) -> Any:
        self.status[uri] = digest
        return self._receipt()

    def add_key(self, *_: Any) -> Any:
        return self._receipt()

    def close_key(self, _kid: str, not_before: int) -> int:
        return not_before


def test_anchor_proofs_and_chain_digests_with_an_anchoring_issuer(tmp_path: Path, clock: Clock) -> None:
    from wallet_sdk.anchor import attach_anchor_proofs

    chain = Chain()
    settings = IssuerSettings(environment="test", database_url=f"sqlite:///{tmp_path}/issuer.db",
                              base_url=ISSUER_BASE, run_workers=False, anchor_interval=0.01)  # fmt: skip
    service = build_service(settings, clock=clock, chain=chain)  # type: ignore[arg-type]
    with TestClient(create_app(settings, service=service), base_url=ISSUER_BASE) as client:
        wallet = Wallet.create(tmp_path / "wallet", PASS, kdf=FAST_KDF)
        offer = client.post("/v1/offers", headers=CLERK, json={"vct": RESIDENT, "claims": CLAIMS}).json()
        trust = _trust(client, service)
        stored = receive(wallet, offer["credential_offer_uri"], tx_code=offer["tx_code"], http=client, trust=trust,
                         now=clock.now(), copies=2, allow_http=True)  # fmt: skip
        assert stored.issuer == chain.issuer_id
        service.worker.run_once(force=True)
        cid = client.get("/v1/credentials", headers=OPERATOR).json()["credentials"][0]["id"]
        items = client.get(f"/v1/credentials/{cid}/anchor", headers=OPERATOR).json()["items"]
        anchored = dataclasses.replace(trust, anchored_roots=frozenset(chain.roots))
        report = attach_anchor_proofs(wallet, stored.id, items, trust=anchored)
        assert (report.anchored, report.pending, report.total) == (3, 0, 3)
        # Status checked against the digest the issuer put on chain; a rolled-back list would not match.
        ok = check_status(wallet, stored.id, http=client, trust=trust, now=clock.now(), allow_http=True,
                          expected_digests=chain.status)  # fmt: skip
        assert ok.status == "valid" and ok.code is None
        forged = {uri: bytes(32) for uri in chain.status}
        bad = check_status(wallet, stored.id, http=client, trust=trust, now=clock.now(), allow_http=True,
                           expected_digests=forged)  # fmt: skip
        assert bad.code == "status_list_digest_mismatch"
    service.sessions.kw["bind"].dispose()


def query_of(uri: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(uri).query).items()}

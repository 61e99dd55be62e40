"""The desk's holder index keeps no row longer than what it finds, on SQLite and PostgreSQL: an offer that ends
without a credential (expired unredeemed, or locked by wrong PINs) loses its rows with its claims, a
credential's rows go ``holder_index_retention`` after it expires, and a start deletes the rows an older issuer
left for ended offers."""

from __future__ import annotations

from issuer_world import CLERK, MERCHANT, MERCHANT_CLAIMS, RESIDENT, RESIDENT_CLAIMS, HolderKey, Wallet
from sqlalchemy import select

from issuer.store.models import Credential, DeskHolderIndex, Offer


def rows(service) -> dict[str, int]:
    """Index rows per offer or credential id."""
    out: dict[str, int] = {}
    with service.sessions() as s:
        for offer_id, credential_id in s.execute(select(DeskHolderIndex.offer_id, DeskHolderIndex.credential_id)):
            target = offer_id or credential_id
            out[target] = out.get(target, 0) + 1
    return out


def make_offer(service, claims=RESIDENT_CLAIMS):
    return service.oid4vci.create_offers("person:kim", RESIDENT, [claims])[0]


def test_an_offer_that_expires_unredeemed_loses_its_rows_and_a_redeemed_one_keeps_them(client, service, clock,
                                                                                       settings):
    unredeemed, redeemed = make_offer(service), make_offer(service, {**RESIDENT_CLAIMS, "name": "받은이"})
    Wallet(client, clock.now()).receive(redeemed.uri, redeemed.tx_code, copies=1)
    assert rows(service) == {unredeemed.offer_id: 2, redeemed.offer_id: 2}  # name and birth date
    clock.advance(settings.offer_ttl - 1)
    service.worker.run_once()
    assert rows(service) == {unredeemed.offer_id: 2, redeemed.offer_id: 2}  # still redeemable
    clock.advance(2)
    service.worker.erased.clear()
    service.worker.run_once()
    assert rows(service) == {redeemed.offer_id: 2}  # its credential is still found
    with service.sessions() as s:
        assert s.get(Offer, unredeemed.offer_id).state == "expired"


def test_an_offer_locked_by_wrong_pins_loses_its_rows_at_once(client, service, clock, settings):
    made = make_offer(service)
    wallet = Wallet(client, clock.now())
    code = wallet.parse_offer(made.uri).code
    wrong = "0" * len(made.tx_code) if made.tx_code != "0" * len(made.tx_code) else "1" * len(made.tx_code)
    for _ in range(settings.tx_code_attempts):
        assert wallet.token(code, wrong).status_code == 400
    with service.sessions() as s:
        assert s.get(Offer, made.offer_id).state == "locked"
    assert rows(service) == {}


def test_a_credentials_rows_go_the_retention_after_it_expires(client, service, clock, settings):
    made = make_offer(service)
    Wallet(client, clock.now()).receive(made.uri, made.tx_code, copies=1)
    r = client.post("/v1/credentials", headers=CLERK, json={
        "vct": MERCHANT, "claims": MERCHANT_CLAIMS, "holder_jwks": [HolderKey().jwk]})
    assert r.status_code == 201, r.text
    direct = r.json()["id"]
    with service.sessions() as s:
        exps = list(s.scalars(select(Credential.exp)))
    before = rows(service)
    assert set(before) == {made.offer_id, direct}

    clock.advance(min(exps) + settings.holder_index_retention - clock.now())  # expired, but within the retention
    service.worker.run_once()
    assert rows(service) == before
    clock.advance(max(exps) - min(exps) + 3601)  # the worker looks again within the hour
    service.worker.erased.clear()
    service.worker.run_once()
    assert rows(service) == {}


def test_a_start_deletes_the_rows_an_older_issuer_left_for_ended_offers(client, service):
    ended, open_ = make_offer(service), make_offer(service, {**RESIDENT_CLAIMS, "name": "열린이"})
    with service.sessions.begin() as s:  # as an issuer that expired offers but kept their rows left it
        s.get(Offer, ended.offer_id).state, s.get(Offer, ended.offer_id).claims_json = "expired", None
    assert set(rows(service)) == {ended.offer_id, open_.offer_id}
    service.start()
    assert rows(service) == {open_.offer_id: 2}
    assert service.worker.erased.is_set()  # the worker checkpoints SQLite's log after the deletion

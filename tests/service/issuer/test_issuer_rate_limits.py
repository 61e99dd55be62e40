"""Per-client rate limits on the unauthenticated writes: failed token requests (transaction codes, across
offers) and ``POST /nonce`` answer 429 with Retry-After past their limit; with Redis, workers share the count."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from issuer_world import BASE, CLERK, PRE_AUTH, RESIDENT, RESIDENT_CLAIMS, DpopKey, TestClient, Wallet, make_settings

from issuer.api.app import build_service, create_app


@pytest.fixture
def limited(sqlite_url, clock, chain) -> Iterator[tuple[object, object]]:
    settings = make_settings(sqlite_url, rate_limit_tx_code="4/minute", rate_limit_nonce="3/minute")
    svc = build_service(settings, clock=clock, chain=chain)
    yield settings, svc
    svc.sessions.kw["bind"].dispose()


def _offer(c: TestClient) -> tuple[str, str]:
    r = c.post("/v1/offers", headers=CLERK, json={"vct": RESIDENT, "claims": RESIDENT_CLAIMS})
    assert r.status_code == 201, r.text
    return Wallet.parse_offer(r.json()["credential_offer_uri"]).code, r.json()["tx_code"]


def _token(c: TestClient, code: str, pin: str) -> int:
    return c.post("/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code, "tx_code": pin}).status_code


def test_wrong_transaction_codes_across_offers_are_limited_per_client(limited):
    settings, svc = limited
    app = create_app(settings, service=svc)
    with TestClient(app, raise_server_exceptions=False, client=("203.0.113.7", 5000)) as guesser, \
            TestClient(app, raise_server_exceptions=False, client=("203.0.113.8", 5000)) as resident:
        offers = [_offer(guesser) for _ in range(5)]
        # one wrong code on each of four offers: each answered invalid_grant, and counted for this client
        assert [_token(guesser, code, "000000") for code, _ in offers[:4]] == [400] * 4
        r = guesser.post("/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": offers[4][0],
                                         "tx_code": offers[4][1]})
        assert (r.status_code, r.json()["code"]) == (429, "rate_limited")
        assert 1 <= int(r.headers["retry-after"]) <= 60
        # the limit is this client's: another one redeems the untouched offer
        assert _token(resident, *offers[4]) == 200


def test_successful_redemptions_are_not_counted(limited):
    settings, svc = limited
    with TestClient(create_app(settings, service=svc), raise_server_exceptions=False) as c:
        assert [_token(c, *_offer(c)) for _ in range(6)] == [200] * 6


def test_a_dpop_nonce_asked_for_is_not_a_failed_attempt(limited):
    # Every DPoP wallet's first token request is refused with use_dpop_nonce (RFC 9449 §8) before any code is
    # looked at: residents behind one address must not use up each other's attempts.
    settings, svc = limited
    with TestClient(create_app(settings, service=svc), raise_server_exceptions=False) as c:
        for _ in range(6):
            code, pin = _offer(c)
            form = {"grant_type": PRE_AUTH, "pre-authorized_code": code, "tx_code": pin}
            key = DpopKey()
            r = c.post("/token", data=form, headers={"DPoP": key.proof(f"{BASE}/token", iat=svc.clock.now())})
            assert (r.status_code, r.json()["error"]) == (400, "use_dpop_nonce"), r.text
        assert _token(c, *_offer(c)) == 200


def test_nonce_requests_are_limited_per_client(limited):
    settings, svc = limited
    with TestClient(create_app(settings, service=svc), raise_server_exceptions=False) as c:
        assert [c.post("/nonce").status_code for _ in range(4)] == [200, 200, 200, 429]
        r = c.post("/nonce")
        assert r.json()["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1


@pytest.mark.redis
def test_workers_share_the_count_through_redis(sqlite_url, clock, chain, redis_url):
    # Two apps stand for two worker processes; a fresh client address keeps earlier runs' counts out.
    settings = make_settings(sqlite_url, rate_limit_nonce="4/minute", redis_url=redis_url)
    svc = build_service(settings, clock=clock, chain=chain)
    me = (f"client-{secrets.token_hex(6)}", 5000)
    try:
        with TestClient(create_app(settings, service=svc), raise_server_exceptions=False, client=me) as one, \
                TestClient(create_app(settings, service=svc), raise_server_exceptions=False, client=me) as two:
            assert [one.post("/nonce").status_code for _ in range(2)] == [200, 200]
            assert [two.post("/nonce").status_code for _ in range(3)] == [200, 200, 429]
    finally:
        svc.sessions.kw["bind"].dispose()


def test_a_rule_limits_cannot_read_is_refused_at_start(sqlite_url):
    with pytest.raises(ValueError, match="rate_limit_nonce"):
        make_settings(sqlite_url, rate_limit_nonce="many per minute")

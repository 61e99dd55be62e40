"""``POST /v1/requests`` (each a stored row, unauthenticated) is limited per client: 429 with Retry-After past
the limit; with the Redis replay cache every worker shares the count."""

from __future__ import annotations

import secrets

import pytest
from verifier_world import TestClient

from verifier.api.app import create_app
from verifier.service import StaticTrust


def test_presentation_requests_are_limited_per_client(world, settings):
    settings = settings.model_copy(update={"rate_limit_requests": "3/minute"})
    app = create_app(settings, clock=world.clock, trust=StaticTrust(world.snapshot()))
    with TestClient(app, raise_server_exceptions=False, client=("203.0.113.7", 5000)) as c, \
            TestClient(app, raise_server_exceptions=False, client=("203.0.113.8", 5000)) as other:
        codes = [c.post("/v1/requests", json={"policy": "age-over-19"}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.post("/v1/requests", json={"policy": "age-over-19"})
        assert r.json()["code"] == "rate_limited" and 1 <= int(r.headers["retry-after"]) <= 60
        assert other.post("/v1/requests", json={"policy": "age-over-19"}).status_code == 200


@pytest.mark.redis
def test_workers_share_the_count_through_redis(world, settings, redis_url):
    settings = settings.model_copy(update={"rate_limit_requests": "3/minute", "replay_backend": "redis",
                                           "redis_url": redis_url})
    me = (f"client-{secrets.token_hex(6)}", 5000)  # a fresh address: earlier runs' counts stay out
    apps = [create_app(settings, clock=world.clock, trust=StaticTrust(world.snapshot())) for _ in range(2)]
    with TestClient(apps[0], raise_server_exceptions=False, client=me) as one, \
            TestClient(apps[1], raise_server_exceptions=False, client=me) as two:
        assert [one.post("/v1/requests", json={"policy": "age-over-19"}).status_code for _ in range(2)] == [200, 200]
        assert [two.post("/v1/requests", json={"policy": "age-over-19"}).status_code for _ in range(2)] == [200, 429]


def test_a_rule_limits_cannot_read_is_refused_at_start(settings):
    from verifier.settings import VerifierSettings

    with pytest.raises(ValueError, match="rate_limit_requests"):
        VerifierSettings(rate_limit_requests="lots")

"""POST /v1/verify on the Redis replay cache, where the replay keys are settled asynchronously.

The verdict for a replay must be exactly the one credcore gives with a synchronous guard.
"""

from __future__ import annotations

import gc

import pytest
from verifier_world import AUDIENCE, TestClient, verify

from credcore._defaults import MemoryReplayGuard
from credcore.presentations import verify_presentation
from verifier.api.app import create_app
from verifier.service import StaticTrust
from verifier.settings import VerifierSettings


@pytest.fixture
def redis_client(world, tmp_path, redis_url):
    settings = VerifierSettings(environment="test", data_dir=tmp_path, audience=AUDIENCE, public_url="http://testserver",
                                replay_backend="redis", redis_url=redis_url)
    with TestClient(create_app(settings, clock=world.clock, trust=StaticTrust(world.snapshot()))) as client:
        yield client


def _sync_checks(world, text: str) -> list[dict]:
    guard = MemoryReplayGuard()
    for _ in range(2):
        result = verify_presentation(text, trust=world.snapshot(), now=world.clock.now(), audience=AUDIENCE,
                                     replay=guard)
    return [{"check": str(o.check), "passed": o.passed, "code": o.code} for o in result.outcomes]


@pytest.mark.parametrize("kind", ["cp1", "sd-jwt"])
def test_replay_verdict_matches_credcore_with_a_synchronous_guard(redis_client, world, kind):
    text = world.show(world.cp1()) if kind == "cp1" else world.present(world.credential())
    assert verify(redis_client, text)["verified"] is True
    body = verify(redis_client, text)
    assert (body["verified"], body["code"], body["claims"]) == (False, "replayed", {})
    assert body["checks"][:-1] == _sync_checks(world, text)


def test_failed_verification_records_nothing(redis_client, world):
    text = world.present(world.credential(), nonce="other-nonce-123")
    assert verify(redis_client, text, nonce="n-0123456789")["code"] == "nonce_mismatch"
    assert verify(redis_client, world.present(world.credential()))["verified"] is True


# Each loop closes with its request, and the connections made on it with no lifespan to close them: warned of,
# expected here.
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_client_serving_each_request_on_its_own_event_loop(world, tmp_path, redis_url):
    # Starlette's TestClient outside a `with` block runs every request on a new loop; redis-py's connections
    # belong to the loop they were made on, so the cache must not reuse them there (it used to hang).
    settings = VerifierSettings(environment="test", data_dir=tmp_path, audience=AUDIENCE, public_url="http://testserver",
                                replay_backend="redis", redis_url=redis_url)
    client = TestClient(create_app(settings, clock=world.clock, trust=StaticTrust(world.snapshot())))
    text = world.show(world.cp1())
    assert verify(client, text)["verified"] is True
    assert verify(client, text)["code"] == "replayed"
    assert verify(client, world.show(world.cp1()))["verified"] is True
    del client
    gc.collect()  # the abandoned connections are collected here, where their warnings are expected

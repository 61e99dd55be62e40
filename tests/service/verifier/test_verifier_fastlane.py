"""POST /v1/verify through the fast lane (api/fastlane.py) gives the same answer, byte for byte, as the route.

Each request goes to two apps over the same world: one with the lane (as served: ahead of the framework,
behind the edge's request observer and body limit), one without it (the FastAPI route). Every
replay-sensitive request is sent once per app, and each app has its own replay cache, so both see the same
history. The JSON encoder's fallback is checked on a claim orjson cannot encode.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from verifier_world import AUDIENCE, TestClient, World

from verifier.api.app import create_app
from verifier.api.fastlane import FastJSONResponse
from verifier.service import StaticTrust
from verifier.settings import VerifierSettings


@pytest.fixture
def pair(world, tmp_path) -> Iterator[tuple[TestClient, TestClient]]:
    clients = []
    for fast in (True, False):
        settings = VerifierSettings(environment="test", data_dir=tmp_path / str(fast), audience=AUDIENCE,
                                    public_url="http://testserver")
        app = create_app(settings, clock=world.clock, trust=StaticTrust(world.snapshot()), fast_verify=fast)
        clients.append(TestClient(app, raise_server_exceptions=False).__enter__())
    yield clients[0], clients[1]
    for c in clients:
        c.__exit__(None, None, None)


def _bodies(world: World) -> list[tuple[str, bytes, dict[str, str]]]:
    js = {"content-type": "application/json"}
    cp1 = world.show(world.cp1())
    sd = world.present(world.credential())

    def body(**fields: object) -> bytes:
        return json.dumps(fields).encode()

    return [
        ("cp1 verified", body(presentation=cp1, policy="age-over-19"), js),
        ("cp1 replayed", body(presentation=cp1, policy="age-over-19"), js),
        ("sd-jwt verified", body(presentation=sd, policy="resident-basic", nonce="n-0123456789"), js),
        ("sd-jwt wrong nonce", body(presentation=world.present(world.credential()), policy="resident-basic",
                                    nonce="n-other-000000"), js),
        ("garbage presentation", body(presentation="CP1:%%%", policy="age-over-19"), js),
        ("unknown policy", body(presentation=cp1, policy="no-such-policy"), js),
        ("missing field", body(policy="age-over-19"), js),
        ("extra field", body(presentation=cp1, policy="age-over-19", admin=True), js),
        ("wrong type", body(presentation=7, policy="age-over-19"), js),
        ("not json", b"{presentation:", js),
        ("empty body", b"", js),
        ("json array", b"[]", js),
        ("invalid utf-8", b'{"presentation": "\xff", "policy": "age-over-19"}', js),
        ("too long policy", body(presentation=cp1, policy="p" * 65), js),
        ("oversized", body(presentation="A" * 70_000, policy="age-over-19"), js),
        ("duplicate member", b'{"presentation": "CP1:A", "policy": "age-over-19", "policy": "resident-basic"}', js),
    ]


def test_lane_and_route_answer_alike(pair, world):
    fast, routed = pair
    for name, raw, headers in _bodies(world):
        a = fast.post("/v1/verify", content=raw, headers=headers)
        b = routed.post("/v1/verify", content=raw, headers=headers)
        assert a.status_code < 500, (name, a.status_code, a.text)
        assert (a.status_code, a.headers["content-type"], a.content) == (
            b.status_code, b.headers["content-type"], b.content), name
        assert a.headers["x-request-id"] and b.headers["x-request-id"], name


def test_lane_and_route_answer_an_unexpected_error_alike(pair, world, caplog):
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug")

    answers = []
    for client in pair:
        client.app.state.parts.verifier.check = broken
        with caplog.at_level(logging.ERROR, logger="civicpass.http"):
            caplog.clear()
            r = client.post("/v1/verify", json={"presentation": world.show(world.cp1()), "policy": "age-over-19"})
        assert [rec.exc_info[0] for rec in caplog.records if rec.exc_info] == [RuntimeError]  # logged with its trace
        answers.append((r.status_code, r.headers["content-type"], r.content))
    assert answers[0] == answers[1]
    assert answers[0][0] == 500 and b"internal_error" in answers[0][2] and b"a bug" not in answers[0][2]


def test_lane_requests_are_logged_and_measured_under_the_route_template(pair, world, caplog):
    fast, _ = pair
    with caplog.at_level(logging.INFO, logger="civicpass.access"):
        r = fast.post("/v1/verify", json={"presentation": world.show(world.cp1()), "policy": "age-over-19"},
                      headers={"X-Request-ID": "counter-7.42"})
    assert r.headers["x-request-id"] == "counter-7.42"
    [line] = [rec for rec in caplog.records if rec.name == "civicpass.access"]
    assert (line.method, line.route, line.status) == ("POST", "/v1/verify", 200)
    assert 'route="/v1/verify"' in fast.get("/metrics").text


def test_lane_leaves_other_methods_and_paths_to_the_app(pair):
    fast, routed = pair
    for method, path in [("GET", "/v1/verify"), ("PUT", "/v1/verify"), ("POST", "/v1/verify/"),
                         ("GET", "/v1/policies")]:
        a, b = fast.request(method, path), routed.request(method, path)
        assert (a.status_code, a.content) == (b.status_code, b.content), (method, path)


def test_json_falls_back_on_what_orjson_refuses():
    content = {"claims": {"grant_krw": 2**70, "name": "김민지"}, "verified": True}
    assert json.loads(FastJSONResponse(content).body) == content
    assert FastJSONResponse({"a": [1, "é"]}).body == b'{"a":[1,"\xc3\xa9"]}'

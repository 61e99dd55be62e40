"""Hostile input never yields a 500: random presentations get a verdict, random bodies a 4xx problem.

Hypothesis drives the inputs: hand-written strategies for presentation shapes (SD-JWT, CP1:), wrong types
and extra members. test_verifier_schemathesis.py adds requests generated from the OpenAPI spec.
"""

from __future__ import annotations

import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

B64 = string.ascii_letters + string.digits + "-_"
B45 = string.digits + string.ascii_uppercase + " $%*+-./:"
segments = st.text(B64, max_size=80)
jwt_like = st.builds(lambda a, b, c: f"{a}.{b}.{c}", segments, segments, segments)
presentations = st.one_of(
    st.text(max_size=400),
    st.builds(lambda t: "CP1:" + t, st.text(B45, max_size=400)),
    st.builds(lambda parts: "~".join(parts) + "~", st.lists(st.one_of(jwt_like, segments), max_size=6)),
    st.builds(json.dumps, st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4)),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=30)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)
fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@fuzz
@given(text=presentations, policy=st.sampled_from(["age-over-19", "resident-basic", "grant-traditional-market"]))
def test_random_presentations_get_a_verdict(client, text, policy):
    r = client.post("/v1/verify", json={"presentation": text, "policy": policy})
    assert r.status_code in (200, 413), r.text
    if r.status_code == 200:
        assert r.json()["verified"] is False


@fuzz
@given(body=st.binary(max_size=2_000))
def test_random_bytes_bodies_are_4xx(client, body):
    r = client.post("/v1/verify", content=body, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500
    assert r.headers["content-type"].startswith("application/problem+json")


@fuzz
@given(body=json_values, extra=st.dictionaries(st.sampled_from(["presentation", "policy", "nonce", "audience",
                                                                 "received_programmes", "x"]), json_values))
def test_random_json_bodies_never_500(client, body, extra):
    payload = {**body, **extra} if isinstance(body, dict) else body
    r = client.post("/v1/verify", json=payload)
    assert r.status_code < 500, r.text


@fuzz
@given(body=st.binary(max_size=3_000), ctype=st.sampled_from(["image/png", "image/jpeg", "text/plain", ""]))
def test_random_image_uploads_never_500(client, body, ctype):
    r = client.post("/v1/verify/image?policy=age-over-19", content=body, headers={"content-type": ctype})
    assert r.status_code < 500, r.text


@fuzz
@given(form=st.dictionaries(st.sampled_from(["vp_token", "state", "error", "x"]), st.text(max_size=200)))
def test_random_direct_post_answers_never_500(client, form):
    r = client.post("/v1/openid4vp/response", data=form)
    assert r.status_code < 500, r.text

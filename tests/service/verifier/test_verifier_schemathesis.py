"""Schema-driven fuzzing: schemathesis generates requests from the verifier's own OpenAPI spec.

The app is reached in-process (ASGI), with the fixed clock and static trust of verifier_world.py. Each
operation gets a bounded, derandomized run, in schemathesis's positive mode (requests the schema allows)
and, where the schema constrains something, its negative mode (requests that break it). In positive mode a
generated policy name is mostly swapped for one the verifier knows, so requests get past the policy lookup
to a verdict or a presentation request instead of stopping at 404 unknown_policy. The hand-written
strategies in test_verifier_api_fuzz.py go deeper on presentation shapes.

Checked: no 5xx; every status code the app answers is documented for that operation, with the documented
content type (refusals are application/problem+json, see verifier/api/routes.py), and the body matches the
documented schema.

The operations are listed here rather than collected by ``schemathesis.pytest.from_fixture``, whose
test wrapper fails under pytest 9.2 (it reads ``Function._nodeid``, which pytest no longer has).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from verifier_world import World

from verifier.api.app import create_app
from verifier.service import StaticTrust
from verifier.settings import VerifierSettings

POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
# The verify and OpenID4VP endpoints (/events streams until a request ends; it has its own tests). Negative
# mode only where the schema constrains something: a free-form path string or no parameters cannot be broken.
CASES = [
    ("POST", "/v1/verify", POSITIVE),
    ("POST", "/v1/verify", NEGATIVE),
    ("POST", "/v1/verify/image", POSITIVE),
    ("POST", "/v1/verify/image", NEGATIVE),
    ("POST", "/v1/requests", POSITIVE),
    ("POST", "/v1/requests", NEGATIVE),
    ("GET", "/v1/requests/{request_id}", POSITIVE),
    ("GET", "/v1/requests/{request_id}/request.jwt", POSITIVE),
    ("POST", "/v1/requests/{request_id}/request.jwt", POSITIVE),
    ("POST", "/v1/openid4vp/response", POSITIVE),
]
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
fuzz = settings(max_examples=60, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture
def api_schema(world: World, settings: VerifierSettings) -> Iterator[schemathesis.BaseSchema]:
    app = create_app(settings, clock=world.clock, trust=StaticTrust(world.snapshot()))
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    asgi.shutdown_lifespans()  # schemathesis keeps an app's lifespan running until exit otherwise


def _use_known_policy(case, policy: str | None) -> None:
    if policy is None:
        return
    if isinstance(case.body, dict) and "policy" in case.body:
        case.body["policy"] = policy
    elif case.query and "policy" in case.query:
        case.query["policy"] = policy


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES])
def test_schema_generated_requests_never_5xx(api_schema, method, path, mode):
    operation = api_schema[path][method]
    known = sorted(api_schema.app.state.parts.verifier.policies)
    policies = st.one_of(st.none(), st.sampled_from(known)) if mode is POSITIVE else st.none()

    @fuzz
    @given(case=operation.as_strategy(generation_mode=mode), policy=policies)
    def run(case, policy):
        _use_known_policy(case, policy)
        response = case.call()
        case.validate_response(response, checks=CHECKS)

    run()

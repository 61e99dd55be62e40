"""The admin API as a generated client sees it: the OpenAPI document alone is enough to use it.

- Every /v1 operation names its roles as bearer security requirements (``clerk``, ``operator``), documents
  its success body and every refusal as problem+json; every request body has a schema and an example.
- A client driven only by the document (paths, security schemes, examples) creates an offer, issues
  directly, lists, revokes and adds a type, and each answer matches the schema the document gives.
- schemathesis generates requests from the document for each admin operation, with the role's token, in
  positive and negative mode: no 5xx, every status documented, bodies and content types as documented.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from issuer.api.app import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TOKENS = {"clerk": "dev-clerk-token", "operator": "dev-operator-token"}


@pytest.fixture
def app(settings, service):
    return create_app(settings, service=service)


@pytest.fixture
def document(app) -> dict[str, Any]:
    with TestClient(app) as client:
        return client.get("/openapi.json").json()


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        if path.startswith("/v1/"):
            for method, op in item.items():
                yield method.upper(), path, op


def test_every_admin_operation_names_its_roles_and_documents_its_refusals(document, db_url):
    schemes = document["components"]["securitySchemes"]
    assert {name: (s["type"], s["scheme"]) for name, s in schemes.items()} == {
        "clerk": ("http", "bearer"), "operator": ("http", "bearer")}
    ops = list(_operations(document))
    assert len(ops) >= 10
    for method, path, op in ops:
        roles = [next(iter(req)) for req in op["security"]]
        assert roles and set(roles) <= set(schemes), (method, path)
        for status in ("401", "403"):
            assert "application/problem+json" in op["responses"][status]["content"], (method, path, status)
        for status, answer in op["responses"].items():  # every refusal is problem+json (none of FastAPI's 422s)
            assert status.startswith("2") or set(answer["content"]) == {"application/problem+json"}, (path, status)
        ok = [s for s in op["responses"] if s.startswith("2")]
        assert len(ok) == 1 and op["responses"][ok[0]]["description"], (method, path)
        if method == "POST" and "requestBody" in op:
            body = op["requestBody"]["content"]["application/json"]
            assert body["schema"] and body["example"] and "400" in op["responses"], (method, path)
    by_key = {(m, p): op for m, p, op in ops}
    assert [next(iter(r)) for r in by_key["POST", "/v1/offers"]["security"]] == ["clerk"]
    assert [next(iter(r)) for r in by_key["POST", "/v1/credentials/{credential_id}/{action}"]["security"]] == [
        "operator"]
    assert [next(iter(r)) for r in by_key["GET", "/v1/credentials"]["security"]] == ["clerk", "operator"]
    for needs_body in (("POST", "/v1/offers"), ("POST", "/v1/credentials"), ("POST", "/v1/types")):
        assert by_key[needs_body]["requestBody"]["required"] is True


class DocumentClient:
    """A client that knows only the OpenAPI document: it builds each call from the path, the operation's
    security requirement, the scheme, and the documented example, and checks the answer against the schema."""

    def __init__(self, http: TestClient, doc: dict[str, Any]) -> None:
        self.http, self.doc = http, doc

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {**schema, "components": self.doc["components"]}

    def call(self, method: str, path: str, *, params: dict[str, str] | None = None,
             body: Any = None) -> tuple[int, Any]:
        op = self.doc["paths"][path][method.lower()]
        role = next(iter(op["security"][0]))
        scheme = self.doc["components"]["securitySchemes"][role]
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
        headers = {"Authorization": f"Bearer {TOKENS[role]}"}
        if body is None and "requestBody" in op:
            body = op["requestBody"]["content"]["application/json"]["example"]
        url = path.format(**(params or {}))
        r = self.http.request(method, url, headers=headers, json=body)
        documented = op["responses"][str(r.status_code)]
        media = r.headers["content-type"].split(";")[0]
        schema = documented["content"][media]["schema"]
        # #/components/... references resolve against the document
        Draft202012Validator(self._resolve(schema)).validate(r.json())
        return r.status_code, r.json()


def test_a_client_driven_by_the_document_alone_works(app):
    with TestClient(app) as http:
        client = DocumentClient(http, http.get("/openapi.json").json())
        status, offer = client.call("POST", "/v1/offers")
        assert status == 201 and offer["credential_offer_uri"].startswith("openid-credential-offer://")
        status, issued = client.call("POST", "/v1/credentials")
        assert status == 201 and [c["format"] for c in issued["credentials"]] == ["dc+sd-jwt", "civicpass-cp1"]
        status, listed = client.call("GET", "/v1/credentials")
        assert status == 200 and issued["id"] in {c["id"] for c in listed["credentials"]}
        status, revoked = client.call("POST", "/v1/credentials/{credential_id}/{action}",
                                      params={"credential_id": issued["id"], "action": "revoke"})
        assert status == 200 and revoked["status"] == "revoked"
        status, problem = client.call("POST", "/v1/credentials/{credential_id}/{action}",
                                      params={"credential_id": issued["id"], "action": "revoke"})
        assert status == 409 and problem["code"] == "already_revoked"  # a documented refusal, schema-checked
        status, added = client.call("POST", "/v1/types")
        assert status == 201 and added["vct"] == "urn:example:LibraryCardCredential:1"
        status, problem = client.call("POST", "/v1/offers", body={"vct": "urn:nope", "claims": {}})
        assert status == 404 and problem["code"] == "not_found"


POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
CASES = [
    ("POST", "/v1/offers", POSITIVE), ("POST", "/v1/offers", NEGATIVE),
    ("POST", "/v1/credentials", POSITIVE), ("POST", "/v1/credentials", NEGATIVE),
    ("GET", "/v1/credentials", POSITIVE), ("GET", "/v1/credentials", NEGATIVE),
    ("GET", "/v1/credentials/{credential_id}", POSITIVE),
    ("GET", "/v1/credentials/{credential_id}/anchor", POSITIVE),
    ("POST", "/v1/credentials/{credential_id}/{action}", POSITIVE),
    ("POST", "/v1/credentials/{credential_id}/{action}", NEGATIVE),
    ("GET", "/v1/types", POSITIVE), ("POST", "/v1/types", POSITIVE), ("POST", "/v1/types", NEGATIVE),
    ("GET", "/v1/audit", POSITIVE), ("GET", "/v1/audit", NEGATIVE), ("GET", "/v1/keys", POSITIVE),
]
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
fuzz = settings(max_examples=25, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture
def api_schema(app, db_url) -> Iterator[schemathesis.BaseSchema]:
    if "postgres" in db_url:
        pytest.skip("the schema fuzz runs on SQLite; the document is the same")
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    asgi.shutdown_lifespans()


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES])
def test_schema_generated_admin_requests_never_5xx(api_schema, method, path, mode):
    operation = api_schema[path][method]
    role = next(iter(operation.definition.raw["security"][-1]))

    @fuzz
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKENS[role]}"}
        response = case.call()
        case.validate_response(response, checks=CHECKS)

    run()
